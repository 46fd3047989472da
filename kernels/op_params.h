// Parameters of the model's row-wise and element-wise ops, one struct per op, shared by the CPU
// (kernels/cpu/ops_cpu.h) and CUDA (kernels/cuda/ops_cuda.h) kernels and checked against the
// scalar references in kernels/ref/ops_ref.h. Pointers are host or device memory as the kernel
// that takes them says. The KV store and attention keep their own structs per device: their
// caches are stored differently (f16/f32 on the CPU, bf16/fp8 on the GPU).
#pragma once

#include <cstdint>

namespace gs {

// out[r, :] = rmsnorm(x[r, :]) * w, with w applied per segment of w_len values (w_len == row_len
// for a hidden-state norm; w_len == a slice width for per-head or per-layer-slice norms);
// w == nullptr: no weight (Gemma 4's V norm). out may alias x.
struct RmsNormParams {
  const float* x;  // [num_rows, row_len]
  const float* w;  // [w_len] or nullptr; row_len % w_len == 0
  float* out;      // [num_rows, row_len]
  int64_t num_rows, row_len, w_len;
  float eps;
};

// residual[r, :] += rmsnorm(x[r, :]) * w: Gemma's post-norm fused with the residual add.
struct NormAddParams {
  const float* x;   // [num_rows, row_len]
  const float* w;   // [row_len]
  float* residual;  // [num_rows, row_len]
  int64_t num_rows, row_len;
  float eps;
};

// In place, per (token, head): RMSNorm over head_dim when `normalize` (times norm_w unless it is
// nullptr), then NeoX RoPE on the first n_rot dims (n_rot 0: none): pairs (i, i + n_rot/2) rotate
// by theta_i = freq_scale * pos * base^(-2i / n_rot) / freq_factors[i] (nullptr: factors 1).
struct QkNormRopeParams {
  float* x;                   // [num_tokens, num_heads, head_dim]
  const float* norm_w;        // [head_dim] or nullptr
  const int32_t* positions;   // [num_tokens]
  const float* freq_factors;  // [n_rot / 2] or nullptr
  int64_t num_tokens;
  int32_t num_heads, head_dim, n_rot;
  float eps, base, freq_scale;
  bool normalize;
};

// gate[r, c] = gelu_tanh(gate[r, c]) * up[r * up_stride + up_offset + c] (GeGLU in place; up may
// be wider than gate, as a per-layer slice of Gemma 4's per-layer embeddings is).
// round_f16: gelu may be evaluated through an f16 table as llama.cpp's CPU backend does
// (relative error < 1e-3); otherwise, and always on the GPU, the exact formula in f32.
struct GeGluParams {
  float* gate;      // [num_rows, num_cols]
  const float* up;  // [num_rows, up_stride]
  int64_t num_rows, num_cols, up_stride, up_offset;
  bool round_f16;
};

}  // namespace gs
