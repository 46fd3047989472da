// Arbitrary bytes as a GGUF file. Parsing must end in a Status, never a crash, a sanitizer report
// or an unbounded allocation (gguf_file.h). When the file parses, every getter is called and every
// byte of every view is read, so ASan sees a view that reaches past the input; the invariants
// the parser promises are checked; and the two consumers of untrusted metadata (the model
// config and the tokenizer) are built from it, since they trust what the parser let through.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {
namespace {

// Aborts (which libFuzzer and the replay runner report) when a promised property fails.
void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "gguf_fuzz: property violated: %s\n", what);
    std::abort();
  }
}

// Folds bytes into a value the optimizer cannot drop, so that every byte really is read.
volatile uint8_t g_sink;

void Touch(std::string_view bytes) {
  uint8_t acc = 0;
  for (char c : bytes) acc ^= static_cast<uint8_t>(c);
  g_sink = acc;
}

void TouchValue(const GgufValue& value) {
  Require(std::string_view(GgufValueTypeName(value.type)) != "INVALID", "value type is valid");
  Touch(value.str);
  for (const GgufValue& elem : value.elems) {
    Require(elem.type == value.elem_type, "array elements have the array's element type");
    TouchValue(elem);
  }
}

void TouchFile(const GgufFile& file, const uint8_t* data, size_t size) {
  Require(file.version() == 2 || file.version() == 3, "version is 2 or 3");
  Require(file.file_bytes() == size, "file_bytes is the input size");
  Require(file.alignment() != 0 && (file.alignment() & (file.alignment() - 1)) == 0,
          "alignment is a power of two");
  Require(file.data_offset() <= size, "data section starts inside the file");

  for (const GgufKv& kv : file.metadata()) {
    Require(file.Find(kv.key) == &kv.value, "Find returns the key's own value");
    TouchValue(kv.value);
    (void)file.GetInt(kv.key);
    (void)file.GetFloat(kv.key);
    (void)file.GetBool(kv.key);
    if (const std::optional<std::string_view> str = file.GetString(kv.key)) Touch(*str);
    if (const auto strs = file.GetStringArray(kv.key)) {
      for (std::string_view str : *strs) Touch(str);
    }
    (void)file.GetFloatArray(kv.key);
    (void)file.GetIntArray(kv.key);
  }

  for (const GgufTensorInfo& info : file.tensors()) {
    Require(file.FindTensor(info.name) == &info, "FindTensor returns the tensor's own info");
    Require(info.num_dims >= 0 && info.num_dims <= 4, "n_dims is 0..4");
    for (int64_t extent : info.ne) Require(extent >= 0, "dimensions are non-negative");
    (void)info.num_elems();  // UBSan: the element count must not overflow
    (void)info.num_rows();
    Require(info.offset % file.alignment() == 0, "tensor offsets are aligned");
    const uint64_t data_bytes = size - file.data_offset();
    Require(info.offset <= data_bytes && info.num_bytes <= data_bytes - info.offset,
            "tensor data lies inside the file");
    // The data pointer must be the file's bytes at data_offset + offset; comparing them reads
    // every byte through the pointer.
    Require(std::memcmp(info.data, data + file.data_offset() + info.offset, info.num_bytes) == 0,
            "tensor data is the file's bytes at data_offset + offset");
  }
  Require(file.FindTensor("") == nullptr, "no tensor has an empty name");
}

// A few fixed texts through a vocabulary the fuzzer built; Encode's precondition only bounds
// the text length.
void ExerciseTokenizer(const Tokenizer& tokenizer) {
  for (std::string_view text : {"Hello world", "<start_of_turn>user\n\xE4\xB8\xAD\xF0\x9F"}) {
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = tokenizer.Encode(text, true, parse_special);
      for (int32_t id : ids) Require(id >= 0 && id < tokenizer.num_vocab(), "ids in range");
      Touch(tokenizer.Decode(ids, parse_special));
    }
  }
}

}  // namespace
}  // namespace gs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gs::StatusOr<std::unique_ptr<gs::GgufFile>> file =
      gs::GgufFile::FromBytes("fuzz", std::vector<uint8_t>(data, data + size));
  if (!file.ok()) {
    gs::Require(!file.status().message().empty(), "an error has a message");
    return 0;
  }
  gs::TouchFile(**file, data, size);
  (void)gs::ModelConfig::FromGguf(**file);
  gs::StatusOr<std::unique_ptr<gs::Tokenizer>> tokenizer = gs::Tokenizer::FromGguf(**file);
  if (tokenizer.ok()) gs::ExerciseTokenizer(**tokenizer);
  return 0;
}
