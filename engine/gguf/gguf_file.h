// A GGUF file (versions 2 and 3), memory-mapped read-only. Every count, length, offset and shape
// is checked against the file before use (the GGUF specification; the hazards llama.cpp's loader
// has had): a malformed file is a Status, never a crash or an unbounded allocation.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/status.h"
#include "kernels/quant_types.h"

namespace gs {

enum class GgufValueType : int32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "UINT8", "STRING", ... as the spec names them; "INVALID" for an id outside 0..12.
const char* GgufValueTypeName(GgufValueType type);

// Parser limits, so that a crafted file can neither recurse deeply nor make the reader allocate
// far more than the file holds. A top-level array has depth 1; an array of arrays depth 2.
inline constexpr int kGgufMaxArrayDepth = 3;
// Array elements decoded across the whole file, nested ones included. Gemma 3's vocabulary
// (tokens, scores, token types) is 3 x 262144; this leaves 5x headroom and bounds the decoded
// GgufValues to ~300 MB whatever the file claims.
inline constexpr uint64_t kGgufMaxArrayElems = uint64_t{1} << 22;

// One metadata value. Scalars and strings are decoded; arrays keep their elements (arrays may
// nest, up to a small depth). Strings are views into the mapping, valid while the file lives.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  // Scalars: integers in `i` (u64 above INT64_MAX does not occur in practice and is kept as its
  // bit pattern; the getters treat it as not fitting), floats in `f`, bool in `i` (0/1: any
  // non-zero byte reads as true, as in llama.cpp).
  int64_t i = 0;
  double f = 0;
  std::string_view str;
  GgufValueType elem_type = GgufValueType::kUint8;  // arrays only
  std::vector<GgufValue> elems;                     // arrays only
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  int32_t num_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the innermost (row) dimension
  uint64_t offset = 0;           // relative to the data section
  uint64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping

  int64_t num_elems() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t num_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps and validates the whole file; an error message starts with the path. Tensor data is
  // not read here (the mapping pages it in on use).
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory copy of a file with exactly Open's checks; `name` stands in for the
  // path in path() and error messages. For tests and fuzzing: the parser then reads a heap
  // buffer of the exact size, so a sanitizer sees any read past the end (a mapping would hide
  // it up to the next page). Tensor data points into `bytes`, which is only as aligned as
  // operator new makes it, not to alignment().
  static StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::string name,
                                                       std::vector<uint8_t> bytes);
  // A file assembled in memory (engine/gguf/gguf_writer.h builds one): the records as given,
  // string values viewing `strings`, each tensor's data where its record points (the caller
  // keeps those bytes alive as long as the file). Offsets are laid out as a writer would, at
  // the default alignment. Refuses duplicate keys or tensor names, as Open does.
  static StatusOr<std::unique_ptr<GgufFile>> FromParts(std::string name, std::vector<GgufKv> kvs,
                                                       std::deque<std::string> strings,
                                                       std::vector<GgufTensorInfo> tensors);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t file_bytes() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<GgufKv>& metadata() const { return kvs_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed lookups: nullopt when the key is absent or holds another type.
  std::optional<int64_t> GetInt(std::string_view key) const;   // any integer type that fits
  std::optional<double> GetFloat(std::string_view key) const;  // f32, f64 or an integer
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::string_view> GetString(std::string_view key) const;
  std::optional<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  std::optional<std::vector<float>> GetFloatArray(std::string_view key) const;  // f32 or i32
  // Any integer element type; nullopt when an element does not fit int32.
  std::optional<std::vector<int32_t>> GetIntArray(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  // Parses base_/size_ and prefixes any error with the path: the tail of Open and FromBytes.
  static StatusOr<std::unique_ptr<GgufFile>> Parsed(std::unique_ptr<GgufFile> file);
  Status Parse();
  Status IndexKvs();
  Status IndexTensors();

  std::string path_;
  const uint8_t* base_ = nullptr;  // the mapping, or owned_bytes_.data()
  uint64_t size_ = 0;
  bool mapped_ = false;                    // base_ must be unmapped
  std::vector<uint8_t> owned_bytes_;       // FromBytes only
  std::deque<std::string> owned_strings_;  // FromParts only: a deque never moves its elements
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;
  // Name -> index into kvs_ / tensors_. The views point into those vectors' strings, so the
  // indexes are built once the vectors are complete and never change after.
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace gs
