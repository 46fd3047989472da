// Token sampling for one row of logits: the scalar oracle that kernels/cuda/sampling_cuda.cu is
// tested against, and the definition of what both compute. It follows engine/sampler.h
// (llama.cpp's chain: top-k, top-p, min-p on the untempered distribution, then temperature,
// then one draw) but pins down the cases the host sampler leaves to its sort order, so that a
// float implementation on the device can agree with it token for token:
//
//  1. Processed logits y from the raw logits x, per token id, in this order: logit bias added;
//     repetition penalty r (when r != 1) on every token seen in the prompt or the output:
//     y > 0 ? min(y / r, FLT_MAX) : max(y * r, -FLT_MAX); then the OpenAI penalties on tokens
//     with output count c > 0: y -= presence + frequency * c (the product rounded to float, then
//     the sum, then the difference: no fused multiply-add). Ids outside [0, num_vocab) are
//     ignored. Invariant: within one row each id appears at most once among the bias entries
//     and at most once among the penalty entries (the device applies them in parallel).
//  2. A token is *valid* when y > -inf (NaN and -inf are never kept). m = the largest valid y.
//  3. Greedy when temperature <= 0, top_k == 1, or m is not finite (+inf, or no valid token):
//     the lowest id among the maxima of y, as gs::ArgMax (0 when no value exceeds -inf).
//  4. Otherwise a threshold t, and the kept set K = {valid i : y_i >= t}, t = max(t_k, t_p, t_m):
//     - top-k (0 < top_k < number of valid tokens): t_k = the top_k-th largest valid y, so every
//       token tied with the k-th is kept; otherwise t_k = the smallest valid y (no filter).
//     - top-p (top_p < 1), over the top-k set, untempered: with w_i = expf(y_i - m) (float) summed
//       in double, M(t) = sum of w_i over valid y_i >= max(t, t_k), target = top_p * M(t_k);
//       t_p = the largest value t among the y_i with M(t) >= target: the smallest prefix of the
//       sorted distribution whose mass reaches top_p, with ties at the boundary kept.
//       top_p <= 0 keeps the maxima only (t_p = m).
//     - min-p (min_p > 0): t_m = min(m, m + logf(min_p)) in float, i.e. p_i >= min_p * p_max
//       (min_p >= 1 keeps the maxima only).
//     top-p's mass is over the top-k set, not the min-p one: min-p applies last, as on the host.
//  5. The draw: v_i = expf((y_i - m) / temperature) (float) over K, W = their sum in double,
//     u = PhiloxUniform(seed, counter) in [0, 1), and the token is the first kept id (ascending
//     id order) whose inclusive prefix sum of v exceeds u * W; the last kept id if rounding left
//     none.
//  6. Log-probabilities are log_softmax of the RAW logits x (before bias and penalties), as
//     gs::ComputeLogprobs: the chosen id's, and the num_top_logprobs largest x in descending
//     order, ties to the lower id.
//
// A float implementation differs from this one only through rounding of exp and of sums (a few
// 1e-7 relative), so the two may pick different tokens only when a decision was that close:
// SampleRowResult::boundary_margin says how close this row's was.
#pragma once

#include <cstdint>
#include <vector>

namespace gs {

inline constexpr int32_t kMaxTopLogprobs = 20;

// Per-row sampling parameters: a POD shared with the device sampler (kernels/cuda/sampling_cuda.h).
struct SampleRowParams {
  float temperature = 0.0f;         // <= 0: greedy
  int32_t top_k = 0;                // <= 0: off; 1: greedy
  float top_p = 1.0f;               // >= 1: off
  float min_p = 0.0f;               // <= 0: off
  float presence_penalty = 0.0f;    // over output tokens
  float frequency_penalty = 0.0f;   // over output tokens, times the count
  float repetition_penalty = 1.0f;  // over prompt and output tokens; 1: off
  int32_t num_top_logprobs = 0;     // 0..kMaxTopLogprobs
  uint64_t seed = 0;                // the request's seed: the Philox key
  uint64_t counter = 0;             // the request's token index: the Philox counter
};

// A token the penalties count: how often the output holds it, and whether the prompt does.
struct PenaltyToken {
  int32_t id = 0;
  int32_t output_count = 0;
  bool in_prompt = false;
};

struct LogitBiasEntry {
  int32_t id = 0;
  float value = 0;
};

struct TopLogprobEntry {
  int32_t id = 0;
  float logprob = 0;
};

struct SampleRowResult {
  int32_t id = 0;
  float logprob = 0;  // log_softmax(raw logits)[id]
  int32_t num_top = 0;
  TopLogprobEntry top[kMaxTopLogprobs] = {};  // [num_top], descending
  // Diagnostics for comparison with a float implementation.
  double u = 0;                // the uniform the draw used (0 for greedy)
  int32_t num_kept = 1;        // |K| (1 for greedy)
  double boundary_margin = 1;  // distance of the closest decision to flipping, relative: the
                               // draw's u*W to its interval's ends over W, top-p's target to
                               // the masses either side over M(t_k), min-p's t_m to the nearest
                               // y over max(1, |t_m|); 1 when nothing was close (greedy)
};

namespace ref {

// Step 1: y = processed logits [num_vocab] (out may alias logits). Pointer + count rather than
// std::span: this header is also read by nvcc in C++17 mode (sampling_cuda.h).
void ProcessRowLogits(const float* logits, int32_t num_vocab, const SampleRowParams& params,
                      const PenaltyToken* penalties, int32_t num_penalties,
                      const LogitBiasEntry* biases, int32_t num_biases, float* out);

// Grammar masking, before step 1: logits[t] = -inf for every t in [0, num_vocab) whose bit
// (words[t / 32] >> (t % 32)) & 1 is clear; words holds ceil(num_vocab / 32) entries. A masked
// token is never valid (step 2), so no bias, penalty or sampling decision can bring it back.
void ApplyTokenMask(float* logits, int32_t num_vocab, const uint32_t* words);

// Step 4: the kept set K in ascending id order, from processed logits y (greedy rows: the argmax).
std::vector<int32_t> KeptSet(const float* processed, int32_t num_vocab,
                             const SampleRowParams& params);

// Steps 1-6 for one row of raw logits [num_vocab]; penalties [num_penalties], biases [num_biases].
SampleRowResult SampleRow(const float* logits, int32_t num_vocab, const SampleRowParams& params,
                          const PenaltyToken* penalties, int32_t num_penalties,
                          const LogitBiasEntry* biases, int32_t num_biases);

}  // namespace ref
}  // namespace gs
