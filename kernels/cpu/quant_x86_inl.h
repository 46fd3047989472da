// Helpers shared by quant_avx2.cpp and quant_avx512.cpp; needs AVX2 + FMA + F16C.
//
// Everything here has internal linkage on purpose (static): each ISA file keeps its own copy, so
// the linker can never hand an AVX-512-compiled body to code running on a lesser CPU (which
// could happen with an ordinary inline function). For the same reason the ISA files use no
// inline functions or templates from other headers (quant_types.h's LoadU16, std::min, ...),
// save quant_cpu.h's TileOfVecDot, whose instantiations take their kernel argument's internal
// linkage.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace gs::cpu::x86 {

// Block layouts (bytes) of the activation formats, §4.5 and §4.12.
constexpr int64_t kQ8_0Bytes = 34;  // d fp16 @0, qs[32] int8 @2
constexpr int64_t kQ8KBytes = 292;  // d f32 @0, qs[256] int8 @4, bsums[16] int16 @260
constexpr int64_t kQ8KQsOffset = 4;
constexpr int64_t kQ8KBsumsOffset = 260;

static inline uint16_t LoadHalfBits(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

static inline float HalfToFloat(const uint8_t* p) { return _cvtsh_ss(LoadHalfBits(p)); }

static inline float LoadFloat(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}

// The fp16 fields at p, p + kStride, ... (count <= 8 of them) as 8 halves; missing ones are 0.
// Built in general-purpose registers: on Zen 5 as fast as vector inserts and far faster than a
// gather (measured).
template <int64_t kStride>
static inline __m128i GatherHalves(const uint8_t* p, int count) {
  uint64_t lo = 0, hi = 0;
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (i >= count) break;
    const uint64_t h = LoadHalfBits(p + i * kStride);
    if (i < 4) {
      lo |= h << (16 * i);
    } else {
      hi |= h << (16 * (i - 4));
    }
  }
  return _mm_insert_epi64(_mm_cvtsi64_si128(static_cast<int64_t>(lo)), static_cast<int64_t>(hi), 1);
}

// Up to 8 fp16 fields at stride kStride as floats (missing lanes 0): the scales of up to 8
// consecutive blocks of one row. Conversion is exact, so products of these are the products of
// the scalar values, one rounding each.
template <int64_t kStride>
static inline __m256 GatherScales(const uint8_t* p, int count) {
  return _mm256_cvtph_ps(GatherHalves<kStride>(p, count));
}

// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), llama.cpp's hsum_float_8 association: the
// last step of the summation order the dot products share with it (quant_cpu.h).
static inline float HsumF32x8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of each 8-lane vector's lanes, for two vectors: lanes 0 and 2 = Σg0, lanes 1 and 3 = Σg1.
static inline __m128i HsumI32x8Pair(__m256i g0, __m256i g1) {
  const __m256i h = _mm256_hadd_epi32(g0, g1);  // per lane: g0 pairs, g1 pairs
  const __m256i h2 = _mm256_hadd_epi32(h, h);   // per lane: Σg0 quarter, Σg1 quarter, ...
  return _mm_add_epi32(_mm256_castsi256_si128(h2), _mm256_extracti128_si256(h2, 1));
}

// A Q4_K block's d and dmin (fp16 at wb) in lanes 0 and 1.
static inline __m128 Q4KScales(const uint8_t* wb) {
  uint32_t d_dmin;
  std::memcpy(&d_dmin, wb, sizeof d_dmin);
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int32_t>(d_dmin)));
}

// One Q4_K block (Q4KScales d_dmin) of llama.cpp's two per-row float accumulators, acc in lane 0
// and acc_min in lane 1: acc += isum·(d·a.d) and acc_min += imin·(dmin·a.d), each one fused
// multiply-add, where isum and imin are the (exact) lane sums of `sums` and `min_sums`.
static inline __m128 AccumulateQ4K(__m128 d_dmin, float a_d, __m256i sums, __m256i min_sums,
                                   __m128 acc) {
  const __m128 scales = _mm_mul_ps(d_dmin, _mm_set1_ps(a_d));  // lanes 0, 1: d·a.d, dmin·a.d
  return _mm_fmadd_ps(_mm_cvtepi32_ps(HsumI32x8Pair(sums, min_sums)), scales, acc);
}

