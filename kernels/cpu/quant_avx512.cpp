// AVX-512 (F/BW/VL/DQ) + VNNI kernels (this file alone is built with those flags; see
// quant_x86_inl.h for why it uses no inline functions from other headers).
//
// Only the weight types of the default model are here; the others, the float dots and the
// quantizers return nullptr, so the dispatcher falls back to the AVX2 kernels.
//
// 32-value blocks (Q8_0, Q4_0, Q5_0) go two per 512-bit register through vpdpbusd, which
// multiplies unsigned by signed bytes: Q8_0 feeds it |w| and a with w's sign, the offset formats
// feed it their unsigned codes and subtract offset·Σa (Σa from a second vpdpbusd). 256-value
// blocks (Q4_K, Q6_K) use vpmaddubsw for code × activation pairs, then vpdpwssd applies each
// group's int16 scale and accumulates in int32 for the whole block. Integer sums are exact
// (activation quants in [-127, 127]); the float side (scaling and summation order) is the AVX2
// kernels' bit for bit (quant_cpu.h), so results differ from gs::ref only by float rounding.

// GCC 12's avx512fintrin.h self-initializes its "undefined" vectors, which -Wuninitialized
// reports at every cast/insert/broadcast use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/quant_x86_inl.h"

namespace gs::cpu {
namespace {

using x86::HalfToFloat;
using x86::HsumF32x8;
using x86::kQ8_0Bytes;
using x86::kQ8KBsumsOffset;
using x86::kQ8KBytes;
using x86::kQ8KQsOffset;
using x86::LoadFloat;

__m512i Load512(const uint8_t* p) { return _mm512_loadu_si512(p); }
__m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
__m128i Load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// ---- 32-value blocks against Q8_0: Σ_blocks w.d * a.d * Σ w.q * a.q ----------------------------

// Two consecutive blocks per 512-bit register (lanes 0-7 hold block k's partial sums, lanes 8-15
// block k + 1's), in batches of 8 blocks whose scale products come from one vector multiply. The
// float side is the AVX2 kernels' (and llama.cpp's, quant_cpu.h) exactly: one 8-lane
// accumulator, one FMA per block in block order, so each pair's two halves go through two 256-bit
// FMAs; the integer work stays 512 bits wide.
//
// PairDot(w0, w1, act) -> int32x16: lane k (k < 8) = Σ w.q·a.q over elements 4k..4k+3 of weight
// block w0 against act's low 32 bytes, lane 8 + k the same for block w1 against the high 32 bytes
// (which are zero for an odd last block).
template <int64_t kWeightBytes, typename PairDot>
float DotBlockPairs(const void* weight_row, const void* act_row, int64_t n, PairDot pair_dot) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  const int64_t num_blocks = n / 32;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t blk_idx = 0; blk_idx < num_blocks; blk_idx += 8) {
    const int count = num_blocks - blk_idx < 8 ? static_cast<int>(num_blocks - blk_idx) : 8;
    const uint8_t* wb = w + blk_idx * kWeightBytes;
    const uint8_t* ab = a + blk_idx * kQ8_0Bytes;
    const auto pair_step = [&](__m256 scales, int pair_idx) {
      const int k = 2 * pair_idx;
      const uint8_t* w0 = wb + k * kWeightBytes;
      const uint8_t* a0 = ab + k * kQ8_0Bytes;
      const bool has_second = k + 1 < count;
      const __m256i act_lo = Load256(a0 + 2);
      const __m512i act = has_second ? _mm512_inserti64x4(_mm512_castsi256_si512(act_lo),
                                                          Load256(a0 + kQ8_0Bytes + 2), 1)
                                     : _mm512_zextsi256_si512(act_lo);
      const __m512 sums =
          _mm512_cvtepi32_ps(pair_dot(w0, has_second ? w0 + kWeightBytes : w0, act));
      acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(k)),
                            _mm512_castps512_ps256(sums), acc);
      if (has_second) {
        acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(k + 1)),
                              _mm512_extractf32x8_ps(sums, 1), acc);
      }
    };
    if (count == 8) {  // the hot path: literal counts, fully unrolled
      const __m256 scales = x86::BlockScaleProducts<kWeightBytes>(wb, ab, 8);
#pragma GCC unroll 4
      for (int pair_idx = 0; pair_idx < 4; ++pair_idx) pair_step(scales, pair_idx);
    } else {
      const __m256 scales = x86::BlockScaleProducts<kWeightBytes>(wb, ab, count);
      for (int pair_idx = 0; 2 * pair_idx < count; ++pair_idx) pair_step(scales, pair_idx);
    }
  }
  return HsumF32x8(acc);
}

// Two 32-byte blocks as one register.
__m512i LoadPair256(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(Load256(p0)), Load256(p1), 1);
}

