#include "api/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/chat_message.h"
#include "api/tools.h"

namespace gs::api {
namespace {

using json = nlohmann::json;

ChatMessage Msg(std::string role, std::string content) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

ChatMessage ListMsg(std::string role, std::vector<ContentPart> parts) {
  ChatMessage m;
  m.role = std::move(role);
  m.content_is_list = true;
  m.parts = std::move(parts);
  return m;
}

TEST(ChatTemplateTest, SingleUserTurnWithGenerationPrompt) {
  const RenderedPrompt r = RenderGemma3Chat({Msg("user", "  Hi there \n")}, true);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.text, "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateTest, SystemIsFoldedIntoTheFirstUserTurn) {
  const RenderedPrompt r = RenderGemma3Chat({Msg("system", "Be brief."), Msg("user", "Hi"),
                                             Msg("assistant", "Hello!"), Msg("user", "Bye")},
                                            false);
  EXPECT_EQ(r.text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n");
}

TEST(ChatTemplateTest, RolesMustAlternate) {
  EXPECT_NE(RenderGemma3Chat({Msg("user", "a"), Msg("user", "b")}, true).error, "");
  EXPECT_NE(RenderGemma3Chat({Msg("assistant", "a")}, true).error, "");
}

TEST(ChatTemplateTest, AlternationErrorNamesTheMessage) {
  const RenderedPrompt r = RenderGemma3Chat(
      {Msg("system", "s"), Msg("user", "a"), Msg("assistant", "b"), Msg("assistant", "c")}, true);
  EXPECT_EQ(r.text, "");
  EXPECT_NE(r.error.find("message 3 has role 'assistant'"), std::string::npos) << r.error;
}

TEST(ChatTemplateTest, ImagePartsRenderTheImageMarker) {
  const RenderedPrompt r =
      RenderGemma3Chat({ListMsg("user", {{"image", ""}, {"text", " What is this? "}})}, false);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.text, "<bos><start_of_turn>user\n<start_of_image>What is this?<end_of_turn>\n");
}

TEST(ChatTemplateTest, IllFormedUtf8AtTheEdgesIsKept) {
  // Not whitespace to Python either; the trim must neither drop nor overrun such bytes.
  const RenderedPrompt r = RenderGemma3Chat({Msg("user", "\x80 x \xe3\x80")}, false);
  EXPECT_EQ(r.text, "<bos><start_of_turn>user\n\x80 x \xe3\x80<end_of_turn>\n");
}

// A golden case's message: the fields the templates read, and the ignored ones they carry.
ChatMessage FromJson(const json& j) {
  ChatMessage m;
  m.role = j.at("role").get<std::string>();
  const json& content = j.at("content");
  if (content.is_string()) {
    m.content = content.get<std::string>();
  } else if (content.is_array()) {
    m.content_is_list = true;
    for (const json& part : content) {
      m.parts.push_back({part.at("type").get<std::string>(), part.value("text", std::string())});
    }
  }  // null: "" (the renderers treat it as empty content)
  m.name = j.value("name", std::string());
  m.tool_call_id = j.value("tool_call_id", std::string());
  for (const json& call : j.value("tool_calls", json::array())) {
    m.tool_calls.push_back({call.value("id", std::string()),
                            call.at("function").at("name").get<std::string>(),
                            call.at("function").at("arguments")});
  }
  for (const json& r : j.value("tool_responses", json::array())) {
    ToolResponse response;
    if (r.contains("name")) response.name = r.at("name").get<std::string>();
    response.response = r.at("response");
    m.tool_responses.push_back(std::move(response));
  }
  m.reasoning = j.value("reasoning_content", j.value("thinking", std::string()));
  return m;
}

// Every case jinja2 rendered from the template the checkpoints ship
// (tests/golden/make_chat_template_goldens.py): the same text, or an error where jinja raised.
TEST(ChatTemplateTest, MatchesJinjaGoldens) {
  std::ifstream in(GS_GOLDEN_DIR "/chat_template.json");
  ASSERT_TRUE(in) << "cannot open " GS_GOLDEN_DIR "/chat_template.json";
  const json golden = json::parse(in);
  ASSERT_EQ(golden.at("bos_token"), "<bos>");
  const json& cases = golden.at("cases");
  ASSERT_GE(cases.size(), 20u);
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<ChatMessage> messages;
    for (const json& m : c.at("messages")) messages.push_back(FromJson(m));
    const RenderedPrompt r = RenderGemma3Chat(messages, c.at("add_generation_prompt").get<bool>());
    if (c.contains("error")) {
      EXPECT_NE(r.error, "") << "jinja raised " << c.at("error") << "; rendered " << r.text;
    } else {
      EXPECT_EQ(r.error, "");
      EXPECT_EQ(r.text, c.at("text").get<std::string>());
    }
  }
}

// ---- Gemma 4 ---------------------------------------------------------------------------------

ChatTemplateOptions Options(bool add_generation_prompt, bool enable_thinking = false) {
  ChatTemplateOptions o;
  o.add_generation_prompt = add_generation_prompt;
  o.enable_thinking = enable_thinking;
  return o;
}

TEST(Gemma4ChatTemplateTest, ThinkingOffPrimesAnEmptyThought) {
  const RenderedPrompt r = RenderGemma4Chat({Msg("user", " Hi ")}, Options(true));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.text, "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST(Gemma4ChatTemplateTest, ThinkingOnAddsTheThinkTokenToASystemTurn) {
  const RenderedPrompt r =
      RenderGemma4Chat({Msg("developer", "Be brief."), Msg("user", "Hi")}, Options(true, true));
  EXPECT_EQ(r.text,
            "<bos><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nHi<turn|>\n"
            "<|turn>model\n");
}

TEST(Gemma4ChatTemplateTest, EarlierThoughtsAreStrippedAndReasoningIsNotRendered) {
  ChatMessage answer = Msg("assistant", "<|channel>thought\nadd them<channel|>  4.");
  answer.reasoning = "the user wants a sum";
  const RenderedPrompt r =
      RenderGemma4Chat({Msg("user", "2+2?"), answer, Msg("user", "ok")}, Options(false));
  EXPECT_EQ(r.text,
            "<bos><|turn>user\n2+2?<turn|>\n<|turn>model\n4.<turn|>\n<|turn>user\nok<turn|>\n");
}

TEST(Gemma4ChatTemplateTest, ToolCallArgumentsInTheTemplateSyntax) {
  ChatMessage call = Msg("assistant", "");
  call.tool_calls.push_back(
      {"call_1", "get_weather", json::parse(R"({"city": "Paris", "Days": 2, "metric": true})")});
  const RenderedPrompt r = RenderGemma4Chat({Msg("user", "Weather?"), call}, Options(false));
  EXPECT_EQ(r.text,
            "<bos><|turn>user\nWeather?<turn|>\n<|turn>model\n"
            "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,Days:2,metric:true}<tool_call|>"
            "<turn|>\n");
}

TEST(Gemma4ChatTemplateTest, NoMessagesIsAnError) {
  EXPECT_NE(RenderGemma4Chat({}, Options(true)).error, "");
  EXPECT_NE(RenderGemma4Chat({}, Options(true, true)).error, "");
}

// Every Gemma 4 case jinja2 rendered from the template Gemma 4 GGUFs ship
// (tests/golden/make_gemma4_chat_template_goldens.py): the same text, or an error where jinja
// raised.
TEST(Gemma4ChatTemplateTest, MatchesJinjaGoldens) {
  std::ifstream in(GS_GOLDEN_DIR "/gemma4_chat_template.json");
  ASSERT_TRUE(in) << "cannot open " GS_GOLDEN_DIR "/gemma4_chat_template.json";
  const json golden = json::parse(in);
  ASSERT_EQ(golden.at("bos_token"), "<bos>");
  const json& cases = golden.at("cases");
  ASSERT_GE(cases.size(), 50u);
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<ChatMessage> messages;
    for (const json& m : c.at("messages")) messages.push_back(FromJson(m));
    ChatTemplateOptions options;
    options.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    options.enable_thinking = c.value("enable_thinking", false);
    for (const json& tool : c.value("tools", json::array())) options.tools.push_back(tool);
    const RenderedPrompt r = RenderGemma4Chat(messages, options);
    if (c.contains("error")) {
      EXPECT_NE(r.error, "") << "jinja raised " << c.at("error") << "; rendered " << r.text;
    } else {
      EXPECT_EQ(r.error, "");
      EXPECT_EQ(r.text, c.at("text").get<std::string>());
    }
  }
}

