// Gemma 4's BPE encoding of one special-free fragment of text, as llama.cpp runs it for
// tokenizer.ggml.model = "gemma4" (pre-tokenizer "gemma4"):
//  1. Every ASCII space becomes U+2581; then the bytes are decoded into code points the way
//     llama.cpp decodes them and encoded again (ValidateLikeLlamaCpp below), so ill-formed
//     bytes become U+FFFD before any token is looked up.
//  2. The text is cut into words: maximal runs of '\n' and maximal runs of anything else. There
//     is no other pre-splitting, so a word can be the whole fragment.
//  3. A word made only of newlines that is itself a token is that token. Any other word starts
//     as one symbol per character and repeatedly merges the adjacent pair whose merge comes
//     first in tokenizer.ggml.merges (ties: the leftmost pair), until no pair has a merge.
//  4. Each final symbol that is a token is emitted; any other (a character missing from the
//     vocabulary, or a merge result that is not a token) is emitted as its bytes' <0xXX> tokens,
//     a byte without one being dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/status.h"

namespace gs {

// Appends `text` to `out` as llama.cpp's decoder sees it: a lead byte followed by the
// continuation bytes it announces is one code point, written back in its shortest form (so an
// overlong form shrinks; surrogates pass through), and any other byte (a stray continuation, a
// truncated or interrupted sequence, 0xF8-0xFF) is one U+FFFD, decoding going on at the next
// byte. A four-byte form above U+10FFFF, which llama.cpp accepts and then throws on when writing
// it back, is treated here like the other undecodable leads. Every ASCII space is written as
// U+2581 when `escape_spaces`. The output is at most three times the input.
void ValidateLikeLlamaCpp(std::string_view text, bool escape_spaces, std::string& out);

class BpeEncoder {
 public:
  using TextToId = std::unordered_map<std::string_view, int32_t>;

  // `text_to_id` is the tokenizer's (the first id of each of its num_tokens texts) and must
  // outlive the encoder. Each merge is "left right", split at the first space after
  // the first byte; one without a space or with an empty side can never apply and is skipped.
  // A pair listed twice keeps its first rank. Errors: a merge longer than `max_merge_bytes`.
  static StatusOr<BpeEncoder> Build(int32_t num_tokens, const TextToId& text_to_id,
                                    std::span<const std::string> merges, size_t max_merge_bytes);

  // Appends the tokens of one special-free fragment (steps 1-4 above). byte_ids[b] is the
  // <0xXX> token of byte b, or -1.
  void Encode(std::string_view fragment, std::span<const int32_t, 256> byte_ids,
              std::vector<int32_t>& out) const;

  size_t num_merges() const { return num_merges_; }

 private:
  // Which merge, if any, joins two pieces. Pieces are the texts merges speak of: a token's text
  // is known by its token id, the other merge parts and results by ids from num_tokens up.
  struct MergeSlot {
    uint64_t key;  // kEmptyKey: free
    int32_t rank;
    int32_t result_piece;
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};

  // One symbol of the word being merged; num_bytes == 0 once merged into its left neighbour.
  struct Symbol;
  // A possible merge of two adjacent symbols; stale once either side has changed length.
  struct Candidate;

  BpeEncoder(int32_t num_tokens, const TextToId& text_to_id)
      : text_to_id_(&text_to_id), num_tokens_(num_tokens) {}
  int32_t FindPiece(std::string_view text) const;
  int32_t InternPiece(std::string_view text);
  void InsertMerge(int32_t left_piece, int32_t right_piece, int32_t rank, int32_t result_piece);
  const MergeSlot* FindMerge(int32_t left_piece, int32_t right_piece) const;
  size_t SlotIndex(uint64_t key) const;
  // Steps 3-4 for one word; `symbols` and `heap` are scratch reused across words.
  void EncodeWord(std::string_view word, std::span<const int32_t, 256> byte_ids,
                  std::vector<Symbol>& symbols, std::vector<Candidate>& heap,
                  std::vector<int32_t>& out) const;

  const TextToId* text_to_id_;
  int32_t num_tokens_;
  size_t num_merges_ = 0;
  // Merge parts and results that are no token (none in Gemma 4's vocabulary), by piece id.
  std::unordered_map<std::string, int32_t> extra_pieces_;
  // Open addressing with linear probing, at most half full; size a power of two.
  std::vector<MergeSlot> slots_;
  int slot_shift_ = 64;
};

}  // namespace gs
