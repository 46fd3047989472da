#include "engine/tokenizer/detokenizer.h"

#include "engine/tokenizer/tokenizer.h"

namespace gs {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Appends the well-formed characters of `bytes` to `out`, one U+FFFD per maximal ill-formed
// subpart (Unicode's recommended practice: a broken sequence costs one replacement and never
// swallows the byte that broke it). Returns how many trailing bytes form an incomplete but so
// far valid character; they are left for the caller unless `at_end`, where they become U+FFFD.
size_t AppendValidUtf8(std::string_view bytes, bool at_end, std::string& out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t lead = static_cast<uint8_t>(bytes[i]);
    if (lead < 0x80) {
      out += bytes[i++];
      continue;
    }
    // Sequence length and the range of the second byte, which excludes overlong forms,
    // surrogates and code points above U+10FFFF.
    size_t num_bytes = 0;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      num_bytes = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      num_bytes = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      num_bytes = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      out += kReplacementChar;  // a stray continuation byte or a lead byte that never occurs
      ++i;
      continue;
    }
    size_t num_valid = 1;
    while (num_valid < num_bytes && i + num_valid < bytes.size()) {
      const uint8_t b = static_cast<uint8_t>(bytes[i + num_valid]);
      if (b < lo || b > hi) break;
      lo = 0x80;
      hi = 0xBF;
      ++num_valid;
    }
    if (num_valid == num_bytes) {
      out.append(bytes.substr(i, num_bytes));
    } else if (i + num_valid == bytes.size() && !at_end) {
      return num_valid;  // the character may still complete
    } else {
      out += kReplacementChar;
    }
    i += num_valid;
  }
  return 0;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(tokenizer), render_special_(render_special) {}

std::string IncrementalDetokenizer::Push(int32_t id) {
  pending_ += tokenizer_.TokenToPiece(id, render_special_);
  std::string text;
  const size_t num_held = AppendValidUtf8(pending_, /*at_end=*/false, text);
  pending_.erase(0, pending_.size() - num_held);
  return text;
}

std::string IncrementalDetokenizer::Flush() {
  std::string text;
  (void)AppendValidUtf8(pending_, /*at_end=*/true, text);
  pending_.clear();
  return text;
}

}  // namespace gs
