// The CUDA backend against the CPU backend (the oracle) on a whole forward pass: the default
// model's shapes with random weights in the q4_k_m mix (engine/model/synthetic_model.h), the same
// ragged batches on both: three sequences whose prompts (1, 97 and 600 tokens, the last past the
// 512-token window, so sliding groups release blocks) arrive in chunks, mixed with the decode steps
// of sequences whose prompts are done, 8 decode steps each. Every logits row is compared.
#include "engine/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/kv/kv_plan.h"
#include "engine/kv/kv_pool.h"
#include "engine/model/synthetic_model.h"
#include "engine/run_request.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/unit/engine_run.h"
#include "tests/unit/gemma3_270m_shape.h"

namespace gs {
namespace {

// The step-by-step batches, built once with the pool's bookkeeping as the engine builds them
// (reserve, release what left the window, block tables in CSR form, a slot per new token), so
// that both backends run exactly the same steps.
std::vector<Batch> BuildSteps(const ModelConfig& config, const KvPlan& plan,
                              const std::vector<int32_t>& prompt_lens = {1, 97, 600},
                              int32_t num_decode_steps = 8) {
  constexpr int32_t kChunk = 64;
  const int32_t num_seqs = static_cast<int32_t>(prompt_lens.size());
  KvPool pool(plan.pool);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> random_token(0, config.num_vocab - 1);
  std::vector<int32_t> seq_ids(num_seqs), seq_lens(num_seqs, 0), num_decoded(num_seqs, 0);
  for (int32_t s = 0; s < num_seqs; ++s) seq_ids[s] = pool.AddSequence();

  std::vector<Batch> steps;
  while (true) {
    // Sequences with work this step, and how many tokens each adds.
    std::vector<std::pair<int32_t, int32_t>> work;  // (sequence, num new tokens)
    for (int32_t s = 0; s < num_seqs; ++s) {
      if (seq_lens[s] < prompt_lens[s]) {
        work.push_back({s, std::min(kChunk, prompt_lens[s] - seq_lens[s])});
      } else if (num_decoded[s] < num_decode_steps) {
        work.push_back({s, 1});
      }
    }
    if (work.empty()) break;
    Batch b;
    b.kv_groups.resize(pool.num_groups());
    b.query_start.push_back(0);
    for (KvGroupBatch& kg : b.kv_groups) kg.block_indptr.push_back(0);
    for (const auto& [s, n] : work) {
      const int32_t start = seq_lens[s];
      pool.ReleaseOutsideWindow(seq_ids[s], start);
      EXPECT_TRUE(pool.Reserve(seq_ids[s], start + n));
      for (int32_t i = 0; i < n; ++i) {
        b.token_ids.push_back(start == 0 && i == 0 ? 2 : random_token(rng));
        b.positions.push_back(start + i);
      }
      b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
      b.seq_lens.push_back(start + n);
      b.logits_rows.push_back(static_cast<int32_t>(b.token_ids.size()) - 1);
      for (int32_t g = 0; g < pool.num_groups(); ++g) {
        KvGroupBatch& kg = b.kv_groups[g];
        const std::vector<int32_t>& table = pool.Table(seq_ids[s], g);
        kg.block_ids.insert(kg.block_ids.end(), table.begin(), table.end());
        kg.block_indptr.push_back(static_cast<int32_t>(kg.block_ids.size()));
        for (int32_t i = 0; i < n; ++i)
          kg.slot_mapping.push_back(pool.Slot(seq_ids[s], g, start + i));
      }
      if (start >= prompt_lens[s]) ++num_decoded[s];
      seq_lens[s] = start + n;
    }
    steps.push_back(std::move(b));
  }
  EXPECT_TRUE(pool.CheckInvariants().ok());
  return steps;
}

// A pool that holds BuildSteps' sequences whole.
KvBudget StepsBudget(int32_t num_seqs = 3) {
  KvBudget budget;
  budget.kv_cache_bytes = int64_t{64} << 20;
  budget.block_size = 16;
  budget.max_batch_tokens = num_seqs * 64;
  budget.max_seqs = num_seqs;
  return budget;
}

// Logits of every step's rows, concatenated: [rows, num_vocab].
std::vector<float> RunSteps(const SyntheticModel& m, Backend& backend, const KvPlan& plan,
                            const std::vector<Batch>& steps) {
  EXPECT_TRUE(backend.AllocateKv(plan.layout).ok());
  const int64_t num_vocab = m.config().num_vocab;
  std::vector<float> all, logits;
  for (const Batch& b : steps) {
    logits.assign(b.logits_rows.size() * num_vocab, 0.0f);
    m.model().Forward(b, backend, logits.data());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

// The same synthetic model on the CPU (the oracle) and the GPU, BuildSteps' ragged steps over
// sequences of prompt_lens on both; every logits row within 3e-2 relative error and 95% of the
// rows agreeing on the argmax. num_rows_want: the rows the steps must give (-1: any).
void ExpectGpuMatchesCpu(const SyntheticShape& shape, uint64_t seed,
                         const std::vector<int32_t>& prompt_lens, int64_t num_rows_want) {
  const SyntheticOptions options{.mix = WeightMix::kQ4_K_M, .seed = seed};
  CpuBackend cpu(0);
  StatusOr<std::unique_ptr<SyntheticModel>> cpu_model = SyntheticModel::Create(shape, options, cpu);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.status().message();
  StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend({});
  ASSERT_TRUE(cuda.ok()) << cuda.status().message();
  StatusOr<std::unique_ptr<SyntheticModel>> cuda_model =
      SyntheticModel::Create(shape, options, **cuda);
  ASSERT_TRUE(cuda_model.ok()) << cuda_model.status().message();

  const ModelConfig& config = (*cpu_model)->config();
  StatusOr<KvPlan> plan = PlanKv(config, StepsBudget());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const std::vector<Batch> steps = BuildSteps(config, *plan, prompt_lens);
  ASSERT_FALSE(testing::Test::HasFailure());

  const std::vector<float> want = RunSteps(**cpu_model, cpu, *plan, steps);
  const std::vector<float> got = RunSteps(**cuda_model, **cuda, *plan, steps);
  ASSERT_EQ(want.size(), got.size());
  const int64_t num_vocab = config.num_vocab;
  const int64_t num_rows = static_cast<int64_t>(want.size()) / num_vocab;
  if (num_rows_want >= 0) {
    ASSERT_EQ(num_rows, num_rows_want);
  }
  int64_t num_same_argmax = 0;
  double worst = 0;
  for (int64_t r = 0; r < num_rows; ++r) {
    const std::vector<float> w(want.begin() + r * num_vocab, want.begin() + (r + 1) * num_vocab);
    const std::vector<float> g(got.begin() + r * num_vocab, got.begin() + (r + 1) * num_vocab);
    const double err = cuda_test::RelError(g, w);
    worst = std::max(worst, err);
    EXPECT_LT(err, 3e-2) << "logits row " << r;
    num_same_argmax += std::max_element(w.begin(), w.end()) - w.begin() ==
                       std::max_element(g.begin(), g.end()) - g.begin();
  }
  EXPECT_GE(num_same_argmax, static_cast<int64_t>(std::ceil(0.95 * num_rows)))
      << num_same_argmax << " of " << num_rows << " rows agree on the argmax";
  std::printf("%s, cuda vs cpu: %lld rows, worst relative error %.3g, argmax agrees on %lld\n",
              shape.name.c_str(), static_cast<long long>(num_rows), worst,
              static_cast<long long>(num_same_argmax));
}

TEST(CudaBackendTest, FullForwardMatchesTheCpuOnRaggedBatches) {
  GS_REQUIRE_CUDA_DEVICE();
  ExpectGpuMatchesCpu(Gemma3_270mShape(), 1, {1, 97, 600}, (1 + 8) + (2 + 8) + (10 + 8));
}

// Gemma 4 on the GPU against the CPU, a whole forward pass over the same ragged steps: small
// stacks with the real head dims (256 sliding, 512 global), one per variant: K=V global layers
// with proportional RoPE (12B Unified, 31B), per-layer embeddings with KV sharing and
// double-wide MLPs (E2B/E4B), and experts beside the dense MLP (26B-A4B).
SyntheticShape SmallGemma4Shape(int variant_idx) {
  SyntheticShape s;
  s.architecture = "gemma4";
  s.name = "gemma4-cuda-test-" + std::to_string(variant_idx);
  s.num_layers = 6;
  s.hidden = 512;
  s.ffn_hidden = 1024;
  s.num_heads = 4;
  s.num_kv_heads = 2;
  s.head_dim = 256;
  s.head_dim_global = 512;
  s.rotary_fraction_global = 0.25f;
  s.num_vocab = 8192;
  s.context_length = 4096;
  s.sliding_window = 64;
  s.final_softcap = 30;
  if (variant_idx == 0) {  // 12B Unified-like
    s.num_kv_heads_global = 1;
    s.k_eq_v_global = true;
  } else if (variant_idx == 1) {  // E2B-like: layers 5-7 read the KV of layers 2 and 4
    s.num_layers = 8;
    s.sliding_window_period = 3;
    s.ple_dim = 256;
    s.num_kv_shared_layers = 3;
    s.double_wide_mlp = true;
  } else {  // 26B-A4B-like
    s.num_kv_heads_global = 1;
    s.k_eq_v_global = true;
    s.num_experts = 8;
    s.num_experts_used = 2;
    s.expert_ffn_hidden = 256;
  }
  return s;
}

TEST(CudaBackendTest, Gemma4FullForwardMatchesTheCpu) {
  GS_REQUIRE_CUDA_DEVICE();
  for (int variant_idx = 0; variant_idx < 3; ++variant_idx) {
    SCOPED_TRACE(variant_idx);
    ExpectGpuMatchesCpu(SmallGemma4Shape(variant_idx), 2, {1, 97, 300}, -1);
  }
}

// Runs steps on two CUDA backends, without and with graphs; returns the graph backend's counts.
CudaGraphCounts CompareGraphsWithEager(const std::vector<int32_t>& prompt_lens,
                                       int32_t num_decode_steps) {
  const SyntheticShape shape = Gemma3_270mShape();
  const SyntheticOptions options{.mix = WeightMix::kQ4_K_M, .seed = 3};
  StatusOr<std::unique_ptr<Backend>> eager = CreateCudaBackend({.cuda_graphs = false});
  StatusOr<std::unique_ptr<Backend>> graphs = CreateCudaBackend({.cuda_graphs = true});
  EXPECT_TRUE(eager.ok() && graphs.ok());
  if (!eager.ok() || !graphs.ok()) return {};
  StatusOr<std::unique_ptr<SyntheticModel>> eager_model =
      SyntheticModel::Create(shape, options, **eager);
  StatusOr<std::unique_ptr<SyntheticModel>> graph_model =
      SyntheticModel::Create(shape, options, **graphs);
  EXPECT_TRUE(eager_model.ok() && graph_model.ok());
  if (!eager_model.ok() || !graph_model.ok()) return {};
  const ModelConfig& config = (*eager_model)->config();
  StatusOr<KvPlan> plan = PlanKv(config, StepsBudget(static_cast<int32_t>(prompt_lens.size())));
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  if (!plan.ok()) return {};
  const std::vector<Batch> steps = BuildSteps(config, *plan, prompt_lens, num_decode_steps);
  const std::vector<float> want = RunSteps(**eager_model, **eager, *plan, steps);
  const std::vector<float> got = RunSteps(**graph_model, **graphs, *plan, steps);
  EXPECT_EQ(want.size(), got.size());
  const int64_t num_vocab = config.num_vocab;
  for (int64_t r = 0; r < static_cast<int64_t>(std::min(want.size(), got.size())) / num_vocab;
       ++r) {
    const std::vector<float> w(want.begin() + r * num_vocab, want.begin() + (r + 1) * num_vocab);
    const std::vector<float> g(got.begin() + r * num_vocab, got.begin() + (r + 1) * num_vocab);
    EXPECT_LT(cuda_test::RelError(g, w), 1e-3) << "logits row " << r;
  }
  EXPECT_EQ(GetCudaGraphCounts(**eager).captures, 0);
  return GetCudaGraphCounts(**graphs);
}

TEST(CudaBackendTest, GraphReplayGivesTheEagerLogits) {
  GS_REQUIRE_CUDA_DEVICE();
  // The steps end with the 600-token sequence decoding alone for 8 steps (one key: 1 row, 64
  // blocks in each group): the first runs eagerly, the second is captured, six replay. Replays
  // must compute what eager launches compute (only the decode split count differs).
  const CudaGraphCounts one_row = CompareGraphsWithEager({1, 97, 600}, 8);
  EXPECT_EQ(one_row.captures, 1);
  EXPECT_EQ(one_row.replays, 6);
}

TEST(CudaBackendTest, GraphReplayOfBatchesOverEightRows) {
  GS_REQUIRE_CUDA_DEVICE();
  // Ten sequences (40..49 prompt tokens, 3..4 blocks: one key) prefill together, then decode
  // together for five steps: more than eight rows take the bf16 GEMM path, cuBLASLt included,
  // inside the graph.
  std::vector<int32_t> prompt_lens;
  for (int32_t i = 0; i < 10; ++i) prompt_lens.push_back(40 + i);
  const CudaGraphCounts ten_rows = CompareGraphsWithEager(prompt_lens, 5);
  EXPECT_EQ(ten_rows.captures, 1);
  EXPECT_EQ(ten_rows.replays, 3);
}

// Requests through the Engine: on the CUDA backend the engine samples on the device (only the
// picks come back) and decode steps replay graphs.
std::vector<std::vector<SampledToken>> RunEngine(Backend& backend, uint64_t weight_seed) {
  StatusOr<std::unique_ptr<SyntheticModel>> m = SyntheticModel::Create(
      Gemma3_270mShape(), {.mix = WeightMix::kQ4_K_M, .seed = weight_seed}, backend);
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return {};
  EngineOptions options;
  options.kv_cache_bytes = int64_t{64} << 20;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create((*m)->model(), backend, options);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  if (!engine.ok()) return {};
  (*engine)->Start();
  std::mt19937 rng(5);
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 12; ++i) {
    EngineRequest r;
    r.prompt.resize(5 + rng() % 60);
    for (int32_t& id : r.prompt) id = static_cast<int32_t>(rng() % 262144);
    r.max_new_tokens = 10;
    r.sampling.temperature = i % 3 == 0 ? 0.0f : 0.9f;
    r.sampling.top_k = i % 3 == 1 ? 40 : 0;
    r.sampling.top_p = i % 3 == 2 ? 0.9f : 1.0f;
    r.sampling.seed = static_cast<uint64_t>(i);
    if (i == 4) r.sampling.repetition_penalty = 1.2f;
    if (i == 5) r.sampling.logit_bias = {{17, 3.0f}};
    r.want_logprobs = i % 2 == 0;
    r.num_top_logprobs = r.want_logprobs ? 5 : 0;
    requests.push_back(std::move(r));
  }
  std::vector<std::vector<SampledToken>> out = SubmitAndCollect(**engine, std::move(requests));
  (*engine)->Stop();
  return out;
}

TEST(CudaBackendTest, EngineSamplesOnTheDevice) {
  GS_REQUIRE_CUDA_DEVICE();
  StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend({});
  ASSERT_TRUE(cuda.ok()) << cuda.status().message();
  ASSERT_TRUE((*cuda)->SamplesOnDevice());
  CpuBackend cpu(0);
  const auto got = RunEngine(**cuda, 7);
  const auto want = RunEngine(cpu, 7);
  ASSERT_EQ(got.size(), 12u);
  int num_same_first = 0, num_greedy = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), 10u) << "request " << i;
    for (const SampledToken& t : got[i]) {
      ASSERT_GE(t.id, 0);
      ASSERT_LT(t.id, 262144);
      if (i % 2 == 0) {
        EXPECT_LE(t.logprob, 0.0f);
        ASSERT_EQ(t.top.size(), 5u);
        for (size_t k = 1; k < t.top.size(); ++k) EXPECT_GE(t.top[k - 1].logprob, t.top[k].logprob);
        EXPECT_LE(t.logprob, t.top[0].logprob + 1e-4f);
      } else {
        EXPECT_TRUE(t.top.empty());
      }
    }
    if (i % 3 == 0) {  // greedy: the first pick comes from the prompt's logits alone
      ++num_greedy;
      num_same_first += got[i][0].id == want[i][0].id;
    }
  }
  // Logits agree with the CPU's to ~1e-2 relative; a near-tie may still flip one pick.
  EXPECT_GE(num_same_first, num_greedy - 1);
  EXPECT_GT(GetCudaGraphCounts(**cuda).replays, 0);
}

