// Regular expressions (JSON Schema `pattern`, string formats, length bounds, property-name sets)
// compiled to byte-level DFAs over the UTF-8 of the decoded string. Syntax: ECMAScript's, minus
// what a finite automaton cannot express or what changes meaning with flags: lookarounds,
// backreferences, word boundaries, anchors inside a branch and unicode property classes are
// errors that name the construct, never a silent approximation.
//
// Every construction is bounded (RegexLimits), so a catastrophic pattern such as (a|b)*a(a|b){30}
// fails with an error in bounded time instead of building 2^30 states.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace gs::grammar {

struct RegexLimits {
  int max_nfa_states = 200000;
  int max_dfa_states = 5000;
};

// A deterministic automaton over bytes. Invariant after Trim(): every state can reach an
// accepting state (dead ends are removed), so any byte it allows keeps a match possible.
struct Dfa {
  static constexpr int32_t kDead = -1;
  std::vector<std::array<int32_t, 256>> next;
  std::vector<uint8_t> accepting;
  int32_t start = 0;

  int32_t num_states() const { return static_cast<int32_t>(next.size()); }
  bool empty() const { return next.empty(); }  // matches nothing
  bool Matches(std::string_view text) const;
};

// `pattern` with JSON Schema's search semantics: a branch not starting with ^ may be preceded by
// anything, one not ending with $ may be followed by anything. The DFA accepts the whole decoded
// string when it matches.
StatusOr<Dfa> CompileRegex(std::string_view pattern, const RegexLimits& limits = {});
// Like CompileRegex but the whole string must match (as if wrapped in ^(?:...)$).
StatusOr<Dfa> CompileAnchoredRegex(std::string_view pattern, const RegexLimits& limits = {});
// Exactly the given byte strings.
Dfa LiteralsDfa(const std::vector<std::string>& words);
// a ∩ b, or a ∖ b when `subtract` is set.
StatusOr<Dfa> ProductDfa(const Dfa& a, const Dfa& b, bool subtract, const RegexLimits& limits = {});

}  // namespace gs::grammar
