#include "api/api_error.h"

#include <string>
#include <utility>

namespace gs::api {
namespace {

// Client-supplied text (a model name) quoted in a message is cut to this many bytes so a
// megabyte-long name cannot make a megabyte-long error body.
constexpr size_t kMaxQuotedBytes = 256;

nlohmann::json NullIfEmpty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

// Cuts at a UTF-8 character boundary (never inside a multi-byte sequence).
std::string Truncate(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

ApiError Make(int status, std::string type, std::string message, std::string param,
              std::string code) {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

}  // namespace

nlohmann::json ApiError::ToJson() const {
  nlohmann::json body = nlohmann::json::object();
  body["message"] = message;
  body["type"] = type;
  body["param"] = NullIfEmpty(param);
  body["code"] = NullIfEmpty(code);
  nlohmann::json envelope = nlohmann::json::object();
  envelope["error"] = std::move(body);
  return envelope;
}

ApiError InvalidParam(std::string param, std::string message) {
  return Make(400, "invalid_request_error", std::move(message), std::move(param), "");
}

ApiError ContextLengthExceeded(std::string param, std::string message) {
  return Make(400, "invalid_request_error", std::move(message), std::move(param),
              "context_length_exceeded");
}

ApiError ModelNotFound(const std::string& model) {
  return Make(404, "invalid_request_error",
              "The model `" + Truncate(model, kMaxQuotedBytes) + "` does not exist.", "model",
              "model_not_found");
}

ApiError InvalidApiKey() {
  return Make(401, "invalid_request_error", "Incorrect or missing API key.", "", "invalid_api_key");
}

ApiError Unavailable(std::string message) {
  return Make(503, "server_error", std::move(message), "", "service_unavailable");
}

ApiError InternalError(std::string message) {
  return Make(500, "server_error", std::move(message), "", "");
}

}  // namespace gs::api
