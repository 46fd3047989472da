// Synthetic models (engine/model/synthetic_model.h): the config follows the shape (Gemma 3's and
// each Gemma 4 variant's), every weight type decodes to values of the promised spread and loads
// on the CPU backend, a forward pass gives finite logits of a sane spread (also 48 layers deep),
// the weights depend on the seed only (not on the number of generation threads), and the model
// written as a GGUF file (what `gemma-serve synth` does) loads back to the very same logits.
#include "engine/model/synthetic_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/run_request.h"
#include "kernels/ref/quant_ref.h"
#include "tests/unit/gemma3_270m_shape.h"

namespace gs {
namespace {

// The default model's shape with fewer layers and a smaller vocabulary, so that a test runs in
// milliseconds; 6 layers keep one global layer (5).
SyntheticShape Small270m() {
  SyntheticShape s = Gemma3_270mShape();
  s.name = "gemma3-270m-small";
  s.num_layers = 6;
  s.num_vocab = 4096;
  return s;
}

struct Stats {
  double mean = 0, sd = 0;
};

Stats Moments(const std::vector<float>& v) {
  Stats s;
  for (float x : v) s.mean += x;
  s.mean /= v.size();
  for (float x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = std::sqrt(s.sd / v.size());
  return s;
}

// Logits after a short prompt, through the Engine as the benchmark runs it.
std::vector<float> PromptLogits(const Model& m, CpuBackend& backend, std::vector<int32_t> prompt) {
  EngineOptions options;
  options.kv_cache_bytes = int64_t{32} << 20;
  options.max_num_seqs = 1;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(m, backend, options);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  if (!engine.ok()) return {};
  std::vector<float> logits;
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.logits_sink = [&](int64_t, std::span<const float> row) {
    logits.assign(row.begin(), row.end());
  };
  const RequestResult result = RunRequest(**engine, std::move(r));
  EXPECT_NE(result.finish, FinishReason::kError) << result.error;
  EXPECT_EQ(logits.size(), static_cast<size_t>(m.config().num_vocab));
  return logits;
}

std::vector<float> PromptLogits(const SyntheticModel& m, CpuBackend& backend,
                                std::vector<int32_t> prompt) {
  return PromptLogits(m.model(), backend, std::move(prompt));
}

const std::vector<int32_t> kPrompt = {2, 17, 4000, 123, 9, 9, 3071, 1};

TEST(SyntheticModelTest, ConfigFollowsTheShape) {
  SyntheticShape s = Small270m();
  s.num_layers = 18;
  StatusOr<ModelConfig> c = SyntheticModelConfig(s);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "gemma3");
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

  // 27B's query_pre_attn_scalar and linear RoPE scaling on global layers only.
  s.query_pre_attn_scalar = 168;
  s.rope_scaling_factor = 8;
  c = SyntheticModelConfig(s);
  ASSERT_TRUE(c.ok());
  EXPECT_FLOAT_EQ(c->attn_scale, 1.0f / std::sqrt(168.0f));
  EXPECT_FLOAT_EQ(c->layers[5].rope.freq_scale, 0.125f);
  EXPECT_FLOAT_EQ(c->layers[4].rope.freq_scale, 1.0f);
}

TEST(SyntheticModelTest, BadShapesAreRefusedWithTheField) {
  SyntheticShape s = Small270m();
  s.num_kv_heads = 3;
  StatusOr<ModelConfig> c = SyntheticModelConfig(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("num_kv_heads"), std::string::npos);
  s = Small270m();
  s.hidden = 0;
  c = SyntheticModelConfig(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("hidden"), std::string::npos);
  // Rows that are not whole quant blocks.
  s = Small270m();
  s.hidden = 640 + 16;
  CpuBackend backend(1);
  StatusOr<std::unique_ptr<SyntheticModel>> m =
      SyntheticModel::Create(s, {.mix = WeightMix::kQ8_0}, backend);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("Q8_0"), std::string::npos) << m.status().message();
}

TEST(SyntheticModelTest, WeightMixNamesRoundTrip) {
  for (const char* name : {"bf16", "f16", "q8_0", "q5_0", "q4_0", "q4_k", "q6_k", "q4_k_m"}) {
    StatusOr<WeightMix> mix = ParseWeightMix(name);
    ASSERT_TRUE(mix.ok()) << name;
    EXPECT_STREQ(WeightMixName(*mix), name);
  }
  EXPECT_FALSE(ParseWeightMix("q4_k_s").ok());
}

// The q4_k_m mix mirrors the default model's file: 640-value rows fall back to 32-value types.
TEST(SyntheticModelTest, Q4KMMixMirrorsTheDefaultModel) {
  CpuBackend backend(2);
  StatusOr<std::unique_ptr<SyntheticModel>> m = SyntheticModel::Create(Small270m(), {}, backend);
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto type = [&](const std::string& name) { return (*m)->FindTensor(name)->type; };
  EXPECT_EQ(type("token_embd.weight"), GgmlType::kQ8_0);
  EXPECT_EQ(type("blk.0.attn_q.weight"), GgmlType::kQ5_0);
  EXPECT_EQ(type("blk.0.attn_k.weight"), GgmlType::kQ5_0);
  EXPECT_EQ(type("blk.0.attn_v.weight"), GgmlType::kQ8_0);
  EXPECT_EQ(type("blk.0.attn_output.weight"), GgmlType::kQ4_K);
  EXPECT_EQ(type("blk.0.ffn_gate.weight"), GgmlType::kQ5_0);
  EXPECT_EQ(type("blk.0.ffn_up.weight"), GgmlType::kQ5_0);
  EXPECT_EQ(type("blk.0.ffn_down.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(type("blk.0.attn_norm.weight"), GgmlType::kF32);
  EXPECT_EQ((*m)->FindTensor("output.weight"), nullptr);  // tied
  // 6 layers x 13 tensors, token_embd and output_norm.
  EXPECT_EQ((*m)->tensors().size(), 6u * 13 + 2);
}

// Every matrix decodes to mean ~0 and sd ~1/sqrt(num_cols); norms sit in [0.9, 1.1].
TEST(SyntheticModelTest, EveryWeightTypeDecodesToThePromisedSpread) {
  for (WeightMix mix : {WeightMix::kBf16, WeightMix::kF16, WeightMix::kQ8_0, WeightMix::kQ5_0,
                        WeightMix::kQ4_0, WeightMix::kQ4_K, WeightMix::kQ6_K, WeightMix::kQ4_K_M}) {
    SCOPED_TRACE(WeightMixName(mix));
    CpuBackend backend(2);
    StatusOr<std::unique_ptr<SyntheticModel>> m =
        SyntheticModel::Create(Small270m(), {.mix = mix, .seed = 3}, backend);
    ASSERT_TRUE(m.ok()) << m.status().message();
    for (const GgufTensorInfo& t : (*m)->tensors()) {
      if (t.name.rfind("blk.1.", 0) != 0 && t.name.rfind("token_embd", 0) != 0) continue;
      SCOPED_TRACE(t.name);
      const int64_t num_rows = std::min<int64_t>(t.ne[1], 64);
      std::vector<float> values(num_rows * t.ne[0]);
      const size_t row_bytes = RowBytes(t.type, t.ne[0]);
      for (int64_t r = 0; r < num_rows; ++r) {
        ref::DequantizeRow(t.type, t.data + r * row_bytes, values.data() + r * t.ne[0], t.ne[0]);
      }
      const Stats s = Moments(values);
      if (t.num_dims == 1) {
        EXPECT_NEAR(s.mean, 1.0, 0.02);
        for (float x : values) ASSERT_TRUE(x >= 0.9f && x <= 1.1f) << x;
        continue;
      }
      const double sigma = 1.0 / std::sqrt(static_cast<double>(t.ne[0]));
      EXPECT_NEAR(s.sd / sigma, 1.0, 0.1);
      EXPECT_LT(std::fabs(s.mean), 0.1 * sigma);
    }
  }
}

TEST(SyntheticModelTest, EveryWeightTypeRunsOnTheCpuWithSaneLogits) {
  for (WeightMix mix : {WeightMix::kBf16, WeightMix::kF16, WeightMix::kQ8_0, WeightMix::kQ5_0,
                        WeightMix::kQ4_0, WeightMix::kQ4_K, WeightMix::kQ6_K, WeightMix::kQ4_K_M}) {
    SCOPED_TRACE(WeightMixName(mix));
    CpuBackend backend(2);
    StatusOr<std::unique_ptr<SyntheticModel>> m =
        SyntheticModel::Create(Small270m(), {.mix = mix, .seed = 1}, backend);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const std::vector<float> logits = PromptLogits(**m, backend, kPrompt);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    // The final norm gives unit-spread rows and the embedding rows have sd 1/sqrt(hidden).
    const Stats s = Moments(logits);
    EXPECT_GT(s.sd, 0.3);
    EXPECT_LT(s.sd, 3.0);
  }
}

TEST(SyntheticModelTest, TheSeedDecidesTheLogits) {
  auto logits = [](uint64_t seed) {
    CpuBackend backend(2);
    StatusOr<std::unique_ptr<SyntheticModel>> m =
        SyntheticModel::Create(Small270m(), {.seed = seed}, backend);
    EXPECT_TRUE(m.ok()) << m.status().message();
    return PromptLogits(**m, backend, kPrompt);
  };
  const std::vector<float> a = logits(7), b = logits(7), c = logits(8);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_NE(a, c);
}

TEST(SyntheticModelTest, BytesDoNotDependOnTheNumberOfThreads) {
  SyntheticShape s = Small270m();
  s.num_layers = 1;
  s.num_vocab = 8192;  // a bf16 embedding of 10 MB: several generation chunks
  CpuBackend backend(1);
  StatusOr<std::unique_ptr<SyntheticModel>> one =
      SyntheticModel::Create(s, {.mix = WeightMix::kBf16, .seed = 4, .num_threads = 1}, backend);
  StatusOr<std::unique_ptr<SyntheticModel>> three =
      SyntheticModel::Create(s, {.mix = WeightMix::kBf16, .seed = 4, .num_threads = 3}, backend);
  ASSERT_TRUE(one.ok() && three.ok());
  ASSERT_EQ((*one)->tensors().size(), (*three)->tensors().size());
  for (size_t i = 0; i < (*one)->tensors().size(); ++i) {
    const GgufTensorInfo& a = (*one)->tensors()[i];
    const GgufTensorInfo& b = (*three)->tensors()[i];
    ASSERT_EQ(a.num_bytes, b.num_bytes);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.num_bytes), 0) << a.name;
  }
}

TEST(SyntheticModelTest, UntiedOutputHasItsOwnWeights) {
  SyntheticShape s = Small270m();
  CpuBackend backend(2);
  StatusOr<std::unique_ptr<SyntheticModel>> tied = SyntheticModel::Create(s, {.seed = 2}, backend);
  s.tied_embedding = false;
  StatusOr<std::unique_ptr<SyntheticModel>> untied =
      SyntheticModel::Create(s, {.seed = 2}, backend);
  ASSERT_TRUE(tied.ok() && untied.ok());
  const GgufTensorInfo* out = (*untied)->FindTensor("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->type, GgmlType::kQ8_0);  // the q4_k_m mix, 640-value rows: Q6_K -> Q8_0
  const std::vector<float> a = PromptLogits(**tied, backend, kPrompt);
  const std::vector<float> b = PromptLogits(**untied, backend, kPrompt);
  for (float x : b) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NE(a, b);  // same seed, same other weights: only the projection differs
  EXPECT_GT(Moments(b).sd, 0.3);
}

TEST(SyntheticModelTest, SharedBytesStillGiveDistinctTensors) {
  CpuBackend backend(2);
  StatusOr<std::unique_ptr<SyntheticModel>> shared =
      SyntheticModel::Create(Small270m(), {.seed = 5, .share_bytes = true}, backend);
  StatusOr<std::unique_ptr<SyntheticModel>> distinct =
      SyntheticModel::Create(Small270m(), {.seed = 5}, backend);
  ASSERT_TRUE(shared.ok() && distinct.ok());
  EXPECT_EQ((*shared)->num_weight_bytes(), (*distinct)->num_weight_bytes());
  EXPECT_LT((*shared)->num_host_bytes(), (*distinct)->num_host_bytes() / 2);
  EXPECT_GE((*distinct)->num_host_bytes(), (*distinct)->num_weight_bytes());
  const GgufTensorInfo* a = (*shared)->FindTensor("blk.0.ffn_down.weight");
  const GgufTensorInfo* b = (*shared)->FindTensor("blk.1.ffn_down.weight");
  EXPECT_NE(std::memcmp(a->data, b->data, a->num_bytes), 0);
  const std::vector<float> logits = PromptLogits(**shared, backend, kPrompt);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  EXPECT_GT(Moments(logits).sd, 0.3);
}

// 48 layers, the 12B's depth, on narrow matrices: the residual stream grows but stays finite.
TEST(SyntheticModelTest, DeepModelStaysFinite) {
  SyntheticShape s;
  s.num_layers = 48;
  s.hidden = 256;
  s.ffn_hidden = 512;
  s.num_heads = 2;
  s.num_kv_heads = 1;
  s.head_dim = 128;
  s.num_vocab = 1024;
  s.context_length = 4096;
  s.sliding_window = 16;
  CpuBackend backend(2);
  for (WeightMix mix : {WeightMix::kQ4_K_M, WeightMix::kBf16}) {
    StatusOr<std::unique_ptr<SyntheticModel>> m =
        SyntheticModel::Create(s, {.mix = mix, .seed = 9}, backend);
    ASSERT_TRUE(m.ok()) << m.status().message();
    std::vector<int32_t> prompt(40);
    std::iota(prompt.begin(), prompt.end(), 100);
    const std::vector<float> logits = PromptLogits(**m, backend, prompt);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    const Stats st = Moments(logits);
    EXPECT_GT(st.sd, 0.3) << WeightMixName(mix);
    EXPECT_LT(st.sd, 3.0) << WeightMixName(mix);
  }
}

// Small Gemma 4 shapes, one per variant, narrow enough to run in milliseconds: a 12B-Unified-like
// dense stack (K=V on global layers, wider global heads, proportional RoPE), an E2B-like one
// (per-layer embeddings, KV sharing, double-wide MLPs) and a 26B-A4B-like mixture of experts.
enum class Gemma4Kind { kUnified, kE2b, kMoe };

SyntheticShape SmallGemma4(Gemma4Kind kind) {
  SyntheticShape s;
  s.architecture = "gemma4";
  s.name = "gemma4-small";
  s.num_layers = 12;
  s.hidden = 256;
  s.ffn_hidden = 512;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 64;
  s.head_dim_global = 128;
  s.rotary_fraction_global = 0.25f;
  s.num_vocab = 4096;
  s.context_length = 4096;
  s.sliding_window = 16;
  s.final_softcap = 30;
  switch (kind) {
    case Gemma4Kind::kUnified:
      s.num_kv_heads_global = 1;
      s.k_eq_v_global = true;
      break;
    case Gemma4Kind::kE2b:
      s.num_layers = 10;
      s.sliding_window_period = 5;
      s.ple_dim = 32;
      s.num_kv_shared_layers = 4;
      s.double_wide_mlp = true;
      break;
    case Gemma4Kind::kMoe:
      s.num_layers = 6;
      s.num_kv_heads_global = 1;
      s.k_eq_v_global = true;
      s.num_experts = 8;
      s.num_experts_used = 2;
      s.expert_ffn_hidden = 64;
      break;
  }
  return s;
}

TEST(SyntheticModelTest, Gemma4ConfigFollowsTheShape) {
  StatusOr<ModelConfig> c = SyntheticModelConfig(SmallGemma4(Gemma4Kind::kUnified));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architecture, "gemma4");
  EXPECT_EQ(c->attn_scale, 1.0f);
  EXPECT_TRUE(c->v_norm);
  EXPECT_EQ(c->final_softcap, 30.0f);
  for (int32_t i = 0; i < c->num_layers; ++i) {
    SCOPED_TRACE(i);
    const LayerConfig& l = c->layers[i];
    const bool global = i % 6 == 5;  // 5 and 11, the last layer
    EXPECT_EQ(l.kind == AttentionKind::kGlobal, global);
    EXPECT_EQ(l.head_dim, global ? 128 : 64);
    EXPECT_EQ(l.num_kv_heads, global ? 1 : 2);
    EXPECT_EQ(l.k_eq_v, global);
    EXPECT_EQ(l.rope.n_rot, l.head_dim);
    EXPECT_EQ(l.rope.uses_freq_factors, global);
    EXPECT_EQ(l.rope.base, global ? 1e6f : 1e4f);
    EXPECT_EQ(l.kv_layer, i);
  }
  EXPECT_EQ(c->kv_groups.size(), 2u);

  c = SyntheticModelConfig(SmallGemma4(Gemma4Kind::kE2b));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->ple_dim, 32);
  // Layers 0-5 store KV (4 is global); 6-9 read it: sliding ones layer 5's, global 9 layer 4's.
  const int32_t want_kv_layer[10] = {0, 1, 2, 3, 4, 5, 5, 5, 5, 4};
  for (int32_t i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(c->layers[i].kind == AttentionKind::kGlobal, i % 5 == 4);
    EXPECT_EQ(c->layers[i].kv_layer, want_kv_layer[i]);
    EXPECT_EQ(c->layers[i].ffn_hidden, i >= 6 ? 1024 : 512);
    EXPECT_FALSE(c->layers[i].k_eq_v);
  }

