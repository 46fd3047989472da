// The model's element-wise and row-wise ops on the GPU. Activations are f32 rows in device
// memory; the KV cache is bf16, or fp8 e4m3 with one f32 scale per stored (slot, KV head) row.
// Each op is a pure function of its POD params, launched on the given stream; the scalar twins
// are in kernels/ref/ops_ref.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/op_params.h"

namespace gs::cuda {

enum class KvType : int32_t { kBf16 = 0, kFp8 = 1 };

void RmsNorm(const RmsNormParams& p, cudaStream_t stream);
void NormAdd(const NormAddParams& p, cudaStream_t stream);
void QkNormRope(const QkNormRopeParams& p, cudaStream_t stream);

// Writes the step's K and V rows into the paged cache at their slots (slot < 0 skips the row).
// bf16 caches hold the values rounded to nearest; fp8 caches hold e4m3(x / scale) with
// scale = max|x| / 448 per (slot, head) row (448 is e4m3's largest finite value).
struct KvStoreParams {
  const float* k;               // [num_tokens, num_kv_heads, head_dim]
  const float* v;               // [num_tokens, num_kv_heads, head_dim]
  void* k_cache;                // [num_slots, num_kv_heads, head_dim] bf16 or e4m3
  void* v_cache;                // same
  float* k_scale;               // [num_slots, num_kv_heads] fp8 only, else nullptr
  float* v_scale;               // same
  const int64_t* slot_mapping;  // [num_tokens]
  int64_t num_tokens;
  int32_t num_kv_heads, head_dim;
  KvType kv_type;
};
void KvStore(const KvStoreParams& p, cudaStream_t stream);

// Always the exact formula (round_f16 is a licence the GPU does not take).
void GeGlu(const GeGluParams& p, cudaStream_t stream);

// out[i, :] = x[rows[i], :].
struct GatherRowsParams {
  const float* x;       // [*, num_cols]
  const int32_t* rows;  // [num_rows]
  float* out;           // [num_rows, num_cols]
  int64_t num_rows, num_cols;
};
void GatherRows(const GatherRowsParams& p, cudaStream_t stream);

// out[i] += x[i]; x[i] *= s (element-wise, i < n).
void Add(const float* x, float* out, int64_t n, cudaStream_t stream);
void Scale(float* x, int64_t n, float s, cudaStream_t stream);

// x[i] = softcap * tanh(x[i] / softcap), in place (Gemma's final-logit softcap).
void Softcap(float* x, int64_t n, float softcap, cudaStream_t stream);

// out[rows[i], :] = values[i, :] (embedding overrides for image and audio rows).
struct ScatterRowsParams {
  const float* values;  // [num_rows, num_cols]
  const int32_t* rows;  // [num_rows]
  float* out;           // [*, num_cols]
  int64_t num_rows, num_cols;
};
void ScatterRows(const ScatterRowsParams& p, cudaStream_t stream);

}  // namespace gs::cuda
