// A JSON document as the grammar engine needs it: object members keep their order (a schema's
// `properties` order is the order the grammar emits them in) and numbers keep their literal text
// (so a bound or a const is compared exactly, and an instance is re-serialised the way Python's
// json.dumps writes it, which is how MaskBench tokenizes its test instances).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace gs::grammar {

class JsonValue {
 public:
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  // Nesting deeper than this is refused, so a hostile document cannot exhaust the stack.
  static constexpr int kMaxDepth = 512;

  static StatusOr<JsonValue> Parse(std::string_view text);

  JsonValue() = default;
  static JsonValue Bool(bool value);
  static JsonValue String(std::string value);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool bool_value() const { return bool_; }
  // kString: the decoded value (UTF-8); kNumber: the literal as written.
  const std::string& text() const { return text_; }
  // kNumber: true when the literal has no fraction and no exponent.
  bool is_integer_literal() const;
  double number_value() const;
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  std::vector<std::pair<std::string, JsonValue>>& mutable_members() { return members_; }
  std::vector<JsonValue>& mutable_items() { return items_; }
  // nullptr when absent (or when this is not an object).
  const JsonValue* Find(std::string_view key) const;

  // Python's json.dumps(value, ensure_ascii=False): ", " and ": " separators, floats as repr()
  // writes them, non-ASCII characters raw.
  std::string ToPythonJson() const;

  friend bool operator==(const JsonValue& a, const JsonValue& b);

 private:
  friend class JsonParser;
  void AppendPython(std::string& out) const;

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Appends `s` as a JSON string literal the way Python's json.dumps(ensure_ascii=False) does.
void AppendPythonJsonString(std::string& out, std::string_view s);
// The canonical text Python writes for a number literal (ints as they are, floats as repr()).
std::string PythonNumberText(std::string_view literal);

}  // namespace gs::grammar
