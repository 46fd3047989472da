// Request parsing and validation: every bad field is a
// 400 naming its param, every good body parses into the values it says.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <variant>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/request.h"

namespace gs::api {
namespace {

using json = nlohmann::json;

constexpr int32_t kNumVocab = 1000;

RequestLimits Limits() {
  RequestLimits limits;
  limits.num_vocab = kNumVocab;
  return limits;
}

// The body a client sends: `base` with the fields of `extra` (a JSON object) set over it. Goes
// through the text form so every case exercises ParseJsonBody too.
std::string Merge(const char* base, const char* extra) {
  json body = json::parse(base);
  const json fields = json::parse(extra);  // named: items() does not keep a temporary alive
  for (const auto& [key, value] : fields.items()) body[key] = value;
  return body.dump();
}

constexpr const char* kChatBase = R"({"model": "gemma", "messages": [{"role": "user",
                                      "content": "Hi"}]})";
constexpr const char* kCompletionBase = R"({"model": "gemma", "prompt": "Hello"})";

template <typename T>
using Parser = ParseResult<T> (*)(const json&, const RequestLimits&);

template <typename T>
ParseResult<T> ParseText(const std::string& text, Parser<T> parse,
                         const RequestLimits& limits = Limits()) {
  auto body = ParseJsonBody(text);
  if (auto* error = std::get_if<ApiError>(&body)) return *error;
  return parse(std::get<json>(body), limits);
}

ParseResult<ChatRequest> Chat(const char* extra, const RequestLimits& limits = Limits()) {
  return ParseText<ChatRequest>(Merge(kChatBase, extra), ParseChatRequest, limits);
}

ParseResult<CompletionRequest> Completion(const char* extra,
                                          const RequestLimits& limits = Limits()) {
  return ParseText<CompletionRequest>(Merge(kCompletionBase, extra), ParseCompletionRequest,
                                      limits);
}

bool IsPrintableAscii(const std::string& s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

// Asserts a client error naming `param`, with a message and a body that serializes.
template <typename T>
void ExpectBadParam(const ParseResult<T>& result, const std::string& param) {
  ASSERT_TRUE(std::holds_alternative<ApiError>(result)) << "accepted; expected 400 " << param;
  const ApiError& e = std::get<ApiError>(result);
  EXPECT_EQ(e.status, 400) << e.message;
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, param) << e.message;
  EXPECT_FALSE(e.message.empty());
  EXPECT_NO_THROW(e.ToJson().dump());
}

// The parsed request (by value: callers pass temporaries), or a failure and T{}.
template <typename T>
T ExpectOk(const ParseResult<T>& result) {
  if (const auto* e = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << "refused: param=" << e->param << " message=" << e->message;
    return T{};
  }
  return std::get<T>(result);
}

std::string Nest(int depth) {
  // depth containers: one object holding depth - 1 nested arrays.
  return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

// ---- ApiError ------------------------------------------------------------------------------

TEST(ApiErrorTest, ToJsonHasTheOpenAiShapeWithNulls) {
  const json j = InvalidParam("temperature", "bad").ToJson();
  EXPECT_EQ(j, json::parse(R"({"error": {"message": "bad", "type": "invalid_request_error",
                                         "param": "temperature", "code": null}})"));
  const json no_param = InternalError("boom").ToJson();
  EXPECT_TRUE(no_param["error"]["param"].is_null());
  EXPECT_TRUE(no_param["error"]["code"].is_null());
  EXPECT_EQ(no_param["error"]["type"], "server_error");
}

TEST(ApiErrorTest, EachConstructorHasItsStatusTypeAndCode) {
  const ApiError context = ContextLengthExceeded("messages", "too long");
  EXPECT_EQ(context.status, 400);
  EXPECT_EQ(context.code, "context_length_exceeded");
  EXPECT_EQ(context.param, "messages");

  const ApiError model = ModelNotFound("gpt-9");
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(model.type, "invalid_request_error");
  EXPECT_EQ(model.code, "model_not_found");
  EXPECT_EQ(model.message, "The model `gpt-9` does not exist.");

  const ApiError key = InvalidApiKey();
  EXPECT_EQ(key.status, 401);
  EXPECT_EQ(key.code, "invalid_api_key");

  const ApiError busy = Unavailable("loading");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.type, "server_error");
  EXPECT_EQ(busy.code, "service_unavailable");

  const ApiError internal = InternalError("boom");
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.type, "server_error");
}

TEST(ApiErrorTest, ModelNotFoundCutsLongNamesAtACharacterBoundary) {
  std::string name(255, 'a');
  name += "\xC3\xA9";  // é straddles the 256-byte cut
  name += std::string(10000, 'b');
  const ApiError e = ModelNotFound(name);
  EXPECT_LT(e.message.size(), 400u);
  EXPECT_NO_THROW(e.ToJson().dump());
}

// ---- ParseJsonBody (V1, V5, V6) ------------------------------------------------------------

void ExpectBadBody(std::string_view body) {
  auto result = ParseJsonBody(body);
  ASSERT_TRUE(std::holds_alternative<ApiError>(result)) << "accepted: " << body.substr(0, 80);
  const ApiError& e = std::get<ApiError>(result);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_TRUE(e.param.empty());
  // Parser messages quote what they read; what reaches the client is short and clean.
  EXPECT_TRUE(IsPrintableAscii(e.message)) << e.message;
  EXPECT_LT(e.message.size(), 400u);
  EXPECT_NO_THROW(e.ToJson().dump());
}

TEST(JsonBodyTest, MalformedBodiesAre400s) {  // V1
  for (const std::string_view body :
       {"", "not json", "{\"a\":", "{\"a\": 1", "[]", "[1, 2]", "null", "\"text\"", "5", "true",
        "{} x", "{}{}", "{\"a\": 1,}", "{'a': 1}", "{\"a\": 1} // comment", "\xEF\xBB\xBF{}"}) {
    SCOPED_TRACE(std::string(body));
    ExpectBadBody(body);
  }
}

TEST(JsonBodyTest, AnEmptyObjectParsesButIsNotAChatRequest) {  // V1
  auto body = ParseJsonBody("{}");
  ASSERT_TRUE(std::holds_alternative<json>(body));
  ExpectBadParam(ParseChatRequest(std::get<json>(body), Limits()), "messages");
  ExpectBadParam(ParseCompletionRequest(std::get<json>(body), Limits()), "prompt");
}

TEST(JsonBodyTest, NestingUpToTheCapParsesAndOneMoreIsRefused) {  // V5
  EXPECT_TRUE(std::holds_alternative<json>(ParseJsonBody(Nest(10))));
  auto at_cap = ParseJsonBody(Nest(kMaxJsonDepth));
  ASSERT_TRUE(std::holds_alternative<json>(at_cap));
  EXPECT_NO_THROW(DumpJson(std::get<json>(at_cap)));
  ExpectBadBody(Nest(kMaxJsonDepth + 1));
  EXPECT_TRUE(std::holds_alternative<json>(ParseJsonBody(Nest(5), 5)));
  EXPECT_TRUE(std::holds_alternative<ApiError>(ParseJsonBody(Nest(6), 5)));
}

