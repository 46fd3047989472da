// llama.cpp's GBNF grammar format compiled to a Grammar: `name ::= alternatives` rules (root is
// `root`), "literals" with \n \t \r \\ \" \xHH \uHHHH \UHHHHHHHH escapes, [character classes]
// (with ^ and ranges), `.`, rule references, (groups), * + ? {m} {m,} {m,n}, # comments.
// Token terminals (<[id]>, <token>) are an error for now. Errors name the line and column;
// undefined rules, left recursion and rules that can never finish are errors too.
#pragma once

#include <string_view>

#include "engine/grammar/grammar.h"
#include "engine/status.h"

namespace gs::grammar {

struct GbnfLimits {
  int max_depth = 100;          // nested groups
  int max_repetitions = 10000;  // copies spelled out by {m,n} in the whole grammar
  RegexLimits regex_limits;
  GrammarLimits grammar_limits;
};

StatusOr<Grammar> CompileGbnf(std::string_view text, const GbnfLimits& limits = {});

}  // namespace gs::grammar
