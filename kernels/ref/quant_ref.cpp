#include "kernels/ref/quant_ref.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gs::ref {
namespace {

// Every block is decoded to integer quants plus float scales first; dequantization and the dot
// products then apply §4's and §5.3's formulas to those integers, so both share one decoder.

constexpr int kLegacyElems = 32;  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL
constexpr int kSuperElems = 256;  // K-quants, IQ4_XS, Q8_K

[[noreturn]] void Fail(const char* fn, GgmlType type, int64_t n) {
  const TypeTraits* traits = FindTypeTraits(static_cast<int32_t>(type));
  std::fprintf(stderr, "gs::ref::%s: type %s (%d) with n=%lld is not supported\n", fn,
               traits ? traits->name : "?", static_cast<int>(type), static_cast<long long>(n));
  std::abort();
}

void CheckRow(const char* fn, GgmlType type, int64_t n) {
  const TypeTraits* traits = FindTypeTraits(static_cast<int32_t>(type));
  if (!traits || n < 0 || n % traits->block_elems != 0) Fail(fn, type, n);
}

float LoadHalf(const uint8_t* p) { return Fp16ToFp32(LoadU16(p)); }

void StoreHalf(uint8_t* p, float f) {
  const uint16_t h = Fp32ToFp16(f);
  std::memcpy(p, &h, sizeof h);
}

// A 32-value block as integers: x_e = d * q_e, plus m when has_min.
struct LegacyBlock {
  float d = 0;
  float m = 0;
  bool has_min = false;
  int8_t q[kLegacyElems] = {};
};

// Split-half nibbles: qs[j] holds element j in its low and element j + 16 in its high nibble.
void UnpackNibbles(const uint8_t* qs, uint8_t* nib) {
  for (int j = 0; j < kLegacyElems / 2; ++j) {
    nib[j] = qs[j] & 0xF;
    nib[j + kLegacyElems / 2] = qs[j] >> 4;
  }
}

// Q5_0/Q5_1: bit e of the little-endian u32 at qh is bit 4 of element e.
void AddFifthBits(const uint8_t* qh, uint8_t* q) {
  const uint32_t bits = LoadU32(qh);
  for (int e = 0; e < kLegacyElems; ++e) q[e] |= static_cast<uint8_t>(((bits >> e) & 1u) << 4);
}

LegacyBlock DecodeLegacy(GgmlType type, const uint8_t* blk) {
  LegacyBlock b;
  uint8_t u[kLegacyElems];
  b.d = LoadHalf(blk);
  switch (type) {
    case GgmlType::kQ4_0:  // d, qs[16]
      UnpackNibbles(blk + 2, u);
      for (int e = 0; e < kLegacyElems; ++e) b.q[e] = static_cast<int8_t>(u[e] - 8);
      break;
    case GgmlType::kQ4_1:  // d, m, qs[16]
      b.m = LoadHalf(blk + 2);
      b.has_min = true;
      UnpackNibbles(blk + 4, u);
      for (int e = 0; e < kLegacyElems; ++e) b.q[e] = static_cast<int8_t>(u[e]);
      break;
    case GgmlType::kQ5_0:  // d, qh u32, qs[16]
      UnpackNibbles(blk + 6, u);
      AddFifthBits(blk + 2, u);
      for (int e = 0; e < kLegacyElems; ++e) b.q[e] = static_cast<int8_t>(u[e] - 16);
      break;
    case GgmlType::kQ5_1:  // d, m, qh u32, qs[16]
      b.m = LoadHalf(blk + 2);
      b.has_min = true;
      UnpackNibbles(blk + 8, u);
      AddFifthBits(blk + 4, u);
      for (int e = 0; e < kLegacyElems; ++e) b.q[e] = static_cast<int8_t>(u[e]);
      break;
    case GgmlType::kQ8_0:  // d, qs[32]
      std::memcpy(b.q, blk + 2, kLegacyElems);
      break;
    case GgmlType::kQ8_1:  // d, s, qs[32]; s only matters to dot products
      std::memcpy(b.q, blk + 4, kLegacyElems);
      break;
    case GgmlType::kIQ4_NL:  // d, qs[16] indexing the code book
      UnpackNibbles(blk + 2, u);
      for (int e = 0; e < kLegacyElems; ++e) b.q[e] = kIq4NlValues[u[e]];
      break;
    default:
      Fail("DecodeLegacy", type, kLegacyElems);
  }
  return b;
}

// A 256-value block as integers, in groups of group_elems consecutive values:
// x_e = (d * sc_g) * q_e, minus dmin * mn_g when has_min.
struct SuperBlock {
  float d = 0;
  float dmin = 0;
  bool has_min = false;
  int group_elems = 16;  // 16 or 32
  int sc[16] = {};
  int mn[16] = {};
  int8_t q[kSuperElems] = {};
};

// Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins packed into 12 bytes.
void UnpackScaleMin6(const uint8_t* s, int sub_idx, int* sc, int* mn) {
  const int j = sub_idx;
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K/Q5_K low nibbles: each 32-byte chunk of qs feeds 64 values, low nibbles first.
uint8_t Q4KNibble(const uint8_t* qs, int e) {
  const int chunk = e / 64, k = e % 64;
  const uint8_t b = qs[32 * chunk + k % 32];
  return k < 32 ? (b & 0xF) : (b >> 4);
}

SuperBlock DecodeSuper(GgmlType type, const uint8_t* blk) {
  SuperBlock b;
  switch (type) {
    case GgmlType::kQ2_K: {  // scales[16], qs[64], d, dmin
      const uint8_t* qs = blk + 16;
      b.d = LoadHalf(blk + 80);
      b.dmin = LoadHalf(blk + 82);
      b.has_min = true;
      for (int g = 0; g < 16; ++g) {
        b.sc[g] = blk[g] & 0xF;
        b.mn[g] = blk[g] >> 4;
      }
      for (int e = 0; e < kSuperElems; ++e) {
        const int half = e / 128, shift_idx = (e % 128) / 32, l = e % 32;
        b.q[e] = static_cast<int8_t>((qs[32 * half + l] >> (2 * shift_idx)) & 3);
      }
      break;
    }
    case GgmlType::kQ3_K: {  // hmask[32], qs[64], scales[12], d
      const uint8_t* hmask = blk;
      const uint8_t* qs = blk + 32;
      const uint8_t* s = blk + 96;
      b.d = LoadHalf(blk + 108);
      for (int g = 0; g < 16; ++g) {
        const int low4 = g < 8 ? (s[g] & 0xF) : (s[g - 8] >> 4);
        const int high2 = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        b.sc[g] = (low4 | (high2 << 4)) - 32;
      }
      for (int e = 0; e < kSuperElems; ++e) {
        const int half = e / 128, shift_idx = (e % 128) / 32, l = e % 32;
        const int lo = (qs[32 * half + l] >> (2 * shift_idx)) & 3;
        const int hb = (hmask[l] >> (4 * half + shift_idx)) & 1;
        b.q[e] = static_cast<int8_t>(lo + 4 * hb - 4);  // a set high bit means "no -4"
      }
      break;
    }
    case GgmlType::kQ4_K:    // d, dmin, scales[12], qs[128]
    case GgmlType::kQ5_K: {  // d, dmin, scales[12], qh[32], qs[128]
      const bool five_bits = type == GgmlType::kQ5_K;
      const uint8_t* qh = blk + 16;
      const uint8_t* qs = blk + (five_bits ? 48 : 16);
      b.d = LoadHalf(blk);
      b.dmin = LoadHalf(blk + 2);
      b.has_min = true;
      b.group_elems = 32;
      for (int j = 0; j < 8; ++j) UnpackScaleMin6(blk + 4, j, &b.sc[j], &b.mn[j]);
      for (int e = 0; e < kSuperElems; ++e) {
        int v = Q4KNibble(qs, e);
        if (five_bits) v += 16 * ((qh[e % 32] >> (e / 32)) & 1);
        b.q[e] = static_cast<int8_t>(v);
      }
      break;
    }
    case GgmlType::kQ6_K: {  // ql[128], qh[64], scales[16] int8, d
      const uint8_t* ql = blk;
      const uint8_t* qh = blk + 128;
      b.d = LoadHalf(blk + 208);
      for (int g = 0; g < 16; ++g) b.sc[g] = static_cast<int8_t>(blk[192 + g]);
      for (int e = 0; e < kSuperElems; ++e) {
        const int half = e / 128, k = e % 128, quarter = k / 32, l = k % 32;
        const uint8_t byte = ql[64 * half + 32 * (quarter & 1) + l];
        const int lo = quarter < 2 ? (byte & 0xF) : (byte >> 4);
        const int hi = (qh[32 * half + l] >> (2 * quarter)) & 3;
        b.q[e] = static_cast<int8_t>((lo | (hi << 4)) - 32);
      }
      break;
    }
    case GgmlType::kIQ4_XS: {  // d, scales_h u16, scales_l[4], qs[128]
      const uint16_t scales_h = LoadU16(blk + 2);
      const uint8_t* scales_l = blk + 4;
      const uint8_t* qs = blk + 8;
      b.d = LoadHalf(blk);
      b.group_elems = 32;
      for (int s = 0; s < 8; ++s) {
        const int ls =
            ((scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((scales_h >> (2 * s)) & 3) << 4);
        b.sc[s] = ls - 32;
        uint8_t nib[kLegacyElems];
        UnpackNibbles(qs + 16 * s, nib);
        for (int e = 0; e < kLegacyElems; ++e) b.q[32 * s + e] = kIq4NlValues[nib[e]];
      }
      break;
    }
    case GgmlType::kQ8_K:  // d f32, qs[256], bsums[16]; bsums only matter to dot products
      b.d = LoadF32(blk);
      for (int g = 0; g < 16; ++g) b.sc[g] = 1;
      std::memcpy(b.q, blk + 4, kSuperElems);
      break;
    default:
      Fail("DecodeSuper", type, kSuperElems);
  }
  return b;
}

bool IsLegacy(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1:
    case GgmlType::kIQ4_NL:
      return true;
    default:
      return false;
  }
}

bool IsSuper(GgmlType type) {
  switch (type) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kIQ4_XS:
    case GgmlType::kQ8_K:
      return true;
    default:
      return false;
  }
}

// Q8_0 (with_sum = false) or Q8_1 (with_sum = true) blocks: d = amax / 127 stored as fp16, q =
// round-half-even(x * (127 / amax)). This is llama.cpp's x86 SIMD quantizer (the one its CPU
// backend runs here), not its scalar reference (x * (1/d), half away from zero), so that goldens
// recorded with llama.cpp see the same activation quants. nearbyint: default mode, ties to even.
void QuantizeQ8Legacy(const float* src, uint8_t* dst, int64_t n, bool with_sum) {
  const int64_t block_bytes = with_sum ? 36 : 34;
  for (int64_t blk_idx = 0; blk_idx < n / kLegacyElems; ++blk_idx) {
    const float* x = src + blk_idx * kLegacyElems;
    uint8_t* out = dst + blk_idx * block_bytes;
    float amax = 0;
    for (int e = 0; e < kLegacyElems; ++e) amax = std::fmax(amax, std::fabs(x[e]));
    const float d = amax / 127.0f;
    const float inv_d = amax != 0 ? 127.0f / amax : 0.0f;
    int8_t* q = reinterpret_cast<int8_t*>(out + (with_sum ? 4 : 2));
    int sum = 0;
    for (int e = 0; e < kLegacyElems; ++e) {
      q[e] = static_cast<int8_t>(std::nearbyint(x[e] * inv_d));
      sum += q[e];
    }
    StoreHalf(out, d);
    if (with_sum) StoreHalf(out + 2, static_cast<float>(sum) * d);
  }
}

// Q8_K blocks: the signed value m of largest magnitude (first one on ties) maps to -127, q =
// min(127, round-half-even(-127/m * x)), d = m / -127 in f32, bsums = per-16 sums of q.
void QuantizeQ8K(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t blk_idx = 0; blk_idx < n / kSuperElems; ++blk_idx) {
    const float* x = src + blk_idx * kSuperElems;
    uint8_t* out = dst + blk_idx * 292;
    float amax = 0, max = 0;
    for (int e = 0; e < kSuperElems; ++e) {
      const float ax = std::fabs(x[e]);
      if (ax > amax) {
        amax = ax;
        max = x[e];
      }
    }
    std::memset(out, 0, 292);  // the all-zero block: d = 0, q = 0 and bsums = 0
    if (amax == 0) continue;
    const float iscale = -127.0f / max;
    int8_t* q = reinterpret_cast<int8_t*>(out + 4);
    for (int e = 0; e < kSuperElems; ++e) {
      const int v = static_cast<int>(std::nearbyint(iscale * x[e]));  // default mode: ties to even
      q[e] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int g = 0; g < 16; ++g) {
      int16_t bsum = 0;
      for (int e = 0; e < 16; ++e) bsum = static_cast<int16_t>(bsum + q[16 * g + e]);
      std::memcpy(out + 260 + 2 * g, &bsum, sizeof bsum);
    }
    const float d = 1.0f / iscale;
    std::memcpy(out, &d, sizeof d);
  }
}

