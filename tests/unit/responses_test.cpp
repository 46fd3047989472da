// The Responses API as data: requests mapped onto chat requests (with errors naming the
// Responses field), the items and typed events a response is built from, and the store that
// carries conversations on.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <variant>

#include "api/responses_events.h"
#include "api/responses_request.h"
#include "server/response_store.h"

namespace gs {
namespace {

using nlohmann::json;

api::RequestLimits Limits() {
  api::RequestLimits limits;
  limits.num_vocab = 1000;
  return limits;
}

std::optional<std::vector<json>> NoStore(const std::string&) { return std::nullopt; }

api::ParseResult<api::ResponsesRequest> Parse(const char* body,
                                              const api::StoredItemsLookup& lookup = NoStore) {
  return api::ParseResponsesRequest(json::parse(body), Limits(), lookup);
}

api::ResponsesRequest ParseOk(const char* body, const api::StoredItemsLookup& lookup = NoStore) {
  auto r = Parse(body, lookup);
  if (auto* e = std::get_if<api::ApiError>(&r)) ADD_FAILURE() << e->message;
  return std::get<api::ResponsesRequest>(r);
}

api::ApiError ParseError(const char* body, const api::StoredItemsLookup& lookup = NoStore) {
  auto r = Parse(body, lookup);
  EXPECT_TRUE(std::holds_alternative<api::ApiError>(r)) << body;
  return std::holds_alternative<api::ApiError>(r) ? std::get<api::ApiError>(r) : api::ApiError{};
}

TEST(ResponsesRequest, StringInputIsOneUserMessageAfterInstructions) {
  const api::ResponsesRequest r = ParseOk(R"({"input": "Hi", "instructions": "Be brief.",
                                              "max_output_tokens": 7, "temperature": 0.5})");
  ASSERT_EQ(r.chat.messages.size(), 2u);
  EXPECT_EQ(r.chat.messages[0].role, "system");
  EXPECT_EQ(r.chat.messages[0].content, "Be brief.");
  EXPECT_EQ(r.chat.messages[1].role, "user");
  EXPECT_EQ(r.chat.messages[1].content, "Hi");
  EXPECT_EQ(r.chat.params.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.chat.params.temperature, 0.5f);
  // Instructions are not part of the conversation a stored response carries on.
  ASSERT_EQ(r.input_items.size(), 1u);
  EXPECT_EQ(r.input_items[0]["role"], "user");
  EXPECT_EQ(r.echo["instructions"], "Be brief.");
  EXPECT_EQ(r.echo["tool_choice"], "auto");
  EXPECT_TRUE(r.store);
}

TEST(ResponsesRequest, ItemsBecomeChatTurnsWithToolCallsAndResults) {
  const api::ResponsesRequest r = ParseOk(R"({"input": [
      {"role": "developer", "content": "Use tools."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
      {"type": "reasoning", "id": "rs_1", "summary": []},
      {"type": "message", "role": "assistant",
       "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
      {"type": "function_call", "call_id": "call_1", "name": "get_weather",
       "arguments": "{\"city\": \"Paris\"}"},
      {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": ""},
      {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
      {"type": "function_call_output", "call_id": "call_2",
       "output": [{"type": "input_text", "text": "rain"}]}],
    "tools": [{"type": "function", "name": "get_weather", "description": "d",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "function", "name": "get_weather"}})");
  const auto& m = r.chat.messages;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].role, "developer");
  EXPECT_EQ(m[1].role, "user");
  ASSERT_TRUE(m[1].content_is_list);
  EXPECT_EQ(m[1].parts[0].text, "Weather?");
  // The text and both calls are one model turn.
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].parts[0].text, "Checking.");
  ASSERT_EQ(m[2].tool_calls.size(), 2u);
  EXPECT_EQ(m[2].tool_calls[0].id, "call_1");
  EXPECT_EQ(m[2].tool_calls[0].arguments, json({{"city", "Paris"}}));
  EXPECT_EQ(m[2].tool_calls[1].arguments, json::object());
  EXPECT_EQ(m[3].role, "tool");
  EXPECT_EQ(m[3].tool_call_id, "call_1");
  EXPECT_EQ(m[3].content, "sunny");
  EXPECT_EQ(m[4].content, "rain");
  ASSERT_EQ(r.chat.tools.names.size(), 1u);
  EXPECT_EQ(r.chat.tools.choice.mode, api::ToolChoiceMode::kFunction);
  EXPECT_EQ(r.chat.tools.choice.function, "get_weather");
  EXPECT_EQ(r.input_items.size(), 7u);  // the reasoning item renders nothing
}