// Two blocks' 16 split-half packed nibbles -> 64 codes in element order (per block: low
// nibbles = elements 0-15, then high nibbles = 16-31).
__m512i UnpackNibblePair(const uint8_t* qs0, const uint8_t* qs1) {
  const __m512i doubled =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(Load128(qs0))),
                         _mm256_broadcastsi128_si256(Load128(qs1)), 1);
  // Shift the second copy of each block (int16 lanes 8-15 and 24-31) down by a nibble.
  const __m512i shifted = _mm512_mask_srli_epi16(doubled, 0xff00ff00u, doubled, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// Σ (code - offset) * act per 4 bytes, for unsigned codes.
__m512i DotOffsetCodes(__m512i codes, __m512i act, char offset) {
  const __m512i zero = _mm512_setzero_si512();
  return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, codes, act),
                          _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(offset), act));
}

// Q8_0: d fp16 @0, qs[32] int8 @2. vpdpbusd takes |w| and a with w's sign.
float DotQ8_0(const void* weight_row, const void* act_row, int64_t n) {
  return DotBlockPairs<34>(
      weight_row, act_row, n, [](const uint8_t* w0, const uint8_t* w1, __m512i act) {
        const __m512i q = LoadPair256(w0 + 2, w1 + 2);
        const __m512i signed_act =
            _mm512_mask_sub_epi8(act, _mm512_movepi8_mask(q), _mm512_setzero_si512(), act);
        return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(q), signed_act);
      });
}

// Q4_0: d fp16 @0, qs[16] @2; w.q = nibble - 8.
float DotQ4_0(const void* weight_row, const void* act_row, int64_t n) {
  return DotBlockPairs<18>(weight_row, act_row, n,
                           [](const uint8_t* w0, const uint8_t* w1, __m512i act) {
                             return DotOffsetCodes(UnpackNibblePair(w0 + 2, w1 + 2), act, 8);
                           });
}

// Q5_0: d fp16 @0, qh u32 @2 (bit e = bit 4 of element e), qs[16] @6; w.q = code - 16.
float DotQ5_0(const void* weight_row, const void* act_row, int64_t n) {
  return DotBlockPairs<22>(
      weight_row, act_row, n, [](const uint8_t* w0, const uint8_t* w1, __m512i act) {
        uint32_t qh0, qh1;
        std::memcpy(&qh0, w0 + 2, sizeof qh0);
        std::memcpy(&qh1, w1 + 2, sizeof qh1);
        const __mmask64 high = _cvtu64_mask64(qh0 | (static_cast<uint64_t>(qh1) << 32));
        const __m512i nibbles = UnpackNibblePair(w0 + 6, w1 + 6);
        const __m512i codes = _mm512_mask_add_epi8(nibbles, high, nibbles, _mm512_set1_epi8(16));
        return DotOffsetCodes(codes, act, 16);
      });
}

// ---- 256-value blocks against Q8_K ---------------------------------------------------------

// Q4_K: d @0, dmin @2 (fp16), scales[12] @4, qs[128] @16. Per block:
// d·a.d·Σ_j sc_j·Σ_{e∈j} v·aq − dmin·a.d·Σ_j mn_j·(bsums[2j] + bsums[2j+1]), with both integer
// sums accumulated in llama.cpp's order (x86::AccumulateQ4K), as in the AVX2 kernel.
float DotQ4_K(const void* weight_row, const void* act_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  // Chunk c covers sub-blocks 2c (int16 lanes 0-15) and 2c + 1 (lanes 16-31): each 128-bit lane
  // broadcasts one int16 of the 8 scales.
  __m512i chunk_shuffle[4];
  for (int c = 0; c < 4; ++c) {
    const __m256i lo = _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * c)));
    const __m256i hi = _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * c + 1)));
    chunk_shuffle[c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }
  __m128 acc = _mm_setzero_ps();
  for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
    const uint8_t* wb = w + blk_idx * 144;
    const uint8_t* ab = a + blk_idx * kQ8KBytes;
    const uint8_t* aq = ab + kQ8KQsOffset;
    const float a_d = LoadFloat(ab);
    uint64_t scales8, mins8;
    x86::UnpackQ4KScales(wb + 4, &scales8, &mins8);

    // Mins: bsums pairs (b_2j, b_2j+1) times (mn_j, mn_j).
    const __m256i mins_dup =
        _mm256_cvtepu16_epi32(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mins8))));
    const __m256i mins_pairs = _mm256_or_si256(mins_dup, _mm256_slli_epi32(mins_dup, 16));
    const __m256i min_sums = _mm256_madd_epi16(Load256(ab + kQ8KBsumsOffset), mins_pairs);

    const __m512i scales16 =
        _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scales8))));
    __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int c = 0; c < 4; ++c) {
      // 32 bytes of qs feed 64 values: low nibbles first, then high nibbles.
      const __m256i q = Load256(wb + 16 + 32 * c);
      const __m512i codes = _mm512_and_si512(
          _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), low4);
      const __m512i pairs = _mm512_maddubs_epi16(codes, Load512(aq + 64 * c));
      sum = _mm512_dpwssd_epi32(sum, pairs, _mm512_shuffle_epi8(scales16, chunk_shuffle[c]));
    }
    const __m256i sum8 =
        _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
    acc = x86::AccumulateQ4K(wb, a_d, sum8, min_sums, acc);
  }
  return x86::Q4KResult(acc);
}

