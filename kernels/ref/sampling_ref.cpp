#include "kernels/ref/sampling_ref.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <span>

#include "kernels/cuda/philox.h"

namespace gs::ref {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool IsValid(float y) { return y > -kInf; }  // false for NaN and -inf

// The lowest id among the maxima; 0 when no value exceeds -inf (NaN never wins).
int32_t ArgMaxRow(const float* y, int32_t num_vocab) {
  float best = -kInf;
  int32_t best_idx = 0;
  for (int32_t i = 0; i < num_vocab; ++i) {
    if (y[i] > best) {
      best = y[i];
      best_idx = i;
    }
  }
  return best_idx;
}

struct Selection {
  bool greedy = true;
  int32_t greedy_id = 0;
  float max_value = 0;  // m
  float threshold = 0;  // t: K = {valid i : y_i >= t}
  double margin = 1;    // closest of the top-p and min-p decisions, relative
};

// Step 3 and 4 of the header.
Selection Select(const float* y, int32_t num_vocab, const SampleRowParams& p) {
  Selection s;
  s.greedy_id = ArgMaxRow(y, num_vocab);
  const float m = y[s.greedy_id];
  if (p.temperature <= 0.0f || p.top_k == 1 || !std::isfinite(m)) return s;
  s.greedy = false;
  s.max_value = m;

  // Valid values in descending order (the ref may sort: it is the oracle, not the fast path).
  std::vector<float> sorted;
  for (int32_t i = 0; i < num_vocab; ++i) {
    if (IsValid(y[i])) sorted.push_back(y[i]);
  }
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  const int64_t num_valid = static_cast<int64_t>(sorted.size());

  float t_k = sorted.back();
  if (p.top_k > 0 && p.top_k < num_valid) t_k = sorted[p.top_k - 1];
  float t = t_k;

  if (p.top_p < 1.0f) {
    float t_p = m;
    if (p.top_p > 0.0f) {
      double total = 0;
      for (float v : sorted) {
        if (v >= t_k) total += std::exp(v - m);  // float expf, summed in double
      }
      const double target = static_cast<double>(p.top_p) * total;
      // Walk the distinct values downwards; M(value) is the mass of everything >= value.
      double mass = 0;
      t_p = t_k;  // reached only if rounding kept the walk below target at the very end
      for (size_t i = 0; i < sorted.size() && sorted[i] >= t_k;) {
        const double mass_before = mass;
        const float value = sorted[i];
        for (; i < sorted.size() && sorted[i] == value; ++i) mass += std::exp(sorted[i] - m);
        if (mass >= target) {
          t_p = value;
          s.margin = std::min(s.margin, std::min(mass - target, target - mass_before) / total);
          break;
        }
      }
    }
    t = std::max(t, t_p);
  }

  if (p.min_p > 0.0f) {
    // float, as the host sampler; min_p >= 1 keeps the maxima only.
    const float t_m = std::min(m, m + std::log(p.min_p));
    // Values equal to the maximum are kept whatever the rounding (t_m <= m exactly), so only
    // the others can flip; with min_p >= 1 no rounding is involved at all.
    double nearest = INFINITY;
    if (p.min_p < 1.0f) {
      for (float v : sorted) {
        if (v != m) nearest = std::min(nearest, std::fabs(double{v} - t_m));
      }
    }
    s.margin = std::min(s.margin, nearest / std::max(1.0, std::fabs(double{t_m})));
    t = std::max(t, t_m);
  }
  s.threshold = t;
  return s;
}

}  // namespace

void ApplyTokenMask(float* logits, int32_t num_vocab, const uint32_t* words) {
  for (int32_t base = 0; base < num_vocab; base += 32) {
    const uint32_t w = words[base >> 5];
    if (w == ~0u) continue;  // most words inside a JSON string: nothing to clear
    const int32_t end = std::min(num_vocab, base + 32);
    for (int32_t t = base; t < end; ++t) {
      if (((w >> (t - base)) & 1u) == 0) logits[t] = -kInf;
    }
  }
}

