#include "server/response_store.h"

#include <algorithm>
#include <utility>

namespace gs {

ResponseStore::ResponseStore(int64_t max_entries, std::chrono::seconds ttl)
    : max_entries_(max_entries), ttl_(ttl) {}

void ResponseStore::Erase(std::unordered_map<std::string, Entry>::iterator it) {
  lru_.erase(it->second.lru_pos);
  entries_.erase(it);
}

ResponseStore::Entry* ResponseStore::FindEntry(const std::string& id, Clock::time_point now) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  if (now - it->second.stored_at >= ttl_) {
    Erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru_pos);
  return &it->second;
}

void ResponseStore::Put(const nlohmann::json& response, Chain parent,
                        std::vector<nlohmann::json> items, Clock::time_point now) {
  if (max_entries_ <= 0) return;
  const std::string id = response.at("id").get<std::string>();
  auto node = std::make_shared<Node>();
  node->parent = std::move(parent);
  node->items = std::move(items);
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto old = entries_.find(id); old != entries_.end()) Erase(old);
  // Expired entries go first (the oldest are at the back), then the least recently used.
  while (!lru_.empty() && (static_cast<int64_t>(entries_.size()) >= max_entries_ ||
                           now - entries_.at(lru_.back()).stored_at >= ttl_)) {
    Erase(entries_.find(lru_.back()));
  }
  lru_.push_front(id);
  entries_.emplace(id, Entry{response, std::move(node), now, lru_.begin()});
}

std::optional<nlohmann::json> ResponseStore::Get(const std::string& id, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  const Entry* e = FindEntry(id, now);
  if (e == nullptr) return std::nullopt;
  return e->response;
}

ResponseStore::Chain ResponseStore::Find(const std::string& id, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  const Entry* e = FindEntry(id, now);
  return e == nullptr ? nullptr : e->node;
}

std::vector<nlohmann::json> ResponseStore::Items(const Chain& chain) {
  std::vector<const Node*> nodes;
  for (const Node* n = chain.get(); n != nullptr; n = n->parent.get()) nodes.push_back(n);
  std::vector<nlohmann::json> items;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    items.insert(items.end(), (*it)->items.begin(), (*it)->items.end());
  }
  return items;
}

bool ResponseStore::Delete(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  Erase(it);
  return true;
}

int64_t ResponseStore::num_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(entries_.size());
}

}  // namespace gs
