// Mixture-of-experts kernels (design and trade-offs: moe_cuda.h).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe_cuda.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/cuda/quant_cuda.cuh"

namespace gs::cuda {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "gs::cuda::Moe: %s\n", what);
  std::abort();
}

// --- Routing -------------------------------------------------------------------------------

constexpr int kRouteWarps = 4;

// Whether candidate (v1, i1) ranks before (v2, i2): larger logit first, ties to the lower index;
// i < 0 is "no candidate yet". NaN logits arrive here as -inf, so the order is total and every
// lane of a butterfly reduction ends with the same winner.
__device__ __forceinline__ bool RanksBefore(float v1, int32_t i1, float v2, int32_t i2) {
  return i1 >= 0 && (i2 < 0 || v1 > v2 || (v1 == v2 && i1 < i2));
}

__device__ __forceinline__ float RouteLogit(const float* logits, int32_t e) {
  const float v = logits[e];
  return isnan(v) ? -INFINITY : v;
}

// The reference's probability of a logit: exp of the f32 difference, rounded to f32. The exp is
// taken in f64 and rounded once, which is the correctly rounded f32 result that the host's expf
// also returns (to within its last-ulp cases), so weights agree to ~1 ulp.
__device__ __forceinline__ float RouteProb(float logit, float max_logit) {
  return static_cast<float>(exp(static_cast<double>(__fsub_rn(logit, max_logit))));
}

// One warp per token. Lane j ends holding the rank-j choice (num_used <= 32).
__global__ void __launch_bounds__(32 * kRouteWarps) MoeRouteKernel(const MoeRouteParams p) {
  __shared__ uint32_t taken[kRouteWarps][kMoeMaxExperts / 32];
  const int warp_idx = static_cast<int>(threadIdx.x) >> 5;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t token = static_cast<int64_t>(blockIdx.x) * kRouteWarps + warp_idx;
  if (token >= p.num_tokens) return;  // uniform across the warp; no block-wide barrier follows
  const float* logits = p.logits + token * p.num_experts;
  const int32_t num_words = (p.num_experts + 31) / 32;
  for (int32_t w = lane; w < num_words; w += 32) taken[warp_idx][w] = 0;
  __syncwarp();

  int32_t my_expert = -1;
  for (int32_t j = 0; j < p.num_used; ++j) {
    float best_v = 0;
    int32_t best_i = -1;
    for (int32_t e = lane; e < p.num_experts; e += 32) {
      if ((taken[warp_idx][e >> 5] >> (e & 31)) & 1u) continue;
      const float v = RouteLogit(logits, e);
      if (RanksBefore(v, e, best_v, best_i)) {
        best_v = v;
        best_i = e;
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float other_v = __shfl_xor_sync(0xFFFFFFFFu, best_v, offset);
      const int32_t other_i = __shfl_xor_sync(0xFFFFFFFFu, best_i, offset);
      if (RanksBefore(other_v, other_i, best_v, best_i)) {
        best_v = other_v;
        best_i = other_i;
      }
    }
    if (lane == j) my_expert = best_i;
    if (lane == 0) taken[warp_idx][best_i >> 5] |= 1u << (best_i & 31);
    __syncwarp();
  }

  // The rank-0 logit is the maximum (RanksBefore's order), as the reference's softmax subtracts.
  const float max_logit = RouteLogit(logits, __shfl_sync(0xFFFFFFFFu, my_expert, 0));
  double sum = 0;
  for (int32_t e = lane; e < p.num_experts; e += 32) {
    sum += static_cast<double>(RouteProb(RouteLogit(logits, e), max_logit));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, offset);
  const bool is_chosen = lane < p.num_used;
  const double prob =
      is_chosen ? static_cast<double>(RouteProb(RouteLogit(logits, my_expert), max_logit)) / sum
                : 0.0;
  double chosen = prob;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    chosen += __shfl_xor_sync(0xFFFFFFFFu, chosen, offset);
  }
  if (is_chosen) {
    const double scale = p.scales != nullptr ? static_cast<double>(p.scales[my_expert]) : 1.0;
    p.expert_ids[token * p.num_used + lane] = my_expert;
    p.weights[token * p.num_used + lane] = static_cast<float>(prob / chosen * scale);
    atomicAdd(p.counts + my_expert, 1);
  }
}

