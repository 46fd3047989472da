// Paged attention over one step's ragged batch, on the GPU. Two kernels share one plan:
//  - prefill: sequences with several query rows this step run as tiles of 64 query rows of one
//    head; S = Q·Kᵀ and O += P·V on bf16 tensor cores (mma.sync m16n8k16, f32 accumulators),
//    online softmax in f32 registers, causal + sliding-window masks and the optional softcap;
//  - decode: sequences with one query row run split-KV: each thread block reads one key range
//    of one KV head once for all the query heads that share it (GQA) and writes a partial
//    (normalized output, log-sum-exp); a combine kernel merges a row's partials.
// The plan is made on the host once per step and KV group (PlanAttention) and used by every
// layer of the group. Head dims 128 (Gemma 3 27B), 256, and 512 (Gemma 4's global layers). The
// scalar twin is ref::Attention (kernels/ref/ops_ref.h) over contiguous K/V.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cuda/ops_cuda.h"

namespace gs::cuda {

constexpr int32_t kPrefillTileRows = 64;

struct PrefillTile {
  int32_t seq_idx;
  int32_t row_begin;  // first batch row of the tile
  int32_t num_rows;   // 1..kPrefillTileRows, all of sequence seq_idx
};

// One key range of one decode row. Partial p's results live at partial_* [p].
struct DecodeSplit {
  int32_t seq_idx;
  int32_t row_idx;  // the batch row (the sequence's only query row this step)
  int32_t key_begin, key_end;
};

struct DecodeRow {
  int32_t row_idx;
  int32_t split_begin, num_splits;  // its partials: [split_begin, split_begin + num_splits)
};

struct AttentionPlan {
  std::vector<PrefillTile> tiles;
  std::vector<DecodeSplit> splits;
  std::vector<DecodeRow> decode_rows;
};

struct AttentionPlanInputs {
  const int32_t* query_start;  // [num_seqs + 1] host
  const int32_t* positions;    // [num_tokens] host
  int32_t num_seqs;
  int32_t window;        // 0: global
  int32_t num_kv_heads;  // thread blocks per split, at least (head chunks may multiply it)
  int32_t num_sms;       // the device's multiprocessors: splits aim at 8 blocks per SM
  // > 0: every decode row gets exactly this many splits, empty ones included, so that the
  // launch shape depends on the number of rows only (decode steps replayed as CUDA graphs).
  int32_t fixed_splits = 0;
};
// Every query row belongs to exactly one tile or one decode row; a decode row's splits cover
// its visible keys [max(0, pos - window + 1), pos] exactly, in order, none empty unless
// fixed_splits asked for more splits than keys.
AttentionPlan PlanAttention(const AttentionPlanInputs& in);
// The split count a graph-replayed decode step uses for all its rows: enough blocks to fill the
// GPU at any sequence length, at most 64.
int32_t FixedDecodeSplits(int32_t num_decode_rows, int32_t num_kv_heads, int32_t num_sms);

struct PagedAttentionParams {
  const float* q;               // [num_tokens, num_heads, head_dim]
  float* out;                   // [num_tokens, num_heads, head_dim]
  const void* k_cache;          // [num_slots, num_kv_heads, head_dim] bf16 or e4m3
  const void* v_cache;          // same
  const float* k_scale;         // [num_slots, num_kv_heads] fp8 only, else nullptr
  const float* v_scale;         // same
  const int32_t* positions;     // [num_tokens]
  const int32_t* block_indptr;  // [num_seqs + 1]
  const int32_t* block_ids;     // [block_indptr[num_seqs]]; -1 for blocks outside the window
  int32_t num_heads, num_kv_heads, head_dim, block_size;
  int32_t window;  // 0: none; else keys with pos_q - pos_k >= window are masked
  float scale;     // applied to q·k
  float softcap;   // 0: none; else s = softcap * tanh(s / softcap)
  KvType kv_type;
  // The plan, uploaded.
  const PrefillTile* tiles;      // [num_tiles]
  const DecodeSplit* splits;     // [num_splits]
  const DecodeRow* decode_rows;  // [num_decode_rows]
  int32_t num_tiles, num_splits, num_decode_rows;
  float* partial_out;  // [num_splits, num_heads, head_dim] workspace
  float* partial_lse;  // [num_splits, num_heads] workspace
};
bool AttentionSupportsHeadDim(int32_t head_dim);
// Shared memory one prefill block needs (over 48 KB: the kernel opts in; 157 KB at head dim 512
// fits sm_80 and sm_90 but not sm_86/sm_89's 99 KB).
size_t AttentionSharedMemBytes(int32_t head_dim);
// Runs the prefill tiles and the decode splits + combine; every row of the plan gets written.
void PagedAttention(const PagedAttentionParams& p, cudaStream_t stream);

}  // namespace gs::cuda
