// The Gemma 4 forward pass against Hugging Face transformers on tiny random models written by
// llama.cpp's own converter (tests/fixtures/make_tiny_gemma4.py): a 12B-Unified-like dense stack
// with K=V global layers, an E2B-like one with per-layer embeddings, KV sharing and double-wide
// FFNs, and a 26B-A4B-like one with a mixture of experts. Every weight is perturbed from its init
// value, so a missing norm weight, scale or +1 shows. F32 weights and an f32 KV cache: the engine
// computes in f32 as the reference does, so the bound is tight (1e-4 of the logit range).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/kv/kv_plan.h"
#include "engine/model/model.h"
#include "engine/run_request.h"
#include "tests/unit/engine_run.h"

namespace gs {
namespace {

// The bound: 1e-4 of the logit range. transformers' own f32 arithmetic moves these logits
// by up to 3.4e-4 (a float64 forward of the same weights differs from it by that much), about
// 1e-5 of their range of ~36.
constexpr double kRelTolerance = 1e-4;

struct Fixture {
  std::unique_ptr<GgufFile> file;
  nlohmann::json golden;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<float> logits;  // [sum of prompt lengths, num_vocab], prompts in order
  double range = 0;           // max - min over every logit
};

Fixture LoadFixture(const std::string& name) {
  const std::string dir = GS_FIXTURE_DIR;
  Fixture f;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(dir + "/" + name + ".gguf");
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return f;
  f.file = std::move(file).value();
  f.golden = nlohmann::json::parse(std::ifstream(dir + "/" + name + "_logits.json"));
  f.prompts = f.golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  const std::vector<int64_t> shape = f.golden["logits_shape"];
  f.logits.resize(shape[0] * shape[1]);
  std::ifstream in(dir + "/" + f.golden["logits_file"].get<std::string>(), std::ios::binary);
  in.read(reinterpret_cast<char*>(f.logits.data()), sizeof(float) * f.logits.size());
  EXPECT_TRUE(in.good()) << "short logits file for " << name;
  const auto [lo, hi] = std::minmax_element(f.logits.begin(), f.logits.end());
  f.range = *hi - *lo;
  return f;
}

// Max |got - want| over rows of num_vocab values.
double MaxError(const float* got, const float* want, int64_t n) {
  double err = 0;
  for (int64_t i = 0; i < n; ++i) err = std::max(err, std::fabs(double{got[i]} - want[i]));
  return err;
}

// Every prompt prefilled in one step, as one ragged batch of all of them, logits at every row.
// Blocks are handed out in order, the same for every group.
std::vector<float> RunMixedBatch(const Model& model, Backend& backend,
                                 const std::vector<std::vector<int32_t>>& prompts) {
  const ModelConfig& c = model.config();
  KvBudget budget;
  budget.kv_cache_bytes = int64_t{64} << 20;
  budget.max_batch_tokens = 256;
  budget.max_seqs = static_cast<int32_t>(prompts.size());
  budget.slot_bytes = BackendSlotBytes(backend);
  StatusOr<KvPlan> plan = PlanKv(c, budget);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_TRUE(backend.AllocateKv(plan->layout).ok());
  const int32_t block_size = plan->layout.block_size;
  Batch batch;
  batch.kv_groups.resize(c.kv_groups.size());
  for (KvGroupBatch& g : batch.kv_groups) g.block_indptr = {0};
  batch.query_start = {0};
  int32_t next_block = 0;
  for (const std::vector<int32_t>& p : prompts) {
    const int32_t len = static_cast<int32_t>(p.size());
    const int32_t num_blocks = (len + block_size - 1) / block_size;
    for (int32_t t = 0; t < len; ++t) {
      batch.logits_rows.push_back(static_cast<int32_t>(batch.token_ids.size()));
      batch.token_ids.push_back(p[t]);
      batch.positions.push_back(t);
      for (KvGroupBatch& g : batch.kv_groups) {
        g.slot_mapping.push_back(int64_t{next_block + t / block_size} * block_size + t % block_size);
      }
    }
    for (KvGroupBatch& g : batch.kv_groups) {
      for (int32_t b = 0; b < num_blocks; ++b) g.block_ids.push_back(next_block + b);
      g.block_indptr.push_back(static_cast<int32_t>(g.block_ids.size()));
    }
    next_block += num_blocks;
    batch.query_start.push_back(static_cast<int32_t>(batch.token_ids.size()));
    batch.seq_lens.push_back(len);
  }
  std::vector<float> logits(batch.logits_rows.size() * c.num_vocab);
  model.Forward(batch, backend, logits.data());
  return logits;
}

class Gemma4OracleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(Gemma4OracleTest, PrefillInOneMixedBatchMatchesTransformers) {
  const Fixture f = LoadFixture(GetParam());
  ASSERT_TRUE(f.file);
  CpuBackend backend(2, cpu::KvCacheType::kF32);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*f.file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  ASSERT_EQ(f.prompts.size(), 8u);
  const std::vector<float> got = RunMixedBatch(**model, backend, f.prompts);
  ASSERT_EQ(got.size(), f.logits.size());
  double max_err = 0;
  for (size_t r = 0; r < got.size() / num_vocab; ++r) {
    const double err = MaxError(&got[r * num_vocab], &f.logits[r * num_vocab], num_vocab);
    EXPECT_LE(err, kRelTolerance * f.range) << "row " << r;
    max_err = std::max(max_err, err);
  }
  std::cerr << GetParam() << ": mixed batch of 8, max logit error " << max_err << " (range "
            << f.range << ")\n";
}

// One token per step, each sequence alone: decode steps read the cache the earlier ones wrote.
TEST_P(Gemma4OracleTest, StepByStepDecodeMatchesTransformers) {
  const Fixture f = LoadFixture(GetParam());
  ASSERT_TRUE(f.file);
  CpuBackend backend(2, cpu::KvCacheType::kF32);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*f.file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  EngineOptions options;
  options.max_num_seqs = 1;
  options.max_num_batched_tokens = 1;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  size_t row = 0;
  double max_err = 0;
  for (const std::vector<int32_t>& prompt : f.prompts) {
    std::vector<float> logits;
    EngineRequest r;
    r.prompt = prompt;
    r.logits_sink = [&](int64_t, std::span<const float> l) {
      logits.insert(logits.end(), l.begin(), l.end());
    };
    r.prompt_logits = true;
    const RequestResult result = RunRequest(**engine, std::move(r));
    ASSERT_NE(result.finish, FinishReason::kError) << result.error;
    ASSERT_EQ(logits.size(), prompt.size() * num_vocab);
    for (size_t t = 0; t < prompt.size(); ++t, ++row) {
      const double err = MaxError(&logits[t * num_vocab], &f.logits[row * num_vocab], num_vocab);
      ASSERT_LE(err, kRelTolerance * f.range)
          << "prompt of " << prompt.size() << ", position " << t;
      max_err = std::max(max_err, err);
    }
  }
  std::cerr << GetParam() << ": one token per step, max logit error " << max_err << "\n";
}

// Greedy continuations through the Engine (what serve runs), two requests at once.
TEST_P(Gemma4OracleTest, GreedyContinuationsAreTransformers) {
  const Fixture f = LoadFixture(GetParam());
  ASSERT_TRUE(f.file);
  CpuBackend backend(2, cpu::KvCacheType::kF32);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*f.file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EngineOptions options;
  options.kv_cache_bytes = int64_t{32} << 20;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  (*engine)->Start();
  std::vector<EngineRequest> requests;
  std::vector<std::vector<int32_t>> want;
  for (const nlohmann::json& g : f.golden["greedy"]) {
    EngineRequest r;
    r.prompt = f.prompts[g["prompt"].get<size_t>()];
    want.push_back(g["tokens"].get<std::vector<int32_t>>());
    r.max_new_tokens = static_cast<int64_t>(want.back().size());
    r.sampling.temperature = 0;
    requests.push_back(std::move(r));
  }
  const std::vector<std::vector<SampledToken>> got = SubmitAndCollect(**engine, std::move(requests));
  (*engine)->Stop();
  for (size_t i = 0; i < want.size(); ++i) {
    std::vector<int32_t> ids;
    for (const SampledToken& t : got[i]) ids.push_back(t.id);
    EXPECT_EQ(ids, want[i]) << "continuation " << i;
  }
}

// The default f16 KV cache (and llama.cpp's f16 rounding of q and the softmax weights) costs
// accuracy on these deliberately sensitive models: 0.41-0.70 here, where llama.cpp with its
// default f16 cache is 0.46-0.66 from transformers on the same files (0.08-0.16 with an f32
// cache). Bounded so that a regression shows.
TEST_P(Gemma4OracleTest, F16CacheStaysClose) {
  const Fixture f = LoadFixture(GetParam());
  ASSERT_TRUE(f.file);
  CpuBackend backend(2);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*f.file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  const std::vector<float> got = RunMixedBatch(**model, backend, f.prompts);
  double max_err = 0;
  for (size_t r = 0; r < got.size() / num_vocab; ++r) {
    max_err = std::max(max_err, MaxError(&got[r * num_vocab], &f.logits[r * num_vocab], num_vocab));
  }
  std::cerr << GetParam() << ": f16 KV cache, max logit error " << max_err << "\n";
  EXPECT_LE(max_err, 2.5e-2 * f.range);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gemma4OracleTest,
                         ::testing::Values("tiny_gemma4_unified", "tiny_gemma4_e2b",
                                           "tiny_gemma4_moe"));

// What each fixture's metadata must turn into.
TEST(Gemma4ConfigTest, PerLayerDescriptionsFromMetadata) {
  const Fixture unified = LoadFixture("tiny_gemma4_unified");
  ASSERT_TRUE(unified.file);
  StatusOr<ModelConfig> c = ModelConfig::FromGguf(*unified.file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->attn_scale, 1.0f);
  EXPECT_TRUE(c->v_norm);
  EXPECT_EQ(c->final_softcap, 30.0f);
  for (int32_t i = 0; i < c->num_layers; ++i) {
    const LayerConfig& l = c->layers[i];
    const bool global = i == 2 || i == 5;
    EXPECT_EQ(l.kind, global ? AttentionKind::kGlobal : AttentionKind::kSliding) << i;
    EXPECT_EQ(l.head_dim, global ? 64 : 32) << i;
    EXPECT_EQ(l.num_kv_heads, global ? 1 : 2) << i;
    EXPECT_EQ(l.k_eq_v, global) << i;
    EXPECT_EQ(l.rope.uses_freq_factors, global) << i;
    EXPECT_EQ(l.rope.base, global ? 1e6f : 1e4f) << i;
    EXPECT_EQ(l.kv_layer, i);
  }
  ASSERT_EQ(c->kv_groups.size(), 2u);

  const Fixture e2b = LoadFixture("tiny_gemma4_e2b");
  ASSERT_TRUE(e2b.file);
  c = ModelConfig::FromGguf(*e2b.file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->ple_dim, 16);
  const int32_t kv_layer[] = {0, 1, 2, 3, 2, 3};
  const int32_t ffn[] = {192, 192, 192, 192, 384, 384};
  for (int32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(c->layers[i].kv_layer, kv_layer[i]) << i;
    EXPECT_EQ(c->layers[i].ffn_hidden, ffn[i]) << i;
  }
  // Only the four layers that store K/V have caches.
  size_t num_cached = 0;
  for (const KvGroupConfig& g : c->kv_groups) num_cached += g.layers.size();
  EXPECT_EQ(num_cached, 4u);

  const Fixture moe = LoadFixture("tiny_gemma4_moe");
  ASSERT_TRUE(moe.file);
  c = ModelConfig::FromGguf(*moe.file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->num_experts, 8);
  EXPECT_EQ(c->num_experts_used, 2);
  EXPECT_EQ(c->expert_ffn_hidden, 48);
  for (const LayerConfig& l : c->layers) EXPECT_TRUE(l.has_moe);
}

// A token costs each group what its layers store: K=V halves nothing (V is still cached), KV
// sharing stores nothing for the sharing layers, and the head shapes differ per group.
TEST(Gemma4ConfigTest, KvGroupTokenBytesFollowEachGroupsShape) {
  const Fixture e2b = LoadFixture("tiny_gemma4_e2b");
  ASSERT_TRUE(e2b.file);
  StatusOr<ModelConfig> c = ModelConfig::FromGguf(*e2b.file);
  ASSERT_TRUE(c.ok());
  const std::vector<int64_t> bytes = KvGroupTokenBytes(*c, KvSlotBytesF16);
  ASSERT_EQ(bytes.size(), 2u);
  for (size_t g = 0; g < 2; ++g) {
    const KvGroupConfig& group = c->kv_groups[g];
    EXPECT_EQ(group.layers.size(), 2u);
    EXPECT_EQ(bytes[g], int64_t{2} * 2 * group.num_kv_heads * group.head_dim * 2);
  }
}

}  // namespace
}  // namespace gs
