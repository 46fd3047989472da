// The Gemma 3 forward pass against Hugging Face transformers on tiny random models
// (tests/fixtures/make_tiny_gemma3.py): a sliding window of 8 over a 40-token sequence, GQA,
// norm weights far from 1, both RoPE bases. F32 weights, so activations stay f32
// and the only roundings are the f16 K/V, q, softmax weights and gelu that llama.cpp also makes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_backend.h"
#include "engine/generator.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"

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
  StatusOr<std::unique_ptr<Generator>> gen = Generator::Create(**model, backend, {});
  ASSERT_TRUE(gen.ok()) << gen.status().message();
  const int32_t num_vocab = (*model)->config().num_vocab;
  std::vector<float> logits(num_vocab);

  const int32_t seq = (*gen)->AddSequence();
  double max_err = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    ASSERT_TRUE((*gen)->Extend(seq, std::span<const int32_t>(&ids[t], 1), logits.data()).ok());
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
