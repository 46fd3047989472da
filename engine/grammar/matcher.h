// Per-sequence grammar state: which token ids may come next (FillMask), advancing by an accepted
// token (Consume), undoing tokens (Rollback) for speculative decoding, and whether the output
// may end here (IsAccepting). Designed to live on a sequence and be advanced where the engine
// accepts a token; copying a Matcher is a few vector copies (preemption, forking).
//
// The state is a set of heads: each a grammar node that consumes bytes next, plus a stack of
// return nodes (frames). Frames are interned in an append-only arena, so equal stacks are equal
// frame ids, heads dedupe by value, and a rolled-back state stays valid.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/grammar/grammar.h"
#include "engine/grammar/token_trie.h"

namespace gs::grammar {

class Matcher {
 public:
  // Heads beyond this are dropped (only a highly ambiguous grammar gets there): the matcher
  // then allows less, never more.
  static constexpr size_t kMaxHeads = 4096;
  // A head looping on fewer bytes than this is walked without a class slice.
  static constexpr int kMinSliceBytes = 8;

  // `trie` must outlive the matcher.
  Matcher(std::shared_ptr<const CompiledGrammar> grammar, const TokenTrie* trie);

  // Advances by one token. False (and no change) when the grammar rejects it. An end-of-
  // generation token is accepted only where the grammar may end, and terminates the matcher.
  bool Consume(int32_t token_id);
  // Bit t of words[t / 32] set iff token t may come next; writes all num_mask_words() words.
  void FillMask(uint32_t* words) const;
  bool IsAccepting() const { return accepting_; }
  bool IsTerminated() const { return terminated_; }
  // Undoes the last num_tokens consumed tokens; false (and no change) when fewer were consumed.
  bool Rollback(int num_tokens);
  int num_consumed() const { return static_cast<int>(history_.size()); }

  // Whether the grammar accepts `bytes` from the current state (without consuming).
  bool AcceptsBytes(const std::string& bytes) const;

 private:
  struct Head {
    uint32_t node;
    uint32_t frame;
    bool operator==(const Head&) const = default;
    bool operator<(const Head& o) const { return node != o.node ? node < o.node : frame < o.frame; }
  };
  struct Frame {
    uint32_t ret_node;
    uint32_t parent;
  };
  struct Snapshot {
    std::vector<Head> heads;
    bool accepting;
    bool terminated;
  };
  static constexpr uint32_t kRootFrame = UINT32_MAX;

  // Adds the heads reached from (node, frame) by calls and returns; sets *accepting when the
  // root rule can return. intern: frames go into the shared arena (else scratch frames that the
  // caller truncates afterwards).
  void Expand(uint32_t node, uint32_t frame, std::vector<Head>& out, bool* accepting,
              bool intern) const;
  // Heads after consuming `byte` from `in` (deduplicated when several).
  void Step(const std::vector<Head>& in, uint8_t byte, std::vector<Head>& out, bool* accepting,
            bool intern) const;
  uint32_t PushFrame(uint32_t ret_node, uint32_t parent, bool intern) const;
  void WalkTrie(const TrieArrays& trie, uint32_t* words) const;
  // WalkTrie for a single head that loops on `bytes`: tokens of those bytes come from the
  // slice's mask, and subtrees holding only such tokens are skipped.
  void WalkTrieSliced(const ByteClass& bytes, const ClassSlice& slice, uint32_t* words) const;
  // The bytes on which `node` (no calls, not final) returns to itself, deterministically.
  ByteClass SelfLoopBytes(uint32_t node) const;
  std::string StateKey() const;

  std::shared_ptr<const CompiledGrammar> compiled_;
  const Grammar* g_;
  const TokenTrie* trie_;
  std::vector<Head> heads_;
  bool accepting_ = false;
  bool terminated_ = false;
  std::vector<Snapshot> history_;
  // The frame arena; FillMask appends scratch frames and truncates them again, so it is
  // logically const.
  mutable std::vector<Frame> frames_;
  mutable std::unordered_map<uint64_t, uint32_t> frame_ids_;
  // Scratch for Expand and the trie walk.
  mutable std::vector<std::pair<uint32_t, uint32_t>> expand_work_;
  mutable std::vector<std::pair<uint32_t, uint32_t>> expand_seen_;
  mutable std::vector<std::vector<Head>> levels_;
  mutable std::vector<uint8_t> in_class_;
};

}  // namespace gs::grammar
