// The CUDA backend's Gemma 4 ops through the Backend interface: 3-D expert tensors loaded as a
// GGUF file would hand them over and Moe against kernels/ref (fused and split gate/up, expert
// scales that change at the same address), and per-layer embeddings of media rows against the
// CPU backend.
//
// A CPU-vs-CUDA full forward on the tiny Gemma 4 fixtures is not here: their heads are 32 and 64
// wide, and the CUDA attention kernels take head dims 128, 256 and 512 (the real models' sizes).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/gguf/gguf_file.h"
#include "kernels/ref/moe_ref.h"
#include "kernels/ref/quant_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs {
namespace {

using cuda_test::RandomFloats;
using cuda_test::RelError;

// A tensor as GgufFile describes one: ne = {num_cols, num_rows, num_mats}, bytes owned here.
struct HostTensor {
  GgufTensorInfo info;
  std::vector<uint8_t> bytes;
};

// Q8_0 values with small finite scales.
HostTensor Q8Tensor(const std::string& name, int64_t num_cols, int64_t num_rows, int64_t num_mats,
                    std::mt19937& rng) {
  HostTensor t;
  t.bytes.resize(RowBytes(GgmlType::kQ8_0, num_cols) * num_rows * num_mats);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  for (uint8_t& b : t.bytes) b = static_cast<uint8_t>(byte_dist(rng));
  for (size_t blk = 0; blk < t.bytes.size() / 34; ++blk) {
    const uint16_t d = Fp32ToFp16(0.002f + 0.008f * static_cast<float>(rng() % 1000) / 1000);
    std::memcpy(t.bytes.data() + blk * 34, &d, sizeof d);
  }
  t.info.name = name;
  t.info.type = GgmlType::kQ8_0;
  t.info.num_dims = num_mats > 1 ? 3 : 2;
  t.info.ne[0] = num_cols;
  t.info.ne[1] = num_rows;
  t.info.ne[2] = num_mats;
  t.info.num_bytes = t.bytes.size();
  t.info.data = t.bytes.data();
  return t;
}

std::vector<float> Dequantize(const HostTensor& t) {
  std::vector<float> out(t.info.num_elems());
  const size_t row_bytes = RowBytes(t.info.type, t.info.ne[0]);
  for (int64_t r = 0; r < t.info.num_rows(); ++r) {
    ref::DequantizeRow(t.info.type, t.bytes.data() + r * row_bytes, out.data() + r * t.info.ne[0],
                       t.info.ne[0]);
  }
  return out;
}

void ToDevice(const std::vector<float>& host, Act act) {
  ASSERT_EQ(host.size(), static_cast<size_t>(act.num_rows * act.num_cols));
  GS_CUDA_CHECK(
      cudaMemcpy(act.data, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice));
}

TEST(Gemma4CudaBackendTest, MoeLoadsExpertTensorsAndMatchesTheReference) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(1);
  const int64_t hidden = 256;
  const int32_t num_experts = 32, num_used = 8, ffn = 96;
  StatusOr<std::unique_ptr<Backend>> backend = CreateCudaBackend({});
  ASSERT_TRUE(backend.ok()) << backend.status().message();
  Backend& b = **backend;
  for (bool fused : {true, false}) {
    // gate/up [E][F][D] for the reference, from the fused tensor's halves or the split ones.
    std::vector<HostTensor> tensors;
    std::vector<float> gate, up;
    if (fused) {
      tensors.push_back(Q8Tensor("ffn_gate_up_exps.weight", hidden, 2 * ffn, num_experts, rng));
      const std::vector<float> both = Dequantize(tensors.back());
      for (int32_t e = 0; e < num_experts; ++e) {
        const auto mat = both.begin() + e * 2 * ffn * hidden;
        gate.insert(gate.end(), mat, mat + ffn * hidden);
        up.insert(up.end(), mat + ffn * hidden, mat + 2 * ffn * hidden);
      }
    } else {
      tensors.push_back(Q8Tensor("ffn_gate_exps.weight", hidden, ffn, num_experts, rng));
      gate = Dequantize(tensors.back());
      tensors.push_back(Q8Tensor("ffn_up_exps.weight", hidden, ffn, num_experts, rng));
      up = Dequantize(tensors.back());
    }
    tensors.push_back(Q8Tensor("ffn_down_exps.weight", ffn, hidden, num_experts, rng));
    const std::vector<float> down = Dequantize(tensors.back());
    std::vector<Weight> weights;
    for (const HostTensor& t : tensors) {
      StatusOr<Weight> w = b.LoadWeight(t.info);
      ASSERT_TRUE(w.ok()) << w.status().message();
      EXPECT_EQ(w->num_mats, num_experts);
      EXPECT_EQ(w->mat_bytes, RowBytes(GgmlType::kQ8_0, t.info.ne[0]) * t.info.ne[1]);
      weights.push_back(*w);
    }
    std::vector<float> scales = RandomFloats(num_experts, rng, 0.5f, 2.0f);
    MoeSpec spec{fused ? &weights[0] : nullptr,
                 fused ? nullptr : &weights[0],
                 fused ? nullptr : &weights[1],
                 &weights.back(),
                 scales.data(),
                 num_experts,
                 num_used,
                 ffn,
                 false};
    for (int64_t num_tokens : {1, 40}) {
      // The second pass changes the scales in place: the backend must not keep stale ones.
      for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1) scales = RandomFloats(num_experts, rng, 0.5f, 2.0f);
        ASSERT_EQ(spec.down_scale, scales.data());
        b.ResetArena();
        const std::vector<float> x = RandomFloats(num_tokens * hidden, rng);
        const std::vector<float> logits = RandomFloats(num_tokens * num_experts, rng, -3, 3);
        Act x_act = b.Alloc(num_tokens, hidden), logits_act = b.Alloc(num_tokens, num_experts);
        Act out = b.Alloc(num_tokens, hidden);
        ToDevice(x, x_act);
        ToDevice(logits, logits_act);
        b.Moe(x_act, logits_act, spec, out);
        std::vector<float> got(num_tokens * hidden);
        b.ReadLogits(out, 0, got.data());

        std::vector<ref::MoeRoute> routes(num_tokens * num_used);
        for (int64_t t = 0; t < num_tokens; ++t) {
          ref::RouteTopK(logits.data() + t * num_experts, num_experts, num_used, scales.data(),
                         routes.data() + t * num_used);
        }
        std::vector<float> want(num_tokens * hidden);
        ref::MoeExperts({x.data(), routes.data(), gate.data(), up.data(), down.data(), want.data(),
                         num_tokens, hidden, num_used, ffn});
        EXPECT_LT(RelError(got, want), 2e-5)
            << (fused ? "fused" : "split") << ", " << num_tokens << " tokens, pass " << pass;
      }
    }
  }
}

