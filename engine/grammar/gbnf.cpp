#include "engine/grammar/gbnf.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace gs::grammar {
namespace {

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string HexCodePoint(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u{%x}", cp);
  return buf;
}

class GbnfCompiler {
 public:
  GbnfCompiler(std::string_view text, const GbnfLimits& limits)
      : text_(text), limits_(limits), b_(limits.grammar_limits) {}

  StatusOr<Grammar> Compile() {
    SkipSpace(true);
    while (!AtEnd()) {
      const size_t name_pos = pos_;
      const std::string name = ParseName();
      if (name.empty()) return Error("expected a rule name");
      SkipSpace(false);
      if (text_.substr(pos_, 3) != "::=") return Error("expected ::=");
      pos_ += 3;
      SkipSpace(true);
      const uint32_t rule = RuleId(name);
      if (defined_.count(name)) {
        pos_ = name_pos;
        return Error("rule \"" + name + "\" defined twice");
      }
      defined_[name] = true;
      const uint32_t end = b_.NewNode();
      b_.SetFinal(end);
      GS_RETURN_IF_ERROR(ParseAlternates(rule_starts_[rule], end, 0));
      if (!AtEnd() && text_[pos_] != '\n' && text_[pos_] != '\r') {
        return Error("unexpected character");
      }
      SkipSpace(true);
    }
    for (const auto& [name, id] : rule_ids_) {
      if (!defined_.count(name)) return Status::Error("gbnf: rule \"" + name + "\" is not defined");
    }
    const auto root = rule_ids_.find("root");
    if (root == rule_ids_.end()) return Status::Error("gbnf: no root rule");
    StatusOr<Grammar> g = b_.Build(root->second);
    if (!g.ok()) return Status::Error("gbnf: " + g.status().message());
    return g;
  }

 private:
  Status Error(const std::string& what) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return Status::Error("gbnf: line " + std::to_string(line) + ", column " + std::to_string(col) +
                         ": " + what);
  }
  bool AtEnd() const { return pos_ >= text_.size(); }

