// The SentencePiece and Gemma 4 BPE tokenizers against toy vocabularies built to pin each rule
// of llama.cpp's algorithms (bpe_encoder.h), the incremental
// detokenizer, load-time validation, and, when the default model is present, token ids produced
// by llama.cpp's llama-tokenize. gemma4_tokenizer_test.cpp has the real Gemma 4 vocabulary.
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/detokenizer.h"

namespace gs {
namespace {

using Ids = std::vector<int32_t>;

// A hand-built vocabulary: Add returns the new token's id.
struct ToyVocab {
  Vocab vocab;

  int32_t Add(std::string text, float score = 0.0f, TokenType type = TokenType::kNormal) {
    vocab.tokens.push_back(std::move(text));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
    return static_cast<int32_t>(vocab.tokens.size() - 1);
  }
  // <0x00>..<0xFF>; returns the id of <0x00> (the others follow in order).
  int32_t AddByteTokens() {
    const int32_t first_id = static_cast<int32_t>(vocab.tokens.size());
    for (int byte = 0; byte < 256; ++byte) {
      char text[7];
      std::snprintf(text, sizeof(text), "<0x%02X>", byte);
      Add(text, 0.0f, TokenType::kByte);
    }
    return first_id;
  }
  std::unique_ptr<Tokenizer> Build() {
    StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromVocab(vocab);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().message();
    return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
  }
};

// §8.4's worked example: the `he` candidate goes stale when `h` is absorbed into `▁h`.
TEST(TokenizerTest, WorkedExampleMergesByScore) {
  ToyVocab toy;
  for (const char* c : {"\xE2\x96\x81", "h", "e", "l", "o"}) toy.Add(c);
  toy.Add("\xE2\x96\x81h", -2);
  toy.Add("he", -3);
  toy.Add("ll", -1);
  toy.Add("\xE2\x96\x81he", -4);
  toy.Add("llo", -5);
  const int32_t hello_id = toy.Add("\xE2\x96\x81hello", -6);
  toy.Add("\xE2\x96\x81hell", -9);
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode(" hello", false, false), Ids{hello_id});
}

// `bc` merges first and grows `b`; the older `ab` candidate must then be skipped because its
// length no longer matches, leaving [a, bc] rather than an unknown `abc`.
TEST(TokenizerTest, StaleCandidateIsSkipped) {
  ToyVocab toy;
  const int32_t a = toy.Add("a");
  toy.Add("b");
  toy.Add("c");
  toy.Add("ab", -2);
  const int32_t bc = toy.Add("bc", -1);
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("abc", false, false), (Ids{a, bc}));
}

TEST(TokenizerTest, EqualScoresMergeLeftmostFirst) {
  ToyVocab toy;
  const int32_t a = toy.Add("a");
  const int32_t aa = toy.Add("aa", -1);
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(tokenizer->Encode("aaaaa", false, false), (Ids{aa, aa, a}));
}

TEST(TokenizerTest, MissingCharacterFallsBackToBytes) {
  ToyVocab toy;
  const int32_t a = toy.Add("a");
  const int32_t byte0 = toy.AddByteTokens();
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  // U+4E2D is E4 B8 AD; a stray continuation byte stands alone.
  EXPECT_EQ(tokenizer->Encode("a\xE4\xB8\xAD"
                              "a",
                              false, false),
            (Ids{a, byte0 + 0xE4, byte0 + 0xB8, byte0 + 0xAD, a}));
  EXPECT_EQ(tokenizer->Encode("\x80", false, false), Ids{byte0 + 0x80});
  // A truncated character is one symbol of the bytes left.
  EXPECT_EQ(tokenizer->Encode("\xF0\x9F", false, false), (Ids{byte0 + 0xF0, byte0 + 0x9F}));
}

TEST(TokenizerTest, OnlyAsciiSpaceIsEscaped) {
  ToyVocab toy;
  const int32_t space = toy.Add("\xE2\x96\x81");
  const int32_t a = toy.Add("a");
  const int32_t space_a = toy.Add(
      "\xE2\x96\x81"
      "a",
      -1);
  const int32_t tab = toy.Add("\t");
  const int32_t newline = toy.Add("\n");
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode(" a  a\t\na ", false, false),
            (Ids{space_a, space, space_a, tab, newline, a, space}));
  EXPECT_EQ(tokenizer->Decode(Ids{space_a, space, space_a, tab, newline, a, space}, false),
            " a  a\t\na ");
}

struct SpecialToy {
  ToyVocab toy;
  int32_t bos, eos, lt, gt, c, t, l, x, y, ctl, ud;

  SpecialToy() {
    toy.Add("<unk>", 0, TokenType::kControl);
    bos = toy.Add("<bos>", 0, TokenType::kControl);
    eos = toy.Add("<eos>", 0, TokenType::kControl);
    lt = toy.Add("<");
    gt = toy.Add(">");
    c = toy.Add("c");
    t = toy.Add("t");
    l = toy.Add("l");
    x = toy.Add("x");
    y = toy.Add("y");
    ctl = toy.Add("<ctl>", -1000, TokenType::kControl);
    ud = toy.Add("<ud>", 0, TokenType::kUserDefined);
    toy.Add("u");
    toy.Add("d");
    toy.vocab.bos_id = bos;
    toy.vocab.eos_id = eos;
    toy.vocab.unk_id = 0;
  }
};

