// Compiles what a request constrains its output to (api::OutputConstraint, or the tool calls
// tool_choice "required" / a named function demands) into a grammar the engine enforces, with
// the model's token trie that every matcher shares. Built once per loaded model; thread-safe
// (HTTP workers call it concurrently). Compiled grammars are cached by their source text, so a
// client repeating a schema or a tool set compiles it once; errors are cached alike and come
// back as a 400 naming the field the source came from.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/output_constraint.h"
#include "api/tool_call_parser.h"
#include "api/tools.h"
#include "engine/grammar/grammar.h"
#include "engine/grammar/grammar_cache.h"
#include "engine/grammar/token_trie.h"
#include "engine/status.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {

using GrammarOrError = std::variant<std::shared_ptr<const grammar::CompiledGrammar>, api::ApiError>;

class ConstraintCompiler {
 public:
  // end_ids: the tokens that end an answer (end of turn, EOS): allowed exactly where a grammar
  // may end.
  ConstraintCompiler(const Tokenizer& tokenizer, const std::vector<int32_t>& end_ids);

  const std::shared_ptr<const grammar::TokenTrie>& token_trie() const { return trie_; }

  // The grammar of c (c.active() must hold).
  GrammarOrError Compile(const api::OutputConstraint& c);
  // The grammar of the calls tool_choice "required" or a named function asks for, written in
  // `format`: one fenced JSON call {"name": ..., "arguments": ...} per block (Gemma 3's
  // convention, docs/tools.md), each call's arguments held to its function's parameters schema;
  // at most one call without parallel_tool_calls, else a few. Null (no error) where the format has
  // no grammar yet (Gemma 4's native syntax): the calls are then parsed, not enforced.
  GrammarOrError CompileToolCalls(const api::ToolConfig& tools, api::ToolCallFormat format);

  // Whitespace allowed between JSON tokens: bounded, so a sampled model cannot loop on spaces
  // until max_tokens.
  static grammar::JsonSchemaOptions SchemaOptions();

 private:
  // Grammars the GrammarCache does not key (GBNF, any JSON object, tool calls), by source text.
  template <typename CompileFn>
  StatusOr<std::shared_ptr<const grammar::CompiledGrammar>> GetOrCompile(const std::string& key,
                                                                         CompileFn compile);

  std::shared_ptr<const grammar::TokenTrie> trie_;
  grammar::GrammarCache cache_;
  std::mutex mu_;
  std::unordered_map<std::string, StatusOr<std::shared_ptr<const grammar::CompiledGrammar>>> other_;
};

// A grammar that matches `call` (a whole JSON value grammar) between "```tool_call\n" and
// "\n```", 1 to max_calls times back to back.
StatusOr<grammar::Grammar> FencedCallGrammar(const grammar::Grammar& call, int max_calls);

}  // namespace gs