// ---- Choosing the template -------------------------------------------------------------------

TEST(ChooseChatTemplateTest, TheTemplateTextDecides) {
  EXPECT_EQ(ChooseChatTemplate("gemma3", "{{ '<|turn>' + role }}").family, ChatFamily::kGemma4);
  EXPECT_EQ(ChooseChatTemplate("gemma4", "{{ '<start_of_turn>' }}").family, ChatFamily::kGemma3);
  std::ifstream in(GS_GOLDEN_DIR "/gemma4_chat_template.jinja");
  const std::string official((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(official.empty());
  EXPECT_EQ(ChooseChatTemplate("", official).family, ChatFamily::kGemma4);
  std::ifstream in3(GS_GOLDEN_DIR "/gemma3_chat_template.jinja");
  const std::string official3((std::istreambuf_iterator<char>(in3)), {});
  EXPECT_EQ(ChooseChatTemplate("gemma4", official3).family, ChatFamily::kGemma3);
}

TEST(ChooseChatTemplateTest, TheArchitectureDecidesWithoutAKnownTemplate) {
  EXPECT_EQ(ChooseChatTemplate("gemma4", "").family, ChatFamily::kGemma4);
  EXPECT_EQ(ChooseChatTemplate("gemma3", "").family, ChatFamily::kGemma3);
  // The default model (a base checkpoint) has no template: Gemma 3's format, as before.
  const ChatTemplateChoice fallback = ChooseChatTemplate("llama", "{{ messages }}");
  EXPECT_EQ(fallback.family, ChatFamily::kGemma3);
  EXPECT_NE(fallback.reason.find("llama"), std::string::npos) << fallback.reason;
}

TEST(ChatTemplateInterfaceTest, Gemma3RenamesDeveloperAndIgnoresThinking) {
  const std::unique_ptr<ChatTemplate> t = MakeChatTemplate(ChatFamily::kGemma3);
  EXPECT_EQ(t->name(), "gemma3");
  EXPECT_FALSE(t->reasoning_syntax().has_value());
  const RenderedPrompt r =
      t->Render({Msg("developer", "Be brief."), Msg("user", "Hi")}, Options(true, true));
  EXPECT_EQ(r.text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateInterfaceTest, Gemma4HasAThoughtChannelAndStopsAtToolResponses) {
  const std::unique_ptr<ChatTemplate> t = MakeChatTemplate(ChatFamily::kGemma4);
  EXPECT_EQ(t->name(), "gemma4");
  ASSERT_TRUE(t->reasoning_syntax().has_value());
  EXPECT_EQ(t->reasoning_syntax()->open, "<|channel>");
  const std::vector<std::string> stops = t->end_of_turn_texts();
  EXPECT_NE(std::find(stops.begin(), stops.end(), "<turn|>"), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), "<|tool_response>"), stops.end());
  EXPECT_EQ(t->Render({Msg("user", "Hi")}, Options(true, true)).text,
            "<bos><|turn>system\n<|think|><turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n");
}

// ---- Tools in the prompt (api/tools.h) --------------------------------------------------------

json WeatherTool() {
  return json::parse(R"({"type": "function", "function": {"name": "get_weather",
      "description": "Current weather.", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}})");
}

