#include "engine/run_request.h"

#include <chrono>
#include <memory>
#include <utility>

namespace gs {

RequestResult RunRequest(Engine& engine, EngineRequest request,
                         const std::function<void(const SampledToken&)>& on_token) {
  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  RequestResult result;
  auto stream = std::make_shared<RequestStream>(std::make_shared<StreamSignal>());
  request.stream = stream;
  std::vector<EngineRequest> one;
  one.push_back(std::move(request));
  const Clock::time_point t0 = Clock::now();
  if (!engine.Submit(std::move(one))) {
    result.finish = FinishReason::kError;
    result.error = "the engine's queue is full";
    return result;
  }
  // The engine finishes every request before it runs out of work, so the loop ends with ours.
  while (result.finish == FinishReason::kNone) {
    const bool more = engine.StepOnce();
    RequestUpdate u;
    if (stream->Take(&u)) {
      if (result.tokens.empty() && !u.tokens.empty()) {
        result.first_token_seconds = seconds_since(t0);
      }
      for (const SampledToken& t : u.tokens) {
        if (on_token) on_token(t);
        result.tokens.push_back(t);
      }
      result.finish = u.finish;
      result.error = std::move(u.error);
    }
    GS_CHECK_MSG(more || result.finish != FinishReason::kNone, "the engine went idle early");
  }
  result.seconds = seconds_since(t0);
  return result;
}

}  // namespace gs
