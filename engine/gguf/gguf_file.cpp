#include "engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>

namespace gs {
namespace {

// GGUF is little-endian and values are memcpy'd straight from the mapping.
static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a LE host");

constexpr uint64_t kHeaderBytes = 24;  // magic, version, n_tensors, n_kv
// Keys are limited by the spec; value strings are views into the mapping (no allocation), the
// cap only rejects absurd lengths early, as llama.cpp does.
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxTensorNameBytes = 63;  // ggml's 64-byte name buffer, NUL included
constexpr uint32_t kMaxDims = 4;
// Far above any real model (tens of keys, a few thousand tensors), and with the per-record
// minimum sizes below they bound what is reserved before the records are read.
constexpr uint64_t kMaxKvs = uint64_t{1} << 16;
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
// Smallest encodings: a KV is key (8-byte length + >= 1 byte) + 4-byte type + >= 1 value byte;
// a tensor info is name (8 + >= 1) + n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;
constexpr uint32_t kDefaultAlignment = 32;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Concatenates anything streamable; only used to build error messages.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
Status Fail(const Args&... args) {
  return Status::Error(Cat(args...));
}

bool IsValidValueType(int32_t type_id) {
  return type_id >= static_cast<int32_t>(GgufValueType::kUint8) &&
         type_id <= static_cast<int32_t>(GgufValueType::kFloat64);
}

// Bytes one element of `type` takes at least in an array: scalars their size, a string its
// 8-byte length, a nested array its 4-byte element type and 8-byte count.
uint64_t MinEncodedBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString:
      return 8;
    case GgufValueType::kArray:
      return 12;
  }
  return 1;  // unreachable: callers validate the id first
}

bool IsIntegerType(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

// The value as an int64 when it is an integer that fits one (u64 is stored as its bit pattern,
// so a negative `i` there means the u64 was above INT64_MAX).
std::optional<int64_t> IntOf(const GgufValue& value) {
  if (!IsIntegerType(value.type)) return std::nullopt;
  if (value.type == GgufValueType::kUint64 && value.i < 0) return std::nullopt;
  return value.i;
}

// Bounds-checked little-endian reads over the mapped file. Invariant: pos_ <= size_, so
// remaining() never wraps; every read checks its length against remaining() first.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size_bytes) : base_(base), size_(size_bytes) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  Status Read(T* out, const char* what) {
    if (sizeof(T) > remaining()) {
      return Fail("unexpected end of file reading ", what, " at offset ", pos_, " (need ",
                  sizeof(T), " bytes, ", remaining(), " left)");
    }
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  // A u64-length-prefixed string of at most max_bytes, as a view into the mapping.
  Status ReadString(uint64_t max_bytes, const char* what, std::string_view* out) {
    uint64_t length_bytes = 0;
    GS_RETURN_IF_ERROR(Read(&length_bytes, what));
    if (length_bytes > max_bytes) {
      return Fail(what, " length ", length_bytes, " exceeds the limit of ", max_bytes, " bytes");
    }
    if (length_bytes > remaining()) {
      return Fail(what, " length ", length_bytes, " at offset ", pos_ - 8, " exceeds the ",
                  remaining(), " bytes left in the file");
    }
    *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), length_bytes);
    pos_ += length_bytes;
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Decodes metadata values. `elems_left_` is the file-wide budget of array elements.
class ValueReader {
 public:
  explicit ValueReader(Cursor* cursor) : cursor_(*cursor) {}

  // One value of an already validated `type`; `depth` is the array depth it sits in.
  Status ReadValue(GgufValueType type, int depth, GgufValue* out) {
    out->type = type;
    switch (type) {
      case GgufValueType::kUint8:
        return ReadInt<uint8_t>("UINT8 value", out);
      case GgufValueType::kInt8:
        return ReadInt<int8_t>("INT8 value", out);
      case GgufValueType::kUint16:
        return ReadInt<uint16_t>("UINT16 value", out);
      case GgufValueType::kInt16:
        return ReadInt<int16_t>("INT16 value", out);
      case GgufValueType::kUint32:
        return ReadInt<uint32_t>("UINT32 value", out);
      case GgufValueType::kInt32:
        return ReadInt<int32_t>("INT32 value", out);
      case GgufValueType::kUint64:
        return ReadInt<uint64_t>("UINT64 value", out);
      case GgufValueType::kInt64:
        return ReadInt<int64_t>("INT64 value", out);
      case GgufValueType::kFloat32:
        return ReadFloat<float>("FLOAT32 value", out);
      case GgufValueType::kFloat64:
        return ReadFloat<double>("FLOAT64 value", out);
      case GgufValueType::kBool: {
        uint8_t byte = 0;
        GS_RETURN_IF_ERROR(cursor_.Read(&byte, "BOOL value"));
        out->i = byte != 0;
        return Status::Ok();
      }
      case GgufValueType::kString:
        return cursor_.ReadString(kMaxStringBytes, "string value", &out->str);
      case GgufValueType::kArray:
        return ReadArray(depth + 1, out);
    }
    return Fail("invalid value type id ", static_cast<int32_t>(type));
  }