TEST(TokenizerTest, ControlTokensSplitOnlyWithParseSpecial) {
  SpecialToy s;
  auto tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("x<ctl>y", false, true), (Ids{s.x, s.ctl, s.y}));
  EXPECT_EQ(tokenizer->Encode("x<ctl>y", false, false), (Ids{s.x, s.lt, s.c, s.t, s.l, s.gt, s.y}));
  EXPECT_EQ(tokenizer->Encode("<ctl><ctl>", false, true), (Ids{s.ctl, s.ctl}));
}

TEST(TokenizerTest, UserDefinedTokensAlwaysSplit) {
  SpecialToy s;
  auto tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  for (bool parse_special : {false, true}) {
    EXPECT_EQ(tokenizer->Encode("x<ud>y<ud>", false, parse_special), (Ids{s.x, s.ud, s.y, s.ud}));
  }
}

// llama.cpp splits the longest special out of the whole text first, so a shorter special that
// starts earlier loses an overlap: "abcd" with specials "bcd" and "ab" is [a, bcd], not what a
// left-to-right longest match would give ([ab, c, d]).
TEST(TokenizerTest, LongerSpecialsAreSplitOutFirst) {
  ToyVocab toy;
  const int32_t a = toy.Add("a");
  toy.Add("b");
  const int32_t c = toy.Add("c");
  const int32_t d = toy.Add("d");
  const int32_t ab = toy.Add("ab", 0, TokenType::kUserDefined);
  const int32_t bcd = toy.Add("bcd", 0, TokenType::kUserDefined);
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("abcd", false, false), (Ids{a, bcd}));
  EXPECT_EQ(tokenizer->Encode("ababcd", false, false), (Ids{ab, a, bcd}));
  EXPECT_EQ(tokenizer->Encode("abcdcd", false, false), (Ids{a, bcd, c, d}));
}

// llama.cpp's partition, literally: every special, longest first (ties by id), is split out of
// every remaining raw fragment, leftmost first.
std::vector<std::pair<std::string, int32_t>> ReferencePartition(const Vocab& vocab,
                                                                const std::string& text,
                                                                bool parse_special) {
  std::vector<int32_t> specials;
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const TokenType type = vocab.types[id];
    if (type == TokenType::kUserDefined || (parse_special && type == TokenType::kControl)) {
      specials.push_back(static_cast<int32_t>(id));
    }
  }
  std::stable_sort(specials.begin(), specials.end(), [&](int32_t a, int32_t b) {
    return vocab.tokens[a].size() > vocab.tokens[b].size();
  });
  std::vector<std::pair<std::string, int32_t>> pieces = {{text, -1}};  // id -1: raw text
  for (int32_t id : specials) {
    const std::string& special = vocab.tokens[id];
    std::vector<std::pair<std::string, int32_t>> next;
    for (const auto& [piece, piece_id] : pieces) {
      if (piece_id >= 0) {
        next.emplace_back(piece, piece_id);
        continue;
      }
      size_t start = 0;
      for (size_t pos; (pos = piece.find(special, start)) != std::string::npos;) {
        if (pos > start) next.emplace_back(piece.substr(start, pos - start), -1);
        next.emplace_back(special, id);
        start = pos + special.size();
      }
      if (start < piece.size()) next.emplace_back(piece.substr(start), -1);
    }
    pieces = std::move(next);
  }
  return pieces;
}

// The one-pass special search against the literal algorithm, on random overlapping specials.
// Specials are 3..5 characters and the only other tokens single characters, so no merge can
// happen in raw text and each raw character is its own token.
TEST(TokenizerTest, SpecialSearchMatchesSequentialPartition) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab<";
  const auto random_text = [&](size_t num_chars) {
    std::string text;
    for (size_t i = 0; i < num_chars; ++i) text += alphabet[rng() % alphabet.size()];
    return text;
  };
  for (int round = 0; round < 50; ++round) {
    ToyVocab toy;
    for (char ch : alphabet) toy.Add(std::string(1, ch));
    for (int i = 0; i < 8; ++i) {
      std::string text = random_text(3 + rng() % 3);
      if (std::find(toy.vocab.tokens.begin(), toy.vocab.tokens.end(), text) !=
          toy.vocab.tokens.end()) {
        continue;
      }
      toy.Add(std::move(text), 0, rng() % 2 ? TokenType::kControl : TokenType::kUserDefined);
    }
    auto tokenizer = toy.Build();
    ASSERT_NE(tokenizer, nullptr);
    for (int i = 0; i < 100; ++i) {
      const std::string text = random_text(rng() % 40);
      for (bool parse_special : {false, true}) {
        Ids expected;
        for (const auto& [piece, id] : ReferencePartition(toy.vocab, text, parse_special)) {
          if (id >= 0) {
            expected.push_back(id);
          } else {
            for (char ch : piece) expected.push_back(static_cast<int32_t>(alphabet.find(ch)));
          }
        }
        ASSERT_EQ(tokenizer->Encode(text, false, parse_special), expected)
            << "text '" << text << "' parse_special " << parse_special;
      }
    }
  }
}

