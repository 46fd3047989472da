#include "engine/grammar/regex.h"

#include <algorithm>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

namespace gs::grammar {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// A set of code points as sorted, disjoint, non-adjacent ranges.
using CodeRanges = std::vector<std::pair<uint32_t, uint32_t>>;

CodeRanges Normalize(CodeRanges r) {
  std::sort(r.begin(), r.end());
  CodeRanges out;
  for (const auto& [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

CodeRanges Complement(const CodeRanges& r) {
  CodeRanges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return out;
}

struct Ast {
  enum class Kind { kEmpty, kChars, kConcat, kAlt, kRepeat, kStart, kEnd };
  Kind kind = Kind::kEmpty;
  CodeRanges chars;
  std::vector<std::unique_ptr<Ast>> children;
  int min = 0;
  int max = -1;  // -1: unbounded
};
using AstPtr = std::unique_ptr<Ast>;

AstPtr MakeAst(Ast::Kind kind) {
  auto a = std::make_unique<Ast>();
  a->kind = kind;
  return a;
}

AstPtr MakeChars(CodeRanges r) {
  auto a = MakeAst(Ast::Kind::kChars);
  a->chars = Normalize(std::move(r));
  return a;
}

const CodeRanges kDigit = {{'0', '9'}};
const CodeRanges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMAScript's WhiteSpace and LineTerminator.
const CodeRanges kSpace = {{'\t', '\r'},     {' ', ' '},       {0xA0, 0xA0},     {0x1680, 0x1680},
                           {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                           {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

class RegexParser {
 public:
  explicit RegexParser(std::string_view text) : text_(text) {}

  StatusOr<AstPtr> Parse() {
    StatusOr<AstPtr> ast = ParseAlt(0);
    if (!ast.ok()) return ast;
    if (pos_ != text_.size()) return Error("unbalanced ')'");
    return ast;
  }

 private:
  static constexpr int kMaxDepth = 200;

  Status Error(const std::string& what) const {
    return Status::Error("regex \"" + std::string(text_) + "\": " + what + " at offset " +
                         std::to_string(pos_));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }

  // Decodes one UTF-8 code point of the pattern itself.
  uint32_t NextCodePoint() {
    const auto b0 = static_cast<unsigned char>(text_[pos_++]);
    if (b0 < 0x80) return b0;
    int extra = b0 >= 0xF0 ? 3 : b0 >= 0xE0 ? 2 : 1;
    uint32_t cp = b0 & (0x3F >> extra);
    while (extra-- > 0 && !AtEnd())
      cp = (cp << 6) | (static_cast<unsigned char>(text_[pos_++]) & 0x3F);
    return cp;
  }

  StatusOr<AstPtr> ParseAlt(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    auto alt = MakeAst(Ast::Kind::kAlt);
    while (true) {
      StatusOr<AstPtr> seq = ParseConcat(depth);
      if (!seq.ok()) return seq;
      alt->children.push_back(std::move(*seq));
      if (AtEnd() || text_[pos_] != '|') break;
      ++pos_;
    }
    if (alt->children.size() == 1) return std::move(alt->children[0]);
    return alt;
  }

  StatusOr<AstPtr> ParseConcat(int depth) {
    auto seq = MakeAst(Ast::Kind::kConcat);
    while (!AtEnd() && text_[pos_] != '|' && text_[pos_] != ')') {
      StatusOr<AstPtr> atom = ParseAtom(depth);
      if (!atom.ok()) return atom;
      StatusOr<AstPtr> repeated = ParseQuantifiers(std::move(*atom));
      if (!repeated.ok()) return repeated;
      seq->children.push_back(std::move(*repeated));
    }
    return seq;
  }

  // {n}, {n,}, {n,m} at pos_; false (pos_ unchanged) when the brace is a literal.
  bool ParseBraces(int& min, int& max) {
    size_t p = pos_ + 1;
    auto number = [&](int& out) {
      const size_t start = p;
      long long v = 0;
      while (p < text_.size() && text_[p] >= '0' && text_[p] <= '9') {
        v = std::min<long long>(v * 10 + (text_[p] - '0'), 1 << 30);
        ++p;
      }
      out = static_cast<int>(v);
      return p > start;
    };
    if (!number(min)) return false;
    max = min;
    if (p < text_.size() && text_[p] == ',') {
      ++p;
      if (!number(max)) max = -1;
    }
    if (p >= text_.size() || text_[p] != '}') return false;
    pos_ = p + 1;
    return true;
  }

  StatusOr<AstPtr> ParseQuantifiers(AstPtr atom) {
    while (!AtEnd()) {
      int min = 0, max = -1;
      const char c = text_[pos_];
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        min = 1;
        ++pos_;
      } else if (c == '?') {
        max = 1;
        ++pos_;
      } else if (c == '{' && ParseBraces(min, max)) {
        if (max >= 0 && max < min) return Error("quantifier {n,m} with m < n");
      } else {
        break;
      }
      // A lazy quantifier matches the same language.
      if (!AtEnd() && text_[pos_] == '?') ++pos_;
      if (atom->kind == Ast::Kind::kStart || atom->kind == Ast::Kind::kEnd) {
        return Error("quantified anchor is not supported");
      }
      auto rep = MakeAst(Ast::Kind::kRepeat);
      rep->min = min;
      rep->max = max;
      rep->children.push_back(std::move(atom));
      atom = std::move(rep);
    }
    return atom;
  }

  StatusOr<uint32_t> ParseHex(int num_digits) {
    uint32_t v = 0;
    for (int i = 0; i < num_digits; ++i) {
      if (AtEnd()) return Error("truncated hex escape");
      const char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return Error("bad hex escape");
      }
    }
    return v;
  }

  // After a backslash: the set it stands for. in_class: \b is a backspace there.
  StatusOr<CodeRanges> ParseEscape(bool in_class) {
    if (AtEnd()) return Error("trailing backslash");
    const char c = text_[pos_++];
    switch (c) {
      case 'd':
        return kDigit;
      case 'D':
        return Complement(kDigit);
      case 'w':
        return kWord;
      case 'W':
        return Complement(kWord);
      case 's':
        return Normalize(kSpace);
      case 'S':
        return Complement(Normalize(kSpace));
      case 't':
        return CodeRanges{{'\t', '\t'}};
      case 'n':
        return CodeRanges{{'\n', '\n'}};
      case 'r':
        return CodeRanges{{'\r', '\r'}};
      case 'f':
        return CodeRanges{{'\f', '\f'}};
      case 'v':
        return CodeRanges{{'\v', '\v'}};
      case '0':
        return CodeRanges{{0, 0}};
      case 'x': {
        StatusOr<uint32_t> v = ParseHex(2);
        if (!v.ok()) return v.status();
        return CodeRanges{{*v, *v}};
      }
      case 'u': {
        if (!AtEnd() && text_[pos_] == '{') {
          ++pos_;
          uint32_t v = 0;
          while (!AtEnd() && text_[pos_] != '}') {
            StatusOr<uint32_t> d = ParseHex(1);
            if (!d.ok()) return d.status();
            v = (v << 4) | *d;
            if (v > kMaxCodePoint) return Error("code point out of range");
          }
          if (AtEnd()) return Error("unterminated \\u{");
          ++pos_;
          return CodeRanges{{v, v}};
        }
        StatusOr<uint32_t> v = ParseHex(4);
        if (!v.ok()) return v.status();
        return CodeRanges{{*v, *v}};
      }
      case 'b':
        if (in_class) return CodeRanges{{'\b', '\b'}};
        return Error("word boundary \\b is not supported");
      case 'B':
        return Error("\\B is not supported");
      case 'p':
      case 'P':
        return Error("unicode property classes are not supported");
      case 'c':
        return Error("control escapes \\c are not supported");
      case 'k':
        return Error("named backreferences are not supported");
      default:
        if (c >= '1' && c <= '9') return Error("backreferences are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          return Error(std::string("unknown escape \\") + c);
        }
        --pos_;
        const uint32_t cp = NextCodePoint();
        return CodeRanges{{cp, cp}};
    }
  }

  StatusOr<CodeRanges> ParseClass() {
    ++pos_;  // '['
    bool negate = false;
    if (!AtEnd() && text_[pos_] == '^') {
      negate = true;
      ++pos_;
    }
    CodeRanges set;
    bool first = true;
    while (true) {
      if (AtEnd()) return Error("unterminated character class");
      if (text_[pos_] == ']' && !first) {
        ++pos_;
        break;
      }
      if (text_[pos_] == ']' && first) {  // ECMAScript: [] is empty, [^] is anything
        ++pos_;
        break;
      }
      first = false;
      if (text_[pos_] == '[' && pos_ + 1 < text_.size() && text_[pos_ + 1] == ':') {
        return Error("POSIX classes are not supported");
      }
      CodeRanges lo_set;
      if (text_[pos_] == '\\') {
        ++pos_;
        StatusOr<CodeRanges> esc = ParseEscape(true);
        if (!esc.ok()) return esc.status();
        lo_set = *esc;
      } else {
        const uint32_t cp = NextCodePoint();
        lo_set = {{cp, cp}};
      }
      // A range a-b when both ends are single characters.
      if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']' &&
          lo_set.size() == 1 && lo_set[0].first == lo_set[0].second) {
        ++pos_;
        CodeRanges hi_set;
        if (text_[pos_] == '\\') {
          ++pos_;
          StatusOr<CodeRanges> esc = ParseEscape(true);
          if (!esc.ok()) return esc.status();
          hi_set = *esc;
        } else {
          const uint32_t cp = NextCodePoint();
          hi_set = {{cp, cp}};
        }
        if (hi_set.size() != 1 || hi_set[0].first != hi_set[0].second) {
          return Error("class range ending in a class");
        }
        if (hi_set[0].first < lo_set[0].first) return Error("class range out of order");
        set.emplace_back(lo_set[0].first, hi_set[0].first);
        continue;
      }
      set.insert(set.end(), lo_set.begin(), lo_set.end());
    }
    set = Normalize(std::move(set));
    return negate ? Complement(set) : set;
  }

  StatusOr<AstPtr> ParseAtom(int depth) {
    const char c = text_[pos_];
    switch (c) {
      case '(': {
        ++pos_;
        if (!AtEnd() && text_[pos_] == '?') {
          ++pos_;
          if (AtEnd()) return Error("truncated group");
          if (text_[pos_] == ':') {
            ++pos_;
          } else if (text_[pos_] == '=' || text_[pos_] == '!') {
            return Error("lookahead is not supported");
          } else if (text_[pos_] == '<' && pos_ + 1 < text_.size() &&
                     (text_[pos_ + 1] == '=' || text_[pos_ + 1] == '!')) {
            return Error("lookbehind is not supported");
          } else if (text_[pos_] == '<' || text_[pos_] == 'P') {
            // Named group: skip the name.
            const size_t close = text_.find('>', pos_);
            if (close == std::string_view::npos) return Error("unterminated group name");
            pos_ = close + 1;
          } else {
            return Error("inline flags are not supported");
          }
        }
        StatusOr<AstPtr> inner = ParseAlt(depth + 1);
        if (!inner.ok()) return inner;
        if (AtEnd() || text_[pos_] != ')') return Error("missing ')'");
        ++pos_;
        return inner;
      }
      case '[': {
        StatusOr<CodeRanges> set = ParseClass();
        if (!set.ok()) return set.status();
        return MakeChars(std::move(*set));
      }
      case '.':
        ++pos_;
        return MakeChars(Complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}));
      case '^':
        ++pos_;
        return MakeAst(Ast::Kind::kStart);
      case '$':
        ++pos_;
        return MakeAst(Ast::Kind::kEnd);
      case '\\': {
        ++pos_;
        StatusOr<CodeRanges> esc = ParseEscape(false);
        if (!esc.ok()) return esc.status();
        return MakeChars(std::move(*esc));
      }
      case '*':
      case '+':
      case '?':
        return Error("nothing to repeat");
      default: {
        const uint32_t cp = NextCodePoint();
        return MakeChars({{cp, cp}});
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Thompson NFA over bytes.
struct Nfa {
  struct State {
    std::vector<int32_t> eps;
    std::vector<std::pair<std::pair<uint8_t, uint8_t>, int32_t>> ranges;  // [lo,hi] -> target
  };
  std::vector<State> states;
  int32_t start = 0;
  int32_t accept = 0;
};

// UTF-8 byte-range sequences for the code points [lo, hi] (surrogates excluded): each sequence
// is one byte range per encoded byte.
using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;

int Utf8Length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void EncodeUtf8(uint32_t cp, uint8_t* out) {
  switch (Utf8Length(cp)) {
    case 1:
      out[0] = static_cast<uint8_t>(cp);
      break;
    case 2:
      out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    case 3:
      out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    default:
      out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  }
}

void Utf8Sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>& out) {
  if (lo > hi) return;
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) Utf8Sequences(lo, 0xD7FF, out);
    if (hi > 0xDFFF) Utf8Sequences(0xE000, hi, out);
    return;
  }
  for (const uint32_t b : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= b && hi > b) {
      Utf8Sequences(lo, b, out);
      Utf8Sequences(b + 1, hi, out);
      return;
    }
  }
  const int n = Utf8Length(lo);
  // Split until every continuation byte ranges over a full or single block, so the set is a
  // product of byte ranges.
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Sequences(lo, lo | m, out);
        Utf8Sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        Utf8Sequences(lo, (hi & ~m) - 1, out);
        Utf8Sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  EncodeUtf8(lo, a);
  EncodeUtf8(hi, b);
  ByteSeq seq;
  for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
  out.push_back(std::move(seq));
}

class NfaBuilder {
 public:
  explicit NfaBuilder(const RegexLimits& limits) : limits_(limits) {}

  int32_t NewState() {
    nfa_.states.emplace_back();
    return static_cast<int32_t>(nfa_.states.size() - 1);
  }
  bool overflow() const { return static_cast<int>(nfa_.states.size()) > limits_.max_nfa_states; }

  // Adds a path for `node` from `from`; returns its end state.
  int32_t Build(const Ast& node, int32_t from) {
    if (overflow()) return from;
    switch (node.kind) {
      case Ast::Kind::kEmpty:
      case Ast::Kind::kStart:
      case Ast::Kind::kEnd:
        return from;
      case Ast::Kind::kChars: {
        const int32_t to = NewState();
        std::vector<ByteSeq> seqs;
        for (const auto& [lo, hi] : node.chars) Utf8Sequences(lo, hi, seqs);
        for (const ByteSeq& seq : seqs) {
          int32_t cur = from;
          for (size_t i = 0; i < seq.size(); ++i) {
            const int32_t next = i + 1 == seq.size() ? to : NewState();
            nfa_.states[cur].ranges.push_back({seq[i], next});
            cur = next;
          }
        }
        return to;
      }
      case Ast::Kind::kConcat: {
        int32_t cur = from;
        for (const auto& child : node.children) cur = Build(*child, cur);
        return cur;
      }
      case Ast::Kind::kAlt: {
        const int32_t to = NewState();
        for (const auto& child : node.children) {
          const int32_t begin = NewState();
          nfa_.states[from].eps.push_back(begin);
          const int32_t end = Build(*child, begin);
          nfa_.states[end].eps.push_back(to);
        }
        return to;
      }
      case Ast::Kind::kRepeat: {
        const Ast& body = *node.children[0];
        int32_t cur = from;
        for (int i = 0; i < node.min && !overflow(); ++i) cur = Build(body, cur);
        if (node.max < 0) {
          const int32_t loop = NewState();
          nfa_.states[cur].eps.push_back(loop);
          const int32_t end = Build(body, loop);
          nfa_.states[end].eps.push_back(loop);
          return loop;
        }
        const int32_t to = NewState();
        nfa_.states[cur].eps.push_back(to);
        for (int i = node.min; i < node.max && !overflow(); ++i) {
          cur = Build(body, cur);
          nfa_.states[cur].eps.push_back(to);
        }
        return to;
      }
    }
    return from;
  }

  Nfa& nfa() { return nfa_; }

 private:
  const RegexLimits& limits_;
  Nfa nfa_;
};

void EpsilonClosure(const Nfa& nfa, std::vector<int32_t>& set, std::vector<uint8_t>& seen) {
  std::vector<int32_t> work = set;
  for (int32_t s : set) seen[s] = 1;
  while (!work.empty()) {
    const int32_t s = work.back();
    work.pop_back();
    for (int32_t t : nfa.states[s].eps) {
      if (!seen[t]) {
        seen[t] = 1;
        set.push_back(t);
        work.push_back(t);
      }
    }
  }
  for (int32_t s : set) seen[s] = 0;
  std::sort(set.begin(), set.end());
}

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    size_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return h;
  }
};

