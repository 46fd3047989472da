// Device-side decoding of GGUF weight blocks, bit for bit the values of ref::DequantizeRow.
//
// Every supported type is read in *segments*: 32 consecutive values of a quantized row (one
// legacy block, one K-quant sub-block) or 8 consecutive values of a float row. A segment's
// scales are decoded once (Init) and its values are then produced four at a time (Get4, with a
// compile-time group index after unrolling), so callers never hold a run-time-indexed array.
//
// Exactness: every integer quant becomes a float through the 2^23 trick (an integer below 2^23
// OR-ed into the mantissa of 2^23, then 2^23 + bias subtracted: both steps exact), and the scale
// products use __fmul_rn / __fsub_rn so that nvcc cannot contract `dl * q - dm` into an FMA the
// reference (compiled without FMA) does not perform. F16 -> F32 conversion is exact in hardware.
//
// Alignment contract (the callers check it on the host): blocks of Q4_0, Q5_0, Q8_0 and Q6_K are
// read with 2-byte loads, so they may start at any even address; Q4_K and Q5_K blocks start on a
// 4-byte boundary; F32 segments on a 16-byte and F16/BF16 segments on an 8-byte boundary.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::cuda {

__device__ __forceinline__ uint32_t LdU16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);
}
// A little-endian u32 at a 2-byte-aligned address.
__device__ __forceinline__ uint32_t LdU32A2(const uint8_t* p) {
  return LdU16(p) | (LdU16(p + 2) << 16);
}
__device__ __forceinline__ uint32_t LdU32A4(const uint8_t* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}
__device__ __forceinline__ float HalfBits(uint32_t h) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}

// Byte byte_idx (0..3) of v, an unsigned value below 256, minus bias, as an exact float.
// __byte_perm builds 0x4B0000vv = 2^23 + v; subtracting 2^23 + bias is exact (all < 2^24).
template <int kByteIdx>
__device__ __forceinline__ float ByteMinus(uint32_t v, float bias) {
  const uint32_t bits = __byte_perm(v, 0x4B000000u, 0x7440u | kByteIdx);
  return __fsub_rn(__uint_as_float(bits), 8388608.0f + bias);
}

// Four bytes of v (each < 256) minus bias, scaled by d: d * (b - bias), as the reference does.
__device__ __forceinline__ float4 ScaleBytes(uint32_t v, float bias, float d) {
  return make_float4(__fmul_rn(d, ByteMinus<0>(v, bias)), __fmul_rn(d, ByteMinus<1>(v, bias)),
                     __fmul_rn(d, ByteMinus<2>(v, bias)), __fmul_rn(d, ByteMinus<3>(v, bias)));
}

// Four bytes of v (each < 256) as dl * b - dm (K-quants with a min).
__device__ __forceinline__ float4 ScaleMinBytes(uint32_t v, float dl, float dm) {
  return make_float4(__fsub_rn(__fmul_rn(dl, ByteMinus<0>(v, 0.f)), dm),
                     __fsub_rn(__fmul_rn(dl, ByteMinus<1>(v, 0.f)), dm),
                     __fsub_rn(__fmul_rn(dl, ByteMinus<2>(v, 0.f)), dm),
                     __fsub_rn(__fmul_rn(dl, ByteMinus<3>(v, 0.f)), dm));
}

// Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at s.
__device__ __forceinline__ void ScaleMin6(const uint8_t* s, int j, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Segment decoders. Each has:
//   kBlockElems, kBlockBytes  the GGUF block geometry (1 and the element size for float types)
//   kSegElems                 values per segment (32 or 8); kSegElems / 4 groups
//   kSegsPerBlock             segments per block (1 for float types: a segment spans blocks)
//   Init(block, seg_in_block) block = the block holding the segment's first value
//   Get4(group_idx)           values [4 * group_idx, 4 * group_idx + 4) of the segment
template <GgmlType kType>
struct Seg;

template <>
struct Seg<GgmlType::kF32> {
  static constexpr GgmlType kType = GgmlType::kF32;
  static constexpr int kBlockElems = 1, kBlockBytes = 4, kSegElems = 8, kSegsPerBlock = 1;
  const uint8_t* p;
  __device__ __forceinline__ void Init(const uint8_t* block, int) { p = block; }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    return *reinterpret_cast<const float4*>(p + 16 * group_idx);
  }
};

template <>
struct Seg<GgmlType::kF16> {
  static constexpr GgmlType kType = GgmlType::kF16;
  static constexpr int kBlockElems = 1, kBlockBytes = 2, kSegElems = 8, kSegsPerBlock = 1;
  const uint8_t* p;
  __device__ __forceinline__ void Init(const uint8_t* block, int) { p = block; }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint2 v = *reinterpret_cast<const uint2*>(p + 8 * group_idx);
    return make_float4(HalfBits(v.x & 0xFFFFu), HalfBits(v.x >> 16), HalfBits(v.y & 0xFFFFu),
                       HalfBits(v.y >> 16));
  }
};