// llama.cpp forces known end markers to CONTROL: Gemma 3's user-defined "</s>" therefore is
// not split out without parse_special and renders only with render_special.
TEST(TokenizerTest, EndMarkersBecomeControlAndEog) {
  SpecialToy s;
  const int32_t end_s = s.toy.Add("</s>", 0, TokenType::kUserDefined);
  const int32_t end_of_turn = s.toy.Add("<end_of_turn>", 0, TokenType::kNormal);
  const int32_t slash = s.toy.Add("/");
  const int32_t letter_s = s.toy.Add("s");
  auto tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Type(end_s), TokenType::kControl);
  EXPECT_EQ(tokenizer->Type(end_of_turn), TokenType::kControl);
  EXPECT_EQ(tokenizer->eog_ids(), (Ids{s.eos, end_s, end_of_turn}));
  EXPECT_TRUE(tokenizer->IsEog(end_of_turn));
  EXPECT_FALSE(tokenizer->IsEog(s.bos));
  EXPECT_EQ(tokenizer->Encode("</s>", false, true), Ids{end_s});
  EXPECT_EQ(tokenizer->Encode("</s>", false, false), (Ids{s.lt, slash, letter_s, s.gt}));
  EXPECT_EQ(tokenizer->TokenToPiece(end_s, false), "");
  EXPECT_EQ(tokenizer->TokenToPiece(end_s, true), "</s>");
}

TEST(TokenizerTest, AddSpecialAddsBosAndEosAsConfigured) {
  SpecialToy s;
  s.toy.vocab.add_bos = true;
  auto tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("x", true, false), (Ids{s.bos, s.x}));
  EXPECT_EQ(tokenizer->Encode("", true, false), Ids{s.bos});
  EXPECT_EQ(tokenizer->Encode("x", false, false), Ids{s.x});
  EXPECT_EQ(tokenizer->Encode("", false, false), Ids{});

  s.toy.vocab.add_eos = true;
  tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("x", true, false), (Ids{s.bos, s.x, s.eos}));
}

// Not Gemma (whose files say false), but part of llama.cpp's SPM: a space before the first raw
// fragment and after each special token, removed again by Decode.
TEST(TokenizerTest, SpacePrefixWhenConfigured) {
  SpecialToy s;
  const int32_t space_x = s.toy.Add("\xE2\x96\x81x", -1);
  s.toy.Add("\xE2\x96\x81");
  s.toy.vocab.add_space_prefix = true;
  auto tokenizer = s.toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  const Ids ids = tokenizer->Encode("x<ud>x", false, false);
  EXPECT_EQ(ids, (Ids{space_x, s.ud, space_x}));
  EXPECT_EQ(tokenizer->Decode(ids, false), "x<ud> x");
}

TEST(TokenizerTest, PiecesByTokenType) {
  ToyVocab toy;
  const int32_t control = toy.Add("<ctl>", 0, TokenType::kControl);
  const int32_t unknown = toy.Add("<unk>", 0, TokenType::kUnknown);
  const int32_t user = toy.Add("\xE2\x96\x81ud", 0, TokenType::kUserDefined);
  const int32_t normal = toy.Add("\xE2\x96\x81the\xE2\x96\x81", 0, TokenType::kNormal);
  const int32_t unused = toy.Add("<unused0>", 0, TokenType::kUnused);
  const int32_t byte0 = toy.AddByteTokens();
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->TokenToPiece(control, false), "");
  EXPECT_EQ(tokenizer->TokenToPiece(control, true), "<ctl>");
  EXPECT_EQ(tokenizer->TokenToPiece(unknown, false), "");
  EXPECT_EQ(tokenizer->TokenToPiece(unknown, true), "<unk>");
  EXPECT_EQ(tokenizer->TokenToPiece(user, false), "\xE2\x96\x81ud");  // verbatim
  EXPECT_EQ(tokenizer->TokenToPiece(normal, false), " the ");
  EXPECT_EQ(tokenizer->TokenToPiece(unused, true), "");
  EXPECT_EQ(tokenizer->TokenToPiece(byte0 + 0x41, false), "A");
  EXPECT_EQ(tokenizer->TokenToPiece(byte0, false), std::string(1, '\0'));
  EXPECT_EQ(tokenizer->TokenToPiece(-1, true), "");
  EXPECT_EQ(tokenizer->TokenToPiece(tokenizer->num_vocab(), true), "");
  EXPECT_EQ(tokenizer->Decode(Ids{control, normal, byte0 + 0xE4, byte0 + 0xB8, byte0 + 0xAD}, true),
            "<ctl> the \xE4\xB8\xAD");
  EXPECT_EQ(tokenizer->Decode(Ids{control, normal}, false), " the ");
}

TEST(TokenizerTest, LoadRejectsInconsistentVocabularies) {
  EXPECT_FALSE(Tokenizer::FromVocab(Vocab{}).ok());

  ToyVocab toy;
  toy.Add("a");
  toy.Add("b");
  Vocab short_scores = toy.vocab;
  short_scores.scores.pop_back();
  EXPECT_FALSE(Tokenizer::FromVocab(short_scores).ok());
  Vocab short_types = toy.vocab;
  short_types.types.pop_back();
  EXPECT_FALSE(Tokenizer::FromVocab(short_types).ok());
  Vocab no_bos = toy.vocab;
  no_bos.add_bos = true;
  no_bos.bos_id = 2;  // out of range
  EXPECT_FALSE(Tokenizer::FromVocab(no_bos).ok());
  Vocab no_eos = toy.vocab;
  no_eos.add_eos = true;
  EXPECT_FALSE(Tokenizer::FromVocab(no_eos).ok());
  Vocab huge_text = toy.vocab;
  huge_text.tokens[1].assign(64 * 1024 + 1, 'x');
  EXPECT_FALSE(Tokenizer::FromVocab(huge_text).ok());

  // Empty arrays mean "all 0" and "all normal".
  Vocab bare;
  bare.tokens = {"a", "b"};
  auto tokenizer = Tokenizer::FromVocab(bare);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
  EXPECT_EQ((*tokenizer)->Type(1), TokenType::kNormal);
}