 private:
  template <typename T>
  Status ReadInt(const char* what, GgufValue* out) {
    T v{};
    GS_RETURN_IF_ERROR(cursor_.Read(&v, what));
    out->i = static_cast<int64_t>(v);  // u64 keeps its bit pattern (see GgufValue)
    return Status::Ok();
  }

  template <typename T>
  Status ReadFloat(const char* what, GgufValue* out) {
    T v{};
    GS_RETURN_IF_ERROR(cursor_.Read(&v, what));
    out->f = v;
    return Status::Ok();
  }

  // The array header and its elements; `depth` is this array's own depth (top level: 1).
  Status ReadArray(int depth, GgufValue* out) {
    int32_t elem_type_id = 0;
    GS_RETURN_IF_ERROR(cursor_.Read(&elem_type_id, "array element type"));
    if (!IsValidValueType(elem_type_id)) {
      return Fail("array element type id ", elem_type_id, " is invalid (valid: 0..12)");
    }
    const auto elem_type = static_cast<GgufValueType>(elem_type_id);
    if (elem_type == GgufValueType::kArray && depth >= kGgufMaxArrayDepth) {
      return Fail("arrays nested deeper than ", kGgufMaxArrayDepth, " levels");
    }
    uint64_t num_elems = 0;
    GS_RETURN_IF_ERROR(cursor_.Read(&num_elems, "array count"));
    // Bound the count by what the file can hold before reserving anything.
    const uint64_t min_elem_bytes = MinEncodedBytes(elem_type);
    if (num_elems > cursor_.remaining() / min_elem_bytes) {
      return Fail("array of ", num_elems, " ", GgufValueTypeName(elem_type),
                  " elements needs at least ", min_elem_bytes, " bytes each but only ",
                  cursor_.remaining(), " bytes are left in the file");
    }
    if (num_elems > elems_left_) {
      return Fail("array of ", num_elems, " elements exceeds the limit of ", kGgufMaxArrayElems,
                  " array elements per file");
    }
    elems_left_ -= num_elems;
    out->elem_type = elem_type;
    out->elems.resize(num_elems);
    for (uint64_t elem_idx = 0; elem_idx < num_elems; ++elem_idx) {
      Status status = ReadValue(elem_type, depth, &out->elems[elem_idx]);
      if (!status.ok()) return Fail("array element ", elem_idx, ": ", status.message());
    }
    return Status::Ok();
  }

  Cursor& cursor_;
  uint64_t elems_left_ = kGgufMaxArrayElems;
};

// One metadata pair. The caller names the pair in error messages.
Status ReadKv(Cursor& cursor, ValueReader& values, GgufKv* kv) {
  std::string_view key;
  GS_RETURN_IF_ERROR(cursor.ReadString(kMaxKeyBytes, "key", &key));
  if (key.empty()) return Fail("key is empty");
  kv->key = std::string(key);
  int32_t type_id = 0;
  GS_RETURN_IF_ERROR(cursor.Read(&type_id, "value type"));
  if (!IsValidValueType(type_id)) {
    return Fail("value type id ", type_id, " is invalid (valid: 0..12)");
  }
  return values.ReadValue(static_cast<GgufValueType>(type_id), 0, &kv->value);
}

