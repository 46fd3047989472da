// The engine's device-sampling path (backends whose SamplesOnDevice() is true), run on the CPU:
// a backend that forwards every op to CpuBackend and samples with ref::SampleRow, the twin of
// the CUDA sampler. Greedy (with and without penalties and bias) must pick what host sampling
// picks; seeded sampling must not depend on the batch; logprobs come through.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/matcher.h"
#include "engine/grammar/token_trie.h"
#include "kernels/ref/sampling_ref.h"
#include "tests/unit/engine_run.h"

namespace gs {
namespace {

class RefSamplingBackend final : public Backend {
 public:
  const char* name() const override { return "ref-sampling"; }
  std::string Describe() const override { return "cpu with the reference device sampler"; }
  StatusOr<Weight> LoadWeight(const GgufTensorInfo& t) override { return cpu_.LoadWeight(t); }
  int64_t FreeMemoryBytes() const override { return cpu_.FreeMemoryBytes(); }
  Status AllocateKv(const KvLayout& layout) override { return cpu_.AllocateKv(layout); }
  Act Alloc(int64_t num_rows, int64_t num_cols) override { return cpu_.Alloc(num_rows, num_cols); }
  void ResetArena() override { cpu_.ResetArena(); }
  void Embed(const Batch& b, const Weight& t, float s, Act out, bool overrides) override {
    cpu_.Embed(b, t, s, out, overrides);
  }
  using Backend::RmsNorm;
  void RmsNorm(Act x, const Weight* w, float eps, Act out) override {
    cpu_.RmsNorm(x, w, eps, out);
  }
  void NormAdd(Act x, const Weight& w, float eps, Act r) override { cpu_.NormAdd(x, w, eps, r); }
  void MatMuls(Act x, std::initializer_list<MatMulTarget> t) override { cpu_.MatMuls(x, t); }
  void HeadNormRope(const Batch& b, Act x, const HeadNormRopeSpec& spec) override {
    cpu_.HeadNormRope(b, x, spec);
  }
  void StoreKv(const Batch& b, int32_t l, int32_t g, Act k, Act v) override {
    cpu_.StoreKv(b, l, g, k, v);
  }
  void Attention(const Batch& b, int32_t l, int32_t g, Act q, const AttentionSpec& s,
                 Act out) override {
    cpu_.Attention(b, l, g, q, s, out);
  }
  void GeGlu(Act gate, Act up, int64_t offset, bool round_f16) override {
    cpu_.GeGlu(gate, up, offset, round_f16);
  }
  void Add(Act x, Act out) override { cpu_.Add(x, out); }
  void Scale(Act x, float s) override { cpu_.Scale(x, s); }
  void Copy(Act x, Act out) override { cpu_.Copy(x, out); }
  void Moe(Act x, Act logits, const MoeSpec& spec, Act out) override {
    cpu_.Moe(x, logits, spec, out);
  }
  void GatherRows(Act x, std::span<const int32_t> rows, Act out) override {
    cpu_.GatherRows(x, rows, out);
  }
  // Only requests with a logits sink read logits back.
  void ReadLogits(Act x, float softcap, float* host_out) override {
    ++num_read_calls;
    cpu_.ReadLogits(x, softcap, host_out);
  }
  Act LogitsBuffer(float* host_out, int64_t num_rows, int64_t num_cols) override {
    EXPECT_EQ(host_out, nullptr);
    return cpu_.Alloc(num_rows, num_cols);
  }
  bool SamplesOnDevice() const override { return true; }
  void SampleLogits(Act logits, float softcap, std::span<const DeviceSampleRow> rows,
                    std::span<SampleRowResult> out) override {
    ASSERT_EQ(logits.num_rows, static_cast<int64_t>(rows.size()));
    cpu_.ReadLogits(logits, softcap, logits.data);  // the softcap, in place
    for (size_t r = 0; r < rows.size(); ++r) {
      out[r] = ref::SampleRow(
          logits.data + r * logits.num_cols, static_cast<int32_t>(logits.num_cols), rows[r].params,
          rows[r].penalties.data(), static_cast<int32_t>(rows[r].penalties.size()),
          rows[r].bias.data(), static_cast<int32_t>(rows[r].bias.size()));
    }
    ++num_sample_calls;
  }

  int num_sample_calls = 0;
  int num_read_calls = 0;

