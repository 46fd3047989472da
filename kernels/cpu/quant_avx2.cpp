// AVX2 + FMA + F16C kernels (this file alone is built with -mavx2 -mfma -mf16c; see
// quant_x86_inl.h for why it uses no inline functions from other headers).
//
// Dot products: int8 products go through maddubs (u8 x s8 -> saturating s16 pairs), fed |w| and
// a with w's sign for signed weights, or unsigned codes with the offset subtracted as a second
// maddubs. With activation quants in [-127, 127] (all quantizers here guarantee it) and
// |weight quant| <= 128 a pair is at most 2*128*127 = 32512, so nothing saturates and every
// integer sum is exact; the only differences from gs::ref are float rounding in the per-block
// scaling and the summation order, which for the model's types is llama.cpp's (quant_cpu.h).
//
// Quantizers: byte-identical to gs::ref, ties included (every format rounds half to even with the
// same scale arithmetic).
#include <immintrin.h>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/quant_x86_inl.h"

namespace gs::cpu {
namespace {

using x86::DotOfTile;
using x86::HalfToFloat;
using x86::HsumF32x8;
using x86::HsumI32x8Pair;
using x86::kQ8_0Bytes;
using x86::kQ8KBsumsOffset;
using x86::kQ8KBytes;
using x86::kQ8KQsOffset;
using x86::LoadFloat;

__m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
__m128i Load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// int32 lanes, each the sum of 4 adjacent products u_i * s_i (u unsigned, s signed bytes).
__m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// As DotU8S8 for signed w: |w| * (a with w's sign) has the same products.
__m256i DotS8S8(__m256i w, __m256i a) {
  return DotU8S8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// 16 split-half packed nibbles -> 32 bytes in element order: low nibbles (elements 0-15) in the
// low lane, high nibbles (16-31) in the high lane.
__m256i UnpackNibbles32(const uint8_t* qs) {
  const __m128i packed = Load128(qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Byte e = 0xff where bit e of `bits` is set, else 0.
__m256i BitsToBytes(uint32_t bits) {
  // Byte e takes byte e/8 of the word, then tests bit e%8 of it.
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// A tile kernel (x86::RunTile) as a DotTileFn. 16 registers hold about 4 outputs' accumulators,
// block scales and unpacked blocks, so a tile runs as sub-tiles of 4 weight rows x 1 activation row
// (decode: 4 FMA chains) or 2 x 2 (each weight block unpacked once for 2 activation rows).
template <typename Kernel>
void TileOf(const void* w, size_t w_row_bytes, int num_w_rows, const void* act,
            size_t act_row_bytes, int num_act_rows, int64_t n, float* out, int64_t out_stride) {
  const int sub_w = num_act_rows == 1 ? 4 : 2;
  for (int r0 = 0; r0 < num_act_rows; r0 += 2) {
    for (int i0 = 0; i0 < num_w_rows; i0 += sub_w) {
      const int rows = num_w_rows - i0 < sub_w ? num_w_rows - i0 : sub_w;
      const int act_rows = num_act_rows - r0 < 2 ? num_act_rows - r0 : 2;
      x86::WithTileShape<4, 2>(rows, act_rows, [&]<int kW, int kA>() {
        x86::RunTile<Kernel, kW, kA>(static_cast<const uint8_t*>(w) + i0 * w_row_bytes, w_row_bytes,
                                     static_cast<const uint8_t*>(act) + r0 * act_row_bytes,
                                     act_row_bytes, n, out + r0 * out_stride + i0, out_stride);
      });
    }
  }
}

template <typename Kernel>
constexpr internal::DotKernels TileKernels() {
  return {DotOfTile<Kernel>, TileOf<Kernel>};
}

// ---- 32-value blocks against Q8_0: Σ_blocks w.d * a.d * Σ w.q * a.q ----------------------------

// Per output (weight row i, activation row r): batches of 8 blocks whose scale products come from
// one vector multiply; each block then broadcasts its scale with one permute and costs one
// int->float convert and one FMA. The FMAs form a single chain in block order, as in llama.cpp
// (quant_cpu.h): one accumulator, no reassociation, so one FMA latency per block bounds a chain
// (~1 ns per block on Zen 5), and a tile runs several chains side by side.
//
// Codes(w_block) -> the weight block's 32 bytes as BlockDot takes them (unpacked once for all
// activation rows); BlockDot(codes, act_qs) -> int32x8, lane k = Σ w.q·a.q over elements
// 4k..4k+3 of the block.
template <int64_t kWeightBytes, int kW, int kA, typename Codes, typename BlockDot>
void Q8_0FamilyTile(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                    int64_t n, float* out, int64_t out_stride, Codes codes, BlockDot block_dot) {
  const int64_t num_blocks = n / 32;
  __m256 acc[kW][kA];
  for (auto& row_acc : acc) {
    for (__m256& a : row_acc) a = _mm256_setzero_ps();
  }
  for (int64_t blk_idx = 0; blk_idx < num_blocks; blk_idx += 8) {
    const int count = num_blocks - blk_idx < 8 ? static_cast<int>(num_blocks - blk_idx) : 8;
    // scales[i][r] lane k = w.d·a.d of block blk_idx + k.
    const auto batch_scales = [&](int count, __m256 scales[kW][kA]) {
      __m256 act_d[kA];
      for (int r = 0; r < kA; ++r) {
        act_d[r] =
            x86::GatherScales<kQ8_0Bytes>(act + r * act_row_bytes + blk_idx * kQ8_0Bytes, count);
      }
      for (int i = 0; i < kW; ++i) {
        const __m256 w_d =
            x86::GatherScales<kWeightBytes>(w + i * w_row_bytes + blk_idx * kWeightBytes, count);
        for (int r = 0; r < kA; ++r) scales[i][r] = _mm256_mul_ps(w_d, act_d[r]);
      }
    };
    const auto block_step = [&](const __m256 scales[kW][kA], int k) {
      const int64_t blk = blk_idx + k;
      __m256i act_q[kA];
      for (int r = 0; r < kA; ++r) {
        act_q[r] = Load256(act + r * act_row_bytes + blk * kQ8_0Bytes + 2);
      }
      for (int i = 0; i < kW; ++i) {
        const __m256i w_codes = codes(w + i * w_row_bytes + blk * kWeightBytes);
        for (int r = 0; r < kA; ++r) {
          const __m256 scale = _mm256_permutevar8x32_ps(scales[i][r], _mm256_set1_epi32(k));
          acc[i][r] =
              _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(block_dot(w_codes, act_q[r])), acc[i][r]);
        }
      }
    };
    __m256 scales[kW][kA];
    if (count == 8) {  // the hot path: literal counts, fully unrolled
      batch_scales(8, scales);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) block_step(scales, k);
    } else {
      batch_scales(count, scales);
      for (int k = 0; k < count; ++k) block_step(scales, k);
    }
  }
  for (int i = 0; i < kW; ++i) {
    for (int r = 0; r < kA; ++r) out[r * out_stride + i] = HsumF32x8(acc[i][r]);
  }
}

// Σ (code - offset) * a per 4 bytes for unsigned codes <= 31: (code - offset) * a pairs stay
// within int16 as a difference of two maddubs.
__m256i DotOffsetU8S8(__m256i codes, __m256i a, char offset) {
  const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(codes, a),
                                         _mm256_maddubs_epi16(_mm256_set1_epi8(offset), a));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// Q8_0: d fp16 @0, qs[32] int8 @2.
struct Q8_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    Q8_0FamilyTile<34, kW, kA>(
        w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
        [](const uint8_t* wb) { return Load256(wb + 2); },
        [](__m256i w_q, __m256i a) { return DotS8S8(w_q, a); });
  }
};

// Q4_0: d fp16 @0, qs[16] @2; w.q = nibble - 8.
struct Q4_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    Q8_0FamilyTile<18, kW, kA>(
        w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
        [](const uint8_t* wb) { return UnpackNibbles32(wb + 2); },
        [](__m256i codes, __m256i a) { return DotOffsetU8S8(codes, a, 8); });
  }
};