// One tensor-info record; checks everything that does not depend on where the data section
// starts (the caller checks placement once all records are read).
Status ReadTensorInfo(Cursor& cursor, uint32_t alignment, GgufTensorInfo* info) {
  std::string_view name;
  GS_RETURN_IF_ERROR(cursor.ReadString(kMaxTensorNameBytes, "tensor name", &name));
  if (name.empty()) return Fail("tensor name is empty");
  info->name = std::string(name);

  uint32_t num_dims = 0;
  GS_RETURN_IF_ERROR(cursor.Read(&num_dims, "n_dims"));
  if (num_dims > kMaxDims) return Fail("n_dims ", num_dims, " exceeds the maximum of ", kMaxDims);
  info->num_dims = static_cast<int32_t>(num_dims);
  for (uint32_t dim_idx = 0; dim_idx < num_dims; ++dim_idx) {
    GS_RETURN_IF_ERROR(cursor.Read(&info->ne[dim_idx], "dimension"));
    if (info->ne[dim_idx] < 0) {
      return Fail("ne[", dim_idx, "] = ", info->ne[dim_idx], " is negative");
    }
  }
  // Only built for error messages.
  const auto shape = [info] {
    return Cat("[", info->ne[0], ", ", info->ne[1], ", ", info->ne[2], ", ", info->ne[3], "]");
  };
  // The product of the non-zero dims must fit int64, so that num_elems() and num_rows() never
  // overflow; zero dims are skipped, so they never reach the division.
  int64_t nonzero_product = 1;
  bool has_zero_dim = false;
  for (int64_t extent : info->ne) {
    if (extent == 0) {
      has_zero_dim = true;
      continue;
    }
    if (extent > kInt64Max / nonzero_product) {
      return Fail("element count of shape ", shape(), " overflows int64");
    }
    nonzero_product *= extent;
  }

  int32_t type_id = 0;
  GS_RETURN_IF_ERROR(cursor.Read(&type_id, "tensor type"));
  const TypeTraits* traits = FindTypeTraits(type_id);
  if (traits == nullptr) {
    return Fail("ggml type id ", type_id, " is unknown or was removed from the format");
  }
  info->type = static_cast<GgmlType>(type_id);
  if (info->ne[0] % traits->block_elems != 0) {
    return Fail("row length ne[0] = ", info->ne[0], " is not a multiple of the ", traits->name,
                " block size ", traits->block_elems);
  }
  // Byte size: (ne0 / block) * block_bytes * ne1 * ne2 * ne3, each step checked.
  int64_t num_bytes = 0;
  if (!has_zero_dim) {
    const int64_t num_blocks = info->ne[0] / traits->block_elems;
    if (num_blocks > kInt64Max / traits->block_bytes) {
      return Fail("byte size of shape ", shape(), " overflows int64");
    }
    num_bytes = num_blocks * traits->block_bytes;  // > 0: no dim is zero
    for (int dim_idx = 1; dim_idx < 4; ++dim_idx) {
      if (info->ne[dim_idx] > kInt64Max / num_bytes) {
        return Fail("byte size of shape ", shape(), " overflows int64");
      }
      num_bytes *= info->ne[dim_idx];
    }
  }
  info->num_bytes = static_cast<uint64_t>(num_bytes);

  GS_RETURN_IF_ERROR(cursor.Read(&info->offset, "tensor offset"));
  if (info->offset % alignment != 0) {
    return Fail("data offset ", info->offset, " is not a multiple of the alignment ", alignment);
  }
  return Status::Ok();
}

}  // namespace

const char* GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "UINT8";
    case GgufValueType::kInt8:
      return "INT8";
    case GgufValueType::kUint16:
      return "UINT16";
    case GgufValueType::kInt16:
      return "INT16";
    case GgufValueType::kUint32:
      return "UINT32";
    case GgufValueType::kInt32:
      return "INT32";
    case GgufValueType::kFloat32:
      return "FLOAT32";
    case GgufValueType::kBool:
      return "BOOL";
    case GgufValueType::kString:
      return "STRING";
    case GgufValueType::kArray:
      return "ARRAY";
    case GgufValueType::kUint64:
      return "UINT64";
    case GgufValueType::kInt64:
      return "INT64";
    case GgufValueType::kFloat64:
      return "FLOAT64";
  }
  return "INVALID";
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like any other
  // file that is not regular.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return Status::Error(path + ": cannot open: " + std::generic_category().message(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::Error(path + ": cannot stat: " + std::generic_category().message(err));
  }
  // A directory, FIFO or device has no meaningful size to bound the parse by.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(path + ": not a regular file");
  }
  file->size_ = static_cast<uint64_t>(st.st_size);
  // mmap rejects a zero length; an empty file is left unmapped and fails as truncated below.
  if (file->size_ > 0) {
    void* mapping = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (mapping == MAP_FAILED) {
      file->size_ = 0;
      return Status::Error(path + ": cannot mmap: " + std::generic_category().message(err));
    }
    file->base_ = static_cast<const uint8_t*>(mapping);
    file->mapped_ = true;
  } else {
    ::close(fd);
  }
  return Parsed(std::move(file));
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::string name,
                                                        std::vector<uint8_t> bytes) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(name);
  file->owned_bytes_ = std::move(bytes);
  file->base_ = file->owned_bytes_.data();
  file->size_ = file->owned_bytes_.size();
  return Parsed(std::move(file));
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parsed(std::unique_ptr<GgufFile> file) {
  Status status = file->Parse();
  if (!status.ok()) return Status::Error(file->path_ + ": " + status.message());
  return file;
}

