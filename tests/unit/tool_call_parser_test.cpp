#include "api/tool_call_parser.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace gs::api {

std::ostream& operator<<(std::ostream& os, const ParsedToolCall& c) {
  return os << c.name << "(" << c.arguments << ")";
}

namespace {

using json = nlohmann::json;

struct Result {
  std::string content;
  std::vector<ParsedToolCall> calls;
  bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  os << "{content: \"" << r.content << "\", calls: [";
  for (const ParsedToolCall& c : r.calls) os << c << " ";
  return os << "]}";
}

void Add(Result* total, ToolCallDelta d) {
  total->content += d.content;
  for (ParsedToolCall& c : d.calls) total->calls.push_back(std::move(c));
}

ToolCallSyntax Syntax(ToolCallFormat format = ToolCallFormat::kGemma4, int32_t max_calls = -1) {
  return {.format = format,
          .names = {"get_weather", "search", "f", "no-args_2"},
          .max_calls = max_calls};
}

Result Parse(const std::vector<std::string_view>& pieces, const ToolCallSyntax& syntax = Syntax()) {
  ToolCallParser parser(syntax);
  Result total;
  for (const std::string_view piece : pieces) Add(&total, parser.Push(piece));
  Add(&total, parser.Flush());
  return total;
}

Result Whole(std::string_view text, const ToolCallSyntax& syntax = Syntax()) {
  return Parse({text}, syntax);
}

Result Fenced(std::string_view text) { return Whole(text, Syntax(ToolCallFormat::kFencedJson)); }

ParsedToolCall Call(std::string name, std::string arguments) {
  return {std::move(name), std::move(arguments)};
}

// ---- Gemma 4 -------------------------------------------------------------------------------

TEST(ToolCallParserTest, OneCallWithGemmaValues) {
  EXPECT_EQ(Whole("<|tool_call>call:get_weather{location:<|\"|>Paris, FR<|\"|>,days:3}"
                  "<tool_call|>"),
            (Result{"", {Call("get_weather", R"({"location":"Paris, FR","days":3})")}}));
}

TEST(ToolCallParserTest, EveryValueKind) {
  EXPECT_EQ(
      Whole("<|tool_call>call:f{a:1,b:-2.5e-3,c:true,d:false,e:null,g:None,h:[1,<|\"|>x<|\"|>,[]],"
            "i:{j:{k:<|\"|><|\"|>}},l:{},m:0}<tool_call|>"),
      (Result{"",
              {Call("f", R"({"a":1,"b":-2.5e-3,"c":true,"d":false,"e":null,"g":null,)"
                         R"("h":[1,"x",[]],"i":{"j":{"k":""}},"l":{},"m":0})")}}));
}

TEST(ToolCallParserTest, NumbersKeepTheirDigits) {
  // No double round trip: big integers and trailing zeros come out as the model wrote them.
  EXPECT_EQ(Whole("<|tool_call>call:f{a:123456789012345678901234567890,b:1.10}<tool_call|>"),
            (Result{"", {Call("f", R"({"a":123456789012345678901234567890,"b":1.10})")}}));
}

TEST(ToolCallParserTest, StringsAreRawTextAndComeOutEscaped) {
  const Result r = Whole(
      "<|tool_call>call:search{q:<|\"|>say \"hi\" \\ {not: a, key} [x]\n\ttab<|\"|>}<tool_call|>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(json::parse(r.calls[0].arguments),
            (json{{"q", "say \"hi\" \\ {not: a, key} [x]\n\ttab"}}));
}

TEST(ToolCallParserTest, UnicodeSurvivesAndInvalidUtf8IsReplaced) {
  EXPECT_EQ(
      Whole("<|tool_call>call:search{q:<|\"|>\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\x8b"
            "<|\"|>}<tool_call|>"),
      (Result{"", {Call("search", "{\"q\":\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\x8b\"}")}}));
  const Result r = Whole(
      "<|tool_call>call:search{q:<|\"|>a\xff"
      "b<|\"|>}<tool_call|>");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(json::parse(r.calls[0].arguments)["q"],
            "a\xef\xbf\xbd"
            "b");
}

TEST(ToolCallParserTest, QuotedKeysAndSpacesAreAccepted) {
  EXPECT_EQ(Whole("<|tool_call>call:f{ <|\"|>a b<|\"|> : 1 , \"c\":\"d\" , e : [ 1 , 2 ] }"
                  "<tool_call|>"),
            (Result{"", {Call("f", R"({"a b":1,"c":"d","e":[1,2]})")}}));
}

TEST(ToolCallParserTest, NoArguments) {
  EXPECT_EQ(Whole("<|tool_call>call:no-args_2{}<tool_call|>"),
            (Result{"", {Call("no-args_2", "{}")}}));
}

TEST(ToolCallParserTest, ABareOpenerWithoutCallIsACall) {  // vLLM #53431
  EXPECT_EQ(Whole("<|tool_call>:f{a:1}<tool_call|>"), (Result{"", {Call("f", R"({"a":1})")}}));
}

TEST(ToolCallParserTest, TextBeforeBetweenAndAfterCallsIsContent) {
  EXPECT_EQ(Whole("Let me look.<|tool_call>call:f{a:1}<tool_call|> and <|tool_call>call:search"
                  "{q:<|\"|>x<|\"|>}<tool_call|>Done."),
            (Result{"Let me look. and Done.",
                    {Call("f", R"({"a":1})"), Call("search", R"({"q":"x"})")}}));
}

TEST(ToolCallParserTest, RepeatedCallsToOneFunctionStaySeparate) {  // SGLang #25073
  EXPECT_EQ(Whole("<|tool_call>call:f{a:1}<tool_call|><|tool_call>call:f{a:2}<tool_call|>"),
            (Result{"", {Call("f", R"({"a":1})"), Call("f", R"({"a":2})")}}));
}

TEST(ToolCallParserTest, MarkersInsideStringsAreText) {  // vLLM #44522
  EXPECT_EQ(Whole("<|tool_call>call:search{q:<|\"|>a <tool_call|> b <|tool_call> c}<|\"|>}"
                  "<tool_call|>"),
            (Result{"", {Call("search", R"({"q":"a <tool_call|> b <|tool_call> c}"})")}}));
}

