// AVX-512 (F/BW/VL/DQ) + VNNI kernels (this file alone is built with those flags; see
// quant_x86_inl.h for why it uses no inline functions from other headers).
//
// Only the weight types of the default model are here; the others, the float dots and the
// quantizers return nullptr, so the dispatcher falls back to the AVX2 kernels.
//
// Every kernel is a tile (quant_cpu.h) of up to 4 weight rows x 4 activation rows, compiled per
// shape (32 registers hold all of a 4 x 4 tile's accumulators); the single-row dot is its 1 x 1
// case. 32-value blocks (Q8_0, Q4_0, Q5_0) go through vpdpbusd, which multiplies unsigned by
// signed bytes: each weight format is fed as unsigned codes = q + offset (Q8_0: q xor 0x80), and
// the accumulator starts at −offset·Σa, which depends on the activation block alone. 256-value
// blocks (Q4_K, Q6_K) use vpmaddubsw for code × activation pairs, then vpdpwssd applies each
// group's int16 scale and accumulates in int32 for the whole block. Integer sums are exact
// (activation quants in [-127, 127]); the float side (scaling and summation order) is the AVX2
// and scalar kernels' bit for bit (quant_cpu.h), so results differ from gs::ref only by float
// rounding.

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

using x86::DotOfTile;
using x86::GatherScales;
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

// A tile kernel (x86::RunTile) as a DotTileFn: every shape up to 4 x 4 in one call.
template <typename Kernel>
void TileOf(const void* w, size_t w_row_bytes, int num_w_rows, const void* act,
            size_t act_row_bytes, int num_act_rows, int64_t n, float* out, int64_t out_stride) {
  x86::WithTileShape<4, 4>(num_w_rows, num_act_rows, [&]<int kW, int kA>() {
    x86::RunTile<Kernel, kW, kA>(static_cast<const uint8_t*>(w), w_row_bytes,
                                 static_cast<const uint8_t*>(act), act_row_bytes, n, out,
                                 out_stride);
  });
}

template <typename Kernel>
constexpr internal::DotKernels TileKernels() {
  return {DotOfTile<Kernel>, TileOf<Kernel>};
}

// ---- 32-value blocks against Q8_0: Σ_blocks w.d * a.d * Σ w.q * a.q ----------------------------

