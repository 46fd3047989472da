#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <climits>
#include <cstdint>

#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/reduce_cuda.cuh"

namespace gs::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kKeyTile = 32;  // keys per prefill iteration

// ---- Cache reads: 8 consecutive values of one cached row, starting at elem_idx (a multiple
// of 8, so bf16 reads are 16-byte aligned and fp8 reads 8-byte aligned).

template <KvType kKv>
__device__ __forceinline__ uint4 Load8AsBf16(const void* cache, int64_t elem_idx, float scale) {
  if constexpr (kKv == KvType::kBf16) {
    return *reinterpret_cast<const uint4*>(static_cast<const __nv_bfloat16*>(cache) + elem_idx);
  } else {
    const uint2 raw =
        *reinterpret_cast<const uint2*>(static_cast<const uint8_t*>(cache) + elem_idx);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&raw);
    uint4 out;
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      __nv_fp8_e4m3 lo, hi;
      lo.__x = bytes[2 * e];
      hi.__x = bytes[2 * e + 1];
      pairs[e] =
          __floats2bfloat162_rn(static_cast<float>(lo) * scale, static_cast<float>(hi) * scale);
    }
    return out;
  }
}

template <KvType kKv>
__device__ __forceinline__ void Load8AsF32(const void* cache, int64_t elem_idx, float scale,
                                           float* out) {
  if constexpr (kKv == KvType::kBf16) {
    const uint4 raw =
        *reinterpret_cast<const uint4*>(static_cast<const __nv_bfloat16*>(cache) + elem_idx);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 f = __bfloat1622float2(pairs[e]);
      out[2 * e] = f.x;
      out[2 * e + 1] = f.y;
    }
  } else {
    const uint2 raw =
        *reinterpret_cast<const uint2*>(static_cast<const uint8_t*>(cache) + elem_idx);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&raw);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      __nv_fp8_e4m3 v;
      v.__x = bytes[e];
      out[e] = static_cast<float>(v) * scale;
    }
  }
}

// 4 or 8 consecutive values (kN): 128-wide heads give each lane 4 dims.
template <KvType kKv, int kN>
__device__ __forceinline__ void LoadAsF32(const void* cache, int64_t elem_idx, float scale,
                                          float* out) {
  if constexpr (kN == 8) {
    Load8AsF32<kKv>(cache, elem_idx, scale, out);
  } else if constexpr (kKv == KvType::kBf16) {
    static_assert(kN == 4);
    const uint2 raw =
        *reinterpret_cast<const uint2*>(static_cast<const __nv_bfloat16*>(cache) + elem_idx);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const float2 f = __bfloat1622float2(pairs[e]);
      out[2 * e] = f.x;
      out[2 * e + 1] = f.y;
    }
  } else {
    static_assert(kN == 4);
    const uint32_t raw =
        *reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(cache) + elem_idx);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      __nv_fp8_e4m3 v;
      v.__x = static_cast<uint8_t>(raw >> (8 * e));
      out[e] = static_cast<float>(v) * scale;
    }
  }
}

__device__ __forceinline__ float RowScale(const float* scales, int64_t idx) {
  return scales != nullptr ? scales[idx] : 1.0f;
}

__device__ __forceinline__ float Softcap(float s, float softcap) {
  return softcap > 0 ? softcap * tanhf(s / softcap) : s;
}

__device__ __forceinline__ bool Visible(int32_t key, int32_t pos, int32_t window) {
  return key <= pos && (window == 0 || pos - key < window);
}

// ---- Tensor-core fragments (PTX ISA, mma.m16n8k16 with .bf16 operands). With g = lane / 4 and
// t = lane % 4: A (16x16, row-major) regs hold (row g, cols 2t..2t+1), (row g+8, cols 2t..),
// (row g, cols 8+2t..), (row g+8, cols 8+2t..); B (16x8, k x n) regs hold (k 2t..2t+1, n g) and
// (k 8+2t.., n g); C (16x8) holds (row g, cols 2t, 2t+1) and (row g+8, cols 2t, 2t+1). The lower
// column of each pair sits in the low 16 bits.

