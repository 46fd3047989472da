// OpenAI responses as JSON: chat.completion and its stream chunks, text_completion and its
// chunks, usage, logprobs, the model list, and SSE framing (OpenAI's API reference). Token
// text may be any bytes (a token can end inside a UTF-8 character): `token` strings are made
// valid with U+FFFD and the exact bytes go in `bytes`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gs::api {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<int64_t> cached_tokens;  // prompt_tokens_details.cached_tokens when known
};

struct TopLogprob {
  std::string token;  // raw bytes of the token's text
  float logprob = 0;
};

struct TokenLogprobs {
  std::string token;  // raw bytes
  float logprob = 0;
  std::vector<TopLogprob> top;
};

// Identity shared by every chunk of one response.
struct ResponseHeader {
  std::string id;  // chatcmpl-... or cmpl-...
  int64_t created = 0;
  std::string model;
};

// A call the model made, as message.tool_calls[i] carries it.
struct ToolCallResult {
  std::string id;  // "call_..."
  std::string name;
  std::string arguments;  // a JSON object's text
};

struct ChoiceResult {
  int32_t index = 0;
  std::string text;  // with tool calls, an empty text is sent as null content
  // Chat: the model's reasoning, sent as message.reasoning_content (vLLM's and llama.cpp's field)
  // when non-empty; never part of `text`.
  std::string reasoning;
  std::string finish_reason;  // "stop", "length" or "tool_calls"
  bool has_logprobs = false;
  std::vector<TokenLogprobs> logprobs;
  std::vector<ToolCallResult> tool_calls;  // chat: message.tool_calls when non-empty
};

nlohmann::json UsageJson(const Usage& usage);

// Non-streaming bodies.
nlohmann::json ChatCompletionJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                                  const Usage& usage);
nlohmann::json TextCompletionJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                                  const Usage& usage);

// One entry of a streamed delta.tool_calls, as OpenAI streams a call: the entry that opens it
// carries index, id, type, the whole name and arguments ""; later entries carry the index and
// argument text to append.
struct ToolCallChunk {
  int32_t index = 0;  // the call's position in the choice's reply
  bool opens = false;
  std::string id;         // opens only
  std::string name;       // opens only
  std::string arguments;  // !opens only
};

// One streamed piece of one choice. For chat, role_delta sends {"role":"assistant","content":""}
// (the first chunk of a choice); finish_reason empty means null (and an empty delta otherwise).
struct ChunkDelta {
  int32_t index = 0;
  bool role_delta = false;
  std::optional<std::string> text;
  std::optional<std::string> reasoning;   // chat: delta.reasoning_content
  std::vector<ToolCallChunk> tool_calls;  // chat: delta.tool_calls when non-empty
  std::string finish_reason;
  bool has_logprobs = false;
  std::vector<TokenLogprobs> logprobs;
  int64_t text_offset = 0;  // completions logprobs: offset of this delta's text in the choice
};

// include_usage: chunks carry "usage": null (and the final usage chunk follows).
nlohmann::json ChatChunkJson(const ResponseHeader& h, const ChunkDelta& d, bool include_usage);
nlohmann::json TextChunkJson(const ResponseHeader& h, const ChunkDelta& d, bool include_usage);
// The last chunk with include_usage: no choices, the usage.
nlohmann::json UsageChunkJson(const ResponseHeader& h, const char* object, const Usage& usage);

nlohmann::json ModelJson(const std::string& id, int64_t created);

// SSE framing: "data: <compact json>\n\n", the terminator, and a comment line (keep-alive).
std::string SseEvent(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";
inline constexpr const char* kSsePing = ": ping\n\n";

}  // namespace gs::api