// --- Grouping ------------------------------------------------------------------------------

constexpr int kGroupThreads = 1024;

// One block: the offsets are a prefix sum over at most kMoeMaxExperts counts (one thread, from
// shared memory), then every pair takes the next place of its expert.
__global__ void __launch_bounds__(kGroupThreads) MoeGroupKernel(const MoeGroupParams p) {
  __shared__ int32_t cursor[kMoeMaxExperts];
  for (int32_t e = static_cast<int32_t>(threadIdx.x); e < p.num_experts; e += kGroupThreads) {
    cursor[e] = p.counts[e];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t offset = 0, num_active = 0;
    for (int32_t e = 0; e < p.num_experts; ++e) {
      const int32_t count = cursor[e];
      p.expert_offsets[e] = offset;
      cursor[e] = offset;
      if (count > 0) p.active_experts[num_active++] = e;
      offset += count;
    }
    p.expert_offsets[p.num_experts] = offset;
    *p.num_active = num_active;
    for (int32_t slot = num_active; slot < p.num_experts; ++slot) p.active_experts[slot] = -1;
  }
  __syncthreads();
  for (int64_t q = threadIdx.x; q < p.num_pairs; q += kGroupThreads) {
    const int32_t pos = atomicAdd(&cursor[p.expert_ids[q]], 1);
    p.pair_pos[q] = pos;
    p.pair_tokens[pos] = static_cast<int32_t>(q / p.num_used);
  }
}

// --- Expert products -----------------------------------------------------------------------

constexpr int kMatVecWarps = 4;
constexpr int kPairsPerPass = 8;

// The launch for the targets of one weight type.
struct MoeMatVecLaunch {
  MoeMatVecParams p;
  // Cumulative row counts: target t owns warp rows [row_end[t - 1], row_end[t]).
  int64_t row_end[kMoeMaxTargets];
};

