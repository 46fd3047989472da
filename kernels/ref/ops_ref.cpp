#include "kernels/ref/ops_ref.h"

#include <cmath>
#include <vector>

namespace gs::ref {

void RmsNorm(const float* x, const float* w, float eps, int64_t n, float* out) {
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void RopeNeox(float* x, int64_t n_rot, int32_t pos, float base, float freq_scale,
              const float* freq_factors) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    double theta = static_cast<double>(freq_scale) * pos *
                   std::pow(static_cast<double>(base), -2.0 * static_cast<double>(i) / n_rot);
    if (freq_factors != nullptr) theta /= freq_factors[i];
    const double c = std::cos(theta), s = std::sin(theta);
    const double x0 = x[i], x1 = x[i + half];
    x[i] = static_cast<float>(x0 * c - x1 * s);
    x[i + half] = static_cast<float>(x0 * s + x1 * c);
  }
}

float GeluTanh(float x) {
  const double kSqrt2OverPi = 0.7978845608028654;
  const double xd = x;
  return static_cast<float>(0.5 * xd *
                            (1.0 + std::tanh(kSqrt2OverPi * (xd + 0.044715 * xd * xd * xd))));
}

void Attention(const AttentionRefParams& p) {
  const int32_t group = p.num_heads / p.num_kv_heads;
  std::vector<double> scores(p.num_k);
  for (int64_t t = 0; t < p.num_q; ++t) {
    for (int32_t h = 0; h < p.num_heads; ++h) {
      const float* q = p.q + (t * p.num_heads + h) * p.head_dim;
      const int32_t kv_h = h / group;
      double max_s = -INFINITY;
      for (int64_t j = 0; j < p.num_k; ++j) {
        const bool visible = j <= p.q_pos[t] && (p.window == 0 || p.q_pos[t] - j < p.window);
        if (!visible) {
          scores[j] = -INFINITY;
          continue;
        }
        const float* k = p.k + (j * p.num_kv_heads + kv_h) * p.head_dim;
        double s = 0;
        for (int32_t d = 0; d < p.head_dim; ++d) s += static_cast<double>(q[d]) * k[d];
        s *= p.scale;
        if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
        scores[j] = s;
        max_s = std::max(max_s, s);
      }
      double denom = 0;
      for (int64_t j = 0; j < p.num_k; ++j) {
        scores[j] = std::isinf(scores[j]) ? 0.0 : std::exp(scores[j] - max_s);
        denom += scores[j];
      }
      float* out = p.out + (t * p.num_heads + h) * p.head_dim;
      for (int32_t d = 0; d < p.head_dim; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < p.num_k; ++j) {
          if (scores[j] != 0) acc += scores[j] * p.v[(j * p.num_kv_heads + kv_h) * p.head_dim + d];
        }
        out[d] = static_cast<float>(acc / denom);
      }
    }
  }
}

}  // namespace gs::ref
