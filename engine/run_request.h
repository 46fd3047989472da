// One request run to its end on the calling thread, through an Engine whose thread is not
// started: how `generate`, `bench` pp/tg, the goldens and the model tests drive what `serve` runs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"

namespace gs {

struct RequestResult {
  std::vector<SampledToken> tokens;
  FinishReason finish = FinishReason::kNone;  // never kNone once RunRequest returns
  std::string error;                          // kError only
  // From submission to the first token (the prompt's steps), and to the finish.
  double first_token_seconds = 0;
  double seconds = 0;
};

// Submits `request` (its stream is made here) and steps the engine until it finishes; on_token
// (may be empty) sees each token as soon as the step that sampled it ends. Other requests
// already submitted run alongside.
RequestResult RunRequest(Engine& engine, EngineRequest request,
                         const std::function<void(const SampledToken&)>& on_token = {});

}  // namespace gs