 private:
  CpuBackend cpu_{2};
};

class EngineDeviceSamplingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<GgufFile>> f =
        GgufFile::Open(std::string(GS_FIXTURE_DIR) + "/tiny_gemma3.gguf");
    ASSERT_TRUE(f.ok()) << f.status().message();
    file_ = std::move(f).value();
  }

  // Runs the requests on a fresh engine over backend, all submitted at once.
  std::vector<std::vector<SampledToken>> Run(Backend& backend,
                                             const std::vector<EngineRequest>& requests) {
    StatusOr<std::unique_ptr<Model>> model = LoadModel(*file_, backend);
    EXPECT_TRUE(model.ok()) << model.status().message();
    EngineOptions options;
    options.kv_cache_bytes = 8 << 20;
    StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    (*engine)->Start();
    std::vector<std::vector<SampledToken>> out = SubmitAndCollect(**engine, requests);
    (*engine)->Stop();
    return out;
  }

  EngineRequest Request(int seed, float temperature) {
    std::mt19937 rng(seed);
    EngineRequest r;
    r.prompt.resize(3 + rng() % 20);
    for (int32_t& id : r.prompt) id = static_cast<int32_t>(rng() % 256);
    r.max_new_tokens = 12;
    r.sampling.temperature = temperature;
    r.sampling.top_k = temperature > 0 ? 40 : 0;
    r.sampling.seed = static_cast<uint64_t>(seed);
    return r;
  }

  static std::vector<int32_t> Ids(const std::vector<SampledToken>& tokens) {
    std::vector<int32_t> ids;
    for (const SampledToken& t : tokens) ids.push_back(t.id);
    return ids;
  }

  std::unique_ptr<GgufFile> file_;
};

TEST_F(EngineDeviceSamplingTest, GreedyPicksWhatHostSamplingPicks) {
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 6; ++i) {
    EngineRequest r = Request(i, 0.0f);
    if (i == 1) r.sampling.repetition_penalty = 1.3f;
    if (i == 2) {
      r.sampling.presence_penalty = 0.8f;
      r.sampling.frequency_penalty = 0.5f;
    }
    if (i == 3) r.sampling.logit_bias = {{7, 5.0f}, {9, -100.0f}};
    if (i == 4) {
      r.want_logprobs = true;
      r.num_top_logprobs = 3;
    }
    requests.push_back(r);
  }
  CpuBackend host(2);
  RefSamplingBackend device;
  const auto want = Run(host, requests);
  const auto got = Run(device, requests);
  EXPECT_GT(device.num_sample_calls, 0);
  EXPECT_EQ(device.num_read_calls, 0) << "without a logits sink the logits stay on the device";
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_EQ(want[i].size(), 12u) << i;
    EXPECT_EQ(Ids(got[i]), Ids(want[i])) << "request " << i;
  }
  // Logprobs: the device path reports the same values as the host's ComputeLogprobs.
  for (size_t t = 0; t < got[4].size(); ++t) {
    EXPECT_NEAR(got[4][t].logprob, want[4][t].logprob, 1e-4);
    ASSERT_EQ(got[4][t].top.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(got[4][t].top[k].id, want[4][t].top[k].id);
      EXPECT_NEAR(got[4][t].top[k].logprob, want[4][t].top[k].logprob, 1e-4);
    }
  }
}

// Rows under a grammar are masked and sampled on the host from logits read back; the batch's
// other rows still sample on the device. Both pick what the host backend picks.
TEST_F(EngineDeviceSamplingTest, ConstrainedRowsPickWhatHostSamplingPicks) {
  std::vector<std::string> pieces(256);
  for (int32_t id = 2; id < 256; ++id) pieces[id] = std::string(1, "0123456789,abc{}"[id % 16]);
  auto trie = std::make_shared<grammar::TokenTrie>(pieces, std::vector<int32_t>{1});
  auto g = std::make_shared<grammar::CompiledGrammar>(
      std::move(grammar::GrammarFromRegex("[0-9]{2,5}(,[0-9]{2,5})*")).value());
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 6; ++i) {
    EngineRequest r = Request(300 + i, i % 3 == 2 ? 1.0f : 0.0f);
    r.stop_ids = {1};
    if (i % 2 == 0) {
      r.grammar = g;
      r.token_trie = trie;
      r.want_logprobs = true;
    }
    requests.push_back(r);
  }
  CpuBackend host(2);
  RefSamplingBackend device;
  const auto want = Run(host, requests);
  const auto got = Run(device, requests);
  EXPECT_GT(device.num_read_calls, 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].sampling.temperature > 0 && !requests[i].grammar) continue;  // Philox
    EXPECT_EQ(Ids(got[i]), Ids(want[i])) << "request " << i;
    if (!requests[i].grammar) continue;
    grammar::Matcher m(g, trie.get());
    for (const SampledToken& t : got[i]) EXPECT_TRUE(m.Consume(t.id)) << "request " << i;
  }
}

