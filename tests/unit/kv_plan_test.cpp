// PlanKv: a KV memory budget becomes pool blocks per group (sliding groups sized for their
// window, global groups the rest), sized by the bytes the backend stores per token.
#include "engine/kv/kv_plan.h"

#include <gtest/gtest.h>

#include "engine/model/synthetic_model.h"
#include "tests/unit/gemma3_270m_shape.h"

namespace gs {
namespace {

ModelConfig Config270m() {
  SyntheticShape s = Gemma3_270mShape();
  s.num_vocab = 1024;
  StatusOr<ModelConfig> c = SyntheticModelConfig(s);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

TEST(KvPlanTest, SlidingGroupsGetTheirWindowGlobalOnesTheRest) {
  const ModelConfig c = Config270m();
  KvBudget b;
  b.kv_cache_bytes = int64_t{256} << 20;
  b.block_size = 16;
  b.max_batch_tokens = 512;
  b.max_seqs = 4;
  StatusOr<KvPlan> plan = PlanKv(c, b);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->layout.groups.size(), c.kv_groups.size());
  int64_t used = 0;
  for (size_t g = 0; g < c.kv_groups.size(); ++g) {
    const KvGroupConfig& group = c.kv_groups[g];
    const int64_t slot_bytes = 4 * group.num_kv_heads * group.head_dim;  // f16 K and V
    EXPECT_EQ(plan->layout.groups[g].window, group.window);
    EXPECT_EQ(plan->layout.groups[g].head_dim, group.head_dim);
    const int64_t blocks = plan->layout.groups[g].num_blocks;
    used += blocks * b.block_size * slot_bytes * static_cast<int64_t>(group.layers.size());
    if (group.kind == AttentionKind::kSliding) {
      // (window + a step's tokens) per sequence, in blocks, plus two of slack, for max_seqs.
      EXPECT_EQ(blocks, ((512 + 512 + 15) / 16 + 2) * 4);
    } else {
      EXPECT_EQ(plan->max_seq_len, std::min<int64_t>(c.context_length, blocks * b.block_size));
    }
  }
  EXPECT_LE(used, b.kv_cache_bytes);
  EXPECT_GT(used, b.kv_cache_bytes * 9 / 10);  // the budget is spent, not left over
}

TEST(KvPlanTest, SmallerSlotsHoldMoreTokens) {
  // An fp8 cache (1 byte a value plus a scale a row) holds about twice the tokens of f16.
  const ModelConfig c = Config270m();
  KvBudget b;
  b.kv_cache_bytes = int64_t{256} << 20;
  StatusOr<KvPlan> f16 = PlanKv(c, b);
  b.slot_bytes = [](int32_t num_kv_heads, int32_t head_dim) {
    return int64_t{2} * num_kv_heads * (head_dim + 4);
  };
  StatusOr<KvPlan> fp8 = PlanKv(c, b);
  ASSERT_TRUE(f16.ok() && fp8.ok());
  for (size_t g = 0; g < c.kv_groups.size(); ++g) {
    if (c.kv_groups[g].kind != AttentionKind::kGlobal) continue;
    EXPECT_GT(fp8->layout.groups[g].num_blocks, f16->layout.groups[g].num_blocks * 3 / 2);
  }
}

TEST(KvPlanTest, ABudgetTooSmallIsAnError) {
  const ModelConfig c = Config270m();
  KvBudget b;
  b.kv_cache_bytes = 1 << 16;
  EXPECT_FALSE(PlanKv(c, b).ok());
  b.kv_cache_bytes = int64_t{256} << 20;
  b.block_size = 0;
  EXPECT_FALSE(PlanKv(c, b).ok());
}

}  // namespace
}  // namespace gs
