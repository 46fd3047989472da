// Helpers shared by quant_avx2.cpp and quant_avx512.cpp; needs AVX2 + FMA + F16C.
//
// Everything here has internal linkage on purpose (static): each ISA file keeps its own copy, so
// the linker can never hand an AVX-512-compiled body to code running on a lesser CPU (which
// could happen with an ordinary inline function). For the same reason the ISA files use no
// inline functions or templates from other headers (quant_types.h's LoadU16, std::min, ...).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace gs::cpu::x86 {

// Block layouts (bytes) of the activation formats, §4.5 and §4.12.
constexpr int64_t kQ8_0Bytes = 34;        // d fp16 @0, qs[32] int8 @2
constexpr int64_t kQ8KBytes = 292;        // d f32 @0, qs[256] int8 @4, bsums[16] int16 @260
constexpr int64_t kQ8KQsOffset = 4;
constexpr int64_t kQ8KBsumsOffset = 260;

static inline float HalfToFloat(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

static inline float LoadFloat(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}

static inline float HsumF32x8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
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

}  // namespace gs::cpu::x86
