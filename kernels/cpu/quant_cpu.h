// Quantized dot products with the instruction set chosen once at run time: AVX-512 VNNI, then
// AVX2, then scalar code. Same semantics as kernels/ref/quant_ref.h: dots equal gs::ref::VecDot
// up to float rounding (integer block sums are exact; the reference sums in double); quantizers
// are byte-identical to gs::ref::QuantizeRow.
//
// Float order: the model is chaotic in float summation order (a last-bit change in a dot product
// can flip a later 8-bit activation rounding and grow to tenths of a logit). So the Q8_0, Q5_0,
// Q4_0, Q4_K and Q6_K dots give bit-identical results on every ISA, scalar included, in the float
// order of llama.cpp's x86 kernels (for logits as close to llama.cpp's as possible);
// tests/unit/quant_test spells that order out. In short, with fma = one rounding:
//   Q8_0/Q5_0/Q4_0: acc[k] = fma(w.d·a.d, Σ of block elements 4k..4k+3, acc[k]) block by block;
//   Q6_K: acc[k] = fma(a.d·w.d, lane k, acc[k]) per block, lane k = elements 4k..4k+3 of each
//     32-value chunk (unsigned quants) less 32·Σ scale·bsum over groups 2k, 2k+1;
//   both then return ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7));
//   Q4_K: acc = fma(isum, w.d·a.d, acc), acc_min = fma(imin, w.dmin·a.d, acc_min) per block,
//     then acc − acc_min.
//
// Coverage: scalar code (quant_scalar.cpp) has those five orders and runs the reference for the
// other types; AVX2 has Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, F32, F16, BF16 dots and the Q8_0 and Q8_K
// quantizers; AVX-512 VNNI has the Q8_0, Q4_0, Q5_0, Q4_K, Q6_K dots and uses the AVX2 kernels for
// the rest.
//
// Tiles: a dot tile computes the dots of up to kDotTileMaxWeightRows weight rows with up to
// kDotTileMaxActRows activation rows at once, each output bit-identical to the single-row dot
// (the same per-output FMA chain in the same block order). Interleaving the independent chains
// hides FMA latency (decode, one activation row), and a weight block unpacked once serves every
// activation row (prefill). Each ISA blocks a tile into shapes that fit its registers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::cpu {

enum class Isa { kScalar, kAvx2, kAvx512Vnni };

// float dot(weight row of the kernel's type, activation row in its vec_dot_type), n values.
using VecDotFn = float (*)(const void* weight_row, const void* act_row, int64_t n);
// out[r * out_stride + i] = dot(weight row i, activation row r) for i < num_w_rows (1 to
// kDotTileMaxWeightRows) and r < num_act_rows (1 to kDotTileMaxActRows), rows of n values; out is
// laid out like MatMul's y (activation rows of weight-row columns). Nothing else is written.
using DotTileFn = void (*)(const void* w, size_t w_row_bytes, int num_w_rows, const void* act,
                           size_t act_row_bytes, int num_act_rows, int64_t n, float* out,
                           int64_t out_stride);
constexpr int kDotTileMaxWeightRows = 4;
constexpr int kDotTileMaxActRows = 4;
// Quantizes n floats into the kernel's activation format.
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

// Whether this CPU (and OS) can run code built for `isa`.
bool CpuSupports(Isa isa);
// The best ISA on this CPU, capped by GS_CPU_ISA=scalar|avx2|avx512vnni in the environment.
Isa ActiveIsa();
const char* IsaName(Isa isa);

// Implementation for one ISA, or nullptr when that ISA has no kernel for the type (callers fall
// back to a lower ISA) or the CPU lacks it. kScalar always has one for computable types. An ISA
// has a dot tile for exactly the types it has a dot for, and the two agree bit for bit.
VecDotFn GetVecDotFor(Isa isa, GgmlType weight_type);
DotTileFn GetDotTileFor(Isa isa, GgmlType weight_type);
QuantizeRowFn GetQuantizeRowFor(Isa isa, GgmlType act_type);

// The fastest implementation under ActiveIsa() (never null for computable types / Q8_0, Q8_1,
// Q8_K, F32 activations). GetDotTile(t) comes from the same ISA as GetVecDot(t), so its outputs
// are GetVecDot(t)'s bits.
VecDotFn GetVecDot(GgmlType weight_type);
DotTileFn GetDotTile(GgmlType weight_type);
QuantizeRowFn GetQuantizeRow(GgmlType act_type);

namespace internal {

// One ISA's kernels for a weight type: both null, or a dot and a tile of the same bits.
struct DotKernels {
  VecDotFn dot;
  DotTileFn tile;
};

// Per-ISA kernel tables, each defined in the file built with that ISA's flags (quant_scalar.cpp,
// quant_avx2.cpp, quant_avx512.cpp); empty for types without a kernel. Call only when
// CpuSupports(isa): even the lookup is compiled for that ISA. Use GetVecDotFor / GetDotTileFor /
// GetQuantizeRowFor instead.
DotKernels ScalarDots(GgmlType weight_type);
QuantizeRowFn ScalarQuantizeRow(GgmlType act_type);
DotKernels Avx2Dots(GgmlType weight_type);
QuantizeRowFn Avx2QuantizeRow(GgmlType act_type);
DotKernels Avx512VnniDots(GgmlType weight_type);
QuantizeRowFn Avx512VnniQuantizeRow(GgmlType act_type);

// The tile of a type that has only a single-row dot kDot: one call per output. The ISA files may
// use it although it is a template from another header: kDot has internal linkage there, so
// every instantiation is private to the file that makes it (quant_x86_inl.h says why that
// matters).
template <VecDotFn kDot>
void TileOfVecDot(const void* w, size_t w_row_bytes, int num_w_rows, const void* act,
                  size_t act_row_bytes, int num_act_rows, int64_t n, float* out,
                  int64_t out_stride) {
  for (int r = 0; r < num_act_rows; ++r) {
    const void* act_row = static_cast<const uint8_t*>(act) + r * act_row_bytes;
    for (int i = 0; i < num_w_rows; ++i) {
      out[r * out_stride + i] = kDot(static_cast<const uint8_t*>(w) + i * w_row_bytes, act_row, n);
    }
  }
}

// {kDot, its one-call-per-output tile}.
template <VecDotFn kDot>
constexpr DotKernels SingleRowDot() {
  return {kDot, TileOfVecDot<kDot>};
}

}  // namespace internal

}  // namespace gs::cpu
