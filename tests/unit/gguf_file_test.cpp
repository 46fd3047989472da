// GgufFile: well-formed files round-trip through the getters; every malformed file the
// robustness checklist names fails Open with a message that
// says what is wrong. Files are built byte by byte here, so each test shows its exact layout.
#include "engine/gguf/gguf_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace gs {
namespace {

using VT = GgufValueType;

// ---- A minimal GGUF writer ----------------------------------------------------------------

template <typename T>
std::string Le(T v) {
  std::string bytes(sizeof v, '\0');
  std::memcpy(bytes.data(), &v, sizeof v);
  return bytes;
}

std::string Str(std::string_view s) { return Le<uint64_t>(s.size()) + std::string(s); }
std::string TypeId(VT type) { return Le<int32_t>(static_cast<int32_t>(type)); }

// One metadata pair: key, value type id, encoded value.
std::string Kv(std::string_view key, VT type, const std::string& value_bytes) {
  return Str(key) + TypeId(type) + value_bytes;
}

// An array value (what follows the ARRAY type id): element type, count, encoded elements.
std::string Arr(VT elem_type, uint64_t num_elems, const std::string& elem_bytes) {
  return TypeId(elem_type) + Le<uint64_t>(num_elems) + elem_bytes;
}

std::string TensorInfo(std::string_view name, const std::vector<int64_t>& ne, int32_t type_id,
                       uint64_t offset) {
  std::string bytes = Str(name) + Le<uint32_t>(static_cast<uint32_t>(ne.size()));
  for (int64_t extent : ne) bytes += Le<int64_t>(extent);
  return bytes + Le<int32_t>(type_id) + Le<uint64_t>(offset);
}

std::string Header(uint32_t version, uint64_t num_tensors, uint64_t num_kvs) {
  return "GGUF" + Le<uint32_t>(version) + Le<uint64_t>(num_tensors) + Le<uint64_t>(num_kvs);
}

uint64_t PadUp(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Byte `byte_idx` of the data written for a tensor with this seed.
char Pattern(int seed, uint64_t byte_idx) {
  return static_cast<char>((seed * 31 + byte_idx * 13) & 0xFF);
}

struct GgufSpec {
  uint32_t version = 3;
  std::vector<std::string> kvs;
  std::vector<std::string> tensor_infos;
  uint32_t alignment = 32;  // padding before the data; general.alignment is a kv of its own
  std::string data;

  // Lays the tensor out at the next aligned data offset and fills it with Pattern(seed, ...).
  void AddTensor(std::string_view name, const std::vector<int64_t>& ne, GgmlType type,
                 uint64_t num_bytes, int seed) {
    data.resize(PadUp(data.size(), alignment), '\0');
    const uint64_t offset = data.size();
    tensor_infos.push_back(TensorInfo(name, ne, static_cast<int32_t>(type), offset));
    for (uint64_t byte_idx = 0; byte_idx < num_bytes; ++byte_idx) {
      data.push_back(Pattern(seed, byte_idx));
    }
  }

  // Bytes up to the end of the tensor infos.
  std::string Prefix() const {
    std::string bytes = Header(version, tensor_infos.size(), kvs.size());
    for (const std::string& kv : kvs) bytes += kv;
    for (const std::string& info : tensor_infos) bytes += info;
    return bytes;
  }

  std::string Build() const {
    std::string bytes = Prefix();
    if (!tensor_infos.empty()) bytes.resize(PadUp(bytes.size(), alignment), '\0');
    return bytes + data;
  }
};

// Writes `bytes` to a temp file, opens it and removes the file (the mapping outlives it).
StatusOr<std::unique_ptr<GgufFile>> OpenBytes(const std::string& bytes) {
  static int num_files = 0;
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string path = ::testing::TempDir() + "gguf_file_test_" + test->name() + "_" +
                           std::to_string(::getpid()) + "_" + std::to_string(num_files++) + ".gguf";
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  std::remove(path.c_str());
  return file;
}

std::unique_ptr<GgufFile> MustOpen(const std::string& bytes) {
  StatusOr<std::unique_ptr<GgufFile>> file = OpenBytes(bytes);
  EXPECT_TRUE(file.ok()) << file.status().message();
  return file.ok() ? std::move(file).value() : nullptr;
}

::testing::AssertionResult OpenFailsWith(const std::string& bytes, std::string_view needle) {
  StatusOr<std::unique_ptr<GgufFile>> file = OpenBytes(bytes);
  if (file.ok()) return ::testing::AssertionFailure() << "opened, expected \"" << needle << "\"";
  const std::string message = file.status().message();
  if (message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message \"" << message << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess() << message;
}

// A file with metadata, a custom alignment and three quant types, used by several tests.
GgufSpec ValidSpec() {
  GgufSpec spec;
  spec.alignment = 64;
  spec.kvs.push_back(Kv("general.architecture", VT::kString, Str("gemma3")));
  spec.kvs.push_back(Kv("general.alignment", VT::kUint32, Le<uint32_t>(64)));
  spec.kvs.push_back(
      Kv("tokenizer.ggml.tokens", VT::kArray, Arr(VT::kString, 2, Str("<s>") + Str("hi"))));
  spec.AddTensor("f32", {4, 3}, GgmlType::kF32, 4 * 3 * 4, 1);
  spec.AddTensor("q8_0", {64, 2}, GgmlType::kQ8_0, 2 * 34 * 2, 2);
  spec.AddTensor("q4_k", {256, 2}, GgmlType::kQ4_K, 144 * 2, 3);
  return spec;
}

// ---- Well-formed files ---------------------------------------------------------------------

TEST(GgufFileTest, ScalarsRoundTrip) {
  GgufSpec spec;
  spec.kvs = {
      Kv("t.u8", VT::kUint8, Le<uint8_t>(200)),
      Kv("t.i8", VT::kInt8, Le<int8_t>(-5)),
      Kv("t.u16", VT::kUint16, Le<uint16_t>(60000)),
      Kv("t.i16", VT::kInt16, Le<int16_t>(-30000)),
      Kv("t.u32", VT::kUint32, Le<uint32_t>(4000000000u)),
      Kv("t.i32", VT::kInt32, Le<int32_t>(-2000000000)),
      Kv("t.f32", VT::kFloat32, Le<float>(1.5f)),
      Kv("t.true", VT::kBool, Le<uint8_t>(1)),
      Kv("t.false", VT::kBool, Le<uint8_t>(0)),
      Kv("t.str", VT::kString, Str("h\xc3\xa9llo")),
      Kv("t.empty_str", VT::kString, Str("")),
      Kv("t.u64", VT::kUint64, Le<uint64_t>((uint64_t{1} << 40) + 3)),
      Kv("t.u64_huge", VT::kUint64, Le<uint64_t>((uint64_t{1} << 63) + 5)),
      Kv("t.i64", VT::kInt64, Le<int64_t>(-(int64_t{1} << 40))),
      Kv("t.f64", VT::kFloat64, Le<double>(2.718281828459045)),
  };
  const std::string bytes = spec.Build();
  std::unique_ptr<GgufFile> file = MustOpen(bytes);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->file_bytes(), bytes.size());
  EXPECT_EQ(file->data_offset(), bytes.size());  // no tensors: no padding
  EXPECT_TRUE(file->tensors().empty());
  ASSERT_EQ(file->metadata().size(), spec.kvs.size());
  EXPECT_EQ(file->metadata()[0].key, "t.u8");
  EXPECT_EQ(file->metadata()[14].key, "t.f64");

  EXPECT_EQ(file->GetInt("t.u8"), 200);
  EXPECT_EQ(file->GetInt("t.i8"), -5);
  EXPECT_EQ(file->GetInt("t.u16"), 60000);
  EXPECT_EQ(file->GetInt("t.i16"), -30000);
  EXPECT_EQ(file->GetInt("t.u32"), 4000000000);
  EXPECT_EQ(file->GetInt("t.i32"), -2000000000);
  EXPECT_EQ(file->GetInt("t.u64"), (int64_t{1} << 40) + 3);
  EXPECT_EQ(file->GetInt("t.i64"), -(int64_t{1} << 40));
  // A u64 above INT64_MAX is kept as its bit pattern but does not pass as an int64.
  EXPECT_EQ(file->GetInt("t.u64_huge"), std::nullopt);
  ASSERT_NE(file->Find("t.u64_huge"), nullptr);
  EXPECT_EQ(static_cast<uint64_t>(file->Find("t.u64_huge")->i), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(file->GetInt("t.f32"), std::nullopt);
  EXPECT_EQ(file->GetInt("t.true"), std::nullopt);
  EXPECT_EQ(file->GetInt("t.missing"), std::nullopt);

  EXPECT_EQ(file->GetFloat("t.f32"), 1.5);
  EXPECT_EQ(file->GetFloat("t.f64"), 2.718281828459045);
  EXPECT_EQ(file->GetFloat("t.u32"), 4e9);
  EXPECT_EQ(file->GetFloat("t.i8"), -5.0);
  EXPECT_EQ(file->GetFloat("t.str"), std::nullopt);

  EXPECT_EQ(file->GetBool("t.true"), true);
  EXPECT_EQ(file->GetBool("t.false"), false);
  EXPECT_EQ(file->GetBool("t.u8"), std::nullopt);

  EXPECT_EQ(file->GetString("t.str"), "h\xc3\xa9llo");
  EXPECT_EQ(file->GetString("t.empty_str"), "");
  EXPECT_EQ(file->GetString("t.u8"), std::nullopt);

  const GgufValue* value = file->Find("t.i16");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->type, VT::kInt16);
  EXPECT_EQ(file->Find("t.missing"), nullptr);
  EXPECT_EQ(file->FindTensor("t.u8"), nullptr);
}

TEST(GgufFileTest, ValueTypeNames) {
  EXPECT_STREQ(GgufValueTypeName(VT::kUint8), "UINT8");
  EXPECT_STREQ(GgufValueTypeName(VT::kInt16), "INT16");
  EXPECT_STREQ(GgufValueTypeName(VT::kFloat32), "FLOAT32");
  EXPECT_STREQ(GgufValueTypeName(VT::kBool), "BOOL");
  EXPECT_STREQ(GgufValueTypeName(VT::kString), "STRING");
  EXPECT_STREQ(GgufValueTypeName(VT::kArray), "ARRAY");
  EXPECT_STREQ(GgufValueTypeName(VT::kUint64), "UINT64");
  EXPECT_STREQ(GgufValueTypeName(VT::kFloat64), "FLOAT64");
  EXPECT_STREQ(GgufValueTypeName(static_cast<VT>(13)), "INVALID");
  EXPECT_STREQ(GgufValueTypeName(static_cast<VT>(-1)), "INVALID");
}

TEST(GgufFileTest, ArraysRoundTrip) {
  GgufSpec spec;
  spec.kvs = {
      Kv("a.i32", VT::kArray,
         Arr(VT::kInt32, 3, Le<int32_t>(1) + Le<int32_t>(-2) + Le<int32_t>(3))),
      Kv("a.u8", VT::kArray, Arr(VT::kUint8, 2, Le<uint8_t>(0) + Le<uint8_t>(255))),
      Kv("a.f32", VT::kArray, Arr(VT::kFloat32, 2, Le<float>(0.5f) + Le<float>(-1.25f))),
      Kv("a.str", VT::kArray, Arr(VT::kString, 3, Str("a") + Str("") + Str("ccc"))),
      Kv("a.u64_big", VT::kArray, Arr(VT::kUint64, 1, Le<uint64_t>(uint64_t{1} << 32))),
      Kv("a.i64_small", VT::kArray, Arr(VT::kInt64, 2, Le<int64_t>(-7) + Le<int64_t>(7))),
      Kv("a.empty", VT::kArray, Arr(VT::kInt32, 0, "")),
      Kv("a.bool", VT::kArray, Arr(VT::kBool, 2, Le<uint8_t>(1) + Le<uint8_t>(0))),
      Kv("a.scalar", VT::kInt32, Le<int32_t>(4)),
  };
  std::unique_ptr<GgufFile> file = MustOpen(spec.Build());
  ASSERT_NE(file, nullptr);

  EXPECT_EQ(file->GetIntArray("a.i32"), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(file->GetFloatArray("a.i32"), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(file->GetIntArray("a.u8"), (std::vector<int32_t>{0, 255}));
  EXPECT_EQ(file->GetFloatArray("a.f32"), (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(file->GetIntArray("a.f32"), std::nullopt);
  EXPECT_EQ(file->GetStringArray("a.str"), (std::vector<std::string_view>{"a", "", "ccc"}));
  EXPECT_EQ(file->GetStringArray("a.i32"), std::nullopt);
  EXPECT_EQ(file->GetIntArray("a.u64_big"), std::nullopt);  // 2^32 does not fit int32
  EXPECT_EQ(file->GetIntArray("a.i64_small"), (std::vector<int32_t>{-7, 7}));
  EXPECT_EQ(file->GetIntArray("a.empty"), std::vector<int32_t>{});
  EXPECT_EQ(file->GetIntArray("a.bool"), std::nullopt);
  EXPECT_EQ(file->GetFloatArray("a.bool"), std::nullopt);
  EXPECT_EQ(file->GetIntArray("a.scalar"), std::nullopt);
  EXPECT_EQ(file->GetInt("a.i32"), std::nullopt);

  const GgufValue* value = file->Find("a.str");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->type, VT::kArray);
  EXPECT_EQ(value->elem_type, VT::kString);
  ASSERT_EQ(value->elems.size(), 3u);
  EXPECT_EQ(value->elems[2].type, VT::kString);
}

TEST(GgufFileTest, NestedArraysWithinTheCap) {
  const std::string inner_a = Arr(VT::kInt32, 2, Le<int32_t>(1) + Le<int32_t>(2));
  const std::string inner_b = Arr(VT::kInt32, 1, Le<int32_t>(3));
  // Depth 3 = kGgufMaxArrayDepth: [[[5]]].
  const std::string depth3 =
      Arr(VT::kArray, 1, Arr(VT::kArray, 1, Arr(VT::kInt32, 1, Le<int32_t>(5))));
  static_assert(kGgufMaxArrayDepth == 3);
  GgufSpec spec;
  spec.kvs = {Kv("n.depth2", VT::kArray, Arr(VT::kArray, 2, inner_a + inner_b)),
              Kv("n.depth3", VT::kArray, depth3)};
  std::unique_ptr<GgufFile> file = MustOpen(spec.Build());
  ASSERT_NE(file, nullptr);
  const GgufValue* depth2 = file->Find("n.depth2");
  ASSERT_NE(depth2, nullptr);
  EXPECT_EQ(depth2->elem_type, VT::kArray);
  ASSERT_EQ(depth2->elems.size(), 2u);
  EXPECT_EQ(depth2->elems[0].elem_type, VT::kInt32);
  ASSERT_EQ(depth2->elems[0].elems.size(), 2u);
  EXPECT_EQ(depth2->elems[0].elems[1].i, 2);
  ASSERT_EQ(depth2->elems[1].elems.size(), 1u);
  EXPECT_EQ(depth2->elems[1].elems[0].i, 3);
  const GgufValue* deepest = file->Find("n.depth3");
  ASSERT_NE(deepest, nullptr);
  EXPECT_EQ(deepest->elems.at(0).elems.at(0).elems.at(0).i, 5);
  // The typed array getters only take flat arrays.
  EXPECT_EQ(file->GetIntArray("n.depth2"), std::nullopt);
}

TEST(GgufFileTest, TensorsWithCustomAlignment) {
  GgufSpec spec = ValidSpec();
  const std::string name63(63, 'n');                     // the longest name allowed
  spec.AddTensor(name63, {0, 5}, GgmlType::kF32, 0, 4);  // zero dim: no data, no division
  spec.AddTensor("scalar", {}, GgmlType::kF32, 4, 5);
  const std::string bytes = spec.Build();
  std::unique_ptr<GgufFile> file = MustOpen(bytes);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset(), PadUp(spec.Prefix().size(), 64));
  EXPECT_EQ(file->GetString("general.architecture"), "gemma3");
  EXPECT_EQ(file->GetStringArray("tokenizer.ggml.tokens"),
            (std::vector<std::string_view>{"<s>", "hi"}));
  ASSERT_EQ(file->tensors().size(), 5u);

  struct Expected {
    const char* name;
    GgmlType type;
    int32_t num_dims;
    std::vector<int64_t> ne;
    uint64_t num_bytes;
    int seed;
  };
  const Expected expected[] = {
      {"f32", GgmlType::kF32, 2, {4, 3, 1, 1}, 48, 1},
      {"q8_0", GgmlType::kQ8_0, 2, {64, 2, 1, 1}, 136, 2},
      {"q4_k", GgmlType::kQ4_K, 2, {256, 2, 1, 1}, 288, 3},
      {name63.c_str(), GgmlType::kF32, 2, {0, 5, 1, 1}, 0, 4},
      {"scalar", GgmlType::kF32, 0, {1, 1, 1, 1}, 4, 5},
  };
  const GgufTensorInfo& first = file->tensors()[0];
  for (size_t tensor_idx = 0; tensor_idx < file->tensors().size(); ++tensor_idx) {
    const GgufTensorInfo& info = file->tensors()[tensor_idx];
    const Expected& want = expected[tensor_idx];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(info.name, want.name);
    EXPECT_EQ(info.type, want.type);
    EXPECT_EQ(info.num_dims, want.num_dims);
    EXPECT_EQ(std::vector<int64_t>(info.ne, info.ne + 4), want.ne);
    EXPECT_EQ(info.num_bytes, want.num_bytes);
    EXPECT_EQ(info.offset % 64, 0u);
    EXPECT_EQ(file->FindTensor(want.name), &info);
    // The data pointer is data_offset + offset into the mapping, and holds what was written.
    ASSERT_NE(info.data, nullptr);
    EXPECT_EQ(static_cast<uint64_t>(info.data - first.data), info.offset - first.offset);
    for (uint64_t byte_idx = 0; byte_idx < info.num_bytes; ++byte_idx) {
      ASSERT_EQ(static_cast<char>(info.data[byte_idx]), Pattern(want.seed, byte_idx))
          << "byte " << byte_idx;
    }
  }
  EXPECT_EQ(file->tensors()[1].num_elems(), 128);
  EXPECT_EQ(file->tensors()[1].num_rows(), 2);
  EXPECT_EQ(file->tensors()[3].num_elems(), 0);
  // The tensor data starts at data_offset in the file bytes.
  EXPECT_EQ(std::memcmp(first.data, bytes.data() + file->data_offset(), first.num_bytes), 0);
  EXPECT_EQ(file->FindTensor("missing"), nullptr);
}

TEST(GgufFileTest, Version2) {
  GgufSpec spec = ValidSpec();
  spec.version = 2;
  std::unique_ptr<GgufFile> file = MustOpen(spec.Build());
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->version(), 2u);
  EXPECT_EQ(file->tensors().size(), 3u);
}

TEST(GgufFileTest, DefaultAlignmentIs32) {
  GgufSpec spec;
  spec.kvs.push_back(Kv("general.architecture", VT::kString, Str("x")));
  spec.AddTensor("t", {8}, GgmlType::kF32, 32, 1);
  std::unique_ptr<GgufFile> file = MustOpen(spec.Build());
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->data_offset(), PadUp(spec.Prefix().size(), 32));
}

// ---- Malformed files -----------------------------------------------------------------------

TEST(GgufFileTest, MissingFileAndNonRegularFile) {
  StatusOr<std::unique_ptr<GgufFile>> missing = GgufFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model.gguf: cannot open"),
            std::string::npos)
      << missing.status().message();
  StatusOr<std::unique_ptr<GgufFile>> dir = GgufFile::Open(::testing::TempDir());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("not a regular file"), std::string::npos)
      << dir.status().message();
}

