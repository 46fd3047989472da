// The engine thread on a tiny random Gemma 3 (tests/fixtures, window 8): requests submitted from
// other threads, batched together, give the tokens they give alone (greedy and seeded sampling);
// cancelled requests free their blocks; a full queue refuses; Stop aborts what is left. Driven
// synchronously (StepOnce, RunRequest): logits sinks get each position they asked for once, in
// order, preempted or not; a request that can never fit fails instead of waiting forever.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "engine/cpu/cpu_backend.h"
#include "engine/gguf/gguf_file.h"
#include "engine/run_request.h"

namespace gs {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<GgufFile>> f =
        GgufFile::Open(std::string(GS_FIXTURE_DIR) + "/tiny_gemma3.gguf");
    ASSERT_TRUE(f.ok()) << f.status().message();
    file_ = std::move(f).value();
    backend_ = std::make_unique<CpuBackend>(2);
    StatusOr<std::unique_ptr<Model>> m = LoadModel(*file_, *backend_);
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
  }

  std::unique_ptr<Engine> MakeEngine(EngineOptions options) {
    StatusOr<std::unique_ptr<Engine>> e = Engine::Create(*model_, *backend_, options);
    EXPECT_TRUE(e.ok()) << e.status().message();
    (*e)->Start();
    return std::move(e).value();
  }

  EngineRequest Request(int seed, int64_t max_new_tokens, float temperature) {
    std::mt19937 rng(seed);
    EngineRequest r;
    r.prompt.resize(3 + rng() % 30);
    for (int32_t& id : r.prompt) id = static_cast<int32_t>(rng() % model_->config().num_vocab);
    r.max_new_tokens = max_new_tokens;
    r.sampling.temperature = temperature;
    r.sampling.seed = static_cast<uint64_t>(seed);
    r.stream = std::make_shared<RequestStream>(signal_);
    return r;
  }

  // Reads a stream to its end.
  std::pair<std::vector<int32_t>, FinishReason> Collect(RequestStream& stream) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 2000; ++i) {
      RequestUpdate u;
      if (!stream.Take(&u)) {
        signal_->Wait(std::chrono::milliseconds(10));
        continue;
      }
      for (const SampledToken& t : u.tokens) ids.push_back(t.id);
      if (u.finish != FinishReason::kNone) return {ids, u.finish};
    }
    ADD_FAILURE() << "the request never finished";
    return {ids, FinishReason::kNone};
  }

  // Stats are published after the step that finished the requests.
  static void WaitForEmptyPool(const Engine& engine) {
    for (int i = 0; i < 1000 && engine.Stats().kv_usage != 0.0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<CpuBackend> backend_;
  std::unique_ptr<Model> model_;
  std::shared_ptr<StreamSignal> signal_ = std::make_shared<StreamSignal>();
};

TEST_F(EngineTest, BatchedRequestsGiveTheTokensTheyGiveAlone) {
  EngineOptions options;
  options.kv_cache_bytes = 8 << 20;
  options.max_num_batched_tokens = 16;  // long prompts are chunked, mixed with decodes
  auto engine = MakeEngine(options);
  for (float temperature : {0.0f, 0.9f}) {
    std::vector<std::vector<int32_t>> alone;
    for (int i = 0; i < 8; ++i) {
      EngineRequest r = Request(i, 20, temperature);
      auto stream = r.stream;
      ASSERT_TRUE(engine->Submit({std::move(r)}));
      auto [ids, finish] = Collect(*stream);
      EXPECT_EQ(finish, FinishReason::kLength);
      EXPECT_EQ(ids.size(), 20u);
      alone.push_back(ids);
    }
    std::vector<EngineRequest> all;
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (int i = 0; i < 8; ++i) {
      all.push_back(Request(i, 20, temperature));
      streams.push_back(all.back().stream);
    }
    ASSERT_TRUE(engine->Submit(std::move(all)));
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(Collect(*streams[i]).first, alone[i]) << "request " << i << " t=" << temperature;
    }
  }
  WaitForEmptyPool(*engine);
  EXPECT_EQ(engine->Stats().kv_usage, 0.0);
}

