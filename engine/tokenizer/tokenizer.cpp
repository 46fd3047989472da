#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "engine/gguf/gguf_file.h"

namespace gs {
namespace {

// Longer texts mean a corrupt or hostile vocabulary (CVE-2025-49847); Gemma's longest is 48.
constexpr size_t kMaxTokenTextBytes = 64 * 1024;

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Texts llama.cpp treats as end of generation whatever type the file gives them; it forces them
// to CONTROL, which also changes how they split and render. Gemma 3 has <eos>, <end_of_turn>
// and a user-defined </s> (which therefore is not split out without parse_special).
constexpr std::string_view kEndMarkers[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>",  // DeepSeek
    "[e~[",
};

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a byte token: exactly "<0x" + two uppercase hex digits + ">" (llama.cpp#25969).
std::optional<uint8_t> ParseByteToken(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return std::nullopt;
  const int hi = HexDigitValue(text[3]);
  const int lo = HexDigitValue(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// Bytes of the UTF-8 character a lead byte announces, as llama.cpp splits SPM symbols: stray
// continuation bytes stand alone and invalid lead bytes still claim their length.
size_t Utf8SymbolBytes(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

bool IsSpecialType(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUserDefined ||
         type == TokenType::kUnknown;
}

TokenType TokenTypeFromInt(int32_t value) {
  if (value < static_cast<int32_t>(TokenType::kNormal) ||
      value > static_cast<int32_t>(TokenType::kByte)) {
    return TokenType::kUndefined;
  }
  return static_cast<TokenType>(value);
}

// One UTF-8 character (or a stray byte) of the fragment being merged; num_bytes == 0 once it
// has been merged into its left neighbour. Symbols of the live chain are contiguous in the text.
struct Symbol {
  uint32_t start;
  uint32_t num_bytes;
  int32_t prev_idx;  // -1: none
  int32_t next_idx;  // -1: none
};

// A possible merge of two adjacent symbols; stale once either side has changed length.
struct Candidate {
  float score;
  int32_t left_idx;
  int32_t right_idx;
  uint32_t num_bytes;  // of the merged text when the candidate was made
};

// Heap order: highest score first, then the leftmost pair (llama.cpp's tie-breaking).
bool LowerPriority(const Candidate& a, const Candidate& b) {
  return a.score < b.score || (a.score == b.score && a.left_idx > b.left_idx);
}

// Reads an optional id key with llama.cpp's rule: absent or out of range keeps the default.
int32_t ReadTokenId(const GgufFile& file, std::string_view key, int32_t default_id,
                    size_t num_tokens) {
  const std::optional<int64_t> value = file.GetInt(key);
  if (!value || *value < 0 || static_cast<uint64_t>(*value) >= num_tokens) return default_id;
  return static_cast<int32_t>(*value);
}

}  // namespace

StatusOr<TokenizerModel> ResolveTokenizerModel(std::string_view model, std::string_view pre,
                                               bool has_merges) {
  if (model == "gemma4") return TokenizerModel::kGemma4Bpe;
  if (model == "none" || model == "no_vocab") {
    return Status::Error("the file has no vocabulary (tokenizer.ggml.model \"" +
                         std::string(model) +
                         "\", as `gemma-serve synth` writes): it can be benchmarked, not served");
  }
  if (model == "llama") {
    // Some converters label Gemma 4's tokenizer "llama" and tell it apart only by the
    // pre-tokenizer; without merges it could not be BPE, so it stays SentencePiece.
    return pre == "gemma4" && has_merges ? TokenizerModel::kGemma4Bpe
                                         : TokenizerModel::kSentencePiece;
  }
  return Status::Error("tokenizer model \"" + std::string(model) +
                       "\" is not supported; only SentencePiece (\"llama\") and Gemma 4's BPE "
                       "(\"gemma4\") are");
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  const std::optional<std::string_view> model_name = file.GetString("tokenizer.ggml.model");
  if (!model_name) return Status::Error("tokenizer.ggml.model is missing or not a string");
  const std::string_view pre = file.GetString("tokenizer.ggml.pre").value_or("");
  const bool has_merges = file.Find("tokenizer.ggml.merges") != nullptr;
  const StatusOr<TokenizerModel> model = ResolveTokenizerModel(*model_name, pre, has_merges);
  if (!model.ok()) return model.status();
  const bool bpe = model.value() == TokenizerModel::kGemma4Bpe;

  const std::optional<std::vector<std::string_view>> tokens =
      file.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens) return Status::Error("tokenizer.ggml.tokens is missing or not a string array");
  Vocab vocab;
  vocab.model = model.value();
  vocab.tokens.assign(tokens->begin(), tokens->end());
  const size_t num_tokens = vocab.tokens.size();

  // Element types are checked before any element is read (llama.cpp#26690); lengths in Init.
  if (file.Find("tokenizer.ggml.scores") != nullptr) {
    std::optional<std::vector<float>> scores = file.GetFloatArray("tokenizer.ggml.scores");
    if (!scores) return Status::Error("tokenizer.ggml.scores must be an f32 or i32 array");
    vocab.scores = std::move(*scores);
  }
  if (file.Find("tokenizer.ggml.token_type") != nullptr) {
    const std::optional<std::vector<int32_t>> types = file.GetIntArray("tokenizer.ggml.token_type");
    if (!types) return Status::Error("tokenizer.ggml.token_type must be an integer array");
    vocab.types.reserve(types->size());
    for (int32_t type : *types) vocab.types.push_back(TokenTypeFromInt(type));
  }
  if (bpe) {
    if (!has_merges) return Status::Error("tokenizer.ggml.merges is missing (Gemma 4 BPE)");
    const std::optional<std::vector<std::string_view>> merges =
        file.GetStringArray("tokenizer.ggml.merges");
    if (!merges) return Status::Error("tokenizer.ggml.merges must be a string array");
    vocab.merges.assign(merges->begin(), merges->end());
  }

  // llama.cpp's defaults: SentencePiece's ids, none for Gemma 4 (its files set every one).
  vocab.bos_id = ReadTokenId(file, "tokenizer.ggml.bos_token_id", bpe ? -1 : 1, num_tokens);
  vocab.eos_id = ReadTokenId(file, "tokenizer.ggml.eos_token_id", bpe ? -1 : 2, num_tokens);
  vocab.unk_id = ReadTokenId(file, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0, num_tokens);
  vocab.pad_id = ReadTokenId(file, "tokenizer.ggml.padding_token_id", -1, num_tokens);
  vocab.eot_id = ReadTokenId(file, "tokenizer.ggml.eot_token_id", -1, num_tokens);
  vocab.eom_id = ReadTokenId(file, "tokenizer.ggml.eom_token_id", -1, num_tokens);
  // Gemma 4 always starts with BOS: llama.cpp overrides a false add_bos_token for it.
  vocab.add_bos = bpe || file.GetBool("tokenizer.ggml.add_bos_token").value_or(true);
  vocab.add_eos = file.GetBool("tokenizer.ggml.add_eos_token").value_or(false);
  vocab.add_space_prefix = file.GetBool("tokenizer.ggml.add_space_prefix").value_or(!bpe);
  return FromVocab(std::move(vocab));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromVocab(Vocab vocab) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(vocab)));
  GS_RETURN_IF_ERROR(tokenizer->Init());
  return tokenizer;
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

Status Tokenizer::Init() {
  const size_t num_tokens = vocab_.tokens.size();
  if (num_tokens == 0) return Status::Error("tokenizer: the vocabulary has no tokens");
  if (num_tokens > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::Error("tokenizer: too many tokens for int32 ids");
  }
  if (!vocab_.scores.empty() && vocab_.scores.size() < num_tokens) {
    return Status::Error("tokenizer: " + std::to_string(vocab_.scores.size()) + " scores for " +
                         std::to_string(num_tokens) + " tokens");
  }
  if (!vocab_.types.empty() && vocab_.types.size() < num_tokens) {
    return Status::Error("tokenizer: " + std::to_string(vocab_.types.size()) + " token types for " +
                         std::to_string(num_tokens) + " tokens");
  }
  vocab_.scores.resize(num_tokens, 0.0f);
  vocab_.types.resize(num_tokens, TokenType::kNormal);
  for (size_t id = 0; id < num_tokens; ++id) {
    // NaN would break the merge heap's ordering; make it the lowest priority instead.
    if (std::isnan(vocab_.scores[id])) {
      vocab_.scores[id] = -std::numeric_limits<float>::infinity();
    }
    vocab_.types[id] = TokenTypeFromInt(static_cast<int32_t>(vocab_.types[id]));
    std::string& text = vocab_.tokens[id];
    if (text.size() > kMaxTokenTextBytes) {
      return Status::Error("tokenizer: token " + std::to_string(id) + " is " +
                           std::to_string(text.size()) + " bytes long");
    }
    // An empty special text would match everywhere.
    if (text.empty()) text = "[EMPTY_" + std::to_string(id) + "]";
    if (vocab_.types[id] == TokenType::kByte && !ParseByteToken(text)) {
      vocab_.types[id] = TokenType::kNormal;
    }
  }

  const auto valid_or_none = [num_tokens](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < num_tokens ? id : -1;
  };
  vocab_.bos_id = valid_or_none(vocab_.bos_id);
  vocab_.eos_id = valid_or_none(vocab_.eos_id);
  vocab_.unk_id = valid_or_none(vocab_.unk_id);
  vocab_.pad_id = valid_or_none(vocab_.pad_id);
  vocab_.eot_id = valid_or_none(vocab_.eot_id);
  vocab_.eom_id = valid_or_none(vocab_.eom_id);
  if (vocab_.add_bos && vocab_.bos_id < 0) {
    return Status::Error("tokenizer: add_bos_token is set but there is no valid BOS id");
  }
  if (vocab_.add_eos && vocab_.eos_id < 0) {
    return Status::Error("tokenizer: add_eos_token is set but there is no valid EOS id");
  }

  // vocab_.tokens is final from here on: text_to_id_ views into its strings. Duplicate texts
  // (official Gemma 4 QAT files have some) keep their first id.
  text_to_id_.reserve(num_tokens);
  for (size_t id = 0; id < num_tokens; ++id) {
    text_to_id_.emplace(vocab_.tokens[id], static_cast<int32_t>(id));
  }

  MarkEndOfGeneration();

  // Byte fallback as llama.cpp resolves it. SentencePiece: the <0xXX> text whatever its type,
  // else the one-byte text, else (where llama.cpp would throw) UNK. Gemma 4: the <0xXX> text
  // only. -1 drops the byte.
  for (int byte = 0; byte < 256; ++byte) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const std::string byte_text = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
    std::optional<int32_t> id = FindToken(byte_text);
    if (vocab_.model == TokenizerModel::kGemma4Bpe) {
      byte_ids_[byte] = id.value_or(-1);
      continue;
    }
    if (!id) id = FindToken(std::string(1, static_cast<char>(byte)));
    byte_ids_[byte] = id.value_or(vocab_.unk_id);
  }

  if (vocab_.model == TokenizerModel::kGemma4Bpe) {
    StatusOr<BpeEncoder> bpe = BpeEncoder::Build(static_cast<int32_t>(num_tokens), text_to_id_,
                                                 vocab_.merges, kMaxTokenTextBytes);
    if (!bpe.ok()) return bpe.status();
    bpe_.emplace(std::move(bpe).value());
  }
  // The encoder keeps what it needs of the merges (~10 MB of text for Gemma 4).
  vocab_.merges = {};

  for (size_t id = 0; id < num_tokens; ++id) {
    if (IsSpecialType(vocab_.types[id])) special_ids_.push_back(static_cast<int32_t>(id));
  }
  // llama.cpp sorts by length only (unstably); ties are broken by id here for determinism. The
  // order within one length matters only where two equal-length specials overlap, which no
  // Gemma 3 vocabulary has.
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [this](int32_t a, int32_t b) {
    return vocab_.tokens[a].size() > vocab_.tokens[b].size();
  });
  BuildSpecialTrie();
  return Status::Ok();
}

void Tokenizer::BuildSpecialTrie() {
  // Built with a child list per node, then flattened: a lookup scans one short byte array
  // (Gemma's specials start with one of five bytes; the widest node, after '<', has ~30).
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> children(1);
  trie_nodes_.assign(1, TrieNode{});
  for (size_t rank = 0; rank < special_ids_.size(); ++rank) {
    const int32_t id = special_ids_[rank];
    int32_t node_idx = 0;
    for (char c : vocab_.tokens[id]) {
      const uint8_t byte = static_cast<uint8_t>(c);
      const auto& kids = children[node_idx];
      const auto it = std::find_if(kids.begin(), kids.end(),
                                   [byte](const auto& kid) { return kid.first == byte; });
      if (it != kids.end()) {
        node_idx = it->second;
        continue;
      }
      const int32_t child_idx = static_cast<int32_t>(trie_nodes_.size());
      children[node_idx].emplace_back(byte, child_idx);
      children.emplace_back();
      trie_nodes_.emplace_back();
      node_idx = child_idx;
    }
    // Ranks ascend, so the first special to claim a node has the highest priority there.
    TrieNode& node = trie_nodes_[node_idx];
    if (node.rank_any < 0) node.rank_any = static_cast<int32_t>(rank);
    if (node.rank_user < 0 && vocab_.types[id] == TokenType::kUserDefined) {
      node.rank_user = static_cast<int32_t>(rank);
    }
  }
  for (size_t node_idx = 0; node_idx < trie_nodes_.size(); ++node_idx) {
    trie_nodes_[node_idx].first_edge = static_cast<uint32_t>(trie_edge_bytes_.size());
    trie_nodes_[node_idx].num_edges = static_cast<uint32_t>(children[node_idx].size());
    for (const auto& [byte, child_idx] : children[node_idx]) {
      trie_edge_bytes_.push_back(byte);
      trie_edge_nodes_.push_back(child_idx);
    }
  }
}

int32_t Tokenizer::TrieChild(int32_t node_idx, uint8_t byte) const {
  const TrieNode& node = trie_nodes_[node_idx];
  const uint8_t* first = trie_edge_bytes_.data() + node.first_edge;
  const uint8_t* last = first + node.num_edges;
  const uint8_t* found = std::find(first, last, byte);
  return found == last ? -1 : trie_edge_nodes_[found - trie_edge_bytes_.data()];
}

// llama.cpp's partition takes the specials longest first and, for each, splits every occurrence
// out of the remaining text fragments, leftmost first. Doing that literally costs
// num_specials x text length (~6400 control tokens). Equivalent, in one pass over the text:
//  1. Collect every occurrence (rank, pos) of an active special with the trie.
//  2. Visit them in llama.cpp's order: by rank, then by position (a counting sort by rank of
//     the position-ordered scan). An occurrence is taken iff it overlaps nothing taken before,
//     which is exactly "lies inside one remaining fragment, after the previous match of the
//     same special".
//  3. The overlap test needs only the two end bytes: everything taken earlier is at least as
//     long as the current special (ranks go longest first), so it cannot sit strictly inside.
std::vector<Tokenizer::SpecialMatch> Tokenizer::FindSpecials(std::string_view text,
                                                             bool parse_special) const {
  struct Occurrence {
    int32_t rank;
    uint32_t pos;
  };
  std::vector<Occurrence> occurrences;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    int32_t node_idx = 0;
    for (size_t end = pos; end < text.size(); ++end) {
      node_idx = TrieChild(node_idx, static_cast<uint8_t>(text[end]));
      if (node_idx < 0) break;
      const TrieNode& node = trie_nodes_[node_idx];
      const int32_t rank = parse_special ? node.rank_any : node.rank_user;
      if (rank >= 0) occurrences.push_back({rank, static_cast<uint32_t>(pos)});
    }
  }
  std::vector<SpecialMatch> matches;
  if (occurrences.empty()) return matches;

