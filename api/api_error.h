// The OpenAI error envelope: {"error": {"message", "type", "param", "code"}} with the HTTP
// status it travels with. Every client mistake becomes one of these with the offending field in
// `param`; clients (and the OpenAI SDK's retry logic) key off the status, so a client error is
// never a 5xx.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gs::api {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // empty: null
  std::string code;   // empty: null

  nlohmann::json ToJson() const;
};

// 400 invalid_request_error naming the field.
ApiError InvalidParam(std::string param, std::string message);
// 400 invalid_request_error with code context_length_exceeded.
ApiError ContextLengthExceeded(std::string param, std::string message);
// 404 invalid_request_error, param model, code model_not_found ("The model `x` does not
// exist.", the name cut to 256 bytes).
ApiError ModelNotFound(const std::string& model);
// 401 invalid_request_error, code invalid_api_key.
ApiError InvalidApiKey();
// 503 (overloaded or loading), type server_error, code service_unavailable: the SDK retries it.
ApiError Unavailable(std::string message);
// 500 server_error, code null.
ApiError InternalError(std::string message);

}  // namespace gs::api