// Q5_0: d fp16 @0, qh u32 @2 (bit e = bit 4 of element e), qs[16] @6; w.q = code - 16.
struct Q5_0Tile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    Q8_0FamilyTile<22, kW, kA>(
        w, w_row_bytes, act, act_row_bytes, n, out, out_stride,
        [](const uint8_t* wb) {
          uint32_t qh;
          std::memcpy(&qh, wb + 2, sizeof qh);
          const __m256i high = _mm256_and_si256(BitsToBytes(qh), _mm256_set1_epi8(16));
          return _mm256_or_si256(UnpackNibbles32(wb + 6), high);
        },
        [](__m256i codes, __m256i a) { return DotOffsetU8S8(codes, a, 16); });
  }
};

// ---- 256-value blocks against Q8_K ---------------------------------------------------------

// Q4_K: d @0, dmin @2 (fp16), scales[12] @4, qs[128] @16. Per block:
// d·a.d·Σ_j sc_j·Σ_{e∈j} v·aq − dmin·a.d·Σ_j mn_j·(bsums[2j] + bsums[2j+1]), with both integer
// sums accumulated in llama.cpp's order (x86::AccumulateQ4K). Each weight block is unpacked once
// per 64-value chunk for all activation rows.
struct Q4_KTile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m128 acc[kW][kA];
    for (auto& row_acc : acc) {
      for (__m128& a : row_acc) a = _mm_setzero_ps();
    }
    for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
      const uint8_t* wb[kW];
      const uint8_t* ab[kA];
      for (int i = 0; i < kW; ++i) wb[i] = w + i * w_row_bytes + blk_idx * 144;
      for (int r = 0; r < kA; ++r) ab[r] = act + r * act_row_bytes + blk_idx * kQ8KBytes;
      __m256i mins_pairs[kW], scales16[kW];
      for (int i = 0; i < kW; ++i) {
        uint64_t scales8, mins8;
        x86::UnpackQ4KScales(wb[i] + 4, &scales8, &mins8);
        // Mins as (mn_j, mn_j) int16 pairs against bsums pairs (b_2j, b_2j+1).
        const __m256i mins_dup = _mm256_cvtepu16_epi32(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mins8))));
        mins_pairs[i] = _mm256_or_si256(mins_dup, _mm256_slli_epi32(mins_dup, 16));
        // Scales as int16, one 128-bit copy per lane; shuffled to a broadcast per sub-block.
        scales16[i] = _mm256_broadcastsi128_si256(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scales8))));
      }
      __m256i sum[kW][kA];
      for (auto& row_sum : sum) {
        for (__m256i& s : row_sum) s = _mm256_setzero_si256();
      }
