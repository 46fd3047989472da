// Arbitrary bytes as a request body: ParseJsonBody, then every
// endpoint's parser in request.h (chat, completions, tokenize, detokenize) with the server's
// limits and with tight ones that short inputs can exceed. The same bytes are also put, escaped
// only where JSON requires, into the "content" of a fixed chat body and the "prompt" of a fixed
// completion body, which drives the JSON lexer's UTF-8 check with arbitrary string content; and,
// with backslashes passed through so the input's own escapes (\ud800, \u0000) reach the lexer,
// into a chat message and a completion's stop string.
//
// Properties (any failure aborts):
//   - No exception escapes ParseJsonBody or a parser.
//   - ParseJsonBody: an accepted body is an object nested at most kMaxJsonDepth deep that holds
//     only valid UTF-8 (a strict dump() does not throw), and DumpJson gives that dump, which
//     parses back to the same value. A refusal is never of an object that nlohmann parses and
//     that nests within the limit (no BOM). A string is accepted exactly when its bytes are
//     valid UTF-8 (utf8_check.h), and then it arrives byte for byte.
//   - Every ApiError is a 4xx invalid_request_error with a non-empty message and valid UTF-8
//     text, and DumpJson(ToJson()) parses back to ToJson().
//   - An accepted request keeps every documented range of request.h: max_tokens in
//     [1, max_tokens_cap], temperature in [0, 2], top_p in (0, 1], top_k 0 or in
//     [1, num_vocab], min_p in [0, 1], the penalties in [-2, 2] and (0, 2], n in [1, max_n],
//     top_logprobs in [0, max_top_logprobs] and only with logprobs, include_usage only with
//     stream, every token id (prompt, stop_token_ids, logit_bias key, detokenize) in
//     [0, num_vocab), biases in [-100, 100], stop strings non-empty, valid UTF-8 and within
//     max_stop / max_stop_bytes, messages non-empty and within max_messages with known roles,
//     prompts non-empty and within max_prompts, token prompts non-empty; and the fields hold the
//     values the client sent.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/request.h"
#include "tests/fuzz/utf8_check.h"

namespace gs::api {
namespace {

using json = nlohmann::json;
using fuzz::IsValidUtf8;

constexpr int32_t kNumVocab = 262144;  // Gemma 3's vocabulary
constexpr std::string_view kBom = "\xEF\xBB\xBF";

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "request_fuzz: property violated: %s\n", what);
    std::abort();
  }
}

RequestLimits ServerLimits() {
  RequestLimits limits;
  limits.num_vocab = kNumVocab;
  return limits;
}

// Caps that a short input can exceed, so that every "too many" branch is reached.
RequestLimits TightLimits() {
  RequestLimits limits = ServerLimits();
  limits.max_n = 2;
  limits.max_stop = 2;
  limits.max_stop_bytes = 4;
  limits.max_logit_bias = 2;
  limits.max_top_logprobs = 2;
  limits.max_messages = 2;
  limits.max_prompts = 2;
  limits.max_stop_token_ids = 2;
  limits.max_tokens_cap = 100;
  return limits;
}

// How many arrays/objects `j` nests (a scalar: 0), counted only up to `limit` + 1 so that a
// deep value cannot overflow the stack here.
int Depth(const json& j, int limit) {
  if (!j.is_structured()) return 0;
  if (limit <= 0) return 1;
  int deepest = 0;
  for (const json& child : j) deepest = std::max(deepest, Depth(child, limit - 1));
  return deepest + 1;
}