TEST(TokenizerTest, LoadNormalisesDoubtfulEntries) {
  ToyVocab toy;
  const int32_t a = toy.Add("a");
  const int32_t empty = toy.Add("", 0, TokenType::kControl);
  toy.Add("a");  // a duplicate: the first id keeps the text
  toy.Add("b", std::nanf(""));
  toy.vocab.eos_id = 99;
  toy.vocab.unk_id = -5;
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->TokenText(empty), "[EMPTY_1]");
  EXPECT_EQ(tokenizer->FindToken("a"), a);
  EXPECT_EQ(tokenizer->Encode("aa", false, false), (Ids{a, a}));
  EXPECT_EQ(tokenizer->eos_id(), -1);
  EXPECT_TRUE(tokenizer->eog_ids().empty());
  // Without byte tokens or UNK, an unknown character has no token at all.
  EXPECT_EQ(tokenizer->Encode("a?", false, false), Ids{a});
}

// Byte tokens must be exactly "<0x" + two uppercase hex digits + ">" (llama.cpp#25969); others
// are kept as normal text and never used for byte fallback.
TEST(TokenizerTest, MalformedByteTokensAreNormalText) {
  ToyVocab toy;
  const int32_t unk = toy.Add("<unk>", 0, TokenType::kUnknown);
  std::vector<int32_t> malformed;
  for (const char* text : {"<0x-1>", "<0xZZ>", "<0xab>", "<0x4>", "<0x411>", "0x41"}) {
    malformed.push_back(toy.Add(text, 0, TokenType::kByte));
  }
  toy.vocab.unk_id = unk;
  auto tokenizer = toy.Build();
  ASSERT_NE(tokenizer, nullptr);
  for (int32_t id : malformed) {
    EXPECT_EQ(tokenizer->Type(id), TokenType::kNormal) << tokenizer->TokenText(id);
    EXPECT_EQ(tokenizer->TokenToPiece(id, false), tokenizer->TokenText(id));
  }
  EXPECT_EQ(tokenizer->Encode("\xAB", false, false), Ids{unk});
}

TEST(TokenizerTest, ModelsResolveAsLlamaCppReadsThem) {
  const auto resolve = [](std::string_view model, std::string_view pre, bool has_merges) {
    const StatusOr<TokenizerModel> resolved = ResolveTokenizerModel(model, pre, has_merges);
    EXPECT_TRUE(resolved.ok()) << resolved.status().message();
    return resolved.ok() ? resolved.value() : TokenizerModel::kSentencePiece;
  };
  EXPECT_EQ(resolve("llama", "", false), TokenizerModel::kSentencePiece);
  EXPECT_EQ(resolve("llama", "default", true), TokenizerModel::kSentencePiece);
  EXPECT_EQ(resolve("gemma4", "", true), TokenizerModel::kGemma4Bpe);
  EXPECT_EQ(resolve("gemma4", "gemma4", false), TokenizerModel::kGemma4Bpe);  // FromGguf errs
  // Gemma 4 labelled "llama" (some converters): BPE when the merges are there.
  EXPECT_EQ(resolve("llama", "gemma4", true), TokenizerModel::kGemma4Bpe);
  EXPECT_EQ(resolve("llama", "gemma4", false), TokenizerModel::kSentencePiece);
  const StatusOr<TokenizerModel> gpt2 = ResolveTokenizerModel("gpt2", "", true);
  ASSERT_FALSE(gpt2.ok());
  EXPECT_NE(gpt2.status().message().find("\"gpt2\""), std::string::npos);
}

// ---- Gemma 4's BPE on toy vocabularies ----

// A toy Gemma 4 vocabulary: single characters and byte tokens, merges added in rank order.
struct BpeToy {
  ToyVocab toy;
  int32_t byte0 = -1;

  BpeToy() { toy.vocab.model = TokenizerModel::kGemma4Bpe; }
  int32_t Add(std::string text, TokenType type = TokenType::kNormal) {
    return toy.Add(std::move(text), 0.0f, type);
  }
  void Merge(std::string_view left, std::string_view right) {
    toy.vocab.merges.push_back(std::string(left) + " " + std::string(right));
  }
  void AddByteTokens() { byte0 = toy.AddByteTokens(); }
  std::unique_ptr<Tokenizer> Build() { return toy.Build(); }
};

const std::string kSpace = "\xE2\x96\x81";  // U+2581
const std::string kReplacementText = "\xEF\xBF\xBD";

// Merges apply in list order whatever the scores say, and a merge whose result is a token
// removes the chance of the other overlapping one.
TEST(BpeTokenizerTest, MergesApplyByRankNotScore) {
  BpeToy bpe;
  const int32_t a = bpe.toy.Add("a", -1.0f);
  const int32_t b = bpe.toy.Add("b", -1.0f);
  bpe.toy.Add("c", -1.0f);
  const int32_t ab = bpe.toy.Add("ab", 100.0f);
  const int32_t bc = bpe.toy.Add("bc", -100.0f);
  bpe.Merge("b", "c");
  bpe.Merge("a", "b");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->model(), TokenizerModel::kGemma4Bpe);
  EXPECT_EQ(tokenizer->Encode("abc", false, false), (Ids{a, bc}));
  EXPECT_EQ(tokenizer->Encode("abab", false, false), (Ids{ab, ab}));
  EXPECT_EQ(tokenizer->Encode("ba", false, false), (Ids{b, a}));
}

