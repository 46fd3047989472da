// A reference UTF-8 check for the fuzz targets, written from the Unicode standard's table of
// well-formed byte sequences (Unicode 15, table 3-7) rather than from the code under test: no
// overlong forms, no surrogates (ED A0..BF), nothing above U+10FFFF, no stray continuation
// bytes, no truncated sequence at the end. This is what nlohmann's lexer accepts in strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gs::fuzz {

inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto byte = [&s](size_t at) { return static_cast<uint8_t>(s[at]); };
    const uint8_t lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint8_t second_min = 0x80;
    uint8_t second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;  // overlong below U+0800
      if (lead == 0xED) second_max = 0x9F;  // surrogates U+D800..DFFF
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;  // overlong below U+10000
      if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
    } else {
      return false;  // a continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (s.size() - i < length) return false;
    if (byte(i + 1) < second_min || byte(i + 1) > second_max) return false;
    for (size_t k = 2; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace gs::fuzz
