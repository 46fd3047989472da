#include "engine/grammar/mask_cache.h"

namespace gs::grammar {

std::shared_ptr<const std::vector<uint32_t>> MaskCache::Find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = masks_.find(key);
  return it == masks_.end() ? nullptr : it->second;
}

void MaskCache::Insert(const std::string& key, std::vector<uint32_t> mask) {
  const size_t num_bytes = key.size() + mask.size() * sizeof(uint32_t);
  std::lock_guard<std::mutex> lock(mu_);
  if (num_bytes_ + num_bytes > max_bytes_) return;
  if (masks_.emplace(key, std::make_shared<const std::vector<uint32_t>>(std::move(mask))).second) {
    num_bytes_ += num_bytes;
  }
}

}  // namespace gs::grammar