// Per output (weight row i, activation row r) the float side is the AVX2 kernel's (and
// llama.cpp's, quant_cpu.h) exactly: an 8-lane accumulator, one FMA per block in block order.
// Weight rows 2p and 2p + 1 share a 512-bit accumulator (lanes 0-7 and 8-15), so one vpdpbusd,
// one convert, one permute and one FMA serve two outputs; an odd last row is paired with itself
// and its copy dropped. Block scale products come per batch of 8 blocks from one multiply per
// accumulator; each block then broadcasts its scale with one permute.
//
// PairCodes(w0, w1) -> unsigned codes of two weight blocks (w0's in bytes 0-31, w1's in 32-63),
// w.q = code - kOffset.
template <int64_t kWeightBytes, uint8_t kOffset, int kW, int kA, typename PairCodes>
void BlockPairsTile(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                    int64_t n, float* out, int64_t out_stride, PairCodes pair_codes) {
  constexpr int kPairs = (kW + 1) / 2;
  const int64_t num_blocks = n / 32;
  const uint8_t* rows[kPairs][2];
  for (int p = 0; p < kPairs; ++p) {
    rows[p][0] = w + 2 * p * w_row_bytes;
    rows[p][1] = w + (2 * p + 1 < kW ? 2 * p + 1 : 2 * p) * w_row_bytes;
  }
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(kOffset));
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[kPairs][kA];
  for (auto& pair_acc : acc) {
    for (__m512& a : pair_acc) a = _mm512_setzero_ps();
  }
  for (int64_t blk_idx = 0; blk_idx < num_blocks; blk_idx += 8) {
    const int count = num_blocks - blk_idx < 8 ? static_cast<int>(num_blocks - blk_idx) : 8;
    // scales[p][r] lane k (8 + k) = w.d·a.d of block blk_idx + k, weight row 2p (2p + 1).
    const auto batch_scales = [&](int count, __m512 scales[kPairs][kA]) {
      __m512 act_d[kA];
      for (int r = 0; r < kA; ++r) {
        const __m256 d =
            GatherScales<kQ8_0Bytes>(act + r * act_row_bytes + blk_idx * kQ8_0Bytes, count);
        act_d[r] = _mm512_insertf32x8(_mm512_castps256_ps512(d), d, 1);
      }
      for (int p = 0; p < kPairs; ++p) {
        const __m512 w_d = _mm512_insertf32x8(
            _mm512_castps256_ps512(
                GatherScales<kWeightBytes>(rows[p][0] + blk_idx * kWeightBytes, count)),
            GatherScales<kWeightBytes>(rows[p][1] + blk_idx * kWeightBytes, count), 1);
        for (int r = 0; r < kA; ++r) scales[p][r] = _mm512_mul_ps(w_d, act_d[r]);
      }
    };
    const auto block_step = [&](const __m512 scales[kPairs][kA], int k) {
      const int64_t blk = blk_idx + k;
      __m512i act_q[kA], init[kA];  // each block's quants in both halves; −offset·Σ4 a
      for (int r = 0; r < kA; ++r) {
        act_q[r] = _mm512_broadcast_i64x4(Load256(act + r * act_row_bytes + blk * kQ8_0Bytes + 2));
        init[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offset, act_q[r]));
      }
      const __m512i lane_k = _mm512_add_epi32(
          _mm512_set1_epi32(k), _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8));
      for (int p = 0; p < kPairs; ++p) {
        const __m512i codes =
            pair_codes(rows[p][0] + blk * kWeightBytes, rows[p][1] + blk * kWeightBytes);
        for (int r = 0; r < kA; ++r) {
          const __m512i sums = _mm512_dpbusd_epi32(init[r], codes, act_q[r]);
          acc[p][r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(lane_k, scales[p][r]),
                                      _mm512_cvtepi32_ps(sums), acc[p][r]);
        }
      }
    };
    __m512 scales[kPairs][kA];
    if (count == 8) {  // the hot path: literal counts, fully unrolled
      batch_scales(8, scales);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) block_step(scales, k);
    } else {
      batch_scales(count, scales);
      for (int k = 0; k < count; ++k) block_step(scales, k);
    }
  }
  for (int p = 0; p < kPairs; ++p) {
    for (int r = 0; r < kA; ++r) {
      out[r * out_stride + 2 * p] = HsumF32x8(_mm512_castps512_ps256(acc[p][r]));
      if (2 * p + 1 < kW) {
        out[r * out_stride + 2 * p + 1] = HsumF32x8(_mm512_extractf32x8_ps(acc[p][r], 1));
      }
    }
  }
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

// Q8_0: d fp16 @0, qs[32] int8 @2; code = q xor 0x80 = q + 128.
struct Q8_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    BlockPairsTile<34, 128, kW, kA>(w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
                                    [](const uint8_t* w0, const uint8_t* w1) {
                                      return _mm512_xor_si512(LoadPair256(w0 + 2, w1 + 2),
                                                              _mm512_set1_epi8(-128));
                                    });
  }
};

// Q4_0: d fp16 @0, qs[16] @2; w.q = nibble - 8.
struct Q4_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    BlockPairsTile<18, 8, kW, kA>(
        w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
        [](const uint8_t* w0, const uint8_t* w1) { return UnpackNibblePair(w0 + 2, w1 + 2); });
  }
};

// Q5_0: d fp16 @0, qh u32 @2 (bit e = bit 4 of element e), qs[16] @6; w.q = code - 16.
struct Q5_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    BlockPairsTile<22, 16, kW, kA>(
        w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
        [](const uint8_t* w0, const uint8_t* w1) {
          uint32_t qh0, qh1;
          std::memcpy(&qh0, w0 + 2, sizeof qh0);
          std::memcpy(&qh1, w1 + 2, sizeof qh1);
          const __mmask64 high = _cvtu64_mask64(qh0 | (static_cast<uint64_t>(qh1) << 32));
          const __m512i nibbles = UnpackNibblePair(w0 + 6, w1 + 6);
          return _mm512_mask_add_epi8(nibbles, high, nibbles, _mm512_set1_epi8(16));
        });
  }
};

// ---- 256-value blocks against Q8_K ---------------------------------------------------------