TEST(GgufFileTest, ErrorMessageStartsWithThePath) {
  StatusOr<std::unique_ptr<GgufFile>> file = OpenBytes("GGUX");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("gguf_file_test_"), std::string::npos);
  EXPECT_NE(file.status().message().find(".gguf: "), std::string::npos);
}

// FromBytes (what the fuzzer parses through) must accept and reject exactly what Open does:
// the same file contents on a valid file, the same message after the name on invalid ones.
TEST(GgufFileTest, FromBytesAgreesWithOpen) {
  const auto from_bytes = [](const std::string& bytes) {
    return GgufFile::FromBytes("in-memory", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  };
  const std::string valid = ValidSpec().Build();
  std::unique_ptr<GgufFile> opened = MustOpen(valid);
  ASSERT_NE(opened, nullptr);
  StatusOr<std::unique_ptr<GgufFile>> parsed = from_bytes(valid);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const GgufFile& file = **parsed;
  EXPECT_EQ(file.path(), "in-memory");
  EXPECT_EQ(file.version(), opened->version());
  EXPECT_EQ(file.alignment(), opened->alignment());
  EXPECT_EQ(file.file_bytes(), opened->file_bytes());
  EXPECT_EQ(file.data_offset(), opened->data_offset());
  ASSERT_EQ(file.metadata().size(), opened->metadata().size());
  for (size_t kv_idx = 0; kv_idx < file.metadata().size(); ++kv_idx) {
    EXPECT_EQ(file.metadata()[kv_idx].key, opened->metadata()[kv_idx].key);
  }
  EXPECT_EQ(file.GetString("general.architecture"), opened->GetString("general.architecture"));
  EXPECT_EQ(file.GetStringArray("tokenizer.ggml.tokens"),
            opened->GetStringArray("tokenizer.ggml.tokens"));
  ASSERT_EQ(file.tensors().size(), opened->tensors().size());
  for (size_t tensor_idx = 0; tensor_idx < file.tensors().size(); ++tensor_idx) {
    const GgufTensorInfo& got = file.tensors()[tensor_idx];
    const GgufTensorInfo& want = opened->tensors()[tensor_idx];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(std::vector<int64_t>(got.ne, got.ne + 4), std::vector<int64_t>(want.ne, want.ne + 4));
    EXPECT_EQ(got.offset, want.offset);
    ASSERT_EQ(got.num_bytes, want.num_bytes);
    EXPECT_EQ(std::memcmp(got.data, want.data, got.num_bytes), 0);
  }

  // Empty, one byte short of the last tensor's data, and a bad magic.
  const std::string invalid_files[] = {"", valid.substr(0, valid.size() - 1),
                                       "GGUX" + valid.substr(4)};
  for (const std::string& invalid : invalid_files) {
    StatusOr<std::unique_ptr<GgufFile>> opened_invalid = OpenBytes(invalid);
    StatusOr<std::unique_ptr<GgufFile>> parsed_invalid = from_bytes(invalid);
    ASSERT_FALSE(opened_invalid.ok());
    ASSERT_FALSE(parsed_invalid.ok());
    const std::string open_message = opened_invalid.status().message();  // status() is a copy
    EXPECT_EQ(parsed_invalid.status().message(),
              "in-memory" + open_message.substr(open_message.find(".gguf: ") + 5));
  }
}

TEST(GgufFileTest, TruncatedHeader) {
  const std::string header = Header(3, 0, 0);
  for (size_t num_bytes = 0; num_bytes < header.size(); ++num_bytes) {
    EXPECT_TRUE(OpenFailsWith(header.substr(0, num_bytes), "truncated header")) << num_bytes;
  }
  EXPECT_TRUE(MustOpen(header) != nullptr);  // an empty file with just a header is valid
}

TEST(GgufFileTest, TruncatedAnywhere) {
  // The last tensor's data ends the file, so every proper prefix must be rejected.
  const std::string bytes = ValidSpec().Build();
  ASSERT_NE(MustOpen(bytes), nullptr);
  for (size_t num_bytes = 0; num_bytes < bytes.size(); ++num_bytes) {
    StatusOr<std::unique_ptr<GgufFile>> file = OpenBytes(bytes.substr(0, num_bytes));
    EXPECT_FALSE(file.ok()) << "prefix of " << num_bytes << " bytes opened";
  }
  // Spot checks of the messages: in the header, inside the first tensor's name, inside its
  // n_dims, in the data. (Other cuts mostly fail the n_kv / n_tensors bound first.)
  const GgufSpec spec = ValidSpec();
  uint64_t infos_start = Header(3, 0, 0).size();
  for (const std::string& kv : spec.kvs) infos_start += kv.size();
  EXPECT_TRUE(OpenFailsWith(bytes.substr(0, 20), "truncated header"));
  EXPECT_TRUE(OpenFailsWith(bytes.substr(0, infos_start + 8 + 2),
                            "tensor #0: tensor name length 3 at offset"));
  EXPECT_TRUE(OpenFailsWith(bytes.substr(0, infos_start + 8 + 3 + 2),
                            "tensor #0 'f32': unexpected end of file reading n_dims"));
  EXPECT_TRUE(OpenFailsWith(bytes.substr(0, bytes.size() - 1), "past the end of the file"));
}

TEST(GgufFileTest, BadMagic) {
  std::string bytes = Header(3, 0, 0);
  bytes[3] = 'X';
  EXPECT_TRUE(OpenFailsWith(bytes, "bad magic"));
}

TEST(GgufFileTest, UnsupportedVersions) {
  EXPECT_TRUE(OpenFailsWith(Header(1, 0, 0), "unsupported GGUF version 1"));
  EXPECT_TRUE(OpenFailsWith(Header(4, 0, 0), "unsupported GGUF version 4"));
  EXPECT_TRUE(OpenFailsWith(Header(0, 0, 0), "unsupported GGUF version 0"));
}

TEST(GgufFileTest, BigEndianVersion) {
  EXPECT_TRUE(OpenFailsWith(Header(0x03000000, 0, 0), "big-endian"));
  EXPECT_TRUE(OpenFailsWith(Header(0x02000000, 0, 0), "0x2000000"));
}

TEST(GgufFileTest, ImpossibleCounts) {
  EXPECT_TRUE(OpenFailsWith(Header(3, 0, std::numeric_limits<uint64_t>::max()), "n_kv"));
  EXPECT_TRUE(OpenFailsWith(Header(3, uint64_t{1} << 63, 0), "n_tensors"));
  // Within the caps but more than the remaining bytes can hold.
  EXPECT_TRUE(OpenFailsWith(Header(3, 0, 2) + Kv("a", VT::kUint8, Le<uint8_t>(1)), "n_kv 2"));
  EXPECT_TRUE(OpenFailsWith(Header(3, 1, 0), "n_tensors 1"));
}

TEST(GgufFileTest, HugeStringLengths) {
  // Key length 2^63.
  EXPECT_TRUE(OpenFailsWith(Header(3, 0, 1) + Le<uint64_t>(uint64_t{1} << 63) + "abcdef",
                            "key length 9223372036854775808 exceeds the limit"));
  // Key longer than the file.
  EXPECT_TRUE(OpenFailsWith(Header(3, 0, 1) + Le<uint64_t>(1000) + "abcdef",
                            "exceeds the 6 bytes left in the file"));
  // Value string of length 2^63 and of length just past the end.
  const std::string prefix = Header(3, 0, 1) + Str("k") + TypeId(VT::kString);
  EXPECT_TRUE(OpenFailsWith(prefix + Le<uint64_t>(uint64_t{1} << 63) + "xyz",
                            "metadata key 'k': string value length 9223372036854775808"));
  EXPECT_TRUE(OpenFailsWith(prefix + Le<uint64_t>(4) + "xyz", "exceeds the 3 bytes left"));
  // A string inside an array.
  EXPECT_TRUE(OpenFailsWith(
      Header(3, 0, 1) + Kv("k", VT::kArray, Arr(VT::kString, 2, Str("ok") + Le<uint64_t>(99))),
      "array element 1: string value length 99"));
}

TEST(GgufFileTest, HugeArrayCounts) {
  const std::string prefix = Header(3, 0, 1) + Str("k") + TypeId(VT::kArray);
  EXPECT_TRUE(OpenFailsWith(prefix + Arr(VT::kInt32, uint64_t{1} << 40, Le<int32_t>(1)),
                            "array of 1099511627776 INT32 elements"));
  EXPECT_TRUE(OpenFailsWith(prefix + Arr(VT::kString, uint64_t{1} << 40, Str("a")),
                            "array of 1099511627776 STRING elements"));
  EXPECT_TRUE(OpenFailsWith(prefix + Arr(VT::kUint8, std::numeric_limits<uint64_t>::max(), "x"),
                            "array of 18446744073709551615 UINT8"));
  EXPECT_TRUE(OpenFailsWith(prefix + Arr(VT::kArray, uint64_t{1} << 40, Arr(VT::kUint8, 0, "")),
                            "array of 1099511627776 ARRAY elements"));
}

TEST(GgufFileTest, ArrayElementsAreCappedAcrossTheFile) {
  // One array over the cap is rejected before anything is decoded.
  const uint64_t over_cap = kGgufMaxArrayElems + 1;
  EXPECT_TRUE(OpenFailsWith(
      Header(3, 0, 1) + Kv("a", VT::kArray, Arr(VT::kUint8, over_cap, std::string(over_cap, '\1'))),
      "exceeds the limit of 4194304 array elements per file"));
  // Two arrays, each under the cap and fitting in the file, that together exceed it.
  const uint64_t num_small = 10;
  const uint64_t num_rest = kGgufMaxArrayElems - num_small + 1;
  GgufSpec spec;
  spec.kvs = {Kv("a", VT::kArray, Arr(VT::kUint8, num_small, std::string(num_small, '\1'))),
              Kv("b", VT::kArray, Arr(VT::kUint8, num_rest, std::string(num_rest, '\2')))};
  EXPECT_TRUE(OpenFailsWith(spec.Build(),
                            "metadata key 'b': array of 4194295 elements exceeds "
                            "the limit of 4194304 array elements per file"));
}

TEST(GgufFileTest, NestedArrayBeyondTheCap) {
  const std::string depth4 = Arr(
      VT::kArray, 1, Arr(VT::kArray, 1, Arr(VT::kArray, 1, Arr(VT::kInt32, 1, Le<int32_t>(5)))));
  EXPECT_TRUE(OpenFailsWith(Header(3, 0, 1) + Kv("deep", VT::kArray, depth4),
                            "metadata key 'deep': array element 0: array element 0: arrays "
                            "nested deeper than 3 levels"));
}

TEST(GgufFileTest, InvalidValueTypes) {
  for (int32_t type_id : {13, -1, 1 << 30}) {
    const std::string kv = Str("k") + Le<int32_t>(type_id) + Le<uint32_t>(0);
    EXPECT_TRUE(OpenFailsWith(Header(3, 0, 1) + kv, "value type id " + std::to_string(type_id)));
    const std::string array = Kv("k", VT::kArray, Le<int32_t>(type_id) + Le<uint64_t>(0));
    EXPECT_TRUE(
        OpenFailsWith(Header(3, 0, 1) + array, "element type id " + std::to_string(type_id)));
  }
}

TEST(GgufFileTest, DuplicateKeys) {
  GgufSpec spec;
  spec.kvs = {Kv("a.b", VT::kUint8, Le<uint8_t>(1)), Kv("c", VT::kUint8, Le<uint8_t>(2)),
              Kv("a.b", VT::kString, Str("x"))};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "duplicate metadata key 'a.b' (entries #0 and #2)"));
}

