// The scheduler and the KV pool under random workloads: requests added,
// stepped, cancelled and finished in random order on a pool small enough to force preemption.
// The "model" here appends a token per logits row, so the test sees exactly what the engine
// would ask of the pool. After every step the pool's invariants hold and the step respects its
// budgets; at the end every request finished as it should and every block is free.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace gs {
namespace {

struct Tracked {
  std::shared_ptr<RequestStream> stream;
  std::vector<int32_t> prompt;
  std::vector<int32_t> received;
  int64_t max_new_tokens = 0;
  int64_t num_received = 0;
  FinishReason finish = FinishReason::kNone;
  bool cancelled = false;
};

KvPoolConfig SmallPool(int32_t num_global_blocks, int32_t num_sliding_blocks, int32_t window) {
  KvPoolConfig c;
  c.block_size = 4;
  c.num_blocks = {num_global_blocks, num_sliding_blocks};
  c.windows = {0, window};
  return c;
}

// Applies one step as the engine would: commit, append a token per logits row, finish those
// that reached their limit. Sampled ids depend only on the sequence's tokens, so a request's
// output is the same whatever was cached or preempted.
void RunStep(Scheduler& scheduler, const std::vector<ScheduledChunk>& chunks,
             int32_t* token_counter) {
  std::vector<Sequence*> done;
  scheduler.Commit(chunks);
  for (const ScheduledChunk& c : chunks) {
    Sequence& s = *c.seq;
    if (!c.wants_logits) continue;
    ASSERT_EQ(s.num_computed, static_cast<int64_t>(s.tokens.size()));
    SampledToken t;
    t.id = static_cast<int32_t>((s.tokens.size() * 31 + s.tokens.back() * 7) % 1000);
    ++*token_counter;
    s.tokens.push_back(t.id);
    ++s.num_output;
    s.request.stream->Push(t);
    if (s.num_output >= s.request.max_new_tokens) done.push_back(&s);
  }
  for (Sequence* s : done) scheduler.Finish(s, FinishReason::kLength);
}

void Drain(std::map<int, Tracked>& tracked) {
  for (auto& [id, t] : tracked) {
    RequestUpdate u;
    while (t.stream->Take(&u)) {
      t.num_received += static_cast<int64_t>(u.tokens.size());
      for (const SampledToken& tok : u.tokens) t.received.push_back(tok.id);
      if (u.finish != FinishReason::kNone) {
        ASSERT_EQ(t.finish, FinishReason::kNone) << "request " << id << " finished twice";
        t.finish = u.finish;
      }
    }
  }
}

class SchedulerPropertyTest : public ::testing::TestWithParam<int> {};

TEST_P(SchedulerPropertyTest, RandomWorkloadsKeepInvariantsAndFinishEverything) {
  std::mt19937 rng(GetParam());
  const int32_t budget = 1 + static_cast<int32_t>(rng() % 64);
  const int32_t max_seqs = 1 + static_cast<int32_t>(rng() % 8);
  const int32_t window = 8 + static_cast<int32_t>(rng() % 24);
  // A request fits the pool on its own (the server refuses longer ones at admission): at most
  // 24 + 16 tokens = 10 global blocks; the sliding group holds window + budget per sequence.
  const int32_t global_blocks = 10 + static_cast<int32_t>(rng() % 40);
  const int32_t sliding_blocks = (window + budget + 3) / 4 + 2 + static_cast<int32_t>(rng() % 30);
  Scheduler scheduler(KvPool(SmallPool(global_blocks, sliding_blocks, window)),
                      SchedulerOptions{budget, max_seqs});
  auto signal = std::make_shared<StreamSignal>();
  std::map<int, Tracked> tracked;
  int32_t token_counter = 0;
  int next_id = 0;
  // A few shared prefixes so that the prefix cache hits, across sequences and after preemption.
  std::vector<std::vector<int32_t>> prefixes(3);
  for (auto& p : prefixes) {
    p.resize(4 + rng() % 16);
    for (int32_t& id : p) id = static_cast<int32_t>(rng() % 50);
  }
  for (int step = 0; step < 400 || scheduler.num_running() + scheduler.num_waiting() > 0; ++step) {
    ASSERT_LT(step, 20000) << "no progress";
    if (step < 400 && rng() % 3 == 0) {
      EngineRequest r;
      if (rng() % 2) r.prompt = prefixes[rng() % prefixes.size()];
      const size_t extra = rng() % 8;
      for (size_t i = 0; i < extra || r.prompt.empty(); ++i) {
        r.prompt.push_back(static_cast<int32_t>(rng() % 50));
      }
      r.max_new_tokens = 1 + rng() % 16;
      r.stream = std::make_shared<RequestStream>(signal);
      tracked[next_id++] = {r.stream, r.prompt, {}, r.max_new_tokens};
      scheduler.Add(std::make_unique<Sequence>(std::move(r)));
    }
    if (rng() % 17 == 0 && !tracked.empty()) {
      auto it = std::next(tracked.begin(), rng() % tracked.size());
      it->second.stream->Cancel();
      it->second.cancelled = true;
    }
    scheduler.DropCancelled();
    const std::vector<ScheduledChunk> chunks = scheduler.Schedule();
    int64_t num_tokens = 0;
    for (const ScheduledChunk& c : chunks) {
      num_tokens += c.num_tokens;
      ASSERT_GT(c.num_tokens, 0);
    }
    ASSERT_LE(num_tokens, budget);
    ASSERT_LE(static_cast<int32_t>(chunks.size()), max_seqs);
    if (scheduler.num_waiting() > 0 && scheduler.num_running() == 0) {
      FAIL() << "requests wait on an empty pool";
    }
    RunStep(scheduler, chunks, &token_counter);
    Status ok = scheduler.pool().CheckInvariants();
    ASSERT_TRUE(ok.ok()) << ok.message();
    Drain(tracked);
  }
  for (int32_t g = 0; g < scheduler.pool().num_groups(); ++g) {
    EXPECT_EQ(scheduler.pool().num_free_blocks(g), scheduler.pool().num_blocks(g));
  }
  for (const auto& [id, t] : tracked) {
    if (t.cancelled && t.finish == FinishReason::kAbort) {
      EXPECT_LE(t.num_received, t.max_new_tokens);
      continue;
    }
    EXPECT_EQ(t.finish, FinishReason::kLength) << "request " << id;
    EXPECT_EQ(t.num_received, t.max_new_tokens) << "request " << id;
    // The "model" is a function of the tokens so far: recompute what the request must get.
    std::vector<int32_t> tokens = t.prompt;
    for (int64_t i = 0; i < t.max_new_tokens; ++i) {
      tokens.push_back(static_cast<int32_t>((tokens.size() * 31 + tokens.back() * 7) % 1000));
    }
    EXPECT_EQ(t.received, std::vector<int32_t>(tokens.begin() + t.prompt.size(), tokens.end()));
  }
}

TEST(SchedulerTest, ASecondRequestWithTheSamePromptStartsAfterTheCachedBlocks) {
  // Window 8 in the sliding group: the hit needs the global blocks from 0 and the sliding
  // blocks of the last 8 positions only.
  Scheduler scheduler(KvPool(SmallPool(64, 64, 8)), SchedulerOptions{64, 4});
  auto signal = std::make_shared<StreamSignal>();
  std::vector<int32_t> prompt(41);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 3 % 50);
  std::vector<std::vector<int32_t>> outputs;
  for (int round = 0; round < 2; ++round) {
    EngineRequest r;
    r.prompt = prompt;
    r.max_new_tokens = 3;
    r.stream = std::make_shared<RequestStream>(signal);
    auto stream = r.stream;
    scheduler.Add(std::make_unique<Sequence>(std::move(r)));
    std::vector<ScheduledChunk> chunks = scheduler.Schedule();
    ASSERT_EQ(chunks.size(), 1u);
    // 41 tokens: 10 full blocks of 4, all cached the second time round (the last token is
    // always computed, and it is alone in block 10).
    EXPECT_EQ(chunks[0].seq->num_computed, round == 0 ? 0 : 40);
    EXPECT_EQ(chunks[0].num_tokens, round == 0 ? 41 : 1);
    int32_t counter = 0;
    while (!chunks.empty()) {
      RunStep(scheduler, chunks, &counter);
      ASSERT_TRUE(scheduler.pool().CheckInvariants().ok());
      chunks = scheduler.Schedule();
    }
    RequestUpdate u;
    ASSERT_TRUE(stream->Take(&u));
    EXPECT_EQ(u.num_cached_tokens, round == 0 ? 0 : 40);
    outputs.emplace_back();
    for (const SampledToken& t : u.tokens) outputs.back().push_back(t.id);
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(scheduler.num_prefix_hits(), 40);
  EXPECT_EQ(scheduler.num_prefix_queries(), 82);
  EXPECT_EQ(scheduler.pool().num_free_blocks(0), 64);
  EXPECT_GT(scheduler.pool().num_cached_blocks(0), 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SchedulerPropertyTest, ::testing::Range(0, 200));

TEST(SchedulerTest, PreemptsTheNewestWhenThePoolRunsOutAndRecomputesIt) {
  // Two sequences that together outgrow 6 global blocks of 4 tokens.
  Scheduler scheduler(KvPool(SmallPool(6, 64, 1000)), SchedulerOptions{64, 4});
  auto signal = std::make_shared<StreamSignal>();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 2; ++i) {
    EngineRequest r;
    r.prompt.assign(8, 1);
    r.max_new_tokens = 12;
    r.stream = std::make_shared<RequestStream>(signal);
    streams.push_back(r.stream);
    scheduler.Add(std::make_unique<Sequence>(std::move(r)));
  }
  int32_t counter = 0;
  for (int step = 0; step < 200 && scheduler.num_running() + scheduler.num_waiting() > 0; ++step) {
    RunStep(scheduler, scheduler.Schedule(), &counter);
    ASSERT_TRUE(scheduler.pool().CheckInvariants().ok());
  }
  EXPECT_GT(scheduler.num_preemptions(), 0);
  for (auto& s : streams) {
    RequestUpdate u;
    ASSERT_TRUE(s->Take(&u));
    EXPECT_EQ(u.tokens.size(), 12u);
    EXPECT_EQ(u.finish, FinishReason::kLength);
  }
}

TEST(SchedulerTest, CancelledWaitingAndRunningRequestsFreeEverything) {
  Scheduler scheduler(KvPool(SmallPool(16, 64, 1000)), SchedulerOptions{8, 1});
  auto signal = std::make_shared<StreamSignal>();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 3; ++i) {
    EngineRequest r;
    r.prompt.assign(20, 1);  // longer than the budget: prefilled in chunks
    r.max_new_tokens = 100;
    r.stream = std::make_shared<RequestStream>(signal);
    streams.push_back(r.stream);
    scheduler.Add(std::make_unique<Sequence>(std::move(r)));
  }
  int32_t counter = 0;
  RunStep(scheduler, scheduler.Schedule(), &counter);  // the first is mid-prefill
  EXPECT_EQ(scheduler.num_running(), 1);
  EXPECT_EQ(scheduler.num_waiting(), 2);
  for (auto& s : streams) s->Cancel();
  scheduler.DropCancelled();
  EXPECT_EQ(scheduler.num_running() + scheduler.num_waiting(), 0);
  EXPECT_EQ(scheduler.pool().num_free_blocks(0), 16);
  for (auto& s : streams) {
    RequestUpdate u;
    ASSERT_TRUE(s->Take(&u));
    EXPECT_EQ(u.finish, FinishReason::kAbort);
  }
}

}  // namespace
}  // namespace gs
