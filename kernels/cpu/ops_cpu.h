// The model's non-matmul ops on the CPU: threaded over rows/heads, f16 KV cache, paged attention
// over a ragged batch. Each has a scalar twin in kernels/ref/ops_ref.h.
#pragma once

#include <cstdint>

namespace gs::cpu {

class ThreadPool;

// out[r, :] = rmsnorm(x[r, :]) * w, with w applied per segment of w_len (w_len == row_len for a
// hidden-state norm; w_len == head_dim for a per-head QK norm). out may alias x.
struct RmsNormParams {
  const float* x;  // [num_rows, row_len]
  const float* w;  // [w_len]; row_len % w_len == 0
  float* out;      // [num_rows, row_len]
  int64_t num_rows, row_len, w_len;
  float eps;
};
void RmsNorm(const RmsNormParams& p, ThreadPool& pool);

// residual[r, :] += rmsnorm(x[r, :]) * w: Gemma's post-norm before the residual add.
struct NormAddParams {
  const float* x;   // [num_rows, row_len]
  const float* w;   // [row_len]
  float* residual;  // [num_rows, row_len]
  int64_t num_rows, row_len;
  float eps;
};
void NormAdd(const NormAddParams& p, ThreadPool& pool);

// Per-head RMSNorm then NeoX RoPE, in place (Gemma's QK-norm; norm_w == nullptr skips the norm).
// Angles follow llama.cpp's float recurrence theta_{i+1} = theta_i * base^(-2/n_rot), so that
// logits agree with it closely.
struct QkNormRopeParams {
  float* x;                  // [num_tokens, num_heads, head_dim]
  const float* norm_w;       // [head_dim] or nullptr
  const int32_t* positions;  // [num_tokens]
  int64_t num_tokens;
  int32_t num_heads, head_dim, n_rot;
  float eps, base, freq_scale;
};
void QkNormRope(const QkNormRopeParams& p, ThreadPool& pool);

// gate[i] = gelu_tanh(gate[i]) * up[i], i < n (GeGLU, in place in gate), with gelu rounded
// through f16 as llama.cpp's CPU backend does (relative error < 1e-3).
void GeGlu(float* gate, const float* up, int64_t n, ThreadPool& pool);

// Writes this step's K/V rows into the paged f16 cache at their slots (slot = block * block_size
// + offset); slot < 0 skips the row.
struct KvStoreParams {
  const float* k;               // [num_tokens, kv_width]
  const float* v;               // [num_tokens, kv_width]
  uint16_t* k_cache;            // [num_slots, kv_width] f16
  uint16_t* v_cache;            // [num_slots, kv_width] f16
  const int64_t* slot_mapping;  // [num_tokens]
  int64_t num_tokens, kv_width;
};
void KvStore(const KvStoreParams& p, ThreadPool& pool);

// Causal (optionally sliding-window) GQA attention of a ragged batch over a paged f16 cache;
// q·scale and the softmax weights are rounded to f16 on the way, as in llama.cpp.
// Sequence s owns query rows [query_start[s], query_start[s+1]) and has seq_lens[s] keys after
// this step; its key at position j lives in block block_ids[block_indptr[s] + j / block_size],
// slot j % block_size. Entries of blocks wholly outside the window may be -1 (freed).
struct PagedAttentionParams {
  const float* q;               // [num_tokens, num_heads, head_dim]
  float* out;                   // [num_tokens, num_heads, head_dim]
  const uint16_t* k_cache;      // [num_blocks, block_size, num_kv_heads, head_dim] f16
  const uint16_t* v_cache;      // same
  const int32_t* query_start;   // [num_seqs + 1]
  const int32_t* positions;     // [num_tokens]
  const int32_t* seq_lens;      // [num_seqs]
  const int32_t* block_indptr;  // [num_seqs + 1]
  const int32_t* block_ids;     // [block_indptr[num_seqs]]
  int32_t num_seqs, num_heads, num_kv_heads, head_dim, block_size;
  int32_t window;  // 0: none; else keys with pos_q - pos_k >= window are masked
  float scale;     // applied to q·k
  float softcap;   // 0: none
};
void PagedAttention(const PagedAttentionParams& p, ThreadPool& pool);

}  // namespace gs::cpu
