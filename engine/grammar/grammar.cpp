#include "engine/grammar/grammar.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

namespace gs::grammar {
namespace {

// The deterministic successor of `node` on `byte` in the flattened grammar: -1 when none, -2
// when several edges match (then the node is not treated as free string content).
int64_t NextOnByte(const Grammar& g, uint32_t node, uint8_t byte) {
  int64_t found = -1;
  for (const ByteEdge* e = g.bytes_begin(node); e != g.bytes_end(node); ++e) {
    if (byte >= e->lo && byte <= e->hi) {
      if (found >= 0 && found != e->target) return -2;
      found = e->target;
    }
  }
  return found;
}

// One character of JSON string content as UTF-8: states of a tiny automaton, kEnd after a whole
// character. Accepts every character except '"', '\', controls and the line separators U+2028
// and U+2029 (which a regex's `.` excludes, so leaving them out lets `.*` states count as free),
// and only well-formed UTF-8. Must agree with SafeChars in token_trie.cpp.
constexpr int kEnd = -1;
struct UtfRange {
  uint8_t lo, hi;
  int next;
};
const std::vector<std::vector<UtfRange>> kSafeChar = {
    /*0*/ {{0x20, 0x21, kEnd},
           {0x23, 0x5B, kEnd},
           {0x5D, 0x7F, kEnd},
           {0xC2, 0xDF, 1},
           {0xE0, 0xE0, 4},
           {0xE1, 0xE1, 2},
           {0xE2, 0xE2, 8},
           {0xE3, 0xEC, 2},
           {0xED, 0xED, 5},
           {0xEE, 0xEF, 2},
           {0xF0, 0xF0, 6},
           {0xF1, 0xF3, 3},
           {0xF4, 0xF4, 7}},
    /*1*/ {{0x80, 0xBF, kEnd}},
    /*2*/ {{0x80, 0xBF, 1}},
    /*3*/ {{0x80, 0xBF, 2}},
    /*4*/ {{0xA0, 0xBF, 1}},
    /*5*/ {{0x80, 0x9F, 1}},
    /*6*/ {{0x90, 0xBF, 2}},
    /*7*/ {{0x80, 0x8F, 2}},
    /*8*/ {{0x80, 0x80, 9}, {0x81, 0xBF, 1}},
    /*9*/ {{0x80, 0xA7, kEnd}, {0xAA, 0xBF, kEnd}},
};

// Splits the bytes [lo, hi] over the node's edges into (lo, hi, target) parts: false unless
// every byte in it has exactly one edge.
bool CoverRange(const Grammar& g, uint32_t node, int lo, int hi, std::vector<ByteEdge>& parts) {
  parts.clear();
  int expected = lo;
  for (const ByteEdge* e = g.bytes_begin(node); e != g.bytes_end(node); ++e) {
    if (e->hi < lo) continue;
    if (e->lo > hi) break;
    // Edges are sorted by lo: one starting before the next uncovered byte overlaps another.
    if (expected > hi || e->lo > expected || (e->lo < expected && expected != lo)) return false;
    parts.push_back({static_cast<uint8_t>(std::max<int>(e->lo, lo)),
                     static_cast<uint8_t>(std::min<int>(e->hi, hi)), e->target});
    expected = e->hi + 1;
  }
  return expected > hi;
}

// The nodes the safe characters lead to from `node` (deterministically, with no call or return
// on the way, so no other head can appear mid-token), or false when some safe character is not
// accepted that way.
bool FreeTargets(const Grammar& g, uint32_t node, std::vector<uint32_t>& targets) {
  targets.clear();
  if (NextOnByte(g, node, 'a') < 0) return false;  // cheap reject for most nodes
  if (g.has_calls(node) || g.is_final(node)) return false;
  std::vector<std::pair<int, uint32_t>> work = {{0, node}};
  std::vector<std::pair<int, uint32_t>> seen = work;
  std::vector<ByteEdge> parts;
  while (!work.empty()) {
    const auto [u, n] = work.back();
    work.pop_back();
    for (const UtfRange& r : kSafeChar[u]) {
      if (!CoverRange(g, n, r.lo, r.hi, parts)) return false;
      for (const ByteEdge& part : parts) {
        const uint32_t t = part.target;
        if (g.has_calls(t) || g.is_final(t)) return false;
        if (r.next == kEnd) {
          if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
          continue;
        }
        const std::pair<int, uint32_t> p(r.next, t);
        if (std::find(seen.begin(), seen.end(), p) == seen.end()) {
          if (seen.size() > 256) return false;
          seen.push_back(p);
          work.push_back(p);
        }
      }
    }
  }
  return true;
}

// The characters a JSON string may write with a backslash: controls, '"', '/' and '\'.
const std::vector<int> kEscapable = [] {
  std::vector<int> v;
  for (int b = 0; b < 0x20; ++b) v.push_back(b);
  v.insert(v.end(), {'"', '/', '\\'});
  return v;
}();

// Whether the node may start a JSON string content character (or call or return, after which
// anything may follow).
bool MayStartSafeChar(const Grammar& g, uint32_t node) {
  if (g.has_calls(node) || g.is_final(node)) return true;
  for (const ByteEdge* e = g.bytes_begin(node); e != g.bytes_end(node); ++e) {
    for (const UtfRange& r : kSafeChar[0]) {
      if (e->lo <= r.hi && e->hi >= r.lo) return true;
    }
  }
  return false;
}

uint8_t HexDigit(int v) { return static_cast<uint8_t>(v < 10 ? '0' + v : 'a' + v - 10); }

}  // namespace

uint32_t GrammarBuilder::NewNode() {
  nodes_.emplace_back();
  return static_cast<uint32_t>(nodes_.size() - 1);
}

uint32_t GrammarBuilder::NewRule(uint32_t* start_node) {
  *start_node = NewNode();
  rule_start_.push_back(*start_node);
  return static_cast<uint32_t>(rule_start_.size() - 1);
}

void GrammarBuilder::AddBytes(uint32_t from, uint8_t lo, uint8_t hi, uint32_t to) {
  nodes_[from].bytes.push_back({lo, hi, to});
  ++num_edges_;
}

void GrammarBuilder::AddEpsilon(uint32_t from, uint32_t to) {
  nodes_[from].eps.push_back(to);
  ++num_edges_;
}

void GrammarBuilder::AddCall(uint32_t from, uint32_t rule_idx, uint32_t ret) {
  nodes_[from].calls.push_back({rule_idx, ret});
  ++num_edges_;
}

void GrammarBuilder::SetFinal(uint32_t node) { nodes_[node].final = true; }

bool GrammarBuilder::overflow() const {
  return static_cast<int64_t>(nodes_.size()) > limits_.max_nodes ||
         static_cast<int64_t>(num_edges_) > limits_.max_edges;
}

uint32_t GrammarBuilder::AddLiteral(uint32_t from, std::string_view bytes) {
  uint32_t cur = from;
  for (const char c : bytes) {
    const uint32_t next = NewNode();
    AddBytes(cur, static_cast<uint8_t>(c), static_cast<uint8_t>(c), next);
    cur = next;
  }
  return cur;
}

void GrammarBuilder::AddLiteralTrie(uint32_t from, const std::vector<std::string>& words,
                                    uint32_t to) {
  std::map<std::pair<uint32_t, uint8_t>, uint32_t> children;
  for (const std::string& w : words) {
    uint32_t cur = from;
    for (const char c : w) {
      const auto b = static_cast<uint8_t>(c);
      auto [it, inserted] = children.emplace(std::make_pair(cur, b), 0);
      if (inserted) {
        it->second = NewNode();
        AddBytes(cur, b, b, it->second);
      }
      cur = it->second;
    }
    AddEpsilon(cur, to);
  }
}

void GrammarBuilder::AddDfa(uint32_t from, const Dfa& dfa, uint32_t to) {
  if (dfa.empty()) return;
  std::vector<uint32_t> g(dfa.num_states());
  for (auto& n : g) n = NewNode();
  AddEpsilon(from, g[dfa.start]);
  for (int32_t s = 0; s < dfa.num_states(); ++s) {
    for (int b = 0; b < 256;) {
      const int32_t t = dfa.next[s][b];
      int e = b;
      while (e + 1 < 256 && dfa.next[s][e + 1] == t) ++e;
      if (t >= 0) AddBytes(g[s], static_cast<uint8_t>(b), static_cast<uint8_t>(e), g[t]);
      b = e + 1;
    }
    if (dfa.accepting[s]) AddEpsilon(g[s], to);
  }
}

void GrammarBuilder::AddJsonString(uint32_t from, const Dfa& dfa, uint32_t to) {
  if (dfa.empty()) return;
  const uint32_t open = NewNode();
  AddBytes(from, '"', '"', open);
  AddJsonContent(open, dfa, to, /*close_quote=*/true);
}

void GrammarBuilder::AddJsonStringOfLength(uint32_t from, int min_chars, int max_chars,
                                           uint32_t to) {
  static const Dfa kOneChar = CompileAnchoredRegex("[\\s\\S]").value();
  uint32_t cur = NewNode();
  AddBytes(from, '"', '"', cur);
  for (int i = 0; max_chars < 0 ? i < min_chars : i < max_chars; ++i) {
    if (i >= min_chars) AddBytes(cur, '"', '"', to);
    const uint32_t next = NewNode();
    AddJsonContent(cur, kOneChar, next, /*close_quote=*/false);
    cur = next;
  }
  AddBytes(cur, '"', '"', to);
  if (max_chars < 0) AddJsonContent(cur, kOneChar, cur, /*close_quote=*/false);
}

void GrammarBuilder::AddJsonContent(uint32_t from, const Dfa& dfa, uint32_t to, bool close_quote) {
  std::vector<uint32_t> g(dfa.num_states());
  for (auto& n : g) n = NewNode();
  AddEpsilon(from, g[dfa.start]);
  for (int32_t s = 0; s < dfa.num_states(); ++s) {
    const auto& next = dfa.next[s];
    auto raw = [](int b) { return b >= 0x20 && b != '"' && b != '\\'; };
    for (int b = 0; b < 256;) {
      const int32_t t = next[b];
      if (t < 0 || !raw(b)) {
        ++b;
        continue;
      }
      int e = b;
      while (e + 1 < 256 && raw(e + 1) && next[e + 1] == t) ++e;
      AddBytes(g[s], static_cast<uint8_t>(b), static_cast<uint8_t>(e), g[t]);
      b = e + 1;
    }
    // Escapes: one node after the backslash, shared by this state's escaped characters.
    uint32_t esc = 0;
    bool has_esc = false;
    uint32_t u_nodes[2] = {0, 0};  // after "\u00" + high nibble 0 or 1
    bool has_u[2] = {false, false};
    uint32_t u00 = 0;
    bool has_u00 = false;
    auto escape_node = [&] {
      if (!has_esc) {
        esc = NewNode();
        AddBytes(g[s], '\\', '\\', esc);
        has_esc = true;
      }
      return esc;
    };
    for (const int b : kEscapable) {
      const int32_t t = next[b];
      if (t < 0) continue;
      char short_form = 0;
      switch (b) {
        case '"':
          short_form = '"';
          break;
        case '\\':
          short_form = '\\';
          break;
        case '/':
          short_form = '/';
          break;
        case '\b':
          short_form = 'b';
          break;
        case '\f':
          short_form = 'f';
          break;
        case '\n':
          short_form = 'n';
          break;
        case '\r':
          short_form = 'r';
          break;
        case '\t':
          short_form = 't';
          break;
        default:
          break;
      }
      if (short_form) {
        AddBytes(escape_node(), short_form, short_form, g[t]);
        continue;
      }
      if (!has_u00) {
        const uint32_t u = NewNode();
        AddBytes(escape_node(), 'u', 'u', u);
        const uint32_t u0 = NewNode();
        AddBytes(u, '0', '0', u0);
        u00 = NewNode();
        AddBytes(u0, '0', '0', u00);
        has_u00 = true;
      }
      const int hi = b >> 4;
      if (!has_u[hi]) {
        u_nodes[hi] = NewNode();
        AddBytes(u00, HexDigit(hi), HexDigit(hi), u_nodes[hi]);
        has_u[hi] = true;
      }
      const uint8_t lo = HexDigit(b & 15);
      AddBytes(u_nodes[hi], lo, lo, g[t]);
      if (lo >= 'a') AddBytes(u_nodes[hi], lo - 'a' + 'A', lo - 'a' + 'A', g[t]);
    }
    if (dfa.accepting[s]) {
      if (close_quote) {
        AddBytes(g[s], '"', '"', to);
      } else {
        AddEpsilon(g[s], to);
      }
    }
  }
}

StatusOr<Grammar> GrammarBuilder::Build(uint32_t root_rule) {
  if (overflow()) {
    return Status::Error("grammar too large: more than " + std::to_string(limits_.max_nodes) +
                         " nodes or " + std::to_string(limits_.max_edges) + " edges");
  }
  const uint32_t n = static_cast<uint32_t>(nodes_.size());
  // 1. Fold epsilon edges: a node gets the edges and finality of everything it reaches by them.
  std::vector<Node> folded(n);
  std::vector<uint32_t> mark(n, UINT32_MAX);
  std::vector<uint32_t> stack;
  size_t total_edges = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Node& out = folded[i];
    stack.assign(1, i);
    mark[i] = i;
    while (!stack.empty()) {
      const uint32_t x = stack.back();
      stack.pop_back();
      const Node& src = nodes_[x];
      out.bytes.insert(out.bytes.end(), src.bytes.begin(), src.bytes.end());
      out.calls.insert(out.calls.end(), src.calls.begin(), src.calls.end());
      out.final = out.final || src.final;
      for (uint32_t y : src.eps) {
        if (mark[y] != i) {
          mark[y] = i;
          stack.push_back(y);
        }
      }
    }
    std::sort(out.calls.begin(), out.calls.end(), [](const CallEdge& a, const CallEdge& b) {
      return std::tie(a.rule_idx, a.ret_node) < std::tie(b.rule_idx, b.ret_node);
    });
    out.calls.erase(std::unique(out.calls.begin(), out.calls.end(),
                                [](const CallEdge& a, const CallEdge& b) {
                                  return a.rule_idx == b.rule_idx && a.ret_node == b.ret_node;
                                }),
                    out.calls.end());
    std::sort(out.bytes.begin(), out.bytes.end(), [](const ByteEdge& a, const ByteEdge& b) {
      return std::tie(a.lo, a.hi, a.target) < std::tie(b.lo, b.hi, b.target);
    });
    out.bytes.erase(std::unique(out.bytes.begin(), out.bytes.end(),
                                [](const ByteEdge& a, const ByteEdge& b) {
                                  return a.lo == b.lo && a.hi == b.hi && a.target == b.target;
                                }),
                    out.bytes.end());
    total_edges += out.bytes.size() + out.calls.size();
    if (static_cast<int64_t>(total_edges) > limits_.max_edges) {
      return Status::Error("grammar too large: more than " + std::to_string(limits_.max_edges) +
                           " edges after folding empty transitions");
    }
  }
  nodes_.clear();
  // 2. Productive nodes (a return is reachable), by a worklist over reverse edges.
  std::vector<std::vector<uint32_t>> rev(n);
  std::vector<std::vector<uint32_t>> callers_of_start(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (const ByteEdge& e : folded[i].bytes) rev[e.target].push_back(i);
    for (const CallEdge& c : folded[i].calls) {
      rev[c.ret_node].push_back(i);
      rev[rule_start_[c.rule_idx]].push_back(i);
    }
  }
  std::vector<uint8_t> productive(n, 0);
  std::vector<uint32_t> work;
  for (uint32_t i = 0; i < n; ++i) {
    if (folded[i].final) {
      productive[i] = 1;
      work.push_back(i);
    }
  }
  auto is_productive = [&](uint32_t i) {
    for (const ByteEdge& e : folded[i].bytes) {
      if (productive[e.target]) return true;
    }
    for (const CallEdge& c : folded[i].calls) {
      if (productive[c.ret_node] && productive[rule_start_[c.rule_idx]]) return true;
    }
    return false;
  };
  while (!work.empty()) {
    const uint32_t x = work.back();
    work.pop_back();
    for (uint32_t p : rev[x]) {
      if (!productive[p] && is_productive(p)) {
        productive[p] = 1;
        work.push_back(p);
      }
    }
  }
  rev.clear();
  if (!productive[rule_start_[root_rule]]) {
    return Status::Error("the grammar matches nothing (its constraints cannot be satisfied)");
  }
  for (uint32_t i = 0; i < n; ++i) {
    std::erase_if(folded[i].bytes, [&](const ByteEdge& e) { return !productive[e.target]; });
    std::erase_if(folded[i].calls, [&](const CallEdge& c) {
      return !productive[c.ret_node] || !productive[rule_start_[c.rule_idx]];
    });
  }
  // 3. Left recursion: a rule reaching a call of itself without consuming a byte.
  const uint32_t num_rules = static_cast<uint32_t>(rule_start_.size());
  std::vector<uint8_t> nullable(n, 0);  // can return without consuming a byte
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t i = 0; i < n; ++i) {
      if (nullable[i]) continue;
      bool v = folded[i].final;
      for (const CallEdge& c : folded[i].calls) {
        v = v || (nullable[rule_start_[c.rule_idx]] && nullable[c.ret_node]);
      }
      if (v) nullable[i] = 1, changed = true;
    }
  }
  std::vector<std::vector<uint32_t>> left_calls(num_rules);
  for (uint32_t r = 0; r < num_rules; ++r) {
    std::vector<uint32_t> seen = {rule_start_[r]};
    std::vector<uint32_t> todo = seen;
    while (!todo.empty()) {
      const uint32_t x = todo.back();
      todo.pop_back();
      for (const CallEdge& c : folded[x].calls) {
        left_calls[r].push_back(c.rule_idx);
        if (nullable[rule_start_[c.rule_idx]] &&
            std::find(seen.begin(), seen.end(), c.ret_node) == seen.end()) {
          seen.push_back(c.ret_node);
          todo.push_back(c.ret_node);
        }
      }
    }
  }
  std::vector<uint8_t> color(num_rules, 0);  // 0 new, 1 on the DFS path, 2 done
  for (uint32_t r0 = 0; r0 < num_rules; ++r0) {
    if (color[r0]) continue;
    std::vector<std::pair<uint32_t, size_t>> dfs = {{r0, 0}};
    color[r0] = 1;
    while (!dfs.empty()) {
      auto& [r, k] = dfs.back();
      if (k == left_calls[r].size()) {
        color[r] = 2;
        dfs.pop_back();
        continue;
      }
      const uint32_t s = left_calls[r][k++];
      if (color[s] == 1) return Status::Error("the grammar is left-recursive");
      if (color[s] == 0) {
        color[s] = 1;
        dfs.emplace_back(s, 0);
      }
    }
  }
  // 4. Flatten.
  Grammar g;
  g.root_rule_ = root_rule;
  g.rule_start_ = rule_start_;
  g.is_final_.resize(n);
  g.is_pure_return_.resize(n);
  g.byte_begin_.reserve(n + 1);
  g.call_begin_.reserve(n + 1);
  for (uint32_t i = 0; i < n; ++i) {
    g.byte_begin_.push_back(static_cast<uint32_t>(g.byte_edges_.size()));
    g.call_begin_.push_back(static_cast<uint32_t>(g.call_edges_.size()));
    g.byte_edges_.insert(g.byte_edges_.end(), folded[i].bytes.begin(), folded[i].bytes.end());
    g.call_edges_.insert(g.call_edges_.end(), folded[i].calls.begin(), folded[i].calls.end());
    g.is_final_[i] = folded[i].final;
    g.is_pure_return_[i] = folded[i].final && folded[i].bytes.empty() && folded[i].calls.empty();
  }
  g.byte_begin_.push_back(static_cast<uint32_t>(g.byte_edges_.size()));
  g.call_begin_.push_back(static_cast<uint32_t>(g.call_edges_.size()));
  // 5. Free-string budgets. Unbounded: the greatest set of nodes that accept every safe
  // character into the set again. Finite: a chain of single targets ending outside the set.
  std::vector<std::vector<uint32_t>> targets(n);
  std::vector<uint8_t> in_set(n, 0);
  std::vector<std::vector<uint32_t>> preds(n);
  for (uint32_t i = 0; i < n; ++i) {
    in_set[i] = FreeTargets(g, i, targets[i]);
    if (!in_set[i]) targets[i].clear();
    if (in_set[i]) {
      for (const uint32_t t : targets[i]) preds[t].push_back(i);
    }
  }
  work.clear();
  for (uint32_t i = 0; i < n; ++i) {
    if (!in_set[i]) continue;
    for (const uint32_t t : targets[i]) {
      if (!in_set[t]) {
        work.push_back(i);
        break;
      }
    }
  }
  for (const uint32_t i : work) in_set[i] = 2;  // 2: queued for removal
  while (!work.empty()) {
    const uint32_t x = work.back();
    work.pop_back();
    in_set[x] = 0;
    for (const uint32_t p : preds[x]) {
      if (in_set[p] == 1) {
        in_set[p] = 2;
        work.push_back(p);
      }
    }
  }
  preds.clear();
  g.free_budget_.assign(n, 0);
  g.free_tight_.assign(n, 0);
  std::vector<uint8_t> state(n, 0);  // 0 unknown, 1 on the current chain, 2 done
  for (uint32_t i = 0; i < n; ++i) {
    if (in_set[i]) {
      g.free_budget_[i] = Grammar::kUnboundedFree;
      state[i] = 2;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (state[i] == 2) continue;
    std::vector<uint32_t> chain;
    uint32_t x = i;
    uint8_t base = 0;
    bool tight = false;
    while (true) {
      if (state[x] == 2) {
        base = g.free_budget_[x];
        tight = g.free_tight_[x];
        break;
      }
      if (state[x] == 1 || targets[x].size() != 1) {
        // No single next node (or a cycle, which the unbounded set would hold): budget 0.
        for (const uint32_t c : chain) state[c] = 0;
        if (state[x] == 1) chain.clear();
        state[x] = 2;
        g.free_budget_[x] = 0;
        tight = targets[x].empty() && !MayStartSafeChar(g, x);
        g.free_tight_[x] = tight;
        base = 0;
        break;
      }
      state[x] = 1;
      chain.push_back(x);
      x = targets[x][0];
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (state[*it] == 2) continue;
      if (base != Grammar::kUnboundedFree) base = static_cast<uint8_t>(std::min(base + 1, 254));
      g.free_budget_[*it] = base;
      g.free_tight_[*it] = tight;
      state[*it] = 2;
    }
  }
  return g;
}

StatusOr<Grammar> GrammarFromRegex(std::string_view pattern, const RegexLimits& limits) {
  StatusOr<Dfa> dfa = CompileAnchoredRegex(pattern, limits);
  if (!dfa.ok()) return dfa.status();
  GrammarBuilder b;
  uint32_t start;
  const uint32_t rule = b.NewRule(&start);
  const uint32_t end = b.NewNode();
  b.SetFinal(end);
  b.AddDfa(start, *dfa, end);
  return b.Build(rule);
}

}  // namespace gs::grammar
