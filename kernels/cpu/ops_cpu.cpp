#include "kernels/cpu/ops_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/thread_pool.h"
#include "kernels/quant_types.h"

namespace gs::cpu {
namespace {

// f16 rows are read with F16C when the CPU has it (chosen once), else converted one by one.
#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c"))) float DotF16Avx2(const float* q, const uint16_t* k,
                                                          int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i)));
    const __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i + 8)));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), k0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), k1, acc1);
  }
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  float sum = _mm_cvtss_f32(s);
  for (; i < n; ++i) sum += q[i] * Fp16ToFp32(k[i]);
  return sum;
}

// acc += w * v
__attribute__((target("avx2,fma,f16c"))) void AxpyF16Avx2(float* acc, float w, const uint16_t* v,
                                                          int64_t n) {
  const __m256 vw = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i)));
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vw, x, _mm256_loadu_ps(acc + i)));
  }
  for (; i < n; ++i) acc[i] += w * Fp16ToFp32(v[i]);
}

__attribute__((target("avx2,fma,f16c"))) void ToF16Avx2(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

// x = f32(f16(x)), in place.
__attribute__((target("avx2,fma,f16c"))) void RoundToF16Avx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) x[i] = Fp16ToFp32(Fp32ToFp16(x[i]));
}
#endif

float DotF16Scalar(const float* q, const uint16_t* k, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += q[i] * Fp16ToFp32(k[i]);
  return sum;
}
void AxpyF16Scalar(float* acc, float w, const uint16_t* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += w * Fp16ToFp32(v[i]);
}
void ToF16Scalar(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}
void RoundToF16Scalar(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = Fp16ToFp32(Fp32ToFp16(x[i]));
}

struct F16Kernels {
  float (*dot)(const float*, const uint16_t*, int64_t);
  void (*axpy)(float*, float, const uint16_t*, int64_t);
  void (*to_f16)(const float*, uint16_t*, int64_t);
  void (*round_to_f16)(float*, int64_t);
};

const F16Kernels& GetF16Kernels() {
  static const F16Kernels k = [] {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c")) {
      return F16Kernels{DotF16Avx2, AxpyF16Avx2, ToF16Avx2, RoundToF16Avx2};
    }
#endif
    return F16Kernels{DotF16Scalar, AxpyF16Scalar, ToF16Scalar, RoundToF16Scalar};
  }();
  return k;
}

// 1 / rms(x) with llama.cpp's arithmetic: squares summed in double, mean and root in float.
float InvRms(const float* x, int64_t n, float eps) {
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum_sq / static_cast<double>(n));
  return 1.0f / std::sqrt(mean + eps);
}

// gelu_tanh evaluated as llama.cpp's CPU backend does, through a table over every f16 input:
// gelu(x) = f16(gelu(f16(x))) on (-10, 10), 0 below, x above. Matching its rounding keeps our
// logits within noise of llama.cpp's on models that amplify small differences.
const float* GeluF16Table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) {
      const float x = Fp16ToFp32(static_cast<uint16_t>(i));
      const float g =
          0.5f * x * (1.0f + std::tanh(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
      t[i] = Fp16ToFp32(Fp32ToFp16(g));
    }
    return t;
  }();
  return table.data();
}

float GeluTanhF32(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

// Rows per parallel task for cheap row-wise ops: enough work to be worth a hand-off.
constexpr int64_t kRowGrain = 4;

}  // namespace

void RmsNorm(const RmsNormParams& p, ThreadPool& pool) {
  const int64_t num_segments = p.row_len / p.w_len;
  pool.ParallelFor(p.num_rows * num_segments, kRowGrain * 4, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const float* x = p.x + s * p.w_len;
      float* out = p.out + s * p.w_len;
      const float inv = InvRms(x, p.w_len, p.eps);
      if (p.w == nullptr) {
        for (int64_t i = 0; i < p.w_len; ++i) out[i] = x[i] * inv;
      } else {
        for (int64_t i = 0; i < p.w_len; ++i) out[i] = x[i] * inv * p.w[i];
      }
    }
  });
}

