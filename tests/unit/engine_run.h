// For tests that drive the Engine: submit requests (each its own API request, one choice) and
// read every stream to its end.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "engine/engine.h"

namespace gs {

// The engine must be started; each request's stream is set here. Tokens in request order.
inline std::vector<std::vector<SampledToken>> SubmitAndCollect(
    Engine& engine, std::vector<EngineRequest> requests) {
  auto signal = std::make_shared<StreamSignal>();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (EngineRequest& r : requests) {
    r.stream = std::make_shared<RequestStream>(signal);
    streams.push_back(r.stream);
    std::vector<EngineRequest> one;
    one.push_back(std::move(r));
    EXPECT_TRUE(engine.Submit(std::move(one)));
  }
  std::vector<std::vector<SampledToken>> out(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    bool finished = false;
    for (int wait = 0; wait < 20000 && !finished; ++wait) {
      RequestUpdate u;
      if (!streams[i]->Take(&u)) {
        signal->Wait(std::chrono::milliseconds(5));
        continue;
      }
      out[i].insert(out[i].end(), u.tokens.begin(), u.tokens.end());
      finished = u.finish != FinishReason::kNone;
    }
    EXPECT_TRUE(finished) << "request " << i << " never finished";
  }
  return out;
}

}  // namespace gs