// user, assistant calling two functions, both results: the OpenAI shape of one tool round.
std::vector<ChatMessage> ToolRound() {
  ChatMessage call = Msg("assistant", "");
  call.tool_calls.push_back({"call_1", "get_weather", json{{"city", "Paris"}}});
  call.tool_calls.push_back({"call_2", "get_time", json::object()});
  ChatMessage weather = Msg("tool", R"({"temp": 20, "sky": "clear"})");
  weather.tool_call_id = "call_1";
  ChatMessage time = Msg("tool", "noon");
  time.tool_call_id = "call_2";
  return {Msg("user", "Weather and time in Paris?"), call, weather, time};
}

TEST(Gemma4ToolsTest, ToolMessagesBecomeTheCallsResponses) {
  const std::vector<ChatMessage> attached = AttachToolResults(ToolRound());
  ASSERT_EQ(attached.size(), 2u);
  ASSERT_EQ(attached[1].tool_responses.size(), 2u);
  EXPECT_EQ(attached[1].tool_responses[0].name, "get_weather");
  EXPECT_EQ(attached[1].tool_responses[0].response, (json{{"temp", 20}, {"sky", "clear"}}));
  EXPECT_EQ(attached[1].tool_responses[1].name, "get_time");
  EXPECT_EQ(attached[1].tool_responses[1].response, "noon");  // not JSON: the string itself

  ChatTemplateOptions options = Options(true);
  options.tools = {WeatherTool()};
  const RenderedPrompt r = MakeChatTemplate(ChatFamily::kGemma4)->Render(ToolRound(), options);
  EXPECT_EQ(r.error, "");
  // The results stay in the model's turn, which the generation prompt continues.
  EXPECT_EQ(r.text,
            "<bos><|turn>system\n<|tool>declaration:get_weather{description:<|\"|>Current "
            "weather.<|\"|>,parameters:{properties:{city:{type:<|\"|>STRING<|\"|>}},required:[<|"
            "\"|>city<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n"
            "<|turn>user\nWeather and time in Paris?<turn|>\n<|turn>model\n"
            "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>"
            "<|tool_call>call:get_time{}<tool_call|>"
            "<|tool_response>response:get_weather{sky:<|\"|>clear<|\"|>,temp:20}<tool_response|>"
            "<|tool_response>response:get_time{value:<|\"|>noon<|\"|>}<tool_response|>"
            "<|channel>thought\n<channel|>");
}