void NormAdd(const NormAddParams& p, ThreadPool& pool) {
  pool.ParallelFor(p.num_rows, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = p.x + r * p.row_len;
      float* res = p.residual + r * p.row_len;
      const float inv = InvRms(x, p.row_len, p.eps);
      for (int64_t i = 0; i < p.row_len; ++i) res[i] += x[i] * inv * p.w[i];
    }
  });
}

void QkNormRope(const QkNormRopeParams& p, ThreadPool& pool) {
  const int32_t half = p.n_rot / 2;
  const float theta_scale =
      p.n_rot > 0 ? std::pow(p.base, -2.0f / static_cast<float>(p.n_rot)) : 1.0f;
  pool.ParallelFor(p.num_tokens, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_t(half), sin_t(half);
    for (int64_t t = begin; t < end; ++t) {
      float theta = static_cast<float>(p.positions[t]);
      for (int32_t i = 0; i < half; ++i) {
        float angle = p.freq_scale * theta;
        if (p.freq_factors != nullptr) angle /= p.freq_factors[i];
        cos_t[i] = std::cos(angle);
        sin_t[i] = std::sin(angle);
        theta *= theta_scale;
      }
      for (int32_t h = 0; h < p.num_heads; ++h) {
        float* x = p.x + (t * p.num_heads + h) * p.head_dim;
        if (p.normalize) {
          const float inv = InvRms(x, p.head_dim, p.eps);
          if (p.norm_w != nullptr) {
            for (int32_t i = 0; i < p.head_dim; ++i) x[i] = x[i] * inv * p.norm_w[i];
          } else {
            for (int32_t i = 0; i < p.head_dim; ++i) x[i] *= inv;
          }
        }
        for (int32_t i = 0; i < half; ++i) {
          const float x0 = x[i], x1 = x[i + half];
          x[i] = x0 * cos_t[i] - x1 * sin_t[i];
          x[i + half] = x0 * sin_t[i] + x1 * cos_t[i];
        }
      }
    }
  });
}

void GeGlu(const GeGluParams& p, ThreadPool& pool) {
  const float* table = GeluF16Table();
  const F16Kernels& f16 = GetF16Kernels();
  pool.ParallelFor(p.num_rows, 1, [&](int64_t begin, int64_t end) {
    constexpr int64_t kChunk = 256;
    uint16_t bits[kChunk];
    for (int64_t r = begin; r < end; ++r) {
      float* gate = p.gate + r * p.num_cols;
      const float* up = p.up + r * p.up_stride + p.up_offset;
      if (!p.round_f16) {
        for (int64_t i = 0; i < p.num_cols; ++i) gate[i] = GeluTanhF32(gate[i]) * up[i];
        continue;
      }
      for (int64_t c = 0; c < p.num_cols; c += kChunk) {
        const int64_t m = std::min(kChunk, p.num_cols - c);
        f16.to_f16(gate + c, bits, m);
        for (int64_t i = 0; i < m; ++i) {
          const float x = gate[c + i];
          const float g = x <= -10.0f ? 0.0f : x >= 10.0f ? x : table[bits[i]];
          gate[c + i] = g * up[c + i];
        }
      }
    }
  });
}

void KvStore(const KvStoreParams& p, ThreadPool& pool) {
  const F16Kernels& f16 = GetF16Kernels();
  pool.ParallelFor(p.num_tokens, kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t slot = p.slot_mapping[t];
      if (slot < 0) continue;
      if (p.cache_type == KvCacheType::kF32) {
        std::memcpy(static_cast<float*>(p.k_cache) + slot * p.kv_width, p.k + t * p.kv_width,
                    sizeof(float) * p.kv_width);
        std::memcpy(static_cast<float*>(p.v_cache) + slot * p.kv_width, p.v + t * p.kv_width,
                    sizeof(float) * p.kv_width);
        continue;
      }
      f16.to_f16(p.k + t * p.kv_width, static_cast<uint16_t*>(p.k_cache) + slot * p.kv_width,
                 p.kv_width);
      f16.to_f16(p.v + t * p.kv_width, static_cast<uint16_t*>(p.v_cache) + slot * p.kv_width,
                 p.kv_width);
    }
  });
}

