// Small-batch GGUF matrix products. Design (numbers for an H200, ~4.3 TB/s measured copy):
//
// * One warp owns kOpw consecutive output rows of one target (a "row group") and streams them
//   along the columns in chunks of 32 segments (32 x 32 values for quantized types, 32 x 8 for
//   float types): one segment per lane per chunk.
// * Weight bytes travel global -> registers -> shared memory with 16-byte loads (__ldcs: streamed
//   once, evict-first so x stays in L2), coalesced across the warp. GGUF rows of Q8_0/Q4_0/Q5_0/
//   Q6_K are not 16-byte aligned (blocks of 34/18/22/210 bytes), so the warp loads the aligned
//   16-byte words that cover a chunk and decodes from shared memory at the chunk's byte offset.
//   Chunk k + 1 is loaded into registers before chunk k is decoded, so each warp keeps
//   kOpw x ~0.6-1.1 KB in flight; at 12-16 resident warps per SM that is 20-60 KB per SM, above
//   the ~25 KB that Little's law asks for at 4.3 TB/s and ~800 ns latency.
// * x is read as float4 through the read-only path: each x value loaded is reused for the kOpw
//   rows of the group, which divides L1 traffic for x by kOpw.
// * Decoding produces ref-exact weights four at a time (quant_cuda.cuh), then one FMA per
//   (weight, x row). At num_rows = 1 the cost is ~4-6 instructions per weight, which keeps
//   4-bit types near the issue limit (~7.5e12 weights/s would be 4.3 TB/s of Q4_K); at
//   num_rows = 8 the 8 FMAs per weight make low-bit types ALU-bound (see the report / bench).
// * Partial sums are reduced with warp shuffles; lane 0 writes the kOpw x num_rows results.
#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/matvec_cuda.h"
#include "kernels/cuda/quant_cuda.cuh"

namespace gs::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kThreads = 32 * kWarpsPerBlock;

// The launch for the targets of one weight type.
struct MatVecLaunch {
  const float* x;  // [num_rows, num_cols]
  int64_t num_rows, num_cols;
  MatVecTarget targets[kMatVecMaxTargets];  // all of one type
  // Cumulative row-group counts: target t owns groups [group_end[t - 1], group_end[t]).
  int64_t group_end[kMatVecMaxTargets];
  int32_t num_targets;
};

// Chunk geometry of a segment type S: one segment per lane.
template <typename S>
struct Chunk {
  static constexpr int kElems = 32 * S::kSegElems;
  static constexpr int kBytes = kElems / S::kBlockElems * S::kBlockBytes;
  // Float rows (num_cols % 8 == 0) and Q4_K/Q5_K rows start every chunk on a 16-byte boundary;
  // the others start on an even byte, so a chunk may need up to 14 bytes more.
  static constexpr bool kAligned = S::kBlockElems == 1 || S::kBlockBytes % 16 == 0;
  static constexpr int kWords = kAligned ? kBytes / 16 : (kBytes + 14 + 15) / 16;
  static constexpr int kWordsPerLane = (kWords + 31) / 32;
};

