// What a request constrains its output to, as the client wrote it: OpenAI's response_format
// (json_object, json_schema), vLLM's structured_outputs {json, regex, choice, grammar,
// json_object} and its older guided_* fields, and llama.cpp's top-level `grammar` (GBNF) and
// `json_schema`, so clients of any of them work unchanged. The server compiles it (engine/
// grammar); `param` names where it came from so that a schema, pattern or grammar that does not
// compile is a 400 naming it.
#pragma once

#include <string>
#include <vector>

namespace gs::api {

enum class OutputConstraintKind {
  kNone,
  kJsonObject,  // any JSON object
  kJsonSchema,  // text: the schema's JSON text
  kRegex,       // text: the pattern, matched against the whole output
  kChoice,      // choices: the output is exactly one of them
  kGrammar,     // text: a GBNF grammar (llama.cpp's format)
};

struct OutputConstraint {
  OutputConstraintKind kind = OutputConstraintKind::kNone;
  std::string text;
  std::vector<std::string> choices;
  std::string param;  // e.g. "response_format.json_schema.schema"

  bool active() const { return kind != OutputConstraintKind::kNone; }
};

}  // namespace gs::api
