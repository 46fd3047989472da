#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gs {
namespace {

// Candidates whose logit is this far below the best have probability < e^-40 relative to it at
// any temperature <= 1 and are dropped before sorting: 262K-entry sorts per token would cost
// more than the model's last layer.
constexpr float kNegligibleLogitGap = 40.0f;

}  // namespace

int32_t ArgMax(const float* logits, int32_t n) {
  // Independent lanes, each keeping its maximum and where it first saw it, so the compiler can
  // vectorize the scan (compare + blend); then the lanes are merged. Same result as a scalar
  // scan: the lowest id among equal maxima (NaN never wins).
  constexpr int kLanes = 16;
  float lane_max[kLanes];
  int32_t lane_idx[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    lane_max[j] = -std::numeric_limits<float>::infinity();
    lane_idx[j] = -1;
  }
  int32_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const bool better = logits[i + j] > lane_max[j];
      lane_max[j] = better ? logits[i + j] : lane_max[j];
      lane_idx[j] = better ? i + j : lane_idx[j];
    }
  }
  float best = -std::numeric_limits<float>::infinity();
  int32_t best_idx = 0;
  for (int j = 0; j < kLanes; ++j) {
    if (lane_idx[j] >= 0 &&
        (lane_max[j] > best || (lane_max[j] == best && lane_idx[j] < best_idx))) {
      best = lane_max[j];
      best_idx = lane_idx[j];
    }
  }
  for (; i < n; ++i) {
    if (logits[i] > best) {
      best = logits[i];
      best_idx = i;
    }
  }
  return best_idx;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::Sample(const float* logits, int32_t num_vocab) {
  const SamplingParams& p = params_;
  if (p.temperature <= 0.0f || p.top_k == 1) return ArgMax(logits, num_vocab);

  const float max_logit = logits[ArgMax(logits, num_vocab)];
  const float cutoff = max_logit - kNegligibleLogitGap * std::max(1.0f, p.temperature);
  candidates_.clear();
  for (int32_t i = 0; i < num_vocab; ++i) {
    if (logits[i] >= cutoff) candidates_.push_back({i, logits[i]});
  }
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  // Each filter works on as little order as it needs: a full sort of a 262K vocabulary per token
  // would cost more than the forward pass. top-k selects without sorting; top-p sorts only as
  // long a prefix as its mass needs; min-p needs no order at all.
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < candidates_.size()) {
    std::nth_element(candidates_.begin(), candidates_.begin() + p.top_k - 1, candidates_.end(),
                     by_logit);
    candidates_.resize(p.top_k);
  }
  // Probabilities of the untempered distribution over the candidates, for top-p and min-p.
  auto weight = [&](const Candidate& c) {
    return std::exp(static_cast<double>(c.logit) - max_logit);
  };
  if (p.top_p < 1.0f) {
    double total = 0;
    for (const Candidate& c : candidates_) total += weight(c);
    const double target = p.top_p * total;
    size_t num_sorted = 0;
    for (size_t want = 64;; want *= 4) {
      const size_t n = std::min(want, candidates_.size());
      std::partial_sort(candidates_.begin() + num_sorted, candidates_.begin() + n,
                        candidates_.end(), by_logit);
      num_sorted = n;
      double cumulative = 0;
      size_t keep = 0;
      while (keep < num_sorted && cumulative < target) cumulative += weight(candidates_[keep++]);
      if (cumulative >= target || num_sorted == candidates_.size()) {
        candidates_.resize(std::max<size_t>(keep, 1));
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    // Relative to the most likely token, which is always a candidate and always kept.
    const float min_logit = max_logit + std::log(p.min_p);
    std::erase_if(candidates_, [&](const Candidate& c) { return c.logit < min_logit; });
  }

  // Temperature, then one draw from the renormalized distribution, scanning in candidate order.
  weights_.resize(candidates_.size());
  double total = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    weights_[i] = std::exp((candidates_[i].logit - max_logit) / p.temperature);
    total += weights_[i];
  }
  double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (size_t i = 0; i < candidates_.size(); ++i) {
    u -= weights_[i];
    if (u < 0) return candidates_[i].id;
  }
  return candidates_.back().id;  // rounding left u at the very top
}