// Σ_blocks (w.d·a.d)·Σ w.q·a.q (+ w.m·a.s), against Q8_0 or (for Q4_1/Q5_1) Q8_1 activations.
double DotLegacy(GgmlType type, const uint8_t* w, const uint8_t* a, int64_t n) {
  const int64_t w_bytes = GetTypeTraits(type).block_bytes;
  const bool act_q8_1 = GetTypeTraits(type).vec_dot_type == GgmlType::kQ8_1;
  const int64_t a_bytes = act_q8_1 ? 36 : 34;
  double sum = 0;
  for (int64_t blk_idx = 0; blk_idx < n / kLegacyElems; ++blk_idx) {
    const LegacyBlock wb = DecodeLegacy(type, w + blk_idx * w_bytes);
    const uint8_t* ab = a + blk_idx * a_bytes;
    const int8_t* aq = reinterpret_cast<const int8_t*>(ab + (act_q8_1 ? 4 : 2));
    int32_t isum = 0;
    for (int e = 0; e < kLegacyElems; ++e) isum += wb.q[e] * aq[e];
    sum += static_cast<double>(wb.d) * LoadHalf(ab) * isum;
    if (wb.has_min) sum += static_cast<double>(wb.m) * LoadHalf(ab + 2);
  }
  return sum;
}

