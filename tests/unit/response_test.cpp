// The OpenAI response bodies (OpenAI's API reference): exact shapes, because clients such
// as openai-python parse these fields by name and a missing, extra or misplaced null breaks them.
#include "api/response.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gs::api {
namespace {

using json = nlohmann::json;

ResponseHeader Header(const char* id = "chatcmpl-abc") { return {id, 1700000000, "gemma-3"}; }

json Parse(const char* text) { return json::parse(text); }

// Bytes as the JSON array `bytes` must hold them.
json ByteArray(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

// Tokens for logprobs, with exactly representable logprobs so that equality is exact.
std::vector<TokenLogprobs> TwoTokens() {
  return {{"Hel", -0.5f, {{"Hel", -0.5f}, {"He", -2.0f}}}, {"lo", -0.25f, {{"lo", -0.25f}}}};
}

TEST(ResponseTest, UsageTotalsAndCachedTokens) {
  EXPECT_EQ(UsageJson({5, 7, std::nullopt}),
            Parse(R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12})"));
  EXPECT_EQ(UsageJson({5, 7, 3}),
            Parse(R"({"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,
                      "prompt_tokens_details":{"cached_tokens":3}})"));
  // Zero cached tokens is a known value (no prefix hit), not an absent one.
  EXPECT_EQ(UsageJson({5, 7, 0})["prompt_tokens_details"], Parse(R"({"cached_tokens":0})"));
  EXPECT_FALSE(UsageJson({0, 0, std::nullopt}).contains("prompt_tokens_details"));
}

TEST(ResponseTest, ChatCompletionShape) {
  std::vector<ChoiceResult> choices(2);
  choices[0].index = 0;
  choices[0].text = "Hello!";
  choices[0].finish_reason = "stop";
  choices[1].index = 1;
  choices[1].text = "Hi";
  choices[1].finish_reason = "length";
  EXPECT_EQ(ChatCompletionJson(Header(), choices, {9, 3, std::nullopt}), Parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000,
    "model": "gemma-3", "system_fingerprint": null,
    "choices": [
      {"index": 0, "message": {"role": "assistant", "content": "Hello!", "refusal": null},
       "logprobs": null, "finish_reason": "stop"},
      {"index": 1, "message": {"role": "assistant", "content": "Hi", "refusal": null},
       "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}})"));
}

TEST(ResponseTest, ReasoningIsASeparateMessageFieldOnlyWhenThere) {
  std::vector<ChoiceResult> choices(2);
  choices[0].text = "4.";
  choices[0].reasoning = "2+2 is 4.";
  choices[0].finish_reason = "stop";
  choices[1].index = 1;
  choices[1].reasoning = "cut off mid-thought";
  choices[1].finish_reason = "length";
  const json body = ChatCompletionJson(Header(), choices, {});
  EXPECT_EQ(body["choices"][0]["message"], Parse(R"({"role": "assistant", "content": "4.",
                                                    "reasoning_content": "2+2 is 4.",
                                                    "refusal": null})"));
  EXPECT_EQ(body["choices"][1]["message"]["content"], "");
  EXPECT_EQ(body["choices"][1]["message"]["reasoning_content"], "cut off mid-thought");
  choices[0].reasoning.clear();
  EXPECT_FALSE(ChatCompletionJson(Header(), choices, {})["choices"][0]["message"].contains(
      "reasoning_content"));
}

TEST(ResponseTest, ReasoningDeltas) {
  ChunkDelta d;
  d.reasoning = "hm";
  EXPECT_EQ(ChatChunkJson(Header(), d, false)["choices"][0]["delta"],
            Parse(R"({"reasoning_content": "hm"})"));
  d.text = "A";
  EXPECT_EQ(ChatChunkJson(Header(), d, false)["choices"][0]["delta"],
            Parse(R"({"reasoning_content": "hm", "content": "A"})"));
}

TEST(ResponseTest, ToolCallsInTheMessage) {
  std::vector<ChoiceResult> choices(2);
  choices[0].finish_reason = "tool_calls";
  choices[0].tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"},
                           {"call_2", "get_time", "{}"}};
  choices[1].index = 1;
  choices[1].text = "Let me check.";
  choices[1].tool_calls = {{"call_3", "f", "{}"}};
  const json body = ChatCompletionJson(Header(), choices, {});
  // No text with calls: content is null, as OpenAI sends it.
  EXPECT_EQ(body["choices"][0]["message"], Parse(R"({"role": "assistant", "content": null,
      "refusal": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_time", "arguments": "{}"}}]})"));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(body["choices"][1]["message"]["content"], "Let me check.");
  // No calls: no tool_calls key (clients break on empty arrays), content stays a string.
  choices[0].tool_calls.clear();
  const json plain = ChatCompletionJson(Header(), choices, {});
  EXPECT_FALSE(plain["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(plain["choices"][0]["message"]["content"], "");
}

TEST(ResponseTest, ToolCallDeltasAsOpenAiStreamsThem) {
  ChunkDelta opens;
  opens.tool_calls.push_back(
      {.index = 1, .opens = true, .id = "call_9", .name = "get_weather", .arguments = ""});
  EXPECT_EQ(ChatChunkJson(Header(), opens, false)["choices"][0]["delta"],
            Parse(R"({"tool_calls": [{"index": 1, "id": "call_9", "type": "function",
                       "function": {"name": "get_weather", "arguments": ""}}]})"));
  ChunkDelta fragment;
  fragment.tool_calls.push_back(
      {.index = 1, .opens = false, .id = "", .name = "", .arguments = R"({"city":)"});
  EXPECT_EQ(ChatChunkJson(Header(), fragment, false)["choices"][0]["delta"],
            Parse(R"({"tool_calls": [{"index": 1, "function": {"arguments": "{\"city\":"}}]})"));
  EXPECT_FALSE(
      ChatChunkJson(Header(), ChunkDelta{}, false)["choices"][0]["delta"].contains("tool_calls"));
}