TEST(ToolCallParserTest, UnknownFunctionsAreContent) {
  const std::string text = "<|tool_call>call:rm_rf{path:<|\"|>/<|\"|>}<tool_call|>";
  EXPECT_EQ(Whole(text), (Result{text, {}}));
}

TEST(ToolCallParserTest, MalformedCallsAreContentWordForWord) {
  for (const std::string_view text : {
           "<|tool_call>call:f{a:}<tool_call|>",
           "<|tool_call>call:f{a:1,}<tool_call|>",
           "<|tool_call>call:f{a:1,a:2}<tool_call|>",  // duplicate key
           "<|tool_call>call:f{a:+1}<tool_call|>",
           "<|tool_call>call:f{a:.5}<tool_call|>",
           "<|tool_call>call:f{a:bare}<tool_call|>",
           "<|tool_call>call:f{a:[1,2}<tool_call|>",
           "<|tool_call>call:f{a:1]<tool_call|>",
           "<|tool_call>call:f{:1}<tool_call|>",
           "<|tool_call>call:f{a:<|\"|>open}<tool_call|>",  // the string never closes
           "<|tool_call>call:f{a:1}}<tool_call|>",
           "<|tool_call>call:f{a:1} x<tool_call|>",
           "<|tool_call>call:{a:1}<tool_call|>",
           "<|tool_call>call f{a:1}<tool_call|>",
           "<|tool_call>cal:f{a:1}<tool_call|>",
           "<|tool_call>call:f(a=1)<tool_call|>",
           "<|tool_call>call:f{a:1}",  // max_tokens ran out before the close marker
           "<|tool_call>call:f{a:1",
           "<|tool_call>call:f",
           "<|tool_call>",
           "<tool_call|>",
       }) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(Whole(text), (Result{std::string(text), {}}));
  }
}

TEST(ToolCallParserTest, ALiteralOpenMarkerInProseDoesNotSwallowTheMessage) {  // llama.cpp #22371
  EXPECT_EQ(Whole("Gemma calls tools with <|tool_call> tokens; here is the rest."),
            (Result{"Gemma calls tools with <|tool_call> tokens; here is the rest.", {}}));
  // ... nor a real call after it.
  EXPECT_EQ(Whole("<|tool_call>call:f{a:<|tool_call>call:f{a:1}<tool_call|>"),
            (Result{"<|tool_call>call:f{a:", {Call("f", R"({"a":1})")}}));
  EXPECT_EQ(Whole("<|tool_call><|tool_call>call:f{}<tool_call|>"),
            (Result{"<|tool_call>", {Call("f", "{}")}}));
}

