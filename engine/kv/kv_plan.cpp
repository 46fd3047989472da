#include "engine/kv/kv_plan.h"

#include <algorithm>

namespace gs {

StatusOr<KvPlan> PlanKv(const ModelConfig& c, const KvBudget& b) {
  if (b.block_size <= 0 || b.max_batch_tokens <= 0 || b.max_seqs <= 0) {
    return Status::Error("block size, batch tokens and sequences must be positive");
  }
  // Bytes of one token slot in one layer: K and V as the backend stores them (f16 by default).
  const int64_t slot_bytes =
      b.slot_bytes > 0 ? b.slot_bytes : int64_t{2} * 2 * c.num_kv_heads * c.head_dim;
  KvPlan plan;
  plan.pool.block_size = b.block_size;
  plan.layout.block_size = b.block_size;
  plan.layout.num_kv_heads = c.num_kv_heads;
  plan.layout.head_dim = c.head_dim;
  plan.layout.layer_group.resize(c.num_layers);
  int64_t budget = b.kv_cache_bytes;
  const int64_t sliding_cap = b.kv_cache_bytes / 2;
  int64_t num_global_layers = 0;
  for (const KvGroupConfig& g : c.kv_groups) {
    int32_t blocks = 0;
    if (g.kind == AttentionKind::kSliding) {
      // One sequence needs the window plus a step's tokens, and two blocks of slack for
      // alignment; at least one sequence always fits.
      const int64_t per_seq = (g.window + b.max_batch_tokens + b.block_size - 1) / b.block_size + 2;
      const int64_t block_bytes = b.block_size * slot_bytes * static_cast<int64_t>(g.layers.size());
      const int64_t affordable = std::max<int64_t>(per_seq, sliding_cap / block_bytes);
      blocks =
          static_cast<int32_t>(std::min<int64_t>({per_seq * b.max_seqs, affordable, INT32_MAX}));
      budget -= blocks * block_bytes;
    } else {
      num_global_layers += static_cast<int64_t>(g.layers.size());
    }
    plan.pool.num_blocks.push_back(blocks);
    plan.pool.windows.push_back(g.window);
    for (int32_t l : g.layers)
      plan.layout.layer_group[l] = static_cast<int32_t>(plan.pool.windows.size()) - 1;
  }
  plan.max_seq_len = c.context_length;
  if (num_global_layers > 0) {
    const int64_t global_blocks =
        budget > 0 ? budget / (b.block_size * slot_bytes * num_global_layers) : 0;
    if (global_blocks <= 0) return Status::Error("the KV cache budget is too small for this model");
    for (size_t g = 0; g < c.kv_groups.size(); ++g) {
      if (c.kv_groups[g].kind == AttentionKind::kGlobal) {
        plan.pool.num_blocks[g] = static_cast<int32_t>(std::min<int64_t>(global_blocks, INT32_MAX));
      }
    }
    plan.max_seq_len = std::min<int64_t>(plan.max_seq_len, global_blocks * b.block_size);
  } else if (budget < 0) {
    return Status::Error("the KV cache budget is too small for this model's sliding window");
  }
  plan.layout.num_blocks = plan.pool.num_blocks;
  plan.layout.group_window = plan.pool.windows;
  return plan;
}

}  // namespace gs