#pragma GCC unroll 8
      for (int chunk_idx = 0; chunk_idx < 4; ++chunk_idx) {
        const int sub_lo = 2 * chunk_idx, sub_hi = 2 * chunk_idx + 1;
        for (int i = 0; i < kW; ++i) {
          // 32 bytes of qs feed 64 values: low nibbles = sub-block 2c, high nibbles = 2c + 1.
          const __m256i q = Load256(wb[i] + 16 + 32 * chunk_idx);
          const __m256i q_lo = _mm256_and_si256(q, low4);
          const __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
          const __m256i sc_lo =
              _mm256_shuffle_epi8(scales16[i], _mm256_set1_epi16(0x0100 + 0x0202 * sub_lo));
          const __m256i sc_hi =
              _mm256_shuffle_epi8(scales16[i], _mm256_set1_epi16(0x0100 + 0x0202 * sub_hi));
          for (int r = 0; r < kA; ++r) {
            const uint8_t* aq = ab[r] + kQ8KQsOffset + 64 * chunk_idx;
            const __m256i p_lo = _mm256_maddubs_epi16(q_lo, Load256(aq));
            const __m256i p_hi = _mm256_maddubs_epi16(q_hi, Load256(aq + 32));
            sum[i][r] = _mm256_add_epi32(sum[i][r], _mm256_madd_epi16(p_lo, sc_lo));
            sum[i][r] = _mm256_add_epi32(sum[i][r], _mm256_madd_epi16(p_hi, sc_hi));
          }
        }
      }
      for (int i = 0; i < kW; ++i) {
        const __m128 d_dmin = x86::Q4KScales(wb[i]);
        for (int r = 0; r < kA; ++r) {
          const __m256i min_sums =
              _mm256_madd_epi16(Load256(ab[r] + kQ8KBsumsOffset), mins_pairs[i]);
          acc[i][r] = x86::AccumulateQ4K(d_dmin, LoadFloat(ab[r]), sum[i][r], min_sums, acc[i][r]);
        }
      }
    }
    for (int i = 0; i < kW; ++i) {
      for (int r = 0; r < kA; ++r) out[r * out_stride + i] = x86::Q4KResult(acc[i][r]);
    }
  }
};