// Σ_blocks w.d·a.d·Σ_g sc_g·Σ_{e∈g} q·aq − w.dmin·a.d·Σ_g mn_g·(Σ_{e∈g} aq from a.bsums).
double DotSuper(GgmlType type, const uint8_t* w, const uint8_t* a, int64_t n) {
  const int64_t w_bytes = GetTypeTraits(type).block_bytes;
  double sum = 0;
  for (int64_t blk_idx = 0; blk_idx < n / kSuperElems; ++blk_idx) {
    const SuperBlock wb = DecodeSuper(type, w + blk_idx * w_bytes);
    const uint8_t* ab = a + blk_idx * 292;
    const int8_t* aq = reinterpret_cast<const int8_t*>(ab + 4);
    int16_t bsums[16];
    std::memcpy(bsums, ab + 260, sizeof bsums);
    const int bsums_per_group = wb.group_elems / 16;
    int32_t sum_q = 0, sum_min = 0;
    for (int g = 0; g < kSuperElems / wb.group_elems; ++g) {
      int32_t group_sum = 0;
      for (int e = g * wb.group_elems; e < (g + 1) * wb.group_elems; ++e) {
        group_sum += wb.q[e] * aq[e];
      }
      sum_q += wb.sc[g] * group_sum;
      int32_t act_sum = 0;
      for (int k = 0; k < bsums_per_group; ++k) act_sum += bsums[g * bsums_per_group + k];
      sum_min += wb.mn[g] * act_sum;
    }
    const double a_d = LoadF32(ab);
    sum += wb.d * a_d * sum_q;
    if (wb.has_min) sum -= wb.dmin * a_d * sum_min;
  }
  return sum;
}

