#include "engine/kv/kv_pool.h"

#include <algorithm>
#include <string>

namespace gs {

KvPool::KvPool(KvPoolConfig config) : config_(std::move(config)) {
  GS_CHECK(config_.block_size > 0);
  GS_CHECK(config_.num_blocks.size() == config_.windows.size());
  groups_.resize(config_.num_blocks.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int32_t n = config_.num_blocks[g];
    groups_[g].blocks.resize(n);
    if (config_.enable_prefix_caching) {
      groups_[g].tokens.resize(static_cast<size_t>(n) * config_.block_size);
    }
    // A fresh pool hands out blocks in order.
    for (int32_t b = 0; b < n; ++b) PushFree(groups_[g], b);
  }
}

int32_t KvPool::BlocksFor(int64_t num_tokens) const {
  return static_cast<int32_t>((num_tokens + config_.block_size - 1) / config_.block_size);
}

int32_t KvPool::FirstNeededBlock(int32_t window, int64_t pos) const {
  if (window == 0) return 0;
  const int64_t first_pos = pos - window + 1;
  return first_pos <= 0 ? 0 : static_cast<int32_t>(first_pos / config_.block_size);
}

void KvPool::PushFree(Group& g, int32_t b) {
  Block& block = g.blocks[b];
  block.is_free = true;
  ++g.num_free;
  if (block.cached) {  // kept as long as possible: to the back
    block.prev = g.tail;
    block.next = -1;
    if (g.tail >= 0) g.blocks[g.tail].next = b;
    g.tail = b;
    if (g.head < 0) g.head = b;
  } else {  // holds nothing anyone can reuse: to the front
    block.prev = -1;
    block.next = g.head;
    if (g.head >= 0) g.blocks[g.head].prev = b;
    g.head = b;
    if (g.tail < 0) g.tail = b;
  }
}

void KvPool::Unlink(Group& g, int32_t b) {
  Block& block = g.blocks[b];
  GS_CHECK(block.is_free);
  if (block.prev >= 0)
    g.blocks[block.prev].next = block.next;
  else
    g.head = block.next;
  if (block.next >= 0)
    g.blocks[block.next].prev = block.prev;
  else
    g.tail = block.prev;
  block.prev = block.next = -1;
  block.is_free = false;
  --g.num_free;
}

int32_t KvPool::PopFree(Group& g) {
  const int32_t b = g.head;
  GS_CHECK(b >= 0);
  Unlink(g, b);
  Block& block = g.blocks[b];
  if (block.cached) {  // evicted: its contents are about to be overwritten
    g.cache.erase(block.hash);
    block.cached = false;
  }
  return b;
}

void KvPool::Acquire(Group& g, int32_t b) {
  if (g.blocks[b].ref_count++ == 0) Unlink(g, b);
}

void KvPool::Drop(Group& g, int32_t b) {
  GS_CHECK(g.blocks[b].ref_count > 0);
  if (--g.blocks[b].ref_count == 0) PushFree(g, b);
}

int32_t KvPool::AddSequence() {
  int32_t id;
  if (!free_seq_ids_.empty()) {
    id = free_seq_ids_.back();
    free_seq_ids_.pop_back();
  } else {
    id = static_cast<int32_t>(seqs_.size());
    seqs_.emplace_back();
  }
  seqs_[id].live = true;
  seqs_[id].tables.assign(groups_.size(), {});
  return id;
}

bool KvPool::Reserve(int32_t seq_idx, int64_t num_tokens) {
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  const int32_t needed = BlocksFor(num_tokens);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int64_t missing = needed - static_cast<int64_t>(seq.tables[g].size());
    if (missing > groups_[g].num_free) return false;
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::vector<int32_t>& table = seq.tables[g];
    while (static_cast<int32_t>(table.size()) < needed) {
      const int32_t b = PopFree(groups_[g]);
      groups_[g].blocks[b].ref_count = 1;
      table.push_back(b);
    }
  }
  return true;
}