  c = SyntheticModelConfig(SmallGemma4(Gemma4Kind::kMoe));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->num_experts, 8);
  EXPECT_EQ(c->num_experts_used, 2);
  EXPECT_EQ(c->expert_ffn_hidden, 64);
  for (const LayerConfig& l : c->layers) EXPECT_TRUE(l.has_moe);

  // Gemma 4's fields on a Gemma 3 shape, and a Gemma 3 field on Gemma 4, are refused.
  SyntheticShape bad = Small270m();
  bad.ple_dim = 16;
  EXPECT_FALSE(SyntheticModelConfig(bad).ok());
  bad = SmallGemma4(Gemma4Kind::kUnified);
  bad.query_pre_attn_scalar = 64;
  EXPECT_FALSE(SyntheticModelConfig(bad).ok());
  bad = SmallGemma4(Gemma4Kind::kMoe);
  bad.num_experts_used = 9;
  c = SyntheticModelConfig(bad);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("num_experts_used"), std::string::npos);
}

TEST(SyntheticModelTest, Gemma4VariantsRunOnTheCpuWithSaneLogits) {
  for (Gemma4Kind kind : {Gemma4Kind::kUnified, Gemma4Kind::kE2b, Gemma4Kind::kMoe}) {
    for (WeightMix mix : {WeightMix::kQ4_K_M, WeightMix::kF16}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(kind)) + " " + WeightMixName(mix));
      CpuBackend backend(2);
      StatusOr<std::unique_ptr<SyntheticModel>> m =
          SyntheticModel::Create(SmallGemma4(kind), {.mix = mix, .seed = 3}, backend);
      ASSERT_TRUE(m.ok()) << m.status().message();
      std::vector<int32_t> prompt(40);  // past the 16-token window
      std::iota(prompt.begin(), prompt.end(), 7);
      const std::vector<float> logits = PromptLogits(**m, backend, prompt);
      for (float x : logits) ASSERT_TRUE(std::isfinite(x));
      const Stats st = Moments(logits);
      EXPECT_GT(st.sd, 0.3);
      EXPECT_LT(st.sd, 30.0);  // the softcap bounds them anyway
    }
  }
}