template <typename Decode>
double DotFloat(const uint8_t* w, const float* a, int64_t n, int64_t elem_bytes, Decode decode) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(decode(w + i * elem_bytes)) * a[i];
  return sum;
}

}  // namespace

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  CheckRow("DequantizeRow", type, n);
  const auto* s = static_cast<const uint8_t*>(src);
  const int64_t block_bytes = GetTypeTraits(type).block_bytes;
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, s, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = LoadHalf(s + 2 * i);
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(LoadU16(s + 2 * i));
      return;
    default:
      break;
  }
  if (IsLegacy(type)) {
    for (int64_t blk_idx = 0; blk_idx < n / kLegacyElems; ++blk_idx) {
      const LegacyBlock b = DecodeLegacy(type, s + blk_idx * block_bytes);
      float* x = dst + blk_idx * kLegacyElems;
      for (int e = 0; e < kLegacyElems; ++e) x[e] = b.has_min ? b.d * b.q[e] + b.m : b.d * b.q[e];
    }
  } else if (IsSuper(type)) {
    for (int64_t blk_idx = 0; blk_idx < n / kSuperElems; ++blk_idx) {
      const SuperBlock b = DecodeSuper(type, s + blk_idx * block_bytes);
      float* x = dst + blk_idx * kSuperElems;
      for (int e = 0; e < kSuperElems; ++e) {
        const int g = e / b.group_elems;
        const float dl = b.d * static_cast<float>(b.sc[g]);
        x[e] = b.has_min ? dl * b.q[e] - b.dmin * static_cast<float>(b.mn[g]) : dl * b.q[e];
      }
    }
  } else {
    Fail("DequantizeRow", type, n);
  }
}

