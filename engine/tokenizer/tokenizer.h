// The two tokenizers Gemma GGUFs carry, reproducing llama.cpp's token ids exactly:
//  - Gemma 3's SentencePiece-style tokenizer (tokenizer.ggml.model = "llama";
//    llama.cpp's llm_tokenizer_spm): spaces as U+2581, best-score bigram merges, byte fallback.
//  - Gemma 4's BPE tokenizer (tokenizer.ggml.model = "gemma4", or "llama" with
//    tokenizer.ggml.pre = "gemma4" and merges, as some converters write it): spaces as U+2581,
//    merges by rank over newline-separated words, <0xXX> byte fallback (bpe_encoder.h).
// Both first split special and user-defined tokens out of the text, longest first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/status.h"
#include "engine/tokenizer/bpe_encoder.h"

namespace gs {

class GgufFile;

enum class TokenizerModel {
  kSentencePiece,  // Gemma 3
  kGemma4Bpe,      // Gemma 4
};

enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything the tokenizer needs, as read from metadata (or built by hand in tests).
struct Vocab {
  TokenizerModel model = TokenizerModel::kSentencePiece;
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty: all 0; unused by kGemma4Bpe
  std::vector<TokenType> types;     // empty: all normal
  std::vector<std::string> merges;  // kGemma4Bpe only: "left right", earliest applies first
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;  // end of turn, when the file names one
  int32_t eom_id = -1;  // end of message, likewise; both end generation like EOS
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // kSentencePiece only (and Decode's leading-space strip)
};

// The tokenizer for a file's tokenizer.ggml.model and .pre (empty when absent): "llama" is
// SentencePiece unless pre is "gemma4" and the file has merges; "gemma4" is Gemma 4's BPE. Any
// other model is an error naming it.
StatusOr<TokenizerModel> ResolveTokenizerModel(std::string_view model, std::string_view pre,
                                               bool has_merges);

class Tokenizer {
 public:
  // Longest text Encode accepts; callers (the HTTP layer) reject longer input before encoding.
  // Escaping spaces (and, for Gemma 4, reading ill-formed bytes as U+FFFD) can triple a
  // fragment, which must still fit the uint32 offsets used inside.
  static constexpr size_t kMaxTextBytes = size_t{256} << 20;

  // Reads the tokenizer.ggml.* keys; refuses models it cannot tokenize exactly.
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);
  // Validates and normalises `vocab`: out-of-range special ids
  // become -1, empty texts become "[EMPTY_<id>]", malformed byte tokens become normal ones,
  // known end markers become control tokens (but a "</s>" beside Gemma 4's "<|tool_response>"
  // becomes a normal token, as llama.cpp has it). Errors: no tokens, short scores/types, a text
  // or merge over 64 KiB, add_bos/add_eos without a valid id.
  static StatusOr<std::unique_ptr<Tokenizer>> FromVocab(Vocab vocab);

  // text_to_id_ holds views into vocab_.tokens, so a copy would dangle.
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text -> ids. add_special: BOS/EOS as the vocabulary says. parse_special: control-token
  // texts in `text` become those tokens (user-defined tokens are always split out). Any bytes
  // are accepted; kGemma4Bpe reads ill-formed UTF-8 as U+FFFD, as llama.cpp does.
  // Precondition: text.size() <= kMaxTextBytes. Thread-safe (const, no shared scratch).
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes one token stands for. render_special: control tokens as their text, else empty.
  // An id outside the vocabulary gives an empty piece.
  std::string TokenToPiece(int32_t id, bool render_special) const;
  std::string Decode(std::span<const int32_t> ids, bool render_special) const;

  TokenizerModel model() const { return vocab_.model; }
  int32_t num_vocab() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  // End-of-generation ids: EOS, EOT and EOM plus end markers found by text (<end_of_turn>,
  // Gemma 4's <turn|> and <|tool_response>, ...), ascending.
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }
  bool IsEog(int32_t id) const;
  std::optional<int32_t> FindToken(std::string_view text) const;
  const std::string& TokenText(int32_t id) const { return vocab_.tokens[id]; }
  TokenType Type(int32_t id) const;

 private:
  // A special token found in the text being encoded: its start and its id.
  struct SpecialMatch {
    size_t pos;
    int32_t id;
  };
  // A node of the trie over special-token texts. The ranks are indices into special_ids_ of the
  // highest-priority special whose text ends at this node: among all of them (parse_special)
  // and among the user-defined ones (always split out); -1 where none. Its children are
  // trie_edge_bytes_/trie_edge_nodes_[first_edge, first_edge + num_edges).
  struct TrieNode {
    int32_t rank_any = -1;
    int32_t rank_user = -1;
    uint32_t first_edge = 0;
    uint32_t num_edges = 0;
  };

  explicit Tokenizer(Vocab vocab);
  Status Init();
  void BuildSpecialTrie();
  int32_t TrieChild(int32_t node_idx, uint8_t byte) const;
  // The special tokens llama.cpp's longest-first partition splits out of `text`, by position.
  std::vector<SpecialMatch> FindSpecials(std::string_view text, bool parse_special) const;
  // Best-score bigram merging of one special-free fragment, spaces already escaped.
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const;
  void MarkEndOfGeneration();

  Vocab vocab_;
  std::unordered_map<std::string_view, int32_t> text_to_id_;
  std::vector<int32_t> special_ids_;  // split-out candidates, longest text first
  std::vector<int32_t> eog_ids_;
  std::optional<BpeEncoder> bpe_;  // kGemma4Bpe only; refers to text_to_id_
  // The token each byte falls back to, -1 for none (then the byte is dropped).
  int32_t byte_ids_[256];
  std::vector<TrieNode> trie_nodes_;  // [0] is the root (the empty prefix)
  std::vector<uint8_t> trie_edge_bytes_;
  std::vector<int32_t> trie_edge_nodes_;
};

}  // namespace gs
