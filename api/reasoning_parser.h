// Splits a model's output text, as it streams, into reasoning and content. Gemma 4 thinks inside a
// channel, `<|channel>thought\n ... <channel|>`, before it answers; clients expect the thought in
// `reasoning_content` and only the answer in `content` (vLLM's and llama.cpp's fields).
//
// The parser works on detokenized text, so a marker may arrive split across any number of pushes:
// text that could still be the start of a marker is held back until it is one or cannot be. What
// it guarantees, whatever the chunking (pushing the same bytes in any pieces gives the same two
// concatenations):
//   - text outside a channel is content, text inside is reasoning, in order;
//   - no marker ever reaches either output: the open and close markers are dropped, and so is the
//     channel's label ("thought\n") right after an open marker;
//   - a close marker outside a channel is dropped; an open marker inside one starts a new channel
//     (its label is dropped again) and the reasoning goes on;
//   - a channel that never closes (max_tokens hit mid-thought) leaves everything after its open
//     marker in reasoning; Flush releases what was held back.
// Work per push is linear in its bytes: at most one marker's length is ever held back.
#pragma once

#include <string>
#include <string_view>

namespace gs::api {

struct ReasoningSyntax {
  std::string open;   // starts a channel, e.g. "<|channel>"
  std::string close;  // ends it, e.g. "<channel|>"
  std::string label;  // the channel's name that follows `open`, e.g. "thought\n" (may be empty)
};

// Gemma 4's thought channel.
ReasoningSyntax Gemma4ReasoningSyntax();

struct ReasoningDelta {
  std::string content;
  std::string reasoning;
};

class ReasoningParser {
 public:
  // `open` and `close` must be non-empty; `label` must not contain either.
  explicit ReasoningParser(ReasoningSyntax syntax);

  // Appends generated text; returns what is now known to be content and reasoning.
  ReasoningDelta Push(std::string_view text);
  // End of the output: whatever was held back, in the part it was in.
  ReasoningDelta Flush();
  // True between an open marker and its close.
  bool in_channel() const { return state_ != State::kContent; }

 private:
  enum class State { kContent, kLabel, kReasoning };

  ReasoningSyntax syntax_;
  State state_ = State::kContent;
  // Bytes not yet assigned: a possible marker prefix at the end of the text (kContent,
  // kReasoning) or a possible label prefix (kLabel).
  std::string pending_;
};

}  // namespace gs::api