__device__ __forceinline__ void Mma16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t LoadPair(const __nv_bfloat16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// ---- Prefill: one block per (tile of up to 64 query rows, query head). Four "row" warps own
// 16 query rows each. At head dim 512 a second set of four warps takes the upper half of the
// head dims: each warp of a pair computes S over its half and the halves are summed through
// shared memory, then each keeps O for its half (a warp's O is 16 rows x 256 dims in registers).
template <int kHeadDim>
struct PrefillShape {
  static constexpr int kDimSplit = kHeadDim >= 256 ? kHeadDim / 256 : 1;
  static constexpr int kDimsPerWarp = kHeadDim / kDimSplit;
  static constexpr int kWarps = 4 * kDimSplit;
  static constexpr int kThreads = 32 * kWarps;
  // Rows padded by 8 bf16 (16 bytes): the fragment reads of a warp then hit 32 distinct banks.
  static constexpr int kQStride = kHeadDim + 8;
  static constexpr int kKStride = kHeadDim + 8;
  static constexpr int kVtStride = kKeyTile + 8;  // V is stored transposed: [dim][key]
  static constexpr int kExchangeFloats = kDimSplit > 1 ? kWarps * 16 * kKeyTile : 0;
  static constexpr int kScaleFloats = 2 * kKeyTile;  // fp8 caches: each key's K and V scale
  static constexpr size_t kSmemBytes =
      (size_t{kPrefillTileRows} * kQStride + size_t{kKeyTile} * kKStride +
       size_t{kHeadDim} * kVtStride) *
          sizeof(__nv_bfloat16) +
      (kExchangeFloats + kScaleFloats) * sizeof(float);
};

template <int kHeadDim, KvType kKv>
__global__ void __launch_bounds__(PrefillShape<kHeadDim>::kThreads, 1)
    PrefillKernel(PagedAttentionParams p) {
  using Shape = PrefillShape<kHeadDim>;
  constexpr int kDims = Shape::kDimsPerWarp;
  extern __shared__ __align__(16) uint8_t smem[];
  __nv_bfloat16* sq = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* sk = sq + kPrefillTileRows * Shape::kQStride;
  __nv_bfloat16* svt = sk + kKeyTile * Shape::kKStride;
  float* sx = reinterpret_cast<float*>(svt + kHeadDim * Shape::kVtStride);
  // fp8: the tile holds the e4m3 values exactly (every one is a bf16) and the per-row scales
  // apply in f32, to S's columns (K) and to P's columns before P·V (V), so the cache's values
  // are not rounded a second time.
  float* sks = sx + Shape::kExchangeFloats;
  float* svs = sks + kKeyTile;
  constexpr bool kScaled = kKv == KvType::kFp8;

  const PrefillTile tile = p.tiles[blockIdx.x];
  const int head_idx = blockIdx.y;
  const int kv_head_idx = head_idx / (p.num_heads / p.num_kv_heads);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int warp_m = warp & 3, warp_d = warp >> 2;
  const int g = lane >> 2, t = lane & 3;

  // Q tile to bf16 (rows past the tile are zero and fully masked below).
  for (int idx = threadIdx.x; idx < kPrefillTileRows * (kHeadDim / 4); idx += Shape::kThreads) {
    const int r = idx / (kHeadDim / 4), c = (idx % (kHeadDim / 4)) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (r < tile.num_rows) {
      v = *reinterpret_cast<const float4*>(
          p.q + (static_cast<int64_t>(tile.row_begin + r) * p.num_heads + head_idx) * kHeadDim + c);
    }
    __nv_bfloat162* dst = reinterpret_cast<__nv_bfloat162*>(sq + r * Shape::kQStride + c);
    dst[0] = __floats2bfloat162_rn(v.x, v.y);
    dst[1] = __floats2bfloat162_rn(v.z, v.w);
  }

  // The tile's key range: from the first row's window start to the last row's position.
  int32_t min_pos = INT_MAX, max_pos = -1;
  for (int r = 0; r < tile.num_rows; ++r) {
    const int32_t pos = p.positions[tile.row_begin + r];
    min_pos = min(min_pos, pos);
    max_pos = max(max_pos, pos);
  }
  const int32_t key_begin = p.window > 0 ? max(0, min_pos - p.window + 1) : 0;
  const int32_t key_end = max_pos + 1;
  const int r0 = warp_m * 16 + g, r1 = r0 + 8;
  const int32_t pos0 = r0 < tile.num_rows ? p.positions[tile.row_begin + r0] : -1;
  const int32_t pos1 = r1 < tile.num_rows ? p.positions[tile.row_begin + r1] : -1;
  const int32_t* blocks = p.block_ids + p.block_indptr[tile.seq_idx];

  float o[kDims / 8][4];
#pragma unroll
  for (int dn = 0; dn < kDims / 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // log2 units; l partial per lane

  for (int32_t key_tile = key_begin; key_tile < key_end; key_tile += kKeyTile) {
    __syncthreads();  // the previous tile's reads of sk/svt/sx are done; Q is written
    // The cache row of each of the tile's keys; -1 past the range or in a released block.
    auto cache_row = [&](int j) -> int64_t {
      const int32_t key = key_tile + j;
      const int32_t block = key < key_end ? blocks[key / p.block_size] : -1;
      if (block < 0) return -1;
      return (static_cast<int64_t>(block) * p.block_size + key % p.block_size) * p.num_kv_heads +
             kv_head_idx;
    };
    // K row-major: consecutive lanes read consecutive 16-byte pieces of one row (coalesced) and
    // store them side by side. Zeros for rows without a key: masked keys get P = 0, and
    // 0 * garbage could be NaN.
    for (int idx = threadIdx.x; idx < kKeyTile * (kHeadDim / 8); idx += Shape::kThreads) {
      const int j = idx / (kHeadDim / 8), c = (idx % (kHeadDim / 8)) * 8;
      const int64_t row = cache_row(j);
      *reinterpret_cast<uint4*>(sk + j * Shape::kKStride + c) =
          row >= 0 ? Load8AsBf16<kKv>(p.k_cache, row * kHeadDim + c, 1.0f) : make_uint4(0, 0, 0, 0);
      if (kScaled && c == 0) sks[j] = row >= 0 ? p.k_scale[row] : 0.f;
    }
    // V transposed: consecutive lanes take consecutive keys, so a warp's 2-byte stores fall on
    // consecutive addresses (conflict-free) instead of one bank per lane.
    for (int idx = threadIdx.x; idx < kKeyTile * (kHeadDim / 8); idx += Shape::kThreads) {
      const int j = idx % kKeyTile, c = (idx / kKeyTile) * 8;
      const int64_t row = cache_row(j);
      const uint4 vv =
          row >= 0 ? Load8AsBf16<kKv>(p.v_cache, row * kHeadDim + c, 1.0f) : make_uint4(0, 0, 0, 0);
      if (kScaled && c == 0) svs[j] = row >= 0 ? p.v_scale[row] : 0.f;
      const __nv_bfloat16* ve = reinterpret_cast<const __nv_bfloat16*>(&vv);
#pragma unroll
      for (int e = 0; e < 8; ++e) svt[(c + e) * Shape::kVtStride + j] = ve[e];
    }
    __syncthreads();

    // S = Q·Kᵀ over this warp's head dims: 4 n-tiles of 8 keys.
    float s[4][4];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
    const __nv_bfloat16* qa = sq + (warp_m * 16) * Shape::kQStride + warp_d * kDims;
    const __nv_bfloat16* kb = sk + warp_d * kDims;
#pragma unroll
    for (int k0 = 0; k0 < kDims; k0 += 16) {
      const uint32_t a0 = LoadPair(qa + g * Shape::kQStride + k0 + 2 * t);
      const uint32_t a1 = LoadPair(qa + (g + 8) * Shape::kQStride + k0 + 2 * t);
      const uint32_t a2 = LoadPair(qa + g * Shape::kQStride + k0 + 8 + 2 * t);
      const uint32_t a3 = LoadPair(qa + (g + 8) * Shape::kQStride + k0 + 8 + 2 * t);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const __nv_bfloat16* krow = kb + (nt * 8 + g) * Shape::kKStride;
        Mma16816(s[nt], a0, a1, a2, a3, LoadPair(krow + k0 + 2 * t),
                 LoadPair(krow + k0 + 8 + 2 * t));
      }
    }
    if constexpr (Shape::kDimSplit > 1) {
      // Sum the two halves of the head dims: same lanes, same fragment positions.
      float* mine = sx + warp * 16 * kKeyTile;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
        for (int i = 0; i < 4; ++i) mine[(nt * 4 + i) * 32 + lane] = s[nt][i];
      }
      __syncthreads();
      const float* other = sx + (warp ^ 4) * 16 * kKeyTile;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
        for (int i = 0; i < 4; ++i) s[nt][i] += other[(nt * 4 + i) * 32 + lane];
      }
    }

    // Online softmax, in log2 units. Each row's values are spread over the 4 lanes of a group.
    float max0 = -INFINITY, max1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int col = nt * 8 + 2 * t + (i & 1);
        const int32_t key = key_tile + col;
        const int32_t pos = i < 2 ? pos0 : pos1;
        if constexpr (kScaled) s[nt][i] *= sks[col];
        const float x = Softcap(s[nt][i] * p.scale, p.softcap) * kLog2e;
        s[nt][i] = Visible(key, pos, p.window) ? x : -INFINITY;
        if (i < 2) {
          max0 = fmaxf(max0, s[nt][i]);
        } else {
          max1 = fmaxf(max1, s[nt][i]);
        }
      }
    }
