// OpenAI requests as data: the fields of /v1/chat/completions, /v1/completions, /tokenize and
// /detokenize parsed out of JSON and validated. Every wrong type or out-of-range value is an
// ApiError naming its `param`; unknown fields are ignored (clients send many we have no use
// for); fields the server cannot honour yet (legacy functions, media parts) are refused by name
// rather than silently dropped.
//
// Choices where OpenAI and the peers differ or say nothing:
//   - `null` for any optional field means "not given" (the SDKs send it).
//   - Integer fields take JSON integers only: 1.5, 5.0 and 1e3 are refused, as OpenAI does.
//   - max_completion_tokens wins over max_tokens when both come (both must be valid).
//   - top_logprobs, even 0, needs logprobs: true (vLLM's rule).
//   - The first error in reading order is the one reported.
//   - Completions: a token prompt must not be empty (a text prompt may); best_of is accepted
//     only as 1 or n; a non-empty suffix is refused.
//   - /tokenize with both `prompt` and `messages` is refused (param "prompt") as ambiguous.
//   - Structured output: api/output_constraint.h lists the fields read; a schema is a JSON
//     object (structured_outputs.json and guided_json may also be its JSON text), choice a
//     non-empty array of strings, regex and grammar non-empty strings.
//   - Tools (OpenAI's rules, and limits of our own): at most 128; each {"type": "function",
//     "function": {"name", "description"?, "parameters"?, "strict"?}} with a name matching
//     ^[a-zA-Z0-9_-]{1,64}$, unique; parameters a JSON Schema object (a JSON object whose "type",
//     when given, is "object"). tool_choice "none", "auto", "required" or {"type": "function",
//     "function": {"name"}} naming one of the tools; anything but "none" needs tools. An empty
//     `tools` array is no tools. Legacy `functions` / `function_call` are refused (param named):
//     OpenAI deprecated them for `tools`, which every current client sends.
//   - An assistant message's tool_calls: [{"id", "type": "function", "function": {"name",
//     "arguments"}}]; arguments a JSON text of an object (OpenAI's form; "" reads as {}) or an
//     object, kept as the object (the Gemma 4 template renders it key by key).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/chat_message.h"
#include "api/output_constraint.h"
#include "api/tools.h"

namespace gs::api {

// Bounds a request is validated against (server flags and the model).
struct RequestLimits {
  int32_t num_vocab = 0;              // token ids and logit_bias keys must be below this
  int32_t max_n = 16;                 // choices per request
  int32_t max_stop = 16;              // stop strings per request
  int32_t max_stop_bytes = 256;       // bytes per stop string
  int32_t max_logit_bias = 1024;      // logit_bias entries
  int32_t max_top_logprobs = 20;      // top_logprobs (chat) and logprobs (completions, <= 5 in
                                      // OpenAI's API; we allow max_top_logprobs)
  int32_t max_messages = 4096;        // chat messages per request
  int32_t max_prompts = 64;           // prompts in one /v1/completions request
  int32_t max_stop_token_ids = 1024;  // stop_token_ids entries
  int64_t max_tokens_cap = 1 << 20;   // server cap on max_tokens
};

// Sampling and stopping fields shared by chat and completions.
struct GenerationParams {
  std::optional<int64_t> max_tokens;    // [1, max_tokens_cap]; from max_completion_tokens (the
                                        // current name) when given, else max_tokens (deprecated;
                                        // many clients send both, so they need not agree)
  float temperature = 1.0f;             // [0, 2]
  float top_p = 1.0f;                   // (0, 1]
  int32_t top_k = 0;                    // 0 = off (the client may send 0 or -1); else in
                                        // [1, num_vocab] (larger values are cut to num_vocab)
  float min_p = 0.0f;                   // [0, 1]
  float presence_penalty = 0.0f;        // [-2, 2]
  float frequency_penalty = 0.0f;       // [-2, 2]
  float repetition_penalty = 1.0f;      // (0, 2]  (vLLM extension; 1 = off)
  std::map<int32_t, float> logit_bias;  // token id -> bias in [-100, 100]
  std::optional<uint64_t> seed;         // any integer in [-2^63, 2^64): negative values wrap
                                        // like OpenAI's int64 seed, never silently
  int32_t n = 1;                        // [1, max_n]
  std::vector<std::string> stop;        // non-empty strings
  std::vector<int32_t> stop_token_ids;  // vLLM extension
  bool ignore_eos = false;              // vLLM extension
  bool logprobs = false;                // return log-probabilities of sampled tokens
  int32_t top_logprobs = 0;             // [0, max_top_logprobs]; needs logprobs
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage (needs stream)
  // At most one source (response_format, structured_outputs, guided_*, grammar, json_schema);
  // two are refused as ambiguous. response_format "strict" is accepted either way: the output is
  // always held to the schema.
  OutputConstraint constraint;
};

struct ChatRequest {
  std::string model;  // empty: the default (served) model
  std::vector<ChatMessage> messages;
  GenerationParams params;
  bool add_generation_prompt = true;  // vLLM extension
  // Thinking asked for: vLLM's chat_template_kwargs.enable_thinking (a boolean) or OpenAI's
  // reasoning_effort ("low", "medium", "high", "xhigh": on; "none", "minimal": off). When both
  // come, chat_template_kwargs wins: it is the template's own switch, where reasoning_effort is
  // a hint many clients fill in by default. nullopt: neither (the template's default, off).
  // Families without a thinking mode (Gemma 3) ignore it.
  std::optional<bool> enable_thinking;
  ToolConfig tools;
};

// One prompt of /v1/completions: text, or token ids (each checked against num_vocab).
struct Prompt {
  bool is_tokens = false;
  std::string text;
  std::vector<int32_t> tokens;
};

struct CompletionRequest {
  std::string model;
  std::vector<Prompt> prompts;  // a string, strings, token ids or arrays of token ids
  GenerationParams params;      // legacy integer `logprobs` k sets logprobs and top_logprobs=k
  bool echo = false;            // prepend the prompt to the text
};

// /tokenize: either {"prompt": ...} or {"messages": [...]} (vLLM's two forms).
struct TokenizeRequest {
  std::string model;
  bool is_chat = false;
  std::string prompt;
  std::vector<ChatMessage> messages;
  bool add_special_tokens = true;       // prompt form; default true
  bool add_generation_prompt = true;    // chat form
  std::optional<bool> enable_thinking;  // chat form, as in ChatRequest
  ToolConfig tools;                     // chat form, as in ChatRequest
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};

template <typename T>
using ParseResult = std::variant<T, ApiError>;

ParseResult<ChatRequest> ParseChatRequest(const nlohmann::json& body, const RequestLimits& limits);
ParseResult<CompletionRequest> ParseCompletionRequest(const nlohmann::json& body,
                                                      const RequestLimits& limits);
ParseResult<TokenizeRequest> ParseTokenizeRequest(const nlohmann::json& body,
                                                  const RequestLimits& limits);
ParseResult<DetokenizeRequest> ParseDetokenizeRequest(const nlohmann::json& body,
                                                      const RequestLimits& limits);

}  // namespace gs::api