// `gemma-serve synth`: the model written to disk is the model run in memory, bit for bit.
TEST(SyntheticModelTest, WrittenFileLoadsToTheSameLogits) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("synth-" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  for (const SyntheticShape& shape : {Small270m(), SmallGemma4(Gemma4Kind::kE2b),
                                      SmallGemma4(Gemma4Kind::kMoe)}) {
    SCOPED_TRACE(shape.architecture);
    CpuBackend backend(2);
    StatusOr<std::unique_ptr<SyntheticModel>> m = SyntheticModel::Create(shape, {.seed = 6}, backend);
    ASSERT_TRUE(m.ok()) << m.status().message();
    ASSERT_TRUE(WriteGguf((*m)->file(), path).ok());
    StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status().message();
    EXPECT_EQ((*file)->GetString("tokenizer.ggml.model"), "none");
    StatusOr<std::unique_ptr<Model>> loaded = LoadModel(**file, backend);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ((*loaded)->config().num_vocab, shape.num_vocab);
    const std::vector<float> a = PromptLogits(**m, backend, kPrompt);
    const std::vector<float> b = PromptLogits(**loaded, backend, kPrompt);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  }
  std::filesystem::remove(path);
}


// tokenizer.ggml.suppress_tokens (Gemma 4 Unified's media end markers): never sampled, greedy
// or not, however likely the model makes them.
TEST(SyntheticModelTest, SuppressedTokensAreNeverSampled) {
  auto generate = [](const SyntheticShape& shape, float temperature) {
    CpuBackend backend(2);
    StatusOr<std::unique_ptr<SyntheticModel>> m = SyntheticModel::Create(shape, {.seed = 8}, backend);
    EXPECT_TRUE(m.ok()) << m.status().message();
    EngineOptions options;
    options.kv_cache_bytes = int64_t{32} << 20;
    options.max_num_seqs = 1;
    StatusOr<std::unique_ptr<Engine>> engine = Engine::Create((*m)->model(), backend, options);
    EXPECT_TRUE(engine.ok());
    EngineRequest r;
    r.prompt = kPrompt;
    r.max_new_tokens = 24;
    r.sampling.temperature = temperature;
    r.sampling.seed = 5;
    std::vector<int32_t> ids;
    for (const SampledToken& t : RunRequest(**engine, std::move(r)).tokens) ids.push_back(t.id);
    return ids;
  };
  SyntheticShape shape = SmallGemma4(Gemma4Kind::kUnified);
  for (float temperature : {0.0f, 1.0f}) {
    SCOPED_TRACE(temperature);
    const std::vector<int32_t> free_ids = generate(shape, temperature);
    ASSERT_EQ(free_ids.size(), 24u);
    // Suppress every token the free run produced: none of them may come back.
    shape.suppress_tokens = free_ids;
    const std::vector<int32_t> ids = generate(shape, temperature);
    ASSERT_EQ(ids.size(), 24u);
    for (int32_t id : ids) {
      EXPECT_EQ(std::count(free_ids.begin(), free_ids.end(), id), 0) << "token " << id;
    }
    shape.suppress_tokens.clear();
  }
}

}  // namespace
}  // namespace gs
