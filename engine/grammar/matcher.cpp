#include "engine/grammar/matcher.h"

#include <algorithm>
#include <cstring>

namespace gs::grammar {

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar, const TokenTrie* trie)
    : compiled_(std::move(grammar)), g_(&compiled_->grammar), trie_(trie) {
  Expand(g_->rule_start(g_->root_rule()), kRootFrame, heads_, &accepting_, /*intern=*/true);
  std::sort(heads_.begin(), heads_.end());
  heads_.erase(std::unique(heads_.begin(), heads_.end()), heads_.end());
}

uint32_t Matcher::PushFrame(uint32_t ret_node, uint32_t parent, bool intern) const {
  if (!intern) {
    frames_.push_back({ret_node, parent});
    return static_cast<uint32_t>(frames_.size() - 1);
  }
  const uint64_t key = (uint64_t{ret_node} << 32) | parent;
  const auto [it, inserted] = frame_ids_.emplace(key, static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back({ret_node, parent});
  return it->second;
}

void Matcher::Expand(uint32_t node, uint32_t frame, std::vector<Head>& out, bool* accepting,
                     bool intern) const {
  // Fast path: a node inside a lexeme, no calls, no return.
  if (!g_->has_calls(node) && !g_->is_final(node)) {
    out.push_back({node, frame});
    return;
  }
  expand_work_.assign(1, {node, frame});
  expand_seen_.clear();
  while (!expand_work_.empty()) {
    const auto [n, f] = expand_work_.back();
    expand_work_.pop_back();
    if (std::find(expand_seen_.begin(), expand_seen_.end(), std::make_pair(n, f)) !=
        expand_seen_.end()) {
      continue;
    }
    expand_seen_.emplace_back(n, f);
    if (g_->bytes_begin(n) != g_->bytes_end(n)) out.push_back({n, f});
    for (const CallEdge* c = g_->calls_begin(n); c != g_->calls_end(n); ++c) {
      // A call returning to a node that only returns is a tail call: reuse the frame.
      const uint32_t nf = g_->is_pure_return(c->ret_node) ? f : PushFrame(c->ret_node, f, intern);
      expand_work_.emplace_back(g_->rule_start(c->rule_idx), nf);
    }
    if (g_->is_final(n)) {
      if (f == kRootFrame) {
        *accepting = true;
      } else {
        expand_work_.emplace_back(frames_[f].ret_node, frames_[f].parent);
      }
    }
  }
}

void Matcher::Step(const std::vector<Head>& in, uint8_t byte, std::vector<Head>& out,
                   bool* accepting, bool intern) const {
  out.clear();
  for (const Head& h : in) {
    for (const ByteEdge* e = g_->bytes_begin(h.node); e != g_->bytes_end(h.node); ++e) {
      if (byte < e->lo) break;  // edges are sorted by lo
      if (byte <= e->hi) Expand(e->target, h.frame, out, accepting, intern);
    }
  }
  if (out.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.size() > kMaxHeads) out.resize(kMaxHeads);
  }
}

bool Matcher::Consume(int32_t token_id) {
  if (terminated_ || token_id < 0 || token_id >= trie_->num_vocab()) return false;
  if (trie_->IsEos(token_id)) {
    if (!accepting_) return false;
    history_.push_back({heads_, accepting_, terminated_});
    terminated_ = true;
    return true;
  }
  const std::string& piece = trie_->piece(token_id);
  if (piece.empty()) return false;
  std::vector<Head> cur = heads_, next;
  bool accepting = false;
  for (size_t i = 0; i < piece.size(); ++i) {
    accepting = false;
    Step(cur, static_cast<uint8_t>(piece[i]), next, &accepting, /*intern=*/true);
    // No heads but accepting: the grammar is complete, and only a last byte may do that.
    if (next.empty() && (!accepting || i + 1 != piece.size())) return false;
    cur.swap(next);
  }
  history_.push_back({std::move(heads_), accepting_, terminated_});
  heads_ = std::move(cur);
  accepting_ = accepting;
  return true;
}

bool Matcher::AcceptsBytes(const std::string& bytes) const {
  const size_t num_frames = frames_.size();
  std::vector<Head> cur = heads_, next;
  bool accepting = false;
  bool ok = !terminated_;
  for (size_t i = 0; ok && i < bytes.size(); ++i) {
    accepting = false;
    Step(cur, static_cast<uint8_t>(bytes[i]), next, &accepting, /*intern=*/false);
    ok = !next.empty() || (accepting && i + 1 == bytes.size());
    cur.swap(next);
  }
  frames_.resize(num_frames);
  return ok;
}

bool Matcher::Rollback(int num_tokens) {
  if (num_tokens < 0 || num_tokens > num_consumed()) return false;
  for (int i = 0; i < num_tokens; ++i) {
    Snapshot& s = history_.back();
    heads_ = std::move(s.heads);
    accepting_ = s.accepting;
    terminated_ = s.terminated;
    history_.pop_back();
  }
  return true;
}

std::string Matcher::StateKey() const {
  std::vector<uint32_t> key;
  for (const Head& h : heads_) {
    key.push_back(h.node);
    for (uint32_t f = h.frame; f != kRootFrame; f = frames_[f].parent) {
      key.push_back(frames_[f].ret_node);
    }
    key.push_back(UINT32_MAX);
  }
  return std::string(reinterpret_cast<const char*>(key.data()), key.size() * sizeof(uint32_t));
}