TEST(GgufFileTest, EmptyKey) {
  GgufSpec spec;
  spec.kvs = {Kv("a", VT::kUint8, Le<uint8_t>(1)), Kv("", VT::kUint8, Le<uint8_t>(2)),
              Kv("b", VT::kString, Str("padding"))};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "metadata #1: key is empty"));
}

TEST(GgufFileTest, BadAlignment) {
  auto with_alignment = [](const std::string& alignment_kv) {
    GgufSpec spec;
    spec.kvs = {alignment_kv};
    spec.AddTensor("t", {8}, GgmlType::kF32, 32, 1);
    return spec.Build();
  };
  EXPECT_TRUE(OpenFailsWith(with_alignment(Kv("general.alignment", VT::kUint64, Le<uint64_t>(32))),
                            "general.alignment has type UINT64, expected UINT32"));
  EXPECT_TRUE(OpenFailsWith(with_alignment(Kv("general.alignment", VT::kInt32, Le<int32_t>(32))),
                            "general.alignment has type INT32, expected UINT32"));
  EXPECT_TRUE(OpenFailsWith(with_alignment(Kv("general.alignment", VT::kUint32, Le<uint32_t>(0))),
                            "general.alignment 0 is not a non-zero power of two"));
  EXPECT_TRUE(OpenFailsWith(with_alignment(Kv("general.alignment", VT::kUint32, Le<uint32_t>(3))),
                            "general.alignment 3 is not a non-zero power of two"));
  EXPECT_TRUE(OpenFailsWith(
      with_alignment(Kv("general.alignment", VT::kUint32, Le<uint32_t>(uint32_t{1} << 31))),
      "data section would start at offset 2147483648, past the end of the file"));
}