#pragma unroll
    for (int offset = 1; offset < 4; offset <<= 1) {
      max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, offset));
      max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, offset));
    }
    const float new0 = fmaxf(m0, max0), new1 = fmaxf(m1, max1);
    // A row with no visible key yet keeps m = -inf: its P is 0 and O stays 0.
    const float base0 = new0 == -INFINITY ? 0.f : new0;
    const float base1 = new1 == -INFINITY ? 0.f : new1;
    const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
    m0 = new0;
    m1 = new1;
    l0 *= alpha0;
    l1 *= alpha1;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      s[nt][0] = exp2f(s[nt][0] - base0);
      s[nt][1] = exp2f(s[nt][1] - base0);
      s[nt][2] = exp2f(s[nt][2] - base1);
      s[nt][3] = exp2f(s[nt][3] - base1);
      l0 += s[nt][0] + s[nt][1];
      l1 += s[nt][2] + s[nt][3];
    }
#pragma unroll
    for (int dn = 0; dn < kDims / 8; ++dn) {
      o[dn][0] *= alpha0;
      o[dn][1] *= alpha0;
      o[dn][2] *= alpha1;
      o[dn][3] *= alpha1;
    }

    // O += P·V: P's accumulator layout is already the A layout of a 16-key k-step.
    const __nv_bfloat16* vb = svt + (warp_d * kDims) * Shape::kVtStride;
    if constexpr (kScaled) {  // l above summed the unscaled weights
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const float v_lo = svs[nt * 8 + 2 * t], v_hi = svs[nt * 8 + 2 * t + 1];
        s[nt][0] *= v_lo;
        s[nt][1] *= v_hi;
        s[nt][2] *= v_lo;
        s[nt][3] *= v_hi;
      }
    }
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
      const uint32_t a0 = PackBf16(s[2 * kk][0], s[2 * kk][1]);
      const uint32_t a1 = PackBf16(s[2 * kk][2], s[2 * kk][3]);
      const uint32_t a2 = PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      const uint32_t a3 = PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dn = 0; dn < kDims / 8; ++dn) {
        const __nv_bfloat16* vrow = vb + (dn * 8 + g) * Shape::kVtStride + kk * 16;
        Mma16816(o[dn], a0, a1, a2, a3, LoadPair(vrow + 2 * t), LoadPair(vrow + 8 + 2 * t));
      }
    }
  }

