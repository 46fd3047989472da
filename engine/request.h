// A generation request as the engine sees it, and the channel its tokens travel back on. The
// engine thread writes a request's RequestStream; one HTTP thread reads it and may cancel it.
// That stream is the only object the two sides share.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/grammar/grammar.h"
#include "engine/grammar/token_trie.h"
#include "engine/sampler.h"

namespace gs {

enum class FinishReason { kNone, kStop, kLength, kAbort, kError };

const char* FinishReasonName(FinishReason reason);  // "stop", "length", "abort", "error"

// Everything that happened to a request since its reader last looked.
struct RequestUpdate {
  std::vector<SampledToken> tokens;
  FinishReason finish = FinishReason::kNone;
  std::string error;  // kError only
  // Set once, when the engine first schedules the request (for queue-time metrics).
  std::chrono::steady_clock::time_point scheduled_at{};
  int64_t num_cached_tokens = 0;  // prompt tokens served from the prefix cache
};

// Wakes the one reader that follows a request's streams (the n choices of one API request).
class StreamSignal {
 public:
  void Notify();
  // Returns once Notify was called since the last return, or after `timeout` (false).
  bool Wait(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

class RequestStream {
 public:
  explicit RequestStream(std::shared_ptr<StreamSignal> signal) : signal_(std::move(signal)) {}

  // Engine side.
  void Push(const SampledToken& token);
  void Finish(FinishReason reason, std::string error = {});
  void MarkScheduled(int64_t num_cached_tokens);

  // Reader side: moves the news into *out (replacing it); false when there is none. Wait on the
  // signal between calls.
  bool Take(RequestUpdate* out);
  // The reader gave up (client gone, stop string matched): the engine drops the request and
  // frees its KV blocks at its next step.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<StreamSignal> signal_;
  std::mutex mu_;
  RequestUpdate pending_;
  bool has_news_ = false;
  std::atomic<bool> cancelled_{false};
};

// Receives the logits row that predicts the token after `position` ([num_vocab], the final
// softcap applied; before logit bias, penalties and sampling), like vLLM's returned logits: for
// tests and tools that compare the model with a reference. Called on the thread that steps the
// engine, positions in increasing order, each once (recomputation after a preemption delivers
// nothing again); the row is valid only during the call.
using LogitsSink = std::function<void(int64_t position, std::span<const float> logits)>;

struct EngineRequest {
  std::vector<int32_t> prompt;  // non-empty, ids < num_vocab, at most the engine's max_seq_len
  SamplingParams sampling;
  int64_t max_new_tokens = 1;     // >= 1
  std::vector<int32_t> stop_ids;  // finish ("stop") after sampling one of these
  bool want_logprobs = false;
  int32_t num_top_logprobs = 0;
  std::shared_ptr<RequestStream> stream;
  // Without a sink (serving) the engine copies no logits. With one it gets the rows the request
  // samples from: the last prompt position and every generated token's but the last.
  LogitsSink logits_sink;
  // With a sink, every prompt position too: each prompt chunk computes logits for all its rows,
  // and the prefix cache is not consulted (a cached position would have no logits).
  bool prompt_logits = false;
  // Constrained decoding: every sampled token keeps the output a prefix of the grammar's
  // language. The engine gives the sequence its own matcher over token_trie (the model's
  // vocabulary, shared by all requests), masks each row before sampling and finishes with kStop
  // once the grammar is complete (an end-of-generation token, allowed only where the grammar
  // may end). max_new_tokens still finishes with kLength. Both set or both null.
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  std::shared_ptr<const grammar::TokenTrie> token_trie;
};

}  // namespace gs