TEST(JsonBodyTest, AMillionLevelsAreRefusedFastWithoutParsing) {  // V5
  // Well-formed, so only the depth cap refuses them (nlohmann itself would parse them, and
  // dump() would then overflow the stack).
  constexpr size_t kLevels = 1 << 20;  // 2 MB of brackets
  const std::string deep_array = std::string(kLevels, '[') + std::string(kLevels, ']');
  std::string deep_object;
  for (size_t i = 0; i < kLevels / 4; ++i) deep_object += "{\"a\":";
  deep_object += "1" + std::string(kLevels / 4, '}');
  const std::string unclosed(2 << 20, '[');
  const auto start = std::chrono::steady_clock::now();
  ExpectBadBody(deep_array);
  ExpectBadBody(deep_object);
  ExpectBadBody(unclosed);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // A linear scan of a few MB; generous for sanitizer builds.
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(JsonBodyTest, BracketsInsideStringsDoNotCountTowardDepth) {  // V5
  const std::string brackets(100000, '[');
  EXPECT_TRUE(std::holds_alternative<json>(ParseJsonBody("{\"a\": \"" + brackets + "\"}")));
  // An escaped quote does not end the string.
  EXPECT_TRUE(std::holds_alternative<json>(ParseJsonBody("{\"a\": \"\\\"" + brackets + "\\\\\"}")));
  EXPECT_TRUE(std::holds_alternative<json>(ParseJsonBody("{\"a\": \"\\\\\", \"b\": [[1]]}")));
}

TEST(JsonBodyTest, InvalidUtf8AndLoneSurrogatesAre400s) {  // V6
  for (const std::string_view body : {
           "{\"a\": \"\xFF\"}",            // never valid in UTF-8
           "{\"a\": \"\xC0\x80\"}",        // overlong NUL
           "{\"a\": \"\xE0\x80\xAF\"}",    // overlong '/'
           "{\"a\": \"\xED\xA0\x80\"}",    // a surrogate encoded as UTF-8
           "{\"a\": \"\xE2\x82\"}",        // truncated sequence
           "{\"a\": \"\x80\"}",            // stray continuation byte
           "{\"a\": \"\\ud800\"}",         // lone high surrogate
           "{\"a\": \"\\udc00\"}",         // lone low surrogate
           "{\"a\": \"\\ud800\\u0041\"}",  // high surrogate without its pair
           "{\"a\": \"x\ny\"}",            // raw control character
       }) {
    SCOPED_TRACE(std::string(body));
    ExpectBadBody(body);
  }
  ExpectBadBody(std::string("{\"a\": \"x\0y\"}", 12));  // raw NUL
  ExpectBadBody("{\"a\": \"" + std::string(100000, 'x') + "\xFF\"}");
}

TEST(JsonBodyTest, ValidUnicodeAndEscapedNulParse) {  // V6
  auto body = ParseJsonBody(R"({"a": "\ud83d\ude00 caf\u00e9 \u0000"})");
  ASSERT_TRUE(std::holds_alternative<json>(body));
  EXPECT_EQ(std::get<json>(body)["a"], std::string("\xF0\x9F\x98\x80 caf\xC3\xA9 \0", 12));
}

TEST(JsonBodyTest, NumbersBeyondDoubleAndNonFiniteLiteralsAre400s) {  // V8
  for (const std::string_view body :
       {"{\"temperature\": 1e400}", "{\"temperature\": -1e400}", "{\"temperature\": NaN}",
        "{\"temperature\": Infinity}", "{\"temperature\": -Infinity}", "{\"n\": 01}"}) {
    SCOPED_TRACE(std::string(body));
    ExpectBadBody(body);
  }
}

TEST(DumpJsonTest, TruncatedUtf8IsReplacedNotThrown) {
  const json j = {{"text", std::string("abc\xE2\x82")}};
  EXPECT_THROW(j.dump(), json::type_error);  // what DumpJson exists to avoid
  std::string out;
  EXPECT_NO_THROW(out = DumpJson(j));
  EXPECT_EQ(out, "{\"text\":\"abc\xEF\xBF\xBD\"}");
}

TEST(DumpJsonTest, IsCompact) {
  EXPECT_EQ(DumpJson(json::parse(R"({"a": [1, 2], "b": null})")), R"({"a":[1,2],"b":null})");
}

// ---- Chat: refused fields ------------------------------------------------------------------

struct BadCase {
  const char* extra;  // fields set over the base body
  const char* param;  // the param the 400 must name
};

// V7 wrong types, V8 numbers, V11 caps, V12 messages, V13 stream, and what is not supported yet.
constexpr BadCase kBadChat[] = {
    // V7: wrong types.
    {R"({"max_tokens": "5"})", "max_tokens"},
    {R"({"temperature": true})", "temperature"},
    {R"({"messages": {"role": "user", "content": "Hi"}})", "messages"},
    {R"({"model": 5})", "model"},
    {R"({"n": "2"})", "n"},
    {R"({"top_p": "0.5"})", "top_p"},
    {R"({"top_k": true})", "top_k"},
    {R"({"min_p": [0.1]})", "min_p"},
    {R"({"presence_penalty": {}})", "presence_penalty"},
    {R"({"frequency_penalty": "1"})", "frequency_penalty"},
    {R"({"repetition_penalty": false})", "repetition_penalty"},
    {R"({"logprobs": "yes"})", "logprobs"},
    {R"({"logprobs": 1})", "logprobs"},
    {R"({"ignore_eos": 1})", "ignore_eos"},
    {R"({"add_generation_prompt": "no"})", "add_generation_prompt"},
    {R"({"seed": "1"})", "seed"},
    {R"({"seed": true})", "seed"},
    {R"({"logit_bias": [1]})", "logit_bias"},
    {R"({"logit_bias": "5:1"})", "logit_bias"},
    // V8: max_tokens and max_completion_tokens.
    {R"({"max_tokens": -1})", "max_tokens"},
    {R"({"max_tokens": 0})", "max_tokens"},
    {R"({"max_tokens": -0})", "max_tokens"},
    {R"({"max_tokens": 1048577})", "max_tokens"},
    {R"({"max_tokens": 18446744073709551615})", "max_tokens"},
    {R"({"max_tokens": 1e9})", "max_tokens"},
    {R"({"max_tokens": 1.5})", "max_tokens"},
    {R"({"max_tokens": 5.0})", "max_tokens"},
    {R"({"max_completion_tokens": 0})", "max_completion_tokens"},
    {R"({"max_completion_tokens": 2000000})", "max_completion_tokens"},
    {R"({"max_tokens": 5, "max_completion_tokens": -5})", "max_completion_tokens"},
    // V8: n.
    {R"({"n": 0})", "n"},
    {R"({"n": -1})", "n"},
    {R"({"n": 17})", "n"},
    {R"({"n": 1000000000})", "n"},
    {R"({"n": 1e9})", "n"},
    {R"({"n": 2.5})", "n"},
    // V8: sampling ranges.
    {R"({"top_k": -2})", "top_k"},
    {R"({"top_k": 2147483648})", "top_k"},
    {R"({"top_k": 1.5})", "top_k"},
    {R"({"top_p": 1.5})", "top_p"},
    {R"({"top_p": 0})", "top_p"},
    {R"({"top_p": -0.0})", "top_p"},
    {R"({"temperature": -1})", "temperature"},
    {R"({"temperature": 2.0001})", "temperature"},
    {R"({"temperature": 1e308})", "temperature"},
    {R"({"temperature": -1e308})", "temperature"},
    {R"({"min_p": 1.1})", "min_p"},
    {R"({"min_p": -0.1})", "min_p"},
    {R"({"presence_penalty": 2.5})", "presence_penalty"},
    {R"({"frequency_penalty": -3})", "frequency_penalty"},
    {R"({"repetition_penalty": 0})", "repetition_penalty"},
    {R"({"repetition_penalty": 2.1})", "repetition_penalty"},
    // V8: seed beyond [-2^63, 2^64) arrives as a double and is not an integer.
    {R"({"seed": 18446744073709551616})", "seed"},
    {R"({"seed": -9223372036854775809})", "seed"},
    {R"({"seed": 1.5})", "seed"},
    {R"({"seed": 1e3})", "seed"},
    // V8: logprobs.
    {R"({"logprobs": true, "top_logprobs": 1e6})", "top_logprobs"},
    {R"({"logprobs": true, "top_logprobs": 1000000})", "top_logprobs"},
    {R"({"logprobs": true, "top_logprobs": 21})", "top_logprobs"},
    {R"({"logprobs": true, "top_logprobs": -1})", "top_logprobs"},
    {R"({"logprobs": true, "top_logprobs": "3"})", "top_logprobs"},
    {R"({"top_logprobs": 3})", "top_logprobs"},
    {R"({"logprobs": false, "top_logprobs": 3})", "top_logprobs"},
    {R"({"logprobs": false, "top_logprobs": 0})", "top_logprobs"},
    // V8: logit_bias keys and values.
    {R"({"logit_bias": {"-1": 1}})", "logit_bias"},
    {R"({"logit_bias": {"1000": 1}})", "logit_bias"},
    {R"({"logit_bias": {"2147483648": 1}})", "logit_bias"},
    {R"({"logit_bias": {"99999999999999999999999": 1}})", "logit_bias"},
    {R"({"logit_bias": {"abc": 1}})", "logit_bias"},
    {R"({"logit_bias": {"": 1}})", "logit_bias"},
    {R"({"logit_bias": {" 5": 1}})", "logit_bias"},
    {R"({"logit_bias": {"+5": 1}})", "logit_bias"},
    {R"({"logit_bias": {"5.0": 1}})", "logit_bias"},
    {R"({"logit_bias": {"5": 101}})", "logit_bias"},
    {R"({"logit_bias": {"5": -100.5}})", "logit_bias"},
    {R"({"logit_bias": {"5": "NaN"}})", "logit_bias"},
    {R"({"logit_bias": {"5": "Infinity"}})", "logit_bias"},
    {R"({"logit_bias": {"5": null}})", "logit_bias"},
    {R"({"logit_bias": {"5": 1e308}})", "logit_bias"},
    // V11: stop strings.
    {R"({"stop": ""})", "stop"},
    {R"({"stop": [""]})", "stop"},
    {R"({"stop": ["a", ""]})", "stop"},
    {R"({"stop": 5})", "stop"},
    {R"({"stop": ["a", 5]})", "stop"},
    {R"({"stop": [null]})", "stop"},
    {R"({"stop": {"a": 1}})", "stop"},
    {R"({"stop": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                  "15", "16", "17"]})",
     "stop"},
    {R"({"stop_token_ids": [-1]})", "stop_token_ids"},
    {R"({"stop_token_ids": [1000]})", "stop_token_ids"},
    {R"({"stop_token_ids": ["1"]})", "stop_token_ids"},
    {R"({"stop_token_ids": [1.5]})", "stop_token_ids"},
    {R"({"stop_token_ids": 1})", "stop_token_ids"},
    // V13: stream and stream_options.
    {R"({"stream": "true"})", "stream"},
    {R"({"stream": 1})", "stream"},
    {R"({"stream_options": {"include_usage": true}})", "stream_options"},
    {R"({"stream": false, "stream_options": {"include_usage": true}})", "stream_options"},
    {R"({"stream": true, "stream_options": "yes"})", "stream_options"},
    {R"({"stream": true, "stream_options": [true]})", "stream_options"},
    {R"({"stream": true, "stream_options": {"include_usage": "yes"}})",
     "stream_options.include_usage"},
    // V12: messages.
    {R"({"messages": []})", "messages"},
    {R"({"messages": "Hi"})", "messages"},
    {R"({"messages": null})", "messages"},
    {R"({"messages": [5]})", "messages[0]"},
    {R"({"messages": [{"content": "Hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": null, "content": "Hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": 1, "content": "Hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]})",
     "messages[1].role"},
    {R"({"messages": [{"role": "User", "content": "Hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": "function", "content": "Hi", "name": "f"}]})", "messages[0].role"},
    {R"({"messages": [{"role": "tool", "content": "42"}]})", "messages[0].tool_call_id"},
    {R"({"messages": [{"role": "tool", "content": "42", "tool_call_id": null}]})",
     "messages[0].tool_call_id"},
    {R"({"messages": [{"role": "tool", "content": "42", "tool_call_id": 7}]})",
     "messages[0].tool_call_id"},
    {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": null}]})", "messages[0].content"},
    {R"({"messages": [{"role": "system", "content": null}]})", "messages[0].content"},
    {R"({"messages": [{"role": "tool", "tool_call_id": "c", "content": null}]})",
     "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": {"type": "text", "text": "Hi"}}]})",
     "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": ["Hi"]}]})", "messages[0].content[0]"},
    {R"({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]})",
     "messages[0].content[0].type"},
    {R"({"messages": [{"role": "user", "content": [{"type": 1, "text": "Hi"}]}]})",
     "messages[0].content[0].type"},
    {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
     "messages[0].content[0].text"},
    {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]})",
     "messages[0].content[0].text"},
    {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                   {"type": "banana"}]}]})",
     "messages[0].content[1].type"},
    {R"({"messages": [{"role": "user", "content": "Hi", "name": 5}]})", "messages[0].name"},
    {R"({"messages": [{"role": "assistant", "content": "x", "tool_calls": "yes"}]})",
     "messages[0].tool_calls"},
    {R"({"messages": [{"role": "assistant", "content": null,
                       "function_call": {"name": "f", "arguments": "{}"}}]})",
     "messages[0].function_call"},
    {R"({"messages": [{"role": "user", "content": "a"},
                      {"role": "assistant", "content": "b", "reasoning_content": 5}]})",
     "messages[1].reasoning_content"},
    // Thinking switches.
    {R"({"reasoning_effort": "extreme"})", "reasoning_effort"},
    {R"({"reasoning_effort": "HIGH"})", "reasoning_effort"},
    {R"({"reasoning_effort": ""})", "reasoning_effort"},
    {R"({"reasoning_effort": true})", "reasoning_effort"},
    {R"({"reasoning_effort": 2})", "reasoning_effort"},
    {R"({"chat_template_kwargs": "enable_thinking"})", "chat_template_kwargs"},
    {R"({"chat_template_kwargs": [true]})", "chat_template_kwargs"},
    {R"({"chat_template_kwargs": {"enable_thinking": "yes"}})",
     "chat_template_kwargs.enable_thinking"},
    {R"({"chat_template_kwargs": {"enable_thinking": 1}})", "chat_template_kwargs.enable_thinking"},
    {R"({"chat_template_kwargs": {"enable_thinking": true}, "reasoning_effort": "max"})",
     "reasoning_effort"},
    // Media parts: refused by the part's path until multimodal input lands.
    {R"({"messages": [{"role": "user", "content": [{"type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})",
     "messages[0].content[0]"},
    {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "hear"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]})",
     "messages[0].content[1]"},
    {R"({"messages": [{"role": "user", "content": [{"type": "audio_url"}]}]})",
     "messages[0].content[0]"},
    {R"({"messages": [{"role": "user", "content": [{"type": "video_url"}]}]})",
     "messages[0].content[0]"},
    {R"({"messages": [{"role": "user", "content": [{"type": "file"}]}]})",
     "messages[0].content[0]"},
    {R"({"messages": [{"role": "user", "content": [{"type": "image"}]}]})",
     "messages[0].content[0]"},
    // Tools: OpenAI's rules, each 400 naming the offending field.
    {R"({"tools": "f"})", "tools"},
    {R"({"tools": [5]})", "tools[0]"},
    {R"({"tools": [{"function": {"name": "f"}}]})", "tools[0].type"},
    {R"({"tools": [{"type": "retrieval", "function": {"name": "f"}}]})", "tools[0].type"},
    {R"({"tools": [{"type": "function"}]})", "tools[0].function"},
    {R"({"tools": [{"type": "function", "function": "f"}]})", "tools[0].function"},
    {R"({"tools": [{"type": "function", "function": {"description": "d"}}]})",
     "tools[0].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": 5}}]})", "tools[0].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": ""}}]})", "tools[0].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}},
                   {"type": "function", "function": {"name": "get weather"}}]})",
     "tools[1].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f.g"}}]})", "tools[0].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}},
                   {"type": "function", "function": {"name": "g"}},
                   {"type": "function", "function": {"name": "f"}}]})",
     "tools[2].function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]})",
     "tools[0].function.description"},
    {R"({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]})",
     "tools[0].function.strict"},
    {R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]})",
     "tools[0].function.parameters"},
    {R"({"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]})",
     "tools[0].function.parameters"},
    {R"({"tools": [{"type": "function", "function": {"name": "f",
        "parameters": {"type": "string"}}}]})",
     "tools[0].function.parameters.type"},
    {R"({"tools": [{"type": "function", "function": {"name": "f",
        "parameters": {"type": "object", "properties": [1]}}}]})",
     "tools[0].function.parameters.properties"},
    {R"({"tool_choice": "auto"})", "tool_choice"},
    {R"({"tool_choice": "required"})", "tool_choice"},
    {R"({"tool_choice": {"type": "function", "function": {"name": "f"}}})",
     "tool_choice.function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "any"})",
     "tool_choice"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": 1})",
     "tool_choice"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "function", "function": {"name": "g"}}})",
     "tool_choice.function.name"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "function"}})",
     "tool_choice.function"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "allowed_tools", "function": {"name": "f"}}})",
     "tool_choice.type"},
    {R"({"tools": [{"type": "function", "function": {"name": "f"}}],
        "parallel_tool_calls": "no"})",
     "parallel_tool_calls"},
    {R"({"functions": [{"name": "f"}]})", "functions"},
    {R"({"function_call": "auto"})", "function_call"},
    // Tool calls in the history.
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [5]}]})",
     "messages[0].tool_calls[0]"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "type": "function"}]}]})",
     "messages[0].tool_calls[0].function"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "type": "custom", "function": {"name": "f"}}]}]})",
     "messages[0].tool_calls[0].type"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "function": {"arguments": "{}"}}]}]})",
     "messages[0].tool_calls[0].function.name"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "function": {"name": "f", "arguments": "{not json"}}]}]})",
     "messages[0].tool_calls[0].function.arguments"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "function": {"name": "f", "arguments": "[1, 2]"}}]}]})",
     "messages[0].tool_calls[0].function.arguments"},
    {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
        "function": {"name": "f", "arguments": 5}}]}]})",
     "messages[0].tool_calls[0].function.arguments"},
    {R"({"response_format": {"type": "json_schema"}})", "response_format.json_schema"},
    {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x",
        "schema": "{}"}}})",
     "response_format.json_schema.schema"},
    {R"({"response_format": {"type": "json_schema", "json_schema": {"strict": 1}}})",
     "response_format.json_schema.strict"},
    {R"({"response_format": {"type": "xml"}})", "response_format"},
    {R"({"structured_outputs": {"regex": ""}})", "structured_outputs.regex"},
    {R"({"structured_outputs": {"choice": []}})", "structured_outputs.choice"},
    {R"({"structured_outputs": {"choice": ["a", 1]}})", "structured_outputs.choice[1]"},
    {R"({"structured_outputs": {"grammar": 5}})", "structured_outputs.grammar"},
    {R"({"structured_outputs": {"json": 5}})", "structured_outputs.json"},
    {R"({"structured_outputs": {"structural_tag": "x"}})", "structured_outputs.structural_tag"},
    {R"({"structured_outputs": {"regex": "a", "choice": ["b"]}})", "structured_outputs.choice"},
    {R"({"response_format": {"type": "json_object"}, "grammar": "root ::= \"a\""})", "grammar"},
    {R"({"json_schema": "{}"})", "json_schema"},
    {R"({"guided_choice": "a"})", "guided_choice"},
    {R"({"response_format": {}})", "response_format"},
    {R"({"response_format": "json"})", "response_format"},
};

