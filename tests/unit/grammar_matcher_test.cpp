// The per-sequence matcher and the vocabulary trie: masks against brute force, rollback and
// copies (preemption, speculative decoding), end of generation, and — when the default model is
// present — the Gemma vocabulary: byte tokens and SentencePiece spaces mapped to their bytes,
// and real tokenizations of JSON accepted with masks that agree with Consume.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/grammar/json_schema.h"
#include "engine/grammar/matcher.h"
#include "engine/grammar/token_trie.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/grammar_test_util.h"

namespace gs::grammar {
namespace {

using testing::ExpectMaskMatchesBruteForce;
using testing::ToyEos;
using testing::ToyTokenize;
using testing::ToyTrie;

std::shared_ptr<const CompiledGrammar> Compile(const std::string& schema) {
  StatusOr<Grammar> g = CompileJsonSchema(schema);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return std::make_shared<const CompiledGrammar>(std::move(*g));
}

const char kSchema[] =
    R"({"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["name"], "additionalProperties": false})";

TEST(GrammarMatcherTest, TrieIsDepthFirstWithSubtreeEnds) {
  const TokenTrie trie({"ab", "a", "b", "abc", "", "ab"}, {4});
  const TrieArrays& t = trie.all();
  ASSERT_EQ(t.num_nodes(), 4u);  // a, ab, abc, b
  EXPECT_EQ(t.byte[0], 'a');
  EXPECT_EQ(t.subtree_end[0], 3u);
  EXPECT_EQ(t.depth[2], 3);
  EXPECT_EQ(t.token_begin[2] - t.token_begin[1], 2u);  // "ab" twice: ids 0 and 5
  EXPECT_EQ(trie.max_safe_chars(), 3);
  EXPECT_TRUE(trie.IsEos(4));
}

TEST(GrammarMatcherTest, ConsumeRejectsWithoutChangingState) {
  Matcher m(Compile(kSchema), &ToyTrie());
  for (const int32_t id : ToyTokenize("{\"name\": \"x")) ASSERT_TRUE(m.Consume(id));
  const int before = m.num_consumed();
  EXPECT_FALSE(m.Consume(ToyTokenize("\n")[0]));  // raw control characters end nothing
  EXPECT_FALSE(m.Consume(ToyEos()));
  EXPECT_EQ(m.num_consumed(), before);
  ExpectMaskMatchesBruteForce(m, ToyTrie());
}

TEST(GrammarMatcherTest, EndOfGenerationOnlyWhereTheGrammarMayEnd) {
  Matcher m(Compile(kSchema), &ToyTrie());
  const std::vector<int32_t> ids = ToyTokenize("{\"name\": \"x\", \"n\": 12}");
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_FALSE(m.IsAccepting());
    ASSERT_TRUE(m.Consume(ids[i])) << i;
  }
  EXPECT_TRUE(m.IsAccepting());
  ExpectMaskMatchesBruteForce(m, ToyTrie());
  EXPECT_TRUE(m.Consume(ToyEos()));
  EXPECT_TRUE(m.IsTerminated());
  EXPECT_FALSE(m.Consume(ToyTokenize(" ")[0]));
  std::vector<uint32_t> mask(ToyTrie().num_mask_words());
  m.FillMask(mask.data());
  int num_allowed = 0;
  for (const uint32_t w : mask) num_allowed += __builtin_popcount(w);
  EXPECT_EQ(num_allowed, 1);  // only end of generation again
}

TEST(GrammarMatcherTest, RollbackAndCopyAreIndependent) {
  Matcher m(Compile(kSchema), &ToyTrie());
  const std::vector<int32_t> ids = ToyTokenize("{\"name\": \"abc\", \"n\": 1}");
  for (size_t i = 0; i < 6; ++i) ASSERT_TRUE(m.Consume(ids[i]));
  Matcher fork = m;  // preemption / a second sampling branch
  for (size_t i = 6; i < ids.size(); ++i) ASSERT_TRUE(m.Consume(ids[i]));
  EXPECT_TRUE(m.IsAccepting());
  EXPECT_FALSE(fork.IsAccepting());
  EXPECT_EQ(fork.num_consumed(), 6);
  // Speculative decoding: roll back two drafted tokens ("1", "}") and take another path.
  ASSERT_TRUE(m.Rollback(2));
  EXPECT_FALSE(m.Rollback(100));
  EXPECT_FALSE(m.IsAccepting());
  for (const int32_t id : ToyTokenize("2}")) ASSERT_TRUE(m.Consume(id));
  EXPECT_TRUE(m.IsAccepting());
  ExpectMaskMatchesBruteForce(m, ToyTrie());
  ExpectMaskMatchesBruteForce(fork, ToyTrie());
  ASSERT_TRUE(m.Rollback(m.num_consumed()));
  ExpectMaskMatchesBruteForce(m, ToyTrie());
}