template <>
struct Seg<GgmlType::kBF16> {
  static constexpr GgmlType kType = GgmlType::kBF16;
  static constexpr int kBlockElems = 1, kBlockBytes = 2, kSegElems = 8, kSegsPerBlock = 1;
  const uint8_t* p;
  __device__ __forceinline__ void Init(const uint8_t* block, int) { p = block; }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint2 v = *reinterpret_cast<const uint2*>(p + 8 * group_idx);
    return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xFFFF0000u),
                       __uint_as_float(v.y << 16), __uint_as_float(v.y & 0xFFFF0000u));
  }
};

// Q8_0: d f16, qs[32] int8. x = d * q.
template <>
struct Seg<GgmlType::kQ8_0> {
  static constexpr GgmlType kType = GgmlType::kQ8_0;
  static constexpr int kBlockElems = 32, kBlockBytes = 34, kSegElems = 32, kSegsPerBlock = 1;
  const uint8_t* qs;
  float d;
  __device__ __forceinline__ void Init(const uint8_t* block, int) {
    d = HalfBits(LdU16(block));
    qs = block + 2;
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    // int8 -> offset binary (q + 128) so that the byte trick sees an unsigned value.
    return ScaleBytes(LdU32A2(qs + 4 * group_idx) ^ 0x80808080u, 128.f, d);
  }
};

// Q4_0: d f16, qs[16]; value j in the low nibble of qs[j], value j + 16 in the high. x = d*(n-8).
template <>
struct Seg<GgmlType::kQ4_0> {
  static constexpr GgmlType kType = GgmlType::kQ4_0;
  static constexpr int kBlockElems = 32, kBlockBytes = 18, kSegElems = 32, kSegsPerBlock = 1;
  const uint8_t* qs;
  float d;
  __device__ __forceinline__ void Init(const uint8_t* block, int) {
    d = HalfBits(LdU16(block));
    qs = block + 2;
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint32_t v = LdU32A2(qs + 4 * (group_idx & 3));
    const uint32_t nib = (group_idx < 4 ? v : v >> 4) & 0x0F0F0F0Fu;
    return ScaleBytes(nib, 8.f, d);
  }
};

// Q5_0: d f16, qh u32 (bit e = bit 4 of value e), qs[16] as Q4_0. x = d * (q5 - 16).
template <>
struct Seg<GgmlType::kQ5_0> {
  static constexpr GgmlType kType = GgmlType::kQ5_0;
  static constexpr int kBlockElems = 32, kBlockBytes = 22, kSegElems = 32, kSegsPerBlock = 1;
  const uint8_t* qs;
  uint32_t qh;
  float d;
  __device__ __forceinline__ void Init(const uint8_t* block, int) {
    d = HalfBits(LdU16(block));
    qh = LdU32A2(block + 2);
    qs = block + 6;
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint32_t v = LdU32A2(qs + 4 * (group_idx & 3));
    const uint32_t nib = (group_idx < 4 ? v : v >> 4) & 0x0F0F0F0Fu;
    // Bits 4g..4g+3 of qh move to bit 4 of bytes 0..3.
    const uint32_t b = (qh >> (4 * group_idx)) & 0xFu;
    const uint32_t fifth = ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
    return ScaleBytes(nib | fifth, 16.f, d);
  }
};

// Q4_K: d, dmin f16, scales[12], qs[128]. Sub-block j (32 values) is the low (j even) or high
// (j odd) nibbles of qs[32 * (j / 2), +32). x = (d * sc_j) * q - dmin * mn_j.
template <>
struct Seg<GgmlType::kQ4_K> {
  static constexpr GgmlType kType = GgmlType::kQ4_K;
  static constexpr int kBlockElems = 256, kBlockBytes = 144, kSegElems = 32, kSegsPerBlock = 8;
  const uint8_t* qs;
  float dl, dm;
  int shift;
  __device__ __forceinline__ void Init(const uint8_t* block, int seg_in_block) {
    int sc, mn;
    ScaleMin6(block + 4, seg_in_block, &sc, &mn);
    dl = __fmul_rn(HalfBits(LdU16(block)), static_cast<float>(sc));
    dm = __fmul_rn(HalfBits(LdU16(block + 2)), static_cast<float>(mn));
    qs = block + 16 + 32 * (seg_in_block >> 1);
    shift = 4 * (seg_in_block & 1);
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint32_t nib = (LdU32A4(qs + 4 * group_idx) >> shift) & 0x0F0F0F0Fu;
    return ScaleMinBytes(nib, dl, dm);
  }
};