TEST(ResponseTest, TextCompletionShape) {
  std::vector<ChoiceResult> choices(1);
  choices[0].text = " world";
  choices[0].finish_reason = "length";
  EXPECT_EQ(TextCompletionJson(Header("cmpl-xyz"), choices, {2, 1, 2}), Parse(R"({
    "id": "cmpl-xyz", "object": "text_completion", "created": 1700000000,
    "model": "gemma-3", "system_fingerprint": null,
    "choices": [{"index": 0, "text": " world", "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3,
              "prompt_tokens_details": {"cached_tokens": 2}}})"));
}

TEST(ResponseTest, ChatChunkOrder) {
  // The first chunk of a choice announces the role with empty content (what OpenAI sends).
  ChunkDelta role;
  role.role_delta = true;
  EXPECT_EQ(ChatChunkJson(Header(), role, false), Parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "gemma-3", "system_fingerprint": null,
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                 "logprobs": null, "finish_reason": null}]})"));

  ChunkDelta content;
  content.index = 2;
  content.text = "Hel";
  EXPECT_EQ(ChatChunkJson(Header(), content, false)["choices"], Parse(R"([
    {"index": 2, "delta": {"content": "Hel"}, "logprobs": null, "finish_reason": null}])"));

  // The last chunk of a choice: an empty delta and the finish reason.
  ChunkDelta finish;
  finish.finish_reason = "stop";
  const json last = ChatChunkJson(Header(), finish, false);
  EXPECT_EQ(last["choices"], Parse(R"([
    {"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}])"));
  EXPECT_TRUE(last["choices"][0]["delta"].is_object());
}

TEST(ResponseTest, ChunkUsageIsNullOnlyWithIncludeUsage) {
  ChunkDelta d;
  d.text = "x";
  const json without = ChatChunkJson(Header(), d, false);
  EXPECT_FALSE(without.contains("usage"));
  const json with = ChatChunkJson(Header(), d, true);
  ASSERT_TRUE(with.contains("usage"));
  EXPECT_TRUE(with["usage"].is_null());

  EXPECT_FALSE(TextChunkJson(Header("cmpl-1"), d, false).contains("usage"));
  const json text_with = TextChunkJson(Header("cmpl-1"), d, true);
  ASSERT_TRUE(text_with.contains("usage"));
  EXPECT_TRUE(text_with["usage"].is_null());
}

TEST(ResponseTest, TextChunkShape) {
  ChunkDelta d;
  d.index = 1;
  d.text = "lo";
  EXPECT_EQ(TextChunkJson(Header("cmpl-1"), d, false), Parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "gemma-3",
    "system_fingerprint": null,
    "choices": [{"index": 1, "text": "lo", "logprobs": null, "finish_reason": null}]})"));
  // The finishing chunk has no new text but still a string `text`.
  ChunkDelta finish;
  finish.finish_reason = "length";
  EXPECT_EQ(TextChunkJson(Header("cmpl-1"), finish, false)["choices"], Parse(R"([
    {"index": 0, "text": "", "logprobs": null, "finish_reason": "length"}])"));
}

TEST(ResponseTest, UsageChunkHasNoChoices) {
  EXPECT_EQ(UsageChunkJson(Header(), "chat.completion.chunk", {4, 6, std::nullopt}), Parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "gemma-3", "system_fingerprint": null, "choices": [],
    "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}})"));
  EXPECT_EQ(UsageChunkJson(Header("cmpl-1"), "text_completion", {1, 1, std::nullopt})["object"],
            "text_completion");
}

TEST(ResponseTest, ChatLogprobs) {
  std::vector<ChoiceResult> choices(1);
  choices[0].text = "Hello";
  choices[0].finish_reason = "stop";
  choices[0].has_logprobs = true;
  choices[0].logprobs = TwoTokens();
  const json expected = Parse(R"({"content": [
      {"token": "Hel", "logprob": -0.5, "bytes": [72, 101, 108],
       "top_logprobs": [{"token": "Hel", "logprob": -0.5, "bytes": [72, 101, 108]},
                        {"token": "He", "logprob": -2.0, "bytes": [72, 101]}]},
      {"token": "lo", "logprob": -0.25, "bytes": [108, 111],
       "top_logprobs": [{"token": "lo", "logprob": -0.25, "bytes": [108, 111]}]}],
    "refusal": null})");
  EXPECT_EQ(ChatCompletionJson(Header(), choices, {})["choices"][0]["logprobs"], expected);

  // A chunk carries the logprobs of the tokens in its delta, in the same shape.
  ChunkDelta d;
  d.text = "Hello";
  d.has_logprobs = true;
  d.logprobs = TwoTokens();
  EXPECT_EQ(ChatChunkJson(Header(), d, false)["choices"][0]["logprobs"], expected);
}

