#include "engine/kv/kv_pool.h"

#include <gtest/gtest.h>

#include <random>

namespace gs {
namespace {

TEST(KvPoolTest, ReserveAssignsSlotsInBlocks) {
  KvPool pool({16, {8, 8}, {0, 32}});
  const int32_t seq = pool.AddSequence();
  ASSERT_TRUE(pool.Reserve(seq, 20));
  EXPECT_EQ(pool.Table(seq, 0).size(), 2u);
  EXPECT_EQ(pool.num_free_blocks(0), 6);
  const int64_t slot = pool.Slot(seq, 0, 17);
  EXPECT_EQ(slot % 16, 1);
  EXPECT_EQ(slot / 16, pool.Table(seq, 0)[1]);
  EXPECT_TRUE(pool.CheckInvariants().ok());
}

TEST(KvPoolTest, ReserveIsAllOrNothing) {
  KvPool pool({16, {4, 2}, {0, 32}});
  const int32_t seq = pool.AddSequence();
  // Group 1 has only two blocks: 48 tokens need three, so nothing is taken from group 0 either.
  EXPECT_FALSE(pool.Reserve(seq, 48));
  EXPECT_EQ(pool.num_free_blocks(0), 4);
  EXPECT_EQ(pool.num_free_blocks(1), 2);
  EXPECT_TRUE(pool.Reserve(seq, 32));
  EXPECT_TRUE(pool.CheckInvariants().ok());
}

TEST(KvPoolTest, SlidingGroupReleasesBlocksThatLeftTheWindow) {
  KvPool pool({16, {64, 64}, {0, 32}});
  const int32_t seq = pool.AddSequence();
  ASSERT_TRUE(pool.Reserve(seq, 100));
  // The next query at position 100 sees keys 69..100: blocks 0..3 (keys 0..63) are dead.
  pool.ReleaseOutsideWindow(seq, 100);
  const std::vector<int32_t>& sliding = pool.Table(seq, 1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(sliding[i], -1) << i;
  EXPECT_GE(sliding[4], 0);
  EXPECT_EQ(pool.num_free_blocks(1), 64 - 3);
  EXPECT_EQ(pool.num_free_blocks(0), 64 - 7);  // the global group keeps everything
  EXPECT_TRUE(pool.CheckInvariants().ok());
  pool.FreeSequence(seq);
  EXPECT_EQ(pool.num_free_blocks(0), 64);
  EXPECT_EQ(pool.num_free_blocks(1), 64);
}

// Random add / reserve / release / free sequences; invariants after every operation, and every
// block free at the end.
TEST(KvPoolTest, RandomOperationsKeepInvariants) {
  std::mt19937 rng(1234);
  KvPool pool({16, {200, 60}, {0, 48}});
  std::vector<std::pair<int32_t, int64_t>> live;  // (seq, tokens)
  for (int step = 0; step < 5000; ++step) {
    const int op = rng() % 4;
    if (op == 0 || live.empty()) {
      live.push_back({pool.AddSequence(), 0});
    } else {
      const size_t i = rng() % live.size();
      auto& [seq, tokens] = live[i];
      if (op == 1) {
        const int64_t more = 1 + rng() % 40;
        pool.ReleaseOutsideWindow(seq, tokens);
        if (pool.Reserve(seq, tokens + more)) tokens += more;
      } else if (op == 2) {
        pool.ReleaseOutsideWindow(seq, tokens);
      } else {
        pool.FreeSequence(seq);
        live.erase(live.begin() + i);
      }
    }
    const Status s = pool.CheckInvariants();
    ASSERT_TRUE(s.ok()) << "step " << step << ": " << s.message();
  }
  for (auto& [seq, tokens] : live) pool.FreeSequence(seq);
  EXPECT_EQ(pool.num_free_blocks(0), 200);
  EXPECT_EQ(pool.num_free_blocks(1), 60);
}

}  // namespace
}  // namespace gs