// Removes states that cannot reach an accepting state and renumbers; a DFA accepting nothing
// becomes empty().
Dfa Trim(Dfa dfa) {
  const int32_t n = dfa.num_states();
  std::vector<std::vector<int32_t>> preds(n);
  for (int32_t s = 0; s < n; ++s) {
    for (int b = 0; b < 256; ++b) {
      if (dfa.next[s][b] >= 0) preds[dfa.next[s][b]].push_back(s);
    }
  }
  std::vector<uint8_t> live(n, 0);
  std::vector<int32_t> work;
  for (int32_t s = 0; s < n; ++s) {
    if (dfa.accepting[s]) {
      live[s] = 1;
      work.push_back(s);
    }
  }
  while (!work.empty()) {
    const int32_t s = work.back();
    work.pop_back();
    for (int32_t p : preds[s]) {
      if (!live[p]) {
        live[p] = 1;
        work.push_back(p);
      }
    }
  }
  if (n == 0 || !live[dfa.start]) return Dfa{};
  std::vector<int32_t> remap(n, Dfa::kDead);
  Dfa out;
  for (int32_t s = 0; s < n; ++s) {
    if (live[s]) remap[s] = static_cast<int32_t>(out.next.size()), out.next.emplace_back();
  }
  out.accepting.resize(out.next.size());
  for (int32_t s = 0; s < n; ++s) {
    if (!live[s]) continue;
    for (int b = 0; b < 256; ++b) {
      const int32_t t = dfa.next[s][b];
      out.next[remap[s]][b] = t >= 0 ? remap[t] : Dfa::kDead;
    }
    out.accepting[remap[s]] = dfa.accepting[s];
  }
  out.start = remap[dfa.start];
  return out;
}

