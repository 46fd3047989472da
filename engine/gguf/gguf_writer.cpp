#include "engine/gguf/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

namespace gs {
namespace {

// Buffered little-endian output that remembers its first error.
class Output {
 public:
  explicit Output(std::FILE* f) : f_(f) {}
  template <typename T>
  void Pod(const T& v) {
    Bytes(&v, sizeof(v));
  }
  void String(std::string_view s) {
    Pod(static_cast<uint64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  void Bytes(const void* p, size_t n) {
    if (ok_ && n > 0 && std::fwrite(p, 1, n, f_) != n) ok_ = false;
    num_bytes_ += n;
  }
  void PadTo(uint64_t alignment) {
    static const uint8_t kZeros[256] = {};
    while (num_bytes_ % alignment != 0) {
      Bytes(kZeros, std::min<uint64_t>(sizeof(kZeros), alignment - num_bytes_ % alignment));
    }
  }
  bool ok() const { return ok_; }

 private:
  std::FILE* f_;
  uint64_t num_bytes_ = 0;
  bool ok_ = true;
};

void WriteValue(Output& out, GgufValueType type, const GgufValue& v) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      out.Pod(static_cast<uint8_t>(v.i));
      break;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      out.Pod(static_cast<uint16_t>(v.i));
      break;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
      out.Pod(static_cast<uint32_t>(v.i));
      break;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      out.Pod(static_cast<uint64_t>(v.i));
      break;
    case GgufValueType::kFloat32:
      out.Pod(static_cast<float>(v.f));
      break;
    case GgufValueType::kFloat64:
      out.Pod(v.f);
      break;
    case GgufValueType::kString:
      out.String(v.str);
      break;
    case GgufValueType::kArray:
      out.Pod(static_cast<uint32_t>(v.elem_type));
      out.Pod(static_cast<uint64_t>(v.elems.size()));
      for (const GgufValue& e : v.elems) WriteValue(out, v.elem_type, e);
      break;
  }
}

}  // namespace

GgufValue& GgufBuilder::Add(std::string key, GgufValueType type) {
  kvs_.push_back(GgufKv{std::move(key), GgufValue{}});
  kvs_.back().value.type = type;
  return kvs_.back().value;
}

void GgufBuilder::SetString(std::string key, std::string value) {
  strings_.push_back(std::move(value));
  Add(std::move(key), GgufValueType::kString).str = strings_.back();
}

void GgufBuilder::SetUint32(std::string key, uint32_t value) {
  Add(std::move(key), GgufValueType::kUint32).i = value;
}

void GgufBuilder::SetFloat32(std::string key, float value) {
  Add(std::move(key), GgufValueType::kFloat32).f = value;
}

void GgufBuilder::SetInt32Array(std::string key, const std::vector<int32_t>& values) {
  GgufValue& v = Add(std::move(key), GgufValueType::kArray);
  v.elem_type = GgufValueType::kInt32;
  for (int32_t x : values) {
    GgufValue& e = v.elems.emplace_back();
    e.type = GgufValueType::kInt32;
    e.i = x;
  }
}

void GgufBuilder::SetBoolArray(std::string key, const std::vector<bool>& values) {
  GgufValue& v = Add(std::move(key), GgufValueType::kArray);
  v.elem_type = GgufValueType::kBool;
  for (bool x : values) {
    GgufValue& e = v.elems.emplace_back();
    e.type = GgufValueType::kBool;
    e.i = x ? 1 : 0;
  }
}

void GgufBuilder::AddTensor(GgufTensorInfo info) { tensors_.push_back(std::move(info)); }

StatusOr<std::unique_ptr<GgufFile>> GgufBuilder::Build(std::string name) {
  return GgufFile::FromParts(std::move(name), std::exchange(kvs_, {}), std::exchange(strings_, {}),
                             std::exchange(tensors_, {}));
}

Status WriteGguf(const GgufFile& file, const std::string& path) {
  const std::string tmp_path = path + ".tmp";
  std::FILE* f = std::fopen(tmp_path.c_str(), "wb");
  if (f == nullptr) {
    return Status::Error(tmp_path + ": cannot create: " + std::generic_category().message(errno));
  }
  const uint64_t alignment = file.alignment();
  Output out(f);
  out.Bytes("GGUF", 4);
  out.Pod(uint32_t{3});
  out.Pod(static_cast<uint64_t>(file.tensors().size()));
  out.Pod(static_cast<uint64_t>(file.metadata().size()));
  for (const GgufKv& kv : file.metadata()) {
    out.String(kv.key);
    out.Pod(static_cast<uint32_t>(kv.value.type));
    WriteValue(out, kv.value.type, kv.value);
  }
  uint64_t offset = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    out.String(t.name);
    out.Pod(static_cast<uint32_t>(t.num_dims));
    for (int d = 0; d < t.num_dims; ++d) out.Pod(static_cast<uint64_t>(t.ne[d]));
    out.Pod(static_cast<uint32_t>(t.type));
    out.Pod(offset);
    offset = (offset + t.num_bytes + alignment - 1) / alignment * alignment;
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    out.PadTo(alignment);
    out.Bytes(t.data, t.num_bytes);
  }
  const bool closed = std::fclose(f) == 0;
  if (!out.ok() || !closed) {
    const std::string reason = std::generic_category().message(errno);
    std::remove(tmp_path.c_str());
    return Status::Error(tmp_path + ": write failed: " + reason);
  }
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const std::string reason = std::generic_category().message(errno);
    std::remove(tmp_path.c_str());
    return Status::Error(path + ": cannot rename the written file into place: " + reason);
  }
  return Status::Ok();
}

}  // namespace gs