// grid.x: warp rows over every target's num_out (kMatVecWarps per block); grid.y: active-expert
// slots. A warp takes one weight row of one expert through that expert's pairs, kPairsPerPass at
// a time: each lane decodes segments lane, lane + 32, ... of the row (ref-exact values,
// quant_cuda.cuh) and multiplies them into each pair's x row; warp shuffles sum the lanes.
template <typename S>
__global__ void __launch_bounds__(32 * kMatVecWarps) MoeMatVecKernel(const MoeMatVecLaunch launch) {
  const MoeMatVecParams& p = launch.p;
  const int warp_idx = static_cast<int>(threadIdx.x) >> 5;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  if (static_cast<int32_t>(blockIdx.y) >= *p.num_active) return;
  const int32_t expert = p.active_experts[blockIdx.y];
  const int64_t row_idx = static_cast<int64_t>(blockIdx.x) * kMatVecWarps + warp_idx;

  // The target of this row, selected with compile-time indices: a run-time index into the
  // parameter struct would copy it to local memory.
  const uint8_t* w_row = nullptr;
  float* out = nullptr;
  int64_t num_out = 0, out_idx = 0;
  bool found = false;
#pragma unroll
  for (int t = 0; t < kMoeMaxTargets; ++t) {
    if (!found && t < p.num_targets && row_idx < launch.row_end[t]) {
      found = true;
      const MoeMatVecTarget& tg = p.targets[t];
      out_idx = row_idx - (t == 0 ? 0 : launch.row_end[t - 1]);
      w_row = static_cast<const uint8_t*>(tg.w) + static_cast<size_t>(expert) * tg.mat_bytes +
              static_cast<size_t>(tg.row0 + out_idx) * tg.row_bytes;
      out = tg.out;
      num_out = tg.num_out;
    }
  }
  if (!found) return;  // uniform across the warp: it depends on row_idx only

  const int64_t num_cols = p.num_cols;
  const int64_t num_segs = num_cols / S::kSegElems;
  const int32_t pair_end = p.expert_offsets[expert + 1];
  for (int32_t q0 = p.expert_offsets[expert]; q0 < pair_end; q0 += kPairsPerPass) {
    const int32_t num_pairs = min(kPairsPerPass, pair_end - q0);
    const float4* xs[kPairsPerPass];
#pragma unroll
    for (int r = 0; r < kPairsPerPass; ++r) {
      const int32_t q = q0 + (r < num_pairs ? r : 0);  // past num_pairs: never read
      const int64_t x_row = p.x_rows != nullptr ? p.x_rows[q] : q;
      xs[r] = reinterpret_cast<const float4*>(p.x + x_row * num_cols);
    }
    float acc[kPairsPerPass];
#pragma unroll
    for (int r = 0; r < kPairsPerPass; ++r) acc[r] = 0.f;
    for (int64_t seg_idx = lane; seg_idx < num_segs; seg_idx += 32) {
      const S seg = RowSeg<S::kType>(w_row, seg_idx);
      const int64_t x4_idx = seg_idx * (S::kSegElems / 4);
#pragma unroll
      for (int g = 0; g < S::kSegElems / 4; ++g) {
        const float4 wv = seg.Get4(g);
#pragma unroll
        for (int r = 0; r < kPairsPerPass; ++r) {
          if (r < num_pairs) {
            const float4 xv = __ldg(xs[r] + x4_idx + g);
            float a = acc[r];
            a = fmaf(wv.x, xv.x, a);
            a = fmaf(wv.y, xv.y, a);
            a = fmaf(wv.z, xv.z, a);
            a = fmaf(wv.w, xv.w, a);
            acc[r] = a;
          }
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kPairsPerPass; ++r) {
      float v = acc[r];
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
      if (lane == 0 && r < num_pairs) out[static_cast<int64_t>(q0 + r) * num_out + out_idx] = v;
    }
  }
}

// The alignment RowSeg needs at the start of every row of a type (quant_cuda.cuh's contract).
size_t SegAlignment(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return 16;
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return 8;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
      return 4;
    default:
      return 2;
  }
}

// --- Combining -----------------------------------------------------------------------------

constexpr int kCombineThreads = 256;

__global__ void __launch_bounds__(kCombineThreads) MoeCombineKernel(const MoeCombineParams p) {
  const int64_t token = blockIdx.x;
  const int32_t* pos = p.pair_pos + token * p.num_used;
  const float* weights = p.weights + token * p.num_used;
  for (int64_t c = threadIdx.x; c < p.hidden; c += kCombineThreads) {
    float acc = 0.f;
    for (int32_t j = 0; j < p.num_used; ++j) {
      acc = fmaf(weights[j], p.y[static_cast<int64_t>(pos[j]) * p.hidden + c], acc);
    }
    p.out[token * p.hidden + c] = acc;
  }
}

constexpr size_t kAlign = 256;
size_t AlignUp(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Byte offsets of the workspace's arrays (each 256-byte aligned) and its size.
struct WorkspaceLayout {
  size_t expert_ids, weights, counts, expert_offsets, active_experts, num_active, pair_pos,
      pair_tokens;
  size_t gate;  // [num_pairs, expert_ffn] f32, then gelu(gate) * up in place
  size_t up;    // [num_pairs, expert_ffn] f32
  size_t y;     // [num_pairs, hidden] f32
  size_t num_bytes;
};

WorkspaceLayout Layout(int64_t num_tokens, int64_t hidden, int32_t num_experts, int32_t num_used,
                       int32_t expert_ffn) {
  const size_t num_pairs = static_cast<size_t>(num_tokens) * num_used;
  WorkspaceLayout l{};
  size_t total = 0;
  auto piece = [&](size_t num_bytes) {
    const size_t offset = total;
    total += AlignUp(num_bytes);
    return offset;
  };
  l.expert_ids = piece(num_pairs * sizeof(int32_t));
  l.weights = piece(num_pairs * sizeof(float));
  l.counts = piece(num_experts * sizeof(int32_t));
  l.expert_offsets = piece((num_experts + 1) * sizeof(int32_t));
  l.active_experts = piece(num_experts * sizeof(int32_t));
  l.num_active = piece(sizeof(int32_t));
  l.pair_pos = piece(num_pairs * sizeof(int32_t));
  l.pair_tokens = piece(num_pairs * sizeof(int32_t));
  l.gate = piece(num_pairs * expert_ffn * sizeof(float));
  l.up = piece(num_pairs * expert_ffn * sizeof(float));
  l.y = piece(num_pairs * static_cast<size_t>(hidden) * sizeof(float));
  l.num_bytes = total;
  return l;
}

}  // namespace

void MoeRoute(const MoeRouteParams& p, cudaStream_t stream) {
  if (p.num_experts < 1 || p.num_experts > kMoeMaxExperts) Fail("num_experts out of range");
  if (p.num_used < 1 || p.num_used > p.num_experts || p.num_used > kMoeMaxUsed) {
    Fail("num_used out of range");
  }
  if (p.num_tokens == 0) return;
  const int64_t num_blocks = (p.num_tokens + kRouteWarps - 1) / kRouteWarps;
  MoeRouteKernel<<<static_cast<unsigned>(num_blocks), 32 * kRouteWarps, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void MoeGroup(const MoeGroupParams& p, cudaStream_t stream) {
  if (p.num_experts < 1 || p.num_experts > kMoeMaxExperts) Fail("num_experts out of range");
  MoeGroupKernel<<<1, kGroupThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void MoeExpertMatVec(const MoeMatVecParams& p, cudaStream_t stream) {
  if (p.num_targets < 1 || p.num_targets > kMoeMaxTargets) Fail("num_targets must be 1..2");
  if (p.num_cols <= 0 || p.num_cols % 8 != 0) Fail("num_cols must be a positive multiple of 8");
  if ((reinterpret_cast<uintptr_t>(p.x) & 15u) != 0) Fail("x must be 16-byte aligned");
  if (p.max_active <= 0) return;
  for (int t = 0; t < p.num_targets; ++t) {
    const MoeMatVecTarget& tg = p.targets[t];
    if (!DispatchQuantType(tg.type, [](auto) {})) Fail("unsupported weight type");
    if (p.num_cols % GetTypeTraits(tg.type).block_elems != 0) Fail("num_cols is not whole blocks");
    if (tg.row_bytes != RowBytes(tg.type, p.num_cols)) Fail("row_bytes != RowBytes(type, cols)");
    const size_t align = SegAlignment(tg.type);
    if ((reinterpret_cast<uintptr_t>(tg.w) | tg.mat_bytes | tg.row_bytes) % align != 0) {
      Fail("expert matrices are not aligned for their type");
    }
    if (tg.num_out < 1 || tg.row0 < 0) Fail("bad row0 / num_out");
  }
  // One launch per distinct type, in the order the types first appear.
  bool done[kMoeMaxTargets] = {};
  for (int t = 0; t < p.num_targets; ++t) {
    if (done[t]) continue;
    MoeMatVecLaunch launch{};
    launch.p = p;
    launch.p.num_targets = 0;
    int64_t num_rows = 0;
    for (int u = t; u < p.num_targets; ++u) {
      if (!done[u] && p.targets[u].type == p.targets[t].type) {
        num_rows += p.targets[u].num_out;
        launch.row_end[launch.p.num_targets] = num_rows;
        launch.p.targets[launch.p.num_targets++] = p.targets[u];
        done[u] = true;
      }
    }
    const dim3 grid(static_cast<unsigned>((num_rows + kMatVecWarps - 1) / kMatVecWarps),
                    static_cast<unsigned>(p.max_active));
    DispatchQuantType(p.targets[t].type, [&](auto tag) {
      MoeMatVecKernel<decltype(tag)><<<grid, 32 * kMatVecWarps, 0, stream>>>(launch);
    });
    GS_CUDA_CHECK_LAUNCH();
  }
}

void MoeCombine(const MoeCombineParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return;
  MoeCombineKernel<<<static_cast<unsigned>(p.num_tokens), kCombineThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

size_t MoeWorkspaceBytes(int64_t num_tokens, int64_t hidden, int32_t num_experts, int32_t num_used,
                         int32_t expert_ffn) {
  return Layout(num_tokens, hidden, num_experts, num_used, expert_ffn).num_bytes;
}

void Moe(const MoeParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return;
  if (p.hidden % 8 != 0 || p.expert_ffn % 8 != 0) Fail("hidden and expert_ffn: multiples of 8");
  if ((reinterpret_cast<uintptr_t>(p.workspace) & (kAlign - 1)) != 0) {
    Fail("workspace must be 256-byte aligned");
  }
  const bool fused = p.gate_up.w != nullptr;
  if (!fused && (p.gate.w == nullptr || p.up.w == nullptr)) Fail("no gate/up expert weights");
  const WorkspaceLayout l = Layout(p.num_tokens, p.hidden, p.num_experts, p.num_used, p.expert_ffn);
  uint8_t* base = static_cast<uint8_t*>(p.workspace);
  auto ints = [&](size_t offset) { return reinterpret_cast<int32_t*>(base + offset); };
  auto floats = [&](size_t offset) { return reinterpret_cast<float*>(base + offset); };
  int32_t* expert_ids = ints(l.expert_ids);
  int32_t* counts = ints(l.counts);
  int32_t* expert_offsets = ints(l.expert_offsets);
  int32_t* active_experts = ints(l.active_experts);
  int32_t* num_active = ints(l.num_active);
  int32_t* pair_pos = ints(l.pair_pos);
  int32_t* pair_tokens = ints(l.pair_tokens);
  float* weights = floats(l.weights);
  float* gate = floats(l.gate);
  float* up = floats(l.up);
  float* y = floats(l.y);
  const int64_t num_pairs = p.num_tokens * p.num_used;
  const int32_t max_active =
      static_cast<int32_t>(num_pairs < p.num_experts ? num_pairs : p.num_experts);

  GS_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(int32_t) * p.num_experts, stream));
  MoeRoute({p.router_logits, p.scales, expert_ids, weights, counts, p.num_tokens, p.num_experts,
            p.num_used},
           stream);
  MoeGroup({expert_ids, counts, expert_offsets, active_experts, num_active, pair_pos, pair_tokens,
            num_pairs, p.num_experts, p.num_used},
           stream);

  MoeMatVecParams gate_up{};
  gate_up.x = p.x;
  gate_up.x_rows = pair_tokens;
  gate_up.expert_offsets = expert_offsets;
  gate_up.active_experts = active_experts;
  gate_up.num_active = num_active;
  gate_up.num_cols = p.hidden;
  gate_up.max_active = max_active;
  // A fused matrix holds the gate in rows [0, expert_ffn), the up projection after it.
  const MoeWeight& gate_w = fused ? p.gate_up : p.gate;
  const MoeWeight& up_w = fused ? p.gate_up : p.up;
  gate_up.targets[0] = {.w = gate_w.w,
                        .type = gate_w.type,
                        .mat_bytes = gate_w.mat_bytes,
                        .row_bytes = gate_w.row_bytes,
                        .row0 = 0,
                        .num_out = p.expert_ffn,
                        .out = gate};
  gate_up.targets[1] = {.w = up_w.w,
                        .type = up_w.type,
                        .mat_bytes = up_w.mat_bytes,
                        .row_bytes = up_w.row_bytes,
                        .row0 = fused ? p.expert_ffn : 0,
                        .num_out = p.expert_ffn,
                        .out = up};
  gate_up.num_targets = 2;
  MoeExpertMatVec(gate_up, stream);
  GeGlu({gate, up, num_pairs, p.expert_ffn, p.expert_ffn, 0, false}, stream);

  MoeMatVecParams down = gate_up;
  down.x = gate;
  down.x_rows = nullptr;  // the GeGLU rows are already in grouped order
  down.num_cols = p.expert_ffn;
  down.targets[0] = {p.down.w, p.down.type, p.down.mat_bytes, p.down.row_bytes, 0, p.hidden, y};
  down.targets[1] = {};
  down.num_targets = 1;
  MoeExpertMatVec(down, stream);

  MoeCombine({y, pair_pos, weights, p.out, p.num_tokens, p.hidden, p.num_used}, stream);
}

}  // namespace gs::cuda