TEST(GgufFileTest, MisalignedOffset) {
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("t", {4}, static_cast<int32_t>(GgmlType::kF32), 16)};
  spec.data = std::string(32, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(),
                            "tensor #0 't': data offset 16 is not a multiple of the alignment 32"));
}

TEST(GgufFileTest, OverlappingTensors) {
  GgufSpec spec;
  const int32_t f32 = static_cast<int32_t>(GgmlType::kF32);
  // Listed out of offset order, so the check must sort.
  spec.tensor_infos = {TensorInfo("b", {16}, f32, 32), TensorInfo("a", {16}, f32, 0)};
  spec.data = std::string(96, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensors 'a' (data offset 0, 64 bytes) and 'b'"));
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "overlap"));
  // Touching is fine.
  spec.tensor_infos = {TensorInfo("b", {16}, f32, 64), TensorInfo("a", {16}, f32, 0)};
  spec.data = std::string(128, '\0');
  EXPECT_NE(MustOpen(spec.Build()), nullptr);
}

TEST(GgufFileTest, TensorDataPastTheEnd) {
  const int32_t f32 = static_cast<int32_t>(GgmlType::kF32);
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("big", {1024}, f32, 0)};
  spec.data = std::string(100, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(),
                            "tensor 'big': 4096 bytes at data offset 0 extend "
                            "past the end of the file"));
  // An offset near 2^64 must not wrap around the bounds check.
  spec.tensor_infos = {TensorInfo("far", {8}, f32, std::numeric_limits<uint64_t>::max() - 31)};
  spec.data = std::string(32, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensor 'far'"));
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "past the end of the file"));
  // The public PoC: token_embd's ne[1] patched to 2^42+1. Sizes fit int64 but not the file.
  spec.tensor_infos = {TensorInfo("token_embd.weight", {640, (int64_t{1} << 42) + 1},
                                  static_cast<int32_t>(GgmlType::kQ8_0), 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensor 'token_embd.weight'"));
}

TEST(GgufFileTest, TooManyDims) {
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("t", {1, 1, 1, 1, 1}, 0, 0)};
  spec.data = std::string(32, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensor #0 't': n_dims 5 exceeds the maximum of 4"));
}

TEST(GgufFileTest, NegativeDim) {
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("t", {4, -1}, 0, 0)};
  spec.data = std::string(32, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "ne[1] = -1 is negative"));
}