StatusOr<Dfa> Determinize(const Nfa& nfa, const RegexLimits& limits, std::string_view what) {
  Dfa dfa;
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> ids;
  std::vector<std::vector<int32_t>> sets;
  std::vector<uint8_t> seen(nfa.states.size(), 0);
  std::vector<int32_t> init = {nfa.start};
  EpsilonClosure(nfa, init, seen);
  ids.emplace(init, 0);
  sets.push_back(init);
  dfa.next.emplace_back();
  std::vector<std::vector<int32_t>> by_byte(256);
  for (size_t idx = 0; idx < sets.size(); ++idx) {
    for (auto& v : by_byte) v.clear();
    for (int32_t s : sets[idx]) {
      for (const auto& [range, t] : nfa.states[s].ranges) {
        for (int b = range.first; b <= range.second; ++b) by_byte[b].push_back(t);
      }
    }
    for (int b = 0; b < 256; ++b) {
      std::vector<int32_t>& targets = by_byte[b];
      if (targets.empty()) {
        dfa.next[idx][b] = Dfa::kDead;
        continue;
      }
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      EpsilonClosure(nfa, targets, seen);
      auto [it, inserted] = ids.emplace(targets, static_cast<int32_t>(sets.size()));
      if (inserted) {
        if (static_cast<int>(sets.size()) >= limits.max_dfa_states) {
          return Status::Error(std::string(what) + ": more than " +
                               std::to_string(limits.max_dfa_states) + " automaton states");
        }
        sets.push_back(targets);
        dfa.next.emplace_back();
      }
      dfa.next[idx][b] = it->second;
    }
  }
  dfa.accepting.resize(sets.size());
  for (size_t i = 0; i < sets.size(); ++i) {
    dfa.accepting[i] = std::binary_search(sets[i].begin(), sets[i].end(), nfa.accept);
  }
  return Trim(std::move(dfa));
}

