// Small-batch matrix products straight from GGUF weight blocks (decode steps):
//   out[r, o] = sum_c x[r, c] * W[o, c],  r < num_rows <= kMatVecMaxRows,
// for up to kMatVecMaxTargets weight matrices that share x (q/k/v, gate/up) in one call.
// Twin: ref::DequantizeRow then a dot product (tests/cuda/matmul_cuda_test.cpp).
//
// Accumulation is f32 with the weights dequantized to exactly ref::DequantizeRow's values; x stays
// f32 (no activation quantization), so results match an f64 reference to ~1e-6 relative.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::cuda {

inline constexpr int kMatVecMaxRows = 8;
inline constexpr int kMatVecMaxTargets = 4;

struct MatVecTarget {
  const void* w;       // [num_out, row_bytes] GGUF blocks, row o at w + o * row_bytes
  float* out;          // [num_rows, out_stride] f32; columns [num_out, out_stride) untouched
  int64_t num_out;     // output features (weight rows), >= 1
  int64_t out_stride;  // >= num_out
  size_t row_bytes;    // RowBytes(type, num_cols)
  GgmlType type;       // MatVecSupports(type)
};

struct MatVecParams {
  const float* x;    // [num_rows, num_cols] f32, row-major, 16-byte aligned
  int64_t num_rows;  // 1..kMatVecMaxRows
  int64_t num_cols;  // multiple of the types' block sizes (and of 8 for F32/F16/BF16)
  MatVecTarget targets[kMatVecMaxTargets];
  int32_t num_targets;  // 1..kMatVecMaxTargets
};

// F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K.
bool MatVecSupports(GgmlType type);

// Enqueues the products on stream (one launch per distinct weight type among the targets).
// Invariants, checked on the host (a violation aborts): every w is 16-byte aligned and readable
// up to the next 16-byte boundary past its last byte (true of any cudaMalloc'd buffer); x is
// 16-byte aligned; out does not alias x or w. Capturable into a CUDA graph.
void MatVec(const MatVecParams& p, cudaStream_t stream);

}  // namespace gs::cuda
