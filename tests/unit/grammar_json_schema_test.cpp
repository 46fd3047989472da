// JSON Schema → grammar: the committed MaskBench-style fixtures (tests/fixtures/grammar, checked
// against Python's jsonschema) walked token by token with every mask compared to a brute-force
// one, error messages that name the schema location, and hostile schemas that must fail (or
// succeed) within the compiler's limits.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/grammar/grammar_cache.h"
#include "engine/grammar/json_schema.h"
#include "engine/grammar/json_value.h"
#include "tests/unit/grammar_test_util.h"

namespace gs::grammar {
namespace {

using testing::Accepts;
using testing::ToyTokenize;
using testing::ToyTrie;

std::shared_ptr<const CompiledGrammar> MustCompile(const std::string& schema) {
  StatusOr<Grammar> g = CompileJsonSchema(schema);
  EXPECT_TRUE(g.ok()) << schema << ": " << g.status().message();
  if (!g.ok()) return nullptr;
  return std::make_shared<const CompiledGrammar>(std::move(*g));
}

bool AcceptsText(const std::string& schema, const std::string& text) {
  auto g = MustCompile(schema);
  return g && Accepts(g, ToyTrie(), ToyTokenize(text), /*check_masks=*/false);
}

std::string CompileError(const std::string& schema) {
  StatusOr<Grammar> g = CompileJsonSchema(schema);
  return g.ok() ? "" : g.status().message();
}

TEST(GrammarJsonSchemaTest, Fixtures) {
  const std::filesystem::path dir = GS_GRAMMAR_FIXTURE_DIR;
  int num_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    StatusOr<JsonValue> doc = JsonValue::Parse(text.str());
    ASSERT_TRUE(doc.ok()) << entry.path();
    StatusOr<Grammar> g = CompileJsonSchema(*doc->Find("schema"));
    ASSERT_TRUE(g.ok()) << entry.path() << ": " << g.status().message();
    auto shared = std::make_shared<const CompiledGrammar>(std::move(*g));
    for (const JsonValue& test : doc->Find("tests")->items()) {
      const std::string instance = test.Find("data")->ToPythonJson();
      EXPECT_EQ(Accepts(shared, ToyTrie(), ToyTokenize(instance), /*check_masks=*/true),
                test.Find("valid")->bool_value())
          << entry.path().filename() << ": " << instance;
    }
    ++num_files;
  }
  EXPECT_GE(num_files, 9);
}

TEST(GrammarJsonSchemaTest, WhitespaceIsBounded) {
  const std::string schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}})";
  EXPECT_TRUE(AcceptsText(schema, "{\"a\":1}"));
  EXPECT_TRUE(AcceptsText(schema, "{\n  \"a\": 1\n}"));
  EXPECT_TRUE(AcceptsText(schema, "{\"a\":" + std::string(20, ' ') + "1}"));
  EXPECT_FALSE(AcceptsText(schema, "{\"a\":" + std::string(21, ' ') + "1}"));
  EXPECT_FALSE(AcceptsText(schema, "{\"a\":\n\n1}"));
  EXPECT_FALSE(AcceptsText(schema, " {\"a\": 1}"));  // none around the root value
}

TEST(GrammarJsonSchemaTest, PropertyOrderFollowsTheSchema) {
  const std::string schema =
      R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
          "additionalProperties": false})";
  EXPECT_TRUE(AcceptsText(schema, R"({"a": 1, "b": 2})"));
  EXPECT_FALSE(AcceptsText(schema, R"({"b": 2, "a": 1})"));
  EXPECT_FALSE(AcceptsText(schema, R"({"a": 1, "a": 2})"));
}

