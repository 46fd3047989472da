// GGUF writing (engine/gguf/gguf_writer.h): what the builder holds reads back through the file
// reader (GgufFile::Open, the path every model takes) value for value and byte for byte, and a
// failed write leaves nothing behind.
#include "engine/gguf/gguf_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

namespace gs {
namespace {

std::string TempPath(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string(name) + "-" + std::to_string(::getpid()) + ".gguf"))
      .string();
}

TEST(GgufWriterTest, WrittenFileReadsBackExactly) {
  // Data of odd sizes, so that the writer's padding to the alignment shows.
  std::vector<float> norm = {0.5f, -1.25f, 3.0f};
  std::vector<uint8_t> q8(2 * 34 * 3);  // Q8_0: 3 rows of 64 values
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7 + 1);
  std::vector<float> experts(4 * 2 * 3);
  for (size_t i = 0; i < experts.size(); ++i) experts[i] = static_cast<float>(i) * 0.25f;

  GgufBuilder b;
  b.SetString("general.architecture", "gemma4");
  b.SetUint32("gemma4.block_count", 7);
  b.SetFloat32("gemma4.rope.freq_base", 1e6f);
  b.SetInt32Array("gemma4.feed_forward_length", {192, -1, 384});
  b.SetBoolArray("gemma4.attention.sliding_window_pattern", {true, false, true});
  GgufTensorInfo t1{.name = "a.weight", .type = GgmlType::kF32, .num_dims = 1, .ne = {3, 1, 1, 1}};
  t1.num_bytes = sizeof(float) * norm.size();
  t1.data = reinterpret_cast<const uint8_t*>(norm.data());
  GgufTensorInfo t2{.name = "b.weight", .type = GgmlType::kQ8_0, .num_dims = 2, .ne = {64, 3, 1, 1}};
  t2.num_bytes = q8.size();
  t2.data = q8.data();
  GgufTensorInfo t3{.name = "c.weight", .type = GgmlType::kF32, .num_dims = 3, .ne = {4, 2, 3, 1}};
  t3.num_bytes = sizeof(float) * experts.size();
  t3.data = reinterpret_cast<const uint8_t*>(experts.data());
  b.AddTensor(t1);
  b.AddTensor(t2);
  b.AddTensor(t3);
  StatusOr<std::unique_ptr<GgufFile>> built = b.Build("built");
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_EQ((*built)->GetString("general.architecture"), "gemma4");

  const std::string path = TempPath("gguf-writer");
  ASSERT_TRUE(WriteGguf(**built, path).ok());
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->metadata().size(), 5u);
  EXPECT_EQ((*f)->GetString("general.architecture"), "gemma4");
  EXPECT_EQ((*f)->GetInt("gemma4.block_count"), 7);
  EXPECT_EQ((*f)->Find("gemma4.block_count")->type, GgufValueType::kUint32);
  EXPECT_EQ((*f)->GetFloat("gemma4.rope.freq_base"), 1e6);
  EXPECT_EQ((*f)->GetIntArray("gemma4.feed_forward_length"), (std::vector<int32_t>{192, -1, 384}));
  const GgufValue* pattern = (*f)->Find("gemma4.attention.sliding_window_pattern");
  ASSERT_NE(pattern, nullptr);
  ASSERT_EQ(pattern->elem_type, GgufValueType::kBool);
  ASSERT_EQ(pattern->elems.size(), 3u);
  EXPECT_EQ(pattern->elems[1].i, 0);
  EXPECT_EQ(pattern->elems[2].i, 1);
  ASSERT_EQ((*f)->tensors().size(), 3u);
  for (const GgufTensorInfo& want : (*built)->tensors()) {
    const GgufTensorInfo* got = (*f)->FindTensor(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(got->type, want.type);
    EXPECT_EQ(got->num_dims, want.num_dims);
    for (int d = 0; d < 4; ++d) EXPECT_EQ(got->ne[d], want.ne[d]) << want.name;
    EXPECT_EQ(got->offset, want.offset) << want.name;  // the builder lays out as the writer
    EXPECT_EQ(got->offset % (*f)->alignment(), 0u);
    ASSERT_EQ(got->num_bytes, want.num_bytes);
    EXPECT_EQ(std::memcmp(got->data, want.data, want.num_bytes), 0) << want.name;
  }
}

TEST(GgufWriterTest, DuplicatesAreRefusedAndFailedWritesLeaveNothing) {
  GgufBuilder dup;
  dup.SetUint32("k", 1);
  dup.SetUint32("k", 2);
  StatusOr<std::unique_ptr<GgufFile>> f = dup.Build("dup");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("duplicate metadata key 'k'"), std::string::npos);

  GgufBuilder b;
  b.SetUint32("k", 1);
  StatusOr<std::unique_ptr<GgufFile>> ok = b.Build("ok");
  ASSERT_TRUE(ok.ok());
  const std::string dir = TempPath("gguf-writer-dir");
  std::filesystem::create_directory(dir);
  const Status s = WriteGguf(**ok, dir + "/missing/x.gguf");  // no such directory
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gs