// Q6_K: ql[128] @0, qh[64] @128, scales[16] int8 @192, d fp16 @208. Codes stay unsigned
// (q + 32, 0..63) for vpmaddubsw; the −32 comes back through the bsums:
// Σ_g sc_g·Σ q·aq = Σ_g sc_g·Σ code·aq − 32·Σ_g sc_g·bsums[g]. The float side is the AVX2
// kernel's (llama.cpp's order): 8 lanes, lane k = elements 4k..4k+3 of every 32-value chunk, so
// the 16-lane sum (even chunks in lanes 0-7, odd ones in 8-15) is folded before its one FMA.
float DotQ6_K(const void* weight_row, const void* act_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(weight_row);
  const auto* a = static_cast<const uint8_t*>(act_row);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  // High-bit pairs per 32-value quarter, moved to bits 4-5: quarters 0/1 shift qh left by 4/2,
  // quarters 2/3 right by 0/2 (64-bit shifts; the 0x30 mask drops bits from neighbour bytes).
  const __m512i shift_q01 = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
  const __m512i shift_q23 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
  // 64 values = 4 groups of 16, one per 128-bit lane (8 int16 pairs): lane L broadcasts int16
  // scale L (first 64 values of a half) or L + 4 (second 64) of the half's 8 scales.
  const __m512i group_shuffle[2] = {
      _mm512_set_epi64(0x0706070607060706, 0x0706070607060706, 0x0504050405040504,
                       0x0504050405040504, 0x0302030203020302, 0x0302030203020302,
                       0x0100010001000100, 0x0100010001000100),
      _mm512_set_epi64(0x0f0e0f0e0f0e0f0e, 0x0f0e0f0e0f0e0f0e, 0x0d0c0d0c0d0c0d0c,
                       0x0d0c0d0c0d0c0d0c, 0x0b0a0b0a0b0a0b0a, 0x0b0a0b0a0b0a0b0a,
                       0x0908090809080908, 0x0908090809080908),
  };
  __m256 acc = _mm256_setzero_ps();
  for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
    const uint8_t* wb = w + blk_idx * 210;
    const uint8_t* ab = a + blk_idx * kQ8KBytes;
    const uint8_t* aq = ab + kQ8KQsOffset;
    const __m256i scales16 = _mm256_cvtepi8_epi16(Load128(wb + 192));
    __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int half = 0; half < 2; ++half) {
      // ql[64h..64h+63] low nibbles = values 0-63 of the half, high nibbles = values 64-127.
      const __m512i ql = Load512(wb + 64 * half);
      const __m512i qh = _mm512_broadcast_i64x4(Load256(wb + 128 + 32 * half));
      const __m512i codes01 = _mm512_or_si512(
          _mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_sllv_epi64(qh, shift_q01), bits45));
      const __m512i codes23 =
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                          _mm512_and_si512(_mm512_srlv_epi64(qh, shift_q23), bits45));
      const __m512i scales_half = _mm512_broadcast_i32x4(
          half == 0 ? _mm256_castsi256_si128(scales16) : _mm256_extracti128_si256(scales16, 1));
      const __m512i p01 = _mm512_maddubs_epi16(codes01, Load512(aq + 128 * half));
      const __m512i p23 = _mm512_maddubs_epi16(codes23, Load512(aq + 128 * half + 64));
      sum = _mm512_dpwssd_epi32(sum, p01, _mm512_shuffle_epi8(scales_half, group_shuffle[0]));
      sum = _mm512_dpwssd_epi32(sum, p23, _mm512_shuffle_epi8(scales_half, group_shuffle[1]));
    }
    const __m256i bsum_terms = _mm256_madd_epi16(Load256(ab + kQ8KBsumsOffset), scales16);
    const __m256i sum8 = _mm256_sub_epi32(
        _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1)),
        _mm256_slli_epi32(bsum_terms, 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(LoadFloat(ab) * HalfToFloat(wb + 208)),
                          _mm256_cvtepi32_ps(sum8), acc);
  }
  return HsumF32x8(acc);
}

}  // namespace

namespace internal {

VecDotFn Avx512VnniVecDot(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0:
      return DotQ4_0;
    case GgmlType::kQ5_0:
      return DotQ5_0;
    case GgmlType::kQ8_0:
      return DotQ8_0;
    case GgmlType::kQ4_K:
      return DotQ4_K;
    case GgmlType::kQ6_K:
      return DotQ6_K;
    default:
      return nullptr;
  }
}

QuantizeRowFn Avx512VnniQuantizeRow(GgmlType act_type) { return nullptr; }

}  // namespace internal
}  // namespace gs::cpu
