// Constrained decoding in the engine, on the tiny random Gemma 3 (tests/fixtures) with a made-up
// vocabulary of short pieces: whatever the model prefers, every sampled token is one the
// request's grammar allows, the output is a sentence of the grammar when it stops, max_tokens
// still ends with "length", and preemption (recomputation) keeps the grammar's state right.
// (The device-sampling path: engine_device_sampling_test.)
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/matcher.h"
#include "engine/grammar/regex.h"
#include "engine/grammar/token_trie.h"
#include "engine/run_request.h"

namespace gs {
namespace {

constexpr int32_t kEosId = 1;
// The output language: 1 to 3 numbers of 1 to 3 digits each, comma separated.
constexpr const char* kPattern = "[0-9]{1,3}(,[0-9]{1,3}){0,2}";

class EngineGrammarTest : public ::testing::Test {
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
    // Pieces the grammar can use (digits, commas, runs of both) among ones it never can, so
    // the random model's favourites are mostly forbidden.
    const int32_t num_vocab = model_->config().num_vocab;
    std::mt19937 rng(7);
    const std::string alphabet = "0123456789,ab{}\" ";
    pieces_.resize(num_vocab);
    for (int32_t id = 2; id < num_vocab; ++id) {
      const int len = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < len; ++i) pieces_[id] += alphabet[rng() % alphabet.size()];
    }
    trie_ = std::make_shared<grammar::TokenTrie>(pieces_, std::vector<int32_t>{kEosId});
    StatusOr<grammar::Grammar> g = grammar::GrammarFromRegex(kPattern);
    ASSERT_TRUE(g.ok()) << g.status().message();
    grammar_ = std::make_shared<grammar::CompiledGrammar>(std::move(g).value());
    dfa_ = std::move(grammar::CompileAnchoredRegex(kPattern)).value();
  }

  EngineRequest Request(int seed, int64_t max_new_tokens) {
    std::mt19937 rng(seed);
    EngineRequest r;
    r.prompt.resize(3 + rng() % 20);
    for (int32_t& id : r.prompt) id = 2 + static_cast<int32_t>(rng() % 100);
    r.max_new_tokens = max_new_tokens;
    r.sampling.temperature = 1.0f;
    r.sampling.seed = static_cast<uint64_t>(seed);
    r.stop_ids = {kEosId};
    r.grammar = grammar_;
    r.token_trie = trie_;
    return r;
  }

  // Checks one finished request: every token allowed where it was sampled (replayed through a
  // fresh matcher), and a stopped output is a whole sentence.
  void CheckOutput(const RequestResult& result, int64_t max_new_tokens, int seed) {
    grammar::Matcher m(grammar_, trie_.get());
    std::string text;
    for (const SampledToken& t : result.tokens) {
      ASSERT_TRUE(m.Consume(t.id))
          << "seed " << seed << ": token " << t.id << " after '" << text << "'";
      if (t.id != kEosId) text += pieces_[t.id];
    }
    if (result.finish == FinishReason::kStop) {
      EXPECT_TRUE(m.IsTerminated()) << "seed " << seed;
      EXPECT_TRUE(dfa_.Matches(text)) << "seed " << seed << ": '" << text << "'";
    } else {
      ASSERT_EQ(result.finish, FinishReason::kLength) << "seed " << seed << ": " << result.error;
      EXPECT_EQ(static_cast<int64_t>(result.tokens.size()), max_new_tokens);
    }
  }

  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<CpuBackend> backend_;
  std::unique_ptr<Model> model_;
  std::vector<std::string> pieces_;
  std::shared_ptr<grammar::TokenTrie> trie_;
  std::shared_ptr<grammar::CompiledGrammar> grammar_;
  grammar::Dfa dfa_;
};

TEST_F(EngineGrammarTest, EverySampledTokenIsAllowedAndStoppedOutputsMatch) {
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, {});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  int num_stopped = 0;
  for (int seed = 0; seed < 40; ++seed) {
    const int64_t max_new_tokens = seed % 4 == 0 ? 3 : 24;
    const RequestResult result = RunRequest(**engine, Request(seed, max_new_tokens));
    CheckOutput(result, max_new_tokens, seed);
    num_stopped += result.finish == FinishReason::kStop;
  }
  EXPECT_GT(num_stopped, 10) << "the grammar should end most outputs before max_tokens";
}

TEST_F(EngineGrammarTest, ConstrainedAndFreeRequestsShareABatch) {
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, {});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<std::shared_ptr<RequestStream>> streams;
  auto signal = std::make_shared<StreamSignal>();
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 8; ++i) {
    EngineRequest r = Request(100 + i, 24);
    if (i % 2) r.grammar = nullptr, r.token_trie = nullptr;  // free text beside them
    r.stream = std::make_shared<RequestStream>(signal);
    streams.push_back(r.stream);
    requests.push_back(std::move(r));
  }
  ASSERT_TRUE((*engine)->Submit(std::move(requests)));
  while ((*engine)->StepOnce()) {
  }
  for (int i = 0; i < 8; i += 2) {
    RequestResult result;
    RequestUpdate u;
    while (streams[i]->Take(&u)) {
      result.tokens.insert(result.tokens.end(), u.tokens.begin(), u.tokens.end());
      if (u.finish != FinishReason::kNone) result.finish = u.finish;
    }
    CheckOutput(result, 24, 100 + i);
  }
}

TEST_F(EngineGrammarTest, PreemptionKeepsTheGrammarState) {
  EngineOptions options;
  options.kv_cache_bytes = 160 << 10;  // room for about one sequence: the others are preempted
  options.max_num_seqs = 4;
  options.max_num_batched_tokens = 16;
  options.enable_prefix_caching = false;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*model_, *backend_, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  // A grammar that never ends before max_tokens: digits and commas forever.
  StatusOr<grammar::Grammar> g = grammar::GrammarFromRegex("[0-9,]*");
  ASSERT_TRUE(g.ok());
  auto forever = std::make_shared<grammar::CompiledGrammar>(std::move(g).value());
  auto signal = std::make_shared<StreamSignal>();
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<EngineRequest> requests;
  for (int i = 0; i < 4; ++i) {
    EngineRequest r = Request(200 + i, 40);
    r.grammar = forever;
    r.stop_ids.clear();  // EOS is allowed anywhere here; only the grammar may pick it
    r.stream = std::make_shared<RequestStream>(signal);
    streams.push_back(r.stream);
    requests.push_back(std::move(r));
  }
  ASSERT_TRUE((*engine)->Submit(std::move(requests)));
  while ((*engine)->StepOnce()) {
  }
  EXPECT_GT((*engine)->Stats().num_preemptions, 0) << "make the cache smaller";
  for (int i = 0; i < 4; ++i) {
    grammar::Matcher m(forever, trie_.get());
    RequestUpdate u;
    FinishReason finish = FinishReason::kNone;
    int num_tokens = 0;
    while (streams[i]->Take(&u)) {
      for (const SampledToken& t : u.tokens) {
        EXPECT_TRUE(m.Consume(t.id)) << "request " << i << " token " << num_tokens;
        ++num_tokens;
      }
      if (u.finish != FinishReason::kNone) finish = u.finish;
    }
    EXPECT_TRUE(finish == FinishReason::kStop || finish == FinishReason::kLength);
    EXPECT_TRUE(finish == FinishReason::kStop ? m.IsTerminated() : num_tokens == 40);
  }
}

}  // namespace
}  // namespace gs
