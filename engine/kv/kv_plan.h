// How a KV-cache memory budget becomes pool blocks: sliding-window groups need at most the window
// plus one step's tokens per sequence, so they get what max_seqs such sequences need (but never
// more than half the budget); global groups get the rest, which also bounds the longest sequence.
// A token's cost in a group is what KvGroupTokenBytes says, for every caller.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/backend.h"
#include "engine/kv/kv_pool.h"
#include "engine/model/model_config.h"
#include "engine/status.h"

namespace gs {

// Bytes of K and V for one token in one layer with this head shape (Backend::KvSlotBytes).
using KvSlotBytesFn = std::function<int64_t(int32_t num_kv_heads, int32_t head_dim)>;

// The f16 cost, for callers without a backend at hand; a backend's own (it must outlive the fn).
int64_t KvSlotBytesF16(int32_t num_kv_heads, int32_t head_dim);
KvSlotBytesFn BackendSlotBytes(const Backend& backend);

// [num_kv_groups]: bytes one token costs in each group, over every layer that stores K/V in it
// (layers that read another layer's cache cost nothing).
std::vector<int64_t> KvGroupTokenBytes(const ModelConfig& config, const KvSlotBytesFn& slot_bytes);

struct KvBudget {
  int64_t kv_cache_bytes = int64_t{512} << 20;
  int32_t block_size = 16;
  int32_t max_batch_tokens = 512;  // tokens one sequence can add in a step
  int32_t max_seqs = 1;            // sequences the sliding groups are sized for
  KvSlotBytesFn slot_bytes;        // empty: f16 values
};

struct KvPlan {
  KvPoolConfig pool;
  KvLayout layout;
  int64_t max_seq_len = 0;  // longest sequence the pool holds, capped by the model's context
};

StatusOr<KvPlan> PlanKv(const ModelConfig& config, const KvBudget& budget);

// A budget with which PlanKv holds max_seqs sequences of seq_len tokens each (sliding groups
// window-sized) at steps of max_batch_tokens: for commands that size the cache from their work.
int64_t KvBytesFor(const ModelConfig& config, const KvSlotBytesFn& slot_bytes, int64_t seq_len,
                   int32_t max_seqs, int32_t max_batch_tokens, int32_t block_size);

}  // namespace gs