template <typename T>
std::vector<T> ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

// An independent reference on the GPU: transformers' logits for the tiny head-dim-256 model
// (tests/fixtures/make_tiny_gemma3.py --d256; window 8 over 40 tokens, so the sliding group
// releases blocks), token by token (decode attention, graph replays when on) and in chunks of 7
// (prefill tiles). The CPU meets the same logits within 2.5e-3 (hf_oracle_test); the GPU's bf16
// K/V and tensor-core softmax weights add a few 1e-3.
TEST(CudaBackendTest, TinyModelMatchesTransformers) {
  GS_REQUIRE_CUDA_DEVICE();
  const std::string dir = GS_FIXTURE_DIR;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(dir + "/tiny_gemma3_d256.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  const std::vector<int32_t> ids = ReadRaw<int32_t>(dir + "/tiny_gemma3_d256.ids.i32");
  const std::vector<float> want = ReadRaw<float>(dir + "/tiny_gemma3_d256.logits.f32");
  ASSERT_EQ(ids.size(), 40u);
  for (bool graphs : {false, true}) {
    StatusOr<std::unique_ptr<Backend>> backend = CreateCudaBackend({.cuda_graphs = graphs});
    ASSERT_TRUE(backend.ok()) << backend.status().message();
    StatusOr<std::unique_ptr<Model>> model = LoadModel(**file, **backend);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const int32_t num_vocab = (*model)->config().num_vocab;
    ASSERT_EQ(want.size(), ids.size() * num_vocab);
    // The engine `serve` runs, with the logits of every prompt position, in steps of `chunk`.
    auto prompt_logits = [&](int32_t chunk) {
      EngineOptions options;
      options.max_num_seqs = 1;
      options.max_num_batched_tokens = chunk;
      StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, **backend, options);
      EXPECT_TRUE(engine.ok()) << engine.status().message();
      std::vector<float> logits;
      if (!engine.ok()) return logits;
      EngineRequest r;
      r.prompt = ids;
      r.logits_sink = [&](int64_t, std::span<const float> row) {
        logits.insert(logits.end(), row.begin(), row.end());
      };
      r.prompt_logits = true;
      const RequestResult result = RunRequest(**engine, std::move(r));
      EXPECT_NE(result.finish, FinishReason::kError) << result.error;
      EXPECT_EQ(logits.size(), want.size());
      logits.resize(want.size());
      return logits;
    };
    double max_err = 0;
    auto check_row = [&](const std::vector<float>& logits, size_t t, const char* how) {
      for (int32_t v = 0; v < num_vocab; ++v) {
        const double err = std::fabs(logits[t * num_vocab + v] - want[t * num_vocab + v]);
        max_err = std::max(max_err, err);
        ASSERT_LE(err, 3e-2) << how << ", position " << t << ", token " << v;
      }
    };
    const std::vector<float> one_by_one = prompt_logits(1);
    for (size_t t = 0; t < ids.size(); ++t) check_row(one_by_one, t, "one token a step");
    const std::vector<float> chunked = prompt_logits(7);
    for (size_t begin = 0; begin < ids.size(); begin += 7) {
      const size_t n = std::min<size_t>(7, ids.size() - begin);
      check_row(chunked, begin + n - 1, "chunks of 7");
    }
    std::printf("graphs %d: max logit error against transformers %.3g\n", graphs, max_err);
    if (graphs) {
      EXPECT_GT(GetCudaGraphCounts(**backend).replays, 0);
    }
  }
}

TEST(CudaBackendTest, AMissingDeviceIsAnError) {
  GS_REQUIRE_CUDA_DEVICE();
  EXPECT_TRUE(DescribeCudaDevice(0).ok());
  EXPECT_FALSE(DescribeCudaDevice(999).ok());
  StatusOr<std::unique_ptr<Backend>> b = CreateCudaBackend({.device_idx = 999});
  ASSERT_FALSE(b.ok());
  EXPECT_FALSE(b.status().message().empty());
}

}  // namespace
}  // namespace gs
