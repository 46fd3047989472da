// The 400s that name a request field, worded one way for every endpoint (chat, completions,
// responses): wrong type, bad value, missing, not supported. Client text in a message is cut
// (Quote) so that it stays short and valid UTF-8.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api_error.h"

namespace gs::api {

// The shortest text that reads back as v (std::to_chars).
std::string FormatNumber(double v);
// How a value reads in an error message: its type, or the number itself where the problem is
// the number's kind (1.5 for an integer) or range.
std::string Describe(const nlohmann::json& v);
// Client text quoted in a message: at most 64 bytes, cut at a UTF-8 character boundary so the
// message stays valid UTF-8 (an invalid string would make ToJson().dump() throw).
std::string Quote(std::string_view s);
// "base[idx]", the path of an array element.
std::string Indexed(std::string_view base, size_t idx);

ApiError WrongType(const std::string& path, std::string_view expected, const nlohmann::json& got);
// `got` as the message shows it ("'gpt'", "1.5", "an object").
ApiError BadValue(const std::string& path, std::string_view expected, const std::string& got);
// A string value quoted, any other as Describe reads it.
ApiError BadJsonValue(const std::string& path, std::string_view expected,
                      const nlohmann::json& got);
ApiError Missing(const std::string& path);
ApiError NotSupported(const std::string& path, std::string_view what);

}  // namespace gs::api
