// The model's non-matmul ops on the CPU: threaded over rows/heads, f16 KV cache, paged attention
// over a ragged batch. Each has a scalar twin in kernels/ref/ops_ref.h.
#pragma once

#include <cstdint>

#include "kernels/op_params.h"

namespace gs::cpu {

class ThreadPool;

void RmsNorm(const RmsNormParams& p, ThreadPool& pool);
void NormAdd(const NormAddParams& p, ThreadPool& pool);
// Angles follow llama.cpp's float recurrence theta_{i+1} = theta_i * base^(-2/n_rot), so that
// logits agree with it closely.
void QkNormRope(const QkNormRopeParams& p, ThreadPool& pool);
void GeGlu(const GeGluParams& p, ThreadPool& pool);

// The CPU KV cache holds f16 (llama.cpp's default, half the memory) or f32 values (exact: what
// transformers computes with).
enum class KvCacheType : int32_t { kF16 = 0, kF32 = 1 };

// Writes this step's K/V rows into the paged cache at their slots (slot = block * block_size +
// offset); slot < 0 skips the row.
struct KvStoreParams {
  const float* k;               // [num_tokens, kv_width]
  const float* v;               // [num_tokens, kv_width]
  void* k_cache;                // [num_slots, kv_width] f16 or f32
  void* v_cache;                // [num_slots, kv_width]
  const int64_t* slot_mapping;  // [num_tokens]
  int64_t num_tokens, kv_width;
  KvCacheType cache_type;
};
void KvStore(const KvStoreParams& p, ThreadPool& pool);

// Causal (optionally sliding-window) GQA attention of a ragged batch over a paged cache. Over an
// f16 cache, q·scale and the softmax weights are rounded to f16 on the way, as in llama.cpp;
// over an f32 cache everything stays f32.
// Sequence s owns query rows [query_start[s], query_start[s+1]) and has seq_lens[s] keys after
// this step; its key at position j lives in block block_ids[block_indptr[s] + j / block_size],
// slot j % block_size. Entries of blocks wholly outside the window may be -1 (freed).
struct PagedAttentionParams {
  const float* q;               // [num_tokens, num_heads, head_dim]
  float* out;                   // [num_tokens, num_heads, head_dim]
  const void* k_cache;          // [num_blocks, block_size, num_kv_heads, head_dim] f16 or f32
  const void* v_cache;          // same
  const int32_t* query_start;   // [num_seqs + 1]
  const int32_t* positions;     // [num_tokens]
  const int32_t* seq_lens;      // [num_seqs]
  const int32_t* block_indptr;  // [num_seqs + 1]
  const int32_t* block_ids;     // [block_indptr[num_seqs]]
  int32_t num_seqs, num_heads, num_kv_heads, head_dim, block_size;
  int32_t window;  // 0: none; else keys with pos_q - pos_k >= window are masked
  float scale;     // applied to q·k
  float softcap;   // 0: none
  KvCacheType cache_type;
};
void PagedAttention(const PagedAttentionParams& p, ThreadPool& pool);

}  // namespace gs::cpu
