// The Gemma 3 model on the real default model: config read from metadata, and the forward pass
// giving bit-identical logits however a sequence is split into steps (one prefill, chunks, token
// by token), including past the sliding window where the sliding group releases blocks.
#include "engine/model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/run_request.h"

namespace gs {
namespace {

std::unique_ptr<GgufFile> OpenDefaultModel() {
  std::string path;
  if (const char* env = std::getenv("GS_MODEL_PATH"); env != nullptr && *env) {
    path = env;
  } else {
    std::ifstream in(GS_SOURCE_DIR "/.model-path");
    std::getline(in, path);
  }
  if (path.empty() || !std::ifstream(path)) return nullptr;
  StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
  return f.ok() ? std::move(f).value() : nullptr;
}

#define REQUIRE_MODEL(file)                                                       \
  if (!(file)) {                                                                  \
    if (std::getenv("GS_REQUIRE_MODEL")) FAIL() << "default model not installed"; \
    GTEST_SKIP() << "default model not installed (scripts/setup.sh)";             \
  }

TEST(ModelConfigTest, Gemma3FromMetadata) {
  auto file = OpenDefaultModel();
  REQUIRE_MODEL(file);
  StatusOr<ModelConfig> c = ModelConfig::FromGguf(*file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->num_layers, 18);
  EXPECT_EQ(c->hidden, 640);
  EXPECT_EQ(c->num_heads, 4);
  for (const LayerConfig& l : c->layers) {
    EXPECT_EQ(l.num_kv_heads, 1);
    EXPECT_EQ(l.head_dim, 256);
    EXPECT_EQ(l.rope.n_rot, 256);
    EXPECT_EQ(l.ffn_hidden, 2048);
    EXPECT_FALSE(l.rope.uses_freq_factors || l.k_eq_v || l.has_moe);
  }
  EXPECT_EQ(c->num_vocab, 262144);
  EXPECT_EQ(c->sliding_window, 512);
  EXPECT_FLOAT_EQ(c->attn_scale, 1.0f / 16);
  EXPECT_NEAR(c->embed_scale, std::sqrt(640.0f), 1e-5);
  ASSERT_EQ(c->kv_groups.size(), 2u);
  std::vector<int32_t> global;
  for (int32_t i = 0; i < c->num_layers; ++i) {
    const LayerConfig& l = c->layers[i];
    if (l.kind == AttentionKind::kGlobal) {
      global.push_back(i);
      EXPECT_EQ(l.rope.base, 1e6f);
      EXPECT_EQ(l.window, 0);
    } else {
      EXPECT_EQ(l.rope.base, 1e4f);
      EXPECT_EQ(l.window, 512);
    }
  }
  EXPECT_EQ(global, (std::vector<int32_t>{5, 11, 17}));
}

TEST(ModelTest, LogitsDoNotDependOnHowTheSequenceIsStepped) {
  auto file = OpenDefaultModel();
  REQUIRE_MODEL(file);
  CpuBackend backend(2);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  // 600 positions: past the 512-token window, so sliding layers drop early blocks on the way.
  std::mt19937 rng(5);
  std::vector<int32_t> prompt = {2};
  for (int i = 1; i < 597; ++i) prompt.push_back(static_cast<int32_t>(rng() % 256000));

  // Through the engine `serve` runs: 597 prompt tokens in steps of `chunk`, then 3 decode steps
  // of greedy picks (identical in both runs while the logits are). Every sampled row kept.
  auto run = [&](int32_t chunk) {
    EngineOptions options;
    options.kv_cache_bytes = int64_t{32} << 20;
    options.max_num_seqs = 1;
    options.max_num_batched_tokens = chunk;
    StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    std::vector<float> logits;
    EngineRequest r;
    r.prompt = prompt;
    r.max_new_tokens = 4;
    r.logits_sink = [&](int64_t, std::span<const float> row) {
      logits.insert(logits.end(), row.begin(), row.end());
    };
    const RequestResult result = RunRequest(**engine, std::move(r));
    EXPECT_EQ(result.finish, FinishReason::kLength) << result.error;
    EXPECT_EQ(logits.size(), size_t{4} * num_vocab);
    return logits;
  };
  const std::vector<float> whole = run(600), chunked = run(37);
  ASSERT_EQ(whole.size(), chunked.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    ASSERT_EQ(whole[i], chunked[i])
        << "position " << 596 + i / num_vocab << ", logit " << i % num_vocab;
  }
  for (float x : whole) ASSERT_TRUE(std::isfinite(x));
}

}  // namespace
}  // namespace gs
