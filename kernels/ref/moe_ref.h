// Mixture-of-experts routing as Gemma 4 (26B-A4B) computes it, in transformers and llama.cpp
// alike: softmax over every expert's router logit, the num_used most probable experts, their
// probabilities renormalised to sum to 1, times each chosen expert's output scale. And the
// experts' pass itself: each chosen expert's GeGLU of the token, summed with those weights.
#pragma once

#include <cstdint>

namespace gs::ref {

struct MoeRoute {
  int32_t expert_idx;
  float weight;
};

// logits: [num_experts]; scales: [num_experts] or nullptr (1); out: [num_used], most probable
// first. The order is decided on the logits (exp is monotone), ties to the lower expert index:
// a stable order, so that the choice never depends on the batch, and one that a device whose
// exp rounds differently from the host's still reproduces exactly.
void RouteTopK(const float* logits, int32_t num_experts, int32_t num_used, const float* scales,
               MoeRoute* out);

// out[t] = sum_j routes[t, j].weight * down_e · (gelu_tanh(gate_e · x[t]) * (up_e · x[t])),
// e = routes[t, j].expert_idx, over f32 expert matrices (dequantized), products summed in f64.
// The oracle of the GPU's expert pass (kernels/cuda/moe_cuda.h).
struct MoeExpertsRefParams {
  const float* x;          // [num_tokens, hidden]
  const MoeRoute* routes;  // [num_tokens, num_used]
  const float* gate;       // [num_experts, expert_ffn, hidden]
  const float* up;         // [num_experts, expert_ffn, hidden]
  const float* down;       // [num_experts, hidden, expert_ffn]
  float* out;              // [num_tokens, hidden]
  int64_t num_tokens, hidden;
  int32_t num_used, expert_ffn;
};
void MoeExperts(const MoeExpertsRefParams& p);

}  // namespace gs::ref