// Strips the anchors of one top-level branch; an anchor left anywhere else is an error.
bool StripAnchors(Ast& branch, bool& anchored_start, bool& anchored_end) {
  anchored_start = anchored_end = false;
  if (branch.kind == Ast::Kind::kStart) {
    anchored_start = true;
    branch.kind = Ast::Kind::kEmpty;
    return true;
  }
  if (branch.kind == Ast::Kind::kEnd) {
    anchored_end = true;
    branch.kind = Ast::Kind::kEmpty;
    return true;
  }
  if (branch.kind == Ast::Kind::kConcat) {
    auto& kids = branch.children;
    while (!kids.empty() && kids.front()->kind == Ast::Kind::kStart) {
      anchored_start = true;
      kids.erase(kids.begin());
    }
    while (!kids.empty() && kids.back()->kind == Ast::Kind::kEnd) {
      anchored_end = true;
      kids.pop_back();
    }
  }
  return true;
}

bool HasAnchor(const Ast& node) {
  if (node.kind == Ast::Kind::kStart || node.kind == Ast::Kind::kEnd) return true;
  for (const auto& c : node.children) {
    if (HasAnchor(*c)) return true;
  }
  return false;
}

// A whole-group pattern such as ^(a|b)$ or (^a$) keeps its anchors inside one branch; lift a
// lone group's alternatives to the top so their anchors can be stripped.
StatusOr<Dfa> CompileAst(AstPtr ast, bool search, std::string_view pattern,
                         const RegexLimits& limits) {
  std::vector<AstPtr> branches;
  if (ast->kind == Ast::Kind::kAlt) {
    branches = std::move(ast->children);
  } else {
    branches.push_back(std::move(ast));
  }
  NfaBuilder builder(limits);
  const int32_t start = builder.NewState();
  const int32_t accept = builder.NewState();
  const CodeRanges any = {{0, kMaxCodePoint}};
  Ast any_star;
  any_star.kind = Ast::Kind::kRepeat;
  any_star.children.push_back(MakeChars(any));
  for (AstPtr& branch : branches) {
    bool anchored_start = false, anchored_end = false;
    StripAnchors(*branch, anchored_start, anchored_end);
    // ^(...)$ around an alternation: the anchors apply to every alternative inside.
    if (HasAnchor(*branch) && branch->kind == Ast::Kind::kConcat && branch->children.size() == 1 &&
        branch->children[0]->kind == Ast::Kind::kAlt) {
      AstPtr inner = std::move(branch->children[0]);
      for (AstPtr& sub : inner->children) {
        bool s2 = false, e2 = false;
        StripAnchors(*sub, s2, e2);
        if (HasAnchor(*sub)) {
          return Status::Error("regex \"" + std::string(pattern) +
                               "\": anchors inside a group are not supported");
        }
        const int32_t b = builder.NewState();
        builder.nfa().states[start].eps.push_back(b);
        int32_t cur = b;
        if (search && !anchored_start && !s2) cur = builder.Build(any_star, cur);
        cur = builder.Build(*sub, cur);
        if (search && !anchored_end && !e2) cur = builder.Build(any_star, cur);
        builder.nfa().states[cur].eps.push_back(accept);
      }
      continue;
    }
    if (HasAnchor(*branch)) {
      return Status::Error("regex \"" + std::string(pattern) +
                           "\": anchors inside a group are not supported");
    }
    const int32_t b = builder.NewState();
    builder.nfa().states[start].eps.push_back(b);
    int32_t cur = b;
    if (search && !anchored_start) cur = builder.Build(any_star, cur);
    cur = builder.Build(*branch, cur);
    if (search && !anchored_end) cur = builder.Build(any_star, cur);
    builder.nfa().states[cur].eps.push_back(accept);
  }
  if (builder.overflow()) {
    return Status::Error("regex \"" + std::string(pattern) + "\": more than " +
                         std::to_string(limits.max_nfa_states) + " NFA states");
  }
  builder.nfa().start = start;
  builder.nfa().accept = accept;
  return Determinize(builder.nfa(), limits, "regex \"" + std::string(pattern) + "\"");
}