TEST(GgufFileTest, RowNotDivisibleByBlockSize) {
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("w", {640, 2}, static_cast<int32_t>(GgmlType::kQ4_K), 0)};
  spec.data = std::string(2048, '\0');
  EXPECT_TRUE(
      OpenFailsWith(spec.Build(),
                    "tensor #0 'w': row length ne[0] = 640 is not a multiple of the Q4_K block "
                    "size 256"));
}

TEST(GgufFileTest, UnknownGgmlTypes) {
  for (int32_t type_id : {4, 5, 31, 99, -1}) {
    GgufSpec spec;
    spec.tensor_infos = {TensorInfo("t", {32}, type_id, 0)};
    spec.data = std::string(1024, '\0');
    EXPECT_TRUE(OpenFailsWith(
        spec.Build(), "ggml type id " + std::to_string(type_id) + " is unknown or was removed"));
  }
}

TEST(GgufFileTest, SizeOverflows) {
  const int32_t f32 = static_cast<int32_t>(GgmlType::kF32);
  GgufSpec spec;
  spec.data = std::string(32, '\0');
  spec.tensor_infos = {TensorInfo("t", {int64_t{1} << 40, int64_t{1} << 40}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(),
                            "element count of shape [1099511627776, "
                            "1099511627776, 1, 1] overflows int64"));
  // A zero dim does not hide an overflowing product of the others (num_rows() would overflow).
  spec.tensor_infos = {TensorInfo("t", {0, int64_t{1} << 40, int64_t{1} << 40}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "element count"));
  // The element count fits int64 but the byte count (4 x 2^62) does not.
  spec.tensor_infos = {TensorInfo("t", {int64_t{1} << 62}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "byte size of shape"));
  spec.tensor_infos = {TensorInfo("t", {4, int64_t{1} << 60}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "byte size of shape"));
}