// acc - acc_min of AccumulateQ4K's accumulators: the Q4_K dot product.
static inline float Q4KResult(__m128 acc) {
  return _mm_cvtss_f32(_mm_sub_ss(acc, _mm_movehdup_ps(acc)));
}

// Q4_K/Q5_K 12-byte scale field (§4.9) -> eight 6-bit scales and eight 6-bit mins, one per byte
// (byte j of *scales = sc_j). Word-wise form of the per-j unpack: bytes 0-3 hold sc_0..3 in their
// low 6 bits and the top 2 bits of sc_4..7; bytes 4-7 likewise for the mins; bytes 8-11 hold the
// low 4 bits of sc_4..7 (low nibbles) and of mn_4..7 (high nibbles).
static inline void UnpackQ4KScales(const uint8_t* packed, uint64_t* scales, uint64_t* mins) {
  uint32_t w[3];
  std::memcpy(w, packed, sizeof w);
  const uint32_t sc_lo = w[0] & 0x3f3f3f3fu;
  const uint32_t mn_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u);
  *scales = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *mins = mn_lo | (static_cast<uint64_t>(mn_hi) << 32);
}

// fn.template operator()<kW, kA>() for kW = num_w_rows in [1, kMaxW] and kA = num_act_rows in
// [1, kMaxA]: a tile kernel compiled for each shape keeps its accumulators in registers.
template <int kMaxW, int kMaxA, typename Fn>
static inline void WithTileShape(int num_w_rows, int num_act_rows, Fn fn) {
  const auto with_act_rows = [&]<int kW>() {
    switch (num_act_rows) {
      case 1:
        return fn.template operator()<kW, 1>();
      case 2:
        if constexpr (kMaxA >= 2) return fn.template operator()<kW, 2>();
        break;
      case 3:
        if constexpr (kMaxA >= 3) return fn.template operator()<kW, 3>();
        break;
      case 4:
        if constexpr (kMaxA >= 4) return fn.template operator()<kW, 4>();
        break;
    }
    __builtin_unreachable();
  };
  switch (num_w_rows) {
    case 1:
      return with_act_rows.template operator()<1>();
    case 2:
      if constexpr (kMaxW >= 2) return with_act_rows.template operator()<2>();
      break;
    case 3:
      if constexpr (kMaxW >= 3) return with_act_rows.template operator()<3>();
      break;
    case 4:
      if constexpr (kMaxW >= 4) return with_act_rows.template operator()<4>();
      break;
  }
  __builtin_unreachable();
}

// Kernel::Run<kW, kA>(w, w_row_bytes, act, act_row_bytes, n, out, out_stride), a tile kernel of
// one shape, as its own function with every call inside inlined: the kernels keep their values
// in registers only if their small helpers and lambdas are inlined, which GCC's growth limits
// stop short of once several shapes share one function (measured: 2x slower AVX2 Q8_0 tiles).
template <typename Kernel, int kW, int kA>
[[gnu::flatten, gnu::noinline]] static void RunTile(const uint8_t* w, size_t w_row_bytes,
                                                    const uint8_t* act, size_t act_row_bytes,
                                                    int64_t n, float* out, int64_t out_stride) {
  Kernel::template Run<kW, kA>(w, w_row_bytes, act, act_row_bytes, n, out, out_stride);
}

// The 1 x 1 tile as a single-row dot: the tile kernels are the only implementation, so a dot and
// a tile output cannot disagree.
template <typename Kernel>
static float DotOfTile(const void* weight_row, const void* act_row, int64_t n) {
  float out;
  RunTile<Kernel, 1, 1>(static_cast<const uint8_t*>(weight_row), 0,
                        static_cast<const uint8_t*>(act_row), 0, n, &out, 0);
  return out;
}

}  // namespace gs::cpu::x86
