#include "kernels/ref/moe_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ops_ref.h"

namespace gs::ref {

void RouteTopK(const float* logits, int32_t num_experts, int32_t num_used, const float* scales,
               MoeRoute* out) {
  float max_logit = -INFINITY;
  for (int32_t e = 0; e < num_experts; ++e) max_logit = std::max(max_logit, logits[e]);
  std::vector<float> probs(num_experts);
  double sum = 0;
  for (int32_t e = 0; e < num_experts; ++e) {
    probs[e] = std::exp(logits[e] - max_logit);
    sum += probs[e];
  }
  std::vector<int32_t> order(num_experts);
  for (int32_t e = 0; e < num_experts; ++e) order[e] = e;
  std::partial_sort(order.begin(), order.begin() + num_used, order.end(),
                    [&](int32_t a, int32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  // Renormalising the chosen probabilities makes the softmax's own denominator cancel.
  double chosen = 0;
  for (int32_t j = 0; j < num_used; ++j) chosen += probs[order[j]] / sum;
  for (int32_t j = 0; j < num_used; ++j) {
    const int32_t e = order[j];
    const double w = probs[e] / sum / chosen;
    out[j] = {e, static_cast<float>(w * (scales != nullptr ? scales[e] : 1.0f))};
  }
}

void MoeExperts(const MoeExpertsRefParams& p) {
  const int64_t hidden = p.hidden, ffn = p.expert_ffn;
  std::vector<float> h(ffn);
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    const float* x = p.x + t * hidden;
    std::vector<double> acc(hidden, 0.0);
    for (int32_t j = 0; j < p.num_used; ++j) {
      const MoeRoute& r = p.routes[t * p.num_used + j];
      const int64_t mat0 = int64_t{r.expert_idx} * ffn * hidden;
      for (int64_t f = 0; f < ffn; ++f) {
        const float* g_row = p.gate + mat0 + f * hidden;
        const float* u_row = p.up + mat0 + f * hidden;
        double g = 0, u = 0;
        for (int64_t c = 0; c < hidden; ++c) {
          g += double{g_row[c]} * x[c];
          u += double{u_row[c]} * x[c];
        }
        h[f] = GeluTanh(static_cast<float>(g)) * static_cast<float>(u);
      }
      for (int64_t c = 0; c < hidden; ++c) {
        const float* d_row = p.down + mat0 + c * ffn;
        double y = 0;
        for (int64_t f = 0; f < ffn; ++f) y += double{d_row[f]} * h[f];
        acc[c] += double{r.weight} * y;
      }
    }
    for (int64_t c = 0; c < hidden; ++c) p.out[t * hidden + c] = static_cast<float>(acc[c]);
  }
}

}  // namespace gs::ref
