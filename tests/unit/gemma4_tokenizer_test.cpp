// Gemma 4's tokenizer as FromGguf reads it: small hand-written GGUFs for the metadata rules, and
// llama.cpp's own Gemma 4 test vocabulary (gemma4_vocab.h) for its 46 test vectors, the
// metadata llama.cpp derives, and long inputs. tests/golden/gemma4_tokenize_test.cpp compares a
// larger corpus with llama.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/gemma4_vocab.h"

namespace gs {
namespace {

using Ids = std::vector<int32_t>;
using VT = GgufValueType;

// ---- FromGguf on hand-written files ----

template <typename T>
std::string Le(T value) {
  std::string bytes(sizeof value, '\0');
  std::memcpy(bytes.data(), &value, sizeof value);
  return bytes;
}
std::string Str(std::string_view s) { return Le<uint64_t>(s.size()) + std::string(s); }

// A GGUF with metadata only; each Add* appends one key.
struct MiniGguf {
  std::vector<std::string> kvs;

  void AddString(std::string_view key, std::string_view value) {
    kvs.push_back(Str(key) + Le<int32_t>(static_cast<int32_t>(VT::kString)) + Str(value));
  }
  void AddStrings(std::string_view key, const std::vector<std::string>& values) {
    std::string bytes = Str(key) + Le<int32_t>(static_cast<int32_t>(VT::kArray)) +
                        Le<int32_t>(static_cast<int32_t>(VT::kString)) +
                        Le<uint64_t>(values.size());
    for (const std::string& value : values) bytes += Str(value);
    kvs.push_back(std::move(bytes));
  }
  void AddInts(std::string_view key, const std::vector<int32_t>& values) {
    std::string bytes = Str(key) + Le<int32_t>(static_cast<int32_t>(VT::kArray)) +
                        Le<int32_t>(static_cast<int32_t>(VT::kInt32)) + Le<uint64_t>(values.size());
    for (int32_t value : values) bytes += Le<int32_t>(value);
    kvs.push_back(std::move(bytes));
  }
  void AddU32(std::string_view key, uint32_t value) {
    kvs.push_back(Str(key) + Le<int32_t>(static_cast<int32_t>(VT::kUint32)) + Le(value));
  }
  void AddBool(std::string_view key, bool value) {
    kvs.push_back(Str(key) + Le<int32_t>(static_cast<int32_t>(VT::kBool)) +
                  std::string(1, value ? '\1' : '\0'));
  }
  StatusOr<std::unique_ptr<Tokenizer>> Load() const {
    std::string bytes = "GGUF" + Le<uint32_t>(3) + Le<uint64_t>(0) + Le<uint64_t>(kvs.size());
    for (const std::string& kv : kvs) bytes += kv;
    auto file = GgufFile::FromBytes("mini", std::vector<uint8_t>(bytes.begin(), bytes.end()));
    if (!file.ok()) return file.status();
    return Tokenizer::FromGguf(**file);
  }
};

// <bos> <eos> a b ab, and the merge "a b".
MiniGguf Gemma4Like(std::string_view model, std::string_view pre) {
  MiniGguf gguf;
  gguf.AddString("tokenizer.ggml.model", model);
  if (!pre.empty()) gguf.AddString("tokenizer.ggml.pre", pre);
  gguf.AddStrings("tokenizer.ggml.tokens", {"<bos>", "<eos>", "a", "b", "ab"});
  gguf.AddInts("tokenizer.ggml.token_type", {3, 3, 1, 1, 1});
  gguf.AddU32("tokenizer.ggml.bos_token_id", 0);
  gguf.AddU32("tokenizer.ggml.eos_token_id", 1);
  return gguf;
}

TEST(Gemma4GgufTest, Gemma4ModelIsBpeWithBosForcedOn) {
  MiniGguf gguf = Gemma4Like("gemma4", "");
  gguf.AddStrings("tokenizer.ggml.merges", {"a b"});
  gguf.AddBool("tokenizer.ggml.add_bos_token", false);  // llama.cpp overrides it for Gemma 4
  auto tokenizer = gguf.Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  EXPECT_EQ((*tokenizer)->model(), TokenizerModel::kGemma4Bpe);
  EXPECT_TRUE((*tokenizer)->add_bos());
  EXPECT_EQ((*tokenizer)->Encode("ab", true, false), (Ids{0, 4}));
  EXPECT_EQ((*tokenizer)->eog_ids(), Ids{1});
}

TEST(Gemma4GgufTest, LlamaLabelWithGemma4PreAndMergesIsBpe) {
  MiniGguf gguf = Gemma4Like("llama", "gemma4");
  gguf.AddStrings("tokenizer.ggml.merges", {"a b"});
  auto tokenizer = gguf.Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  EXPECT_EQ((*tokenizer)->model(), TokenizerModel::kGemma4Bpe);
  EXPECT_EQ((*tokenizer)->Encode("ab", false, false), Ids{4});

  // Without merges the same labels are SentencePiece, which merges by score (all 0 here).
  auto spm = Gemma4Like("llama", "gemma4").Load();
  ASSERT_TRUE(spm.ok()) << spm.status().message();
  EXPECT_EQ((*spm)->model(), TokenizerModel::kSentencePiece);
}

TEST(Gemma4GgufTest, MergesMustBeAStringArray) {
  auto missing = Gemma4Like("gemma4", "").Load();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("tokenizer.ggml.merges"), std::string::npos);