  // Spaces, tabs and comments; newlines too when newline_ok (inside groups, after `|`, between
  // rules).
  void SkipSpace(bool newline_ok) {
    while (!AtEnd()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (!AtEnd() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string ParseName() {
    const size_t start = pos_;
    while (!AtEnd() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                        text_[pos_] == '-' || text_[pos_] == '_')) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  uint32_t RuleId(const std::string& name) {
    if (const auto it = rule_ids_.find(name); it != rule_ids_.end()) return it->second;
    uint32_t start;
    const uint32_t id = b_.NewRule(&start);
    rule_ids_[name] = id;
    rule_starts_[id] = start;
    return id;
  }

  // One character of a literal or class, escapes decoded.
  StatusOr<uint32_t> ParseChar() {
    if (AtEnd()) return Error("unexpected end");
    if (text_[pos_] != '\\') {
      const auto b0 = static_cast<unsigned char>(text_[pos_++]);
      if (b0 < 0x80) return static_cast<uint32_t>(b0);
      int extra = b0 >= 0xF0 ? 3 : b0 >= 0xE0 ? 2 : 1;
      uint32_t cp = b0 & (0x3F >> extra);
      while (extra-- > 0 && !AtEnd()) {
        cp = (cp << 6) | (static_cast<unsigned char>(text_[pos_++]) & 0x3F);
      }
      return cp;
    }
    ++pos_;
    if (AtEnd()) return Error("unexpected end after backslash");
    const char c = text_[pos_++];
    int num_hex = 0;
    switch (c) {
      case 'n':
        return uint32_t{'\n'};
      case 't':
        return uint32_t{'\t'};
      case 'r':
        return uint32_t{'\r'};
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
        return static_cast<uint32_t>(c);
      case 'x':
        num_hex = 2;
        break;
      case 'u':
        num_hex = 4;
        break;
      case 'U':
        num_hex = 8;
        break;
      default:
        --pos_;
        return Error(std::string("unknown escape \\") + c);
    }
    uint32_t cp = 0;
    for (int i = 0; i < num_hex; ++i) {
      if (AtEnd() || !std::isxdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Error("bad hex escape");
      }
      const char h = text_[pos_++];
      cp =
          cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    if (cp > 0x10FFFF) return Error("code point out of range");
    return cp;
  }

  Status ParseAlternates(uint32_t from, uint32_t to, int depth) {
    if (depth > limits_.max_depth) return Error("groups nested too deeply");
    while (true) {
      GS_RETURN_IF_ERROR(ParseSequence(from, to, depth));
      if (AtEnd() || text_[pos_] != '|') return Status::Ok();
      ++pos_;
      SkipSpace(true);
    }
  }

  // Emits one element from `from` to a new node; returns that node through *end.
  Status ParseElement(uint32_t from, uint32_t* end, int depth) {
    const char c = text_[pos_];
    const uint32_t to = b_.NewNode();
    *end = to;
    if (c == '"') {
      ++pos_;
      std::string bytes;
      while (!AtEnd() && text_[pos_] != '"') {
        StatusOr<uint32_t> cp = ParseChar();
        if (!cp.ok()) return cp.status();
        AppendUtf8(bytes, *cp);
      }
      if (AtEnd()) return Error("unterminated literal");
      ++pos_;
      b_.AddEpsilon(b_.AddLiteral(from, bytes), to);
      return Status::Ok();
    }
    if (c == '[' || c == '.') {
      std::string re;
      if (c == '.') {
        ++pos_;
        re = "[\\s\\S]";  // llama.cpp's `.` is any character, newlines included
      } else {
        ++pos_;
        re = "[";
        if (!AtEnd() && text_[pos_] == '^') {
          re += '^';
          ++pos_;
        }
        while (!AtEnd() && text_[pos_] != ']') {
          StatusOr<uint32_t> lo = ParseChar();
          if (!lo.ok()) return lo.status();
          re += HexCodePoint(*lo);
          if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
            ++pos_;
            StatusOr<uint32_t> hi = ParseChar();
            if (!hi.ok()) return hi.status();
            if (*hi < *lo) return Error("character range out of order");
            re += "-" + HexCodePoint(*hi);
          }
        }
        if (AtEnd()) return Error("unterminated character class");
        ++pos_;
        re += "]";
      }
      auto it = class_dfas_.find(re);
      if (it == class_dfas_.end()) {
        StatusOr<Dfa> dfa = CompileAnchoredRegex(re, limits_.regex_limits);
        if (!dfa.ok()) return Error(dfa.status().message());
        it = class_dfas_.emplace(re, std::move(*dfa)).first;
      }
      b_.AddDfa(from, it->second, to);
      return Status::Ok();
    }
    if (c == '(') {
      ++pos_;
      SkipSpace(true);
      GS_RETURN_IF_ERROR(ParseAlternates(from, to, depth + 1));
      SkipSpace(true);
      if (AtEnd() || text_[pos_] != ')') return Error("expected ')'");
      ++pos_;
      return Status::Ok();
    }
    if (c == '<') return Error("token terminals are not supported");
    const std::string name = ParseName();
    if (name.empty()) return Error("unexpected character");
    b_.AddCall(from, RuleId(name), to);
    return Status::Ok();
  }

  Status ParseSequence(uint32_t from, uint32_t to, int depth) {
    uint32_t cur = from;
    while (!AtEnd()) {
      const char c = text_[pos_];
      if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
      // An element is re-parsed for each copy a repetition spells out.
      const size_t element_pos = pos_;
      uint32_t end;
      GS_RETURN_IF_ERROR(ParseElement(cur, &end, depth));
      SkipSpace(depth > 0);
      int min = 1, max = 1;
      if (!AtEnd() && (text_[pos_] == '*' || text_[pos_] == '+' || text_[pos_] == '?')) {
        const char q = text_[pos_++];
        min = q == '+' ? 1 : 0;
        max = q == '?' ? 1 : -1;
      } else if (!AtEnd() && text_[pos_] == '{') {
        ++pos_;
        auto number = [&](int* out) {
          const size_t start = pos_;
          long long v = 0;
          while (!AtEnd() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
            v = std::min<long long>(v * 10 + (text_[pos_++] - '0'), 1 << 30);
          }
          *out = static_cast<int>(v);
          return pos_ > start;
        };
        if (!number(&min)) return Error("expected a number in {}");
        max = min;
        if (!AtEnd() && text_[pos_] == ',') {
          ++pos_;
          if (!number(&max)) max = -1;
        }
        if (AtEnd() || text_[pos_] != '}') return Error("expected '}'");
        ++pos_;
        if (max >= 0 && max < min) return Error("repetition {m,n} with n < m");
      }
      const size_t after_quantifier = pos_;
      if (min == 1 && max == 1) {
        cur = end;
      } else {
        // Copies of the element: the first was emitted from `cur` to `end`.
        const int copies = std::max(min, max < 0 ? 1 : max);
        num_repetitions_ += copies;
        if (num_repetitions_ > limits_.max_repetitions) {
          pos_ = element_pos;
          return Error("more than " + std::to_string(limits_.max_repetitions) +
                       " repeated copies in the grammar");
        }
        const uint32_t done = b_.NewNode();
        if (min == 0) b_.AddEpsilon(cur, done);
        uint32_t prev_end = end;
        for (int i = 1; i < copies; ++i) {
          if (i >= min) b_.AddEpsilon(prev_end, done);
          pos_ = element_pos;
          uint32_t next_end;
          GS_RETURN_IF_ERROR(ParseElement(prev_end, &next_end, depth));
          prev_end = next_end;
        }
        b_.AddEpsilon(prev_end, done);
        if (max < 0) {
          // Unbounded: one more copy that loops back.
          pos_ = element_pos;
          uint32_t loop_end;
          GS_RETURN_IF_ERROR(ParseElement(prev_end, &loop_end, depth));
          b_.AddEpsilon(loop_end, prev_end);
        }
        pos_ = after_quantifier;
        cur = done;
      }
      SkipSpace(depth > 0);
    }
    b_.AddEpsilon(cur, to);
    return Status::Ok();
  }

  std::string_view text_;
  const GbnfLimits& limits_;
  size_t pos_ = 0;
  GrammarBuilder b_;
  std::map<std::string, uint32_t> rule_ids_;
  std::map<uint32_t, uint32_t> rule_starts_;
  std::map<std::string, bool> defined_;
  std::map<std::string, Dfa> class_dfas_;
  int num_repetitions_ = 0;
};

}  // namespace

StatusOr<Grammar> CompileGbnf(std::string_view text, const GbnfLimits& limits) {
  return GbnfCompiler(text, limits).Compile();
}

}  // namespace gs::grammar