TEST(GgufFileTest, BadTensorNames) {
  const int32_t f32 = static_cast<int32_t>(GgmlType::kF32);
  GgufSpec spec;
  spec.data = std::string(32, '\0');
  spec.tensor_infos = {TensorInfo(std::string(64, 'n'), {4}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensor name length 64 exceeds the limit of 63"));
  spec.tensor_infos = {TensorInfo("", {4}, f32, 0)};
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "tensor #0: tensor name is empty"));
}

TEST(GgufFileTest, DuplicateTensorNames) {
  const int32_t f32 = static_cast<int32_t>(GgmlType::kF32);
  GgufSpec spec;
  spec.tensor_infos = {TensorInfo("w", {8}, f32, 0), TensorInfo("v", {8}, f32, 32),
                       TensorInfo("w", {8}, f32, 64)};
  spec.data = std::string(96, '\0');
  EXPECT_TRUE(OpenFailsWith(spec.Build(), "duplicate tensor name 'w' (tensors #0 and #2)"));
}

// ---- The real default model ----------------------------------------------------------------

// GS_MODEL_PATH, else the path in the source tree's .model-path; empty when neither is set.
std::string DefaultModelPath() {
  if (const char* env = std::getenv("GS_MODEL_PATH"); env != nullptr && *env != '\0') return env;
  std::ifstream in(std::string(GS_SOURCE_DIR) + "/.model-path");
  std::string path;
  std::getline(in, path);
  while (!path.empty() && std::isspace(static_cast<unsigned char>(path.back()))) path.pop_back();
  return path;
}