// Q4_K: d @0, dmin @2 (fp16), scales[12] @4, qs[128] @16. Per block:
// d·a.d·Σ_j sc_j·Σ_{e∈j} v·aq − dmin·a.d·Σ_j mn_j·(bsums[2j] + bsums[2j+1]), with both integer
// sums accumulated in llama.cpp's order (x86::AccumulateQ4K), as in the AVX2 kernel. Each weight
// block is unpacked once per 64-value chunk for all activation rows.
struct Q4_KTile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    // Chunk c covers sub-blocks 2c (int16 lanes 0-15) and 2c + 1 (lanes 16-31): each 128-bit
    // lane broadcasts one int16 of the 8 scales.
    __m512i chunk_shuffle[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i lo = _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * c)));
      const __m256i hi = _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * c + 1)));
      chunk_shuffle[c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    __m128 acc[kW][kA];
    for (auto& row_acc : acc) {
      for (__m128& a : row_acc) a = _mm_setzero_ps();
    }
    for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
      const uint8_t* wb[kW];
      const uint8_t* ab[kA];
      for (int i = 0; i < kW; ++i) wb[i] = w + i * w_row_bytes + blk_idx * 144;
      for (int r = 0; r < kA; ++r) ab[r] = act + r * act_row_bytes + blk_idx * kQ8KBytes;
      __m256i mins_pairs[kW];
      __m512i scales16[kW];
      for (int i = 0; i < kW; ++i) {
        uint64_t scales8, mins8;
        x86::UnpackQ4KScales(wb[i] + 4, &scales8, &mins8);
        // Mins as (mn_j, mn_j) int16 pairs against bsums pairs (b_2j, b_2j+1).
        const __m256i mins_dup = _mm256_cvtepu16_epi32(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mins8))));
        mins_pairs[i] = _mm256_or_si256(mins_dup, _mm256_slli_epi32(mins_dup, 16));
        scales16[i] = _mm512_broadcast_i32x4(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scales8))));
      }
      __m512i sum[kW][kA];
      for (auto& row_sum : sum) {
        for (__m512i& s : row_sum) s = _mm512_setzero_si512();
      }
#pragma GCC unroll 8
      for (int c = 0; c < 4; ++c) {
        for (int i = 0; i < kW; ++i) {
          // 32 bytes of qs feed 64 values: low nibbles first, then high nibbles.
          const __m256i q = Load256(wb[i] + 16 + 32 * c);
          const __m512i codes = _mm512_and_si512(
              _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), low4);
          const __m512i scales = _mm512_shuffle_epi8(scales16[i], chunk_shuffle[c]);
          for (int r = 0; r < kA; ++r) {
            const __m512i pairs =
                _mm512_maddubs_epi16(codes, Load512(ab[r] + kQ8KQsOffset + 64 * c));
            sum[i][r] = _mm512_dpwssd_epi32(sum[i][r], pairs, scales);
          }
        }
      }
      for (int i = 0; i < kW; ++i) {
        const __m128 d_dmin = x86::Q4KScales(wb[i]);
        for (int r = 0; r < kA; ++r) {
          const __m256i min_sums =
              _mm256_madd_epi16(Load256(ab[r] + kQ8KBsumsOffset), mins_pairs[i]);
          const __m256i sum8 = _mm256_add_epi32(_mm512_castsi512_si256(sum[i][r]),
                                                _mm512_extracti64x4_epi64(sum[i][r], 1));
          acc[i][r] = x86::AccumulateQ4K(d_dmin, LoadFloat(ab[r]), sum8, min_sums, acc[i][r]);
        }
      }
    }
    for (int i = 0; i < kW; ++i) {
      for (int r = 0; r < kA; ++r) out[r * out_stride + i] = x86::Q4KResult(acc[i][r]);
    }
  }
};

