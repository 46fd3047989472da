// Splits a model's answer text, as it streams, into content and tool calls. Two syntaxes:
//   - Gemma 4's native one: `<|tool_call>call:NAME{key:VALUE,...}<tool_call|>`, with Gemma's
//     value syntax (strings as <|"|>raw text<|"|>, bare or <|"|>-quoted keys, numbers, true,
//     false, null (also None, as the chat template prints it), nested {...} and [...]); a bare
//     `<|tool_call>:NAME{...}` opener (no "call") is read the same way;
//   - the convention this server prompts Gemma 3 with (it has no tool tokens):
//     "```tool_call" JSON object {"name": ..., "arguments": {...}} "```" (docs/tools.md).
// Each call's arguments come out as a compact JSON object text (OpenAI's `arguments` string).
//
// The parser works on detokenized text, after the reasoning split (api/reasoning_parser.h): it
// sees only the answer, so a call inside a thought stays reasoning. What it guarantees, whatever
// the chunking (pushing the same bytes in any pieces gives the same content and the same calls):
//   - a call is reported whole, once its close marker has arrived and its text parsed: a call
//     that does not parse (unknown name, malformed arguments) or never closes (max_tokens) is not
//     a call, and all of its text, markers included, is content. Holding a call back until it
//     closes is what makes streamed and non-streamed answers identical: nothing already sent as
//     part of a call can turn out to be content;
//   - no byte is lost and none is reported twice: the content is the text with the text of the
//     reported calls cut out (and of calls dropped by max_calls);
//   - text that could still become a call is held back: a possible open marker at the end of the
//     text, and an opened call until it closes or stops matching the syntax (then it is content);
//   - close markers and open markers inside a string value do not count: a string may hold any
//     text; an open marker outside strings inside an unfinished call abandons it (its text so far
//     is content) and starts a new one, so a literal marker in prose never swallows a real call.
// Work per byte is constant while scanning; each call's text is parsed once when it closes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gs::api {

enum class ToolCallFormat { kGemma4, kFencedJson };

struct ToolCallSyntax {
  ToolCallFormat format = ToolCallFormat::kGemma4;
  // The functions the request offered: a call naming any other is content.
  std::vector<std::string> names;
  // Calls after this many are dropped (their text is neither content nor a call):
  // parallel_tool_calls false asks for at most one. Negative: no limit.
  int32_t max_calls = -1;
};

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object, compact
  bool operator==(const ParsedToolCall&) const = default;
};

struct ToolCallDelta {
  std::string content;
  std::vector<ParsedToolCall> calls;
};

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolCallSyntax syntax);

  // Appends answer text; returns what is now known to be content and the calls now complete.
  ToolCallDelta Push(std::string_view text);
  // End of the output: what was held back is content (an unfinished call is not a call).
  ToolCallDelta Flush();
  int32_t num_calls() const { return num_calls_; }

 private:
  enum class State {
    kContent,  // outside a call
    kHeader,   // after the open marker: "call:NAME{" (Gemma 4) or whitespace then "{" (JSON)
    kBody,     // inside the call's outermost braces
    kClose,    // after the outermost closing brace: whitespace (JSON) and the close marker
  };

  // One step of the scan at pending_[pos_]; false when more text is needed to decide.
  bool Step(ToolCallDelta* out);
  bool StepHeader(ToolCallDelta* out);
  bool StepBody(ToolCallDelta* out);
  bool StepClose(ToolCallDelta* out);
  // The call that started at call_start_ is not one: its text becomes content up to pos_, and
  // the scan goes on in content at pos_.
  void Abandon(ToolCallDelta* out);
  // The call's text, pending_[call_start_, end), parsed; reported or made content.
  void Finish(size_t end, ToolCallDelta* out);

  ToolCallSyntax syntax_;
  std::string open_;   // "<|tool_call>" or "```tool_call"
  std::string close_;  // "<tool_call|>" or "```"
  std::string quote_;  // the string delimiter: "<|\"|>" or "\""
  State state_ = State::kContent;
  // Text not yet given out. Invariant: pending_[0, call_start_) is not yet given out only for
  // want of a decision in kContent (a possible open marker); in the other states
  // pending_[call_start_, ...) is the call so far, starting with its open marker.
  std::string pending_;
  size_t pos_ = 0;         // next byte to scan
  size_t call_start_ = 0;  // where the current call's open marker starts
  // Where the text to parse starts, from the end of the open marker: the name (Gemma 4) or the
  // "{" (JSON). Set when the header completes.
  size_t body_offset_ = 0;
  // kBody: nesting depth of {} and [] (1 just inside the outermost brace) and whether the scan is
  // inside a string.
  int32_t depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;  // JSON only: the previous byte in a string was a backslash
  int32_t num_calls_ = 0;
};

// One Gemma 4 call body, "NAME{...}" without "call:" and the markers, parsed: false when it is not
// exactly a name and one object in Gemma's value syntax. Exposed for tests.
bool ParseGemma4Call(std::string_view body, ParsedToolCall* out);

}  // namespace gs::api