// Embed without overrides (Gemma 4's per-layer embeddings) gives media rows table row 0 times the
// scale; with overrides, their values. Both backends dequantize exactly, so the rows are equal.
TEST(Gemma4CudaBackendTest, PerLayerEmbeddingsOfMediaRowsMatchTheCpu) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(2);
  const int64_t width = 64, num_vocab = 10;
  const HostTensor table = Q8Tensor("per_layer_token_embd.weight", width, num_vocab, 1, rng);
  StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend({});
  ASSERT_TRUE(cuda.ok()) << cuda.status().message();
  CpuBackend cpu(1);
  StatusOr<Weight> cuda_table = (*cuda)->LoadWeight(table.info);
  StatusOr<Weight> cpu_table = cpu.LoadWeight(table.info);
  ASSERT_TRUE(cuda_table.ok() && cpu_table.ok());

  Batch batch;
  batch.token_ids = {2, 7, 7, 7, 9};
  batch.positions = {0, 1, 2, 3, 4};
  batch.query_start = {0, 5};
  batch.seq_lens = {5};
  batch.logits_rows = {4};
  batch.embed_rows = {1, 3};
  batch.embed_values = RandomFloats(2 * width, rng);
  for (bool overrides : {false, true}) {
    (*cuda)->ResetArena();
    cpu.ResetArena();
    Act cuda_out = (*cuda)->Alloc(batch.num_tokens(), width);
    Act cpu_out = cpu.Alloc(batch.num_tokens(), width);
    (*cuda)->Embed(batch, *cuda_table, 4.0f, cuda_out, overrides);
    cpu.Embed(batch, *cpu_table, 4.0f, cpu_out, overrides);
    std::vector<float> got(batch.num_tokens() * width);
    (*cuda)->ReadLogits(cuda_out, 0, got.data());
    const std::vector<float> want(cpu_out.data, cpu_out.data + got.size());
    EXPECT_EQ(got, want) << "overrides " << overrides;
    if (!overrides) {
      EXPECT_TRUE(std::equal(want.begin() + width, want.begin() + 2 * width,
                             want.begin() + 3 * width));  // both media rows read row 0
    }
  }
}

}  // namespace
}  // namespace gs
