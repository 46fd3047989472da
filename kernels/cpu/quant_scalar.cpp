// Scalar kernels (baseline flags): the Isa::kScalar table. The model's weight types get llama.cpp's
// float order here too (quant_cpu.h), so a CPU without AVX2 computes the same bits as one with
// it; the other types run the double-precision reference, and so do the quantizers.
#include <cmath>
#include <cstdint>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/quant_types.h"
#include "kernels/ref/quant_ref.h"

namespace gs::cpu {
namespace {

template <GgmlType kType>
float RefVecDot(const void* weight_row, const void* act_row, int64_t n) {
  return ref::VecDot(kType, weight_row, act_row, n);
}

template <GgmlType kType>
void RefQuantizeRow(const float* src, void* dst, int64_t n) {
  ref::QuantizeRow(kType, src, dst, n);
}

float HalfAt(const uint8_t* p) { return Fp16ToFp32(LoadU16(p)); }

int Int8At(const uint8_t* p) { return static_cast<int8_t>(*p); }

int Int16At(const uint8_t* p) { return static_cast<int16_t>(LoadU16(p)); }

// ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)), the association of
// x86::HsumF32x8.
float ReduceLanes(const float acc[8]) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// ---- 32-value blocks against Q8_0 -------------------------------------------------------------

// Per block: lane k = Σ w.q·a.q over elements 4k..4k+3 (exact), acc[k] = fma(w.d·a.d, lane k,
// acc[k]); the SIMD kernels' order.
//
// BlockQuants(w_block, q) writes the block's 32 signed weight quants in element order.
template <int64_t kWeightBytes, void (*kBlockQuants)(const uint8_t*, int*)>
float DotQ8_0Family(const void* weight_row, const void* act_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  float acc[8] = {};
  for (int64_t blk_idx = 0; blk_idx < n / 32; ++blk_idx) {
    const uint8_t* wb = w + blk_idx * kWeightBytes;
    const uint8_t* ab = a + blk_idx * 34;
    int q[32];
    kBlockQuants(wb, q);
    const float d = HalfAt(wb) * HalfAt(ab);
    for (int k = 0; k < 8; ++k) {
      int lane = 0;
      for (int e = 4 * k; e < 4 * k + 4; ++e) lane += q[e] * Int8At(ab + 2 + e);
      acc[k] = std::fma(d, static_cast<float>(lane), acc[k]);
    }
  }
  return ReduceLanes(acc);
}

// Q8_0: d fp16 @0, qs[32] int8 @2.
void Q8_0Quants(const uint8_t* wb, int* q) {
  for (int e = 0; e < 32; ++e) q[e] = Int8At(wb + 2 + e);
}

// Q4_0: d fp16 @0, qs[16] @2 (element j low nibble, j + 16 high); q = nibble - 8.
void Q4_0Quants(const uint8_t* wb, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = (wb[2 + j] & 15) - 8;
    q[j + 16] = (wb[2 + j] >> 4) - 8;
  }
}

// Q5_0: d fp16 @0, qh u32 @2 (bit e = bit 4 of element e), qs[16] @6; q = code - 16.
void Q5_0Quants(const uint8_t* wb, int* q) {
  const uint32_t qh = LoadU32(wb + 2);
  for (int j = 0; j < 16; ++j) {
    q[j] = ((wb[6 + j] & 15) | (((qh >> j) & 1) << 4)) - 16;
    q[j + 16] = ((wb[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
  }
}

// ---- 256-value blocks against Q8_K (d f32 @0, qs[256] @4, bsums[16] int16 @260) --------------

// Q4_K: d @0, dmin @2 (fp16), scales[12] @4, qs[128] @16. Per block, with exact integers
// isum = Σ_j sc_j·Σ_{e∈j} q·aq and imin = Σ_j mn_j·(bsums[2j] + bsums[2j+1]):
// acc = fma(isum, d·a.d, acc), acc_min = fma(imin, dmin·a.d, acc_min); then acc − acc_min.
float DotQ4_K(const void* weight_row, const void* act_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  float acc = 0, acc_min = 0;
  for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
    const uint8_t* wb = w + blk_idx * 144;
    const uint8_t* ab = a + blk_idx * 292;
    const uint8_t* s = wb + 4;
    int isum = 0, imin = 0;
    for (int j = 0; j < 8; ++j) {
      // 6-bit scale and min of sub-block j (§4.9).
      const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
      const int mn = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
      // Sub-block j: the low (j even) or high nibbles of qs[32·(j/2)..+31].
      int sub_sum = 0;
      for (int l = 0; l < 32; ++l) {
        const int code = j % 2 ? wb[16 + 32 * (j / 2) + l] >> 4 : wb[16 + 32 * (j / 2) + l] & 15;
        sub_sum += code * Int8At(ab + 4 + 32 * j + l);
      }
      isum += sc * sub_sum;
      imin += mn * (Int16At(ab + 260 + 4 * j) + Int16At(ab + 262 + 4 * j));
    }
    const float a_d = LoadF32(ab);
    acc = std::fma(static_cast<float>(isum), HalfAt(wb) * a_d, acc);
    acc_min = std::fma(static_cast<float>(imin), HalfAt(wb + 2) * a_d, acc_min);
  }
  return acc - acc_min;
}

// Q6_K: ql[128] @0, qh[64] @128, scales[16] int8 @192, d fp16 @208. Per block, lane k sums
// sc·(q + 32)·aq over elements 4k..4k+3 of each 32-value chunk, less 32·Σ sc·bsum over groups
// 2k, 2k + 1 (exact integers, as the SIMD kernels' unsigned codes give them); then
// acc[k] = fma(a.d·d, lane k, acc[k]).
float DotQ6_K(const void* weight_row, const void* act_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  float acc[8] = {};
  for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
    const uint8_t* wb = w + blk_idx * 210;
    const uint8_t* ab = a + blk_idx * 292;
    // Codes q + 32 in element order: per 128-value half h and l < 32, ql = wb + 64h and
    // qh = wb[128 + 32h + l] give values l, l + 32, l + 64, l + 96 from lo4(ql[l]),
    // lo4(ql[l + 32]), hi4(ql[l]), hi4(ql[l + 32]) and qh bits 0-1, 2-3, 4-5, 6-7.
    int codes[256];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = wb + 64 * h;
      for (int l = 0; l < 32; ++l) {
        const int qh = wb[128 + 32 * h + l];
        codes[128 * h + l] = (ql[l] & 15) | ((qh & 3) << 4);
        codes[128 * h + l + 32] = (ql[l + 32] & 15) | (((qh >> 2) & 3) << 4);
        codes[128 * h + l + 64] = (ql[l] >> 4) | (((qh >> 4) & 3) << 4);
        codes[128 * h + l + 96] = (ql[l + 32] >> 4) | ((qh >> 6) << 4);
      }
    }
    const auto scale = [&](int group) { return Int8At(wb + 192 + group); };
    const float d = LoadF32(ab) * HalfAt(wb + 208);
    for (int k = 0; k < 8; ++k) {
      int lane = 0;
      for (int chunk = 0; chunk < 8; ++chunk) {
        for (int e = 32 * chunk + 4 * k; e < 32 * chunk + 4 * k + 4; ++e) {
          lane += scale(e / 16) * codes[e] * Int8At(ab + 4 + e);
        }
      }
      lane -= 32 * (Int16At(ab + 260 + 4 * k) * scale(2 * k) +
                    Int16At(ab + 262 + 4 * k) * scale(2 * k + 1));
      acc[k] = std::fma(d, static_cast<float>(lane), acc[k]);
    }
  }
  return ReduceLanes(acc);
}

}  // namespace