void QuantizeRow(GgmlType act_type, const float* src, void* dst, int64_t n) {
  CheckRow("QuantizeRow", act_type, n);
  auto* d = static_cast<uint8_t*>(dst);
  switch (act_type) {
    case GgmlType::kF32:
      std::memcpy(d, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kQ8_0:
      return QuantizeQ8Legacy(src, d, n, /*with_sum=*/false);
    case GgmlType::kQ8_1:
      return QuantizeQ8Legacy(src, d, n, /*with_sum=*/true);
    case GgmlType::kQ8_K:
      return QuantizeQ8K(src, d, n);
    default:
      Fail("QuantizeRow", act_type, n);
  }
}

float VecDot(GgmlType type, const void* weight_row, const void* act_row, int64_t n) {
  CheckRow("VecDot", type, n);
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  const auto* af = static_cast<const float*>(act_row);
  switch (type) {
    case GgmlType::kF32:
      return static_cast<float>(DotFloat(w, af, n, 4, LoadF32));
    case GgmlType::kF16:
      return static_cast<float>(DotFloat(w, af, n, 2, LoadHalf));
    case GgmlType::kBF16:
      return static_cast<float>(
          DotFloat(w, af, n, 2, [](const uint8_t* p) { return Bf16ToFp32(LoadU16(p)); }));
    case GgmlType::kQ8_1:
    case GgmlType::kQ8_K:
      Fail("VecDot", type, n);  // activation-only formats
    default:
      break;
  }
  if (IsLegacy(type)) return static_cast<float>(DotLegacy(type, w, a, n));
  if (IsSuper(type)) return static_cast<float>(DotSuper(type, w, a, n));
  Fail("VecDot", type, n);
}

}  // namespace gs::ref