#pragma unroll
  for (int offset = 1; offset < 4; offset <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, offset);
    l1 += __shfl_xor_sync(0xffffffffu, l1, offset);
  }
  const float inv0 = l0 > 0 ? 1.f / l0 : 0.f, inv1 = l1 > 0 ? 1.f / l1 : 0.f;
  const int dim0 = warp_d * kDims + 2 * t;
  if (r0 < tile.num_rows) {
    float* out = p.out +
                 (static_cast<int64_t>(tile.row_begin + r0) * p.num_heads + head_idx) * kHeadDim +
                 dim0;
#pragma unroll
    for (int dn = 0; dn < kDims / 8; ++dn) {
      *reinterpret_cast<float2*>(out + dn * 8) = make_float2(o[dn][0] * inv0, o[dn][1] * inv0);
    }
  }
  if (r1 < tile.num_rows) {
    float* out = p.out +
                 (static_cast<int64_t>(tile.row_begin + r1) * p.num_heads + head_idx) * kHeadDim +
                 dim0;
#pragma unroll
    for (int dn = 0; dn < kDims / 8; ++dn) {
      *reinterpret_cast<float2*>(out + dn * 8) = make_float2(o[dn][2] * inv1, o[dn][3] * inv1);
    }
  }
}

// ---- Decode: one block per (split, KV head, chunk of kGroup query heads). Each warp walks
// keys warp, warp + 4, ... of the split; a lane owns 8 (or 16) dims of every row, so one key's
// K and V are one 16-byte load per lane per 256 dims, read once for all kGroup heads.
constexpr int kDecodeWarps = 4;