namespace internal {

DotKernels ScalarDots(GgmlType weight_type) {
  using T = GgmlType;
  switch (weight_type) {
    case T::kF32:
      return SingleRowDot<RefVecDot<T::kF32>>();
    case T::kF16:
      return SingleRowDot<RefVecDot<T::kF16>>();
    case T::kBF16:
      return SingleRowDot<RefVecDot<T::kBF16>>();
    case T::kQ4_0:
      return SingleRowDot<DotQ8_0Family<18, Q4_0Quants>>();
    case T::kQ4_1:
      return SingleRowDot<RefVecDot<T::kQ4_1>>();
    case T::kQ5_0:
      return SingleRowDot<DotQ8_0Family<22, Q5_0Quants>>();
    case T::kQ5_1:
      return SingleRowDot<RefVecDot<T::kQ5_1>>();
    case T::kQ8_0:
      return SingleRowDot<DotQ8_0Family<34, Q8_0Quants>>();
    case T::kQ2_K:
      return SingleRowDot<RefVecDot<T::kQ2_K>>();
    case T::kQ3_K:
      return SingleRowDot<RefVecDot<T::kQ3_K>>();
    case T::kQ4_K:
      return SingleRowDot<DotQ4_K>();
    case T::kQ5_K:
      return SingleRowDot<RefVecDot<T::kQ5_K>>();
    case T::kQ6_K:
      return SingleRowDot<DotQ6_K>();
    case T::kIQ4_NL:
      return SingleRowDot<RefVecDot<T::kIQ4_NL>>();
    case T::kIQ4_XS:
      return SingleRowDot<RefVecDot<T::kIQ4_XS>>();
    default:
      return {};
  }
}

QuantizeRowFn ScalarQuantizeRow(GgmlType act_type) {
  using T = GgmlType;
  switch (act_type) {
    case T::kF32:
      return RefQuantizeRow<T::kF32>;
    case T::kQ8_0:
      return RefQuantizeRow<T::kQ8_0>;
    case T::kQ8_1:
      return RefQuantizeRow<T::kQ8_1>;
    case T::kQ8_K:
      return RefQuantizeRow<T::kQ8_K>;
    default:
      return nullptr;
  }
}

}  // namespace internal
}  // namespace gs::cpu