TEST(ChatRequestTest, EveryBadFieldIsA400NamingItsParam) {
  for (const BadCase& c : kBadChat) {
    SCOPED_TRACE(c.extra);
    ExpectBadParam(Chat(c.extra), c.param);
  }
}

TEST(ChatRequestTest, OutputConstraintSources) {
  struct Case {
    const char* extra;
    OutputConstraintKind kind;
    std::string text;
    std::string param;
  };
  const Case cases[] = {
      {R"({"response_format": {"type": "text"}})", OutputConstraintKind::kNone, "", ""},
      {R"({"response_format": {"type": "json_object"}})", OutputConstraintKind::kJsonObject, "",
       "response_format"},
      {R"({"response_format": {"type": "json_object", "schema": {"type": "integer"}}})",
       OutputConstraintKind::kJsonSchema, R"({"type":"integer"})", "response_format.schema"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {"name": "x",
          "strict": true, "schema": {"type": "object"}}}})",
       OutputConstraintKind::kJsonSchema, R"({"type":"object"})",
       "response_format.json_schema.schema"},
      {R"({"structured_outputs": {"json": "{\"type\": \"string\"}"}})",
       OutputConstraintKind::kJsonSchema, R"({"type": "string"})", "structured_outputs.json"},
      {R"({"structured_outputs": {"regex": "[a-z]+"}})", OutputConstraintKind::kRegex, "[a-z]+",
       "structured_outputs.regex"},
      {R"({"structured_outputs": {"grammar": "root ::= \"x\""}})", OutputConstraintKind::kGrammar,
       R"(root ::= "x")", "structured_outputs.grammar"},
      {R"({"structured_outputs": {"json_object": true}})", OutputConstraintKind::kJsonObject, "",
       "structured_outputs.json_object"},
      {R"({"guided_regex": "a|b"})", OutputConstraintKind::kRegex, "a|b", "guided_regex"},
      {R"({"grammar": "root ::= [0-9]+"})", OutputConstraintKind::kGrammar, "root ::= [0-9]+",
       "grammar"},
      {R"({"json_schema": {"enum": [1, 2]}})", OutputConstraintKind::kJsonSchema,
       R"({"enum":[1,2]})", "json_schema"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.extra);
    const ChatRequest r = ExpectOk(Chat(c.extra));
    EXPECT_EQ(r.params.constraint.kind, c.kind);
    EXPECT_EQ(r.params.constraint.text, c.text);
    EXPECT_EQ(r.params.constraint.param, c.param);
  }
  const ChatRequest r = ExpectOk(Chat(R"({"structured_outputs": {"choice": ["yes", "no"]}})"));
  EXPECT_EQ(r.params.constraint.kind, OutputConstraintKind::kChoice);
  EXPECT_EQ(r.params.constraint.choices, (std::vector<std::string>{"yes", "no"}));
}