void Matcher::WalkTrie(const TrieArrays& trie, uint32_t* words) const {
  const size_t num_frames = frames_.size();
  if (levels_.size() < static_cast<size_t>(trie.max_depth) + 1) levels_.resize(trie.max_depth + 1);
  levels_[0] = heads_;
  const uint32_t num_nodes = trie.num_nodes();
  for (uint32_t i = 0; i < num_nodes;) {
    const int d = trie.depth[i];
    std::vector<Head>& out = levels_[d];
    bool accepting = false;
    Step(levels_[d - 1], trie.byte[i], out, &accepting, /*intern=*/false);
    if (out.empty() && !accepting) {
      i = trie.subtree_end[i];
      continue;
    }
    for (uint32_t k = trie.token_begin[i]; k < trie.token_begin[i + 1]; ++k) {
      const int32_t id = trie.token_ids[k];
      words[id >> 5] |= 1u << (id & 31);
    }
    // Complete with no heads left: nothing longer fits.
    i = out.empty() ? trie.subtree_end[i] : i + 1;
  }
  frames_.resize(num_frames);
}

ByteClass Matcher::SelfLoopBytes(uint32_t node) const {
  ByteClass loop = {0, 0, 0, 0};
  ByteClass seen = {0, 0, 0, 0};
  ByteClass multi = {0, 0, 0, 0};
  for (const ByteEdge* e = g_->bytes_begin(node); e != g_->bytes_end(node); ++e) {
    for (int b = e->lo; b <= e->hi; ++b) {
      const uint64_t bit = uint64_t{1} << (b & 63);
      if (seen[b >> 6] & bit) multi[b >> 6] |= bit;
      seen[b >> 6] |= bit;
      if (e->target == node) loop[b >> 6] |= bit;
    }
  }
  for (int w = 0; w < 4; ++w) loop[w] &= ~multi[w];
  return loop;
}

void Matcher::WalkTrieSliced(const ByteClass& bytes, const ClassSlice& slice,
                             uint32_t* words) const {
  const TrieArrays& trie = trie_->all();
  const size_t num_frames = frames_.size();
  if (levels_.size() < static_cast<size_t>(trie.max_depth) + 1) levels_.resize(trie.max_depth + 1);
  in_class_.assign(trie.max_depth + 1, 0);
  levels_[0] = heads_;
  in_class_[0] = 1;
  const uint32_t num_nodes = trie.num_nodes();
  for (uint32_t i = 0; i < num_nodes;) {
    const int d = trie.depth[i];
    const uint8_t b = trie.byte[i];
    if (in_class_[d - 1] && ((bytes[b >> 6] >> (b & 63)) & 1)) {
      // Still looping on the head's node: the state is the start state, and this node's
      // tokens are in the slice's mask.
      if (!slice.HasRest(i)) {
        i = trie.subtree_end[i];
        continue;
      }
      levels_[d] = heads_;
      in_class_[d] = 1;
      ++i;
      continue;
    }
    in_class_[d] = 0;
    std::vector<Head>& out = levels_[d];
    bool accepting = false;
    Step(levels_[d - 1], b, out, &accepting, /*intern=*/false);
    if (out.empty() && !accepting) {
      i = trie.subtree_end[i];
      continue;
    }
    for (uint32_t k = trie.token_begin[i]; k < trie.token_begin[i + 1]; ++k) {
      const int32_t id = trie.token_ids[k];
      words[id >> 5] |= 1u << (id & 31);
    }
    i = out.empty() ? trie.subtree_end[i] : i + 1;
  }
  frames_.resize(num_frames);
}

void Matcher::FillMask(uint32_t* words) const {
  const size_t num_words = trie_->num_mask_words();
  std::memset(words, 0, num_words * sizeof(uint32_t));
  if (!terminated_) {
    const std::string key = StateKey();
    if (auto hit = compiled_->masks.Find(key)) {
      std::memcpy(words, hit->data(), num_words * sizeof(uint32_t));
    } else {
      // Tokens of string content characters are decided per head without a walk when some
      // head takes any number of them, or every head takes an exact number (free_tight).
      bool all_safe = false, all_tight = true;
      for (const Head& h : heads_) {
        all_safe = all_safe || g_->free_budget(h.node) >= trie_->max_safe_chars();
        all_tight = all_tight && g_->free_tight(h.node);
      }
      if (all_safe) {
        std::memcpy(words, trie_->safe_mask().data(), num_words * sizeof(uint32_t));
        WalkTrie(trie_->unsafe(), words);
      } else if (all_tight) {
        for (const Head& h : heads_) {
          const uint32_t* safe = trie_->safe_mask_up_to(g_->free_budget(h.node));
          for (size_t w = 0; w < num_words; ++w) words[w] |= safe[w];
        }
        WalkTrie(trie_->unsafe(), words);
      } else {
        // One head looping on a byte class (inside a pattern): slice by that class.
        const ClassSlice* slice = nullptr;
        ByteClass loop = {0, 0, 0, 0};
        if (heads_.size() == 1 && !g_->has_calls(heads_[0].node) && !g_->is_final(heads_[0].node)) {
          loop = SelfLoopBytes(heads_[0].node);
          int num_loop_bytes = 0;
          for (const uint64_t w : loop) num_loop_bytes += __builtin_popcountll(w);
          if (num_loop_bytes >= kMinSliceBytes) slice = trie_->Slice(loop);
        }
        if (slice != nullptr) {
          std::memcpy(words, slice->mask.data(), num_words * sizeof(uint32_t));
          WalkTrieSliced(loop, *slice, words);
        } else {
          WalkTrie(trie_->all(), words);
        }
      }
      compiled_->masks.Insert(key, std::vector<uint32_t>(words, words + num_words));
    }
  }
  if (accepting_ || terminated_) {
    for (const int32_t id : trie_->eos_ids()) words[id >> 5] |= 1u << (id & 31);
  }
}

}  // namespace gs::grammar