TEST(Gemma4ToolsTest, UnmatchedResultsAreNamedByTheirMessageOrUnknown) {
  std::vector<ChatMessage> messages = ToolRound();
  messages[2].tool_call_id = "call_9";
  messages[2].name = "weather_service";
  messages[3].tool_call_id = "call_8";
  const std::vector<ChatMessage> attached = AttachToolResults(messages);
  EXPECT_EQ(attached[1].tool_responses[0].name, "weather_service");
  EXPECT_EQ(attached[1].tool_responses[1].name, std::nullopt);
  // A tool message that follows no call is left for the template (a "tool" turn).
  ChatMessage orphan = Msg("tool", "x");
  orphan.tool_call_id = "c";
  EXPECT_EQ(AttachToolResults({Msg("user", "a"), orphan}).size(), 2u);
}

TEST(Gemma4ToolsTest, DeepResultsStayStrings) {
  // The renderer recurses into values: a result nested past the body's depth cap is not parsed.
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  std::vector<ChatMessage> messages = ToolRound();
  messages[2].content = deep;
  EXPECT_EQ(AttachToolResults(messages)[1].tool_responses[0].response, deep);
}

TEST(Gemma3ToolsTest, TheConventionInTheFirstUserTurnAndResultsAsUserTurns) {
  ChatTemplateOptions options = Options(true);
  options.tools = {WeatherTool()};
  std::vector<ChatMessage> messages = ToolRound();
  messages.insert(messages.begin(), Msg("system", "Be brief."));
  const RenderedPrompt r = MakeChatTemplate(ChatFamily::kGemma3)->Render(messages, options);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.text,
            "<bos><start_of_turn>user\nBe brief.\n\n"
            "You can call functions. To call one, answer with only this block, one block per "
            "call:\n```tool_call\n{\"name\": \"function_name\", \"arguments\": {\"parameter\": "
            "\"value\"}}\n```\nWhen no function helps, answer in plain text instead.\n\n"
            "The functions, as JSON:\n[{\"description\":\"Current weather.\",\"name\":"
            "\"get_weather\",\"parameters\":{\"properties\":{\"city\":{\"type\":\"string\"}},"
            "\"required\":[\"city\"],\"type\":\"object\"}}]\n\n"
            "Weather and time in Paris?<end_of_turn>\n"
            "<start_of_turn>model\n```tool_call\n{\"arguments\":{\"city\":\"Paris\"},\"name\":"
            "\"get_weather\"}\n```\n```tool_call\n{\"arguments\":{},\"name\":\"get_time\"}\n```"
            "<end_of_turn>\n"
            "<start_of_turn>user\n```tool_result\n{\"content\":{\"sky\":\"clear\",\"temp\":20},"
            "\"name\":\"get_weather\"}\n```\n```tool_result\n{\"content\":\"noon\",\"name\":"
            "\"get_time\"}\n```<end_of_turn>\n<start_of_turn>model\n");
}

