#include "api/tool_call_parser.h"

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace gs::api {
namespace {

using json = nlohmann::json;

constexpr std::string_view kGemmaQuote = "<|\"|>";
// Deeper values are refused rather than parsed recursively: the text is the model's and may be
// "[[[[..." for thousands of tokens.
constexpr int32_t kMaxValueDepth = 64;
// A function name is at most 64 bytes (the request checks ^[a-zA-Z0-9_-]{1,64}$), so a longer
// one in a header is not a call and need not be held back further.
constexpr size_t kMaxNameBytes = 64;
// Whitespace allowed between the fenced JSON's open marker and its "{".
constexpr size_t kMaxHeaderSpaceBytes = 16;

enum class Match { kYes, kNo, kNeedMore };

// Does `rest` start with `marker`? kNeedMore when it is a proper prefix of it.
Match MatchAt(std::string_view rest, std::string_view marker) {
  const size_t n = std::min(rest.size(), marker.size());
  if (rest.substr(0, n) != marker.substr(0, n)) return Match::kNo;
  return n == marker.size() ? Match::kYes : Match::kNeedMore;
}

// The length of the longest proper prefix of `marker` that `text` ends with.
size_t HeldPrefix(std::string_view text, std::string_view marker) {
  const size_t max_len = std::min(text.size(), marker.size() - 1);
  for (size_t len = max_len; len > 0; --len) {
    if (text.substr(text.size() - len) == marker.substr(0, len)) return len;
  }
  return 0;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Any bytes as a JSON string literal; invalid UTF-8 becomes U+FFFD so the result always parses.
std::string JsonString(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A JSON number exactly as RFC 8259 spells it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// Gemma 4's value syntax -> JSON text. Numbers are copied as written (no precision lost to a
// double round trip); strings are raw text between <|"|> delimiters and get JSON escaping.
class Gemma4ValueParser {
 public:
  explicit Gemma4ValueParser(std::string_view text) : text_(text) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ == text_.size(); }

  bool ParseValue(int32_t depth, std::string* out) {
    if (depth > kMaxValueDepth) return false;
    SkipSpace();
    if (AtEnd()) return false;
    if (Rest().starts_with(kGemmaQuote)) {
      std::string s;
      if (!ParseGemmaString(&s)) return false;
      *out += JsonString(s);
      return true;
    }
    const char c = text_[pos_];
    if (c == '{') return ParseObject(depth, out);
    if (c == '[') return ParseArray(depth, out);
    if (c == '"') return ParseJsonString(out);
    return ParseScalar(out);
  }

  bool ParseObject(int32_t depth, std::string* out) {
    ++pos_;  // '{'
    *out += '{';
    std::set<std::string, std::less<>> keys;
    SkipSpace();
    if (Consume('}')) {
      *out += '}';
      return true;
    }
    while (true) {
      SkipSpace();
      std::string key;
      if (!ParseKey(&key) || !keys.insert(key).second) return false;  // duplicate keys: ambiguous
      if (keys.size() > 1) *out += ',';
      *out += JsonString(key);
      *out += ':';
      SkipSpace();
      if (!Consume(':') || !ParseValue(depth + 1, out)) return false;
      SkipSpace();
      if (Consume('}')) break;
      if (!Consume(',')) return false;
    }
    *out += '}';
    return true;
  }

 private:
  std::string_view Rest() const { return text_.substr(pos_); }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  bool ParseGemmaString(std::string* out) {
    pos_ += kGemmaQuote.size();
    const size_t end = text_.find(kGemmaQuote, pos_);
    if (end == std::string_view::npos) return false;
    *out = std::string(text_.substr(pos_, end - pos_));
    pos_ = end + kGemmaQuote.size();
    return true;
  }

  // A JSON string literal, which the model may write instead of a <|"|> string.
  bool ParseJsonString(std::string* out) {
    size_t end = pos_ + 1;
    while (end < text_.size() && text_[end] != '"') end += text_[end] == '\\' ? 2 : 1;
    if (end >= text_.size()) return false;
    const json literal = json::parse(text_.substr(pos_, end + 1 - pos_), nullptr, false);
    if (!literal.is_string()) return false;
    *out += literal.dump(-1, ' ', false, json::error_handler_t::replace);
    pos_ = end + 1;
    return true;
  }

  // Keys are bare (the template writes them so), <|"|>-quoted or JSON-quoted.
  bool ParseKey(std::string* key) {
    if (Rest().starts_with(kGemmaQuote)) return ParseGemmaString(key) && !key->empty();
    if (!AtEnd() && text_[pos_] == '"') {
      std::string literal;
      if (!ParseJsonString(&literal)) return false;
      *key = json::parse(literal).get<std::string>();
      return !key->empty();
    }
    const size_t start = pos_;
    while (!AtEnd() && text_[pos_] != ':' && text_[pos_] != ',' && text_[pos_] != '{' &&
           text_[pos_] != '}' && text_[pos_] != '[' && text_[pos_] != ']' &&
           !Rest().starts_with(kGemmaQuote)) {
      ++pos_;
    }
    std::string_view bare = text_.substr(start, pos_ - start);
    while (!bare.empty() && IsSpace(bare.back())) bare.remove_suffix(1);
    *key = std::string(bare);
    return !key->empty();
  }

  bool ParseArray(int32_t depth, std::string* out) {
    ++pos_;  // '['
    *out += '[';
    SkipSpace();
    if (Consume(']')) {
      *out += ']';
      return true;
    }
    for (bool first = true;; first = false) {
      if (!first) *out += ',';
      if (!ParseValue(depth + 1, out)) return false;
      SkipSpace();
      if (Consume(']')) break;
      if (!Consume(',')) return false;
    }
    *out += ']';
    return true;
  }

  // true, false, null (None: how the template prints a null) or a JSON number.
  bool ParseScalar(std::string* out) {
    const size_t start = pos_;
    while (!AtEnd() && text_[pos_] != ',' && text_[pos_] != '}' && text_[pos_] != ']' &&
           !IsSpace(text_[pos_])) {
      ++pos_;
    }
    const std::string_view word = text_.substr(start, pos_ - start);
    if (word == "true" || word == "false" || word == "null" || IsJsonNumber(word)) {
      *out += word;
      return true;
    }
    if (word == "None") {
      *out += "null";
      return true;
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool KnownName(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// {"name": ..., "arguments": {...}} ("parameters" is accepted for "arguments": Google's own
// JSON convention for Gemma uses it). Nothing else may be in the object.
bool ParseFencedJsonCall(std::string_view text, ParsedToolCall* out) {
  const json call = json::parse(text, nullptr, false);
  if (!call.is_object()) return false;
  const auto name = call.find("name");
  if (name == call.end() || !name->is_string()) return false;
  json arguments = json::object();
  size_t num_known_keys = 1;
  for (const char* key : {"arguments", "parameters"}) {
    const auto it = call.find(key);
    if (it == call.end()) continue;
    if (!it->is_object() || num_known_keys == 2) return false;  // not an object, or both given
    arguments = *it;
    ++num_known_keys;
  }
  if (call.size() != num_known_keys) return false;
  out->name = name->get<std::string>();
  out->arguments = arguments.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

}  // namespace

bool ParseGemma4Call(std::string_view body, ParsedToolCall* out) {
  size_t name_bytes = 0;
  while (name_bytes < body.size() && IsNameChar(body[name_bytes])) ++name_bytes;
  if (name_bytes == 0 || name_bytes > kMaxNameBytes || name_bytes == body.size() ||
      body[name_bytes] != '{') {
    return false;
  }
  Gemma4ValueParser parser(body.substr(name_bytes));
  std::string arguments;
  if (!parser.ParseObject(0, &arguments) || !parser.AtEnd()) return false;
  out->name = std::string(body.substr(0, name_bytes));
  out->arguments = std::move(arguments);
  return true;
}

ToolCallParser::ToolCallParser(ToolCallSyntax syntax) : syntax_(std::move(syntax)) {
  if (syntax_.format == ToolCallFormat::kGemma4) {
    open_ = "<|tool_call>";
    close_ = "<tool_call|>";
    quote_ = std::string(kGemmaQuote);
  } else {
    open_ = "```tool_call";
    close_ = "```";
    quote_ = "\"";
  }
}

ToolCallDelta ToolCallParser::Push(std::string_view text) {
  ToolCallDelta out;
  pending_.append(text);
  while (pos_ < pending_.size() && Step(&out)) {
  }
  // Drop what has been given out: everything before the scan in content, before the call in a
  // call.
  const size_t given_out = state_ == State::kContent ? pos_ : call_start_;
  pending_.erase(0, given_out);
  pos_ -= given_out;
  call_start_ -= given_out;
  return out;
}

ToolCallDelta ToolCallParser::Flush() {
  ToolCallDelta out;
  out.content = pending_.substr(state_ == State::kContent ? pos_ : call_start_);
  pending_.clear();
  pos_ = call_start_ = 0;
  state_ = State::kContent;
  return out;
}

bool ToolCallParser::Step(ToolCallDelta* out) {
  switch (state_) {
    case State::kContent: {
      const std::string_view rest = std::string_view(pending_).substr(pos_);
      const size_t open_idx = rest.find(open_);
      if (open_idx == std::string_view::npos) {
        const size_t held = HeldPrefix(rest, open_);
        out->content.append(rest.substr(0, rest.size() - held));
        pos_ += rest.size() - held;
        return false;
      }
      out->content.append(rest.substr(0, open_idx));
      call_start_ = pos_ + open_idx;
      pos_ = call_start_ + open_.size();
      state_ = State::kHeader;
      return true;
    }
    case State::kHeader:
      return StepHeader(out);
    case State::kBody:
      return StepBody(out);
    case State::kClose:
      return StepClose(out);
  }
  return false;
}

bool ToolCallParser::StepHeader(ToolCallDelta* out) {
  // The header so far, including the byte at pos_ (the scan takes one byte at a time here).
  const size_t header_start = call_start_ + open_.size();
  const std::string_view header =
      std::string_view(pending_).substr(header_start, pos_ + 1 - header_start);
  bool matches = false;
  bool complete = false;
  if (syntax_.format == ToolCallFormat::kGemma4) {
    // "call:NAME{" or ":NAME{".
    constexpr std::string_view kCall = "call:";
    size_t name_idx = 0;
    if (header.starts_with(kCall)) {
      name_idx = kCall.size();
    } else if (header.starts_with(':')) {
      name_idx = 1;
    } else {
      matches = kCall.starts_with(header);
    }
    if (name_idx > 0) {
      size_t i = name_idx;
      while (i < header.size() && IsNameChar(header[i])) ++i;
      const size_t name_bytes = i - name_idx;
      if (i == header.size()) {
        matches = name_bytes <= kMaxNameBytes;
      } else if (header[i] == '{' && i + 1 == header.size() && name_bytes > 0) {
        matches = complete = true;
        body_offset_ = name_idx;
      }
    }
  } else {
    // Whitespace, then "{".
    const bool all_space = std::all_of(header.begin(), header.end() - 1, IsSpace);
    const char last = header.back();
    if (all_space && last == '{') {
      matches = complete = true;
      body_offset_ = header.size() - 1;
    } else {
      matches = all_space && IsSpace(last) && header.size() <= kMaxHeaderSpaceBytes;
    }
  }
  if (!matches) {
    Abandon(out);
    return true;
  }
  ++pos_;
  if (complete) {
    state_ = State::kBody;
    depth_ = 1;
    in_string_ = escaped_ = false;
  }
  return true;
}

bool ToolCallParser::StepBody(ToolCallDelta* out) {
  const std::string_view rest = std::string_view(pending_).substr(pos_);
  const char c = rest.front();
  if (syntax_.format == ToolCallFormat::kFencedJson && in_string_) {
    // JSON strings end at an unescaped quote; markers inside them are text.
    if (escaped_) {
      escaped_ = false;
    } else if (c == '\\') {
      escaped_ = true;
    } else if (c == '"') {
      in_string_ = false;
    }
    ++pos_;
    return true;
  }
  // Multi-byte tokens that change the scan: the string delimiter always, the markers only
  // outside strings.
  bool need_more = false;
  for (const std::string_view token :
       {std::string_view(quote_), std::string_view(open_), std::string_view(close_)}) {
    if (in_string_ && token != quote_) continue;
    const Match m = MatchAt(rest, token);
    if (m == Match::kNeedMore) need_more = true;
    if (m != Match::kYes) continue;
    if (token == quote_) {
      in_string_ = !in_string_;
      pos_ += token.size();
      return true;
    }
    // A marker before the braces close: this call is malformed. Its text is content; an open
    // marker then starts the next call, a close marker is content too.
    Abandon(out);
    return true;
  }
  if (need_more) return false;
  ++pos_;
  if (in_string_) return true;
  if (c == '{' || c == '[') {
    ++depth_;
  } else if ((c == '}' || c == ']') && --depth_ == 0) {
    state_ = State::kClose;
  }
  return true;
}

bool ToolCallParser::StepClose(ToolCallDelta* out) {
  const std::string_view rest = std::string_view(pending_).substr(pos_);
  if (IsSpace(rest.front())) {
    ++pos_;
    return true;
  }
  switch (MatchAt(rest, close_)) {
    case Match::kYes:
      Finish(pos_ + close_.size(), out);
      return true;
    case Match::kNeedMore:
      return false;
    case Match::kNo:
      Abandon(out);
      return true;
  }
  return false;
}

void ToolCallParser::Abandon(ToolCallDelta* out) {
  out->content.append(pending_, call_start_, pos_ - call_start_);
  state_ = State::kContent;
  call_start_ = pos_;
}

void ToolCallParser::Finish(size_t end, ToolCallDelta* out) {
  const size_t body_start = call_start_ + open_.size() + body_offset_;
  // The body ends at the outermost closing brace: trailing whitespace and the marker are not
  // part of it.
  std::string_view body = std::string_view(pending_).substr(body_start, end - body_start);
  body.remove_suffix(close_.size());
  while (!body.empty() && IsSpace(body.back())) body.remove_suffix(1);
  ParsedToolCall call;
  const bool parsed = syntax_.format == ToolCallFormat::kGemma4 ? ParseGemma4Call(body, &call)
                                                                : ParseFencedJsonCall(body, &call);
  if (parsed && KnownName(syntax_.names, call.name)) {
    if (syntax_.max_calls < 0 || num_calls_ < syntax_.max_calls) {
      out->calls.push_back(std::move(call));
      ++num_calls_;
    }
  } else {
    out->content.append(pending_, call_start_, end - call_start_);
  }
  state_ = State::kContent;
  pos_ = call_start_ = end;
}

}  // namespace gs::api
