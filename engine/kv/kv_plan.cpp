#include "engine/kv/kv_plan.h"

#include <algorithm>

namespace gs {
namespace {

// Blocks one sequence of a sliding group can hold at once: the window plus a step's tokens, and
// two blocks of slack for alignment.
int64_t SlidingBlocksPerSeq(int32_t window, int32_t max_batch_tokens, int32_t block_size) {
  return (window + max_batch_tokens + block_size - 1) / block_size + 2;
}

}  // namespace

int64_t KvSlotBytesF16(int32_t num_kv_heads, int32_t head_dim) {
  return int64_t{2} * 2 * num_kv_heads * head_dim;
}

KvSlotBytesFn BackendSlotBytes(const Backend& backend) {
  return [&backend](int32_t num_kv_heads, int32_t head_dim) {
    return backend.KvSlotBytes(num_kv_heads, head_dim);
  };
}

std::vector<int64_t> KvGroupTokenBytes(const ModelConfig& c, const KvSlotBytesFn& slot_bytes) {
  std::vector<int64_t> bytes;
  for (const KvGroupConfig& g : c.kv_groups) {
    const int64_t per_layer =
        slot_bytes ? slot_bytes(g.num_kv_heads, g.head_dim) : KvSlotBytesF16(g.num_kv_heads, g.head_dim);
    bytes.push_back(per_layer * static_cast<int64_t>(g.layers.size()));
  }
  return bytes;
}

StatusOr<KvPlan> PlanKv(const ModelConfig& c, const KvBudget& b) {
  if (b.block_size <= 0 || b.max_batch_tokens <= 0 || b.max_seqs <= 0) {
    return Status::Error("block size, batch tokens and sequences must be positive");
  }
  const std::vector<int64_t> token_bytes = KvGroupTokenBytes(c, b.slot_bytes);
  KvPlan plan;
  plan.pool.block_size = b.block_size;
  plan.layout.block_size = b.block_size;
  plan.layout.layer_group.assign(c.num_layers, -1);
  int64_t budget = b.kv_cache_bytes;
  const int64_t sliding_cap = b.kv_cache_bytes / 2;
  int64_t global_token_bytes = 0;
  for (size_t g = 0; g < c.kv_groups.size(); ++g) {
    const KvGroupConfig& group = c.kv_groups[g];
    const int64_t block_bytes = b.block_size * token_bytes[g];
    int32_t blocks = 0;
    if (group.kind == AttentionKind::kSliding) {
      // At least one sequence always fits.
      const int64_t per_seq = SlidingBlocksPerSeq(group.window, b.max_batch_tokens, b.block_size);
      const int64_t affordable = std::max<int64_t>(per_seq, sliding_cap / block_bytes);
      blocks =
          static_cast<int32_t>(std::min<int64_t>({per_seq * b.max_seqs, affordable, INT32_MAX}));
      budget -= blocks * block_bytes;
    } else {
      global_token_bytes += token_bytes[g];
    }
    plan.pool.num_blocks.push_back(blocks);
    plan.pool.windows.push_back(group.window);
    plan.layout.groups.push_back(KvGroupLayout{blocks, group.window, group.num_kv_heads, group.head_dim});
    for (int32_t l : group.layers) plan.layout.layer_group[l] = static_cast<int32_t>(g);
  }
  plan.max_seq_len = c.context_length;
  if (global_token_bytes > 0) {
    // Every global group gets the same number of blocks: a sequence needs as many in each.
    const int64_t global_blocks = budget > 0 ? budget / (b.block_size * global_token_bytes) : 0;
    if (global_blocks <= 0) return Status::Error("the KV cache budget is too small for this model");
    for (size_t g = 0; g < c.kv_groups.size(); ++g) {
      if (c.kv_groups[g].kind == AttentionKind::kGlobal) {
        plan.pool.num_blocks[g] = static_cast<int32_t>(std::min<int64_t>(global_blocks, INT32_MAX));
        plan.layout.groups[g].num_blocks = plan.pool.num_blocks[g];
      }
    }
    plan.max_seq_len = std::min<int64_t>(plan.max_seq_len, global_blocks * b.block_size);
  } else if (budget < 0) {
    return Status::Error("the KV cache budget is too small for this model's sliding window");
  }
  return plan;
}

int64_t KvBytesFor(const ModelConfig& c, const KvSlotBytesFn& slot_bytes, int64_t seq_len,
                   int32_t max_seqs, int32_t max_batch_tokens, int32_t block_size) {
  const std::vector<int64_t> token_bytes = KvGroupTokenBytes(c, slot_bytes);
  int64_t sliding_bytes = 0, global_bytes = 0;
  for (size_t g = 0; g < c.kv_groups.size(); ++g) {
    const KvGroupConfig& group = c.kv_groups[g];
    const int64_t blocks = (seq_len + block_size - 1) / block_size + 1;
    if (group.kind == AttentionKind::kSliding) {
      sliding_bytes += SlidingBlocksPerSeq(group.window, max_batch_tokens, block_size) * max_seqs *
                       block_size * token_bytes[g];
    } else {
      global_bytes += blocks * max_seqs * block_size * token_bytes[g];
    }
  }
  // PlanKv gives sliding groups at most half the budget; twice their need keeps them whole.
  return 2 * sliding_bytes + global_bytes;
}

}  // namespace gs