TEST(BpeTokenizerTest, EqualRanksMergeLeftmostFirst) {
  BpeToy bpe;
  const int32_t a = bpe.Add("a");
  const int32_t aa = bpe.Add("aa");
  const int32_t aaaa = bpe.Add("aaaa");
  bpe.Merge("a", "a");
  bpe.Merge("aa", "aa");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(tokenizer->Encode("aaaaa", false, false), (Ids{aaaa, a}));
  EXPECT_EQ(tokenizer->Encode("aaaaaaa", false, false), (Ids{aaaa, aa, a}));
}

// A merge is applied even when its result is not a token; that symbol then falls back to the
// byte tokens of all its bytes (llama.cpp does not go back to the parts).
TEST(BpeTokenizerTest, UntokenisedMergeResultFallsBackToBytes) {
  BpeToy bpe;
  const int32_t x = bpe.Add("x");
  bpe.Add("y");
  bpe.AddByteTokens();
  bpe.Merge("x", "y");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("xyx", false, false), (Ids{bpe.byte0 + 'x', bpe.byte0 + 'y', x}));
  // A character missing from the vocabulary: its UTF-8 bytes; no byte token: dropped.
  EXPECT_EQ(tokenizer->Encode("\xE4\xB8\xAD", false, false),
            (Ids{bpe.byte0 + 0xE4, bpe.byte0 + 0xB8, bpe.byte0 + 0xAD}));
}

TEST(BpeTokenizerTest, ByteFallbackUsesOnlyByteTokens) {
  BpeToy bpe;
  const int32_t unk = bpe.Add("<unk>", TokenType::kUnknown);
  const int32_t a = bpe.Add("a");
  const int32_t byte_q = bpe.Add("<0x3F>", TokenType::kByte);
  bpe.toy.vocab.unk_id = unk;
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  // '?' has its byte token; 'b' has neither a token nor a byte token and vanishes (no UNK).
  EXPECT_EQ(tokenizer->Encode("a?ba", false, false), (Ids{a, byte_q, a}));
}

// Spaces become U+2581 and merge like any character; no space is ever added in front.
TEST(BpeTokenizerTest, SpacesAreEscapedWithoutPrefix) {
  BpeToy bpe;
  const int32_t space = bpe.Add(kSpace);
  const int32_t a = bpe.Add("a");
  const int32_t space_a = bpe.Add(kSpace + "a");
  const int32_t two_spaces = bpe.Add(kSpace + kSpace);
  const int32_t tab = bpe.Add("\t");
  bpe.Merge(kSpace, "a");
  bpe.Merge(kSpace, kSpace);
  bpe.toy.vocab.add_space_prefix = true;  // ignored by the BPE
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  const Ids ids = tokenizer->Encode("a   a\t ", false, false);
  EXPECT_EQ(ids, (Ids{a, two_spaces, space_a, tab, space}));
  EXPECT_EQ(tokenizer->Encode(" a", false, false), Ids{space_a});
  // llama.cpp's detokenizer still strips one leading space when the file asks for a prefix.
  EXPECT_EQ(tokenizer->Decode(Ids{space_a, tab, space}, false), "a\t ");
  bpe.toy.vocab.add_space_prefix = false;  // as Gemma 4's files have it
  tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Decode(Ids{space_a, tab, space}, false), " a\t ");
}

// Words are runs of newlines and runs of anything else: nothing merges across a newline. A
// run of newlines that is a token stays whole; a longer one merges like other text.
TEST(BpeTokenizerTest, NewlineRunsAreWordsOfTheirOwn) {
  BpeToy bpe;
  const int32_t a = bpe.Add("a");
  const int32_t nl = bpe.Add("\n");
  const int32_t nl2 = bpe.Add("\n\n");
  const int32_t nl3 = bpe.Add("\n\n\n");
  bpe.Add("a\n");
  bpe.Merge("a", "\n");
  bpe.Merge("\n", "\n");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("a\na", false, false), (Ids{a, nl, a}));
  EXPECT_EQ(tokenizer->Encode("\n\n\n", false, false), Ids{nl3});  // no merge reaches it
  EXPECT_EQ(tokenizer->Encode("\n\n\n\n\n", false, false), (Ids{nl2, nl2, nl}));
}

// Ill-formed UTF-8 reads as llama.cpp decodes it: one U+FFFD per undecodable byte, overlong
// forms as their code point, surrogates passed through.
TEST(BpeTokenizerTest, InvalidUtf8ReadsAsLlamaCppDecodesIt) {
  BpeToy bpe;
  const int32_t a = bpe.Add("a");
  const int32_t slash = bpe.Add("/");
  const int32_t nl = bpe.Add("\n");
  const int32_t replacement = bpe.Add(kReplacementText);
  bpe.AddByteTokens();
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  const auto encode = [&](std::string_view text) { return tokenizer->Encode(text, false, false); };
  EXPECT_EQ(encode("\x80"), Ids{replacement});
  EXPECT_EQ(encode(std::string("a\xE4\xB8") + 'a'), (Ids{a, replacement, replacement, a}));
  EXPECT_EQ(encode("\xE4\xB8"), (Ids{replacement, replacement}));  // truncated at the end
  EXPECT_EQ(encode("\xFF\xF8"), (Ids{replacement, replacement}));
  EXPECT_EQ(encode("\xC0\xAF"), Ids{slash});  // overlong '/'
  // An overlong '\n' is a newline and splits the word.
  EXPECT_EQ(encode(std::string("a\xC0\x8A") + 'a'), (Ids{a, nl, a}));
  // A surrogate passes through, as bytes here.
  EXPECT_EQ(encode("\xED\xA0\x80"), (Ids{bpe.byte0 + 0xED, bpe.byte0 + 0xA0, bpe.byte0 + 0x80}));
  // Above U+10FFFF (llama.cpp throws out of its tokenizer): each byte is undecodable.
  EXPECT_EQ(encode("\xF4\x90\x80\x80"), Ids(4, replacement));
}

