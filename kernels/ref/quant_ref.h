// Scalar reference for every computable GGUF type: the oracle that SIMD kernels are tested
// against. Formulas: ggml's ggml-quants.c and the GGUF specification.
//
// Rows are n values long and n is a multiple of the type's block_elems (checked: a violation
// aborts). Activation quants produced here stay in [-127, 127]; the SIMD kernels rely on that.
#pragma once

#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::ref {

// dst[0, n) = the values of a row of `type` at src. n % block_elems(type) == 0. Every computable
// type plus the activation-only Q8_1 and Q8_K.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Quantizes an f32 activation row into `act_type`, one of the vec_dot formats: Q8_0, Q8_1, Q8_K,
// or F32 (a copy). n % block_elems(act_type) == 0. All round half to even, as llama.cpp's x86
// CPU backend does (for Q8_0/Q8_1 that is its SIMD path, q = x * (127 / amax); its scalar
// reference would use x * (1 / d) and round half away from zero).
void QuantizeRow(GgmlType act_type, const float* src, void* dst, int64_t n);

// Dot product of a weight row of `type` with an activation row already in
// GetTypeTraits(type).vec_dot_type; integer sums per block, then scaled.
float VecDot(GgmlType type, const void* weight_row, const void* act_row, int64_t n);

// The IQ4_NL / IQ4_XS non-linear 4-bit code book (§4.13).
inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace gs::ref