// Two passes per (row, head). Over an f16 cache, with llama.cpp's roundings: q·scale and the
// softmax weights are rounded to f16 before they meet the cache, as its CPU matmuls do.
void PagedAttention(const PagedAttentionParams& p, ThreadPool& pool) {
  const F16Kernels& f16 = GetF16Kernels();
  const bool f32_cache = p.cache_type == KvCacheType::kF32;
  const int64_t num_tokens = p.query_start[p.num_seqs];
  const int32_t group = p.num_heads / p.num_kv_heads;
  const int64_t kv_width = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
  // Sequence of each query row, so the work can be split over (row, head) pairs.
  std::vector<int32_t> seq_of_row(num_tokens);
  for (int32_t s = 0; s < p.num_seqs; ++s) {
    for (int32_t r = p.query_start[s]; r < p.query_start[s + 1]; ++r) seq_of_row[r] = s;
  }
  auto dot = [&](const float* q, int64_t offset) {
    if (!f32_cache) return f16.dot(q, static_cast<const uint16_t*>(p.k_cache) + offset, p.head_dim);
    const float* k = static_cast<const float*>(p.k_cache) + offset;
    float sum = 0;
    for (int32_t d = 0; d < p.head_dim; ++d) sum += q[d] * k[d];
    return sum;
  };
  auto axpy = [&](float* acc, float w, int64_t offset) {
    if (!f32_cache) {
      f16.axpy(acc, w, static_cast<const uint16_t*>(p.v_cache) + offset, p.head_dim);
      return;
    }
    const float* v = static_cast<const float*>(p.v_cache) + offset;
    for (int32_t d = 0; d < p.head_dim; ++d) acc[d] += w * v[d];
  };
  pool.ParallelFor(num_tokens * p.num_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> q(p.head_dim), scores;
    std::vector<int64_t> slots;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / p.num_heads;
      const int32_t h = static_cast<int32_t>(item % p.num_heads);
      const int32_t s = seq_of_row[row];
      const int32_t q_pos = p.positions[row];
      const int32_t* blocks = p.block_ids + p.block_indptr[s];
      const float* q_in = p.q + (row * p.num_heads + h) * p.head_dim;
      float* out = p.out + (row * p.num_heads + h) * p.head_dim;
      const int64_t head_off = static_cast<int64_t>(h / group) * p.head_dim;
      for (int32_t d = 0; d < p.head_dim; ++d) q[d] = q_in[d] * p.scale;
      if (!f32_cache) f16.round_to_f16(q.data(), p.head_dim);
      // Keys visible to this query: causal, and inside the window when there is one.
      const int32_t last = std::min(q_pos, p.seq_lens[s] - 1);
      const int32_t first = p.window > 0 ? std::max(0, q_pos - p.window + 1) : 0;
      const int32_t num_keys = last - first + 1;
      scores.resize(std::max(num_keys, 0));
      slots.resize(scores.size());
      float max_s = -INFINITY;
      for (int32_t i = 0; i < num_keys; ++i) {
        const int32_t j = first + i;
        slots[i] = static_cast<int64_t>(blocks[j / p.block_size]) * p.block_size + j % p.block_size;
        float score = dot(q.data(), slots[i] * kv_width + head_off);
        if (p.softcap > 0) score = p.softcap * std::tanh(score / p.softcap);
        scores[i] = score;
        max_s = std::max(max_s, score);
      }
      double sum = 0;
      for (int32_t i = 0; i < num_keys; ++i) {
        scores[i] = std::exp(scores[i] - max_s);
        sum += scores[i];
      }
      const float inv_sum = num_keys > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
      for (int32_t i = 0; i < num_keys; ++i) scores[i] *= inv_sum;
      if (!f32_cache) f16.round_to_f16(scores.data(), num_keys);
      std::fill(out, out + p.head_dim, 0.0f);
      for (int32_t i = 0; i < num_keys; ++i) axpy(out, scores[i], slots[i] * kv_width + head_off);
    }
  });
}

}  // namespace gs::cpu
