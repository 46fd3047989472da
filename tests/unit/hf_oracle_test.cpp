// The Gemma 3 forward pass against Hugging Face transformers on tiny random models
// (tests/fixtures/make_tiny_gemma3.py): a sliding window of 8 over a 40-token sequence, GQA,
// norm weights far from 1, both RoPE bases. F32 weights, so activations stay f32
// and the only roundings are the f16 K/V, q, softmax weights and gelu that llama.cpp also makes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/run_request.h"

namespace gs {
namespace {

class HfOracleTest : public ::testing::TestWithParam<const char*> {};

// tiny_gemma3: head dim 32, 4/2 heads, f32 weights; tiny_gemma3_d256: the head dim the CUDA
// kernels run, 2/1 heads, f16 matrices (the same file checks the GPU in tests/cuda).
TEST_P(HfOracleTest, TinyGemma3LogitsMatchTransformers) {
  const std::string dir = GS_FIXTURE_DIR;
  const std::string name = GetParam();
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(dir + "/" + name + ".gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  const nlohmann::json golden =
      nlohmann::json::parse(std::ifstream(dir + "/" + name + "_logits.json"));
  const std::vector<int32_t> ids = golden["ids"];

  CpuBackend backend(2);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(**file, backend);
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_EQ((*model)->config().sliding_window, 8);
  // The engine `serve` runs, one token per step, with the logits of every prompt position.
  EngineOptions options;
  options.max_num_seqs = 1;
  options.max_num_batched_tokens = 1;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(**model, backend, options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  std::vector<std::vector<float>> rows;
  EngineRequest r;
  r.prompt = ids;
  r.logits_sink = [&](int64_t position, std::span<const float> row) {
    EXPECT_EQ(position, static_cast<int64_t>(rows.size()));
    rows.emplace_back(row.begin(), row.end());
  };
  r.prompt_logits = true;
  const RequestResult result = RunRequest(**engine, std::move(r));
  ASSERT_NE(result.finish, FinishReason::kError) << result.error;
  ASSERT_EQ(rows.size(), ids.size());

  double max_err = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const std::vector<float>& logits = rows[t];
    const std::vector<float> want = golden["logits"][t];
    ASSERT_EQ(want.size(), static_cast<size_t>(num_vocab));
    for (int32_t v = 0; v < num_vocab; ++v) {
      const double err = std::fabs(logits[v] - want[v]);
      max_err = std::max(max_err, err);
      ASSERT_LE(err, 1e-2) << "position " << t << " token " << v;
    }
  }
  std::cerr << name << ": max logit error against transformers: " << max_err << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfOracleTest,
                         ::testing::Values("tiny_gemma3", "tiny_gemma3_d256"));

}  // namespace
}  // namespace gs
