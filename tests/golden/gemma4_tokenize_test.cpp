// Gemma 4's tokenizer against llama.cpp's goldens (make_gemma4_tokenize_goldens.py beside this
// file) on llama.cpp's Gemma 4 test vocabulary: identical ids for every string of the corpus
// with and without parsing special tokens, identical decoded text with special tokens rendered
// and not, every token's piece identical, and the same end-of-generation ids.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/unit/gemma4_vocab.h"

namespace gs {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::string FromHex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

// A bytes field of the goldens: `name` when it is valid UTF-8, else `name`_hex.
std::string Bytes(const json& entry, const std::string& name) {
  if (entry.contains(name)) return entry[name].get<std::string>();
  return FromHex(entry.at(name + "_hex").get<std::string>());
}

// The goldens' vocabulary hash: FNV-1a 64 over each piece as a 4-byte little-endian length
// followed by its bytes.
std::string PiecesHash(const Tokenizer& tokenizer, bool render_special) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto mix = [&hash](uint8_t byte) { hash = (hash ^ byte) * 0x100000001b3ull; };
  for (int32_t id = 0; id < tokenizer.num_vocab(); ++id) {
    const std::string piece = tokenizer.TokenToPiece(id, render_special);
    const uint32_t num_bytes = static_cast<uint32_t>(piece.size());
    for (int shift = 0; shift < 32; shift += 8) mix(static_cast<uint8_t>(num_bytes >> shift));
    for (char c : piece) mix(static_cast<uint8_t>(c));
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

class Gemma4TokenizeGoldenTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(std::string(GS_GOLDEN_DIR) + "/gemma4_tokenize.json");
    ASSERT_TRUE(in.good()) << "missing " << GS_GOLDEN_DIR << "/gemma4_tokenize.json";
    golden_ = new json(json::parse(in));
    if (!std::ifstream(Gemma4VocabPath()).good()) return;
    auto file = GgufFile::Open(Gemma4VocabPath());
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto tokenizer = Tokenizer::FromGguf(**file);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().message();
    tokenizer_ = std::move(tokenizer).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete golden_;
  }
  void SetUp() override {
    if (tokenizer_ != nullptr) return;
    if (Gemma4VocabRequired()) FAIL() << Gemma4VocabMissingMessage();
    GTEST_SKIP() << Gemma4VocabMissingMessage();
  }

  static inline Tokenizer* tokenizer_ = nullptr;
  static inline json* golden_ = nullptr;
};

TEST_F(Gemma4TokenizeGoldenTest, IdsMatchLlamaCpp) {
  const json& strings = golden_->at("strings");
  ASSERT_GE(strings.size(), 600u);
  int num_checked = 0;
  int num_failed = 0;
  for (const json& entry : strings) {
    const std::string text = Bytes(entry, "text");
    for (const bool parse_special : {false, true}) {
      const Ids want = entry.at(parse_special ? "ids_special" : "ids");
      const Ids got = tokenizer_->Encode(text, /*add_special=*/true, parse_special);
      ++num_checked;
      if (got != want) {
        ++num_failed;
        ADD_FAILURE() << "parse_special=" << parse_special << " text=" << json(entry).dump()
                      << "\n  want " << json(want).dump() << "\n  got  " << json(got).dump();
      }
    }
  }
  EXPECT_EQ(num_failed, 0) << "of " << num_checked;
}

TEST_F(Gemma4TokenizeGoldenTest, DecodeMatchesLlamaCppPieces) {
  for (const json& entry : golden_->at("strings")) {
    const Ids ids = entry.at("ids_special");
    EXPECT_EQ(tokenizer_->Decode(ids, true), Bytes(entry, "pieces_special")) << entry.dump();
    EXPECT_EQ(tokenizer_->Decode(ids, false), Bytes(entry, "pieces_plain")) << entry.dump();
  }
}

TEST_F(Gemma4TokenizeGoldenTest, EveryPieceMatchesLlamaCpp) {
  ASSERT_EQ(tokenizer_->num_vocab(), golden_->at("n_vocab").get<int32_t>());
  const json& hashes = golden_->at("pieces_fnv1a64");
  EXPECT_EQ(PiecesHash(*tokenizer_, true), hashes.at("render_special").get<std::string>());
  EXPECT_EQ(PiecesHash(*tokenizer_, false), hashes.at("plain").get<std::string>());
}

TEST_F(Gemma4TokenizeGoldenTest, EndOfGenerationMatchesLlamaCpp) {
  EXPECT_EQ(tokenizer_->eog_ids(), golden_->at("eog_ids").get<Ids>());
}

}  // namespace
}  // namespace gs