// Q5_K: d, dmin, scales[12], qh[32], qs[128]; as Q4_K plus bit j of qh[l] as bit 4 of value l of
// sub-block j.
template <>
struct Seg<GgmlType::kQ5_K> {
  static constexpr GgmlType kType = GgmlType::kQ5_K;
  static constexpr int kBlockElems = 256, kBlockBytes = 176, kSegElems = 32, kSegsPerBlock = 8;
  const uint8_t* qs;
  const uint8_t* qh;
  float dl, dm;
  int shift, sub_idx;
  __device__ __forceinline__ void Init(const uint8_t* block, int seg_in_block) {
    int sc, mn;
    ScaleMin6(block + 4, seg_in_block, &sc, &mn);
    dl = __fmul_rn(HalfBits(LdU16(block)), static_cast<float>(sc));
    dm = __fmul_rn(HalfBits(LdU16(block + 2)), static_cast<float>(mn));
    qh = block + 16;
    qs = block + 48 + 32 * (seg_in_block >> 1);
    shift = 4 * (seg_in_block & 1);
    sub_idx = seg_in_block;
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint32_t nib = (LdU32A4(qs + 4 * group_idx) >> shift) & 0x0F0F0F0Fu;
    const uint32_t fifth = ((LdU32A4(qh + 4 * group_idx) >> sub_idx) & 0x01010101u) << 4;
    return ScaleMinBytes(nib | fifth, dl, dm);
  }
};

// Q6_K: ql[128], qh[64], scales[16] int8, d f16. Segment s (32 values): half h = s / 4,
// quarter q = s % 4; low nibble (q < 2) or high nibble of ql[64h + 32(q & 1) + l], two bits
// (2q) of qh[32h + l]; x = (d * sc_g) * (q6 - 32), g = 16-value group.
template <>
struct Seg<GgmlType::kQ6_K> {
  static constexpr GgmlType kType = GgmlType::kQ6_K;
  static constexpr int kBlockElems = 256, kBlockBytes = 210, kSegElems = 32, kSegsPerBlock = 8;
  const uint8_t* ql;
  const uint8_t* qh;
  float dl0, dl1;  // groups 2s and 2s + 1
  int shift_lo, shift_hi;
  __device__ __forceinline__ void Init(const uint8_t* block, int seg_in_block) {
    const int half = seg_in_block >> 2, quarter = seg_in_block & 3;
    const float d = HalfBits(LdU16(block + 208));
    const uint32_t sc2 = LdU16(block + 192 + 2 * seg_in_block);
    dl0 = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(sc2 & 0xFFu)));
    dl1 = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(sc2 >> 8)));
    ql = block + 64 * half + 32 * (quarter & 1);
    qh = block + 128 + 32 * half;
    shift_lo = quarter < 2 ? 0 : 4;
    shift_hi = 2 * quarter;
  }
  __device__ __forceinline__ float4 Get4(int group_idx) const {
    const uint32_t lo = (LdU32A2(ql + 4 * group_idx) >> shift_lo) & 0x0F0F0F0Fu;
    const uint32_t hi = ((LdU32A2(qh + 4 * group_idx) >> shift_hi) & 0x03030303u) << 4;
    return ScaleBytes(lo | hi, 32.f, group_idx < 4 ? dl0 : dl1);
  }
};

// Segment seg_idx of a row that starts at row (any memory space the pointer can address).
template <GgmlType kType>
__device__ __forceinline__ Seg<kType> RowSeg(const uint8_t* row, int64_t seg_idx) {
  using S = Seg<kType>;
  Seg<kType> s;
  if constexpr (S::kSegsPerBlock == 1 && S::kBlockElems == 1) {
    s.Init(row + seg_idx * S::kSegElems * S::kBlockBytes, 0);
  } else {
    s.Init(row + (seg_idx / S::kSegsPerBlock) * S::kBlockBytes,
           static_cast<int>(seg_idx % S::kSegsPerBlock));
  }
  return s;
}

// Calls fn(Seg<type>{}) for a supported type (the tag's kType is a constant); false otherwise.
// Used by the host launchers to turn a run-time GgmlType into a template argument.
template <typename Fn>
bool DispatchQuantType(GgmlType type, Fn&& fn) {
  switch (type) {
    case GgmlType::kF32:
      fn(Seg<GgmlType::kF32>{});
      return true;
    case GgmlType::kF16:
      fn(Seg<GgmlType::kF16>{});
      return true;
    case GgmlType::kBF16:
      fn(Seg<GgmlType::kBF16>{});
      return true;
    case GgmlType::kQ8_0:
      fn(Seg<GgmlType::kQ8_0>{});
      return true;
    case GgmlType::kQ4_0:
      fn(Seg<GgmlType::kQ4_0>{});
      return true;
    case GgmlType::kQ5_0:
      fn(Seg<GgmlType::kQ5_0>{});
      return true;
    case GgmlType::kQ4_K:
      fn(Seg<GgmlType::kQ4_K>{});
      return true;
    case GgmlType::kQ5_K:
      fn(Seg<GgmlType::kQ5_K>{});
      return true;
    case GgmlType::kQ6_K:
      fn(Seg<GgmlType::kQ6_K>{});
      return true;
    default:
      return false;
  }
}

}  // namespace gs::cuda