TEST(ChatRequestTest, MediaPartsSayTheyAreNotSupported) {
  const auto result = Chat(R"({"messages": [{"role": "user", "content": [{"type": "image_url",
                                "image_url": {"url": "https://x/y.png"}}]}]})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(result));
  EXPECT_NE(std::get<ApiError>(result).message.find("not supported"), std::string::npos);
}

TEST(ChatRequestTest, ToolsAreRead) {
  const ChatRequest r = ExpectOk(Chat(R"({"tools": [
      {"type": "function", "function": {"name": "get_weather", "description": "Weather.",
       "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                      "required": ["city"]}, "strict": true}},
      {"type": "function", "function": {"name": "no-args_2"}}]})"));
  EXPECT_EQ(r.tools.names, (std::vector<std::string>{"get_weather", "no-args_2"}));
  ASSERT_EQ(r.tools.tools.size(), 2u);
  EXPECT_EQ(r.tools.tools[0]["function"]["description"], "Weather.");
  EXPECT_EQ(r.tools.choice.mode, ToolChoiceMode::kAuto);  // OpenAI's default with tools
  EXPECT_TRUE(r.tools.parallel_tool_calls);
  EXPECT_TRUE(r.tools.active());
}

TEST(ChatRequestTest, ToolChoiceForms) {
  constexpr std::string_view kTools =
      R"("tools": [{"type": "function", "function": {"name": "f"}}])";
  auto choice = [&](std::string_view extra) {
    const std::string body = "{" + std::string(kTools) + ", " + std::string(extra) + "}";
    return ExpectOk(Chat(body.c_str())).tools;
  };
  EXPECT_EQ(choice(R"("tool_choice": "none")").choice.mode, ToolChoiceMode::kNone);
  EXPECT_FALSE(choice(R"("tool_choice": "none")").active());
  EXPECT_EQ(choice(R"("tool_choice": "auto")").choice.mode, ToolChoiceMode::kAuto);
  EXPECT_EQ(choice(R"("tool_choice": "required")").choice.mode, ToolChoiceMode::kRequired);
  const ToolConfig named =
      choice(R"("tool_choice": {"type": "function", "function": {"name": "f"}})");
  EXPECT_EQ(named.choice.mode, ToolChoiceMode::kFunction);
  EXPECT_EQ(named.choice.function, "f");
  EXPECT_FALSE(choice(R"("parallel_tool_calls": false)").parallel_tool_calls);
  // Without tools: "none" (said or not) is fine, and so are the empty forms clients send.
  for (const char* body :
       {R"({"tool_choice": "none"})", R"({"tools": []})", R"({"tools": null, "tool_choice": null})",
        R"({"parallel_tool_calls": true})"}) {
    SCOPED_TRACE(body);
    EXPECT_FALSE(ExpectOk(Chat(body)).tools.active());
  }
}

TEST(ChatRequestTest, ToolCountIsCapped) {
  json body = json::parse(kChatBase);
  for (int i = 0; i < 129; ++i) {
    body["tools"].push_back(
        {{"type", "function"}, {"function", {{"name", "f" + std::to_string(i)}}}});
  }
  ExpectBadParam(ParseChatRequest(body, Limits()), "tools");
  body["tools"].erase(body["tools"].end() - 1);
  ExpectOk(ParseChatRequest(body, Limits()));
  // 64 bytes is the longest name.
  body["tools"] = {{{"type", "function"}, {"function", {{"name", std::string(64, 'a')}}}}};
  ExpectOk(ParseChatRequest(body, Limits()));
  body["tools"][0]["function"]["name"] = std::string(65, 'a');
  ExpectBadParam(ParseChatRequest(body, Limits()), "tools[0].function.name");
}

TEST(ChatRequestTest, ToolCallsAndResultsInTheHistoryAreRead) {
  const ChatRequest r = ExpectOk(Chat(R"({"messages": [
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
        {"id": "call_3", "function": {"name": "g", "arguments": {"x": [1]}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 20}"},
      {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]}
  ]})"));
  ASSERT_EQ(r.messages.size(), 4u);
  const std::vector<ToolCall>& calls = r.messages[1].tool_calls;
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].id, "call_1");
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, (json{{"city", "Paris"}}));  // the string parsed to an object
  EXPECT_EQ(calls[1].arguments, json::object());
  EXPECT_EQ(calls[2].arguments, (json{{"x", {1}}}));
  EXPECT_EQ(r.messages[2].tool_call_id, "call_1");
  EXPECT_EQ(r.messages[3].parts.size(), 1u);
}