TEST(ResponsesRequest, PreviousResponseItemsLeadTheInput) {
  std::string asked;
  auto lookup = [&](const std::string& id) -> std::optional<std::vector<json>> {
    asked = id;
    return std::vector<json>{
        {{"type", "message"}, {"role", "user"}, {"content", "Hi"}},
        {{"type", "reasoning"}, {"id", "rs_1"}, {"summary", json::array()}},
        {{"type", "message"},
         {"id", "msg_1"},
         {"role", "assistant"},
         {"status", "completed"},
         {"content",
          {{{"type", "output_text"}, {"text", "Hello"}, {"annotations", json::array()}}}}}};
  };
  const api::ResponsesRequest r =
      ParseOk(R"({"input": "And you?", "previous_response_id": "resp_1", "store": false})", lookup);
  EXPECT_EQ(asked, "resp_1");
  ASSERT_EQ(r.chat.messages.size(), 3u);
  EXPECT_EQ(r.chat.messages[1].role, "assistant");
  EXPECT_EQ(r.chat.messages[2].content, "And you?");
  EXPECT_EQ(r.num_previous_items, 2u);
  EXPECT_EQ(r.input_items.size(), 3u);
  EXPECT_FALSE(r.store);
}

TEST(ResponsesRequest, ErrorsNameTheResponsesField) {
  const api::ApiError unknown = ParseError(R"({"input": "x", "previous_response_id": "resp_x"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.param, "previous_response_id");
  EXPECT_EQ(ParseError(R"({})").param, "input");
  EXPECT_EQ(ParseError(R"({"input": 3})").param, "input");
  EXPECT_EQ(ParseError(R"({"input": [{"type": "bogus"}]})").param, "input[0].type");
  EXPECT_EQ(ParseError(R"({"input": [{"role": "tool", "content": "x"}]})").param, "input[0].role");
  EXPECT_EQ(
      ParseError(R"({"input": [{"role": "user", "content": [{"type": "input_image"}]}]})").param,
      "input[0].content[0]");
  EXPECT_EQ(ParseError(R"({"input": [{"type": "function_call_output", "output": "x"}]})").param,
            "input[0].call_id");
  EXPECT_EQ(ParseError(R"({"input": [{"type": "function_call", "call_id": "c", "name": "f",
                                      "arguments": "{oops"}]})")
                .param,
            "input[0].arguments");
  EXPECT_EQ(ParseError(R"({"input": "x", "max_output_tokens": 0})").param, "max_output_tokens");
  EXPECT_EQ(ParseError(R"({"input": "x", "temperature": 5})").param, "temperature");
  EXPECT_EQ(ParseError(R"({"input": "x", "tools": [{"type": "web_search"}]})").param,
            "tools[0].type");
  EXPECT_EQ(ParseError(R"({"input": "x", "tools": [{"type": "function", "name": "a b"}]})").param,
            "tools[0].name");
  EXPECT_EQ(ParseError(R"({"input": "x", "tools": [{"type": "function", "name": "f"}],
                           "tool_choice": {"type": "function", "name": "g"}})")
                .param,
            "tool_choice.name");
  EXPECT_EQ(ParseError(R"({"input": "x", "reasoning": {"effort": "huge"}})").param,
            "reasoning.effort");
  EXPECT_EQ(ParseError(R"({"input": "x", "text": {"format": {"type": "yaml"}}})").param,
            "text.format.type");
  EXPECT_EQ(ParseError(R"({"input": "x", "background": true})").param, "background");
  EXPECT_EQ(ParseError(R"({"input": "x", "store": "yes"})").param, "store");
}

TEST(ResponsesRequest, ReasoningEffortTurnsThinkingOn) {
  EXPECT_EQ(ParseOk(R"({"input": "x", "reasoning": {"effort": "low"}})").chat.enable_thinking,
            true);
  EXPECT_EQ(ParseOk(R"({"input": "x"})").chat.enable_thinking, std::nullopt);
}

// Ids from a counter: "msg_0", "call_1", ...
api::ResponseBuilder Builder() {
  auto counter = std::make_shared<int>(0);
  return api::ResponseBuilder(
      api::ResponseMeta{.id = "resp_1", .created_at = 5, .model = "m", .echo = {{"store", true}}},
      [counter](const char* prefix) { return prefix + std::to_string((*counter)++); });
}

std::vector<std::string> Types(const std::vector<json>& events) {
  std::vector<std::string> types;
  for (const json& e : events) types.push_back(e["type"]);
  return types;
}