GgufFile::~GgufFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

Status GgufFile::Parse() {
  Cursor cursor(base_, size_);
  if (size_ < kHeaderBytes) {
    return Fail("truncated header: file has ", size_, " bytes, a GGUF header needs ", kHeaderBytes);
  }
  char magic[4];
  GS_RETURN_IF_ERROR(cursor.Read(&magic, "magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) return Fail("bad magic: not a GGUF file");
  GS_RETURN_IF_ERROR(cursor.Read(&version_, "version"));
  // No flag marks a big-endian file; its small version number lands in the high bytes.
  if (version_ != 0 && (version_ & 0xFFFF) == 0) {
    return Fail("version field 0x", std::hex, version_,
                " looks like a big-endian GGUF file, which is not supported");
  }
  if (version_ != 2 && version_ != 3) {
    return Fail("unsupported GGUF version ", version_, " (supported: 2 and 3)");
  }
  uint64_t num_tensors = 0;
  uint64_t num_kvs = 0;
  GS_RETURN_IF_ERROR(cursor.Read(&num_tensors, "n_tensors"));
  GS_RETURN_IF_ERROR(cursor.Read(&num_kvs, "n_kv"));
  // Bound both counts by what the rest of the file could hold before reserving.
  if (num_kvs > kMaxKvs || num_kvs > cursor.remaining() / kMinKvBytes) {
    return Fail("n_kv ", num_kvs, " is impossible: the ", cursor.remaining(),
                " bytes left hold at most ", cursor.remaining() / kMinKvBytes, " entries (limit ",
                kMaxKvs, ")");
  }
  if (num_tensors > kMaxTensors || num_tensors > cursor.remaining() / kMinTensorInfoBytes) {
    return Fail("n_tensors ", num_tensors, " is impossible: the ", cursor.remaining(),
                " bytes left hold at most ", cursor.remaining() / kMinTensorInfoBytes,
                " tensor infos (limit ", kMaxTensors, ")");
  }

  ValueReader values(&cursor);
  kvs_.resize(num_kvs);
  for (uint64_t kv_idx = 0; kv_idx < num_kvs; ++kv_idx) {
    GgufKv& kv = kvs_[kv_idx];
    Status status = ReadKv(cursor, values, &kv);
    if (!status.ok()) {
      const std::string where =
          kv.key.empty() ? Cat("metadata #", kv_idx) : Cat("metadata key '", kv.key, "'");
      return Fail(where, ": ", status.message());
    }
  }
  GS_RETURN_IF_ERROR(IndexKvs());

  alignment_ = kDefaultAlignment;
  if (const GgufValue* value = Find("general.alignment")) {
    if (value->type != GgufValueType::kUint32) {
      return Fail("general.alignment has type ", GgufValueTypeName(value->type),
                  ", expected UINT32");
    }
    // A zero or non-power-of-two alignment would break the modulo and padding math below.
    if (!std::has_single_bit(static_cast<uint64_t>(value->i))) {
      return Fail("general.alignment ", value->i, " is not a non-zero power of two");
    }
    alignment_ = static_cast<uint32_t>(value->i);
  }

  tensors_.resize(num_tensors);
  for (uint64_t tensor_idx = 0; tensor_idx < num_tensors; ++tensor_idx) {
    GgufTensorInfo& info = tensors_[tensor_idx];
    Status status = ReadTensorInfo(cursor, alignment_, &info);
    if (!status.ok()) {
      const std::string name = info.name.empty() ? "" : " '" + info.name + "'";
      return Fail("tensor #", tensor_idx, name, ": ", status.message());
    }
  }
  GS_RETURN_IF_ERROR(IndexTensors());

  // The data section starts at the next alignment boundary after the tensor infos (llama.cpp
  // pads only when there are tensors). pos <= size_ < 2^63 and alignment < 2^32: no wrap.
  data_offset_ = cursor.pos();
  if (num_tensors == 0) return Status::Ok();
  data_offset_ = (data_offset_ + alignment_ - 1) / alignment_ * alignment_;
  if (data_offset_ > size_) {
    return Fail("tensor data section would start at offset ", data_offset_,
                ", past the end of the file (", size_, " bytes)");
  }
  const uint64_t data_bytes = size_ - data_offset_;
  for (const GgufTensorInfo& info : tensors_) {
    if (info.offset > data_bytes || info.num_bytes > data_bytes - info.offset) {
      return Fail("tensor '", info.name, "': ", info.num_bytes, " bytes at data offset ",
                  info.offset, " extend past the end of the file (the data section has ",
                  data_bytes, " bytes)");
    }
  }
  // Overlapping tensors would alias each other's weights; check neighbours in offset order.
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const GgufTensorInfo& info : tensors_) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t sorted_idx = 1; sorted_idx < by_offset.size(); ++sorted_idx) {
    const GgufTensorInfo& prev = *by_offset[sorted_idx - 1];
    const GgufTensorInfo& next = *by_offset[sorted_idx];
    // Both ranges lie inside the data section, so the sum cannot wrap.
    if (prev.offset + prev.num_bytes > next.offset) {
      return Fail("tensors '", prev.name, "' (data offset ", prev.offset, ", ", prev.num_bytes,
                  " bytes) and '", next.name, "' (data offset ", next.offset, ") overlap");
    }
  }
  for (GgufTensorInfo& info : tensors_) info.data = base_ + data_offset_ + info.offset;
  return Status::Ok();
}