StatusOr<Dfa> CompileImpl(std::string_view pattern, bool search, const RegexLimits& limits) {
  StatusOr<AstPtr> ast = RegexParser(pattern).Parse();
  if (!ast.ok()) return ast.status();
  return CompileAst(std::move(*ast), search, pattern, limits);
}

}  // namespace

bool Dfa::Matches(std::string_view text) const {
  if (empty()) return false;
  int32_t s = start;
  for (const char c : text) {
    s = next[s][static_cast<uint8_t>(c)];
    if (s < 0) return false;
  }
  return accepting[s] != 0;
}

StatusOr<Dfa> CompileRegex(std::string_view pattern, const RegexLimits& limits) {
  return CompileImpl(pattern, true, limits);
}

StatusOr<Dfa> CompileAnchoredRegex(std::string_view pattern, const RegexLimits& limits) {
  return CompileImpl(pattern, false, limits);
}

Dfa LiteralsDfa(const std::vector<std::string>& words) {
  Dfa dfa;
  auto new_state = [&] {
    dfa.next.emplace_back();
    dfa.next.back().fill(Dfa::kDead);
    dfa.accepting.push_back(0);
    return static_cast<int32_t>(dfa.next.size() - 1);
  };
  new_state();
  for (const std::string& w : words) {
    int32_t s = 0;
    for (const char c : w) {
      const auto b = static_cast<uint8_t>(c);
      if (dfa.next[s][b] < 0) {
        const int32_t t = new_state();
        dfa.next[s][b] = t;
      }
      s = dfa.next[s][b];
    }
    dfa.accepting[s] = 1;
  }
  return Trim(std::move(dfa));
}