// The value of `key` in `obj`; nullptr when absent or null (the parsers' "not given").
const json* Given(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool InVocab(int64_t id, const RequestLimits& limits) { return id >= 0 && id < limits.num_vocab; }

bool Within(size_t count, int32_t limit) {
  return limit >= 0 && count <= static_cast<size_t>(limit);
}

// ---- Errors ----------------------------------------------------------------------------------

void CheckError(const ApiError& e) {
  Require(e.status >= 400 && e.status <= 499, "an ApiError for a request is a 4xx");
  Require(e.type == "invalid_request_error", "a 4xx has type invalid_request_error");
  Require(!e.message.empty(), "an ApiError has a message");
  Require(IsValidUtf8(e.message) && IsValidUtf8(e.param) && IsValidUtf8(e.code),
          "an ApiError's text is valid UTF-8");
  const json body = e.ToJson();
  const json back = json::parse(DumpJson(body), nullptr, /*allow_exceptions=*/false);
  Require(!back.is_discarded(), "DumpJson(ApiError::ToJson()) is valid JSON");
  Require(back == body, "an error body parses back to itself");
}

// ---- ParseJsonBody ---------------------------------------------------------------------------

// The accepted body, or nullopt after checking the refusal.
std::optional<json> CheckJsonBody(std::string_view text) {
  std::variant<json, ApiError> result;
  try {
    result = ParseJsonBody(text);
  } catch (...) {
    Require(false, "no exception escapes ParseJsonBody");
  }
  if (const ApiError* e = std::get_if<ApiError>(&result)) {
    CheckError(*e);
    Require(e->param.empty(), "a body-level error names no param");
    if (!text.empty() && !text.starts_with(kBom)) {
      const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
      Require(j.is_discarded() || !j.is_object() || Depth(j, kMaxJsonDepth) > kMaxJsonDepth,
              "ParseJsonBody accepts every object nlohmann parses within the depth limit");
    }
    return std::nullopt;
  }
  json& body = std::get<json>(result);
  Require(body.is_object(), "an accepted body is an object");
  Require(Depth(body, kMaxJsonDepth) <= kMaxJsonDepth, "an accepted body nests within the limit");
  std::string strict;
  try {
    strict = body.dump();
  } catch (...) {
    Require(false, "an accepted body holds only valid UTF-8 (a strict dump() does not throw)");
  }
  const std::string dumped = DumpJson(body);
  Require(dumped == strict, "DumpJson of an accepted body is its plain dump");
  Require(json::parse(dumped, nullptr, /*allow_exceptions=*/false) == body,
          "an accepted body round-trips through DumpJson");
  return std::move(body);
}

// ---- Accepted requests -----------------------------------------------------------------------

bool IsKnownRole(std::string_view role) {
  return role == "system" || role == "developer" || role == "user" || role == "assistant" ||
         role == "tool";
}

void CheckMessages(const std::vector<ChatMessage>& messages, const RequestLimits& limits,
                   const json& sent) {
  Require(!messages.empty(), "messages is not empty");
  Require(Within(messages.size(), limits.max_messages), "messages within max_messages");
  Require(sent.is_array() && sent.size() == messages.size(), "one message per message sent");
  for (size_t msg_idx = 0; msg_idx < messages.size(); ++msg_idx) {
    const ChatMessage& m = messages[msg_idx];
    const json& s = sent[msg_idx];
    Require(IsKnownRole(m.role), "a message has a known role");
    Require(s.at("role") == m.role, "a message has the role sent");
    Require(IsValidUtf8(m.content) && IsValidUtf8(m.name) && IsValidUtf8(m.tool_call_id),
            "message text is valid UTF-8");
    Require(m.role != "tool" || Given(s, "tool_call_id") != nullptr,
            "a tool message has a tool_call_id");
    const json* content = Given(s, "content");
    Require(content != nullptr || m.role == "assistant", "only assistant content may be null");
    Require(m.content_is_list == (content != nullptr && content->is_array()),
            "content is a list exactly when an array was sent");
    if (!m.content_is_list) {
      Require(m.parts.empty(), "string content has no parts");
      Require(content == nullptr ? m.content.empty() : *content == m.content,
              "string content is the string sent");
      continue;
    }
    Require(m.content.empty(), "list content has no string");
    Require(m.parts.size() == content->size(), "one part per part sent");
    for (size_t part_idx = 0; part_idx < m.parts.size(); ++part_idx) {
      const ContentPart& part = m.parts[part_idx];
      Require(part.type == "text", "only text parts are accepted");
      Require(IsValidUtf8(part.text), "part text is valid UTF-8");
      Require((*content)[part_idx].at("text") == part.text, "a part's text is the text sent");
    }
  }
}

void CheckParams(const GenerationParams& p, const RequestLimits& limits) {
  Require(!p.max_tokens || (*p.max_tokens >= 1 && *p.max_tokens <= limits.max_tokens_cap),
          "max_tokens in [1, max_tokens_cap]");
  Require(p.temperature >= 0 && p.temperature <= 2, "temperature in [0, 2]");
  Require(p.top_p > 0 && p.top_p <= 1, "top_p in (0, 1]");
  Require(p.top_k == 0 || (p.top_k >= 1 && p.top_k <= limits.num_vocab),
          "top_k is 0 or in [1, num_vocab]");
  Require(p.min_p >= 0 && p.min_p <= 1, "min_p in [0, 1]");
  Require(p.presence_penalty >= -2 && p.presence_penalty <= 2, "presence_penalty in [-2, 2]");
  Require(p.frequency_penalty >= -2 && p.frequency_penalty <= 2, "frequency_penalty in [-2, 2]");
  Require(p.repetition_penalty > 0 && p.repetition_penalty <= 2, "repetition_penalty in (0, 2]");
  Require(Within(p.logit_bias.size(), limits.max_logit_bias), "logit_bias within max_logit_bias");
  for (const auto& [id, bias] : p.logit_bias) {
    Require(InVocab(id, limits), "logit_bias keys in [0, num_vocab)");
    Require(bias >= -100 && bias <= 100, "logit_bias values in [-100, 100]");
  }
  Require(p.n >= 1 && p.n <= limits.max_n, "n in [1, max_n]");
  Require(Within(p.stop.size(), limits.max_stop), "stop within max_stop");
  for (const std::string& stop : p.stop) {
    Require(!stop.empty(), "stop strings are not empty");
    Require(Within(stop.size(), limits.max_stop_bytes), "stop strings within max_stop_bytes");
    Require(IsValidUtf8(stop), "stop strings are valid UTF-8");
  }
  Require(Within(p.stop_token_ids.size(), limits.max_stop_token_ids),
          "stop_token_ids within max_stop_token_ids");
  for (const int32_t id : p.stop_token_ids) {
    Require(InVocab(id, limits), "stop_token_ids in [0, num_vocab)");
  }
  Require(p.top_logprobs >= 0 && p.top_logprobs <= limits.max_top_logprobs,
          "top_logprobs in [0, max_top_logprobs]");
  Require(p.top_logprobs == 0 || p.logprobs, "top_logprobs only with logprobs");
  Require(!p.include_usage || p.stream, "include_usage only with stream");
}

// An accepted field holds the value sent (null or absent: the default).
void CheckParamsMatchBody(const GenerationParams& p, const json& body) {
  const json* max_tokens = Given(body, "max_completion_tokens");
  if (max_tokens == nullptr) max_tokens = Given(body, "max_tokens");
  Require(max_tokens == nullptr ? !p.max_tokens : p.max_tokens == max_tokens->get<int64_t>(),
          "max_tokens is max_completion_tokens, else max_tokens");
  if (const json* v = Given(body, "temperature")) {
    Require(p.temperature == static_cast<float>(v->get<double>()), "temperature as sent");
  }
  if (const json* v = Given(body, "top_p")) {
    Require(p.top_p == static_cast<float>(v->get<double>()), "top_p as sent");
  }
  if (const json* v = Given(body, "n")) Require(p.n == v->get<int64_t>(), "n as sent");
  if (const json* v = Given(body, "stream")) Require(p.stream == v->get<bool>(), "stream as sent");
  const json* seed = Given(body, "seed");
  Require(seed == nullptr ? !p.seed : p.seed.has_value(), "seed set exactly when sent");
  if (seed != nullptr) {
    Require(seed->is_number_unsigned() ? *p.seed == seed->get<uint64_t>()
                                       : static_cast<int64_t>(*p.seed) == seed->get<int64_t>(),
            "seed as sent");
  }
  const json* stop = Given(body, "stop");
  if (stop == nullptr) {
    Require(p.stop.empty(), "no stop strings unless sent");
  } else if (stop->is_string()) {
    Require(p.stop.size() == 1 && *stop == p.stop[0], "a stop string as sent");
  } else {
    Require(*stop == json(p.stop), "stop strings as sent");
  }
  const json* bias = Given(body, "logit_bias");
  // Keys "1" and "01" name one token, so there may be fewer entries than sent.
  Require(bias == nullptr ? p.logit_bias.empty() : p.logit_bias.size() <= bias->size(),
          "logit_bias entries as sent");
}

template <typename T>
ParseResult<T> RunParser(ParseResult<T> (*parse)(const json&, const RequestLimits&),
                         const json& body, const RequestLimits& limits) {
  try {
    return parse(body, limits);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "request_fuzz: exception: %s\n", e.what());
  } catch (...) {
  }
  Require(false, "no exception escapes a request parser");
  std::abort();
}