// Q6_K: ql[128] @0, qh[64] @128, scales[16] int8 @192, d fp16 @208. Quants are kept unsigned
// (q6 = q + 32, 0..63) for maddubs; the −32 comes back through the bsums:
// Σ_g sc_g·Σ q·aq = Σ_g sc_g·Σ q6·aq − 32·Σ_g sc_g·bsums[g]. Lane k of a block's sum covers
// elements 4k..4k+3 of each 32-value chunk and the bsums of groups 2k, 2k+1, as in llama.cpp,
// whose float order (one FMA per block) this follows. Each 32-value chunk of a weight block is
// unpacked once for all activation rows.
struct Q6_KTile {
  template <int kW, int kA>
  static void Run(const uint8_t* w, size_t w_row_bytes, const uint8_t* act, size_t act_row_bytes,
                  int64_t n, float* out, int64_t out_stride) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // Per 32-value chunk c (groups 2c, 2c+1): low lane broadcasts int16 2(c%4), high lane
    // 2(c%4) + 1 of an 8-scale 128-bit vector.
    const __m256i chunk_shuffle[4] = {
        _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                         3, 2, 3, 2, 3, 2, 3),
        _mm256_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6,
                         7, 6, 7, 6, 7, 6, 7),
        _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10,
                         11, 10, 11, 10, 11, 10, 11, 10, 11),
        _mm256_setr_epi8(12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14,
                         15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15),
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
      __m256i sum[kW][kA];
      for (auto& row_sum : sum) {
        for (__m256i& s : row_sum) s = _mm256_setzero_si256();
      }