TEST(ChatRequestTest, CountAndSizeCapsAreEnforced) {  // V11
  json body = json::parse(kChatBase);
  body["messages"] = json::array();
  for (int i = 0; i < 10000; ++i) body["messages"].push_back({{"role", "user"}, {"content", "x"}});
  ExpectBadParam(ParseChatRequest(body, Limits()), "messages");
  body["messages"].erase(body["messages"].begin() + 4096, body["messages"].end());
  ExpectOk(ParseChatRequest(body, Limits()));

  body = json::parse(kChatBase);
  body["stop"] = json::array();
  for (int i = 0; i < 1000; ++i) body["stop"].push_back(std::to_string(i) + "s");
  ExpectBadParam(ParseChatRequest(body, Limits()), "stop");

  body = json::parse(kChatBase);
  body["stop"] = std::string(1 << 20, 'x');
  ExpectBadParam(ParseChatRequest(body, Limits()), "stop");
  body["stop"] = std::string(257, 'x');
  ExpectBadParam(ParseChatRequest(body, Limits()), "stop");
  body["stop"] = std::string(256, 'x');
  ExpectOk(ParseChatRequest(body, Limits()));

  body = json::parse(kChatBase);
  for (int id = 0; id < 1025; ++id) body["logit_bias"][std::to_string(id)] = 1;
  RequestLimits big_vocab = Limits();
  big_vocab.num_vocab = 100000;
  ExpectBadParam(ParseChatRequest(body, big_vocab), "logit_bias");

  body = json::parse(kChatBase);
  body["stop_token_ids"] = json::array();
  for (int i = 0; i < 1025; ++i) body["stop_token_ids"].push_back(1);
  ExpectBadParam(ParseChatRequest(body, Limits()), "stop_token_ids");
}

TEST(ChatRequestTest, NonObjectBodiesAreRefused) {
  for (const char* text : {"[]", "5", "null", "\"x\""}) {
    const json body = json::parse(text);
    ExpectBadParam(ParseChatRequest(body, Limits()), "");
    ExpectBadParam(ParseCompletionRequest(body, Limits()), "");
    ExpectBadParam(ParseTokenizeRequest(body, Limits()), "");
    ExpectBadParam(ParseDetokenizeRequest(body, Limits()), "");
  }
}

// ---- Chat: accepted bodies -----------------------------------------------------------------

TEST(ChatRequestTest, OpenAiSdkBodyParsesIntoItsValues) {
  const ChatRequest& req = ExpectOk(ParseText<ChatRequest>(R"({
      "model": "gemma-3-1b-it",
      "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                     {"type": "text", "text": " there"}], "name": "ann"},
        {"role": "assistant", "content": "Hi!", "refusal": null, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "user", "content": []}
      ],
      "max_completion_tokens": 64, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
      "min_p": 0.05, "presence_penalty": 0.5, "frequency_penalty": -0.5,
      "repetition_penalty": 1.1, "logit_bias": {"17": -100, "42": 5.5, "0": 100},
      "seed": 42, "n": 2, "stop": ["\n\n", "END"], "stop_token_ids": [1, 999],
      "ignore_eos": true, "logprobs": true, "top_logprobs": 3, "stream": true,
      "stream_options": {"include_usage": true}, "add_generation_prompt": false,
      "user": "u1"})",
                                                           ParseChatRequest));
  EXPECT_EQ(req.model, "gemma-3-1b-it");
  ASSERT_EQ(req.messages.size(), 6u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[0].content, "You are helpful.");
  EXPECT_FALSE(req.messages[0].content_is_list);
  EXPECT_EQ(req.messages[1].role, "developer");
  EXPECT_TRUE(req.messages[2].content_is_list);
  ASSERT_EQ(req.messages[2].parts.size(), 2u);
  EXPECT_EQ(req.messages[2].parts[0].type, "text");
  EXPECT_EQ(req.messages[2].parts[0].text, "Hello");
  EXPECT_EQ(req.messages[2].parts[1].text, " there");
  EXPECT_EQ(req.messages[2].name, "ann");
  EXPECT_EQ(req.messages[3].content, "Hi!");
  EXPECT_EQ(req.messages[4].role, "tool");
  EXPECT_EQ(req.messages[4].tool_call_id, "call_1");
  EXPECT_EQ(req.messages[4].content, "42");
  EXPECT_TRUE(req.messages[5].content_is_list);
  EXPECT_TRUE(req.messages[5].parts.empty());

  const GenerationParams& p = req.params;
  EXPECT_EQ(p.max_tokens, 64);
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.logit_bias, (std::map<int32_t, float>{{0, 100.0f}, {17, -100.0f}, {42, 5.5f}}));
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{1, 999}));
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_FALSE(req.add_generation_prompt);
}