TEST_F(EngineTest, PrefixCacheHitsGiveTheTokensOfAColdRun) {
  std::vector<int32_t> outputs[2];
  for (bool cache : {false, true}) {
    EngineOptions options;
    options.kv_cache_bytes = 8 << 20;
    options.max_num_batched_tokens = 32;
    options.enable_prefix_caching = cache;
    auto engine = MakeEngine(options);
    for (int round = 0; round < 2; ++round) {
      EngineRequest r = Request(5, 12, 0.8f);
      r.prompt.resize(100, 17);  // 100 tokens: 6 full blocks of 16 cached for the second round
      auto stream = r.stream;
      ASSERT_TRUE(engine->Submit({std::move(r)}));
      RequestUpdate first;
      std::vector<int32_t> ids;
      int64_t cached = -1;
      for (int i = 0; i < 2000; ++i) {
        RequestUpdate u;
        if (!stream->Take(&u)) {
          signal_->Wait(std::chrono::milliseconds(10));
          continue;
        }
        if (u.scheduled_at != std::chrono::steady_clock::time_point{}) cached = u.num_cached_tokens;
        for (const SampledToken& t : u.tokens) ids.push_back(t.id);
        if (u.finish != FinishReason::kNone) break;
      }
      EXPECT_EQ(cached, cache && round == 1 ? 96 : 0);
      if (round == 1) {
        EXPECT_EQ(ids, outputs[0].empty() ? ids : outputs[0]);
      }
      outputs[cache] = ids;
    }
    const EngineStats stats = engine->Stats();
    EXPECT_EQ(stats.num_prefix_hits, cache ? 96 : 0);
  }
  EXPECT_EQ(outputs[0], outputs[1]) << "seeded sampling after a cache hit matches a cold run";
}

TEST_F(EngineTest, StopIdsFinishWithStop) {
  auto engine = MakeEngine({});
  EngineRequest probe = Request(3, 5, 0.0f);
  auto probe_stream = probe.stream;
  ASSERT_TRUE(engine->Submit({std::move(probe)}));
  const std::vector<int32_t> ids = Collect(*probe_stream).first;
  ASSERT_EQ(ids.size(), 5u);
  EngineRequest r = Request(3, 5, 0.0f);
  r.stop_ids = {ids[2]};
  auto stream = r.stream;
  ASSERT_TRUE(engine->Submit({std::move(r)}));
  auto [got, finish] = Collect(*stream);
  EXPECT_EQ(finish, FinishReason::kStop);
  const auto first = std::find(ids.begin(), ids.end(), ids[2]);  // the stop id's first sampling
  EXPECT_EQ(got, std::vector<int32_t>(ids.begin(), first + 1));
}

TEST_F(EngineTest, CancelFreesBlocksAndAFullQueueRefuses) {
  EngineOptions options;
  options.max_num_seqs = 1;
  options.max_num_waiting = 1;
  auto engine = MakeEngine(options);
  EngineRequest running = Request(1, 100000, 0.0f);
  auto running_stream = running.stream;
  ASSERT_TRUE(engine->Submit({std::move(running)}));
  while (engine->Stats().num_running != 1) std::this_thread::yield();
  EngineRequest waiting = Request(2, 5, 0.0f);
  auto waiting_stream = waiting.stream;
  ASSERT_TRUE(engine->Submit({std::move(waiting)}));
  EXPECT_FALSE(engine->Submit({Request(3, 5, 0.0f)})) << "the waiting queue holds one";
  running_stream->Cancel();
  EXPECT_EQ(Collect(*running_stream).second, FinishReason::kAbort);
  EXPECT_EQ(Collect(*waiting_stream).second, FinishReason::kLength);
  WaitForEmptyPool(*engine);
  EXPECT_EQ(engine->Stats().kv_usage, 0.0);
  EXPECT_EQ(engine->Stats().num_running, 0);
}

TEST_F(EngineTest, StopAbortsWhatIsLeft) {
  auto engine = MakeEngine({});
  EngineRequest r = Request(1, 100000, 0.0f);
  auto stream = r.stream;
  ASSERT_TRUE(engine->Submit({std::move(r)}));
  engine->Stop();
  EXPECT_EQ(Collect(*stream).second, FinishReason::kAbort);
  EXPECT_FALSE(engine->Stats().alive);
}

// What a logits sink received.
struct SinkRows {
  std::vector<int64_t> positions;
  std::vector<std::vector<float>> rows;
};

EngineRequest WithSink(EngineRequest r, SinkRows* out, bool prompt_logits) {
  r.logits_sink = [out](int64_t position, std::span<const float> row) {
    out->positions.push_back(position);
    out->rows.emplace_back(row.begin(), row.end());
  };
  r.prompt_logits = prompt_logits;
  return r;
}

