// y = x · Wᵀ for f32 activations and a weight matrix in any computable GGUF type: activations are
// quantized once to the weight type's vec_dot format (8-bit for quantized weights), then every
// (activation row, weight row) pair is one integer dot product. Threads split the weight rows,
// so each row is read from memory once per call however many activation rows there are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/quant_types.h"

namespace gs::cpu {

class ThreadPool;

struct MatMulParams {
  const float* x;        // [num_x_rows, k]
  const void* w;         // [n, k] rows of w_row_bytes in w_type
  float* y;              // [num_x_rows, ldy]; writes columns [0, n)
  int64_t num_x_rows, k, n, ldy;
  size_t w_row_bytes;
  GgmlType w_type;
};

// scratch holds the quantized activations between calls (grown as needed, never shrunk).
void MatMul(const MatMulParams& p, ThreadPool& pool, std::vector<uint8_t>& scratch);

}  // namespace gs::cpu
