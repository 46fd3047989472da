// Compiled grammars by schema, so requests repeating a response_format or a tool set compile it
// once. Keyed by the schema's canonical text (parsed and re-serialised, so formatting does not
// matter; member order does, as it orders the output). Errors are cached too: a schema that
// fails (or hits a limit) is not recompiled on every request. Thread-safe, least recently used
// entries evicted beyond max_entries.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "engine/grammar/grammar.h"
#include "engine/grammar/json_schema.h"
#include "engine/status.h"

namespace gs::grammar {

class GrammarCache {
 public:
  explicit GrammarCache(size_t max_entries = 256, JsonSchemaOptions options = {})
      : max_entries_(max_entries), options_(std::move(options)) {}

  // The compiled grammar of a JSON Schema text, or the error naming what cannot be honoured.
  StatusOr<std::shared_ptr<const CompiledGrammar>> GetJsonSchema(std::string_view schema_text);
  // A grammar matching the whole output against an anchored regex.
  StatusOr<std::shared_ptr<const CompiledGrammar>> GetRegex(std::string_view pattern);

  size_t num_entries() const;
  size_t num_hits() const;

 private:
  using Entry = std::pair<std::shared_ptr<const CompiledGrammar>, Status>;
  template <typename Compile>
  StatusOr<std::shared_ptr<const CompiledGrammar>> GetOrCompile(const std::string& key,
                                                                Compile compile);

  const size_t max_entries_;
  const JsonSchemaOptions options_;
  mutable std::mutex mu_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, std::pair<Entry, std::list<std::string>::iterator>> entries_;
  size_t num_hits_ = 0;
};

}  // namespace gs::grammar
