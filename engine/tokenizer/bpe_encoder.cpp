#include "engine/tokenizer/bpe_encoder.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

namespace gs {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";     // U+2581 LOWER ONE EIGHTH BLOCK
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

void AppendCodePoint(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Bytes of the character a lead byte starts. Only applied to ValidateLikeLlamaCpp's output,
// where every lead byte is followed by exactly the continuation bytes it announces.
size_t Utf8CharBytes(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

}  // namespace

void ValidateLikeLlamaCpp(std::string_view text, bool escape_spaces, std::string& out) {
  const size_t num_bytes = text.size();
  for (size_t i = 0; i < num_bytes;) {
    const uint8_t lead = static_cast<uint8_t>(text[i]);
    if (lead < 0x80) {
      if (lead == ' ' && escape_spaces) {
        out += kEscapedSpace;
      } else {
        out += static_cast<char>(lead);
      }
      ++i;
      continue;
    }
    // The length comes from the lead byte alone (llama.cpp does not check the ranges that rule
    // out overlong forms and surrogates); 0x80-0xBF and 0xF8-0xFF start nothing.
    size_t num_char_bytes = 0;
    uint32_t code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      num_char_bytes = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      num_char_bytes = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      num_char_bytes = 4;
      code_point = lead & 0x07;
    }
    bool decoded = num_char_bytes > 0 && i + num_char_bytes <= num_bytes;
    for (size_t k = 1; decoded && k < num_char_bytes; ++k) {
      const uint8_t next = static_cast<uint8_t>(text[i + k]);
      decoded = (next & 0xC0) == 0x80;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    if (!decoded || code_point > 0x10FFFF) {
      out += kReplacementChar;
      ++i;
      continue;
    }
    AppendCodePoint(code_point, out);
    i += num_char_bytes;
  }
}

struct BpeEncoder::Symbol {
  uint32_t start;
  uint32_t num_bytes;
  int32_t piece;     // -1: a text no merge involves
  int32_t prev_idx;  // -1: none
  int32_t next_idx;  // -1: none
};

struct BpeEncoder::Candidate {
  int32_t rank;
  int32_t left_idx;
  int32_t right_idx;
  uint32_t num_bytes;  // of the merged text when the candidate was made
  int32_t result_piece;
};

namespace {

// Heap order: the earliest merge first, then the leftmost pair (llama.cpp's tie-breaking).
template <typename Candidate>
bool LaterMerge(const Candidate& a, const Candidate& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left_idx > b.left_idx);
}

}  // namespace

StatusOr<BpeEncoder> BpeEncoder::Build(int32_t num_tokens, const TextToId& text_to_id,
                                       std::span<const std::string> merges,
                                       size_t max_merge_bytes) {
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 4)) {
    return Status::Error("tokenizer: too many merges (" + std::to_string(merges.size()) + ")");
  }
  BpeEncoder encoder(num_tokens, text_to_id);
  // At most half full, so a probe sequence stays short.
  const size_t num_slots = std::bit_ceil(std::max<size_t>(16, 2 * merges.size()));
  encoder.slots_.assign(num_slots, MergeSlot{kEmptyKey, 0, 0});
  encoder.slot_shift_ = 64 - std::countr_zero(num_slots);

  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view merge = merges[rank];
    if (merge.size() > max_merge_bytes) {
      return Status::Error("tokenizer: merge " + std::to_string(rank) + " is " +
                           std::to_string(merge.size()) + " bytes long");
    }
    const size_t space_pos = merge.find(' ', 1);
    if (space_pos == std::string_view::npos || space_pos + 1 == merge.size()) continue;
    const std::string_view left = merge.substr(0, space_pos);
    const std::string_view right = merge.substr(space_pos + 1);
    joined.assign(left).append(right);
    const int32_t left_piece = encoder.InternPiece(left);
    const int32_t right_piece = encoder.InternPiece(right);
    const int32_t result_piece = encoder.InternPiece(joined);
    if (left_piece < 0 || right_piece < 0 || result_piece < 0) {
      return Status::Error("tokenizer: too many distinct merge texts");
    }
    encoder.InsertMerge(left_piece, right_piece, static_cast<int32_t>(rank), result_piece);
  }
  return encoder;
}

int32_t BpeEncoder::FindPiece(std::string_view text) const {
  if (const auto it = text_to_id_->find(text); it != text_to_id_->end()) return it->second;
  if (extra_pieces_.empty()) return -1;
  const auto it = extra_pieces_.find(std::string(text));
  return it == extra_pieces_.end() ? -1 : it->second;
}

int32_t BpeEncoder::InternPiece(std::string_view text) {
  if (const int32_t piece = FindPiece(text); piece >= 0) return piece;
  const size_t piece = static_cast<size_t>(num_tokens_) + extra_pieces_.size();
  if (piece >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) return -1;
  extra_pieces_.emplace(std::string(text), static_cast<int32_t>(piece));
  return static_cast<int32_t>(piece);
}

size_t BpeEncoder::SlotIndex(uint64_t key) const {
  // Fibonacci hashing: the top bits of the product mix both piece ids.
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> slot_shift_);
}