TEST(ResponseBuilder, ReasoningTextAndCallsBecomeItemsAndEventsInOrder) {
  api::ResponseBuilder b = Builder();
  std::vector<json> all;
  auto add = [&](std::vector<json> events) { all.insert(all.end(), events.begin(), events.end()); };
  add(b.Start());
  add(b.AddReasoning("think"));
  add(b.AddText("\n"));  // held: whitespace between items opens nothing
  add(b.AddText("Hel"));
  add(b.AddText("lo"));
  add(b.AddFunctionCall("f", R"({"a":1})"));
  add(b.Finish("stop", {.input_tokens = 3, .output_tokens = 4, .cached_tokens = 1}));
  EXPECT_EQ(Types(all), (std::vector<std::string>{"response.created",
                                                  "response.in_progress",
                                                  "response.output_item.added",
                                                  "response.content_part.added",
                                                  "response.reasoning_text.delta",
                                                  "response.reasoning_text.done",
                                                  "response.content_part.done",
                                                  "response.output_item.done",
                                                  "response.output_item.added",
                                                  "response.content_part.added",
                                                  "response.output_text.delta",
                                                  "response.output_text.delta",
                                                  "response.output_text.done",
                                                  "response.content_part.done",
                                                  "response.output_item.done",
                                                  "response.output_item.added",
                                                  "response.function_call_arguments.delta",
                                                  "response.function_call_arguments.done",
                                                  "response.output_item.done",
                                                  "response.completed"}));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]["sequence_number"], i);
  EXPECT_EQ(all[0]["response"]["status"], "in_progress");
  EXPECT_EQ(all[10]["delta"], "\nHel");
  EXPECT_EQ(all[10]["item_id"], "msg_1");
  EXPECT_EQ(all[10]["output_index"], 1);

  const json r = b.Response();
  EXPECT_EQ(all.back()["response"], r);
  EXPECT_EQ(r["id"], "resp_1");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["store"], true);
  ASSERT_EQ(r["output"].size(), 3u);
  EXPECT_EQ(r["output"][0]["type"], "reasoning");
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "think");
  EXPECT_EQ(r["output"][1]["content"][0], json({{"type", "output_text"},
                                                {"text", "\nHello"},
                                                {"annotations", json::array()},
                                                {"logprobs", json::array()}}));
  EXPECT_EQ(r["output"][1]["status"], "completed");
  EXPECT_EQ(r["output"][2], json({{"id", "fc_2"},
                                  {"type", "function_call"},
                                  {"call_id", "call_3"},
                                  {"name", "f"},
                                  {"arguments", R"({"a":1})"},
                                  {"status", "completed"}}));
  EXPECT_EQ(r["usage"]["total_tokens"], 7);
  EXPECT_EQ(r["usage"]["input_tokens_details"]["cached_tokens"], 1);
  EXPECT_EQ(r["incomplete_details"], nullptr);
}

TEST(ResponseBuilder, MaxTokensMakesTheResponseIncomplete) {
  api::ResponseBuilder b = Builder();
  b.Start();
  b.AddText("cut");
  const std::vector<json> end = b.Finish("length", {});
  EXPECT_EQ(end.back()["type"], "response.incomplete");
  const json r = b.Response();
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_EQ(r["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(r["output"][0]["status"], "incomplete");
}

TEST(ResponseBuilder, SilenceStillAnswersWithAnEmptyMessage) {
  api::ResponseBuilder b = Builder();
  b.Start();
  b.AddText("  ");
  b.Finish("stop", {});
  const json r = b.Response();
  ASSERT_EQ(r["output"].size(), 1u);
  EXPECT_EQ(r["output"][0]["type"], "message");
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "");
}

TEST(ResponseBuilder, EngineFailureFailsTheResponse) {
  api::ResponseBuilder b = Builder();
  b.Start();
  b.AddText("x");
  EXPECT_EQ(b.Fail("boom").back()["type"], "response.failed");
  EXPECT_EQ(b.Response()["error"]["message"], "boom");
  EXPECT_EQ(api::ResponseSseEvent({{"type", "t"}}), "event: t\ndata: {\"type\":\"t\"}\n\n");
}

json Stored(const std::string& id) { return {{"id", id}}; }
json Item(int n) { return {{"n", n}}; }

TEST(ResponseStore, ChainsConversationsAndOutlivesEvictedParents) {
  ResponseStore store(2, std::chrono::seconds(100));
  store.Put(Stored("a"), nullptr, {Item(1), Item(2)});
  store.Put(Stored("b"), store.Find("a"), {Item(3)});
  store.Put(Stored("c"), store.Find("b"), {Item(4)});  // evicts a, the least recently used
  EXPECT_EQ(store.num_entries(), 2);
  EXPECT_EQ(store.Find("a"), nullptr);
  EXPECT_EQ(ResponseStore::Items(store.Find("c")),
            (std::vector<json>{Item(1), Item(2), Item(3), Item(4)}));
  EXPECT_EQ(store.Get("b"), Stored("b"));
  EXPECT_TRUE(store.Delete("b"));
  EXPECT_FALSE(store.Delete("b"));
  EXPECT_EQ(store.Get("b"), std::nullopt);
}

TEST(ResponseStore, LeastRecentlyUsedGoesFirstAndEntriesExpire) {
  const auto t0 = ResponseStore::Clock::now();
  ResponseStore store(2, std::chrono::seconds(10));
  store.Put(Stored("a"), nullptr, {}, t0);
  store.Put(Stored("b"), nullptr, {}, t0);
  EXPECT_NE(store.Find("a", t0), nullptr);  // a is now the most recently used
  store.Put(Stored("c"), nullptr, {}, t0);
  EXPECT_NE(store.Get("a", t0), std::nullopt);
  EXPECT_EQ(store.Get("b", t0), std::nullopt);
  EXPECT_EQ(store.Get("a", t0 + std::chrono::seconds(10)), std::nullopt);
  ResponseStore none(0, std::chrono::seconds(10));
  none.Put(Stored("a"), nullptr, {});
  EXPECT_EQ(none.num_entries(), 0);
}

}  // namespace
}  // namespace gs
