// Scalar reference for every computable GGUF type: the oracle that SIMD kernels are tested
// against. Formulas: ../shared/reference/gguf-quant-tokenizer.md §4-§5.
#pragma once

#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::ref {

// dst[0, n) = the values of a row of `type` at src. n % block_elems(type) == 0.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Quantizes an f32 activation row into `act_type`, one of the vec_dot formats: Q8_0, Q8_1, Q8_K
// (as llama.cpp does: Q8_K rounds half to even; Q8_0/Q8_1 round half away from zero), or F32 (a
// copy). n % block_elems(act_type) == 0.
void QuantizeRow(GgmlType act_type, const float* src, void* dst, int64_t n);

// Dot product of a weight row of `type` with an activation row already in
// GetTypeTraits(type).vec_dot_type; integer sums per block, then scaled.
float VecDot(GgmlType type, const void* weight_row, const void* act_row, int64_t n);

}  // namespace gs::ref