  MiniGguf wrong_type = Gemma4Like("gemma4", "");
  wrong_type.AddInts("tokenizer.ggml.merges", {1, 2});
  auto wrong = wrong_type.Load();
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("string array"), std::string::npos);
}

TEST(Gemma4GgufTest, EotAndEomIdsEndGeneration) {
  MiniGguf gguf = Gemma4Like("gemma4", "");
  gguf.AddStrings("tokenizer.ggml.merges", {"a b"});
  gguf.AddU32("tokenizer.ggml.eot_token_id", 3);
  gguf.AddU32("tokenizer.ggml.eom_token_id", 99);  // out of range: ignored
  auto tokenizer = gguf.Load();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  EXPECT_EQ((*tokenizer)->eog_ids(), (Ids{1, 3}));
}

// ---- llama.cpp's Gemma 4 vocabulary ----

class Gemma4VocabTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::ifstream(Gemma4VocabPath()).good()) return;
    auto file = GgufFile::Open(Gemma4VocabPath());
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto tokenizer = Tokenizer::FromGguf(**file);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
    tokenizer_ = std::move(tokenizer).value();
  }
  void SetUp() override {
    if (tokenizer_ != nullptr) return;
    if (Gemma4VocabRequired()) FAIL() << Gemma4VocabMissingMessage();
    GTEST_SKIP() << Gemma4VocabMissingMessage();
  }

  static inline std::unique_ptr<Tokenizer> tokenizer_;
};

struct LlamaCppVector {
  std::string text;
  Ids ids;
};

// llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", one
// output line of space-separated ids per input.
std::vector<LlamaCppVector> ReadLlamaCppVectors() {
  std::ifstream inp(Gemma4VocabPath() + ".inp", std::ios::binary);
  std::ifstream outp(Gemma4VocabPath() + ".out", std::ios::binary);
  if (!inp || !outp) return {};
  const std::string raw((std::istreambuf_iterator<char>(inp)), std::istreambuf_iterator<char>());
  std::vector<LlamaCppVector> vectors;
  constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(kSeparator, pos);
    vectors.push_back({raw.substr(pos, next - pos), {}});
    if (next == std::string::npos) break;
    pos = next + kSeparator.size();
  }
  size_t idx = 0;
  for (std::string line; std::getline(outp, line); ++idx) {
    if (idx >= vectors.size()) return {};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) vectors[idx].ids.push_back(id);
  }
  if (idx != vectors.size()) return {};
  return vectors;
}

