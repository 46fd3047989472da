// Prometheus text exposition of the server's counters under vLLM's metric names with the prefix
// "gemma_serve:", so dashboards written for vLLM work after a rename. Request-level numbers are
// recorded by HTTP threads when a request ends; engine numbers come from Engine::Stats().
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace gs {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` ("" or `a="b"`).
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // [bounds + 1], the last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// What one finished generation request contributes.
struct RequestRecord {
  std::string finished_reason;  // stop, length, abort, error
  double queue_seconds = -1;    // < 0: never scheduled
  double ttft_seconds = -1;     // < 0: no token
  std::vector<double> inter_token_seconds;
  double e2e_seconds = 0;
  int64_t num_prompt_tokens = 0;
  int64_t num_generation_tokens = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);
  void Record(const RequestRecord& r);
  std::string Render(const EngineStats& engine) const;

 private:
  const std::string labels_;  // model_name="..."
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> success_by_reason_;
  uint64_t num_requests_ = 0;
  Histogram ttft_;
  Histogram inter_token_;
  Histogram e2e_;
  Histogram queue_;
  Histogram prompt_tokens_;
  Histogram generation_tokens_;
};

}  // namespace gs
