#include "api/param_error.h"

#include <charconv>

namespace gs::api {

std::string FormatNumber(double v) {
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, result.ptr);
}

std::string Describe(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return FormatNumber(v.get<double>());
    default:
      return "a binary value";
  }
}

ApiError WrongType(const std::string& path, std::string_view expected, const nlohmann::json& got) {
  return InvalidParam(path, "Invalid type for '" + path + "': expected " + std::string(expected) +
                                ", but got " + Describe(got) + ".");
}

ApiError BadValue(const std::string& path, std::string_view expected, const std::string& got) {
  return InvalidParam(path, "Invalid value for '" + path + "': expected " + std::string(expected) +
                                ", but got " + got + ".");
}

ApiError BadJsonValue(const std::string& path, std::string_view expected,
                      const nlohmann::json& got) {
  if (!got.is_string()) return BadValue(path, expected, Describe(got));
  // Appended piece by piece: GCC 12 misreports "'" + s + "'" (-Wrestrict, its bug 105651).
  std::string shown = "'";
  shown += Quote(got.get_ref<const std::string&>());
  shown += '\'';
  return BadValue(path, expected, shown);
}

ApiError Missing(const std::string& path) {
  return InvalidParam(path, "Missing required parameter: '" + path + "'.");
}

ApiError NotSupported(const std::string& path, std::string_view what) {
  return InvalidParam(path,
                      std::string(what) + " is not supported by this server yet ('" + path + "').");
}

std::string Quote(std::string_view s) {
  constexpr size_t kMaxBytes = 64;
  if (s.size() <= kMaxBytes) return std::string(s);
  size_t end = kMaxBytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

std::string Indexed(std::string_view base, size_t idx) {
  return std::string(base) + "[" + std::to_string(idx) + "]";
}

}  // namespace gs::api
