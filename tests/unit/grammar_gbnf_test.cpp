// GBNF (llama.cpp's grammar format): syntax, repetitions, errors with line and column, and
// limits against hostile grammars.
#include <gtest/gtest.h>

#include <string>

#include "engine/grammar/gbnf.h"
#include "tests/unit/grammar_test_util.h"

namespace gs::grammar {
namespace {

using testing::Accepts;
using testing::ToyTokenize;
using testing::ToyTrie;

bool GbnfAccepts(const std::string& gbnf, const std::string& text) {
  StatusOr<Grammar> g = CompileGbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (!g.ok()) return false;
  return Accepts(std::make_shared<const CompiledGrammar>(std::move(*g)), ToyTrie(),
                 ToyTokenize(text), /*check_masks=*/true);
}

std::string GbnfError(const std::string& gbnf) {
  StatusOr<Grammar> g = CompileGbnf(gbnf);
  return g.ok() ? "" : g.status().message();
}

TEST(GrammarGbnfTest, Syntax) {
  const std::string g = R"(# a comment
root ::= greeting " " name ("!" | "?")?
greeting ::= "hello" | "hi"   # trailing comment
name ::= [A-Z] [a-z]*
)";
  EXPECT_TRUE(GbnfAccepts(g, "hello World!"));
  EXPECT_TRUE(GbnfAccepts(g, "hi Ab"));
  EXPECT_FALSE(GbnfAccepts(g, "hey World"));
  EXPECT_FALSE(GbnfAccepts(g, "hi world"));
}

TEST(GrammarGbnfTest, RepetitionsClassesAndEscapes) {
  EXPECT_TRUE(GbnfAccepts(R"(root ::= [0-9]{2,3} "-" [^\n]+)", "123-abc"));
  EXPECT_FALSE(GbnfAccepts(R"(root ::= [0-9]{2,3} "-" [^\n]+)", "1234-abc"));
  EXPECT_FALSE(GbnfAccepts(R"(root ::= [0-9]{2,3} "-" [^\n]+)", "12-a\nb"));
  EXPECT_TRUE(GbnfAccepts(R"(root ::= "\x41\u00e9" . "\"")", "Aé日\""));
  EXPECT_TRUE(GbnfAccepts("root ::= (\n  \"a\" |\n  \"b\"\n)+", "abba"));
  EXPECT_TRUE(GbnfAccepts(R"(root ::= "x"{0,2} "y"{2,})", "xyyy"));
  EXPECT_FALSE(GbnfAccepts(R"(root ::= "x"{0,2} "y"{2,})", "xxxyy"));
}

TEST(GrammarGbnfTest, RecursiveRules) {
  const std::string g = R"(root ::= value
value ::= "[" ( value ("," value)* )? "]" | [0-9]+)";
  EXPECT_TRUE(GbnfAccepts(g, "[1,[2,[]],33]"));
  EXPECT_FALSE(GbnfAccepts(g, "[1,]"));
}

TEST(GrammarGbnfTest, Errors) {
  EXPECT_EQ(GbnfError("root ::= foo"), "gbnf: rule \"foo\" is not defined");
  EXPECT_EQ(GbnfError("a ::= \"x\""), "gbnf: no root rule");
  EXPECT_EQ(GbnfError("root ::= \"x\"\nroot ::= \"y\"").rfind("gbnf: line 2, column 1: ", 0), 0u);
  EXPECT_NE(GbnfError("root ::= \"abc").find("line 1, column 14: unterminated literal"),
            std::string::npos);
  EXPECT_NE(GbnfError("root ::= [a-").find("unterminated character class"), std::string::npos);
  EXPECT_NE(GbnfError("root ::= <[42]>").find("token terminals are not supported"),
            std::string::npos);
  EXPECT_NE(GbnfError("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(GbnfError("root ::= \"a\" root").find("matches nothing"), std::string::npos);
}

TEST(GrammarGbnfTest, HostileGrammarsHitLimits) {
  EXPECT_NE(GbnfError("root ::= ((\"a\"{100}){100}){100}").find("repeated copies"),
            std::string::npos);
  std::string deep = "root ::= ";
  for (int i = 0; i < 1000; ++i) deep += "(";
  EXPECT_NE(GbnfError(deep).find("nested too deeply"), std::string::npos);
  // x? x? x? ... (llama.cpp's slow case) is fine here: heads are deduplicated.
  std::string optional = "root ::= ";
  for (int i = 0; i < 200; ++i) optional += "\"x\"? ";
  EXPECT_TRUE(GbnfAccepts(optional, std::string(150, 'x')));
}

}  // namespace
}  // namespace gs::grammar