void Sampler::ProcessLogits(float* logits, int32_t num_vocab) const {
  const SamplingParams& p = params_;
  for (const auto& [id, bias] : p.logit_bias) {
    if (id >= 0 && id < num_vocab) logits[id] += bias;
  }
  if (p.repetition_penalty != 1.0f) {
    for (int32_t id : seen_) {
      float& l = logits[id];
      if (!(l > -std::numeric_limits<float>::infinity())) continue;  // masked or NaN: as is
      // A tiny penalty must not turn a logit into infinity (and the softmax into NaN).
      l = l > 0 ? std::min(l / p.repetition_penalty, std::numeric_limits<float>::max())
                : std::max(l * p.repetition_penalty, std::numeric_limits<float>::lowest());
    }
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    for (const auto& [id, count] : output_counts_) {
      logits[id] -= p.presence_penalty + p.frequency_penalty * static_cast<float>(count);
    }
  }
}

void Sampler::AddPromptTokens(std::span<const int32_t> tokens) {
  if (params_.repetition_penalty == 1.0f) return;
  seen_.insert(tokens.begin(), tokens.end());
}

void Sampler::Accept(int32_t id) {
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) ++output_counts_[id];
  if (params_.repetition_penalty != 1.0f) seen_.insert(id);
}

SampledToken ComputeLogprobs(const float* logits, int32_t num_vocab, int32_t id, int32_t num_top) {
  const float max_logit = logits[ArgMax(logits, num_vocab)];
  double sum = 0;
  for (int32_t i = 0; i < num_vocab; ++i)
    sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  const double log_z = max_logit + std::log(sum);
  SampledToken out;
  out.id = id;
  out.logprob = static_cast<float>(logits[id] - log_z);
  if (num_top > 0) {
    // A heap of the num_top best (logit, id) pairs with the worst kept on top: one pass, no
    // 262K-entry sort. Ties go to the lower id.
    std::vector<std::pair<float, int32_t>> heap;
    auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    for (int32_t i = 0; i < num_vocab; ++i) {
      std::pair<float, int32_t> c{logits[i], i};
      if (static_cast<int32_t>(heap.size()) < num_top) {
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end(), better);
      } else if (better(c, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.back() = c;
        std::push_heap(heap.begin(), heap.end(), better);
      }
    }
    std::sort_heap(heap.begin(), heap.end(), better);
    for (const auto& [logit, i] : heap) {
      out.top.push_back({i, static_cast<float>(logit - log_z)});
    }
  }
  return out;
}

}  // namespace gs

namespace gs {

SampleRowParams Sampler::DeviceParams(uint64_t counter, int32_t num_top_logprobs) const {
  SampleRowParams d;
  d.temperature = params_.temperature;
  d.top_k = params_.top_k;
  d.top_p = params_.top_p;
  d.min_p = params_.min_p;
  d.presence_penalty = params_.presence_penalty;
  d.frequency_penalty = params_.frequency_penalty;
  d.repetition_penalty = params_.repetition_penalty;
  d.num_top_logprobs = num_top_logprobs;
  d.seed = params_.seed;
  d.counter = counter;
  return d;
}

void Sampler::DevicePenalties(std::vector<PenaltyToken>* out) const {
  out->clear();
  // seen_ holds prompt and output tokens when the repetition penalty is on; output_counts_
  // holds output tokens when presence/frequency are. One entry per id: the union.
  for (int32_t id : seen_) {
    const auto it = output_counts_.find(id);
    out->push_back({id, it == output_counts_.end() ? 0 : it->second, true});
  }
  for (const auto& [id, count] : output_counts_) {
    if (!seen_.contains(id)) out->push_back({id, count, false});
  }
}

void Sampler::DeviceBias(std::vector<LogitBiasEntry>* out) const {
  out->clear();
  for (const auto& [id, value] : params_.logit_bias) out->push_back({id, value});
}

}  // namespace gs