TEST(GrammarJsonSchemaTest, ErrorsNameTheSchemaLocation) {
  EXPECT_EQ(CompileError(R"j({"properties": {"age": {"type": "string", "pattern": "(?=x)"}}})j")
                .rfind("/properties/age/pattern: ", 0),
            0u);
  EXPECT_NE(CompileError(R"j({"properties": {"age": {"type": "string", "pattern": "(?=x)"}}})j")
                .find("lookahead is not supported"),
            std::string::npos);
  EXPECT_EQ(CompileError(R"({"items": {"not": {"type": "null"}}})"),
            "/items/not: not is not supported");
  EXPECT_EQ(CompileError(R"({"type": "string", "format": "color"})").rfind("/format: ", 0), 0u);
  EXPECT_EQ(CompileError(R"({"$ref": "http://example.com/s.json"})").rfind("/: remote $ref", 0),
            0u);
  EXPECT_EQ(CompileError(R"({"$ref": "#/$defs/missing"})").rfind("/: $ref", 0), 0u);
  EXPECT_NE(CompileError(R"({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]})")
                .find("/oneOf: oneOf alternatives 0 and 1 may both match"),
            std::string::npos);
  EXPECT_NE(CompileError("{\"type\": ").find("JSON parse error"), std::string::npos);
  EXPECT_NE(
      CompileError(R"({"type": "integer", "minimum": 5, "maximum": 1})").find("matches nothing"),
      std::string::npos);
  EXPECT_NE(CompileError(R"({"type": "strin"})").find("unknown type"), std::string::npos);
}

TEST(GrammarJsonSchemaTest, HostileSchemasStayBounded) {
  const auto start = std::chrono::steady_clock::now();
  // Deep nesting: the JSON parser's depth limit, then the compiler's.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"items\": ";
  EXPECT_NE(CompileError(deep).find("nesting too deep"), std::string::npos);
  std::string nested = "{\"type\": \"integer\"}";
  for (int i = 0; i < 200; ++i) nested = "{\"type\": \"array\", \"items\": " + nested + "}";
  EXPECT_NE(CompileError(nested).find("nested deeper than"), std::string::npos);
  // Recursion without consuming input, directly or through anyOf/allOf.
  EXPECT_NE(CompileError(R"({"$ref": "#"})").find("matches nothing"), std::string::npos);
  EXPECT_NE(CompileError(R"({"anyOf": [{"$ref": "#"}, {"type": "null"}]})").find("left-recursive"),
            std::string::npos);
  EXPECT_FALSE(CompileError(R"({"allOf": [{"$ref": "#"}], "type": "object"})").empty());
  // Recursion that always needs more input can never finish: matches nothing.
  EXPECT_NE(CompileError(R"({"type": "array", "items": {"$ref": "#"}, "minItems": 1})")
                .find("matches nothing"),
            std::string::npos);
  // Catastrophic patterns and huge counters.
  EXPECT_FALSE(CompileError(R"({"type": "string", "pattern": "(a|b)*a(a|b){30}"})").empty());
  EXPECT_FALSE(CompileError(R"({"type": "string", "maxLength": 1000000000})").empty());
  EXPECT_FALSE(CompileError(R"({"type": "array", "minItems": 1000000000})").empty());
  // Exponential fan-out of anyOf inside allOf.
  std::string product = "{\"allOf\": [";
  for (int i = 0; i < 12; ++i) {
    product += std::string(i ? ", " : "") +
               R"({"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]})";
  }
  EXPECT_FALSE(CompileError(product + "]}").empty());
  // A huge enum compiles, and works.
  std::string big_enum = "{\"enum\": [";
  for (int i = 0; i < 50000; ++i) big_enum += (i ? ", \"v" : "\"v") + std::to_string(i) + "\"";
  big_enum += "]}";
  EXPECT_TRUE(AcceptsText(big_enum, "\"v49999\""));
  EXPECT_FALSE(AcceptsText(big_enum, "\"v50000\""));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(GrammarJsonSchemaTest, RecursiveSchemasWork) {
  const std::string tree =
      R"({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
          "additionalProperties": false})";
  std::string text = "{}";
  for (int i = 0; i < 50; ++i) text = "{\"kids\": [" + text + ", {}]}";
  EXPECT_TRUE(AcceptsText(tree, text));
  EXPECT_FALSE(AcceptsText(tree, "{\"kids\": [{\"x\": 1}]}"));
}

TEST(GrammarJsonSchemaTest, NumberBounds) {
  const std::string pct = R"({"type": "number", "minimum": 0, "maximum": 100})";
  for (const char* ok : {"0", "0.5", "99.999", "100", "100.00", "7"}) {
    EXPECT_TRUE(AcceptsText(pct, ok)) << ok;
  }
  for (const char* bad : {"-1", "-0.5", "100.01", "101", "1e3"}) {
    EXPECT_FALSE(AcceptsText(pct, bad)) << bad;
  }
  const std::string open = R"({"type": "number", "exclusiveMinimum": -2, "exclusiveMaximum": 3})";
  for (const char* ok : {"-1.5", "-1", "0", "2.999", "-1.999"})
    EXPECT_TRUE(AcceptsText(open, ok)) << ok;
  for (const char* bad : {"-2", "-2.0", "3", "3.5", "-2.5"})
    EXPECT_FALSE(AcceptsText(open, bad)) << bad;
  const std::string ints = R"({"type": "integer", "minimum": -15, "maximum": 1234})";
  for (int v = -20; v <= 1300; ++v) {
    EXPECT_EQ(AcceptsText(ints, std::to_string(v)), v >= -15 && v <= 1234) << v;
  }
  EXPECT_FALSE(AcceptsText(ints, "007"));
}

TEST(GrammarJsonSchemaTest, AnyJsonAndRegexGrammars) {
  StatusOr<Grammar> any = CompileAnyJson(/*object_only=*/true);
  ASSERT_TRUE(any.ok());
  auto g = std::make_shared<const CompiledGrammar>(std::move(*any));
  EXPECT_TRUE(Accepts(g, ToyTrie(), ToyTokenize(R"({"a": [1, {"b": null}], "c": "d"})"), true));
  EXPECT_FALSE(Accepts(g, ToyTrie(), ToyTokenize("[1]"), false));
  GrammarCache cache;
  auto re = cache.GetRegex("(yes|no) [0-9]{2}");
  ASSERT_TRUE(re.ok());
  EXPECT_TRUE(Accepts(*re, ToyTrie(), ToyTokenize("yes 12"), true));
  EXPECT_FALSE(Accepts(*re, ToyTrie(), ToyTokenize("yes 123"), false));
}

TEST(GrammarJsonSchemaTest, CacheReturnsTheSameGrammarAndCachesErrors) {
  GrammarCache cache(2);
  auto a = cache.GetJsonSchema(R"({"type": "integer"})");
  auto b = cache.GetJsonSchema("{ \"type\" :\"integer\" }");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_FALSE(cache.GetJsonSchema(R"({"not": {}})").ok());
  EXPECT_FALSE(cache.GetJsonSchema(R"({"not": {}})").ok());
  EXPECT_EQ(cache.num_hits(), 2u);
  EXPECT_TRUE(cache.GetJsonSchema(R"({"type": "string"})").ok());
  EXPECT_EQ(cache.num_entries(), 2u);  // the least recently used one was evicted
}

}  // namespace
}  // namespace gs::grammar
