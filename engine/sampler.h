// Token sampling on the host, one Sampler per request with its own seeded random stream, so a
// request's output never depends on what it was batched with. Order of the filters follows
// llama.cpp's default chain: top-k, top-p, min-p on the untempered distribution, then
// temperature, then a draw. Temperature 0 is greedy (lowest id among equal maxima).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace gs {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token from logits[0, num_vocab).
  int32_t Sample(const float* logits, int32_t num_vocab);

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // reused between calls
};

int32_t ArgMax(const float* logits, int32_t n);

}  // namespace gs