// At 8 x rows and 4 rows per warp the kernel needs ~170-200 registers: 2 blocks (8 warps) per SM
// instead of a register cap that would spill.
template <typename S, int kNumRows, int kOpw>
__global__ void __launch_bounds__(kThreads, kNumRows >= 8 ? 2 : 4)
    MatVecKernel(const MatVecLaunch p) {
  using C = Chunk<S>;
  __shared__ uint4 stage[kWarpsPerBlock][kOpw][C::kWordsPerLane * 32];
  const int warp_idx = static_cast<int>(threadIdx.x) >> 5;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t group_idx = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp_idx;

  // The target of this group, selected with compile-time indices: a run-time index into the
  // parameter struct would copy it to local memory.
  const uint4* w = nullptr;
  float* out = nullptr;
  int64_t num_out = 0, out_stride = 0, group0 = 0;
  size_t row_bytes = 0;
  bool found = false;
#pragma unroll
  for (int t = 0; t < kMatVecMaxTargets; ++t) {
    if (!found && t < p.num_targets && group_idx < p.group_end[t]) {
      found = true;
      w = static_cast<const uint4*>(p.targets[t].w);
      out = p.targets[t].out;
      num_out = p.targets[t].num_out;
      out_stride = p.targets[t].out_stride;
      row_bytes = p.targets[t].row_bytes;
      group0 = t == 0 ? 0 : p.group_end[t - 1];
    }
  }
  if (!found) return;  // uniform across the warp: it depends on group_idx only
  const int64_t out0 = (group_idx - group0) * kOpw;
  const int64_t num_cols = p.num_cols;
  const int64_t num_rows = p.num_rows;
  const int64_t num_chunks = (num_cols + C::kElems - 1) / C::kElems;

  // regs[o][j] = 16-byte word lane + 32 j of chunk k of row out0 + o, counted from the aligned
  // word holding the chunk's first byte. Words past the chunk are not loaded (and never read).
  uint4 regs[kOpw][C::kWordsPerLane];
#pragma unroll
  for (int o = 0; o < kOpw; ++o) {
#pragma unroll
    for (int j = 0; j < C::kWordsPerLane; ++j) regs[o][j] = make_uint4(0, 0, 0, 0);
  }
  auto load_chunk = [&](int64_t chunk_idx) {
#pragma unroll
    for (int o = 0; o < kOpw; ++o) {
      const int64_t row = out0 + o;
      if (row < num_out) {
        const size_t row_begin = static_cast<size_t>(row) * row_bytes;
        const size_t begin = row_begin + static_cast<size_t>(chunk_idx) * C::kBytes;
        const size_t end = min(begin + C::kBytes, row_begin + row_bytes);
        const size_t word0 = begin >> 4;
        const int num_words = static_cast<int>(((end + 15) >> 4) - word0);
#pragma unroll
        for (int j = 0; j < C::kWordsPerLane; ++j) {
          const int word_idx = lane + 32 * j;
          if (word_idx < num_words) regs[o][j] = __ldcs(w + word0 + word_idx);
        }
      }
    }
  };

  float acc[kOpw][kNumRows];
#pragma unroll
  for (int o = 0; o < kOpw; ++o) {
#pragma unroll
    for (int r = 0; r < kNumRows; ++r) acc[o][r] = 0.f;
  }

  load_chunk(0);
  for (int64_t chunk_idx = 0; chunk_idx < num_chunks; ++chunk_idx) {
    __syncwarp();  // every lane is done decoding the previous chunk
#pragma unroll
    for (int o = 0; o < kOpw; ++o) {
#pragma unroll
      for (int j = 0; j < C::kWordsPerLane; ++j) stage[warp_idx][o][lane + 32 * j] = regs[o][j];
    }
    __syncwarp();  // the chunk is in shared memory for every lane
    if (chunk_idx + 1 < num_chunks) load_chunk(chunk_idx + 1);  // in flight while we decode

    const int64_t elem0 = chunk_idx * C::kElems + static_cast<int64_t>(lane) * S::kSegElems;
    if (elem0 < num_cols) {  // the last chunk may be partial (num_cols % kSegElems == 0)
      S seg[kOpw];
#pragma unroll
      for (int o = 0; o < kOpw; ++o) {
        // Rows past num_out decode stale bytes; their sums are never written.
        const size_t begin =
            static_cast<size_t>(out0 + o) * row_bytes + static_cast<size_t>(chunk_idx) * C::kBytes;
        const uint8_t* chunk = reinterpret_cast<const uint8_t*>(stage[warp_idx][o]) + (begin & 15);
        seg[o] = RowSeg<S::kType>(chunk, lane);
      }
      const float4* xs = reinterpret_cast<const float4*>(p.x + elem0);
#pragma unroll
      for (int g = 0; g < S::kSegElems / 4; ++g) {
        // Decode once per group, then one x float4 at a time: holding all rows' x values would
        // cost 4 * kNumRows registers more.
        float4 wv[kOpw];
#pragma unroll
        for (int o = 0; o < kOpw; ++o) wv[o] = seg[o].Get4(g);
#pragma unroll
        for (int r = 0; r < kNumRows; ++r) {
          if (r < num_rows) {
            const float4 xv = __ldg(xs + r * (num_cols / 4) + g);
#pragma unroll
            for (int o = 0; o < kOpw; ++o) {
              float a = acc[o][r];
              a = fmaf(wv[o].x, xv.x, a);
              a = fmaf(wv[o].y, xv.y, a);
              a = fmaf(wv[o].z, xv.z, a);
              a = fmaf(wv[o].w, xv.w, a);
              acc[o][r] = a;
            }
          }
        }
      }
    }
  }

#pragma unroll
  for (int o = 0; o < kOpw; ++o) {
#pragma unroll
    for (int r = 0; r < kNumRows; ++r) {
      float v = acc[o][r];
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
      acc[o][r] = v;
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int o = 0; o < kOpw; ++o) {
#pragma unroll
      for (int r = 0; r < kNumRows; ++r) {
        if (out0 + o < num_out && r < num_rows) out[r * out_stride + out0 + o] = acc[o][r];
      }
    }
  }
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "gs::cuda::MatVec: %s\n", what);
  std::abort();
}

