// Regex → DFA: ECMAScript syntax as JSON Schema's `pattern` uses it (search semantics unless
// anchored), UTF-8 character classes, DFA products, and the limits that stop catastrophic
// patterns.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "engine/grammar/regex.h"

namespace gs::grammar {
namespace {

bool Full(const std::string& re, const std::string& s) {
  StatusOr<Dfa> d = CompileAnchoredRegex(re);
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() && d->Matches(s);
}

bool Search(const std::string& re, const std::string& s) {
  StatusOr<Dfa> d = CompileRegex(re);
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() && d->Matches(s);
}

TEST(GrammarRegexTest, BasicSyntax) {
  EXPECT_TRUE(Full("a(b|c)*d", "abcbd"));
  EXPECT_FALSE(Full("a(b|c)*d", "abxd"));
  EXPECT_TRUE(Full("x{2,3}", "xxx"));
  EXPECT_FALSE(Full("x{2,3}", "xxxx"));
  EXPECT_TRUE(Full("x{2,}", "xxxxx"));
  EXPECT_TRUE(Full("a{,2}", "a{,2}"));  // not a quantifier: literal braces
  EXPECT_TRUE(Full("[^a-c]+", "xyz"));
  EXPECT_FALSE(Full("[^a-c]+", "xaz"));
  EXPECT_TRUE(Full("\\d\\w\\s", "1_ "));
  EXPECT_TRUE(Full("(?:ab)+?", "abab"));
  EXPECT_TRUE(Full("(?<year>\\d{4})", "2024"));
  EXPECT_TRUE(Full("[\\]\\-]", "-"));
  EXPECT_TRUE(Full("\\u00e9\\x41",
                   "\xc3\xa9"
                   "A"));
  EXPECT_TRUE(Full(".", "\xe6\x97\xa5"));  // one code point, three bytes
  EXPECT_FALSE(Full(".", "\n"));
  EXPECT_FALSE(Full(".", "\xff"));  // never ill-formed UTF-8
}

TEST(GrammarRegexTest, SearchSemanticsAndAnchors) {
  EXPECT_TRUE(Search("b", "abc"));
  EXPECT_FALSE(Search("^b", "abc"));
  EXPECT_TRUE(Search("^a", "abc"));
  EXPECT_FALSE(Search("a$", "abc"));
  EXPECT_TRUE(Search("^a|c$", "xxc"));
  EXPECT_TRUE(Search("^(ab|cd)$", "cd"));
  EXPECT_FALSE(Search("^(ab|cd)$", "cdx"));
}

TEST(GrammarRegexTest, UnicodeRanges) {
  EXPECT_TRUE(Full("[α-ω]+", "λμ"));
  EXPECT_FALSE(Full("[α-ω]+", "λA"));
  EXPECT_TRUE(Full("[\\u0800-\\uffff]", "\xe0\xa0\x80"));
  EXPECT_TRUE(Full("[^a]", "😀"));
  EXPECT_FALSE(Full("[^a]", "\xed\xa0\x80"));  // surrogates are not characters
}

TEST(GrammarRegexTest, UnsupportedConstructsAreErrors) {
  for (const char* re : {"(?=a)b", "(?!a)", "(?<=a)b", "(a)\\1", "\\bword", "\\p{L}", "(?i)a",
                         "a(^b)", "[a-", "(a", "a)", "*a"}) {
    StatusOr<Dfa> d = CompileRegex(re);
    EXPECT_FALSE(d.ok()) << re;
  }
  StatusOr<Dfa> d = CompileRegex("(?!x)y");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("lookahead is not supported"), std::string::npos);
}

TEST(GrammarRegexTest, CatastrophicPatternsFailFast) {
  const auto start = std::chrono::steady_clock::now();
  // 2^25 DFA states, a huge NFA, nested counters: each stops at a limit.
  for (const char* re : {"(a|b)*a(a|b){25}", "((a{1000}){1000}){1000}", "(x{1,9999}){9999}"}) {
    StatusOr<Dfa> d = CompileRegex(re);
    EXPECT_FALSE(d.ok()) << re;
  }
  // Exponential for backtracking engines, linear here.
  EXPECT_TRUE(Full("(a+)+b", std::string(40, 'a') + "b"));
  EXPECT_FALSE(Full("(a|aa)*c", std::string(40, 'a')));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(GrammarRegexTest, Products) {
  const Dfa any = CompileAnchoredRegex("[a-z]*").value();
  const Dfa names = LiteralsDfa({"id", "name"});
  StatusOr<Dfa> others = ProductDfa(any, names, /*subtract=*/true);
  ASSERT_TRUE(others.ok());
  EXPECT_TRUE(others->Matches("idx"));
  EXPECT_TRUE(others->Matches("i"));
  EXPECT_FALSE(others->Matches("id"));
  EXPECT_FALSE(others->Matches("name"));
  StatusOr<Dfa> both = ProductDfa(any, names, /*subtract=*/false);
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->Matches("name"));
  EXPECT_FALSE(both->Matches("nam"));
  StatusOr<Dfa> none =
      ProductDfa(CompileAnchoredRegex("a+").value(), CompileAnchoredRegex("b+").value(), false);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace gs::grammar
