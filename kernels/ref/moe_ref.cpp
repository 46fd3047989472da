#include "kernels/ref/moe_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

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
                    [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  // Renormalising the chosen probabilities makes the softmax's own denominator cancel.
  double chosen = 0;
  for (int32_t j = 0; j < num_used; ++j) chosen += probs[order[j]] / sum;
  for (int32_t j = 0; j < num_used; ++j) {
    const int32_t e = order[j];
    const double w = probs[e] / sum / chosen;
    out[j] = {e, static_cast<float>(w * (scales != nullptr ? scales[e] : 1.0f))};
  }
}

}  // namespace gs::ref