void KvPool::ReleaseOutsideWindow(int32_t seq_idx, int64_t next_query_pos) {
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int32_t window = config_.windows[g];
    if (window == 0) continue;
    // Blocks before the first needed one hold only positions no query will see again.
    const int64_t num_dead = std::min<int64_t>(FirstNeededBlock(window, next_query_pos),
                                               static_cast<int64_t>(seq.tables[g].size()));
    for (int64_t i = 0; i < num_dead; ++i) {
      int32_t& entry = seq.tables[g][i];
      if (entry < 0) continue;
      Drop(groups_[g], entry);
      entry = -1;
    }
  }
}

void KvPool::FreeSequence(int32_t seq_idx) {
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  for (size_t g = 0; g < groups_.size(); ++g) {
    // Last block first: among cached blocks the end of a sequence is the least likely to be
    // shared, so it is evicted before the prefix.
    for (auto it = seq.tables[g].rbegin(); it != seq.tables[g].rend(); ++it) {
      if (*it >= 0) Drop(groups_[g], *it);
    }
  }
  seq.live = false;
  seq.tables.clear();
  free_seq_ids_.push_back(seq_idx);
}

const std::vector<int32_t>& KvPool::Table(int32_t seq_idx, int32_t group_idx) const {
  return seqs_[seq_idx].tables[group_idx];
}

int64_t KvPool::Slot(int32_t seq_idx, int32_t group_idx, int64_t pos) const {
  const std::vector<int32_t>& table = seqs_[seq_idx].tables[group_idx];
  const int64_t block_idx = pos / config_.block_size;
  GS_CHECK(block_idx < static_cast<int64_t>(table.size()) && table[block_idx] >= 0);
  return static_cast<int64_t>(table[block_idx]) * config_.block_size + pos % config_.block_size;
}

int32_t KvPool::Lookup(const Group& g, std::span<const BlockHash> hashes,
                       std::span<const int32_t> tokens, int32_t i) const {
  auto it = g.cache.find(hashes[i]);
  if (it == g.cache.end()) return -1;
  const int32_t bs = config_.block_size;
  const int32_t* stored = g.tokens.data() + static_cast<size_t>(it->second) * bs;
  if (!std::equal(stored, stored + bs, tokens.data() + static_cast<size_t>(i) * bs)) return -1;
  return it->second;
}

int32_t KvPool::MatchPrefix(std::span<const BlockHash> hashes, std::span<const int32_t> tokens,
                            int32_t max_blocks) const {
  if (!config_.enable_prefix_caching) return 0;
  int32_t k = std::min<int32_t>(max_blocks, static_cast<int32_t>(hashes.size()));
  k = std::min<int32_t>(k, static_cast<int32_t>(tokens.size() / config_.block_size));
  // Global groups need every block, each computed right after the one matched before it.
  for (size_t gi = 0; gi < groups_.size() && k > 0; ++gi) {
    if (config_.windows[gi] != 0) continue;
    const Group& g = groups_[gi];
    uint64_t parent_generation = 0;
    int32_t n = 0;
    for (; n < k; ++n) {
      const int32_t b = Lookup(g, hashes, tokens, n);
      if (b < 0 || g.blocks[b].parent_generation != parent_generation) break;
      parent_generation = g.blocks[b].generation;
    }
    k = n;
  }
  // Sliding groups need only the blocks a query at position k * block_size still sees; the
  // largest k for which every such block is cached wins.
  for (; k > 0; --k) {
    bool ok = true;
    for (size_t gi = 0; gi < groups_.size() && ok; ++gi) {
      const int32_t window = config_.windows[gi];
      if (window == 0) continue;
      const int64_t pos = static_cast<int64_t>(k) * config_.block_size;
      for (int32_t i = FirstNeededBlock(window, pos); i < k && ok; ++i) {
        ok = Lookup(groups_[gi], hashes, tokens, i) >= 0;
      }
    }
    if (ok) break;
  }
  return k;
}

