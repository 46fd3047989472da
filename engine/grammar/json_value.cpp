#include "engine/grammar/json_value.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gs::grammar {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    GS_RETURN_IF_ERROR(ParseValue(value, 0));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("trailing characters");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return Status::Error("JSON parse error at byte " + std::to_string(pos_) + ": " + what);
  }
  void SkipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool ConsumeLiteral(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(JsonValue& out, int depth) {
    if (depth > JsonValue::kMaxDepth) return Error("nesting too deep");
    SkipWhitespace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const char ch = text_[pos_];
    if (ch == '{') return ParseObject(out, depth);
    if (ch == '[') return ParseArray(out, depth);
    if (ch == '"') {
      out.kind_ = JsonValue::Kind::kString;
      return ParseString(out.text_);
    }
    if (ConsumeLiteral("null")) {
      out.kind_ = JsonValue::Kind::kNull;
      return Status::Ok();
    }
    if (ConsumeLiteral("true") || ConsumeLiteral("false")) {
      out.kind_ = JsonValue::Kind::kBool;
      out.bool_ = text_[pos_ - 1] == 'e' && text_[pos_ - 2] == 'u';
      return Status::Ok();
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) return ParseNumber(out);
    // Python writes these for non-finite floats; keep them as number literals.
    for (std::string_view word : {"NaN", "Infinity", "-Infinity"}) {
      if (ConsumeLiteral(word)) {
        out.kind_ = JsonValue::Kind::kNumber;
        out.text_ = word;
        return Status::Ok();
      }
    }
    return Error("unexpected character");
  }

  Status ParseNumber(JsonValue& out) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t before = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > before;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return Error("bad number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Error("bad number fraction");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return Error("bad number exponent");
    }
    out.kind_ = JsonValue::Kind::kNumber;
    out.text_ = std::string(text_.substr(start, pos_ - start));
    return Status::Ok();
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool ParseHex4(uint32_t& cp) {
    if (pos_ + 4 > text_.size()) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') {
        cp |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        cp |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        cp |= c - 'A' + 10;
      } else {
        return false;
      }
    }
    return true;
  }

  Status ParseString(std::string& out) {
    ++pos_;  // the opening quote
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char ch = text_[pos_++];
      if (ch == '"') return Status::Ok();
      if (static_cast<unsigned char>(ch) < 0x20) return Error("control character in string");
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated escape");
      const char esc = text_[pos_++];
      switch (esc) {
        case '"':
        case '\\':
        case '/':
          out += esc;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!ParseHex4(cp)) return Error("bad \\u escape");
          if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            const size_t save = pos_;
            pos_ += 2;
            uint32_t low;
            if (ParseHex4(low) && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  Status ParseArray(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kArray;
    ++pos_;
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return Status::Ok();
    }
    while (true) {
      out.items_.emplace_back();
      GS_RETURN_IF_ERROR(ParseValue(out.items_.back(), depth + 1));
      SkipWhitespace();
      if (pos_ >= text_.size()) return Error("unterminated array");
      if (text_[pos_] == ']') {
        ++pos_;
        return Status::Ok();
      }
      if (text_[pos_++] != ',') return Error("expected ',' or ']'");
    }
  }

  Status ParseObject(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::kObject;
    ++pos_;
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a key");
      std::string key;
      GS_RETURN_IF_ERROR(ParseString(key));
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_++] != ':') return Error("expected ':'");
      JsonValue value;
      GS_RETURN_IF_ERROR(ParseValue(value, depth + 1));
      // A repeated key replaces the earlier value in place, as Python's json.loads keeps the
      // last one (at the first one's position, like a dict).
      bool replaced = false;
      for (auto& [k, v] : out.members_) {
        if (k == key) {
          v = std::move(value);
          replaced = true;
          break;
        }
      }
      if (!replaced) out.members_.emplace_back(std::move(key), std::move(value));
      SkipWhitespace();
      if (pos_ >= text_.size()) return Error("unterminated object");
      if (text_[pos_] == '}') {
        ++pos_;
        return Status::Ok();
      }
      if (text_[pos_++] != ',') return Error("expected ',' or '}'");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

StatusOr<JsonValue> JsonValue::Parse(std::string_view text) {
  return JsonParser(text).ParseDocument();
}

JsonValue JsonValue::Bool(bool value) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = value;
  return v;
}

JsonValue JsonValue::String(std::string value) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.text_ = std::move(value);
  return v;
}

bool JsonValue::is_integer_literal() const {
  return kind_ == Kind::kNumber && text_.find_first_of(".eEIN") == std::string::npos;
}

double JsonValue::number_value() const { return std::strtod(text_.c_str(), nullptr); }

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool operator==(const JsonValue& a, const JsonValue& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case JsonValue::Kind::kNull:
      return true;
    case JsonValue::Kind::kBool:
      return a.bool_ == b.bool_;
    case JsonValue::Kind::kNumber:
      return a.text_ == b.text_ || a.number_value() == b.number_value();
    case JsonValue::Kind::kString:
      return a.text_ == b.text_;
    case JsonValue::Kind::kArray:
      return a.items_ == b.items_;
    case JsonValue::Kind::kObject: {
      if (a.members_.size() != b.members_.size()) return false;
      for (const auto& [k, v] : a.members_) {
        const JsonValue* other = b.Find(k);
        if (other == nullptr || !(*other == v)) return false;
      }
      return true;
    }
  }
  return false;
}

void AppendPythonJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    const auto ch = static_cast<unsigned char>(c);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string PythonNumberText(std::string_view literal) {
  if (literal.find_first_of(".eEIN") == std::string_view::npos) {
    return literal == "-0" ? "0" : std::string(literal);
  }
  if (literal == "NaN" || literal == "Infinity" || literal == "-Infinity") {
    return std::string(literal);
  }
  const double value = std::strtod(std::string(literal).c_str(), nullptr);
  // Shortest round-trip digits, then Python's repr layout: positional when the decimal exponent
  // is in [-4, 16), scientific (at least two exponent digits) otherwise.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e_pos = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  std::string mantissa = sci.substr(0, e_pos);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (const char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(-exponent - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out += digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_buf;
}

void JsonValue::AppendPython(std::string& out) const {
  switch (kind_) {
    case Kind::kNull:
      out += "null";
      break;
    case Kind::kBool:
      out += bool_ ? "true" : "false";
      break;
    case Kind::kNumber:
      out += PythonNumberText(text_);
      break;
    case Kind::kString:
      AppendPythonJsonString(out, text_);
      break;
    case Kind::kArray:
      out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += ", ";
        items_[i].AppendPython(out);
      }
      out += ']';
      break;
    case Kind::kObject:
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i) out += ", ";
        AppendPythonJsonString(out, members_[i].first);
        out += ": ";
        members_[i].second.AppendPython(out);
      }
      out += '}';
      break;
  }
}

std::string JsonValue::ToPythonJson() const {
  std::string out;
  AppendPython(out);
  return out;
}

}  // namespace gs::grammar
