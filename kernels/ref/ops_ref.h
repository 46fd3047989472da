// Scalar references for the model's non-matmul ops: obviously correct, single-threaded, f32.
// kernels/cpu (and later kernels/cuda) are tested against these on awkward sizes.
#pragma once

#include <cstdint>

namespace gs::ref {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], i < n. out may alias x.
void RmsNorm(const float* x, const float* w, float eps, int64_t n, float* out);

// NeoX rotary embedding of one head in place: pairs (i, i + n_rot/2) for i < n_rot/2 rotate by
// theta_i = freq_scale * pos * base^(-2i/n_rot) / freq_factors[i] (proportional RoPE; nullptr:
// no factors); dims >= n_rot pass through.
void RopeNeox(float* x, int64_t n_rot, int32_t pos, float base, float freq_scale,
              const float* freq_factors = nullptr);

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
float GeluTanh(float x);

// Causal attention with contiguous K/V (the oracle for the paged kernels).
struct AttentionRefParams {
  const float* q;        // [num_q, num_heads, head_dim]
  const float* k;        // [num_k, num_kv_heads, head_dim]; key j sits at position j
  const float* v;        // [num_k, num_kv_heads, head_dim]
  const int32_t* q_pos;  // [num_q] absolute positions, each < num_k
  float* out;            // [num_q, num_heads, head_dim]
  int64_t num_q, num_k;
  int32_t num_heads, num_kv_heads, head_dim;
  int32_t window;  // 0: none; else keys with q_pos - k_pos >= window are masked
  float scale;     // applied to q.k
  float softcap;   // 0: none; else s = softcap * tanh(s / softcap)
};
void Attention(const AttentionRefParams& p);

}  // namespace gs::ref
