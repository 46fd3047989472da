#include "api/json_body.h"

#include <exception>
#include <new>
#include <string>

namespace gs::api {
namespace {

using json = nlohmann::json;

// nlohmann's messages quote the token being read ("last read: '...'"), which for a long string
// is the whole string so far and may hold the invalid bytes that caused the error.
constexpr size_t kMaxDetailBytes = 200;

// True when `text` opens more than `max_depth` arrays/objects at once. Brackets inside strings
// do not count. Linear and allocation-free, so a 2 MB "[[[[..." is refused before the parser
// builds a million nested values that dump() and our own walkers would then recurse through.
bool NestsDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;  // an unbalanced closer is the parser's to report
    }
  }
  return false;
}

// The part of a nlohmann exception message worth showing a client: without the
// "[json.exception.parse_error.101] " prefix, printable ASCII only, and short.
std::string ClientDetail(const std::exception& e) {
  std::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    const size_t close = what.find("] ");
    if (close != std::string_view::npos) what.remove_prefix(close + 2);
  }
  std::string detail;
  for (const char c : what.substr(0, kMaxDetailBytes)) {
    const bool printable = c >= 0x20 && c <= 0x7E;
    detail.push_back(printable ? c : '?');
  }
  if (what.size() > kMaxDetailBytes) detail += "...";
  return detail;
}

ApiError BadBody(std::string message) { return InvalidParam("", std::move(message)); }

}  // namespace

std::variant<nlohmann::json, ApiError> ParseJsonBody(std::string_view body, int max_depth) {
  if (body.empty()) return BadBody("The request body is empty; expected a JSON object.");
  // nlohmann skips a UTF-8 byte order mark silently; RFC 8259 forbids sending one and our
  // request validation refuses it, so the client learns instead.
  if (body.substr(0, 3) == "\xEF\xBB\xBF") {
    return BadBody("The request body starts with a UTF-8 byte order mark; send JSON without one.");
  }
  if (NestsDeeperThan(body, max_depth)) {
    return BadBody("The request body nests arrays/objects more than " + std::to_string(max_depth) +
                   " levels deep.");
  }
  json parsed;
  try {
    parsed = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    // Syntax errors, invalid UTF-8 and lone surrogate escapes ("\ud800") all land here.
    return BadBody("The request body is not valid JSON: " + ClientDetail(e));
  } catch (const json::out_of_range& e) {
    // A number too large for a double (1e400).
    return BadBody("The request body holds a number out of range: " + ClientDetail(e));
  } catch (const json::exception& e) {
    return BadBody("The request body could not be parsed: " + ClientDetail(e));
  } catch (const std::bad_alloc&) {
    return InternalError("Out of memory while parsing the request body.");
  } catch (const std::exception&) {
    return InternalError("Unexpected error while parsing the request body.");
  }
  if (!parsed.is_object()) {
    return BadBody(std::string("The request body must be a JSON object, not ") +
                   parsed.type_name() + ".");
  }
  return parsed;
}

std::string DumpJson(const nlohmann::json& j) {
  try {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception&) {
    // Only allocation failure is left once invalid UTF-8 is replaced; the caller still gets
    // a well-formed error body rather than an exception unwinding through the HTTP layer.
    return R"({"error":{"message":"The response could not be serialized.",)"
           R"("type":"server_error","param":null,"code":null}})";
  }
}

}  // namespace gs::api