TEST_F(EngineDeviceSamplingTest, SeededSamplingDoesNotDependOnTheBatch) {
  std::vector<EngineRequest> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(Request(100 + i, 1.0f));
  RefSamplingBackend together_backend, alone_backend;
  const auto together = Run(together_backend, batch);
  for (int i = 0; i < 5; ++i) {
    RefSamplingBackend backend;
    const auto alone = Run(backend, {batch[i]});
    EXPECT_EQ(Ids(alone[0]), Ids(together[i])) << "request " << i;
  }
  // Different seeds give different streams (12 tokens over a 256-token vocabulary).
  EXPECT_NE(Ids(together[0]), Ids(together[1]));
}

// Logits sinks on the device path get what the host path gives them: the same positions and
// rows, the final softcap applied (given to the model here, as Gemma 2 and 4 have one), while the
// rows that sample still pick what they pick on the host, penalties included.
TEST_F(EngineDeviceSamplingTest, LogitsSinksGetTheHostPathsRows) {
  for (const float softcap : {0.0f, 2.0f}) {
    struct Sink {
      std::vector<int64_t> positions;
      std::vector<float> values;
    };
    auto run = [&](Backend& backend, std::vector<Sink>* sinks) {
      StatusOr<ModelConfig> config = ModelConfig::FromGguf(*file_);
      EXPECT_TRUE(config.ok()) << config.status().message();
      config->final_softcap = softcap;
      StatusOr<std::unique_ptr<Model>> model = LoadModel(
          *config, [this](const std::string& name) { return file_->FindTensor(name); }, backend);
      EXPECT_TRUE(model.ok()) << model.status().message();
      EngineOptions options;
      options.kv_cache_bytes = 8 << 20;
      options.max_num_batched_tokens = 7;  // prompt chunks with several logits rows
      StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
      EXPECT_TRUE(engine.ok()) << engine.status().message();
      sinks->assign(3, {});
      std::vector<EngineRequest> requests;
      for (int i = 0; i < 3; ++i) {
        EngineRequest r = Request(20 + i, 0.0f);
        if (i == 1) r.sampling.repetition_penalty = 1.3f;
        Sink* sink = &(*sinks)[i];
        r.logits_sink = [sink](int64_t position, std::span<const float> row) {
          sink->positions.push_back(position);
          sink->values.insert(sink->values.end(), row.begin(), row.end());
        };
        r.prompt_logits = i != 2;
        requests.push_back(std::move(r));
      }
      requests.push_back(Request(23, 0.0f));  // no sink, batched with them
      (*engine)->Start();
      std::vector<std::vector<SampledToken>> out = SubmitAndCollect(**engine, requests);
      (*engine)->Stop();
      return out;
    };
    CpuBackend host(2);
    RefSamplingBackend device;
    std::vector<Sink> want_sinks, got_sinks;
    const auto want = run(host, &want_sinks);
    const auto got = run(device, &got_sinks);
    EXPECT_GT(device.num_read_calls, 0);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(Ids(got[i]), Ids(want[i])) << "softcap " << softcap << ", request " << i;
    }
    for (size_t i = 0; i < want_sinks.size(); ++i) {
      EXPECT_EQ(got_sinks[i].positions, want_sinks[i].positions) << "request " << i;
      ASSERT_EQ(got_sinks[i].values.size(), want_sinks[i].values.size());
      for (size_t v = 0; v < want_sinks[i].values.size(); ++v) {
        ASSERT_NEAR(got_sinks[i].values[v], want_sinks[i].values[v], 1e-5)
            << "softcap " << softcap << ", request " << i << ", value " << v;
      }
      if (softcap > 0) {
        for (float x : want_sinks[i].values) ASSERT_LE(std::fabs(x), softcap);
      }
    }
  }
}

}  // namespace
}  // namespace gs
