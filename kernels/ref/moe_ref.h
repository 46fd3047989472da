// Mixture-of-experts routing as Gemma 4 (26B-A4B) computes it, in transformers and llama.cpp
// alike: softmax over every expert's router logit, the num_used most probable experts, their
// probabilities renormalised to sum to 1, times each chosen expert's output scale.
#pragma once

#include <cstdint>

namespace gs::ref {

struct MoeRoute {
  int32_t expert_idx;
  float weight;
};

// logits: [num_experts]; scales: [num_experts] or nullptr (1); out: [num_used], most probable
// first; equal probabilities go to the lower expert index (a stable order, so that the choice
// never depends on the batch).
void RouteTopK(const float* logits, int32_t num_experts, int32_t num_used, const float* scales,
               MoeRoute* out);

}  // namespace gs::ref
