// Host-side bookkeeping of the paged KV cache (DESIGN.md "KV cache"): a fixed number of blocks per
// KV group, block tables per sequence and group, ref counts. The memory itself belongs to the
// backend (KvLayout); this class only decides which slot each token's K/V lives in.
//
// Invariants (CheckInvariants): every block is either free or referenced, never both; a block's
// ref count equals the number of table entries holding it; no block is in the free list twice.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/status.h"

namespace gs {

struct KvPoolConfig {
  int32_t block_size = 16;
  std::vector<int32_t> num_blocks;  // [num_groups]
  std::vector<int32_t> windows;     // [num_groups]; 0 = global, else sliding window in tokens
};

class KvPool {
 public:
  explicit KvPool(KvPoolConfig config);

  int32_t block_size() const { return config_.block_size; }
  int32_t num_groups() const { return static_cast<int32_t>(config_.num_blocks.size()); }
  int32_t num_free_blocks(int32_t group_idx) const;
  int32_t num_blocks(int32_t group_idx) const { return config_.num_blocks[group_idx]; }

  // A new, empty sequence; ids are reused after FreeSequence.
  int32_t AddSequence();
  // Grows every group's table of seq to cover num_tokens tokens. All or nothing: false (and no
  // change) when some group lacks free blocks.
  bool Reserve(int32_t seq_idx, int64_t num_tokens);
  // Sliding groups only: frees the blocks wholly before the first position any future query can
  // see (first_needed_pos = next query position - window + 1); their entries become -1.
  void ReleaseOutsideWindow(int32_t seq_idx, int64_t next_query_pos);
  void FreeSequence(int32_t seq_idx);

  const std::vector<int32_t>& Table(int32_t seq_idx, int32_t group_idx) const;
  // Cache slot of position pos (its block must be held).
  int64_t Slot(int32_t seq_idx, int32_t group_idx, int64_t pos) const;

  Status CheckInvariants() const;

 private:
  struct Group {
    std::vector<int32_t> free_list;  // stack of free block ids
    std::vector<int32_t> ref_count;  // [num_blocks]
  };
  struct Sequence {
    bool live = false;
    std::vector<std::vector<int32_t>> tables;  // [num_groups][blocks]; -1 = released
  };

  int32_t BlocksFor(int64_t num_tokens) const;

  KvPoolConfig config_;
  std::vector<Group> groups_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
};

}  // namespace gs