TEST(ChatRequestTest, MinimalBodyTakesTheDefaults) {
  const ChatRequest& req = ExpectOk(ParseText<ChatRequest>(
      R"({"messages": [{"role": "user", "content": "Hi"}]})", ParseChatRequest));
  EXPECT_EQ(req.model, "");
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].content, "Hi");
  EXPECT_TRUE(req.add_generation_prompt);
  const GenerationParams& p = req.params;
  const GenerationParams defaults;
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_EQ(p.temperature, defaults.temperature);
  EXPECT_EQ(p.top_p, defaults.top_p);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_FALSE(p.seed.has_value());
  EXPECT_EQ(p.n, 1);
  EXPECT_TRUE(p.stop.empty());
  EXPECT_TRUE(p.logit_bias.empty());
  EXPECT_FALSE(p.logprobs);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.include_usage);
}

TEST(ChatRequestTest, NullMeansNotGiven) {
  const ChatRequest& req = ExpectOk(Chat(R"({
      "model": null, "max_tokens": null, "max_completion_tokens": null, "temperature": null,
      "top_p": null, "top_k": null, "min_p": null, "presence_penalty": null,
      "frequency_penalty": null, "repetition_penalty": null, "logit_bias": null, "seed": null,
      "n": null, "stop": null, "stop_token_ids": null, "ignore_eos": null, "logprobs": null,
      "top_logprobs": null, "stream": null, "stream_options": null, "tools": null,
      "tool_choice": null, "functions": null, "function_call": null, "response_format": null,
      "add_generation_prompt": null})"));
  EXPECT_EQ(req.model, "");
  EXPECT_FALSE(req.params.max_tokens.has_value());
  EXPECT_EQ(req.params.temperature, 1.0f);
  EXPECT_FALSE(req.params.seed.has_value());
  EXPECT_EQ(req.params.n, 1);
  EXPECT_TRUE(req.add_generation_prompt);
}

TEST(ChatRequestTest, UnknownAndIgnoredFieldsAreAccepted) {  // V12
  const ChatRequest& req = ExpectOk(Chat(R"({
      "user": "u", "store": true, "metadata": {"k": "v"}, "service_tier": "auto",
      "reasoning_effort": "low", "modalities": ["text"], "audio": {"voice": "x"},
      "prediction": {"type": "content", "content": "x"}, "prompt_cache_key": "k",
      "safety_identifier": "s", "verbosity": "low", "parallel_tool_calls": false,
      "include_reasoning": true, "chat_template_kwargs": {"a": [1, {"b": null}]},
      "frobnicate": 42, "extra": [[[]]]})"));
  EXPECT_EQ(req.messages.size(), 1u);
  // Unknown fields inside a message are ignored too.
  ExpectOk(Chat(R"({"messages": [{"role": "user", "content": "Hi", "cache_control": {}}]})"));
}

TEST(ChatRequestTest, EmptyToolListsAndTextResponseFormatAreFine) {
  ExpectOk(Chat(R"({"tools": [], "tool_choice": "none", "functions": [],
                    "function_call": "none", "response_format": {"type": "text"}})"));
}

TEST(ChatRequestTest, AssistantContentMayBeNullOrAbsent) {
  const ChatRequest& req = ExpectOk(Chat(R"({"messages": [
      {"role": "user", "content": "a"}, {"role": "assistant", "content": null},
      {"role": "user", "content": "b"}, {"role": "assistant", "tool_calls": null},
      {"role": "user", "content": ""}]})"));
  ASSERT_EQ(req.messages.size(), 5u);
  EXPECT_EQ(req.messages[1].content, "");
  EXPECT_FALSE(req.messages[1].content_is_list);
  EXPECT_EQ(req.messages[3].content, "");
  EXPECT_EQ(req.messages[4].content, "");
}

