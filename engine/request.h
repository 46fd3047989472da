// A generation request as the engine sees it, and the channel its tokens travel back on. The
// engine thread writes a request's RequestStream; one HTTP thread reads it and may cancel it.
// That stream is the only object the two sides share (DESIGN.md "Threads").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

struct EngineRequest {
  std::vector<int32_t> prompt;  // non-empty, ids < num_vocab, shorter than the engine's limit
  SamplingParams sampling;
  int64_t max_new_tokens = 1;     // >= 1
  std::vector<int32_t> stop_ids;  // finish ("stop") after sampling one of these
  bool want_logprobs = false;
  int32_t num_top_logprobs = 0;
  std::shared_ptr<RequestStream> stream;
};

}  // namespace gs
