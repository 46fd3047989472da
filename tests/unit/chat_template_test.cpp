#include "api/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/chat_message.h"

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

ChatMessage FromJson(const json& j) {
  ChatMessage m;
  m.role = j.at("role").get<std::string>();
  const json& content = j.at("content");
  if (content.is_string()) {
    m.content = content.get<std::string>();
  } else {
    m.content_is_list = true;
    for (const json& part : content) {
      m.parts.push_back({part.at("type").get<std::string>(), part.value("text", std::string())});
    }
  }
  m.name = j.value("name", std::string());
  m.tool_call_id = j.value("tool_call_id", std::string());
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

}  // namespace
}  // namespace gs::api