  std::vector<uint32_t> rank_starts(special_ids_.size() + 1, 0);
  for (const Occurrence& o : occurrences) ++rank_starts[o.rank + 1];
  for (size_t rank = 0; rank < special_ids_.size(); ++rank) {
    rank_starts[rank + 1] += rank_starts[rank];
  }
  std::vector<uint32_t> sorted_pos(occurrences.size());
  for (const Occurrence& o : occurrences) sorted_pos[rank_starts[o.rank]++] = o.pos;
  // rank_starts[r] is now the end of rank r's run, i.e. the start of rank r + 1's.

  std::vector<uint8_t> taken(text.size(), 0);
  size_t run_begin = 0;
  for (size_t rank = 0; rank < special_ids_.size(); ++rank) {
    const size_t run_end = rank_starts[rank];
    const int32_t id = special_ids_[rank];
    const size_t num_bytes = vocab_.tokens[id].size();
    for (size_t i = run_begin; i < run_end; ++i) {
      const size_t pos = sorted_pos[i];
      if (taken[pos] || taken[pos + num_bytes - 1]) continue;
      std::fill_n(taken.begin() + pos, num_bytes, 1);
      matches.push_back({pos, id});
    }
    run_begin = run_end;
  }
  std::sort(matches.begin(), matches.end(),
            [](const SpecialMatch& a, const SpecialMatch& b) { return a.pos < b.pos; });
  return matches;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  GS_CHECK_MSG(text.size() <= kMaxTextBytes, "text longer than Tokenizer::kMaxTextBytes");
  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos_id);

  std::string escaped;
  bool prev_was_special = true;
  const auto encode_raw = [&](std::string_view raw) {
    if (bpe_) {
      bpe_->Encode(raw, byte_ids_, out);
      return;
    }
    escaped.clear();
    if (vocab_.add_space_prefix && prev_was_special) escaped += kEscapedSpace;
    for (char c : raw) {
      if (c == ' ') {
        escaped += kEscapedSpace;
      } else {
        escaped += c;
      }
    }
    EncodeFragment(escaped, out);
    prev_was_special = false;
  };

  size_t raw_begin = 0;
  for (const SpecialMatch& match : FindSpecials(text, parse_special)) {
    if (match.pos > raw_begin) encode_raw(text.substr(raw_begin, match.pos - raw_begin));
    out.push_back(match.id);
    prev_was_special = true;
    raw_begin = match.pos + vocab_.tokens[match.id].size();
  }
  if (raw_begin < text.size()) encode_raw(text.substr(raw_begin));

  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos_id);
  return out;
}

