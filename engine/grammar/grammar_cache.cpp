#include "engine/grammar/grammar_cache.h"

#include "engine/grammar/json_value.h"
#include "engine/grammar/regex.h"

namespace gs::grammar {

template <typename Compile>
StatusOr<std::shared_ptr<const CompiledGrammar>> GrammarCache::GetOrCompile(const std::string& key,
                                                                            Compile compile) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      ++num_hits_;
      const Entry& e = it->second.first;
      if (!e.second.ok()) return e.second;
      return e.first;
    }
  }
  // Compiled outside the lock: two threads may both compile a new schema, and the second
  // insert is dropped.
  StatusOr<Grammar> grammar = compile();
  Entry entry;
  if (grammar.ok()) {
    entry.first = std::make_shared<const CompiledGrammar>(std::move(*grammar));
  } else {
    entry.second = grammar.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.find(key) == entries_.end()) {
    lru_.push_front(key);
    entries_.emplace(key, std::make_pair(entry, lru_.begin()));
    while (entries_.size() > max_entries_) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  if (!entry.second.ok()) return entry.second;
  return entry.first;
}

StatusOr<std::shared_ptr<const CompiledGrammar>> GrammarCache::GetJsonSchema(
    std::string_view schema_text) {
  StatusOr<JsonValue> schema = JsonValue::Parse(schema_text);
  if (!schema.ok()) return Status::Error("schema: " + schema.status().message());
  return GetOrCompile("json:" + schema->ToPythonJson(),
                      [&] { return CompileJsonSchema(*schema, options_); });
}

StatusOr<std::shared_ptr<const CompiledGrammar>> GrammarCache::GetRegex(std::string_view pattern) {
  return GetOrCompile("regex:" + std::string(pattern),
                      [&] { return GrammarFromRegex(pattern, options_.regex_limits); });
}

size_t GrammarCache::num_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

size_t GrammarCache::num_hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_hits_;
}

}  // namespace gs::grammar
