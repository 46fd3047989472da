#include "server/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gs {
namespace {

// The shortest decimal that reads back as v: bucket bounds print as le="0.06", not
// le="0.059999999999999998", so dashboards can name them.
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {  // counts and token buckets: 100000
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Label values are escaped as the exposition format requires (backslash, quote, newline).
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

const std::vector<double> kLatencyBounds = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                            0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                            20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kTokenBounds = {1,   2,    5,    10,   20,    50,    100,   200,
                                          500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? Num(bounds_[i]) : "+Inf";
    *out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) +
            "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  *out += name + "_sum" + braces + " " + Num(sum_) + "\n";
  *out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics(std::string model_name)
    : labels_("model_name=\"" + Escape(model_name) + "\""),
      ttft_(kLatencyBounds),
      inter_token_(kLatencyBounds),
      e2e_(kLatencyBounds),
      queue_(kLatencyBounds),
      prompt_tokens_(kTokenBounds),
      generation_tokens_(kTokenBounds) {
  for (const char* reason : {"stop", "length", "abort", "error"}) success_by_reason_[reason] = 0;
}

void Metrics::Record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++num_requests_;
  ++success_by_reason_[r.finished_reason];
  if (r.queue_seconds >= 0) queue_.Observe(r.queue_seconds);
  if (r.ttft_seconds >= 0) ttft_.Observe(r.ttft_seconds);
  for (double s : r.inter_token_seconds) inter_token_.Observe(s);
  e2e_.Observe(r.e2e_seconds);
  prompt_tokens_.Observe(static_cast<double>(r.num_prompt_tokens));
  generation_tokens_.Observe(static_cast<double>(r.num_generation_tokens));
}

std::string Metrics::Render(const EngineStats& e) const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += std::string("# HELP gemma_serve:") + name + " " + help + "\n";
    out += std::string("# TYPE gemma_serve:") + name + " " + type + "\n";
    out += std::string("gemma_serve:") + name + "{" + labels_ + "} " + Num(value) + "\n";
  };
  metric("num_requests_running", "gauge", "Requests in the running batch.", e.num_running);
  metric("num_requests_waiting", "gauge", "Requests waiting to be scheduled.", e.num_waiting);
  metric("kv_cache_usage_perc", "gauge", "Fraction of KV-cache blocks in use (1 = full).",
         e.kv_usage);
  metric("prompt_tokens_total", "counter", "Prompt tokens computed.",
         static_cast<double>(e.num_prompt_tokens));
  metric("generation_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(e.num_generation_tokens));
  metric("num_preemptions_total", "counter", "Requests preempted for recomputation.",
         static_cast<double>(e.num_preemptions));
  metric("prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.",
         static_cast<double>(e.num_prefix_queries));
  metric("prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
         static_cast<double>(e.num_prefix_hits));
  metric("engine_steps_total", "counter", "Engine steps run.", static_cast<double>(e.num_steps));
  metric("batched_tokens_total", "counter",
         "Tokens computed over all steps (per step: divide by engine_steps_total).",
         static_cast<double>(e.num_batched_tokens));
  metric("batched_seqs_total", "counter",
         "Sequences in the batch, summed over steps (per step: divide by engine_steps_total).",
         static_cast<double>(e.num_batched_seqs));

  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP gemma_serve:request_success_total Finished requests by finish reason.\n";
  out += "# TYPE gemma_serve:request_success_total counter\n";
  for (const auto& [reason, count] : success_by_reason_) {
    out += "gemma_serve:request_success_total{" + labels_ + ",finished_reason=\"" + reason +
           "\"} " + std::to_string(count) + "\n";
  }
  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    out += std::string("# HELP gemma_serve:") + name + " " + help + "\n";
    out += std::string("# TYPE gemma_serve:") + name + " histogram\n";
    h.Render(std::string("gemma_serve:") + name, labels_, &out);
  };
  histogram("time_to_first_token_seconds", "Time to first token.", ttft_);
  histogram("inter_token_latency_seconds", "Time between tokens of a request.", inter_token_);
  histogram("e2e_request_latency_seconds", "Request latency from arrival to the last token.", e2e_);
  histogram("request_queue_time_seconds", "Time from arrival to the first engine step.", queue_);
  histogram("request_prompt_tokens", "Prompt tokens per request.", prompt_tokens_);
  histogram("request_generation_tokens", "Generated tokens per request.", generation_tokens_);
  return out;
}

}  // namespace gs
