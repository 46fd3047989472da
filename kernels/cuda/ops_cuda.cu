#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cfloat>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/cuda/reduce_cuda.cuh"

namespace gs::cuda {
namespace {

constexpr int kRowThreads = 256;

__device__ __forceinline__ float InvRms(float sum_sq, int64_t n, float eps) {
  return rsqrtf(sum_sq / static_cast<float>(n) + eps);
}

// One block per segment of w_len values (a whole row, or one slice of it).
__global__ void RmsNormKernel(RmsNormParams p) {
  __shared__ float scratch[32];
  const float* x = p.x + static_cast<int64_t>(blockIdx.x) * p.w_len;
  float* out = p.out + static_cast<int64_t>(blockIdx.x) * p.w_len;
  float sum_sq = 0;
  for (int64_t i = threadIdx.x; i < p.w_len; i += blockDim.x) sum_sq += x[i] * x[i];
  const float inv = InvRms(BlockSum(sum_sq, scratch), p.w_len, p.eps);
  // Every thread has read its x before the reduction's barrier, so out may alias x.
  for (int64_t i = threadIdx.x; i < p.w_len; i += blockDim.x) {
    out[i] = p.w != nullptr ? x[i] * inv * p.w[i] : x[i] * inv;
  }
}

__global__ void NormAddKernel(NormAddParams p) {
  __shared__ float scratch[32];
  const float* x = p.x + blockIdx.x * p.row_len;
  float* residual = p.residual + blockIdx.x * p.row_len;
  float sum_sq = 0;
  for (int64_t i = threadIdx.x; i < p.row_len; i += blockDim.x) sum_sq += x[i] * x[i];
  const float inv = InvRms(BlockSum(sum_sq, scratch), p.row_len, p.eps);
  for (int64_t i = threadIdx.x; i < p.row_len; i += blockDim.x) residual[i] += x[i] * inv * p.w[i];
}

// One warp per (token, head) row; lane handles dims lane, lane + 32, ... so that both halves of
// a rotated pair (i, i + n_rot/2) belong to the same lane when i < n_rot/2.
__global__ void QkNormRopeKernel(QkNormRopeParams p) {
  const int64_t row_idx = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (row_idx >= p.num_tokens * p.num_heads) return;  // whole warps exit together
  const int64_t token_idx = row_idx / p.num_heads;
  float* x = p.x + row_idx * p.head_dim;
  float inv = 1.0f;
  if (p.normalize) {
    float sum_sq = 0;
    for (int i = lane; i < p.head_dim; i += 32) sum_sq += x[i] * x[i];
    inv = InvRms(WarpSum(sum_sq), p.head_dim, p.eps);
  }
  auto normed = [&](int i) { return p.norm_w != nullptr ? x[i] * inv * p.norm_w[i] : x[i] * inv; };
  const int half = p.n_rot / 2;
  const float pos = static_cast<float>(p.positions[token_idx]);
  for (int i = lane; i < half; i += 32) {
    float theta = p.freq_scale * pos * powf(p.base, -2.0f * static_cast<float>(i) / p.n_rot);
    if (p.freq_factors != nullptr) theta /= p.freq_factors[i];
    float s, c;
    sincosf(theta, &s, &c);
    const float x0 = normed(i), x1 = normed(i + half);
    x[i] = x0 * c - x1 * s;
    x[i + half] = x0 * s + x1 * c;
  }
  for (int i = p.n_rot + lane; i < p.head_dim; i += 32) x[i] = normed(i);
}

// One warp per (token, KV head) row.
__global__ void KvStoreKernel(KvStoreParams p) {
  const int64_t row_idx = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (row_idx >= p.num_tokens * p.num_kv_heads) return;
  const int64_t token_idx = row_idx / p.num_kv_heads;
  const int32_t head_idx = static_cast<int32_t>(row_idx % p.num_kv_heads);
  const int64_t slot = p.slot_mapping[token_idx];
  if (slot < 0) return;
  const int64_t src = row_idx * p.head_dim;
  const int64_t dst = (slot * p.num_kv_heads + head_idx) * p.head_dim;
  if (p.kv_type == KvType::kBf16) {
    auto* k_cache = static_cast<__nv_bfloat16*>(p.k_cache);
    auto* v_cache = static_cast<__nv_bfloat16*>(p.v_cache);
    for (int i = lane; i < p.head_dim; i += 32) {
      k_cache[dst + i] = __float2bfloat16_rn(p.k[src + i]);
      v_cache[dst + i] = __float2bfloat16_rn(p.v[src + i]);
    }
    return;
  }
  float k_max = 0, v_max = 0;
  for (int i = lane; i < p.head_dim; i += 32) {
    k_max = fmaxf(k_max, fabsf(p.k[src + i]));
    v_max = fmaxf(v_max, fabsf(p.v[src + i]));
  }
  // A zero row keeps scale 1 so that quantization never divides by zero.
  const float k_row_max = WarpMax(k_max), v_row_max = WarpMax(v_max);
  // FLT_MIN: a row whose largest value is denormal must not get scale 0 (and 0/0 values).
  const float k_s = k_row_max > 0 ? fmaxf(k_row_max / 448.0f, FLT_MIN) : 1.0f;
  const float v_s = v_row_max > 0 ? fmaxf(v_row_max / 448.0f, FLT_MIN) : 1.0f;
  auto* k_cache = static_cast<__nv_fp8_e4m3*>(p.k_cache);
  auto* v_cache = static_cast<__nv_fp8_e4m3*>(p.v_cache);
  for (int i = lane; i < p.head_dim; i += 32) {
    k_cache[dst + i] = __nv_fp8_e4m3(p.k[src + i] / k_s);
    v_cache[dst + i] = __nv_fp8_e4m3(p.v[src + i] / v_s);
  }
  if (lane == 0) {
    p.k_scale[slot * p.num_kv_heads + head_idx] = k_s;
    p.v_scale[slot * p.num_kv_heads + head_idx] = v_s;
  }
}

__global__ void GeGluKernel(GeGluParams p) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  const int64_t n = p.num_rows * p.num_cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / p.num_cols, c = i - r * p.num_cols;
    const float x = p.gate[i];
    p.gate[i] = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x))) *
                p.up[r * p.up_stride + p.up_offset + c];
  }
}

