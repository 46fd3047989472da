// SIMD quantized dot products with the instruction set chosen once at run time:
// AVX-512 VNNI, then AVX2, then the scalar reference. Same semantics as kernels/ref/quant_ref.h:
// dots equal gs::ref::VecDot up to float rounding (integer block sums are exact); quantizers are
// byte-identical to gs::ref::QuantizeRow.
//
// Float order: the model is chaotic in float summation order (a last-bit change in a dot product
// can flip a later 8-bit activation rounding and grow to tenths of a logit). So the Q8_0, Q5_0,
// Q4_0, Q4_K and Q6_K dots give bit-identical results on AVX2 and AVX-512, in the float order of
// llama.cpp's x86 kernels (for logits as close to llama.cpp's as possible); tests/unit/quant_test
// spells that order out in scalar code. In short, with fma = one rounding:
//   Q8_0/Q5_0/Q4_0: acc[k] = fma(w.d·a.d, Σ of block elements 4k..4k+3, acc[k]) block by block;
//   Q6_K: acc[k] = fma(a.d·w.d, lane k, acc[k]) per block, lane k = elements 4k..4k+3 of each
//     32-value chunk (unsigned quants) less 32·Σ scale·bsum over groups 2k, 2k+1;
//   both then return ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7));
//   Q4_K: acc = fma(isum, w.d·a.d, acc), acc_min = fma(imin, w.dmin·a.d, acc_min) per block,
//     then acc − acc_min.
//
// SIMD coverage: AVX2 has Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, F32, F16, BF16 dots and the Q8_0 and Q8_K
// quantizers; AVX-512 VNNI has the Q8_0, Q4_0, Q5_0, Q4_K, Q6_K dots and uses the AVX2 kernels for
// the rest. Every other type runs the scalar reference.
#pragma once

#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::cpu {

enum class Isa { kScalar, kAvx2, kAvx512Vnni };

// float dot(weight row of the kernel's type, activation row in its vec_dot_type), n values.
using VecDotFn = float (*)(const void* weight_row, const void* act_row, int64_t n);
// Quantizes n floats into the kernel's activation format.
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

// Whether this CPU (and OS) can run code built for `isa`.
bool CpuSupports(Isa isa);
// The best ISA on this CPU, capped by GS_CPU_ISA=scalar|avx2|avx512vnni in the environment.
Isa ActiveIsa();
const char* IsaName(Isa isa);

// Implementation for one ISA, or nullptr when that ISA has no kernel for the type (callers fall
// back to a lower ISA) or the CPU lacks it. kScalar always has one for computable types.
VecDotFn GetVecDotFor(Isa isa, GgmlType weight_type);
QuantizeRowFn GetQuantizeRowFor(Isa isa, GgmlType act_type);

// The fastest implementation under ActiveIsa() (never null for computable types / Q8_0, Q8_1,
// Q8_K, F32 activations).
VecDotFn GetVecDot(GgmlType weight_type);
QuantizeRowFn GetQuantizeRow(GgmlType act_type);

// Per-ISA kernel tables, each defined in the file built with that ISA's flags (quant_avx2.cpp,
// quant_avx512.cpp); nullptr for types without a kernel. Call only when CpuSupports(isa): even
// the lookup is compiled for that ISA. Use GetVecDotFor / GetQuantizeRowFor instead.
namespace internal {
VecDotFn Avx2VecDot(GgmlType weight_type);
QuantizeRowFn Avx2QuantizeRow(GgmlType act_type);
VecDotFn Avx512VnniVecDot(GgmlType weight_type);
QuantizeRowFn Avx512VnniQuantizeRow(GgmlType act_type);
}  // namespace internal

}  // namespace gs::cpu