Status GgufFile::IndexKvs() {
  for (size_t kv_idx = 0; kv_idx < kvs_.size(); ++kv_idx) {
    const auto [it, inserted] = kv_index_.emplace(kvs_[kv_idx].key, kv_idx);
    if (!inserted) {
      return Fail("duplicate metadata key '", kvs_[kv_idx].key, "' (entries #", it->second,
                  " and #", kv_idx, ")");
    }
  }
  return Status::Ok();
}

Status GgufFile::IndexTensors() {
  for (size_t tensor_idx = 0; tensor_idx < tensors_.size(); ++tensor_idx) {
    const auto [it, inserted] = tensor_index_.emplace(tensors_[tensor_idx].name, tensor_idx);
    if (!inserted) {
      return Fail("duplicate tensor name '", tensors_[tensor_idx].name, "' (tensors #", it->second,
                  " and #", tensor_idx, ")");
    }
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromParts(std::string name, std::vector<GgufKv> kvs,
                                                        std::deque<std::string> strings,
                                                        std::vector<GgufTensorInfo> tensors) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(name);
  file->version_ = 3;
  file->kvs_ = std::move(kvs);
  file->owned_strings_ = std::move(strings);
  file->tensors_ = std::move(tensors);
  uint64_t offset = 0;
  for (GgufTensorInfo& t : file->tensors_) {
    t.offset = offset;
    offset = (offset + t.num_bytes + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
  }
  Status status = file->IndexKvs();
  if (status.ok()) status = file->IndexTensors();
  if (!status.ok()) return Status::Error(file->path_ + ": " + status.message());
  return file;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr) return std::nullopt;
  return IntOf(*value);
}

std::optional<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type == GgufValueType::kFloat32 || value->type == GgufValueType::kFloat64) {
    return value->f;
  }
  const std::optional<int64_t> as_int = IntOf(*value);
  if (!as_int) return std::nullopt;
  return static_cast<double>(*as_int);
}

std::optional<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr || value->type != GgufValueType::kBool) return std::nullopt;
  return value->i != 0;
}

std::optional<std::string_view> GgufFile::GetString(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr || value->type != GgufValueType::kString) return std::nullopt;
  return value->str;
}

std::optional<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr || value->type != GgufValueType::kArray ||
      value->elem_type != GgufValueType::kString) {
    return std::nullopt;
  }
  std::vector<std::string_view> out;
  out.reserve(value->elems.size());
  for (const GgufValue& elem : value->elems) out.push_back(elem.str);
  return out;
}

std::optional<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr || value->type != GgufValueType::kArray) return std::nullopt;
  const bool is_f32 = value->elem_type == GgufValueType::kFloat32;
  if (!is_f32 && value->elem_type != GgufValueType::kInt32) return std::nullopt;
  std::vector<float> out;
  out.reserve(value->elems.size());
  for (const GgufValue& elem : value->elems) {
    out.push_back(is_f32 ? static_cast<float>(elem.f) : static_cast<float>(elem.i));
  }
  return out;
}

std::optional<std::vector<int32_t>> GgufFile::GetIntArray(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (value == nullptr || value->type != GgufValueType::kArray ||
      !IsIntegerType(value->elem_type)) {
    return std::nullopt;
  }
  std::vector<int32_t> out;
  out.reserve(value->elems.size());
  for (const GgufValue& elem : value->elems) {
    const std::optional<int64_t> as_int = IntOf(elem);
    if (!as_int || *as_int < std::numeric_limits<int32_t>::min() ||
        *as_int > std::numeric_limits<int32_t>::max()) {
      return std::nullopt;
    }
    out.push_back(static_cast<int32_t>(*as_int));
  }
  return out;
}

}  // namespace gs
