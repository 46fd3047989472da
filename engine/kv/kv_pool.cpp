#include "engine/kv/kv_pool.h"

#include <string>

namespace gs {

KvPool::KvPool(KvPoolConfig config) : config_(std::move(config)) {
  GS_CHECK(config_.block_size > 0);
  GS_CHECK(config_.num_blocks.size() == config_.windows.size());
  groups_.resize(config_.num_blocks.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int32_t n = config_.num_blocks[g];
    groups_[g].ref_count.assign(n, 0);
    // Lowest ids on top of the stack: a fresh pool hands out blocks in order.
    for (int32_t b = n - 1; b >= 0; --b) groups_[g].free_list.push_back(b);
  }
}

int32_t KvPool::num_free_blocks(int32_t group_idx) const {
  return static_cast<int32_t>(groups_[group_idx].free_list.size());
}

int32_t KvPool::BlocksFor(int64_t num_tokens) const {
  return static_cast<int32_t>((num_tokens + config_.block_size - 1) / config_.block_size);
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
    if (missing > static_cast<int64_t>(groups_[g].free_list.size())) return false;
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::vector<int32_t>& table = seq.tables[g];
    while (static_cast<int32_t>(table.size()) < needed) {
      const int32_t block = groups_[g].free_list.back();
      groups_[g].free_list.pop_back();
      ++groups_[g].ref_count[block];
      table.push_back(block);
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
    const int64_t first_needed = next_query_pos - window + 1;
    if (first_needed <= 0) continue;
    // Blocks [0, first_needed / block_size) hold only positions no query will see again.
    const int64_t num_dead = std::min<int64_t>(first_needed / config_.block_size,
                                               static_cast<int64_t>(seq.tables[g].size()));
    for (int64_t i = 0; i < num_dead; ++i) {
      int32_t& entry = seq.tables[g][i];
      if (entry < 0) continue;
      if (--groups_[g].ref_count[entry] == 0) groups_[g].free_list.push_back(entry);
      entry = -1;
    }
  }
}

void KvPool::FreeSequence(int32_t seq_idx) {
  Sequence& seq = seqs_[seq_idx];
  GS_CHECK(seq.live);
  for (size_t g = 0; g < groups_.size(); ++g) {
    // Freed in reverse so the next sequence reuses the same blocks in the same order.
    for (auto it = seq.tables[g].rbegin(); it != seq.tables[g].rend(); ++it) {
      if (*it < 0) continue;
      if (--groups_[g].ref_count[*it] == 0) groups_[g].free_list.push_back(*it);
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

Status KvPool::CheckInvariants() const {
  for (size_t g = 0; g < groups_.size(); ++g) {
    const int32_t n = config_.num_blocks[g];
    std::vector<int32_t> refs(n, 0), in_free(n, 0);
    for (const Sequence& seq : seqs_) {
      if (!seq.live) continue;
      for (int32_t b : seq.tables[g]) {
        if (b >= n) return Status::Error("block id out of range");
        if (b >= 0) ++refs[b];
      }
    }
    for (int32_t b : groups_[g].free_list) {
      if (b < 0 || b >= n) return Status::Error("free block id out of range");
      if (++in_free[b] > 1) return Status::Error("block " + std::to_string(b) + " freed twice");
    }
    for (int32_t b = 0; b < n; ++b) {
      if (refs[b] != groups_[g].ref_count[b]) {
        return Status::Error("block " + std::to_string(b) + " ref count mismatch");
      }
      if ((refs[b] == 0) != (in_free[b] == 1)) {
        return Status::Error("block " + std::to_string(b) +
                             (refs[b] ? " referenced and free" : " lost"));
      }
    }
  }
  return Status::Ok();
}

}  // namespace gs
