#include <algorithm>

#include "kernels/cuda/attention_cuda.h"

namespace gs::cuda {
namespace {

// Splits should keep every multiprocessor busy with enough loads in flight (decode attention is
// bound by memory latency as much as bandwidth) without making partials that carry little work.
constexpr int64_t kTargetBlocksPerSm = 8;
constexpr int32_t kMinKeysPerSplit = 64;

}  // namespace

int32_t FixedDecodeSplits(int32_t num_decode_rows, int32_t num_kv_heads, int32_t num_sms) {
  constexpr int64_t kMaxFixedSplits = 64;
  const int64_t blocks_per_row = int64_t{std::max(1, num_decode_rows)} * std::max(1, num_kv_heads);
  return static_cast<int32_t>(std::clamp<int64_t>(
      kTargetBlocksPerSm * std::max(1, num_sms) / blocks_per_row, 1, kMaxFixedSplits));
}

AttentionPlan PlanAttention(const AttentionPlanInputs& in) {
  AttentionPlan plan;
  std::vector<int32_t> decode_seqs;
  for (int32_t s = 0; s < in.num_seqs; ++s) {
    const int32_t begin = in.query_start[s], end = in.query_start[s + 1];
    if (end - begin == 1) {
      decode_seqs.push_back(s);
      continue;
    }
    for (int32_t row = begin; row < end; row += kPrefillTileRows) {
      plan.tiles.push_back({s, row, std::min(kPrefillTileRows, end - row)});
    }
  }
  if (decode_seqs.empty()) return plan;
  const int64_t blocks_per_split = std::max(1, in.num_kv_heads);
  const int64_t target_splits =
      std::max<int64_t>(1, kTargetBlocksPerSm * std::max(1, in.num_sms) /
                               (blocks_per_split * static_cast<int64_t>(decode_seqs.size())));
  for (int32_t s : decode_seqs) {
    const int32_t row_idx = in.query_start[s];
    const int32_t pos = in.positions[row_idx];
    const int32_t key_begin = in.window > 0 ? std::max(0, pos - in.window + 1) : 0;
    const int32_t key_end = pos + 1;
    const int32_t num_keys = key_end - key_begin;
    const int32_t max_splits = std::max(1, num_keys / kMinKeysPerSplit);
    const int32_t num_splits =
        in.fixed_splits > 0 ? in.fixed_splits
                            : static_cast<int32_t>(std::min<int64_t>(target_splits, max_splits));
    plan.decode_rows.push_back({row_idx, static_cast<int32_t>(plan.splits.size()), num_splits});
    for (int32_t i = 0; i < num_splits; ++i) {
      // Even shares; the first num_keys % num_splits splits take one key more.
      const int32_t share = num_keys / num_splits, extra = num_keys % num_splits;
      const int32_t begin = key_begin + i * share + std::min(i, extra);
      const int32_t end = begin + share + (i < extra ? 1 : 0);
      plan.splits.push_back({s, row_idx, begin, end});
    }
  }
  return plan;
}

}  // namespace gs::cuda
