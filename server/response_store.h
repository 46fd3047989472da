// The responses kept for previous_response_id and GET /v1/responses/{id}: a bounded in-memory
// store, safe to use from any HTTP thread. At most `max_entries` responses are kept (the least
// recently used goes first) and none longer than `ttl` after it was stored.
//
// A response's conversation is its parent's (the response it continued) plus its own input and
// output items. Each entry holds only its own items and shares its parent's node, so a chain of
// n turns costs n nodes, not n^2 items; a parent evicted from the index stays alive (but not
// retrievable by id) as long as a kept child needs it. Memory is therefore bounded by
// max_entries chains, and a stored chain always fitted one prompt: it was rendered whole for the
// response that ends it.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace gs {

class ResponseStore {
 public:
  using Clock = std::chrono::steady_clock;

  // max_entries 0 stores nothing.
  ResponseStore(int64_t max_entries, std::chrono::seconds ttl);

  // One response's place in a conversation: its own items after its parent's. Immutable once
  // stored; holding one keeps its whole chain alive whatever the store evicts meanwhile.
  struct Node {
    std::shared_ptr<const Node> parent;
    std::vector<nlohmann::json> items;
  };
  using Chain = std::shared_ptr<const Node>;

  // Keeps `response` (the object GET returns) under its "id", with its conversation: `parent`'s
  // (null: none) followed by `items`.
  void Put(const nlohmann::json& response, Chain parent, std::vector<nlohmann::json> items,
           Clock::time_point now = Clock::now());
  // The response object, or nullopt when unknown or expired.
  std::optional<nlohmann::json> Get(const std::string& id, Clock::time_point now = Clock::now());
  // The conversation a response ends, or null when unknown or expired.
  Chain Find(const std::string& id, Clock::time_point now = Clock::now());
  // A chain's items, oldest first.
  static std::vector<nlohmann::json> Items(const Chain& chain);
  // False when there was none by that id.
  bool Delete(const std::string& id);
  int64_t num_entries() const;

 private:
  struct Entry {
    nlohmann::json response;
    std::shared_ptr<const Node> node;
    Clock::time_point stored_at;
    std::list<std::string>::iterator lru_pos;  // in lru_, most recent first
  };

  // The live entry by `id` (moved to the front of lru_), or nullptr; drops it when expired.
  Entry* FindEntry(const std::string& id, Clock::time_point now);
  void Erase(std::unordered_map<std::string, Entry>::iterator it);

  const int64_t max_entries_;
  const std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;
};

}  // namespace gs