// Q6_K: ql[128] @0, qh[64] @128, scales[16] int8 @192, d fp16 @208. Codes stay unsigned
// (q + 32, 0..63) for vpmaddubsw; the −32 comes back through the bsums:
// Σ_g sc_g·Σ q·aq = Σ_g sc_g·Σ code·aq − 32·Σ_g sc_g·bsums[g]. The float side is the AVX2
// kernel's (llama.cpp's order): 8 lanes, lane k = elements 4k..4k+3 of every 32-value chunk, so
// the 16-lane sum (even chunks in lanes 0-7, odd ones in 8-15) is folded before its one FMA.
// Each weight block is unpacked once per 128-value half for all activation rows.
struct Q6_KTile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
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
    __m256 acc[kW][kA];
    for (auto& row_acc : acc) {
      for (__m256& a : row_acc) a = _mm256_setzero_ps();
    }
    for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
      const uint8_t* wb[kW];
      const uint8_t* ab[kA];
      for (int i = 0; i < kW; ++i) wb[i] = w + i * w_row_bytes + blk_idx * 210;
      for (int r = 0; r < kA; ++r) ab[r] = act + r * act_row_bytes + blk_idx * kQ8KBytes;
      __m256i scales16[kW];
      for (int i = 0; i < kW; ++i) scales16[i] = _mm256_cvtepi8_epi16(Load128(wb[i] + 192));
      __m512i sum[kW][kA];
      for (auto& row_sum : sum) {
        for (__m512i& s : row_sum) s = _mm512_setzero_si512();
      }
#pragma GCC unroll 8
      for (int half = 0; half < 2; ++half) {
        for (int i = 0; i < kW; ++i) {
          // ql[64h..64h+63] low nibbles = values 0-63 of the half, high nibbles = values 64-127.
          const __m512i ql = Load512(wb[i] + 64 * half);
          const __m512i qh = _mm512_broadcast_i64x4(Load256(wb[i] + 128 + 32 * half));
          const __m512i codes01 =
              _mm512_or_si512(_mm512_and_si512(ql, low4),
                              _mm512_and_si512(_mm512_sllv_epi64(qh, shift_q01), bits45));
          const __m512i codes23 =
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                              _mm512_and_si512(_mm512_srlv_epi64(qh, shift_q23), bits45));
          const __m512i scales_half =
              _mm512_broadcast_i32x4(half == 0 ? _mm256_castsi256_si128(scales16[i])
                                               : _mm256_extracti128_si256(scales16[i], 1));
          const __m512i scales01 = _mm512_shuffle_epi8(scales_half, group_shuffle[0]);
          const __m512i scales23 = _mm512_shuffle_epi8(scales_half, group_shuffle[1]);
          for (int r = 0; r < kA; ++r) {
            const uint8_t* aq = ab[r] + kQ8KQsOffset + 128 * half;
            const __m512i p01 = _mm512_maddubs_epi16(codes01, Load512(aq));
            const __m512i p23 = _mm512_maddubs_epi16(codes23, Load512(aq + 64));
            sum[i][r] = _mm512_dpwssd_epi32(sum[i][r], p01, scales01);
            sum[i][r] = _mm512_dpwssd_epi32(sum[i][r], p23, scales23);
          }
        }
      }
      for (int i = 0; i < kW; ++i) {
        const float w_d = HalfToFloat(wb[i] + 208);
        for (int r = 0; r < kA; ++r) {
          const __m256i bsum_terms =
              _mm256_madd_epi16(Load256(ab[r] + kQ8KBsumsOffset), scales16[i]);
          const __m256i sum8 =
              _mm256_sub_epi32(_mm256_add_epi32(_mm512_castsi512_si256(sum[i][r]),
                                                _mm512_extracti64x4_epi64(sum[i][r], 1)),
                               _mm256_slli_epi32(bsum_terms, 5));
          acc[i][r] = _mm256_fmadd_ps(_mm256_set1_ps(LoadFloat(ab[r]) * w_d),
                                      _mm256_cvtepi32_ps(sum8), acc[i][r]);
        }
      }
    }
    for (int i = 0; i < kW; ++i) {
      for (int r = 0; r < kA; ++r) out[r * out_stride + i] = HsumF32x8(acc[i][r]);
    }
  }
};

}  // namespace

namespace internal {

DotKernels Avx512VnniDots(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ4_0:
      return TileKernels<Q4_0Tile>();
    case GgmlType::kQ5_0:
      return TileKernels<Q5_0Tile>();
    case GgmlType::kQ8_0:
      return TileKernels<Q8_0Tile>();
    case GgmlType::kQ4_K:
      return TileKernels<Q4_KTile>();
    case GgmlType::kQ6_K:
      return TileKernels<Q6_KTile>();
    default:
      return {};
  }
}

QuantizeRowFn Avx512VnniQuantizeRow(GgmlType act_type) { return nullptr; }

}  // namespace internal
}  // namespace gs::cpu