TEST(BpeTokenizerTest, ValidateLikeLlamaCppOutput) {
  const auto validate = [](std::string_view text, bool escape_spaces) {
    std::string out;
    ValidateLikeLlamaCpp(text, escape_spaces, out);
    return out;
  };
  EXPECT_EQ(validate("a b", true), "a" + kSpace + "b");
  EXPECT_EQ(validate("a b", false), "a b");
  EXPECT_EQ(validate("\xC0\xA0", true), " ");  // decoded after escaping: stays a space
  EXPECT_EQ(validate("\xE0\x80\x80", false), std::string(1, '\0'));
  EXPECT_EQ(validate("\xF0\x9F\x98\x80 \xE4", true),
            "\xF0\x9F\x98\x80" + kSpace + kReplacementText);
  EXPECT_EQ(validate("\xE4 ", true), kReplacementText + kSpace);
  const std::string worst(100, '\x80');
  EXPECT_EQ(validate(worst, false).size(), 3 * worst.size());
}

// Specials split out before the BPE sees the text, as for SentencePiece.
TEST(BpeTokenizerTest, SpecialTokensSplitFirst) {
  BpeToy bpe;
  const int32_t bos = bpe.Add("<bos>", TokenType::kControl);
  const int32_t turn = bpe.Add("<|turn>", TokenType::kControl);
  const int32_t channel = bpe.Add("<|channel>", TokenType::kUserDefined);
  const int32_t x = bpe.Add("x");
  bpe.AddByteTokens();
  bpe.toy.vocab.bos_id = bos;
  bpe.toy.vocab.add_bos = true;
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("<|turn>x<|channel>", true, true), (Ids{bos, turn, x, channel}));
  Ids expected = {bos};
  for (char c : std::string("<|turn>")) expected.push_back(bpe.byte0 + static_cast<uint8_t>(c));
  expected.push_back(x);
  expected.push_back(channel);
  EXPECT_EQ(tokenizer->Encode("<|turn>x<|channel>", true, false), expected);
  EXPECT_EQ(tokenizer->Decode(Ids{bos, turn, x, channel}, true), "<bos><|turn>x<|channel>");
  EXPECT_EQ(tokenizer->Decode(Ids{bos, turn, x, channel}, false), "x<|channel>");
}

// Gemma 4's end markers (<eos>, <turn|>, <|tool_response>) end generation, as do the EOT/EOM
// ids a file names; its "</s>" is plain text once "<|tool_response>" is present.
TEST(BpeTokenizerTest, Gemma4EndOfGeneration) {
  BpeToy bpe;
  const int32_t eos = bpe.Add("<eos>", TokenType::kControl);
  const int32_t end_s = bpe.Add("</s>");
  const int32_t tool_response = bpe.Add("<|tool_response>", TokenType::kUserDefined);
  const int32_t turn_end = bpe.Add("<turn|>", TokenType::kControl);
  const int32_t eot = bpe.Add("<my_eot>", TokenType::kControl);
  const int32_t x = bpe.Add("x");
  bpe.toy.vocab.eos_id = eos;
  bpe.toy.vocab.eot_id = eot;
  bpe.toy.vocab.eom_id = 1000;  // out of range: none
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->eog_ids(), (Ids{eos, tool_response, turn_end, eot}));
  EXPECT_EQ(tokenizer->Type(end_s), TokenType::kNormal);
  EXPECT_EQ(tokenizer->TokenToPiece(end_s, false), "</s>");
  // A user-defined end marker becomes control: split out and rendered only when asked.
  EXPECT_EQ(tokenizer->Type(tool_response), TokenType::kControl);
  EXPECT_EQ(tokenizer->Encode("x<|tool_response>", false, true), (Ids{x, tool_response}));
  EXPECT_EQ(tokenizer->TokenToPiece(tool_response, false), "");

  // Without <|tool_response>, "</s>" keeps llama.cpp's other rule: a control end marker.
  BpeToy plain;
  plain.Add("x");
  const int32_t plain_end_s = plain.Add("</s>");
  auto plain_tokenizer = plain.Build();
  ASSERT_NE(plain_tokenizer, nullptr);
  EXPECT_EQ(plain_tokenizer->eog_ids(), Ids{plain_end_s});
  EXPECT_EQ(plain_tokenizer->Type(plain_end_s), TokenType::kControl);
}

TEST(BpeTokenizerTest, MergeListQuirks) {
  BpeToy bpe;
  const int32_t a = bpe.Add("a");
  const int32_t b = bpe.Add("b");
  const int32_t ab = bpe.Add("ab");
  const int32_t ba = bpe.Add("ba");
  bpe.Merge("b", "a");
  bpe.toy.vocab.merges.push_back("ab");  // no space: never applies
  bpe.toy.vocab.merges.push_back("a ");  // empty right side: never applies
  bpe.Merge("a", "b");
  bpe.Merge("b", "a");  // listed again, later: the first rank stands
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("ab", false, false), Ids{ab});
  EXPECT_EQ(tokenizer->Encode("aba", false, false), (Ids{a, ba}));
  EXPECT_EQ(tokenizer->Encode("bb", false, false), (Ids{b, b}));

  BpeToy too_long;
  too_long.Add("a");
  too_long.toy.vocab.merges.push_back("a " + std::string(64 * 1024, 'a'));
  EXPECT_FALSE(Tokenizer::FromVocab(too_long.toy.vocab).ok());
}