// The accepted requests, for the callers that know what they sent.
struct Accepted {
  std::optional<ChatRequest> chat;
  std::optional<CompletionRequest> completion;
};

void CheckModel(const std::string& model, const json& body) {
  const json* sent = Given(body, "model");
  Require(sent == nullptr ? model.empty() : *sent == model, "model as sent");
}

Accepted CheckParsers(const json& body, const RequestLimits& limits) {
  Accepted accepted;

  ParseResult<ChatRequest> chat = RunParser(ParseChatRequest, body, limits);
  if (const ApiError* e = std::get_if<ApiError>(&chat)) {
    CheckError(*e);
  } else {
    ChatRequest& req = std::get<ChatRequest>(chat);
    CheckModel(req.model, body);
    CheckMessages(req.messages, limits, body.at("messages"));
    CheckParams(req.params, limits);
    CheckParamsMatchBody(req.params, body);
    Require(Given(body, "top_logprobs") == nullptr || req.params.logprobs,
            "chat: top_logprobs needs logprobs");
    accepted.chat = std::move(req);
  }

  ParseResult<CompletionRequest> completion = RunParser(ParseCompletionRequest, body, limits);
  if (const ApiError* e = std::get_if<ApiError>(&completion)) {
    CheckError(*e);
  } else {
    CompletionRequest& req = std::get<CompletionRequest>(completion);
    CheckModel(req.model, body);
    CheckParams(req.params, limits);
    CheckParamsMatchBody(req.params, body);
    Require(!req.prompts.empty(), "completions: at least one prompt");
    Require(req.prompts.size() == 1 || Within(req.prompts.size(), limits.max_prompts),
            "completions: prompts within max_prompts");
    for (const Prompt& prompt : req.prompts) {
      if (prompt.is_tokens) {
        Require(!prompt.tokens.empty() && prompt.text.empty(), "a token prompt is not empty");
        for (const int32_t id : prompt.tokens) {
          Require(InVocab(id, limits), "prompt token ids in [0, num_vocab)");
        }
      } else {
        Require(prompt.tokens.empty() && IsValidUtf8(prompt.text), "a text prompt is valid UTF-8");
      }
    }
    if (const json* k = Given(body, "logprobs")) {
      Require(req.params.logprobs && req.params.top_logprobs == k->get<int64_t>(),
              "completions: logprobs k sets logprobs and top_logprobs");
    }
    accepted.completion = std::move(req);
  }

  ParseResult<TokenizeRequest> tokenize = RunParser(ParseTokenizeRequest, body, limits);
  if (const ApiError* e = std::get_if<ApiError>(&tokenize)) {
    CheckError(*e);
  } else {
    const TokenizeRequest& req = std::get<TokenizeRequest>(tokenize);
    CheckModel(req.model, body);
    const json* messages = Given(body, "messages");
    const json* prompt = Given(body, "prompt");
    Require(messages == nullptr || prompt == nullptr, "tokenize: not both prompt and messages");
    Require(req.is_chat == (messages != nullptr), "tokenize: chat form exactly with messages");
    if (req.is_chat) {
      CheckMessages(req.messages, limits, *messages);
    } else {
      Require(prompt != nullptr && *prompt == req.prompt && IsValidUtf8(req.prompt),
              "tokenize: the prompt as sent");
    }
  }

  ParseResult<DetokenizeRequest> detokenize = RunParser(ParseDetokenizeRequest, body, limits);
  if (const ApiError* e = std::get_if<ApiError>(&detokenize)) {
    CheckError(*e);
  } else {
    const DetokenizeRequest& req = std::get<DetokenizeRequest>(detokenize);
    CheckModel(req.model, body);
    Require(body.at("tokens").size() == req.tokens.size(), "detokenize: one id per id sent");
    for (const int32_t id : req.tokens) {
      Require(InVocab(id, limits), "detokenize: token ids in [0, num_vocab)");
    }
  }
  return accepted;
}