TEST(ResponseTest, CompletionLogprobs) {
  std::vector<ChoiceResult> choices(1);
  choices[0].text = "Hello";
  choices[0].finish_reason = "length";
  choices[0].has_logprobs = true;
  choices[0].logprobs = TwoTokens();
  EXPECT_EQ(TextCompletionJson(Header("cmpl-1"), choices, {})["choices"][0]["logprobs"],
            Parse(R"({"tokens": ["Hel", "lo"], "token_logprobs": [-0.5, -0.25],
                      "top_logprobs": [{"Hel": -0.5, "He": -2.0}, {"lo": -0.25}],
                      "text_offset": [0, 3]})"));

  // In a stream, offsets continue from where this delta's text starts in the choice.
  ChunkDelta d;
  d.text = "Hello";
  d.has_logprobs = true;
  d.logprobs = TwoTokens();
  d.text_offset = 10;
  EXPECT_EQ(TextChunkJson(Header("cmpl-1"), d, false)["choices"][0]["logprobs"]["text_offset"],
            Parse("[10, 13]"));
}

TEST(ResponseTest, InvalidUtf8TokenTextBecomesReplacementCharWithExactBytes) {
  // A token may end inside a character: "\xE4\xB8" is the first two bytes of "中"; "\xFF" is
  // never valid. JSON strings cannot hold such bytes, so `token` gets U+FFFD and `bytes` keeps
  // the truth for clients that reassemble characters across tokens.
  const std::string partial = "\xE4\xB8";
  const std::string bad = "\xFF";
  const std::string whole = "中";
  const std::string replacement = "\xEF\xBF\xBD";
  std::vector<ChoiceResult> choices(1);
  choices[0].finish_reason = "stop";
  choices[0].has_logprobs = true;
  choices[0].logprobs = {{partial, -1.0f, {{partial, -1.0f}, {bad, -3.0f}}},
                         {whole, -0.5f, {{whole, -0.5f}}}};
  const json chat = ChatCompletionJson(Header(), choices, {});
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  const std::string token0 = content[0]["token"].get<std::string>();
  EXPECT_NE(token0.find(replacement), std::string::npos);
  EXPECT_EQ(content[0]["bytes"], ByteArray(partial));
  EXPECT_EQ(content[0]["bytes"], Parse("[228, 184]"));
  EXPECT_NE(content[0]["top_logprobs"][1]["token"].get<std::string>().find(replacement),
            std::string::npos);
  EXPECT_EQ(content[0]["top_logprobs"][1]["bytes"], Parse("[255]"));
  // Valid text is left alone.
  EXPECT_EQ(content[1]["token"], whole);
  EXPECT_EQ(content[1]["bytes"], Parse("[228, 184, 173]"));
  // The strict serializer throws on invalid UTF-8: it must have nothing to complain about, and
  // the wire form must parse back to the same document.
  std::string wire;
  ASSERT_NO_THROW(wire = chat.dump());
  EXPECT_EQ(json::parse(wire), chat);

  const json text = TextCompletionJson(Header("cmpl-1"), choices, {});
  ASSERT_NO_THROW(wire = text.dump());
  const json& lp = text["choices"][0]["logprobs"];
  EXPECT_NE(lp["tokens"][0].get<std::string>().find(replacement), std::string::npos);
  EXPECT_EQ(lp["tokens"][1], whole);
  EXPECT_EQ(json::parse(wire), text);
}

TEST(ResponseTest, SseFraming) {
  EXPECT_EQ(SseEvent(Parse(R"({"a": 1, "b": [true, null]})")),
            "data: {\"a\":1,\"b\":[true,null]}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
  // A keep-alive is an SSE comment, which clients ignore.
  EXPECT_EQ(kSsePing[0], ':');

  // A real chunk: one line, compact, and the payload parses back to the chunk (text with a
  // newline must be escaped, or it would end the event early).
  ChunkDelta d;
  d.text = "line1\nline2\n\n";
  const json chunk = ChatChunkJson(Header(), d, true);
  const std::string event = SseEvent(chunk);
  ASSERT_GE(event.size(), 8u);
  EXPECT_EQ(event.substr(0, 6), "data: ");
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  const std::string payload = event.substr(6, event.size() - 8);
  EXPECT_EQ(payload.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(payload), chunk);
}

TEST(ResponseTest, ModelShape) {
  EXPECT_EQ(ModelJson("gemma-3", 1700000000), Parse(R"({
    "id": "gemma-3", "object": "model", "created": 1700000000, "owned_by": "gemma-serve"})"));
}

}  // namespace
}  // namespace gs::api
