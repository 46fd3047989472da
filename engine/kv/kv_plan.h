// How a KV-cache memory budget becomes pool blocks: sliding-window groups need at most the window
// plus one step's tokens per sequence, so they get what max_seqs such sequences need (but never
// more than half the budget); global groups get the rest, which also bounds the longest sequence.
#pragma once

#include <cstdint>

#include "engine/backend.h"
#include "engine/kv/kv_pool.h"
#include "engine/model/model_config.h"
#include "engine/status.h"

namespace gs {

struct KvBudget {
  int64_t kv_cache_bytes = int64_t{512} << 20;
  int32_t block_size = 16;
  int32_t max_batch_tokens = 512;  // tokens one sequence can add in a step
  int32_t max_seqs = 1;            // sequences the sliding groups are sized for
  int64_t slot_bytes = 0;          // K and V of one token in one layer; 0: f16 values
};

struct KvPlan {
  KvPoolConfig pool;
  KvLayout layout;
  int64_t max_seq_len = 0;  // longest sequence the pool holds, capped by the model's context
};

StatusOr<KvPlan> PlanKv(const ModelConfig& config, const KvBudget& budget);

}  // namespace gs