void Tokenizer::EncodeFragment(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  for (size_t start = 0; start < text.size();) {
    const size_t num_bytes =
        std::min(Utf8SymbolBytes(static_cast<uint8_t>(text[start])), text.size() - start);
    const int32_t idx = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(num_bytes), idx - 1,
                       start + num_bytes == text.size() ? -1 : idx + 1});
    start += num_bytes;
  }

  std::vector<Candidate> heap;
  const auto add_candidate = [&](int32_t left_idx, int32_t right_idx) {
    if (left_idx < 0 || right_idx < 0) return;
    const Symbol& left = symbols[left_idx];
    const uint32_t num_bytes = left.num_bytes + symbols[right_idx].num_bytes;
    const auto it = text_to_id_.find(text.substr(left.start, num_bytes));
    if (it == text_to_id_.end()) return;
    heap.push_back({vocab_.scores[it->second], left_idx, right_idx, num_bytes});
    std::push_heap(heap.begin(), heap.end(), LowerPriority);
  };
  for (int32_t idx = 1; idx < static_cast<int32_t>(symbols.size()); ++idx) {
    add_candidate(idx - 1, idx);
  }

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LowerPriority);
    const Candidate best = heap.back();
    heap.pop_back();
    Symbol& left = symbols[best.left_idx];
    Symbol& right = symbols[best.right_idx];
    // llama.cpp's staleness test: lengths only grow, and a symbol reaches length 0 exactly when
    // it is merged away, so equal lengths mean both sides are unchanged and still adjacent.
    if (left.num_bytes == 0 || right.num_bytes == 0 ||
        left.num_bytes + right.num_bytes != best.num_bytes) {
      continue;
    }
    left.num_bytes += right.num_bytes;
    right.num_bytes = 0;
    left.next_idx = right.next_idx;
    if (right.next_idx >= 0) symbols[right.next_idx].prev_idx = best.left_idx;
    add_candidate(left.prev_idx, best.left_idx);
    add_candidate(best.left_idx, left.next_idx);
  }

  // Merged symbols are vocabulary entries by construction; only single characters can be
  // missing, and those fall back to one token per byte.
  for (int32_t idx = symbols.empty() ? -1 : 0; idx >= 0; idx = symbols[idx].next_idx) {
    const std::string_view piece = text.substr(symbols[idx].start, symbols[idx].num_bytes);
    if (const auto it = text_to_id_.find(piece); it != text_to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : piece) {
      const int32_t byte_id = byte_ids_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

std::string Tokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (id < 0 || id >= num_vocab()) return {};
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.types[id]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      return render_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;
    case TokenType::kNormal: {
      std::string piece;
      piece.reserve(text.size());
      for (size_t i = 0; i < text.size();) {
        if (std::string_view(text).substr(i, kEscapedSpace.size()) == kEscapedSpace) {
          piece += ' ';
          i += kEscapedSpace.size();
        } else {
          piece += text[i++];
        }
      }
      return piece;
    }
    case TokenType::kByte:
      // Init demoted every byte token whose text does not parse.
      return std::string(1, static_cast<char>(*ParseByteToken(text)));
    case TokenType::kUnused:
    case TokenType::kUndefined:
      return {};
  }
  return {};
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool render_special) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = TokenToPiece(ids[i], render_special);
    // With a space prefix, encoding added one space the text did not have (llama.cpp strips it
    // from the first piece only).
    if (i == 0 && vocab_.add_space_prefix && !piece.empty() && piece[0] == ' ') {
      piece.erase(0, 1);
    }
    text += piece;
  }
  return text;
}