#pragma GCC unroll 8
      for (int half_idx = 0; half_idx < 2; ++half_idx) {
#pragma GCC unroll 8
        for (int k = 0; k < 4; ++k) {
          for (int i = 0; i < kW; ++i) {
            // 128 values: ql bytes A = ql[64h..+31], B = ql[64h+32..+63], high bits
            // H = qh[32h..+31]. Values 0-31: lo4(A) | H bits 0-1; 32-63: lo4(B) | bits 2-3;
            // 64-95: hi4(A) | bits 4-5; 96-127: hi4(B) | bits 6-7 (the 0x30 mask drops bits
            // shifted in from neighbour bytes).
            const __m256i ql = Load256(wb[i] + 64 * half_idx + 32 * (k % 2));
            const __m256i qh = Load256(wb[i] + 128 + 32 * half_idx);
            const __m256i low = k < 2 ? _mm256_and_si256(ql, low4)
                                      : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
            const __m256i high = k == 0   ? _mm256_slli_epi16(qh, 4)
                                 : k == 1 ? _mm256_slli_epi16(qh, 2)
                                 : k == 2 ? qh
                                          : _mm256_srli_epi16(qh, 2);
            const __m256i q = _mm256_or_si256(low, _mm256_and_si256(high, bits45));
            // The half's 8 scales in each 128-bit lane, shuffled to this chunk's two groups.
            const __m256i scales_half = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(
                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(wb[i] + 192 + 8 * half_idx))));
            const __m256i sc = _mm256_shuffle_epi8(scales_half, chunk_shuffle[k]);
            for (int r = 0; r < kA; ++r) {
              const __m256i p =
                  _mm256_maddubs_epi16(q, Load256(ab[r] + kQ8KQsOffset + 128 * half_idx + 32 * k));
              sum[i][r] = _mm256_add_epi32(sum[i][r], _mm256_madd_epi16(p, sc));
            }
          }
        }
      }
      for (int i = 0; i < kW; ++i) {
        const __m256i scales16 = _mm256_cvtepi8_epi16(Load128(wb[i] + 192));
        const float w_d = HalfToFloat(wb[i] + 208);
        for (int r = 0; r < kA; ++r) {
          const __m256i bsum_terms = _mm256_madd_epi16(Load256(ab[r] + kQ8KBsumsOffset), scales16);
          const __m256i lanes = _mm256_sub_epi32(sum[i][r], _mm256_slli_epi32(bsum_terms, 5));
          acc[i][r] = _mm256_fmadd_ps(_mm256_set1_ps(LoadFloat(ab[r]) * w_d),
                                      _mm256_cvtepi32_ps(lanes), acc[i][r]);
        }
      }
    }
    for (int i = 0; i < kW; ++i) {
      for (int r = 0; r < kA; ++r) out[r * out_stride + i] = HsumF32x8(acc[i][r]);
    }
  }
};

// ---- Float weights against f32 activations -------------------------------------------------

// LoadW(w, i) -> 8 floats of weights i..i+7; ScalarW(w, i) -> weight i. Four accumulators.
template <typename LoadW, typename ScalarW>
float DotFloatFamily(const uint8_t* w, const float* a, int64_t n, LoadW load_w, ScalarW scalar_w) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(load_w(w, i + 8 * k), _mm256_loadu_ps(a + i + 8 * k), acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_w(w, i), _mm256_loadu_ps(a + i), acc[0]);
  float sum =
      HsumF32x8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += scalar_w(w, i) * a[i];
  return sum;
}

float DotF32(const void* weight_row, const void* act_row, int64_t n) {
  return DotFloatFamily(
      static_cast<const uint8_t*>(weight_row), static_cast<const float*>(act_row), n,
      [](const uint8_t* w, int64_t i) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
      },
      [](const uint8_t* w, int64_t i) { return LoadFloat(w + 4 * i); });
}

float DotF16(const void* weight_row, const void* act_row, int64_t n) {
  return DotFloatFamily(
      static_cast<const uint8_t*>(weight_row), static_cast<const float*>(act_row), n,
      [](const uint8_t* w, int64_t i) { return _mm256_cvtph_ps(Load128(w + 2 * i)); },
      [](const uint8_t* w, int64_t i) { return HalfToFloat(w + 2 * i); });
}

float DotBF16(const void* weight_row, const void* act_row, int64_t n) {
  return DotFloatFamily(
      static_cast<const uint8_t*>(weight_row), static_cast<const float*>(act_row), n,
      [](const uint8_t* w, int64_t i) {
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(Load128(w + 2 * i)), 16));
      },
      [](const uint8_t* w, int64_t i) {
        uint32_t bits = static_cast<uint32_t>(w[2 * i] | (w[2 * i + 1] << 8)) << 16;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
      });
}

// ---- Quantizers ----------------------------------------------------------------------------

__m256 AbsPs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