template <int kHeadDim, int kGroup, KvType kKv>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    DecodeKernel(PagedAttentionParams p, int32_t num_head_chunks) {
  constexpr int kPerLane = kHeadDim / 32;
  constexpr int kChunk = kPerLane < 8 ? kPerLane : 8;  // values per load (8 bytes or 16)
  constexpr int kLoads = kPerLane / kChunk;            // loads per lane per row
  __shared__ float s_acc[kDecodeWarps][kGroup][kHeadDim];
  __shared__ float s_m[kDecodeWarps][kGroup], s_l[kDecodeWarps][kGroup];

  const int split_idx = blockIdx.x;
  const DecodeSplit split = p.splits[split_idx];
  const int kv_head_idx = blockIdx.y / num_head_chunks;
  const int head0 =
      kv_head_idx * (p.num_heads / p.num_kv_heads) + (blockIdx.y % num_head_chunks) * kGroup;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // Lane-interleaved chunks keep each load coalesced across the warp.
  auto dim_of = [&](int i) { return (i / kChunk) * (32 * kChunk) + lane * kChunk + (i % kChunk); };

  float q[kGroup][kPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    const float* qrow =
        p.q + (static_cast<int64_t>(split.row_idx) * p.num_heads + head0 + h) * kHeadDim;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) q[h][i] = qrow[dim_of(i)] * p.scale;
  }
  float m[kGroup], l[kGroup], acc[kGroup][kPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[h][i] = 0.f;
  }
  const int32_t pos = p.positions[split.row_idx];
  const int32_t* blocks = p.block_ids + p.block_indptr[split.seq_idx];

  // kKeys keys per warp per iteration, all loads issued before the first use: one key's two
  // 16-byte loads per lane leave too few bytes in flight to cover memory latency.
  constexpr int kKeys = kGroup * kHeadDim <= 1024 ? 2 : 1;  // registers permitting
  for (int32_t key0 = split.key_begin + warp; key0 < split.key_end; key0 += kKeys * kDecodeWarps) {
    float kf[kKeys][kPerLane], vf[kKeys][kPerLane];
    bool live[kKeys];
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      const int32_t key = key0 + u * kDecodeWarps;
      // Warp-uniform: the plan's range holds only visible keys of live blocks; checked anyway.
      const int32_t block = key < split.key_end ? blocks[key / p.block_size] : -1;
      live[u] = block >= 0 && Visible(key, pos, p.window);
      if (!live[u]) continue;
      const int64_t row =
          (static_cast<int64_t>(block) * p.block_size + key % p.block_size) * p.num_kv_heads +
          kv_head_idx;
#pragma unroll
      for (int c = 0; c < kLoads; ++c) {
        const int64_t elem = row * kHeadDim + c * 32 * kChunk + lane * kChunk;
        LoadAsF32<kKv, kChunk>(p.k_cache, elem, RowScale(p.k_scale, row), kf[u] + c * kChunk);
        LoadAsF32<kKv, kChunk>(p.v_cache, elem, RowScale(p.v_scale, row), vf[u] + c * kChunk);
      }
    }