__global__ void GatherRowsKernel(GatherRowsParams p) {
  const float* src = p.x + static_cast<int64_t>(p.rows[blockIdx.x]) * p.num_cols;
  float* dst = p.out + static_cast<int64_t>(blockIdx.x) * p.num_cols;
  for (int64_t i = threadIdx.x; i < p.num_cols; i += blockDim.x) dst[i] = src[i];
}

__global__ void ScatterRowsKernel(ScatterRowsParams p) {
  const float* src = p.values + static_cast<int64_t>(blockIdx.x) * p.num_cols;
  float* dst = p.out + static_cast<int64_t>(p.rows[blockIdx.x]) * p.num_cols;
  for (int64_t i = threadIdx.x; i < p.num_cols; i += blockDim.x) dst[i] = src[i];
}

__global__ void SoftcapKernel(float* x, int64_t n, float softcap) {
  const float inv = 1.0f / softcap;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = softcap * tanhf(x[i] * inv);
  }
}

__global__ void AddKernel(const float* x, float* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] += x[i];
  }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] *= s;
  }
}

// Grid for a grid-stride element-wise kernel: enough blocks to fill any current GPU.
unsigned ElementwiseBlocks(int64_t n) {
  const int64_t blocks = (n + kRowThreads - 1) / kRowThreads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

unsigned WarpRowBlocks(int64_t num_rows) {
  constexpr int64_t kWarpsPerBlock = kRowThreads / 32;
  return static_cast<unsigned>((num_rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

}  // namespace

void RmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return;
  const int64_t num_segments = p.num_rows * (p.row_len / p.w_len);
  RmsNormKernel<<<static_cast<unsigned>(num_segments), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void NormAdd(const NormAddParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return;
  NormAddKernel<<<static_cast<unsigned>(p.num_rows), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void QkNormRope(const QkNormRopeParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return;
  QkNormRopeKernel<<<WarpRowBlocks(p.num_tokens * p.num_heads), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void KvStore(const KvStoreParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return;
  KvStoreKernel<<<WarpRowBlocks(p.num_tokens * p.num_kv_heads), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void GeGlu(const GeGluParams& p, cudaStream_t stream) {
  const int64_t n = p.num_rows * p.num_cols;
  if (n == 0) return;
  GeGluKernel<<<ElementwiseBlocks(n), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void GatherRows(const GatherRowsParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return;
  GatherRowsKernel<<<static_cast<unsigned>(p.num_rows), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void ScatterRows(const ScatterRowsParams& p, cudaStream_t stream) {
  if (p.num_rows == 0) return;
  ScatterRowsKernel<<<static_cast<unsigned>(p.num_rows), kRowThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

void Add(const float* x, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  AddKernel<<<ElementwiseBlocks(n), kRowThreads, 0, stream>>>(x, out, n);
  GS_CUDA_CHECK_LAUNCH();
}

void Scale(float* x, int64_t n, float s, cudaStream_t stream) {
  if (n == 0) return;
  ScaleKernel<<<ElementwiseBlocks(n), kRowThreads, 0, stream>>>(x, n, s);
  GS_CUDA_CHECK_LAUNCH();
}

void Softcap(float* x, int64_t n, float softcap, cudaStream_t stream) {
  if (n == 0) return;
  SoftcapKernel<<<ElementwiseBlocks(n), kRowThreads, 0, stream>>>(x, n, softcap);
  GS_CUDA_CHECK_LAUNCH();
}

}  // namespace gs::cuda
