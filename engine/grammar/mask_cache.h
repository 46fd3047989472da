// Token masks already computed for a grammar, keyed by the whole parser state (every live
// head's node and the return nodes of its stack). The mask depends on nothing else, so it can be
// shared by every sequence using the grammar: states recur constantly (inside a string after
// each token, at each repetition of an array item), and a hit replaces a trie walk by a copy.
// Thread-safe; bounded by a byte budget (full: no more inserts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace gs::grammar {

class MaskCache {
 public:
  explicit MaskCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // nullptr on a miss.
  std::shared_ptr<const std::vector<uint32_t>> Find(const std::string& key) const;
  void Insert(const std::string& key, std::vector<uint32_t> mask);

 private:
  const size_t max_bytes_;
  mutable std::mutex mu_;
  size_t num_bytes_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<uint32_t>>> masks_;
};

}  // namespace gs::grammar