#pragma unroll
    for (int u = 0; u < kKeys; ++u) {
      if (!live[u]) continue;
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) dot += q[h][i] * kf[u][i];
        const float s = Softcap(WarpSum(dot), p.softcap) * kLog2e;
        const float m_new = fmaxf(m[h], s);
        const float alpha = exp2f(m[h] - m_new), weight = exp2f(s - m_new);
        m[h] = m_new;
        l[h] = l[h] * alpha + weight;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) acc[h][i] = acc[h][i] * alpha + weight * vf[u][i];
      }
    }
  }

  // Merge the warps' partial softmaxes, then write this split's normalized output and its
  // log-sum-exp (natural log) per head.
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) s_acc[warp][h][dim_of(i)] = acc[h][i];
    if (lane == 0) {
      s_m[warp][h] = m[h];
      s_l[warp][h] = l[h];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kGroup * kHeadDim; idx += blockDim.x) {
    const int h = idx / kHeadDim, d = idx % kHeadDim;
    float m_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) m_max = fmaxf(m_max, s_m[w][h]);
    float num = 0.f, den = 0.f;
    if (m_max != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) {
        const float weight = exp2f(s_m[w][h] - m_max);  // 0 for a warp that saw no key
        num += weight * s_acc[w][h][d];
        den += weight * s_l[w][h];
      }
    }
    const int64_t partial_idx = static_cast<int64_t>(split_idx) * p.num_heads + head0 + h;
    p.partial_out[partial_idx * kHeadDim + d] = den > 0 ? num / den : 0.f;
    if (d == 0) p.partial_lse[partial_idx] = den > 0 ? (m_max + log2f(den)) / kLog2e : -INFINITY;
  }
}

// One block per (decode row, head): out = Σ_s exp(lse_s − LSE) · o_s.
__global__ void CombineKernel(PagedAttentionParams p) {
  const DecodeRow row = p.decode_rows[blockIdx.x];
  const int head_idx = blockIdx.y;
  float lse_max = -INFINITY;
  for (int s = 0; s < row.num_splits; ++s) {
    lse_max = fmaxf(lse_max, p.partial_lse[(row.split_begin + s) * p.num_heads + head_idx]);
  }
  float* out = p.out + (static_cast<int64_t>(row.row_idx) * p.num_heads + head_idx) * p.head_dim;
  for (int d = threadIdx.x; d < p.head_dim; d += blockDim.x) {
    float num = 0.f, den = 0.f;
    for (int s = 0; s < row.num_splits; ++s) {
      const int64_t partial_idx =
          static_cast<int64_t>(row.split_begin + s) * p.num_heads + head_idx;
      const float lse = p.partial_lse[partial_idx];
      if (lse == -INFINITY) continue;
      const float weight = __expf(lse - lse_max);
      num += weight * p.partial_out[partial_idx * p.head_dim + d];
      den += weight;
    }
    out[d] = den > 0 ? num / den : 0.f;
  }
}

