// A GGUF file (versions 2 and 3), memory-mapped read-only. Every count, length, offset and shape
// is checked against the file before use (reliability.md, gguf-quant-tokenizer.md §2.9-2.10):
// a malformed file is a Status, never a crash or an unbounded allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "kernels/quant_types.h"

namespace gs {

enum class GgufValueType : int32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

const char* GgufValueTypeName(GgufValueType type);

// One metadata value. Scalars and strings are decoded; arrays keep their elements (arrays may
// nest, up to a small depth). Strings are views into the mapping, valid while the file lives.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  // Scalars: integers in `i` (u64 above INT64_MAX does not occur in practice and is kept as its
  // bit pattern), floats in `f`, bool in `i` (0/1).
  int64_t i = 0;
  double f = 0;
  std::string_view str;
  GgufValueType elem_type = GgufValueType::kUint8;  // arrays only
  std::vector<GgufValue> elems;                      // arrays only
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
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
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
  std::optional<int64_t> GetInt(std::string_view key) const;   // any integer type
  std::optional<double> GetFloat(std::string_view key) const;  // f32, f64 or an integer
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::string_view> GetString(std::string_view key) const;
  std::optional<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  std::optional<std::vector<float>> GetFloatArray(std::string_view key) const;  // f32 or i32
  std::optional<std::vector<int32_t>> GetIntArray(std::string_view key) const;  // i32 or u32...

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  Status Parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace gs