void BpeEncoder::InsertMerge(int32_t left_piece, int32_t right_piece, int32_t rank,
                             int32_t result_piece) {
  const uint64_t key =
      (uint64_t{static_cast<uint32_t>(left_piece)} << 32) | static_cast<uint32_t>(right_piece);
  const size_t mask = slots_.size() - 1;
  for (size_t idx = SlotIndex(key);; idx = (idx + 1) & mask) {
    MergeSlot& slot = slots_[idx];
    if (slot.key == key) return;  // listed before: the first rank stands
    if (slot.key == kEmptyKey) {
      slot = {key, rank, result_piece};
      ++num_merges_;
      return;
    }
  }
}

const BpeEncoder::MergeSlot* BpeEncoder::FindMerge(int32_t left_piece, int32_t right_piece) const {
  const uint64_t key =
      (uint64_t{static_cast<uint32_t>(left_piece)} << 32) | static_cast<uint32_t>(right_piece);
  const size_t mask = slots_.size() - 1;
  for (size_t idx = SlotIndex(key);; idx = (idx + 1) & mask) {
    const MergeSlot& slot = slots_[idx];
    if (slot.key == key) return &slot;
    if (slot.key == kEmptyKey) return nullptr;
  }
}

void BpeEncoder::Encode(std::string_view fragment, std::span<const int32_t, 256> byte_ids,
                        std::vector<int32_t>& out) const {
  std::string text;
  text.reserve(fragment.size() + fragment.size() / 2);
  ValidateLikeLlamaCpp(fragment, /*escape_spaces=*/true, text);
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  for (size_t begin = 0; begin < text.size();) {
    const bool is_newline = text[begin] == '\n';
    size_t end = begin + 1;
    while (end < text.size() && (text[end] == '\n') == is_newline) ++end;
    const std::string_view word = std::string_view(text).substr(begin, end - begin);
    // A run of newlines that is a token stays whole even where merges would split it
    // differently (llama.cpp's Gemma 4 rule; the merges reach only some run lengths).
    const auto it = is_newline ? text_to_id_->find(word) : text_to_id_->end();
    if (it != text_to_id_->end()) {
      out.push_back(it->second);
    } else {
      EncodeWord(word, byte_ids, symbols, heap, out);
    }
    begin = end;
  }
}

void BpeEncoder::EncodeWord(std::string_view word, std::span<const int32_t, 256> byte_ids,
                            std::vector<Symbol>& symbols, std::vector<Candidate>& heap,
                            std::vector<int32_t>& out) const {
  symbols.clear();
  heap.clear();
  for (size_t start = 0; start < word.size();) {
    const size_t num_bytes =
        std::min(Utf8CharBytes(static_cast<uint8_t>(word[start])), word.size() - start);
    const int32_t idx = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(num_bytes),
                       FindPiece(word.substr(start, num_bytes)), idx - 1,
                       start + num_bytes == word.size() ? -1 : idx + 1});
    start += num_bytes;
  }

  const auto add_candidate = [&](int32_t left_idx, int32_t right_idx) {
    if (left_idx < 0 || right_idx < 0) return;
    const Symbol& left = symbols[left_idx];
    const Symbol& right = symbols[right_idx];
    if (left.piece < 0 || right.piece < 0) return;
    const MergeSlot* merge = FindMerge(left.piece, right.piece);
    if (merge == nullptr) return;
    heap.push_back(
        {merge->rank, left_idx, right_idx, left.num_bytes + right.num_bytes, merge->result_piece});
    std::push_heap(heap.begin(), heap.end(), LaterMerge<Candidate>);
  };
  for (int32_t idx = 1; idx < static_cast<int32_t>(symbols.size()); ++idx) {
    add_candidate(idx - 1, idx);
  }

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterMerge<Candidate>);
    const Candidate best = heap.back();
    heap.pop_back();
    Symbol& left = symbols[best.left_idx];
    Symbol& right = symbols[best.right_idx];
    // Stale test (llama.cpp compares the texts; lengths suffice): a symbol only grows by
    // absorbing its right neighbour and reaches length 0 exactly when it is absorbed, so equal
    // lengths mean both sides are unchanged and still adjacent.
    if (left.num_bytes == 0 || right.num_bytes == 0 ||
        left.num_bytes + right.num_bytes != best.num_bytes) {
      continue;
    }
    left.num_bytes += right.num_bytes;
    left.piece = best.result_piece;
    right.num_bytes = 0;
    left.next_idx = right.next_idx;
    if (right.next_idx >= 0) symbols[right.next_idx].prev_idx = best.left_idx;
    add_candidate(left.prev_idx, best.left_idx);
    add_candidate(best.left_idx, left.next_idx);
  }

  for (int32_t idx = symbols.empty() ? -1 : 0; idx >= 0; idx = symbols[idx].next_idx) {
    const Symbol& symbol = symbols[idx];
    if (symbol.piece >= 0 && symbol.piece < num_tokens_) {
      out.push_back(symbol.piece);
      continue;
    }
    for (char c : word.substr(symbol.start, symbol.num_bytes)) {
      const int32_t byte_id = byte_ids[static_cast<uint8_t>(c)];
      if (byte_id >= 0) out.push_back(byte_id);
    }
  }
}

}  // namespace gs
