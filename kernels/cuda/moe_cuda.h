// Mixture-of-experts FFN on the GPU (Gemma 4 26B-A4B: 128 experts, 8 used per token, expert FFN
// width 704), in launches that need nothing from the host between them, so that a decode step
// that routes can still be captured into a CUDA graph:
//   1. MoeRoute: per token, the num_used experts with the largest router logits and their
//      renormalised softmax weights times the expert's output scale (twin: ref::RouteTopK; the
//      choice and its order are exactly the reference's, the weights agree to ~1 ulp).
//   2. MoeGroup: the (token, rank) pairs grouped by expert: per-expert offsets, the experts that
//      got at least one pair, each pair's place in the grouped order.
//   3. MoeExpertMatVec: for every grouped pair p of expert e, out[p, o] = x[x_row(p)] · W_e[o],
//      read straight from GGUF blocks (twin: ref::DequantizeRow, then a dot product): gate and
//      up, then GeGlu (ops_cuda.h), then down.
//   4. MoeCombine: out[t] = sum_j weight[t, j] * y[pair (t, j)], j in rank order.
// Moe() runs the whole pass on a caller-provided workspace (twin: ref::MoeExperts after
// ref::RouteTopK).
//
// Why grouped matvecs and not per-(token, expert) GEMVs or a GEMM: grouping by expert reads each
// chosen expert's weights once per step however many tokens chose it. One decoding token reads
// its 8 experts, as a per-pair GEMV would; a batch of 64 reads each active expert once instead of
// once per pair (~4x less at 128 experts). A warp takes one weight row through up to 8 pairs at
// a time, so a prefill-sized group re-reads that row (from L1/L2) once per 8 tokens and runs on
// CUDA cores in f32: at prefill this is compute-bound far below the tensor cores' rate, where a
// grouped bf16 GEMM over the same grouping would be the next step. In exchange it never waits
// for the host (graph-capturable) and is batch-invariant: a pair's sum is made by the same lanes
// in the same order whatever else shares its expert.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/quant_types.h"

namespace gs::cuda {

inline constexpr int32_t kMoeMaxExperts = 1024;
inline constexpr int32_t kMoeMaxUsed = 32;

struct MoeRouteParams {
  const float* logits;  // [num_tokens, num_experts]
  const float* scales;  // [num_experts] expert output scales, or nullptr (1)
  int32_t* expert_ids;  // [num_tokens, num_used] out: most probable first
  float* weights;       // [num_tokens, num_used] out
  int32_t* counts;      // [num_experts] incremented by one per pair routed to the expert
  int64_t num_tokens;
  int32_t num_experts;  // 1..kMoeMaxExperts
  int32_t num_used;     // 1..min(num_experts, kMoeMaxUsed)
};
// counts must hold zeros (or earlier counts to add to) when the launch runs.
void MoeRoute(const MoeRouteParams& p, cudaStream_t stream);

struct MoeGroupParams {
  const int32_t* expert_ids;  // [num_pairs] pair p = token p / num_used, rank p % num_used
  const int32_t* counts;      // [num_experts] pairs per expert (MoeRoute's)
  int32_t* expert_offsets;    // [num_experts + 1] out: expert e's pairs are [off[e], off[e + 1])
  int32_t* active_experts;    // [num_experts] out: experts with a pair, ascending; the rest -1
  int32_t* num_active;        // [1] out
  int32_t* pair_pos;          // [num_pairs] out: grouped position of pair p
  int32_t* pair_tokens;       // [num_pairs] out: token of the pair at grouped position q
  int64_t num_pairs;
  int32_t num_experts;  // 1..kMoeMaxExperts
  int32_t num_used;
};
// Within one expert the grouped order of pairs is unspecified (it does not change any result).
void MoeGroup(const MoeGroupParams& p, cudaStream_t stream);

// One weight of every expert: num_experts matrices of mat_bytes, back to back.
struct MoeMatVecTarget {
  const void* w;     // expert e's matrix at w + e * mat_bytes, rows of row_bytes
  GgmlType type;     // MatVecSupports(type)
  size_t mat_bytes;  // a multiple of the type's alignment (2, 4, 8 or 16 bytes, checked)
  size_t row_bytes;  // RowBytes(type, num_cols)
  int64_t row0;      // first row used (the up half of a fused gate_up matrix)
  int64_t num_out;   // rows used: [row0, row0 + num_out)
  float* out;        // [num_pairs, num_out] in grouped order
};

inline constexpr int kMoeMaxTargets = 2;

struct MoeMatVecParams {
  const float* x;                 // [*, num_cols] f32, 16-byte aligned
  const int32_t* x_rows;          // [num_pairs] x row of grouped pair q, or nullptr (row q)
  const int32_t* expert_offsets;  // [num_experts + 1] (MoeGroup's)
  const int32_t* active_experts;  // [num_experts] (MoeGroup's)
  const int32_t* num_active;      // [1] (MoeGroup's)
  int64_t num_cols;               // multiple of 8 and of the types' block sizes
  int32_t max_active;             // >= *num_active: min(num_experts, num_pairs)
  MoeMatVecTarget targets[kMoeMaxTargets];
  int32_t num_targets;  // 1..kMoeMaxTargets
};
// out rows of every grouped pair; one launch per distinct weight type.
void MoeExpertMatVec(const MoeMatVecParams& p, cudaStream_t stream);

struct MoeCombineParams {
  const float* y;           // [num_pairs, hidden] expert outputs in grouped order
  const int32_t* pair_pos;  // [num_tokens, num_used] (MoeGroup's)
  const float* weights;     // [num_tokens, num_used] (MoeRoute's)
  float* out;               // [num_tokens, hidden]
  int64_t num_tokens, hidden;
  int32_t num_used;
};
void MoeCombine(const MoeCombineParams& p, cudaStream_t stream);

// An expert weight tensor as MoeMatVecTarget reads it.
struct MoeWeight {
  const void* w = nullptr;  // nullptr: absent
  GgmlType type = GgmlType::kF32;
  size_t mat_bytes = 0, row_bytes = 0;
};

struct MoeParams {
  const float* x;              // [num_tokens, hidden] the experts' input
  const float* router_logits;  // [num_tokens, num_experts]
  const float* scales;         // [num_experts] device memory, or nullptr
  MoeWeight gate_up;           // [num_experts][2 * expert_ffn][hidden] gate rows first, or absent
  MoeWeight gate, up;          // [num_experts][expert_ffn][hidden] when gate_up is absent
  MoeWeight down;              // [num_experts][hidden][expert_ffn]
  float* out;                  // [num_tokens, hidden]
  void* workspace;             // MoeWorkspaceBytes(...) bytes, 256-byte aligned
  int64_t num_tokens, hidden;  // hidden % 8 == 0
  int32_t num_experts, num_used, expert_ffn;  // expert_ffn % 8 == 0
};
size_t MoeWorkspaceBytes(int64_t num_tokens, int64_t hidden, int32_t num_experts, int32_t num_used,
                         int32_t expert_ffn);
// The whole pass, on stream (no host synchronization; capturable).
void Moe(const MoeParams& p, cudaStream_t stream);

}  // namespace gs::cuda
