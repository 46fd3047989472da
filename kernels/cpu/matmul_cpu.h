// y = x · Wᵀ for f32 activations and weight matrices in any computable GGUF type: activations are
// quantized once to the weights' vec_dot format (8-bit for quantized weights), then dot tiles
// (quant_cpu.h) compute up to 4 weight rows x 4 activation rows at a time, each output
// bit-identical to the single-row dot GetVecDot gives: a row's result never depends on which
// other rows share the call (batch invariance). Threads split the weight rows, so each row is
// read from memory once per call however many activation rows there are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/quant_types.h"

namespace gs::cpu {

class ThreadPool;

// One weight matrix and where its product goes.
struct MatMulTarget {
  const void* w;  // [n, k] rows of w_row_bytes in w_type
  float* y;       // [num_x_rows, ldy]; columns [0, n) are written
  int64_t n, ldy;
  size_t w_row_bytes;
  GgmlType w_type;
};

constexpr size_t kMaxMatMulTargets = 4;

// Every target's product with the same x ([num_x_rows, k] f32) in one parallel pass: the
// activations are quantized once and one barrier ends the call (decode runs q/k/v and gate/up
// this way). Preconditions (the caller checks): 1 to kMaxMatMulTargets targets, all of whose
// types share one vec_dot format.
// scratch holds the quantized activations (grown as needed, never shrunk).
void MatMul(const float* x, int64_t num_x_rows, int64_t k, std::span<const MatMulTarget> targets,
            ThreadPool& pool, std::vector<uint8_t>& scratch);

}  // namespace gs::cpu
