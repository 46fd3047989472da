#include "engine/grammar/token_trie.h"

#include <algorithm>
#include <numeric>

#include "engine/tokenizer/tokenizer.h"

namespace gs::grammar {
namespace {

constexpr size_t kMaxPieceBytes = 255;

// Characters in `piece` when it is only whole, well-formed UTF-8 characters other than '"',
// '\', controls, U+2028 and U+2029; -1 otherwise.
int SafeChars(const std::string& piece) {
  int num_chars = 0;
  for (size_t i = 0; i < piece.size();) {
    const auto b = static_cast<uint8_t>(piece[i]);
    int len = 0;
    uint8_t lo2 = 0x80, hi2 = 0xBF;  // the second byte's range (narrower after E0/ED/F0/F4)
    if (b < 0x80) {
      if (b < 0x20 || b == '"' || b == '\\') return -1;
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo2 = 0xA0;
      if (b == 0xED) hi2 = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo2 = 0x90;
      if (b == 0xF4) hi2 = 0x8F;
    } else {
      return -1;
    }
    if (i + len > piece.size()) return -1;
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<uint8_t>(piece[i + k]);
      const uint8_t lo = k == 1 ? lo2 : 0x80, hi = k == 1 ? hi2 : 0xBF;
      if (c < lo || c > hi) return -1;
    }
    // U+2028 and U+2029 (E2 80 A8/A9) are left out, as grammar.cpp's kSafeChar leaves them.
    if (b == 0xE2 && static_cast<uint8_t>(piece[i + 1]) == 0x80 &&
        (static_cast<uint8_t>(piece[i + 2]) == 0xA8 ||
         static_cast<uint8_t>(piece[i + 2]) == 0xA9)) {
      return -1;
    }
    i += len;
    ++num_chars;
  }
  return num_chars;
}

TrieArrays BuildTrie(const std::vector<std::string>& pieces, std::vector<int32_t> ids) {
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return pieces[a] != pieces[b] ? pieces[a] < pieces[b] : a < b;
  });
  TrieArrays t;
  std::vector<uint32_t> open;  // the current path's nodes, by depth - 1
  const std::string* prev = nullptr;
  for (const int32_t id : ids) {
    const std::string& p = pieces[id];
    size_t common = 0;
    if (prev != nullptr) {
      while (common < p.size() && common < prev->size() && p[common] == (*prev)[common]) ++common;
    }
    // Close the nodes deeper than the shared prefix.
    while (open.size() > common) {
      t.subtree_end[open.back()] = t.num_nodes();
      open.pop_back();
    }
    for (size_t k = common; k < p.size(); ++k) {
      open.push_back(t.num_nodes());
      t.byte.push_back(static_cast<uint8_t>(p[k]));
      t.depth.push_back(static_cast<uint8_t>(k + 1));
      t.subtree_end.push_back(0);
      t.token_begin.push_back(static_cast<uint32_t>(t.token_ids.size()));
      t.max_depth = std::max(t.max_depth, static_cast<int>(k + 1));
    }
    t.token_ids.push_back(id);
    prev = &p;
  }
  while (!open.empty()) {
    t.subtree_end[open.back()] = t.num_nodes();
    open.pop_back();
  }
  t.token_begin.push_back(static_cast<uint32_t>(t.token_ids.size()));
  return t;
}

}  // namespace

TokenTrie::TokenTrie(const std::vector<std::string>& pieces, std::vector<int32_t> eos_ids)
    : num_vocab_(static_cast<int32_t>(pieces.size())),
      pieces_(pieces),
      eos_ids_(std::move(eos_ids)) {
  std::sort(eos_ids_.begin(), eos_ids_.end());
  safe_mask_.assign(num_mask_words(), 0);
  std::vector<int32_t> all_ids, unsafe_ids;
  std::vector<int> safe_chars(num_vocab_, 0);
  for (int32_t id = 0; id < num_vocab_; ++id) {
    const std::string& p = pieces_[id];
    if (p.empty() || p.size() > kMaxPieceBytes) continue;
    all_ids.push_back(id);
    safe_chars[id] = SafeChars(p);
    if (safe_chars[id] > 0) {
      safe_mask_[id >> 5] |= 1u << (id & 31);
      max_safe_chars_ = std::max(max_safe_chars_, safe_chars[id]);
    } else {
      unsafe_ids.push_back(id);
    }
  }
  const size_t num_words = num_mask_words();
  safe_up_to_.assign((max_safe_chars_ + 1) * num_words, 0);
  for (int32_t id = 0; id < num_vocab_; ++id) {
    for (int c = std::max(safe_chars[id], 1); safe_chars[id] > 0 && c <= max_safe_chars_; ++c) {
      safe_up_to_[c * num_words + (id >> 5)] |= 1u << (id & 31);
    }
  }
  all_ = BuildTrie(pieces_, std::move(all_ids));
  unsafe_ = BuildTrie(pieces_, std::move(unsafe_ids));
}

TokenTrie TokenTrie::FromTokenizer(const Tokenizer& tokenizer) {
  std::vector<std::string> pieces(tokenizer.num_vocab());
  for (int32_t id = 0; id < tokenizer.num_vocab(); ++id) {
    pieces[id] = tokenizer.TokenToPiece(id, /*render_special=*/false);
  }
  return TokenTrie(pieces, tokenizer.eog_ids());
}

const ClassSlice* TokenTrie::Slice(const ByteClass& bytes) const {
  std::lock_guard<std::mutex> lock(slice_cache_->mu);
  auto& slices = slice_cache_->slices;
  if (const auto it = slices.find(bytes); it != slices.end()) return it->second.get();
  if (slices.size() >= kMaxClassSlices) return nullptr;
  auto slice = std::make_unique<ClassSlice>();
  slice->mask.assign(num_mask_words(), 0);
  const uint32_t n = all_.num_nodes();
  // in_class[d]: the path to the current node at depth d is all in the class. rest_prefix
  // counts, in pre-order, nodes holding a token with a byte outside it.
  std::vector<uint8_t> in_class(all_.max_depth + 1, 1);
  std::vector<uint32_t> rest_prefix(n + 1, 0);
  for (uint32_t i = 0; i < n; ++i) {
    const int d = all_.depth[i];
    const uint8_t b = all_.byte[i];
    in_class[d] = in_class[d - 1] && ((bytes[b >> 6] >> (b & 63)) & 1);
    const bool has_tokens = all_.token_begin[i + 1] > all_.token_begin[i];
    rest_prefix[i + 1] = rest_prefix[i] + (has_tokens && !in_class[d]);
    if (has_tokens && in_class[d]) {
      for (uint32_t k = all_.token_begin[i]; k < all_.token_begin[i + 1]; ++k) {
        const int32_t id = all_.token_ids[k];
        slice->mask[id >> 5] |= 1u << (id & 31);
      }
    }
  }
  slice->has_rest.assign((n + 63) / 64, 0);
  for (uint32_t i = 0; i < n; ++i) {
    if (rest_prefix[all_.subtree_end[i]] > rest_prefix[i]) {
      slice->has_rest[i >> 6] |= uint64_t{1} << (i & 63);
    }
  }
  return slices.emplace(bytes, std::move(slice)).first->second.get();
}

bool TokenTrie::IsEos(int32_t id) const {
  return std::binary_search(eos_ids_.begin(), eos_ids_.end(), id);
}

}  // namespace gs::grammar