TEST(ToolCallParserTest, ACloseMarkerBeforeTheBracesCloseEndsTheCallAsContent) {
  EXPECT_EQ(Whole("<|tool_call>call:f{a:1<tool_call|>after"),
            (Result{"<|tool_call>call:f{a:1<tool_call|>after", {}}));
}

TEST(ToolCallParserTest, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep = "<|tool_call>call:f{a:";
  for (int i = 0; i < 100000; ++i) deep += '[';
  for (int i = 0; i < 100000; ++i) deep += ']';
  deep += "}<tool_call|>";
  EXPECT_EQ(Whole(deep), (Result{deep, {}}));
  std::string ok = "<|tool_call>call:f{a:";
  for (int i = 0; i < 60; ++i) ok += '[';
  for (int i = 0; i < 60; ++i) ok += ']';
  ok += "}<tool_call|>";
  EXPECT_EQ(Whole(ok).calls.size(), 1u);
}

TEST(ToolCallParserTest, MaxCallsDropsTheRest) {
  EXPECT_EQ(Whole("<|tool_call>call:f{a:1}<tool_call|>x<|tool_call>call:f{a:2}<tool_call|>y",
                  Syntax(ToolCallFormat::kGemma4, 1)),
            (Result{"xy", {Call("f", R"({"a":1})")}}));
}

TEST(ToolCallParserTest, HeldBackTextIsReleasedAsSoonAsItCannotBeACall) {
  ToolCallParser parser(Syntax());
  EXPECT_EQ(parser.Push("Hi <|tool").content, "Hi ");
  EXPECT_EQ(parser.Push("s").content, "<|tools");
  EXPECT_EQ(parser.Push(" <|tool_call>ca").content, " ");
  EXPECT_EQ(parser.Push("ll:f{a:").content, "");
  EXPECT_EQ(parser.Push("<|\"|>x<|").content, "");
  ToolCallDelta d = parser.Push("\"|>}<tool_call");
  EXPECT_TRUE(d.calls.empty());
  d = parser.Push("|>tail");
  EXPECT_EQ(d.calls, (std::vector<ParsedToolCall>{Call("f", R"({"a":"x"})")}));
  EXPECT_EQ(d.content, "tail");
  // A header that stops matching is released at once, not at the close marker.
  EXPECT_EQ(parser.Push("<|tool_call>call me").content, "<|tool_call>call me");
  EXPECT_EQ(parser.num_calls(), 1);
}

// ---- The fenced JSON convention (Gemma 3) ----------------------------------------------------

TEST(ToolCallParserTest, FencedJsonCalls) {
  EXPECT_EQ(Fenced("Sure.\n```tool_call\n{\"name\": \"get_weather\", \"arguments\": {\"location\": "
                   "\"Paris\", \"days\": 2}}\n```\n"),
            (Result{"Sure.\n\n", {Call("get_weather", R"({"days":2,"location":"Paris"})")}}));
  EXPECT_EQ(Fenced("```tool_call{\"name\":\"f\",\"parameters\":{}}```"
                   "```tool_call {\"name\":\"f\"}```"),
            (Result{"", {Call("f", "{}"), Call("f", "{}")}}));
}