TEST(Gemma3ToolsTest, ChoiceWordsTheInstruction) {
  ChatTemplateOptions options = Options(true);
  options.tools = {WeatherTool()};
  options.tool_choice = {ToolChoiceMode::kFunction, "get_weather"};
  options.parallel_tool_calls = false;
  const std::string text =
      MakeChatTemplate(ChatFamily::kGemma3)->Render({Msg("user", "Hi")}, options).text;
  EXPECT_NE(text.find("You must call the function get_weather.\n"), std::string::npos);
  EXPECT_NE(text.find("Call at most one function.\n"), std::string::npos);
  options.tool_choice = {ToolChoiceMode::kRequired, ""};
  EXPECT_NE(MakeChatTemplate(ChatFamily::kGemma3)
                ->Render({Msg("user", "Hi")}, options)
                .text.find("You must call at least one function.\n"),
            std::string::npos);
}

TEST(Gemma3ToolsTest, WithoutToolsThePromptIsUnchangedButHistoryIsStillText) {
  const std::unique_ptr<ChatTemplate> t = MakeChatTemplate(ChatFamily::kGemma3);
  const std::vector<ChatMessage> plain = {Msg("user", "Hi"), Msg("assistant", "Hello"),
                                          Msg("user", "Bye")};
  EXPECT_EQ(t->Render(plain, Options(true)).text, RenderGemma3Chat(plain, true).text);
  // Results followed by a user message share its turn; alternation holds.
  std::vector<ChatMessage> messages = ToolRound();
  messages.push_back(Msg("user", "Thanks"));
  const RenderedPrompt r = t->Render(messages, Options(true));
  EXPECT_EQ(r.error, "");
  EXPECT_NE(r.text.find("\"name\":\"get_time\"}\n```\n\nThanks<end_of_turn>"), std::string::npos)
      << r.text;
  EXPECT_EQ(r.text.find("You can call functions"), std::string::npos);
}

TEST(Gemma3ToolsTest, ListContentKeepsTheBlankLineAfterTheInstruction) {
  ChatTemplateOptions options = Options(false);
  options.tools = {WeatherTool()};
  const RenderedPrompt r = MakeChatTemplate(ChatFamily::kGemma3)
                               ->Render({ListMsg("user", {{"text", "Weather? "}})}, options);
  EXPECT_NE(r.text.find("}]\n\nWeather?<end_of_turn>"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace gs::api