void KvPool::AttachPrefix(int32_t seq_idx, std::span<const BlockHash> hashes, int32_t num_blocks) {
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  const int64_t pos = static_cast<int64_t>(num_blocks) * config_.block_size;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    std::vector<int32_t>& table = seq.tables[gi];
    GS_CHECK(table.empty());
    const int32_t first = FirstNeededBlock(config_.windows[gi], pos);
    for (int32_t i = 0; i < num_blocks; ++i) {
      if (i < first) {
        table.push_back(-1);
        continue;
      }
      auto it = g.cache.find(hashes[i]);
      GS_CHECK(it != g.cache.end());
      Acquire(g, it->second);
      table.push_back(it->second);
    }
  }
}

void KvPool::RegisterBlocks(int32_t seq_idx, std::span<const BlockHash> hashes,
                            std::span<const int32_t> tokens, int32_t first_block,
                            int32_t end_block) {
  if (!config_.enable_prefix_caching) return;
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  GS_CHECK(end_block <= static_cast<int32_t>(hashes.size()));
  const int32_t bs = config_.block_size;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    const std::vector<int32_t>& table = seq.tables[gi];
    for (int32_t i = first_block; i < end_block && i < static_cast<int32_t>(table.size()); ++i) {
      const int32_t b = table[i];
      if (b < 0 || g.blocks[b].cached || g.cache.count(hashes[i])) continue;
      Block& block = g.blocks[b];
      block.cached = true;
      block.hash = hashes[i];
      block.generation = next_generation_++;
      // The chain: the block this one was computed after is whichever block the cache holds for
      // the previous hash (this sequence's, or an identical earlier one).
      block.parent_generation = 0;
      if (i > 0) {
        auto parent = g.cache.find(hashes[i - 1]);
        block.parent_generation =
            parent == g.cache.end() ? ~uint64_t{0} : g.blocks[parent->second].generation;
      }
      std::copy(tokens.begin() + static_cast<size_t>(i) * bs,
                tokens.begin() + static_cast<size_t>(i + 1) * bs,
                g.tokens.begin() + static_cast<size_t>(b) * bs);
      g.cache.emplace(hashes[i], b);
    }
  }
}

Status KvPool::CheckInvariants() const {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& g = groups_[gi];
    const int32_t n = config_.num_blocks[gi];
    std::vector<int32_t> refs(n, 0), in_free(n, 0);
    for (const Sequence& seq : seqs_) {
      if (!seq.live) continue;
      for (int32_t b : seq.tables[gi]) {
        if (b >= n) return Status::Error("block id out of range");
        if (b >= 0) ++refs[b];
      }
    }
    int32_t num_listed = 0;
    for (int32_t b = g.head, prev = -1; b >= 0; prev = b, b = g.blocks[b].next) {
      if (b >= n) return Status::Error("free block id out of range");
      if (g.blocks[b].prev != prev) return Status::Error("free list links broken");
      if (++in_free[b] > 1) return Status::Error("block " + std::to_string(b) + " freed twice");
      if (++num_listed > n) return Status::Error("free list has a cycle");
    }
    if (num_listed != g.num_free) return Status::Error("free count mismatch");
    for (int32_t b = 0; b < n; ++b) {
      if (refs[b] != g.blocks[b].ref_count) {
        return Status::Error("block " + std::to_string(b) + " ref count mismatch");
      }
      if ((refs[b] == 0) != (in_free[b] == 1) || g.blocks[b].is_free != (in_free[b] == 1)) {
        return Status::Error("block " + std::to_string(b) +
                             (refs[b] ? " referenced and free" : " lost"));
      }
    }
    int32_t num_cached = 0;
    for (int32_t b = 0; b < n; ++b) num_cached += g.blocks[b].cached;
    if (num_cached != static_cast<int32_t>(g.cache.size())) {
      return Status::Error("cache map and cached blocks disagree");
    }
    for (const auto& [hash, b] : g.cache) {
      if (!g.blocks[b].cached || g.blocks[b].hash != hash) {
        return Status::Error("cache entry names the wrong block");
      }
    }
  }
  return Status::Ok();
}

}  // namespace gs
