// Token sampling on the host, one Sampler per request with its own seeded random stream, so a
// request's output never depends on what it was batched with. Order of the filters follows
// llama.cpp's default chain: top-k, top-p, min-p on the untempered distribution, then
// temperature, then a draw. Temperature 0 is greedy (lowest id among equal maxima).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kernels/ref/sampling_ref.h"

namespace gs {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
  // OpenAI penalties over the output so far: logit -= presence * [count > 0] + frequency * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // HF/vLLM penalty over prompt and output tokens: positive logits divided by it, negative ones
  // multiplied (1 = off).
  float repetition_penalty = 1.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, added to its logit)

  bool has_logit_processing() const {
    return presence_penalty != 0.0f || frequency_penalty != 0.0f || repetition_penalty != 1.0f ||
           !logit_bias.empty();
  }
};

// A sampled token with its log-probability under the model's (unprocessed) distribution and the
// num_top most likely alternatives.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};
struct SampledToken {
  int32_t id = 0;
  float logprob = 0;              // only when logprobs were asked for
  std::vector<TokenLogprob> top;  // descending
};

// log_softmax(logits)[id] and the num_top largest entries.
SampledToken ComputeLogprobs(const float* logits, int32_t num_vocab, int32_t id, int32_t num_top);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token from logits[0, num_vocab).
  int32_t Sample(const float* logits, int32_t num_vocab);
  // Applies logit bias and penalties in place (a no-op without them).
  void ProcessLogits(float* logits, int32_t num_vocab) const;
  // Records a token the penalties count: prompt tokens (repetition only) and sampled ones.
  void AddPromptTokens(std::span<const int32_t> tokens);
  void Accept(int32_t id);

  const SamplingParams& params() const { return params_; }

  // The same request for a device sampler: its parameters with the Philox counter (the
  // request's token index, so a draw never depends on the batch), and its penalty state.
  SampleRowParams DeviceParams(uint64_t counter, int32_t num_top_logprobs) const;
  void DevicePenalties(std::vector<PenaltyToken>* out) const;
  void DeviceBias(std::vector<LogitBiasEntry>* out) const;

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // reused between calls
  std::vector<double> weights_;
  std::unordered_map<int32_t, int32_t> output_counts_;  // output token -> occurrences
  std::unordered_set<int32_t> seen_;                    // prompt and output tokens
};

int32_t ArgMax(const float* logits, int32_t n);

}  // namespace gs