TEST(GgufFileRealModelTest, OpensTheDefaultModel) {
  const std::string path = DefaultModelPath();
  if (path.empty()) GTEST_SKIP() << "no GS_MODEL_PATH and no .model-path";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model not found at " << path;

  StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  const GgufFile& file = *opened.value();

  EXPECT_EQ(file.GetString("general.architecture"), "gemma3");
  EXPECT_EQ(file.metadata().size(), 33u);
  EXPECT_EQ(file.tensors().size(), 236u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset() % 32, 0u);
  const std::optional<std::vector<std::string_view>> tokens =
      file.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.has_value());
  EXPECT_EQ(tokens->size(), 262144u);
  EXPECT_EQ(file.GetFloatArray("tokenizer.ggml.scores").value_or(std::vector<float>{}).size(),
            262144u);
  EXPECT_EQ(file.GetIntArray("tokenizer.ggml.token_type").value_or(std::vector<int32_t>{}).size(),
            262144u);

  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, GgmlType::kQ8_0);
  EXPECT_EQ(embd->num_dims, 2);
  EXPECT_EQ(embd->ne[0], 640);
  EXPECT_EQ(embd->ne[1], 262144);
  EXPECT_EQ(embd->num_bytes, 640u / 32 * 34 * 262144);

  const GgufTensorInfo* ffn_down = file.FindTensor("blk.0.ffn_down.weight");
  ASSERT_NE(ffn_down, nullptr);
  EXPECT_EQ(ffn_down->type, GgmlType::kQ6_K);
  EXPECT_EQ(ffn_down->ne[0], 2048);
  EXPECT_EQ(ffn_down->ne[1], 640);

  for (const GgufTensorInfo& info : file.tensors()) {
    ASSERT_NE(info.data, nullptr) << info.name;
    EXPECT_LE(file.data_offset() + info.offset + info.num_bytes, file.file_bytes()) << info.name;
  }
}

}  // namespace
}  // namespace gs
