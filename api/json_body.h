// Request bodies -> JSON, with the limits nlohmann 3.11.2 does not enforce itself
// (nlohmann_json recurses once per level): nesting depth is checked before parsing (dump() and our
// own walkers recurse), invalid UTF-8 (lone surrogate escapes included), numbers beyond double
// range and a leading byte order mark are 400s, and the top level must be an object. Duplicate keys
// are not refused: the last one wins, as nlohmann parses them.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "api/api_error.h"

namespace gs::api {

constexpr int kMaxJsonDepth = 64;

// The parsed object, or a 400 saying what is wrong with the body.
std::variant<nlohmann::json, ApiError> ParseJsonBody(std::string_view body,
                                                     int max_depth = kMaxJsonDepth);

// Serializes without ever throwing: invalid UTF-8 (there should be none) becomes U+FFFD.
std::string DumpJson(const nlohmann::json& j);

}  // namespace gs::api