StatusOr<Dfa> ProductDfa(const Dfa& a, const Dfa& b, bool subtract, const RegexLimits& limits) {
  if (a.empty()) return Dfa{};
  if (b.empty()) return subtract ? StatusOr<Dfa>(a) : StatusOr<Dfa>(Dfa{});
  // b's dead state is -1; under subtraction a pair with b dead stays alive.
  std::map<std::pair<int32_t, int32_t>, int32_t> ids;
  std::vector<std::pair<int32_t, int32_t>> pairs = {{a.start, b.start}};
  ids[{a.start, b.start}] = 0;
  Dfa out;
  out.next.emplace_back();
  for (size_t idx = 0; idx < pairs.size(); ++idx) {
    const auto [sa, sb] = pairs[idx];
    for (int c = 0; c < 256; ++c) {
      const int32_t ta = a.next[sa][c];
      const int32_t tb = sb >= 0 ? b.next[sb][c] : Dfa::kDead;
      if (ta < 0 || (!subtract && tb < 0)) {
        out.next[idx][c] = Dfa::kDead;
        continue;
      }
      auto [it, inserted] = ids.emplace(std::make_pair(ta, tb), static_cast<int32_t>(pairs.size()));
      if (inserted) {
        if (static_cast<int>(pairs.size()) >= limits.max_dfa_states) {
          return Status::Error("automaton intersection: more than " +
                               std::to_string(limits.max_dfa_states) + " states");
        }
        pairs.emplace_back(ta, tb);
        out.next.emplace_back();
      }
      out.next[idx][c] = it->second;
    }
  }
  out.accepting.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto [sa, sb] = pairs[i];
    const bool in_b = sb >= 0 && b.accepting[sb];
    out.accepting[i] = a.accepting[sa] && (subtract ? !in_b : in_b);
  }
  return Trim(std::move(out));
}

}  // namespace gs::grammar