TEST(ToolCallParserTest, FencesAndBracesInsideJsonStringsAreText) {
  EXPECT_EQ(Fenced("```tool_call\n{\"name\":\"search\",\"arguments\":{\"q\":\"a ``` b } \\\" {\"}}"
                   "\n```"),
            (Result{"", {Call("search", R"({"q":"a ``` b } \" {"})")}}));
}

TEST(ToolCallParserTest, MalformedFencedCallsAreContent) {
  for (const std::string_view text : {
           "```tool_call\n{\"name\":\"nope\",\"arguments\":{}}\n```",
           "```tool_call\n{\"name\":\"f\",\"arguments\":[]}\n```",
           "```tool_call\n{\"name\":\"f\",\"arguments\":{},\"parameters\":{}}\n```",
           "```tool_call\n{\"name\":\"f\",\"extra\":1}\n```",
           "```tool_call\n{\"name\":\"f\",}\n```",
           "```tool_call\n{\"name\":\"f\"}\nx```",
           "```tool_call\nnot json```",
           "```tool_call\n{\"name\":\"f\"",
           "```tool_calls\n{}```",
           "```python\nprint(1)\n```",
       }) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(Fenced(text), (Result{std::string(text), {}}));
  }
}

// ---- Stream = non-stream ---------------------------------------------------------------------

const char* const kGemma4Samples[] = {
    "<|tool_call>call:get_weather{location:<|\"|>Paris, FR<|\"|>,days:3}<tool_call|>",
    "Checking.<|tool_call>call:f{a:{b:[1,2,{c:<|\"|>d<|\"|>}]}}<tool_call|><|tool_call>call:"
    "search{q:<|\"|>x<|\"|>}<tool_call|>after",
    "<|tool_call>call:f{a:<|tool_call>call:f{a:1}<tool_call|>",
    "<|tool_call>call:search{q:<|\"|><tool_call|><|tool_call><|\"|>}<tool_call|>",
    "<|tool_call>call:nope{}<tool_call|><|tool_call>:f{}<tool_call|>",
    "<|tool_call>call:f{a:1<tool_call|><|tool_call|><<|tool_call>call:f{}<tool_call|>>",
    "<|tool_call>call:f{a:1}",
    "\xe4\xbd\xa0<|tool_call>call:search{q:<|\"|>\xe5\xa5\xbd<|\"|>}<tool_call|>\xf0\x9f\x91\x8b",
    "no calls <| |> <tool_call <|tool_cal",
};

const char* const kFencedSamples[] = {
    "Sure.\n```tool_call\n{\"name\": \"f\", \"arguments\": {\"a\": [1, {\"b\": \"```\"}]}}\n```\n",
    "```tool_call {\"name\":\"nope\"}``````tool_call{\"name\":\"f\"}```",
    "`` ``` ```tool_cal ```tool_call\n\n x",
    "```tool_call\n{\"name\":\"search\",\"arguments\":{\"q\":\"\\\\\\\"```\"}}```",
};

void ExpectChunkingInvariant(std::string_view text, const ToolCallSyntax& syntax) {
  SCOPED_TRACE(std::string(text));
  const Result whole = Whole(text, syntax);
  for (size_t i = 0; i <= text.size(); ++i) {
    ASSERT_EQ(Parse({text.substr(0, i), text.substr(i)}, syntax), whole) << "split at " << i;
    for (size_t j = i; j <= text.size(); ++j) {
      ASSERT_EQ(Parse({text.substr(0, i), text.substr(i, j - i), text.substr(j)}, syntax), whole)
          << "splits at " << i << ", " << j;
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  EXPECT_EQ(Parse(bytes, syntax), whole) << "byte by byte";
  // Random multi-token chunks, as a speculative decoder delivers them (vLLM #41967).
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::string_view> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 24)(rng);
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    ASSERT_EQ(Parse(pieces, syntax), whole) << "trial " << trial;
  }
}

TEST(ToolCallParserTest, EveryChunkingGivesTheSameCallsAndContent) {
  for (const std::string_view text : kGemma4Samples) ExpectChunkingInvariant(text, Syntax());
  for (const std::string_view text : kFencedSamples) {
    ExpectChunkingInvariant(text, Syntax(ToolCallFormat::kFencedJson));
  }
}

TEST(ToolCallParserTest, NoByteIsLostOrDuplicated) {
  // With every name unknown, nothing is a call: the content is the text itself.
  const ToolCallSyntax none{.format = ToolCallFormat::kGemma4, .names = {}, .max_calls = -1};
  for (const std::string_view text : kGemma4Samples) {
    EXPECT_EQ(Whole(text, none), (Result{std::string(text), {}}));
  }
}

TEST(ToolCallParserTest, ArgumentsAlwaysParseAsJsonObjects) {
  for (const std::string_view text : kGemma4Samples) {
    for (const ParsedToolCall& c : Whole(text).calls) {
      const json args = json::parse(c.arguments, nullptr, false);
      EXPECT_TRUE(args.is_object()) << c;
    }
  }
}

}  // namespace
}  // namespace gs::api