bool Aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

template <typename S, int kNumRows>
void LaunchTyped(MatVecLaunch launch, cudaStream_t stream) {
  // More rows per warp reuse each x load more often but hold more registers; at 8 x rows the
  // FMAs dominate, so 4 rows per warp; below that 2 rows keep the x traffic under the weights'.
  constexpr int kOpw = kNumRows >= 8 ? 4 : 2;
  int64_t num_groups = 0;
  for (int t = 0; t < launch.num_targets; ++t) {
    num_groups += (launch.targets[t].num_out + kOpw - 1) / kOpw;
    launch.group_end[t] = num_groups;
  }
  const int64_t num_blocks = (num_groups + kWarpsPerBlock - 1) / kWarpsPerBlock;
  MatVecKernel<S, kNumRows, kOpw>
      <<<static_cast<unsigned>(num_blocks), kThreads, 0, stream>>>(launch);
  GS_CUDA_CHECK_LAUNCH();
}

template <typename S>
void LaunchRows(const MatVecLaunch& launch, cudaStream_t stream) {
  if (launch.num_rows <= 1) {
    LaunchTyped<S, 1>(launch, stream);
  } else if (launch.num_rows <= 2) {
    LaunchTyped<S, 2>(launch, stream);
  } else if (launch.num_rows <= 4) {
    LaunchTyped<S, 4>(launch, stream);
  } else {
    LaunchTyped<S, 8>(launch, stream);
  }
}

}  // namespace

bool MatVecSupports(GgmlType type) {
  return DispatchQuantType(type, [](auto) {});
}

void MatVec(const MatVecParams& p, cudaStream_t stream) {
  if (p.num_rows < 1 || p.num_rows > kMatVecMaxRows) Fail("num_rows must be in 1..8");
  if (p.num_targets < 1 || p.num_targets > kMatVecMaxTargets) Fail("num_targets must be 1..4");
  if (p.num_cols <= 0 || p.num_cols % 8 != 0) Fail("num_cols must be a positive multiple of 8");
  if (!Aligned16(p.x)) Fail("x must be 16-byte aligned");
  for (int t = 0; t < p.num_targets; ++t) {
    const MatVecTarget& tg = p.targets[t];
    if (!MatVecSupports(tg.type)) Fail("unsupported weight type");
    const TypeTraits& traits = GetTypeTraits(tg.type);
    if (p.num_cols % traits.block_elems != 0) Fail("num_cols is not a multiple of the block");
    if (tg.row_bytes != RowBytes(tg.type, p.num_cols)) Fail("row_bytes != RowBytes(type, cols)");
    if (tg.num_out < 1 || tg.out_stride < tg.num_out) Fail("bad num_out / out_stride");
    if (!Aligned16(tg.w)) Fail("w must be 16-byte aligned");
  }
  // One launch per distinct type, in the order the types first appear.
  bool done[kMatVecMaxTargets] = {};
  for (int t = 0; t < p.num_targets; ++t) {
    if (done[t]) continue;
    MatVecLaunch launch{};
    launch.x = p.x;
    launch.num_rows = p.num_rows;
    launch.num_cols = p.num_cols;
    for (int u = t; u < p.num_targets; ++u) {
      if (!done[u] && p.targets[u].type == p.targets[t].type) {
        launch.targets[launch.num_targets++] = p.targets[u];
        done[u] = true;
      }
    }
    DispatchQuantType(p.targets[t].type,
                      [&](auto tag) { LaunchRows<decltype(tag)>(launch, stream); });
  }
}

}  // namespace gs::cuda
