#include "api/chat_template.h"

#include <gtest/gtest.h>

namespace gs::api {
namespace {

TEST(ChatTemplateTest, SingleUserTurnWithGenerationPrompt) {
  const RenderedPrompt r = RenderGemma3Chat({{"user", "  Hi there \n"}}, true);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.text, "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateTest, SystemIsFoldedIntoTheFirstUserTurn) {
  const RenderedPrompt r = RenderGemma3Chat(
      {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}, false);
  EXPECT_EQ(r.text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n");
}

TEST(ChatTemplateTest, RolesMustAlternate) {
  EXPECT_NE(RenderGemma3Chat({{"user", "a"}, {"user", "b"}}, true).error, "");
  EXPECT_NE(RenderGemma3Chat({{"assistant", "a"}}, true).error, "");
}

}  // namespace
}  // namespace gs::api
