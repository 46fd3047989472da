// The real default model against llama.cpp's goldens (make_goldens.py beside this file):
// tokenization identical for every string, greedy continuations identical for at least 95% of
// prompts, and the top-1 logit within 1e-2 of llama.cpp's at every position where both agree.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/generator.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/sampler.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {
namespace {

using nlohmann::json;

std::string ModelPath() {
  if (const char* env = std::getenv("GS_MODEL_PATH"); env != nullptr && *env) return env;
  std::ifstream in(GS_SOURCE_DIR "/.model-path");
  std::string path;
  std::getline(in, path);
  return path;
}

json ReadJson(const std::string& name) {
  std::ifstream in(std::string(GS_GOLDEN_DIR) + "/" + name);
  return json::parse(in);
}

class GoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = ModelPath();
    if (path.empty() || !std::ifstream(path)) return;
    StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
    ASSERT_TRUE(f.ok()) << f.status().message();
    file_ = std::move(f).value().release();
    StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromGguf(*file_);
    ASSERT_TRUE(t.ok()) << t.status().message();
    tokenizer_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete file_;
  }
  void SetUp() override {
    // CI installs the model; a developer without it sees a skip, never a silent pass.
    if (file_ == nullptr) {
      if (std::getenv("GS_REQUIRE_MODEL") != nullptr) FAIL() << "model not found: " << ModelPath();
      GTEST_SKIP() << "default model not installed (scripts/setup.sh)";
    }
  }

  static GgufFile* file_;
  static Tokenizer* tokenizer_;
};
GgufFile* GoldenTest::file_ = nullptr;
Tokenizer* GoldenTest::tokenizer_ = nullptr;

TEST_F(GoldenTest, TokenizationMatchesLlamaCpp) {
  const json golden = ReadJson("tokenize.json");
  int num_checked = 0, num_failed = 0;
  for (const json& entry : golden["strings"]) {
    const std::string text = entry["text"];
    for (const bool parse_special : {false, true}) {
      const std::vector<int32_t> want = entry[parse_special ? "ids_special" : "ids"];
      const std::vector<int32_t> got = tokenizer_->Encode(text, true, parse_special);
      ++num_checked;
      if (got != want) {
        ++num_failed;
        ADD_FAILURE() << "parse_special=" << parse_special << " text=" << json(text).dump()
                      << "\n  want " << json(want).dump() << "\n  got  " << json(got).dump();
      }
    }
  }
  EXPECT_GE(num_checked, 400);
  EXPECT_EQ(num_failed, 0);
}

TEST_F(GoldenTest, GreedyContinuationsMatchLlamaCpp) {
  const json golden = ReadJson("generate.json");
  CpuBackend backend(0);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*file_, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  GeneratorOptions opts;
  opts.kv_cache_bytes = int64_t{64} << 20;
  StatusOr<std::unique_ptr<Generator>> gen = Generator::Create(**model, backend, opts);
  ASSERT_TRUE(gen.ok()) << gen.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  std::vector<float> logits(num_vocab);

  int num_cases = 0, num_identical = 0;
  double max_logit_err = 0;
  for (const json& c : golden["cases"]) {
    ++num_cases;
    const std::vector<int32_t> prompt = c["prompt_ids"];
    // The prompt ids are the reference's; our own tokenization of it is checked above.
    EXPECT_EQ(tokenizer_->Encode(c["prompt"].get<std::string>(), true, true), prompt);
    const std::vector<int32_t> want = c["continuation"];
    const int32_t seq = (*gen)->AddSequence();
    ASSERT_TRUE((*gen)->Extend(seq, prompt, logits.data()).ok());
    int first_divergence = -1;
    for (size_t i = 0; i < want.size(); ++i) {
      const int32_t got = ArgMax(logits.data(), num_vocab);
      const double ref_top1 = c["top5"][i][0][1];
      const double err = std::fabs(logits[got] - ref_top1);
      if (got != want[i]) {
        first_divergence = static_cast<int>(i);
        // A near-tie between llama.cpp's top two is the expected way for a continuation to part.
        std::cerr << "prompt " << json(c["prompt"]).dump() << " diverges at token " << i
                  << ": ours " << got << " (" << logits[got] << "), llama.cpp " << want[i] << " ("
                  << ref_top1 << "), llama.cpp's second " << c["top5"][i][1][1] << "\n";
        break;
      }
      max_logit_err = std::max(max_logit_err, err);
      EXPECT_LE(err, 1e-2) << "prompt " << json(c["prompt"]).dump() << " token " << i;
      ASSERT_TRUE((*gen)->Extend(seq, std::span<const int32_t>(&want[i], 1), logits.data()).ok());
    }
    (*gen)->RemoveSequence(seq);
    if (first_divergence < 0) ++num_identical;
  }
  std::cerr << num_identical << "/" << num_cases << " continuations identical; max top-1 logit "
            << "error " << max_logit_err << "\n";
  EXPECT_GE(num_cases, 20);
  EXPECT_GE(num_identical * 20, num_cases * 19);
}

}  // namespace
}  // namespace gs