void Tokenizer::MarkEndOfGeneration() {
  for (std::string_view marker : kEndMarkers) {
    if (const std::optional<int32_t> id = FindToken(marker)) {
      vocab_.types[*id] = TokenType::kControl;
      eog_ids_.push_back(*id);
    }
  }
  for (const int32_t id : {vocab_.eos_id, vocab_.eot_id, vocab_.eom_id}) {
    if (id >= 0) eog_ids_.push_back(id);
  }
  // Gemma 4 has a plain-text "</s>": where "<|tool_response>" marks the vocabulary as Gemma 4's,
  // llama.cpp takes "</s>" off the end markers again and makes it a normal token (whatever its
  // file type), even if the file named it EOS.
  const std::optional<int32_t> tool_response_id = FindToken("<|tool_response>");
  const std::optional<int32_t> end_s_id = FindToken("</s>");
  if (tool_response_id && end_s_id) {
    vocab_.types[*end_s_id] = TokenType::kNormal;
    std::erase(eog_ids_, *end_s_id);
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
}

bool Tokenizer::IsEog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  const auto it = text_to_id_.find(text);
  if (it == text_to_id_.end()) return std::nullopt;
  return it->second;
}

TokenType Tokenizer::Type(int32_t id) const {
  if (id < 0 || id >= num_vocab()) return TokenType::kUndefined;
  return vocab_.types[id];
}

}  // namespace gs
