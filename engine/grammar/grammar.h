// The compiled grammar: a recursive transition network. Each rule is a byte-level automaton
// whose edges either consume a byte range or call another rule (returning to a node of the
// caller); a final node may return. Lexemes (strings, numbers, patterns) are DFAs embedded as
// byte edges, and the rules above them form the context-free part, so a matcher advances mostly
// by plain DFA transitions and touches the call stack only at rule boundaries.
//
// Invariants of a built Grammar (checked by GrammarBuilder::Build):
//  - no epsilon edges (they are folded into their sources at build time);
//  - every node and every rule can still reach a return (unproductive parts are removed), so any
//    byte a node accepts keeps a complete match possible;
//  - no left recursion (a rule cannot reach a call of itself without consuming a byte), so the
//    closure over calls and returns is finite.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/grammar/mask_cache.h"
#include "engine/grammar/regex.h"
#include "engine/status.h"

namespace gs::grammar {

struct ByteEdge {
  uint8_t lo;
  uint8_t hi;
  uint32_t target;
};

struct CallEdge {
  uint32_t rule_idx;
  uint32_t ret_node;
};

struct GrammarLimits {
  int max_nodes = 500000;
  int max_edges = 4000000;
};

class Grammar {
 public:
  // free_budget value meaning "any number of characters".
  static constexpr uint8_t kUnboundedFree = 255;

  uint32_t num_nodes() const { return static_cast<uint32_t>(is_final_.size()); }
  uint32_t root_rule() const { return root_rule_; }
  uint32_t rule_start(uint32_t rule_idx) const { return rule_start_[rule_idx]; }
  bool is_final(uint32_t node) const { return is_final_[node] != 0; }
  // A node with no byte or call edges that is final: calling a rule that returns to it is a
  // tail call (the caller's frame can be reused).
  bool is_pure_return(uint32_t node) const { return is_pure_return_[node] != 0; }
  const ByteEdge* bytes_begin(uint32_t node) const { return &byte_edges_[byte_begin_[node]]; }
  const ByteEdge* bytes_end(uint32_t node) const { return &byte_edges_[byte_begin_[node + 1]]; }
  const CallEdge* calls_begin(uint32_t node) const { return &call_edges_[call_begin_[node]]; }
  const CallEdge* calls_end(uint32_t node) const { return &call_edges_[call_begin_[node + 1]]; }
  bool has_calls(uint32_t node) const { return call_begin_[node] != call_begin_[node + 1]; }
  // How many characters of JSON string content (any UTF-8 character except '"', '\', controls,
  // U+2028 and U+2029) this node accepts in a row for sure; kUnboundedFree when unlimited. A
  // token made only of such characters, at most this many, is allowed here without a walk.
  uint8_t free_budget(uint32_t node) const { return free_budget_[node]; }
  // With a finite budget: whether the budget is exact, i.e. after that many such characters
  // the node reached accepts none (so longer tokens of them are rejected). A node accepting no
  // such character at all is tight with budget 0.
  bool free_tight(uint32_t node) const { return free_tight_[node] != 0; }

 private:
  friend class GrammarBuilder;
  uint32_t root_rule_ = 0;
  std::vector<uint32_t> rule_start_;
  std::vector<uint8_t> is_final_;
  std::vector<uint8_t> is_pure_return_;
  std::vector<uint8_t> free_budget_;
  std::vector<uint8_t> free_tight_;
  std::vector<uint32_t> byte_begin_;  // num_nodes + 1 offsets into byte_edges_
  std::vector<ByteEdge> byte_edges_;
  std::vector<uint32_t> call_begin_;  // num_nodes + 1 offsets into call_edges_
  std::vector<CallEdge> call_edges_;
};

// A grammar ready to share between sequences: the automaton and the masks computed for it.
struct CompiledGrammar {
  static constexpr size_t kDefaultMaskCacheBytes = size_t{32} << 20;

  explicit CompiledGrammar(Grammar g, size_t mask_cache_bytes = kDefaultMaskCacheBytes)
      : grammar(std::move(g)), masks(mask_cache_bytes) {}

  const Grammar grammar;
  mutable MaskCache masks;
};

// Builds a Grammar from nodes, epsilon, byte and call edges. Node and rule ids are dense
// indices handed out by NewNode/NewRule.
class GrammarBuilder {
 public:
  explicit GrammarBuilder(const GrammarLimits& limits = {}) : limits_(limits) {}

  uint32_t NewNode();
  // A rule whose start node is returned through start_node.
  uint32_t NewRule(uint32_t* start_node);
  void AddBytes(uint32_t from, uint8_t lo, uint8_t hi, uint32_t to);
  void AddEpsilon(uint32_t from, uint32_t to);
  void AddCall(uint32_t from, uint32_t rule_idx, uint32_t ret);
  void SetFinal(uint32_t node);
  // A chain of bytes from `from`; returns its end node.
  uint32_t AddLiteral(uint32_t from, std::string_view bytes);
  // Any one of `words`, as a trie (shared prefixes, so one head however many words).
  void AddLiteralTrie(uint32_t from, const std::vector<std::string>& words, uint32_t to);
  // The JSON string literal (quotes included) whose decoded value `dfa` accepts, from `from` to
  // `to`. Characters are written as Python's json.dumps writes them: '"', '\' and control
  // characters escaped (short forms, else \u00XX), anything else raw UTF-8; '/' may also be
  // written \/.
  void AddJsonString(uint32_t from, const Dfa& dfa, uint32_t to);
  // A JSON string of min_chars to max_chars characters (max_chars < 0: no maximum), spelled out
  // as a chain of character positions: far fewer states than the equivalent DFA.
  void AddJsonStringOfLength(uint32_t from, int min_chars, int max_chars, uint32_t to);
  // Raw bytes: the DFA embedded as it is (for numbers and other unquoted lexemes).
  void AddDfa(uint32_t from, const Dfa& dfa, uint32_t to);

  // True once the node or edge limits are exceeded; Build then fails.
  bool overflow() const;
  StatusOr<Grammar> Build(uint32_t root_rule);

 private:
  struct Node {
    std::vector<ByteEdge> bytes;
    std::vector<CallEdge> calls;
    std::vector<uint32_t> eps;
    bool final = false;
  };

  // The string content the DFA accepts, escaped as AddJsonString says, from `from` to `to`
  // (through a closing quote when close_quote).
  void AddJsonContent(uint32_t from, const Dfa& dfa, uint32_t to, bool close_quote);

  GrammarLimits limits_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> rule_start_;
  size_t num_edges_ = 0;
};

// A grammar whose output is the whole text matched by an anchored regex (regex.h's syntax).
StatusOr<Grammar> GrammarFromRegex(std::string_view pattern, const RegexLimits& limits = {});

}  // namespace gs::grammar