std::vector<int64_t> Range(int64_t begin, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

// Several requests at once, stepped on this thread until all finish.
void StepUntilIdle(Engine& engine) {
  for (int i = 0; i < 100000 && engine.StepOnce(); ++i) {
  }
}

TEST_F(EngineTest, LogitsSinksGetTheirPositionsOnceInOrder) {
  EngineOptions options;
  options.kv_cache_bytes = 8 << 20;
  options.max_num_batched_tokens = 5;  // prompts in chunks of up to 5 rows, mixed with decodes
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  SinkRows all, last;
  EngineRequest a = WithSink(Request(1, 6, 0.0f), &all, /*prompt_logits=*/true);
  EngineRequest b = WithSink(Request(2, 6, 0.0f), &last, /*prompt_logits=*/false);
  EngineRequest c = Request(3, 6, 0.0f);  // no sink
  const int64_t len_a = static_cast<int64_t>(a.prompt.size());
  const int64_t len_b = static_cast<int64_t>(b.prompt.size());
  std::vector<std::shared_ptr<RequestStream>> streams = {a.stream, b.stream, c.stream};
  std::vector<EngineRequest> requests;
  requests.push_back(std::move(a));
  requests.push_back(std::move(b));
  requests.push_back(std::move(c));
  ASSERT_TRUE((*engine)->Submit(std::move(requests)));
  StepUntilIdle(**engine);
  std::vector<std::vector<int32_t>> ids;
  for (const auto& stream : streams) ids.push_back(Collect(*stream).first);

  // Every prompt position and every generated token's but the last; or from the prompt's last.
  EXPECT_EQ(all.positions, Range(0, len_a + 5));
  EXPECT_EQ(last.positions, Range(len_b - 1, len_b + 5));
  // Greedy: token k was picked from the row of position prompt_len - 1 + k.
  const int32_t num_vocab = model_->config().num_vocab;
  for (size_t k = 0; k < 6; ++k) {
    EXPECT_EQ(ids[0][k], ArgMax(all.rows[len_a - 1 + k].data(), num_vocab)) << k;
    EXPECT_EQ(ids[1][k], ArgMax(last.rows[k].data(), num_vocab)) << k;
  }
  // The same rows one token per step, alone: the chunks' rows are the model's logits.
  options.max_num_batched_tokens = 1;
  StatusOr<std::unique_ptr<Engine>> single = Engine::Create(*model_, *backend_, options);
  ASSERT_TRUE(single.ok()) << single.status().message();
  SinkRows alone;
  const RequestResult result =
      RunRequest(**single, WithSink(Request(1, 6, 0.0f), &alone, /*prompt_logits=*/true));
  EXPECT_EQ(result.finish, FinishReason::kLength);
  ASSERT_EQ(alone.positions, all.positions);
  for (size_t p = 0; p < alone.rows.size(); ++p) {
    for (int32_t v = 0; v < num_vocab; ++v) {
      ASSERT_NEAR(alone.rows[p][v], all.rows[p][v], 1e-4) << "position " << p << " token " << v;
    }
  }
}

TEST_F(EngineTest, PreemptedRequestsDeliverNoPositionTwice) {
  EngineOptions options;
  // Sliding-window blocks for one sequence at a time (160 KiB: half for the window group, 4
  // blocks of 20 KiB), so the others are preempted again and again.
  options.kv_cache_bytes = 160 << 10;
  options.max_num_seqs = 4;
  options.max_num_batched_tokens = 16;
  options.enable_prefix_caching = false;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<SinkRows> sinks(4);
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<int64_t> prompt_lens;
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(WithSink(Request(10 + i, 40, 0.0f), &sinks[i], /*prompt_logits=*/i % 2));
    streams.push_back(requests.back().stream);
    prompt_lens.push_back(static_cast<int64_t>(requests.back().prompt.size()));
  }
  ASSERT_TRUE((*engine)->Submit(std::move(requests)));
  StepUntilIdle(**engine);
  EXPECT_GT((*engine)->Stats().num_preemptions, 0) << "make the cache smaller";
  for (int i = 0; i < 4; ++i) {
    const auto [ids, finish] = Collect(*streams[i]);
    EXPECT_EQ(finish, FinishReason::kLength);
    EXPECT_EQ(ids.size(), 40u);
    const int64_t first = i % 2 ? 0 : prompt_lens[i] - 1;
    EXPECT_EQ(sinks[i].positions, Range(first, prompt_lens[i] + 39)) << "request " << i;
  }
}

TEST_F(EngineTest, StepOnceFailsARequestThatCanNeverFit) {
  EngineOptions options;
  options.kv_cache_bytes = 160 << 10;  // the pool, not the context, bounds the sequence
  options.max_num_seqs = 4;
  options.max_num_batched_tokens = 16;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  ASSERT_LT((*engine)->max_seq_len(), model_->config().context_length);
  EngineRequest r = Request(1, 4, 0.0f);
  r.prompt.resize((*engine)->max_seq_len() + 64, 5);
  const RequestResult result = RunRequest(**engine, std::move(r));
  EXPECT_EQ(result.finish, FinishReason::kError);
  EXPECT_NE(result.error.find("KV cache"), std::string::npos) << result.error;
  EXPECT_FALSE((*engine)->StepOnce()) << "nothing is left waiting";
  EXPECT_EQ((*engine)->Stats().num_waiting, 0);
  // The engine still serves what fits.
  EXPECT_EQ(RunRequest(**engine, Request(2, 3, 0.0f)).tokens.size(), 3u);
}

}  // namespace
}  // namespace gs
