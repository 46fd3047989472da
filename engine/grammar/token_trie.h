// The vocabulary as a byte trie in depth-first order, built once per model: a mask is one
// forward pass over the arrays that skips a whole subtree as soon as the grammar rejects its
// prefix (the layout LLGuidance describes). Alongside it, the tokens made only of JSON string
// content characters (no '"', '\', controls, U+2028/9; whole UTF-8 characters) are kept as a
// precomputed bitmask plus a second trie of every other token: inside an unconstrained string
// almost every token is legal (99 % at Gemma's vocabulary), so such a mask is the precomputed bits
// OR a walk of the small trie instead of a walk of 600K nodes.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gs {
class Tokenizer;
}

namespace gs::grammar {

// One trie: node i (pre-order) consumes byte_[i] at depth_[i] (1-based); its subtree is
// [i, subtree_end_[i]); the tokens whose bytes end there are token_ids_[token_begin_[i] ..
// token_begin_[i + 1]).
struct TrieArrays {
  std::vector<uint8_t> byte;
  std::vector<uint8_t> depth;
  std::vector<uint32_t> subtree_end;
  std::vector<uint32_t> token_begin;
  std::vector<int32_t> token_ids;
  int max_depth = 0;

  uint32_t num_nodes() const { return static_cast<uint32_t>(byte.size()); }
};

// The tokens made only of bytes from one byte class C, for states that loop on C (a pattern's
// character class): those tokens are allowed without a walk, and the walk skips every subtree
// holding no other token.
struct ClassSlice {
  std::vector<uint32_t> mask;  // tokens whose bytes are all in C
  std::vector<uint64_t>
      has_rest;  // bit i: trie node i's subtree holds a token with a byte not in C
  bool HasRest(uint32_t node) const { return (has_rest[node >> 6] >> (node & 63)) & 1; }
};

// A set of bytes, bit b of word b / 64.
using ByteClass = std::array<uint64_t, 4>;

class TokenTrie {
 public:
  // Slices kept per vocabulary (each about 100 KiB at Gemma's vocabulary); later classes get none.
  static constexpr size_t kMaxClassSlices = 64;

  // pieces[id]: the bytes token id produces; an empty piece is never allowed by a grammar.
  // eos_ids: the tokens that end generation, allowed exactly where the grammar may end. Tokens
  // longer than 255 bytes are left out (no Gemma token comes close).
  TokenTrie(const std::vector<std::string>& pieces, std::vector<int32_t> eos_ids);
  // Control, unknown and unused tokens have no bytes; byte tokens <0xNN> are their byte and
  // SentencePiece's U+2581 a space, as the detokenizer writes them.
  static TokenTrie FromTokenizer(const Tokenizer& tokenizer);

  int32_t num_vocab() const { return num_vocab_; }
  size_t num_mask_words() const { return (static_cast<size_t>(num_vocab_) + 31) / 32; }
  const std::string& piece(int32_t id) const { return pieces_[id]; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  bool IsEos(int32_t id) const;

  const TrieArrays& all() const { return all_; }
  // Every token not in safe_mask().
  const TrieArrays& unsafe() const { return unsafe_; }
  const std::vector<uint32_t>& safe_mask() const { return safe_mask_; }
  // The safe tokens of at most num_chars characters (num_chars <= max_safe_chars()).
  const uint32_t* safe_mask_up_to(int num_chars) const {
    return &safe_up_to_[static_cast<size_t>(num_chars) * num_mask_words()];
  }
  // The most characters in one safe token: a state whose free budget is at least this allows
  // every safe token.
  int max_safe_chars() const { return max_safe_chars_; }
  uint32_t num_nodes() const { return all_.num_nodes(); }
  // The slice for `bytes`, built on first use (a pass over the vocabulary); nullptr once
  // kMaxClassSlices exist. Thread-safe.
  const ClassSlice* Slice(const ByteClass& bytes) const;

 private:
  int32_t num_vocab_;
  std::vector<std::string> pieces_;
  std::vector<int32_t> eos_ids_;  // ascending
  TrieArrays all_;
  TrieArrays unsafe_;
  std::vector<uint32_t> safe_mask_;
  std::vector<uint32_t> safe_up_to_;  // (max_safe_chars_ + 1) masks, cumulative by length
  int max_safe_chars_ = 0;
  struct SliceCache {
    std::mutex mu;
    std::map<ByteClass, std::unique_ptr<const ClassSlice>> slices;
  };
  std::unique_ptr<SliceCache> slice_cache_ = std::make_unique<SliceCache>();
};

}  // namespace gs::grammar