TEST(GrammarMatcherTest, MaskCacheGivesTheSameMasks) {
  auto g = Compile(kSchema);
  const std::vector<int32_t> ids = ToyTokenize("{\"name\": \"abc abc abc\"}");
  for (int pass = 0; pass < 2; ++pass) {  // the second pass hits the cache
    Matcher m(g, &ToyTrie());
    for (const int32_t id : ids) {
      ExpectMaskMatchesBruteForce(m, ToyTrie());
      ASSERT_TRUE(m.Consume(id));
    }
  }
}

TEST(GrammarMatcherTest, ClassSlicedMasksMatchBruteForce) {
  // Inside the pattern the head loops on [a-z0-9 ]: masks come from a class slice.
  auto g = Compile(R"({"type": "object", "properties": {"p": {"type": "string",
                      "pattern": "^[a-z0-9 ]+$"}, "q": {"type": "string", "format": "uri"}}})");
  for (const char* text : {"{\"p\": \"abc 12 name ab\"}", "{\"q\": \"http://ab.c/x?y=1#z\"}"}) {
    Matcher m(g, &ToyTrie());
    for (const int32_t id : ToyTokenize(text)) {
      ExpectMaskMatchesBruteForce(m, ToyTrie());
      ASSERT_TRUE(m.Consume(id)) << text;
    }
    EXPECT_TRUE(m.IsAccepting());
  }
}

std::string ModelPath() {
  if (const char* env = std::getenv("GS_MODEL_PATH"); env != nullptr && *env != '\0') return env;
  std::ifstream in(std::string(GS_SOURCE_DIR) + "/.model-path");
  std::string path;
  std::getline(in, path);
  return path;
}

TEST(GrammarMatcherTest, GemmaVocabulary) {
  const std::string path = ModelPath();
  if (path.empty() || !std::ifstream(path)) GTEST_SKIP() << "no GS_MODEL_PATH and no .model-path";
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const TokenTrie trie = TokenTrie::FromTokenizer(**tok);
  EXPECT_EQ(trie.num_vocab(), (*tok)->num_vocab());
  // SentencePiece's U+2581 is a space; <0x0A> is the byte 0x0A; control tokens have no bytes.
  const std::optional<int32_t> newline = (*tok)->FindToken("<0x0A>");
  ASSERT_TRUE(newline.has_value());
  EXPECT_EQ(trie.piece(*newline), "\n");
  const std::optional<int32_t> space_the = (*tok)->FindToken("\xe2\x96\x81the");
  ASSERT_TRUE(space_the.has_value());
  EXPECT_EQ(trie.piece(*space_the), " the");
  EXPECT_TRUE(trie.piece((*tok)->bos_id()).empty());
  for (const int32_t id : (*tok)->eog_ids()) EXPECT_TRUE(trie.IsEos(id));

  auto g = Compile(kSchema);
  const std::string text = "{\"name\": \"Ünïcödé 日本語 \\\"quoted\\\" 😀\", \"n\": -42}";
  const std::vector<int32_t> ids = (*tok)->Encode(text, false, false);
  ASSERT_EQ((*tok)->Decode(ids, false), text);
  Matcher m(g, &trie);
  std::vector<uint32_t> mask(trie.num_mask_words());
  for (const int32_t id : ids) {
    m.FillMask(mask.data());
    ASSERT_TRUE((mask[id >> 5] >> (id & 31)) & 1) << "token " << id << " " << trie.piece(id);
    ASSERT_TRUE(m.Consume(id));
  }
  m.FillMask(mask.data());
  EXPECT_TRUE(m.IsAccepting());
  EXPECT_TRUE((mask[(*tok)->eos_id() >> 5] >> ((*tok)->eos_id() & 31)) & 1);
  // Brute force over the whole vocabulary at two states: inside a string, between members.
  Matcher in_string(g, &trie);
  for (const int32_t id : (*tok)->Encode("{\"name\": \"ab", false, false)) {
    ASSERT_TRUE(in_string.Consume(id));
  }
  ExpectMaskMatchesBruteForce(in_string, trie);
  Matcher after_value(g, &trie);
  for (const int32_t id : (*tok)->Encode("{\"name\": \"ab\"", false, false)) {
    ASSERT_TRUE(after_value.Consume(id));
  }
  ExpectMaskMatchesBruteForce(after_value, trie);
}

}  // namespace
}  // namespace gs::grammar