template <int kHeadDim, KvType kKv>
void LaunchPrefill(const PagedAttentionParams& p, cudaStream_t stream) {
  using Shape = PrefillShape<kHeadDim>;
  static const bool configured = [] {
    GS_CUDA_CHECK(cudaFuncSetAttribute(PrefillKernel<kHeadDim, kKv>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(Shape::kSmemBytes)));
    return true;
  }();
  (void)configured;
  PrefillKernel<kHeadDim, kKv>
      <<<dim3(p.num_tiles, p.num_heads), Shape::kThreads, Shape::kSmemBytes, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

template <int kHeadDim, int kGroup, KvType kKv>
void LaunchDecode(const PagedAttentionParams& p, cudaStream_t stream) {
  const int32_t num_head_chunks = p.num_heads / p.num_kv_heads / kGroup;
  DecodeKernel<kHeadDim, kGroup, kKv>
      <<<dim3(p.num_splits, p.num_kv_heads * num_head_chunks), kDecodeWarps * 32, 0, stream>>>(
          p, num_head_chunks);
  GS_CUDA_CHECK_LAUNCH();
}

// Largest supported chunk of query heads per block that divides the GQA group: registers hold
// kGroup x head_dim / 32 query and accumulator values per lane, so 512-wide heads take at most 4.
template <int kHeadDim, KvType kKv>
void DispatchDecode(const PagedAttentionParams& p, cudaStream_t stream) {
  const int32_t group = p.num_heads / p.num_kv_heads;
  if (kHeadDim <= 256 && group % 8 == 0) {
    LaunchDecode<kHeadDim, (kHeadDim <= 256 ? 8 : 4), kKv>(p, stream);
  } else if (group % 4 == 0) {
    LaunchDecode<kHeadDim, 4, kKv>(p, stream);
  } else if (group % 2 == 0) {
    LaunchDecode<kHeadDim, 2, kKv>(p, stream);
  } else {
    LaunchDecode<kHeadDim, 1, kKv>(p, stream);
  }
}

template <int kHeadDim, KvType kKv>
void Run(const PagedAttentionParams& p, cudaStream_t stream) {
  if (p.num_tiles > 0) LaunchPrefill<kHeadDim, kKv>(p, stream);
  if (p.num_splits > 0) {
    DispatchDecode<kHeadDim, kKv>(p, stream);
    CombineKernel<<<dim3(p.num_decode_rows, p.num_heads), 128, 0, stream>>>(p);
    GS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

bool AttentionSupportsHeadDim(int32_t head_dim) {
  return head_dim == 128 || head_dim == 256 || head_dim == 512;
}

size_t AttentionSharedMemBytes(int32_t head_dim) {
  if (head_dim == 128) return PrefillShape<128>::kSmemBytes;
  return head_dim == 512 ? PrefillShape<512>::kSmemBytes : PrefillShape<256>::kSmemBytes;
}

void PagedAttention(const PagedAttentionParams& p, cudaStream_t stream) {
  const bool fp8 = p.kv_type == KvType::kFp8;
  if (p.head_dim == 128) {
    fp8 ? Run<128, KvType::kFp8>(p, stream) : Run<128, KvType::kBf16>(p, stream);
  } else if (p.head_dim == 256) {
    fp8 ? Run<256, KvType::kFp8>(p, stream) : Run<256, KvType::kBf16>(p, stream);
  } else if (p.head_dim == 512) {
    fp8 ? Run<512, KvType::kFp8>(p, stream) : Run<512, KvType::kBf16>(p, stream);
  } else {
    std::fprintf(stderr, "PagedAttention: head dim %d is not supported\n", p.head_dim);
    std::abort();
  }
}

}  // namespace gs::cuda
