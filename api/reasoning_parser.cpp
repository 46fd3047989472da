#include "api/reasoning_parser.h"

#include <algorithm>
#include <utility>

namespace gs::api {
namespace {

// The length of the longest proper prefix of `marker` that `text` ends with.
size_t HeldPrefix(std::string_view text, std::string_view marker) {
  const size_t max_len = std::min(text.size(), marker.size() - 1);
  for (size_t len = max_len; len > 0; --len) {
    if (text.substr(text.size() - len) == marker.substr(0, len)) return len;
  }
  return 0;
}

}  // namespace

ReasoningSyntax Gemma4ReasoningSyntax() {
  return {.open = "<|channel>", .close = "<channel|>", .label = "thought\n"};
}

ReasoningParser::ReasoningParser(ReasoningSyntax syntax) : syntax_(std::move(syntax)) {}

ReasoningDelta ReasoningParser::Push(std::string_view text) {
  ReasoningDelta out;
  pending_.append(text);
  const std::string_view open = syntax_.open;
  const std::string_view close = syntax_.close;
  const std::string_view label = syntax_.label;
  // Invariant: pending_[0, pos) has been assigned to an output or dropped as a marker or label.
  size_t pos = 0;
  while (pos < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(pos);
    if (state_ == State::kLabel) {
      const size_t n = std::min(rest.size(), label.size());
      if (rest.substr(0, n) != label.substr(0, n)) {
        state_ = State::kReasoning;  // not the label after all: it is reasoning text
      } else if (n == label.size()) {
        pos += n;
        state_ = State::kReasoning;
      } else {
        break;  // a proper prefix of the label so far: wait for more
      }
      continue;
    }
    std::string& sink = state_ == State::kContent ? out.content : out.reasoning;
    // Both markers are looked for in both states: an open marker inside a channel starts a new
    // one, a close marker outside one is stray; neither may reach the output.
    const size_t open_idx = rest.find(open);
    const size_t close_idx = rest.find(close);
    if (open_idx == std::string_view::npos && close_idx == std::string_view::npos) {
      const size_t held = std::max(HeldPrefix(rest, open), HeldPrefix(rest, close));
      sink.append(rest.substr(0, rest.size() - held));
      pos += rest.size() - held;
      break;
    }
    const bool is_open = close_idx == std::string_view::npos ||
                         (open_idx != std::string_view::npos && open_idx < close_idx);
    const size_t marker_idx = is_open ? open_idx : close_idx;
    sink.append(rest.substr(0, marker_idx));
    pos += marker_idx + (is_open ? open.size() : close.size());
    state_ = is_open ? State::kLabel : State::kContent;
  }
  pending_.erase(0, pos);
  return out;
}

ReasoningDelta ReasoningParser::Flush() {
  ReasoningDelta out;
  // Held-back bytes never became a marker (or a whole label), so they are text of the part the
  // parser is in.
  (state_ == State::kContent ? out.content : out.reasoning) = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace gs::api
