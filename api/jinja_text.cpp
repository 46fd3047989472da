#include "api/jinja_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace gs::api::jinja {
namespace {

using json = nlohmann::json;

// Python's str.isspace(), which jinja's `trim` (str.strip()) uses: ASCII whitespace and the
// information separators, NEL, and the Unicode space separators and line/paragraph separators.
bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// The code point encoded by exactly the bytes of `s`, or -1 when they are not one well-formed
// UTF-8 sequence (ill-formed bytes are then treated as content, never as whitespace).
int64_t DecodeOne(std::string_view s) {
  if (s.empty()) return -1;
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 < 0x80) {
    len = 1;
    cp = b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return -1;
  }
  if (s.size() != len) return -1;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

// Length of the UTF-8 sequence that starts with lead byte `b` (1 for a stray byte).
size_t SequenceLength(uint8_t b) {
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

// Python's str.isprintable() for a non-ASCII code point, as far as a fixed list goes: false for
// the categories Python escapes in repr() (Cc, Cf, Co, Cs, Zl, Zp, Zs; Cn only where listed).
bool IsPrintableNonAscii(uint32_t cp) {
  struct Range {
    uint32_t first, last;
  };
  static constexpr Range kUnprintable[] = {
      {0x80, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
      {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x890, 0x891},     {0x8E2, 0x8E2},
      {0x180E, 0x180E},   {0x1680, 0x1680},   {0x2000, 0x200F},   {0x2028, 0x202F},
      {0x205F, 0x206F},   {0x3000, 0x3000},   {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},
      {0xFEFF, 0xFEFF},   {0xFFF0, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD},
      {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
      {0xF0000, 0x10FFFF}};
  if ((cp & 0xFFFE) == 0xFFFE) return false;  // the two noncharacters at the end of each plane
  for (const Range& r : kUnprintable) {
    if (cp >= r.first && cp <= r.last) return false;
  }
  return true;
}

void AppendHex(uint32_t value, int digits, std::string* out) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, value);
  out->append(buf);
}

// Python's repr(float): the shortest digits that round-trip, positional when the decimal point
// falls within them or up to 16 places out (1e-4 <= |x| < 1e16), else d.ddde+XX; ".0" on
// integral values. (nlohmann's dump switches to exponents at 1e15 already.)
std::string PythonFloat(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buf[64];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));  // [-]d[.ddd]e(+|-)XX
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out += '-';
    i = 1;
  }
  const size_t e_idx = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e_idx; ++k) {
    if (sci[k] != '.') digits += sci[k];
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_idx + (sci[e_idx + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                  exponent);
  const int num_digits = static_cast<int>(digits.size());
  const int point = exponent + 1;  // value = 0.DIGITS x 10^point
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (point < num_digits) {
      out += digits.substr(0, static_cast<size_t>(point)) + "." +
             digits.substr(static_cast<size_t>(point));
    } else {
      out += digits + std::string(static_cast<size_t>(point - num_digits), '0') + ".0";
    }
    return out;
  }
  out += digits[0];
  if (num_digits > 1) out += "." + digits.substr(1);
  char exp_buf[8];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+',
                exponent < 0 ? -exponent : exponent);
  return out + exp_buf;
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string_view Trim(std::string_view s) {
  while (!s.empty()) {
    const size_t len = std::min(SequenceLength(static_cast<uint8_t>(s[0])), s.size());
    const int64_t cp = DecodeOne(s.substr(0, len));
    if (cp < 0 || !IsPythonSpace(static_cast<uint32_t>(cp))) break;
    s.remove_prefix(len);
  }
  while (!s.empty()) {
    // Back up over at most 3 continuation bytes to the sequence's lead byte.
    size_t start = s.size() - 1;
    while (start > 0 && s.size() - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) {
      --start;
    }
    const int64_t cp = DecodeOne(s.substr(start));
    if (cp < 0 || !IsPythonSpace(static_cast<uint32_t>(cp))) break;
    s.remove_suffix(s.size() - start);
  }
  return s;
}

std::string ReprString(std::string_view s) {
  // Python quotes with ' unless the text holds a ' and no ".
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      const char c = static_cast<char>(b);
      if (c == quote || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (b < 0x20 || b == 0x7F) {
        out += "\\x";
        AppendHex(b, 2, &out);
      } else {
        out += c;
      }
      ++i;
      continue;
    }
    const size_t len = std::min(SequenceLength(b), s.size() - i);
    const int64_t cp = DecodeOne(s.substr(i, len));
    if (cp < 0) {
      out += s[i++];  // not UTF-8 (a Python str cannot hold it): kept as it is
      continue;
    }
    const auto code = static_cast<uint32_t>(cp);
    if (IsPrintableNonAscii(code)) {
      out.append(s.substr(i, len));
    } else if (code <= 0xFF) {
      out += "\\x";
      AppendHex(code, 2, &out);
    } else if (code <= 0xFFFF) {
      out += "\\u";
      AppendHex(code, 4, &out);
    } else {
      out += "\\U";
      AppendHex(code, 8, &out);
    }
    i += len;
  }
  out += quote;
  return out;
}

std::string Str(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "None";
    case json::value_t::boolean:
      return v.get<bool>() ? "True" : "False";
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return PythonFloat(v.get<double>());
    default:
      return Repr(v);
  }
}

std::string Repr(const json& v) {
  if (v.is_string()) return ReprString(v.get_ref<const std::string&>());
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ", ";
      out += Repr(v[i]);
    }
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      if (!first) out += ", ";
      first = false;
      out += ReprString(key) + ": " + Repr(value);
    }
    return out + "}";
  }
  return Str(v);
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool Truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case json::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case json::value_t::number_float:
      return v.get<double>() != 0.0;
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();  // json::empty() is false for any string
    case json::value_t::array:
    case json::value_t::object:
      return !v.empty();
    default:
      return true;
  }
}

std::vector<std::pair<std::string_view, const json*>> DictSort(const json& obj) {
  std::vector<std::pair<std::string_view, const json*>> items;
  for (const auto& [key, value] : obj.items()) items.emplace_back(key, &value);
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return std::lexicographical_compare(
        a.first.begin(), a.first.end(), b.first.begin(), b.first.end(), [](char x, char y) {
          return static_cast<uint8_t>(AsciiLower(x)) < static_cast<uint8_t>(AsciiLower(y));
        });
  });
  return items;
}

const json* Get(const json* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  const auto it = v->find(key);
  return it == v->end() ? nullptr : &*it;
}

}  // namespace gs::api::jinja
