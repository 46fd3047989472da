// Gemma 3's SentencePiece-style tokenizer as GGUF stores it (tokenizer.ggml.model = "llama"),
// reproducing llama.cpp's token ids exactly (gguf-quant-tokenizer.md §8): special and
// user-defined tokens split out of the text first, spaces as U+2581, best-score bigram merges,
// byte fallback. Gemma 4's BPE tokenizer ("gemma4") is detected and refused for now.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/status.h"

namespace gs {

class GgufFile;

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5,
  kByte = 6,
};

// Everything the tokenizer needs, as read from metadata (or built by hand in tests).
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;     // empty: all 0
  std::vector<TokenType> types;  // empty: all normal
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
};

class Tokenizer {
 public:
  // Reads the tokenizer.ggml.* keys; refuses models it cannot tokenize exactly.
  static StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);
  static StatusOr<std::unique_ptr<Tokenizer>> FromVocab(Vocab vocab);

  // Text -> ids. add_special: BOS/EOS as the vocabulary says. parse_special: control-token
  // texts in `text` become those tokens (user-defined tokens are always split out).
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes one token stands for. render_special: control tokens as their text, else empty.
  std::string TokenToPiece(int32_t id, bool render_special) const;
  std::string Decode(std::span<const int32_t> ids, bool render_special) const;

  int32_t num_vocab() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  // End-of-generation ids: EOS plus end-of-turn markers found by text (<end_of_turn>, ...).
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }
  bool IsEog(int32_t id) const;
  std::optional<int32_t> FindToken(std::string_view text) const;
  const std::string& TokenText(int32_t id) const { return vocab_.tokens[id]; }
  TokenType Type(int32_t id) const;

 private:
  explicit Tokenizer(Vocab vocab);
  Status Init();

  Vocab vocab_;
  std::unordered_map<std::string_view, int32_t> text_to_id_;
  std::vector<int32_t> special_ids_;  // split-out candidates, longest text first
  std::vector<int32_t> eog_ids_;
  int32_t byte_ids_[256];
};

}  // namespace gs