float HmaxF32x8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Four int32x8 (values 0-7, 8-15, 16-23, 24-31, each in [-127, 127]) -> 32 int8 in order.
__m256i PackI32ToI8(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  // packs works within 128-bit lanes, leaving 4-byte groups in the order 0 2 4 6 1 3 5 7.
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
  return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Q8_0 blocks, as gs::ref: d = amax/127 (fp16), q = round-half-even(x * (127/amax)) (cvtps
// under the default rounding mode).
void QuantizeQ8_0(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t blk_idx = 0; blk_idx < n / 32; ++blk_idx) {
    const float* x = src + blk_idx * 32;
    uint8_t* ob = out + blk_idx * kQ8_0Bytes;
    __m256 v[4];
#pragma GCC unroll 8
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 amax8 = _mm256_max_ps(_mm256_max_ps(AbsPs(v[0]), AbsPs(v[1])),
                                       _mm256_max_ps(AbsPs(v[2]), AbsPs(v[3])));
    const float amax = HmaxF32x8(amax8);
    const float d = amax / 127.0f;
    const __m256 inv_scale = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
    __m256i q[4];
#pragma GCC unroll 8
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inv_scale));
    const uint16_t d_half = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(ob, &d_half, sizeof d_half);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ob + 2), PackI32ToI8(q[0], q[1], q[2], q[3]));
  }
}

// Q8_K blocks, as gs::ref: the first value of largest magnitude m maps to -127, q =
// min(127, round-half-even(-127/m * x)) (cvtps under the default rounding mode), d = 1/iscale.
void QuantizeQ8_K(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t blk_idx = 0; blk_idx < n / 256; ++blk_idx) {
    const float* x = src + blk_idx * 256;
    uint8_t* ob = out + blk_idx * kQ8KBytes;
    __m256 amax8 = _mm256_setzero_ps();
    for (int k = 0; k < 32; ++k) amax8 = _mm256_max_ps(amax8, AbsPs(_mm256_loadu_ps(x + 8 * k)));
    const float amax = HmaxF32x8(amax8);
    std::memset(ob, 0, kQ8KBytes);  // the all-zero block: d = 0, q = 0 and bsums = 0
    if (amax == 0) continue;
    float max = 0;
    for (int k = 0; k < 32; ++k) {
      const __m256 hit =
          _mm256_cmp_ps(AbsPs(_mm256_loadu_ps(x + 8 * k)), _mm256_set1_ps(amax), _CMP_EQ_OQ);
      const int mask = _mm256_movemask_ps(hit);
      if (mask != 0) {
        max = x[8 * k + __builtin_ctz(static_cast<unsigned>(mask))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 iscale8 = _mm256_set1_ps(iscale);
    const __m256i limit = _mm256_set1_epi32(127);
    int16_t bsums[16];
    for (int g2 = 0; g2 < 8; ++g2) {  // 32 values = groups 2*g2 and 2*g2 + 1
      __m256i q[4];
#pragma GCC unroll 8
      for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * g2 + 8 * k), iscale8);
        q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(v), limit);
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ob + kQ8KQsOffset + 32 * g2),
                          PackI32ToI8(q[0], q[1], q[2], q[3]));
      const __m128i sums =
          HsumI32x8Pair(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      bsums[2 * g2] = static_cast<int16_t>(_mm_cvtsi128_si32(sums));
      bsums[2 * g2 + 1] = static_cast<int16_t>(_mm_extract_epi32(sums, 1));
    }
    std::memcpy(ob + kQ8KBsumsOffset, bsums, sizeof bsums);
    const float d = 1.0f / iscale;
    std::memcpy(ob, &d, sizeof d);
  }
}

}  // namespace

namespace internal {

DotKernels Avx2Dots(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kF32:
      return internal::SingleRowDot<DotF32>();
    case GgmlType::kF16:
      return internal::SingleRowDot<DotF16>();
    case GgmlType::kBF16:
      return internal::SingleRowDot<DotBF16>();
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

QuantizeRowFn Avx2QuantizeRow(GgmlType act_type) {
  switch (act_type) {
    case GgmlType::kQ8_0:
      return QuantizeQ8_0;
    case GgmlType::kQ8_K:
      return QuantizeQ8_K;
    default:
      return nullptr;
  }
}

}  // namespace internal
}  // namespace gs::cpu