// ---- The input inside a JSON string ----------------------------------------------------------

// `bytes` as the inside of a JSON string literal: '"', control characters and (unless
// `keep_backslashes`) '\' escaped; every other byte, 0x80 and up included, left for the lexer's
// UTF-8 check. With `keep_backslashes` the input's own escapes reach the lexer as written.
std::string JsonStringBody(std::string_view bytes, bool keep_backslashes) {
  std::string out;
  out.reserve(bytes.size() + 16);
  for (const char c : bytes) {
    const auto byte = static_cast<uint8_t>(c);
    if (c == '"' || (c == '\\' && !keep_backslashes)) {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      char escape[7];
      std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
      out += escape;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void CheckEscapedInput(std::string_view input) {
  const bool valid = IsValidUtf8(input);
  const std::string escaped = JsonStringBody(input, /*keep_backslashes=*/false);

  const std::string chat = R"({"model":"gemma","messages":[{"role":"user","content":")" + escaped +
                           R"("}],"stream":true})";
  const std::optional<json> chat_body = CheckJsonBody(chat);
  Require(chat_body.has_value() == valid, "chat content is accepted iff it is valid UTF-8");
  if (chat_body) {
    const Accepted accepted = CheckParsers(*chat_body, ServerLimits());
    Require(accepted.chat && accepted.chat->messages.size() == 1 &&
                accepted.chat->messages[0].content == input,
            "valid chat content arrives byte for byte");
  }

  const std::string completion =
      R"({"model":"gemma","prompt":")" + escaped + R"(","max_tokens":16,"stop":["\n\n"]})";
  const std::optional<json> completion_body = CheckJsonBody(completion);
  Require(completion_body.has_value() == valid, "a prompt is accepted iff it is valid UTF-8");
  if (completion_body) {
    const Accepted accepted = CheckParsers(*completion_body, ServerLimits());
    Require(accepted.completion && accepted.completion->prompts.size() == 1 &&
                accepted.completion->prompts[0].text == input,
            "a valid prompt arrives byte for byte");
  }
}

void CheckRawEscapes(std::string_view input) {
  const std::string raw = JsonStringBody(input, /*keep_backslashes=*/true);
  const std::string bodies[] = {
      R"({"messages":[{"role":"system","content":")" + raw + R"("}]})",
      R"({"prompt":"x","stop":")" + raw + R"("})",
  };
  for (const std::string& text : bodies) {
    if (const std::optional<json> body = CheckJsonBody(text)) {
      CheckParsers(*body, ServerLimits());
      CheckParsers(*body, TightLimits());
    }
  }
}

}  // namespace
}  // namespace gs::api

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const std::optional<nlohmann::json> body = gs::api::CheckJsonBody(input)) {
    gs::api::CheckParsers(*body, gs::api::ServerLimits());
    gs::api::CheckParsers(*body, gs::api::TightLimits());
  }
  gs::api::CheckEscapedInput(input);
  gs::api::CheckRawEscapes(input);
  return 0;
}
