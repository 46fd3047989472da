// Shared helpers of the grammar tests: a small vocabulary with every byte plus multi-byte pieces
// that cross lexeme boundaries (so masks are tested on tokens like `", "` and `"}`), greedy
// tokenization over it, and a brute-force mask to compare FillMask with.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/grammar/grammar.h"
#include "engine/grammar/matcher.h"
#include "engine/grammar/token_trie.h"

namespace gs::grammar::testing {

inline std::vector<std::string> ToyPieces() {
  std::vector<std::string> pieces;
  for (int b = 0; b < 256; ++b) pieces.push_back(std::string(1, static_cast<char>(b)));
  for (const char* p :
       {"{\"",  "\": ", "\": \"",   "\", \"", ", \"", "\"}",  "\"]",   "}}",  "[{", "},",
        " \"",  "true", "false",    "null",   "name", "age",  "ab",    "abc", "AB", "12",
        "2024", "-0",   ".5",       "e-",     "\\n",  "\\\"", "\\u00", " ",   "  ", "\n ",
        "é",    "日本", "\xe6\x97", "\xa5",   "😀",    "x-",   "ü"}) {
    pieces.push_back(p);
  }
  pieces.push_back("");  // end of generation
  return pieces;
}

inline int32_t ToyEos() { return static_cast<int32_t>(ToyPieces().size()) - 1; }

inline const TokenTrie& ToyTrie() {
  static const TokenTrie trie(ToyPieces(), {ToyEos()});
  return trie;
}

// Greedy longest match over the toy pieces (every byte is a piece, so it always succeeds).
inline std::vector<int32_t> ToyTokenize(const std::string& text) {
  const std::vector<std::string> pieces = ToyPieces();
  std::vector<int32_t> ids;
  for (size_t pos = 0; pos < text.size();) {
    int32_t best = -1;
    for (int32_t id = 0; id < static_cast<int32_t>(pieces.size()); ++id) {
      const std::string& p = pieces[id];
      if (!p.empty() && text.compare(pos, p.size(), p) == 0 &&
          (best < 0 || p.size() > pieces[best].size())) {
        best = id;
      }
    }
    ids.push_back(best);
    pos += pieces[best].size();
  }
  return ids;
}

// FillMask against the definition: token t allowed iff its bytes are a viable continuation (or
// it ends generation where the grammar may end).
inline void ExpectMaskMatchesBruteForce(const Matcher& m, const TokenTrie& trie) {
  std::vector<uint32_t> mask(trie.num_mask_words());
  m.FillMask(mask.data());
  for (int32_t id = 0; id < trie.num_vocab(); ++id) {
    const bool in_mask = (mask[id >> 5] >> (id & 31)) & 1;
    const bool expected = trie.IsEos(id)
                              ? m.IsAccepting()
                              : !trie.piece(id).empty() && m.AcceptsBytes(trie.piece(id));
    ASSERT_EQ(in_mask, expected) << "token " << id << " \"" << trie.piece(id) << "\"";
  }
}

// Walks `ids` through a fresh matcher (checking every mask by brute force when `check_masks`);
// true when every token was allowed and the grammar may end after the last.
inline bool Accepts(std::shared_ptr<const CompiledGrammar> g, const TokenTrie& trie,
                    const std::vector<int32_t>& ids, bool check_masks) {
  Matcher m(std::move(g), &trie);
  std::vector<uint32_t> mask(trie.num_mask_words());
  for (const int32_t id : ids) {
    if (check_masks) ExpectMaskMatchesBruteForce(m, trie);
    m.FillMask(mask.data());
    const bool in_mask = (mask[id >> 5] >> (id & 31)) & 1;
    const bool consumed = m.Consume(id);
    EXPECT_EQ(in_mask, consumed) << "token " << id;
    if (!consumed) return false;
  }
  if (check_masks) ExpectMaskMatchesBruteForce(m, trie);
  return m.IsAccepting();
}

}  // namespace gs::grammar::testing