// Merge parts and results need not be tokens: "xy" is no token, yet "xy z" applies to it.
TEST(BpeTokenizerTest, MergesThroughTextsThatAreNoTokens) {
  BpeToy bpe;
  bpe.Add("x");
  bpe.Add("y");
  const int32_t z = bpe.Add("z");
  const int32_t xyz = bpe.Add("xyz");
  bpe.AddByteTokens();
  bpe.Merge("x", "y");
  bpe.Merge("xy", "z");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Encode("xyz", false, false), Ids{xyz});
  EXPECT_EQ(tokenizer->Encode("xyzz", false, false), (Ids{xyz, z}));
  EXPECT_EQ(tokenizer->Encode("xy", false, false), (Ids{bpe.byte0 + 'x', bpe.byte0 + 'y'}));
}

// BPE on long single-character and alternating runs must stay O(n log n).
TEST(BpeTokenizerTest, LongRunsStayFast) {
  BpeToy bpe;
  const int32_t a = bpe.Add("a");
  bpe.Add("b");
  std::string text = "a";
  for (int i = 0; i < 5; ++i) {
    bpe.Merge(text, text);
    text += text;
    bpe.Add(text);
  }
  bpe.Merge("a", "b");
  bpe.Add("ab");
  auto tokenizer = bpe.Build();
  ASSERT_NE(tokenizer, nullptr);
  const std::string run(1 << 20, 'a');
  const Ids ids = tokenizer->Encode(run + "a", false, false);
  ASSERT_EQ(ids.size(), (1u << 20) / 32 + 1);
  EXPECT_EQ(ids.back(), a);
  EXPECT_EQ(tokenizer->Decode(ids, false), run + "a");
  std::string alternating;
  for (int i = 0; i < (1 << 19); ++i) alternating += "ab";
  EXPECT_EQ(tokenizer->Encode(alternating, false, false).size(), 1u << 19);
}

// ---- Incremental detokenizer ----

struct ByteToy {
  ToyVocab toy;
  int32_t byte0, control, hello;
  std::unique_ptr<Tokenizer> tokenizer;

  ByteToy() {
    control = toy.Add("<ctl>", 0, TokenType::kControl);
    hello = toy.Add("\xE2\x96\x81hello");
    byte0 = toy.AddByteTokens();
    tokenizer = toy.Build();
  }
  // Pushes the byte tokens of `bytes`; returns what each Push gave, then Flush's result.
  std::vector<std::string> Stream(const std::string& bytes) const {
    IncrementalDetokenizer detok(*tokenizer, false);
    std::vector<std::string> out;
    for (char b : bytes) out.push_back(detok.Push(byte0 + static_cast<uint8_t>(b)));
    out.push_back(detok.Flush());
    return out;
  }
};

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(DetokenizerTest, HoldsBytesUntilTheCharacterCompletes) {
  ByteToy t;
  ASSERT_NE(t.tokenizer, nullptr);
  EXPECT_EQ(t.Stream("\xE4\xB8\xAD"), (std::vector<std::string>{"", "", "\xE4\xB8\xAD", ""}));
  EXPECT_EQ(t.Stream("a\xF0\x9F\x98\x80"
                     "b"),
            (std::vector<std::string>{"a", "", "", "", "\xF0\x9F\x98\x80", "b", ""}));
}

TEST(DetokenizerTest, InvalidBytesBecomeReplacementCharacters) {
  ByteToy t;
  ASSERT_NE(t.tokenizer, nullptr);
  // A stray continuation byte and a byte that never occurs in UTF-8.
  EXPECT_EQ(t.Stream("\x80\xFF"), (std::vector<std::string>{kReplacement, kReplacement, ""}));
  // A lead byte followed by a non-continuation byte: the lead is replaced, the byte kept.
  EXPECT_EQ(t.Stream("\xE4"
                     "a"),
            (std::vector<std::string>{"", kReplacement + "a", ""}));
  // A 3-byte lead with one good continuation, then a new character.
  EXPECT_EQ(t.Stream("\xE4\xB8\xE4\xB8\xAD"),
            (std::vector<std::string>{"", "", kReplacement, "", "\xE4\xB8\xAD", ""}));
  // Overlong and surrogate encodings are not characters.
  EXPECT_EQ(t.Stream("\xC0\xAF"), (std::vector<std::string>{kReplacement, kReplacement, ""}));
  EXPECT_EQ(t.Stream("\xED\xA0\x80"),
            (std::vector<std::string>{"", kReplacement + kReplacement, kReplacement, ""}));
  // An incomplete tail at the end of the stream.
  EXPECT_EQ(t.Stream("a\xF0\x9F\x98"), (std::vector<std::string>{"a", "", "", "", kReplacement}));
}