TEST_F(Gemma4VocabTest, MatchesLlamaCppTestVectors) {
  const std::vector<LlamaCppVector> vectors = ReadLlamaCppVectors();
  ASSERT_EQ(vectors.size(), 46u) << "unreadable " << Gemma4VocabPath() << ".inp/.out";
  for (const LlamaCppVector& v : vectors) {
    // As llama.cpp's test-tokenizer-0 runs them: no BOS, specials not parsed.
    EXPECT_EQ(tokenizer_->Encode(v.text, false, false), v.ids) << "text: '" << v.text << "'";
    // Every vector is valid UTF-8 without control tokens, so decoding gives it back.
    EXPECT_EQ(tokenizer_->Decode(v.ids, true), v.text);
  }
}

TEST_F(Gemma4VocabTest, MetadataAsLlamaCppReadsIt) {
  EXPECT_EQ(tokenizer_->model(), TokenizerModel::kGemma4Bpe);
  EXPECT_EQ(tokenizer_->num_vocab(), 262144);
  EXPECT_EQ(tokenizer_->bos_id(), 2);
  EXPECT_EQ(tokenizer_->eos_id(), 1);
  EXPECT_TRUE(tokenizer_->add_bos());
  EXPECT_EQ(tokenizer_->eog_ids(), (Ids{1, 50, 106}));  // <eos>, <|tool_response>, <turn|>
  EXPECT_EQ(tokenizer_->FindToken("<|turn>"), 105);
  EXPECT_EQ(tokenizer_->Type(50), TokenType::kControl);      // user-defined in the file
  EXPECT_EQ(tokenizer_->Type(212), TokenType::kNormal);      // "</s>"
  EXPECT_EQ(tokenizer_->Type(48), TokenType::kUserDefined);  // "<|tool_call>"
}

TEST_F(Gemma4VocabTest, ChatTurnWithSpecials) {
  const std::string text = "<|turn>user\nHi there<turn|>\n<|turn>model\n";
  const Ids ids = tokenizer_->Encode(text, true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 105);
  EXPECT_EQ(tokenizer_->Decode(ids, true), "<bos>" + text);
  // Without parse_special the control texts are plain text; user-defined ones still split.
  const Ids plain = tokenizer_->Encode("<|turn><|tool_call>", false, false);
  EXPECT_EQ(plain.back(), 48);
  EXPECT_NE(plain.front(), 105);
}

TEST_F(Gemma4VocabTest, DecodeAndStreamRoundTrip) {
  for (const std::string text :
       {"Hello world", "  two\n\n\nspaces\t\ttabs   ",
        "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB",
        "<|turn>user\n<|\"|>x<|\"|><turn|>"}) {
    const Ids ids = tokenizer_->Encode(text, false, true);
    EXPECT_EQ(tokenizer_->Decode(ids, true), text);
    IncrementalDetokenizer detok(*tokenizer_, true);
    std::string streamed;
    for (int32_t id : ids) streamed += detok.Push(id);
    streamed += detok.Flush();
    EXPECT_EQ(streamed, text);
  }
}

// No quadratic corner: 1 MB each of one repeated letter, spaces, newlines, an undecodable byte,
// a two-character cycle and one CJK character tokenizes in well under a second (at most ~0.4 s on
// one core of the development VM, where llama.cpp takes 2.5-3.5 s), and decode back to the input.
TEST_F(Gemma4VocabTest, LongInputsStayLinear) {
  constexpr size_t kNumBytes = size_t{1} << 20;
  std::string cycle;
  while (cycle.size() < kNumBytes) cycle += "ab";
  std::string cjk;
  while (cjk.size() < kNumBytes) cjk += "\xE4\xB8\xAD";  // 中
  for (const std::string& text :
       {std::string(kNumBytes, 'a'), std::string(kNumBytes, ' '), std::string(kNumBytes, '\n'),
        std::string(kNumBytes, '\x80'), cycle, cjk}) {
    const auto start = std::chrono::steady_clock::now();
    const Ids ids = tokenizer_->Encode(text, false, false);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // A generous bound: a quadratic pass over 1 MB would take minutes.
    EXPECT_LT(seconds, 2.0) << "first byte " << static_cast<int>(text[0]);
    EXPECT_FALSE(ids.empty());
    if (text[0] != '\x80') {
      EXPECT_EQ(tokenizer_->Decode(ids, false), text);
    }
  }
}

}  // namespace
}  // namespace gs