void ProcessRowLogits(const float* logits, int32_t num_vocab, const SampleRowParams& params,
                      const PenaltyToken* penalties, int32_t num_penalties,
                      const LogitBiasEntry* biases, int32_t num_biases, float* out) {
  if (out != logits) std::copy(logits, logits + num_vocab, out);
  for (const LogitBiasEntry& b : std::span(biases, num_biases)) {
    if (b.id >= 0 && b.id < num_vocab) out[b.id] += b.value;
  }
  const float r = params.repetition_penalty;
  for (const PenaltyToken& pt : std::span(penalties, num_penalties)) {
    if (pt.id < 0 || pt.id >= num_vocab) continue;
    float& y = out[pt.id];
    if (r != 1.0f && (pt.in_prompt || pt.output_count > 0) && y > -INFINITY) {
      // A tiny penalty must not turn a logit into infinity (and the softmax into NaN); -inf
      // (masked) and NaN stay as they are.
      y = y > 0 ? std::min(y / r, FLT_MAX) : std::max(y * r, -FLT_MAX);
    }
    if (pt.output_count > 0 &&
        (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f)) {
      // Each operation rounded to float separately, as the device does it (no FMA).
      const volatile float scaled = params.frequency_penalty * static_cast<float>(pt.output_count);
      const volatile float penalty = params.presence_penalty + scaled;
      y = y - penalty;
    }
  }
}

std::vector<int32_t> KeptSet(const float* processed, int32_t num_vocab,
                             const SampleRowParams& params) {
  const Selection s = Select(processed, num_vocab, params);
  if (s.greedy) return {s.greedy_id};
  std::vector<int32_t> kept;
  for (int32_t i = 0; i < num_vocab; ++i) {
    if (IsValid(processed[i]) && processed[i] >= s.threshold) kept.push_back(i);
  }
  return kept;
}

SampleRowResult SampleRow(const float* logits, int32_t num_vocab, const SampleRowParams& params,
                          const PenaltyToken* penalties, int32_t num_penalties,
                          const LogitBiasEntry* biases, int32_t num_biases) {
  std::vector<float> y(num_vocab);
  ProcessRowLogits(logits, num_vocab, params, penalties, num_penalties, biases, num_biases,
                   y.data());
  const Selection s = Select(y.data(), num_vocab, params);

  SampleRowResult r;
  if (s.greedy) {
    r.id = s.greedy_id;
  } else {
    // The draw over K in ascending id order.
    double total = 0;
    int32_t num_kept = 0;
    for (int32_t i = 0; i < num_vocab; ++i) {
      if (IsValid(y[i]) && y[i] >= s.threshold) {
        total += std::exp((y[i] - s.max_value) / params.temperature);
        ++num_kept;
      }
    }
    r.u = PhiloxUniform(params.seed, params.counter);
    r.num_kept = num_kept;
    const double target = r.u * total;
    double cumulative = 0;
    int32_t last_kept = -1;
    r.boundary_margin = s.margin;
    for (int32_t i = 0; i < num_vocab; ++i) {
      if (!(IsValid(y[i]) && y[i] >= s.threshold)) continue;
      last_kept = i;
      const double before = cumulative;
      cumulative += std::exp((y[i] - s.max_value) / params.temperature);
      if (cumulative > target) {
        r.id = i;
        r.boundary_margin =
            std::min(r.boundary_margin, std::min(target - before, cumulative - target) / total);
        break;
      }
    }
    if (!(cumulative > target)) {
      r.id = last_kept;
      r.boundary_margin = 0;  // rounding decided it
    }
  }

  // Log-probabilities of the raw logits, as gs::ComputeLogprobs.
  const float max_raw = logits[ArgMaxRow(logits, num_vocab)];
  double sum = 0;
  for (int32_t i = 0; i < num_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_raw);
  const double log_z = max_raw + std::log(sum);
  r.logprob = static_cast<float>(logits[r.id] - log_z);
  r.num_top = std::clamp(params.num_top_logprobs, 0, std::min(kMaxTopLogprobs, num_vocab));
  if (r.num_top > 0) {
    std::vector<int32_t> ids(num_vocab);
    for (int32_t i = 0; i < num_vocab; ++i) ids[i] = i;
    std::partial_sort(ids.begin(), ids.begin() + r.num_top, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int32_t j = 0; j < r.num_top; ++j) {
      r.top[j] = {ids[j], static_cast<float>(logits[ids[j]] - log_z)};
    }
  }
  return r;
}

}  // namespace gs::ref