TEST(DetokenizerTest, RendersSpecialTokensOnlyWhenAsked) {
  ByteToy t;
  ASSERT_NE(t.tokenizer, nullptr);
  IncrementalDetokenizer plain(*t.tokenizer, false);
  EXPECT_EQ(plain.Push(t.control), "");
  EXPECT_EQ(plain.Push(t.hello), " hello");
  IncrementalDetokenizer special(*t.tokenizer, true);
  EXPECT_EQ(special.Push(t.control), "<ctl>");
  EXPECT_EQ(special.Push(t.byte0 + 0xE4), "");
  // A rendered control token breaks the character: its lead byte is replaced at once.
  EXPECT_EQ(special.Push(t.control), kReplacement + "<ctl>");
  EXPECT_EQ(special.Flush(), "");
  // An unrendered one adds no bytes, so the character can still complete.
  EXPECT_EQ(plain.Push(t.byte0 + 0xE4), "");
  EXPECT_EQ(plain.Push(t.control), "");
  EXPECT_EQ(plain.Push(t.byte0 + 0xB8), "");
  EXPECT_EQ(plain.Push(t.byte0 + 0xAD), "\xE4\xB8\xAD");
}

// ---- The default model, against llama.cpp (llama-tokenize / llama-cpp-python 0.3.36) ----

std::string DefaultModelPath() {
  if (const char* env = std::getenv("GS_MODEL_PATH"); env != nullptr && *env != '\0') return env;
  std::ifstream in(std::string(GS_SOURCE_DIR) + "/.model-path");
  std::string path;
  std::getline(in, path);
  while (!path.empty() && (path.back() == ' ' || path.back() == '\r')) path.pop_back();
  return path;
}

class Gemma3TokenizerTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = DefaultModelPath();
    if (path.empty() || !std::ifstream(path).good()) return;
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto tokenizer = Tokenizer::FromGguf(**file);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
    tokenizer_ = std::move(tokenizer).value();
  }
  void SetUp() override {
    if (tokenizer_ == nullptr) GTEST_SKIP() << "default model not present";
  }

  struct Case {
    std::string text;
    Ids ids;          // add_special, parse_special = false
    Ids ids_special;  // add_special, parse_special = true
  };
  static std::vector<Case> Cases() {
    const Ids hello = {2, 9259, 1902};
    const Ids cjk = {2,      144626, 236900, 12811,  236743, 243767, 237243,
                     243767, 237243, 244814, 236743, 247994, 245707};
    const Ids code = {2,    2063, 517,    236769, 236781, 1473, 107,    255968,
                      2060, 138,  236781, 138,    236829, 138,  236778, 109};
    return {
        {"Hello world", hello, hello},
        {"<start_of_turn>user\nHi there!<end_of_turn>\n<start_of_turn>model\n",
         {2,      236820, 3041,   236779, 1340,   236779, 887,    236813, 2364,   107,
          10979,  993,    200322, 643,    236779, 1340,   236779, 887,    236813, 107,
          236820, 3041,   236779, 1340,   236779, 887,    236813, 4368,   107},
         {2, 105, 2364, 107, 10979, 993, 236888, 106, 107, 105, 4368, 107}},
        {"\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C "  // 你好，世界
         "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "  // ZWJ family
         "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5",                                          // flag JP
         cjk, cjk},
        {"def f(x):\n\treturn  x  *  2\n\n\n", code, code},
        {"a </s> b <s> <td>c</td>",
         {2, 236746, 1454, 236751, 236813, 518, 236743, 203, 236743, 175, 236755, 183},
         {2, 236746, 236743, 212, 518, 236743, 203, 236743, 175, 236755, 183}},
    };
  }

  static inline std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(Gemma3TokenizerTest, MetadataAsLlamaCppReadsIt) {
  EXPECT_EQ(tokenizer_->num_vocab(), 262144);
  EXPECT_EQ(tokenizer_->bos_id(), 2);
  EXPECT_EQ(tokenizer_->eos_id(), 1);
  EXPECT_TRUE(tokenizer_->add_bos());
  EXPECT_EQ(tokenizer_->eog_ids(), (Ids{1, 106, 212}));  // <eos>, <end_of_turn>, </s>
  EXPECT_EQ(tokenizer_->FindToken("<start_of_turn>"), 105);
  EXPECT_EQ(tokenizer_->Type(107), TokenType::kUserDefined);  // "\n"
}

TEST_F(Gemma3TokenizerTest, MatchesLlamaCpp) {
  for (const Case& c : Cases()) {
    EXPECT_EQ(tokenizer_->Encode(c.text, true, false), c.ids) << c.text;
    EXPECT_EQ(tokenizer_->Encode(c.text, true, true), c.ids_special) << c.text;
  }
}

TEST_F(Gemma3TokenizerTest, DecodeAndStreamRoundTrip) {
  for (const Case& c : Cases()) {
    const Ids ids = tokenizer_->Encode(c.text, false, true);
    EXPECT_EQ(tokenizer_->Decode(ids, true), c.text);
    IncrementalDetokenizer detok(*tokenizer_, true);
    std::string streamed;
    for (int32_t id : ids) streamed += detok.Push(id);
    streamed += detok.Flush();
    EXPECT_EQ(streamed, c.text);
  }
}

// 100 KB of whitespace runs is the special search's worst case on this vocabulary (every
// position starts ~30 user-defined tokens); it must stay linear (~40 ms on one core).
TEST_F(Gemma3TokenizerTest, LongWhitespaceRuns) {
  const std::string text = std::string(100000, ' ') + std::string(100000, '\n');
  const Ids ids = tokenizer_->Encode(text, false, true);
  EXPECT_EQ(ids.size(), 2u * (100000 / 31 + 1));
  EXPECT_EQ(tokenizer_->Decode(ids, true), text);
}

}  // namespace
}  // namespace gs