TEST(ChatRequestTest, ThinkingFromChatTemplateKwargsOrReasoningEffort) {
  EXPECT_FALSE(ExpectOk(Chat("{}")).enable_thinking.has_value());
  EXPECT_FALSE(ExpectOk(Chat(R"({"reasoning_effort": null, "chat_template_kwargs": null})"))
                   .enable_thinking.has_value());
  EXPECT_FALSE(ExpectOk(Chat(R"({"chat_template_kwargs": {"enable_thinking": null}})"))
                   .enable_thinking.has_value());
  EXPECT_EQ(
      ExpectOk(Chat(R"({"chat_template_kwargs": {"enable_thinking": true}})")).enable_thinking,
      true);
  EXPECT_EQ(ExpectOk(Chat(R"({"chat_template_kwargs": {"enable_thinking": false, "x": [1]}})"))
                .enable_thinking,
            false);
  for (const char* on : {"low", "medium", "high", "xhigh"}) {
    const std::string body = std::string(R"({"reasoning_effort": ")") + on + R"("})";
    EXPECT_EQ(ExpectOk(Chat(body.c_str())).enable_thinking, true) << on;
  }
  for (const char* off : {"none", "minimal"}) {
    const std::string body = std::string(R"({"reasoning_effort": ")") + off + R"("})";
    EXPECT_EQ(ExpectOk(Chat(body.c_str())).enable_thinking, false) << off;
  }
  // The template's own switch wins over the hint.
  EXPECT_EQ(ExpectOk(Chat(R"({"reasoning_effort": "high",
                              "chat_template_kwargs": {"enable_thinking": false}})"))
                .enable_thinking,
            false);
  EXPECT_EQ(ExpectOk(Chat(R"({"reasoning_effort": "none",
                              "chat_template_kwargs": {"enable_thinking": true}})"))
                .enable_thinking,
            true);
  // Other kwargs alone say nothing about thinking.
  EXPECT_FALSE(
      ExpectOk(Chat(R"({"chat_template_kwargs": {"foo": 1}})")).enable_thinking.has_value());
}

TEST(ChatRequestTest, AssistantReasoningContentIsKept) {
  const ChatRequest& req = ExpectOk(Chat(R"({"messages": [
      {"role": "user", "content": "a"},
      {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
      {"role": "assistant", "content": "5", "reasoning_content": null},
      {"role": "user", "content": "b", "reasoning_content": 7}]})"));
  ASSERT_EQ(req.messages.size(), 4u);
  EXPECT_EQ(req.messages[1].reasoning, "2+2");
  EXPECT_EQ(req.messages[2].reasoning, "");
  EXPECT_EQ(req.messages[3].reasoning, "");  // read on assistant turns only
}

TEST(ChatRequestTest, MaxCompletionTokensWinsOverMaxTokens) {
  EXPECT_EQ(ExpectOk(Chat(R"({"max_tokens": 10})")).params.max_tokens, 10);
  EXPECT_EQ(ExpectOk(Chat(R"({"max_completion_tokens": 20})")).params.max_tokens, 20);
  EXPECT_EQ(ExpectOk(Chat(R"({"max_tokens": 10, "max_completion_tokens": 20})")).params.max_tokens,
            20);
  EXPECT_EQ(ExpectOk(Chat(R"({"max_tokens": 1048576})")).params.max_tokens, 1048576);
  EXPECT_EQ(ExpectOk(Chat(R"({"max_tokens": 1})")).params.max_tokens, 1);
  RequestLimits small = Limits();
  small.max_tokens_cap = 100;
  EXPECT_EQ(ExpectOk(Chat(R"({"max_tokens": 100})", small)).params.max_tokens, 100);
  ExpectBadParam(Chat(R"({"max_tokens": 101})", small), "max_tokens");
}

TEST(ChatRequestTest, TopKOffIsZeroAndLargeValuesAreCutToTheVocabulary) {  // V8
  EXPECT_EQ(ExpectOk(Chat(R"({"top_k": -1})")).params.top_k, 0);
  EXPECT_EQ(ExpectOk(Chat(R"({"top_k": 0})")).params.top_k, 0);
  EXPECT_EQ(ExpectOk(Chat(R"({"top_k": 1})")).params.top_k, 1);
  EXPECT_EQ(ExpectOk(Chat(R"({"top_k": 1000})")).params.top_k, 1000);
  EXPECT_EQ(ExpectOk(Chat(R"({"top_k": 2147483647})")).params.top_k, kNumVocab);
}

TEST(ChatRequestTest, SeedsCoverInt64AndUint64WithNegativesWrapping) {  // V8
  EXPECT_EQ(ExpectOk(Chat(R"({"seed": 0})")).params.seed, 0u);
  EXPECT_EQ(ExpectOk(Chat(R"({"seed": -1})")).params.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(ExpectOk(Chat(R"({"seed": -9223372036854775808})")).params.seed, 1ull << 63);
  EXPECT_EQ(ExpectOk(Chat(R"({"seed": 18446744073709551615})")).params.seed,
            std::numeric_limits<uint64_t>::max());
}

TEST(ChatRequestTest, BoundaryValuesAreAccepted) {  // V8
  const ChatRequest& low = ExpectOk(Chat(R"({"temperature": 0, "top_p": 1e-9, "min_p": 0,
      "presence_penalty": -2, "frequency_penalty": -2, "repetition_penalty": 1e-6, "n": 1,
      "logit_bias": {"0": -100, "999": 100}, "logprobs": true, "top_logprobs": 0})"));
  EXPECT_EQ(low.params.temperature, 0.0f);
  EXPECT_EQ(low.params.logit_bias.at(999), 100.0f);
  EXPECT_TRUE(low.params.logprobs);
  EXPECT_EQ(low.params.top_logprobs, 0);
  const ChatRequest& high = ExpectOk(Chat(R"({"temperature": 2, "top_p": 1, "min_p": 1,
      "presence_penalty": 2, "frequency_penalty": 2, "repetition_penalty": 2, "n": 16,
      "logprobs": true, "top_logprobs": 20})"));
  EXPECT_EQ(high.params.temperature, 2.0f);
  EXPECT_EQ(high.params.n, 16);
  EXPECT_EQ(high.params.top_logprobs, 20);
  // -0 is zero.
  EXPECT_EQ(ExpectOk(Chat(R"({"temperature": -0.0})")).params.temperature, 0.0f);
  // logprobs without top_logprobs is the sampled token's logprob alone.
  EXPECT_TRUE(ExpectOk(Chat(R"({"logprobs": true})")).params.logprobs);
}

TEST(ChatRequestTest, StreamingVariants) {  // V13
  const ChatRequest& many = ExpectOk(Chat(R"({"stream": true, "n": 3})"));
  EXPECT_TRUE(many.params.stream);
  EXPECT_EQ(many.params.n, 3);
  EXPECT_FALSE(many.params.include_usage);
  EXPECT_FALSE(ExpectOk(Chat(R"({"stream": true, "stream_options": {}})")).params.include_usage);
  EXPECT_FALSE(ExpectOk(Chat(R"({"stream": true, "stream_options": {"include_usage": false,
      "include_obfuscation": true}})"))
                   .params.include_usage);
  EXPECT_FALSE(ExpectOk(Chat(R"({"stream": false, "stream_options": null})")).params.stream);
}

TEST(ChatRequestTest, DuplicateKeysKeepTheLastValue) {  // V12, as nlohmann parses them
  const ChatRequest& req = ExpectOk(ParseText<ChatRequest>(
      R"({"messages": [{"role": "user", "content": "Hi"}], "n": 99, "n": 2})", ParseChatRequest));
  EXPECT_EQ(req.params.n, 2);
}

TEST(ChatRequestTest, TheFirstErrorIsTheOneReported) {
  ExpectBadParam(Chat(R"({"temperature": 5, "top_p": 5})"), "temperature");
  ExpectBadParam(Chat(R"({"messages": [{"role": "user", "content": 1}], "temperature": 5})"),
                 "messages[0].content");
}

// ---- Completions ---------------------------------------------------------------------------

constexpr BadCase kBadCompletion[] = {
    {R"({"prompt": null})", "prompt"},
    {R"({"prompt": 5})", "prompt"},
    {R"({"prompt": {"text": "a"}})", "prompt"},
    {R"({"prompt": []})", "prompt"},
    {R"({"prompt": [1, "a"]})", "prompt"},
    {R"({"prompt": ["a", 1]})", "prompt"},
    {R"({"prompt": [[1], "a"]})", "prompt"},
    {R"({"prompt": [[1], 2]})", "prompt"},
    {R"({"prompt": [true]})", "prompt"},
    {R"({"prompt": [null]})", "prompt"},
    {R"({"prompt": [{}]})", "prompt"},
    {R"({"prompt": [[]]})", "prompt"},
    {R"({"prompt": [["a"]]})", "prompt"},
    // V9: token ids outside the vocabulary.
    {R"({"prompt": [-1]})", "prompt"},
    {R"({"prompt": [1000]})", "prompt"},
    {R"({"prompt": [2147483648]})", "prompt"},
    {R"({"prompt": [18446744073709551615]})", "prompt"},
    {R"({"prompt": [1.5]})", "prompt"},
    {R"({"prompt": [1.0]})", "prompt"},
    {R"({"prompt": [[1, 2], [3, -1]]})", "prompt"},
    {R"({"prompt": [[1, 2], [3, 1000]]})", "prompt"},
    // Legacy integer logprobs.
    {R"({"logprobs": true})", "logprobs"},
    {R"({"logprobs": -1})", "logprobs"},
    {R"({"logprobs": 21})", "logprobs"},
    {R"({"logprobs": 1e6})", "logprobs"},
    {R"({"echo": "yes"})", "echo"},
    {R"({"suffix": "x"})", "suffix"},
    {R"({"suffix": 5})", "suffix"},
    {R"({"best_of": 3})", "best_of"},
    {R"({"best_of": 0})", "best_of"},
    {R"({"best_of": "2"})", "best_of"},
    {R"({"n": 2, "best_of": 3})", "best_of"},
    // Shared fields are checked here too.
    {R"({"max_tokens": 0})", "max_tokens"},
    {R"({"temperature": 3})", "temperature"},
    {R"({"stop": [""]})", "stop"},
    {R"({"stream": "yes"})", "stream"},
    {R"({"stream_options": {"include_usage": true}})", "stream_options"},
    {R"({"model": []})", "model"},
};

TEST(CompletionRequestTest, EveryBadFieldIsA400NamingItsParam) {
  for (const BadCase& c : kBadCompletion) {
    SCOPED_TRACE(c.extra);
    ExpectBadParam(Completion(c.extra), c.param);
  }
}

TEST(CompletionRequestTest, MissingPromptIsRefused) {
  ExpectBadParam(ParseText<CompletionRequest>(R"({"model": "m"})", ParseCompletionRequest),
                 "prompt");
}

TEST(CompletionRequestTest, PromptCountIsCapped) {
  json body = json::parse(kCompletionBase);
  body["prompt"] = json::array();
  for (int i = 0; i < 65; ++i) body["prompt"].push_back("p");
  ExpectBadParam(ParseCompletionRequest(body, Limits()), "prompt");
  body["prompt"].erase(body["prompt"].begin());
  EXPECT_EQ(ExpectOk(ParseCompletionRequest(body, Limits())).prompts.size(), 64u);
  // A long token list is one prompt, not many.
  body["prompt"] = json::array();
  for (int i = 0; i < 500; ++i) body["prompt"].push_back(i);
  EXPECT_EQ(ExpectOk(ParseCompletionRequest(body, Limits())).prompts.size(), 1u);
}

TEST(CompletionRequestTest, EveryPromptShapeParses) {
  const CompletionRequest& text = ExpectOk(Completion(R"({"prompt": ""})"));
  ASSERT_EQ(text.prompts.size(), 1u);
  EXPECT_FALSE(text.prompts[0].is_tokens);
  EXPECT_EQ(text.prompts[0].text, "");

  const CompletionRequest& texts = ExpectOk(Completion(R"({"prompt": ["a", "b"]})"));
  ASSERT_EQ(texts.prompts.size(), 2u);
  EXPECT_EQ(texts.prompts[1].text, "b");

  const CompletionRequest& tokens = ExpectOk(Completion(R"({"prompt": [0, 5, 999]})"));
  ASSERT_EQ(tokens.prompts.size(), 1u);
  EXPECT_TRUE(tokens.prompts[0].is_tokens);
  EXPECT_EQ(tokens.prompts[0].tokens, (std::vector<int32_t>{0, 5, 999}));

  const CompletionRequest& lists = ExpectOk(Completion(R"({"prompt": [[1], [2, 3]]})"));
  ASSERT_EQ(lists.prompts.size(), 2u);
  EXPECT_TRUE(lists.prompts[1].is_tokens);
  EXPECT_EQ(lists.prompts[1].tokens, (std::vector<int32_t>{2, 3}));
}

TEST(CompletionRequestTest, OpenAiSdkBodyParsesIntoItsValues) {
  const CompletionRequest& req = ExpectOk(Completion(R"({"prompt": "Say this is a test",
      "max_tokens": 7, "temperature": 0, "top_p": 1, "n": 2, "stream": false, "logprobs": 5,
      "echo": true, "stop": "\n", "suffix": null, "best_of": 2, "seed": -5, "user": "u"})"));
  EXPECT_EQ(req.model, "gemma");
  ASSERT_EQ(req.prompts.size(), 1u);
  EXPECT_EQ(req.prompts[0].text, "Say this is a test");
  EXPECT_EQ(req.params.max_tokens, 7);
  EXPECT_EQ(req.params.temperature, 0.0f);
  EXPECT_EQ(req.params.n, 2);
  EXPECT_TRUE(req.params.logprobs);
  EXPECT_EQ(req.params.top_logprobs, 5);
  EXPECT_TRUE(req.echo);
  EXPECT_EQ(req.params.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(req.params.seed, static_cast<uint64_t>(-5));
}

TEST(CompletionRequestTest, LegacyLogprobsZeroMeansTheSampledTokenOnly) {
  const CompletionRequest& zero = ExpectOk(Completion(R"({"logprobs": 0})"));
  EXPECT_TRUE(zero.params.logprobs);
  EXPECT_EQ(zero.params.top_logprobs, 0);
  EXPECT_FALSE(ExpectOk(Completion(R"({"logprobs": null})")).params.logprobs);
  EXPECT_FALSE(ExpectOk(Completion("{}")).params.logprobs);
}

TEST(CompletionRequestTest, HarmlessSuffixAndBestOfAreAccepted) {
  ExpectOk(Completion(R"({"suffix": ""})"));
  ExpectOk(Completion(R"({"best_of": 1})"));
  ExpectOk(Completion(R"({"best_of": 1, "n": 3})"));
  ExpectOk(Completion(R"({"best_of": 3, "n": 3})"));
  ExpectOk(Completion(R"({"best_of": null})"));
}

// ---- Tokenize and detokenize ---------------------------------------------------------------

ParseResult<TokenizeRequest> Tokenize(const char* text) {
  return ParseText<TokenizeRequest>(text, ParseTokenizeRequest);
}

ParseResult<DetokenizeRequest> Detokenize(const char* text) {
  return ParseText<DetokenizeRequest>(text, ParseDetokenizeRequest);
}

TEST(TokenizeRequestTest, PromptForm) {
  const TokenizeRequest& req = ExpectOk(Tokenize(R"({"model": "m", "prompt": "Hi"})"));
  EXPECT_FALSE(req.is_chat);
  EXPECT_EQ(req.model, "m");
  EXPECT_EQ(req.prompt, "Hi");
  EXPECT_TRUE(req.add_special_tokens);
  EXPECT_FALSE(
      ExpectOk(Tokenize(R"({"prompt": "", "add_special_tokens": false})")).add_special_tokens);
}

TEST(TokenizeRequestTest, ChatForm) {
  const TokenizeRequest& req =
      ExpectOk(Tokenize(R"({"messages": [{"role": "user", "content": "Hi"}]})"));
  EXPECT_TRUE(req.is_chat);
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].content, "Hi");
  EXPECT_TRUE(req.add_generation_prompt);
  EXPECT_FALSE(ExpectOk(Tokenize(R"({"messages": [{"role": "user", "content": "Hi"}],
                                     "add_generation_prompt": false})"))
                   .add_generation_prompt);
  EXPECT_FALSE(req.enable_thinking.has_value());
  EXPECT_EQ(ExpectOk(Tokenize(R"({"messages": [{"role": "user", "content": "Hi"}],
                                  "chat_template_kwargs": {"enable_thinking": true}})"))
                .enable_thinking,
            true);
  EXPECT_EQ(ExpectOk(Tokenize(R"({"messages": [{"role": "user", "content": "Hi"}],
                                  "reasoning_effort": "minimal"})"))
                .enable_thinking,
            false);
}

TEST(TokenizeRequestTest, BadBodiesNameTheirParam) {
  ExpectBadParam(Tokenize("{}"), "prompt");
  ExpectBadParam(Tokenize(R"({"prompt": null})"), "prompt");
  ExpectBadParam(Tokenize(R"({"prompt": 5})"), "prompt");
  ExpectBadParam(Tokenize(R"({"prompt": [1, 2]})"), "prompt");
  ExpectBadParam(Tokenize(R"({"prompt": "a", "add_special_tokens": "no"})"), "add_special_tokens");
  ExpectBadParam(Tokenize(R"({"prompt": "a", "messages": [{"role": "user", "content": "b"}]})"),
                 "prompt");
  ExpectBadParam(Tokenize(R"({"messages": []})"), "messages");
  ExpectBadParam(Tokenize(R"({"messages": [{"role": "bot", "content": "b"}]})"),
                 "messages[0].role");
  ExpectBadParam(
      Tokenize(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
      "messages[0].content[0]");
  ExpectBadParam(Tokenize(R"({"messages": [{"role": "user", "content": "b"}],
                              "add_generation_prompt": 1})"),
                 "add_generation_prompt");
  ExpectBadParam(Tokenize(R"({"model": 1, "prompt": "a"})"), "model");
  ExpectBadParam(Tokenize(R"({"messages": [{"role": "user", "content": "b"}],
                              "chat_template_kwargs": {"enable_thinking": "on"}})"),
                 "chat_template_kwargs.enable_thinking");
  ExpectBadParam(Tokenize(R"({"messages": [{"role": "user", "content": "b"}],
                              "reasoning_effort": "lots"})"),
                 "reasoning_effort");
}

TEST(DetokenizeRequestTest, TokensInTheVocabularyParse) {
  const DetokenizeRequest& req = ExpectOk(Detokenize(R"({"model": "m", "tokens": [0, 1, 999]})"));
  EXPECT_EQ(req.model, "m");
  EXPECT_EQ(req.tokens, (std::vector<int32_t>{0, 1, 999}));
  EXPECT_TRUE(ExpectOk(Detokenize(R"({"tokens": []})")).tokens.empty());
}

TEST(DetokenizeRequestTest, BadTokensAreRefused) {  // V9
  for (const char* text :
       {R"({})", R"({"tokens": null})", R"({"tokens": "1 2"})", R"({"tokens": [-1]})",
        R"({"tokens": [1000]})", R"({"tokens": [2147483648]})", R"({"tokens": ["1"]})",
        R"({"tokens": [1.0]})", R"({"tokens": [[1]]})", R"({"tokens": [true]})"}) {
    SCOPED_TRACE(text);
    ExpectBadParam(Detokenize(text), "tokens");
  }
}

}  // namespace
}  // namespace gs::api
