// A Gemma 4 file that does not hold what its metadata promises is a load error naming what is
// wrong, never a crash: each case takes a tiny fixture (tests/fixtures/make_tiny_gemma4.py) and
// breaks one thing in it, a tensor hidden or reshaped, or one value of a per-layer array.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <fstream>
#include <iterator>

#include "engine/cpu/cpu_backend.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"

namespace gs {
namespace {

std::vector<uint8_t> FixtureBytes(const std::string& name) {
  std::ifstream in(std::string(GS_FIXTURE_DIR) + "/" + name + ".gguf", std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Loads the model from `file`, with the tensor lookup passed through `edit` first.
Status LoadWith(const GgufFile& file,
                const std::function<const GgufTensorInfo*(const GgufTensorInfo*)>& edit) {
  StatusOr<ModelConfig> config = ModelConfig::FromGguf(file);
  if (!config.ok()) return config.status();
  CpuBackend backend(1);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(
      std::move(config).value(),
      [&](const std::string& name) { return edit(file.FindTensor(name)); }, backend);
  return model.ok() ? Status::Ok() : model.status();
}

::testing::AssertionResult FailsNaming(const Status& s, const std::string& needle) {
  if (s.ok()) return ::testing::AssertionFailure() << "loaded; expected an error naming " << needle;
  if (s.message().find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "\"" << s.message() << "\" does not name " << needle;
  }
  return ::testing::AssertionSuccess();
}

TEST(Gemma4LoadTest, EveryTensorIsRequiredByName) {
  for (const char* fixture : {"tiny_gemma4_unified", "tiny_gemma4_e2b", "tiny_gemma4_moe"}) {
    StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(fixture, FixtureBytes(fixture));
    ASSERT_TRUE(file.ok()) << file.status().message();
    ASSERT_TRUE(LoadWith(**file, [](const GgufTensorInfo* t) { return t; }).ok());
    // Every tensor the file has is one the model needs (llama.cpp's converter writes no
    // extras), so hiding any one of them must fail the load, naming it.
    for (const GgufTensorInfo& hidden : (*file)->tensors()) {
      if (hidden.name.find("layer_output_scale") != std::string::npos ||
          hidden.name.find("ffn_down_exps.scale") != std::string::npos) {
        continue;  // optional: absent means 1
      }
      const Status s = LoadWith(**file, [&](const GgufTensorInfo* t) {
        return t != nullptr && t->name == hidden.name ? nullptr : t;
      });
      EXPECT_TRUE(FailsNaming(s, hidden.name)) << fixture;
    }
  }
}

TEST(Gemma4LoadTest, AWrongShapeIsNamed) {
  StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::FromBytes("moe", FixtureBytes("tiny_gemma4_moe"));
  ASSERT_TRUE(file.ok());
  for (const char* name : {"blk.1.attn_k.weight", "blk.0.ffn_gate_up_exps.weight",
                           "blk.2.ffn_gate_inp.scale", "rope_freqs.weight"}) {
    GgufTensorInfo changed = *(*file)->FindTensor(name);
    changed.ne[changed.num_dims - 1] -= 1;
    const Status s = LoadWith(**file, [&](const GgufTensorInfo* t) {
      return t != nullptr && t->name == name ? &changed : t;
    });
    EXPECT_TRUE(FailsNaming(s, name));
  }
}

// Overwrites element elem_idx of the int32 array stored under key.
void PatchInt32Array(std::vector<uint8_t>& bytes, const std::string& key, size_t elem_idx,
                     int32_t value) {
  const auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  ASSERT_NE(it, bytes.end()) << key;
  // key, then the value type (array), the element type and the count, then the elements.
  const size_t elems = static_cast<size_t>(it - bytes.begin()) + key.size() + 4 + 4 + 8;
  std::memcpy(&bytes[elems + 4 * elem_idx], &value, sizeof value);
}

TEST(Gemma4LoadTest, InconsistentPerLayerArraysAreErrors) {
  struct Case {
    const char* fixture;
    const char* key;
    size_t elem_idx;
    int32_t value;
    const char* needle;
  };
  const Case cases[] = {
      // 4 query heads over 3 KV heads.
      {"tiny_gemma4_unified", "gemma4.attention.head_count_kv", 1, 3, "head_count_kv"},
      // KV heads the tensors do not have: attn_k's shape names the mismatch.
      {"tiny_gemma4_unified", "gemma4.attention.head_count_kv", 2, 2, "blk.2.attn_k.weight"},
      // An FFN width of 0 and one the tensors do not have.
      {"tiny_gemma4_e2b", "gemma4.feed_forward_length", 3, 0, "feed_forward_length[3]"},
      {"tiny_gemma4_e2b", "gemma4.feed_forward_length", 4, 192, "blk.4.ffn_gate.weight"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bytes = FixtureBytes(c.fixture);
    PatchInt32Array(bytes, c.key, c.elem_idx, c.value);
    StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(c.fixture, std::move(bytes));
    ASSERT_TRUE(file.ok()) << file.status().message();
    const Status s = LoadWith(**file, [](const GgufTensorInfo* t) { return t; });
    EXPECT_TRUE(FailsNaming(s, c.needle)) << c.key << "[" << c.elem_idx << "] = " << c.value;
  }
}

}  // namespace
}  // namespace gs
