// What Python and jinja2 make of strings and JSON values when a chat template prints them, so that
// renderers written in C++ give the bytes jinja gives: `trim` (Python's str.strip), `{{ v }}`
// (Python's str()), repr() (how a list or dict prints), `upper`, `dictsort`'s order and jinja's
// truthiness. JSON values stand for the Python objects json.loads would make (null -> None,
// objects -> dict, arrays -> list).
//
// Where they knowingly differ from Python (documented so that goldens avoid them, not hidden):
//   - Case mapping (upper, dictsort's lower) covers ASCII only; Python maps every cased letter.
//   - A dict prints its keys in nlohmann's (byte) order, and dictsort breaks ties between keys
//     equal ignoring case in that order; Python keeps the order the client sent, which parsing
//     into nlohmann::json has already lost.
//   - repr() escapes the non-ASCII code points Python deems unprintable from a fixed list (the
//     C1 controls, the Unicode spaces and separators, the common format characters, private use,
//     noncharacters); Python also escapes unassigned code points, which this keeps as they are.
//   - Integers beyond 64 bits are floats to nlohmann and print as such.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gs::api::jinja {

// Jinja's `trim` filter: strips Python whitespace (Unicode included) from both ends. Bytes that
// are not well-formed UTF-8 are not whitespace and stay.
std::string_view Trim(std::string_view s);

// Python's str(v): "None", "True", "False", integers and floats as Python prints them, strings
// as they are, lists and dicts as repr().
std::string Str(const nlohmann::json& v);

// Python's repr(v); for a string, Python's quoting and escapes.
std::string Repr(const nlohmann::json& v);
std::string ReprString(std::string_view s);

// Jinja's `upper` filter on an ASCII-cased str(v).
std::string Upper(std::string_view s);

// Jinja's truthiness: None, false, 0, "", [] and {} are false.
bool Truthy(const nlohmann::json& v);

// A dict's items in the order of jinja's `dictsort` (case-insensitive keys, stable).
std::vector<std::pair<std::string_view, const nlohmann::json*>> DictSort(const nlohmann::json& obj);

// v[key] as a template reads it: the member, or nullptr (jinja's Undefined) when v is not an
// object or has no such key.
const nlohmann::json* Get(const nlohmann::json* v, std::string_view key);

}  // namespace gs::api::jinja
