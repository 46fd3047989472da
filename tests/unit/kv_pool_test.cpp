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

// The chained hashes of tokens' full blocks, as the scheduler computes them.
std::vector<BlockHash> Hashes(const std::vector<int32_t>& tokens, int32_t block_size) {
  std::vector<BlockHash> out;
  for (size_t i = 0; (i + 1) * block_size <= tokens.size(); ++i) {
    out.push_back(HashBlock(out.empty() ? nullptr : &out.back(),
                            std::span<const int32_t>(tokens).subspan(i * block_size, block_size)));
  }
  return out;
}

// Computes tokens in one sequence and registers its full blocks, then frees it: the blocks stay
// in the cache, free.
void ComputeAndFree(KvPool& pool, const std::vector<int32_t>& tokens) {
  const int32_t seq = pool.AddSequence();
  ASSERT_TRUE(pool.Reserve(seq, static_cast<int64_t>(tokens.size())));
  const std::vector<BlockHash> h = Hashes(tokens, pool.block_size());
  pool.RegisterBlocks(seq, h, tokens, 0, static_cast<int32_t>(h.size()));
  pool.FreeSequence(seq);
}

TEST(Sha256Test, KnownVectors) {
  auto hex = [](const BlockHash& h) {
    std::string s;
    for (uint8_t b : h) s += "0123456789abcdef"[b >> 4], s += "0123456789abcdef"[b & 15];
    return s;
  };
  auto bytes = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(hex(Sha256(bytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(Sha256(bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(Sha256(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex(Sha256(bytes(std::string(1000, 'a')))),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(KvPoolPrefixTest, AFullPrefixMatchesAndIsShared) {
  KvPool pool({4, {32, 32}, {0, 8}});
  std::vector<int32_t> tokens(18);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i + 100);
  ComputeAndFree(pool, tokens);
  const std::vector<BlockHash> h = Hashes(tokens, 4);
  EXPECT_EQ(pool.MatchPrefix(h, tokens, 100), 4);
  EXPECT_EQ(pool.MatchPrefix(h, tokens, 2), 2);
  // Two sequences share the matched blocks; ref counts say so, and the free count drops once.
  const int32_t a = pool.AddSequence(), b = pool.AddSequence();
  pool.AttachPrefix(a, h, 4);
  pool.AttachPrefix(b, h, 4);
  EXPECT_EQ(pool.Table(a, 0), pool.Table(b, 0));
  EXPECT_EQ(pool.num_free_blocks(0), 32 - 4);
  // The sliding group (window 8) holds only the blocks a query at position 16 still sees.
  EXPECT_EQ(pool.Table(a, 1)[0], -1);
  EXPECT_EQ(pool.Table(a, 1)[1], -1);
  EXPECT_GE(pool.Table(a, 1)[2], 0);
  ASSERT_TRUE(pool.CheckInvariants().ok());
  pool.FreeSequence(a);
  pool.FreeSequence(b);
  EXPECT_EQ(pool.num_free_blocks(0), 32);
  ASSERT_TRUE(pool.CheckInvariants().ok());
}

TEST(KvPoolPrefixTest, AHitIsVerifiedAgainstTheStoredTokens) {
  KvPool pool({4, {16}, {0}});
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
  ComputeAndFree(pool, tokens);
  // The same hashes presented with other tokens (as a hash collision would): no hit.
  std::vector<BlockHash> h = Hashes(tokens, 4);
  std::vector<int32_t> other = {1, 2, 3, 4, 5, 6, 7, 9};
  EXPECT_EQ(pool.MatchPrefix(h, other, 10), 1);
  other[0] = 0;
  EXPECT_EQ(pool.MatchPrefix(h, other, 10), 0);
  EXPECT_EQ(pool.MatchPrefix(h, tokens, 10), 2);
}

TEST(KvPoolPrefixTest, ChangedPrefixMissesAndLruEvictsTheOldestCachedBlockFirst) {
  KvPool pool({4, {4}, {0}});
  const std::vector<int32_t> a = {1, 1, 1, 1, 2, 2, 2, 2};
  const std::vector<int32_t> b = {3, 3, 3, 3, 4, 4, 4, 4};
  ComputeAndFree(pool, a);
  ComputeAndFree(pool, b);  // reuses the two never-cached blocks first
  EXPECT_EQ(pool.MatchPrefix(Hashes(a, 4), a, 10), 2);
  EXPECT_EQ(pool.MatchPrefix(Hashes(b, 4), b, 10), 2);
  // A different first block changes every hash after it.
  std::vector<int32_t> c = a;
  c[0] = 9;
  EXPECT_EQ(pool.MatchPrefix(Hashes(c, 4), c, 10), 0);
  // One more block is needed: a's blocks were freed first, last block first, so a's second
  // block goes and a's prefix shrinks to one block while b stays whole.
  const int32_t s = pool.AddSequence();
  ASSERT_TRUE(pool.Reserve(s, 4));
  EXPECT_EQ(pool.MatchPrefix(Hashes(a, 4), a, 10), 1);
  EXPECT_EQ(pool.MatchPrefix(Hashes(b, 4), b, 10), 2);
  ASSERT_TRUE(pool.CheckInvariants().ok());
}

TEST(KvPoolPrefixTest, DisabledCacheNeverMatches) {
  KvPoolConfig config{4, {8}, {0}};
  config.enable_prefix_caching = false;
  KvPool pool(config);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8};
  ComputeAndFree(pool, a);
  EXPECT_EQ(pool.MatchPrefix(Hashes(a, 4), a, 10), 0);
  EXPECT_EQ(pool.num_cached_blocks(0), 0);
}

// Random sequences over a few shared prefixes: attach what matches, grow, register, release,
// free. Invariants after every operation; all blocks free (some still cached) at the end.
TEST(KvPoolPrefixTest, RandomSharingKeepsInvariants) {
  std::mt19937 rng(99);
  KvPool pool({4, {120, 60}, {0, 12}});
  std::vector<std::vector<int32_t>> prefixes(4);
  for (auto& p : prefixes) {
    p.resize(4 * (1 + rng() % 6));
    for (int32_t& t : p) t = static_cast<int32_t>(rng() % 20);
  }
  struct Live {
    int32_t seq;
    std::vector<int32_t> tokens;
    int64_t computed;
  };
  std::vector<Live> live;
  for (int step = 0; step < 5000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op == 0 || live.empty()) {
      Live l{pool.AddSequence(), prefixes[rng() % prefixes.size()], 0};
      for (int i = rng() % 9; i > 0; --i) l.tokens.push_back(static_cast<int32_t>(rng() % 20));
      const std::vector<BlockHash> h = Hashes(l.tokens, 4);
      const int32_t k =
          pool.MatchPrefix(h, l.tokens, static_cast<int32_t>((l.tokens.size() - 1) / 4));
      pool.AttachPrefix(l.seq, h, k);
      l.computed = 4 * k;
      live.push_back(l);
    } else {
      const size_t i = rng() % live.size();
      Live& l = live[i];
      if (op == 1) {
        const int64_t more = 1 + rng() % 10;
        while (static_cast<int64_t>(l.tokens.size()) < l.computed + more) {
          l.tokens.push_back(static_cast<int32_t>(rng() % 20));
        }
        pool.ReleaseOutsideWindow(l.seq, l.computed);
        if (pool.Reserve(l.seq, l.computed + more)) {
          l.computed += more;
          const std::vector<BlockHash> h = Hashes(l.tokens, 4);
          pool.RegisterBlocks(l.seq, h, l.tokens, 0, static_cast<int32_t>(l.computed / 4));
        }
      } else if (op == 2) {
        pool.ReleaseOutsideWindow(l.seq, l.computed);
      } else {
        pool.FreeSequence(l.seq);
        live.erase(live.begin() + i);
      }
    }
    const Status s = pool.CheckInvariants();
    ASSERT_TRUE(s.ok()) << "step " << step << ": " << s.message();
  }
  for (Live& l : live) pool.FreeSequence(l.seq);
  EXPECT_EQ(pool.num_free_blocks(0), 120);
  EXPECT_EQ(pool.num_free_blocks(1), 60);
  EXPECT_GT(pool.num_cached_blocks(0), 0);
}

}  // namespace
}  // namespace gs
