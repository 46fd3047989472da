// Host-side bookkeeping of the paged KV cache: a fixed number of blocks per
// KV group, block tables per sequence and group, ref counts, and the prefix cache. The memory
// itself belongs to the backend (KvLayout); this class only decides which slot each token's K/V
// lives in.
//
// Free blocks sit in one list per group in eviction order: blocks holding nothing reusable at the
// front, cached blocks (full blocks registered under their chained hash) at the back in the order
// they were freed, so the least recently used cached block is reused first. A cached block that is
// matched again leaves the list. A hit is verified against the block's stored tokens and, along
// the chain, against the generation of the block it was computed after.
//
// Invariants (CheckInvariants): every block is either free or referenced, never both; a block's
// ref count equals the number of table entries holding it; the free list holds each free block
// once; every cache entry names a cached block with that hash.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/kv/block_hash.h"
#include "engine/status.h"

namespace gs {

struct KvPoolConfig {
  int32_t block_size = 16;
  std::vector<int32_t> num_blocks;  // [num_groups]
  std::vector<int32_t> windows;     // [num_groups]; 0 = global, else sliding window in tokens
  bool enable_prefix_caching = true;
};

class KvPool {
 public:
  explicit KvPool(KvPoolConfig config);

  int32_t block_size() const { return config_.block_size; }
  int32_t num_groups() const { return static_cast<int32_t>(config_.num_blocks.size()); }
  // Blocks a Reserve can take: unreferenced ones, cached or not.
  int32_t num_free_blocks(int32_t group_idx) const { return groups_[group_idx].num_free; }
  int32_t num_blocks(int32_t group_idx) const { return config_.num_blocks[group_idx]; }
  int32_t num_cached_blocks(int32_t group_idx) const {
    return static_cast<int32_t>(groups_[group_idx].cache.size());
  }
  bool prefix_caching() const { return config_.enable_prefix_caching; }

  // A new, empty sequence; ids are reused after FreeSequence.
  int32_t AddSequence();
  // Grows every group's table of seq to cover num_tokens tokens. All or nothing: false (and no
  // change) when some group lacks free blocks. Taking a cached free block evicts it.
  bool Reserve(int32_t seq_idx, int64_t num_tokens);
  // Sliding groups only: frees the blocks wholly before the first position any future query can
  // see (first_needed_pos = next query position - window + 1); their entries become -1.
  void ReleaseOutsideWindow(int32_t seq_idx, int64_t next_query_pos);
  void FreeSequence(int32_t seq_idx);

  const std::vector<int32_t>& Table(int32_t seq_idx, int32_t group_idx) const;
  // Cache slot of position pos (its block must be held).
  int64_t Slot(int32_t seq_idx, int32_t group_idx, int64_t pos) const;

  // Prefix cache. hashes[i] names full block i of tokens (HashBlock chained from block 0).
  // The number of leading blocks, at most max_blocks, whose K/V every group can supply for a
  // query right after them (a sliding group needs only the blocks inside the window).
  int32_t MatchPrefix(std::span<const BlockHash> hashes, std::span<const int32_t> tokens,
                      int32_t max_blocks) const;
  // Fills the empty tables of seq with the first num_blocks blocks MatchPrefix found.
  void AttachPrefix(int32_t seq_idx, std::span<const BlockHash> hashes, int32_t num_blocks);
  // Registers seq's full, computed blocks [first_block, end_block) under their hashes.
  void RegisterBlocks(int32_t seq_idx, std::span<const BlockHash> hashes,
                      std::span<const int32_t> tokens, int32_t first_block, int32_t end_block);

  Status CheckInvariants() const;

 private:
  struct Block {
    int32_t ref_count = 0;
    int32_t prev = -1;  // free list links
    int32_t next = -1;
    bool is_free = false;
    bool cached = false;
    BlockHash hash{};
    uint64_t generation = 0;         // unique per registration
    uint64_t parent_generation = 0;  // the previous block's, 0 for the first block
  };
  struct Group {
    std::vector<Block> blocks;
    std::vector<int32_t> tokens;  // [num_blocks * block_size]: the tokens of cached blocks
    int32_t head = -1;            // next to be reused
    int32_t tail = -1;
    int32_t num_free = 0;
    std::unordered_map<BlockHash, int32_t, BlockHashHasher> cache;
  };
  struct Sequence {
    bool live = false;
    std::vector<std::vector<int32_t>> tables;  // [num_groups][blocks]; -1 = released
  };

  int32_t BlocksFor(int64_t num_tokens) const;
  // First block a query at position pos needs in a group with this window.
  int32_t FirstNeededBlock(int32_t window, int64_t pos) const;
  void PushFree(Group& g, int32_t block_idx);
  void Unlink(Group& g, int32_t block_idx);
  int32_t PopFree(Group& g);
  void Acquire(Group& g, int32_t block_idx);
  void Drop(Group& g, int32_t block_idx);
  // The cached block for hashes[i] whose tokens match, or -1.
  int32_t Lookup(const Group& g, std::span<const BlockHash> hashes, std::span<const int32_t> tokens,
                 int32_t i) const;

  KvPoolConfig config_;
  std::vector<Group> groups_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
  uint64_t next_generation_ = 1;
};

}  // namespace gs
