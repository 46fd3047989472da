// The GPU's mixture of experts against kernels/ref: routing (the same experts in the same order
// as ref::RouteTopK, ties included), the grouping's invariants, and the whole pass against
// ref::MoeExperts on random inputs with F32, Q8_0 and Q4_K experts, fused and split gate/up,
// from one token (decode) to prefill-sized batches; and a token's output is the same bits alone
// as in a batch.
#include "kernels/cuda/moe_cuda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/quant_types.h"
#include "kernels/ref/moe_ref.h"
#include "kernels/ref/quant_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs {
namespace {

using cuda_test::DeviceBuffer;
using cuda_test::RandomFloats;
using cuda_test::RelError;

void PutU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

// num_rows GGUF rows of `type` (F32, Q8_0 or Q4_K): random quant bytes with small finite f16
// scale fields (random bytes there could be Inf/NaN), or f32 values in [-1, 1).
std::vector<uint8_t> RandomRows(GgmlType type, int64_t num_rows, int64_t num_cols,
                                std::mt19937& rng) {
  std::vector<uint8_t> bytes(RowBytes(type, num_cols) * num_rows);
  if (type == GgmlType::kF32) {
    const std::vector<float> v = RandomFloats(num_rows * num_cols, rng);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return bytes;
  }
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::uniform_real_distribution<float> scale_dist(0.002f, 0.01f);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte_dist(rng));
  const TypeTraits& traits = GetTypeTraits(type);
  for (size_t blk = 0; blk < bytes.size() / traits.block_bytes; ++blk) {
    uint8_t* p = bytes.data() + blk * traits.block_bytes;
    PutU16(p, Fp32ToFp16(scale_dist(rng)));
    if (type == GgmlType::kQ4_K) PutU16(p + 2, Fp32ToFp16(scale_dist(rng)));
  }
  return bytes;
}

// Bytes padded by 16, as weights are on the device (kernels may read the aligned word past a
// matrix's last byte).
std::vector<uint8_t> Padded(std::vector<uint8_t> bytes) {
  bytes.resize(bytes.size() + 16, 0);
  return bytes;
}

std::vector<float> Dequantize(GgmlType type, const std::vector<uint8_t>& bytes, int64_t num_rows,
                              int64_t num_cols) {
  std::vector<float> out(num_rows * num_cols);
  const size_t row_bytes = RowBytes(type, num_cols);
  for (int64_t r = 0; r < num_rows; ++r) {
    ref::DequantizeRow(type, bytes.data() + r * row_bytes, out.data() + r * num_cols, num_cols);
  }
  return out;
}

struct RouteResult {
  std::vector<int32_t> expert_ids, counts;
  std::vector<float> weights;
};

RouteResult RouteOnDevice(const std::vector<float>& logits, const std::vector<float>& scales,
                          int64_t num_tokens, int32_t num_experts, int32_t num_used) {
  DeviceBuffer<float> logits_dev(logits),
      scales_dev(scales.empty() ? std::vector<float>{0} : scales);
  DeviceBuffer<int32_t> ids_dev(num_tokens * num_used), counts_dev(num_experts);
  DeviceBuffer<float> weights_dev(num_tokens * num_used);
  counts_dev.Upload(std::vector<int32_t>(num_experts, 0));
  cuda::MoeRoute({logits_dev.get(), scales.empty() ? nullptr : scales_dev.get(), ids_dev.get(),
                  weights_dev.get(), counts_dev.get(), num_tokens, num_experts, num_used},
                 nullptr);
  return {ids_dev.Download(), counts_dev.Download(), weights_dev.Download()};
}

void ExpectRoutesMatch(const std::vector<float>& logits, const std::vector<float>& scales,
                       int64_t num_tokens, int32_t num_experts, int32_t num_used) {
  const RouteResult got = RouteOnDevice(logits, scales, num_tokens, num_experts, num_used);
  std::vector<int32_t> want_counts(num_experts, 0);
  std::vector<ref::MoeRoute> want(num_used);
  for (int64_t t = 0; t < num_tokens; ++t) {
    ref::RouteTopK(logits.data() + t * num_experts, num_experts, num_used,
                   scales.empty() ? nullptr : scales.data(), want.data());
    for (int32_t j = 0; j < num_used; ++j) {
      const size_t i = t * num_used + j;
      ASSERT_EQ(got.expert_ids[i], want[j].expert_idx) << "token " << t << ", rank " << j;
      EXPECT_NEAR(got.weights[i], want[j].weight, 1e-6 * std::fabs(want[j].weight) + 1e-12)
          << "token " << t << ", rank " << j;
      ++want_counts[want[j].expert_idx];
    }
  }
  EXPECT_EQ(got.counts, want_counts);
}

TEST(MoeCudaTest, RoutingChoosesTheReferenceExperts) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(1);
  struct Shape {
    int64_t num_tokens;
    int32_t num_experts, num_used;
  };
  for (const Shape& s :
       {Shape{1, 128, 8}, Shape{37, 128, 8}, Shape{5, 7, 7}, Shape{9, 40, 1}, Shape{3, 1024, 32}}) {
    const std::vector<float> logits = RandomFloats(s.num_tokens * s.num_experts, rng, -6, 6);
    const std::vector<float> scales = RandomFloats(s.num_experts, rng, 0.5f, 2.0f);
    ExpectRoutesMatch(logits, scales, s.num_tokens, s.num_experts, s.num_used);
    ExpectRoutesMatch(logits, {}, s.num_tokens, s.num_experts, s.num_used);
  }
}

// Logits from a handful of values: many exact ties, which go to the lower expert index.
TEST(MoeCudaTest, RoutingBreaksTiesTowardTheLowerIndex) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> level(-2, 2);
  const int64_t num_tokens = 50;
  const int32_t num_experts = 128, num_used = 8;
  std::vector<float> logits(num_tokens * num_experts);
  for (float& v : logits) v = 0.5f * static_cast<float>(level(rng));
  std::fill(logits.begin(), logits.begin() + num_experts, 1.0f);  // one token all ties
  ExpectRoutesMatch(logits, {}, num_tokens, num_experts, num_used);
}

TEST(MoeCudaTest, GroupingIsAPermutationByExpert) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(3);
  const int64_t num_tokens = 300;
  const int32_t num_experts = 128, num_used = 8;
  const int64_t num_pairs = num_tokens * num_used;
  const std::vector<float> logits = RandomFloats(num_tokens * num_experts, rng, -4, 4);
  const RouteResult routes = RouteOnDevice(logits, {}, num_tokens, num_experts, num_used);
  DeviceBuffer<int32_t> ids_dev(routes.expert_ids), counts_dev(routes.counts);
  DeviceBuffer<int32_t> offsets_dev(num_experts + 1), active_dev(num_experts), num_active_dev(1);
  DeviceBuffer<int32_t> pos_dev(num_pairs), tokens_dev(num_pairs);
  cuda::MoeGroup(
      {ids_dev.get(), counts_dev.get(), offsets_dev.get(), active_dev.get(), num_active_dev.get(),
       pos_dev.get(), tokens_dev.get(), num_pairs, num_experts, num_used},
      nullptr);
  const std::vector<int32_t> offsets = offsets_dev.Download(), active = active_dev.Download();
  const std::vector<int32_t> pos = pos_dev.Download(), tokens = tokens_dev.Download();
  std::vector<int32_t> want_active;
  ASSERT_EQ(offsets[0], 0);
  for (int32_t e = 0; e < num_experts; ++e) {
    EXPECT_EQ(offsets[e + 1] - offsets[e], routes.counts[e]) << e;
    if (routes.counts[e] > 0) want_active.push_back(e);
  }
  EXPECT_EQ(num_active_dev.Download()[0], static_cast<int32_t>(want_active.size()));
  want_active.resize(num_experts, -1);
  EXPECT_EQ(active, want_active);
  std::vector<bool> seen(num_pairs, false);
  for (int64_t q = 0; q < num_pairs; ++q) {
    const int32_t e = routes.expert_ids[q];
    ASSERT_GE(pos[q], offsets[e]) << q;
    ASSERT_LT(pos[q], offsets[e + 1]) << q;
    ASSERT_FALSE(seen[pos[q]]) << q;
    seen[pos[q]] = true;
    EXPECT_EQ(tokens[pos[q]], q / num_used) << q;
  }
}

struct MoeCase {
  GgmlType gate_up_type, down_type;
  bool fused;
  int64_t hidden;
  int32_t num_experts, num_used, expert_ffn;
};

std::string Describe(const MoeCase& c) {
  return std::string(GetTypeTraits(c.gate_up_type).name) + "/" + GetTypeTraits(c.down_type).name +
         (c.fused ? " fused" : " split");
}

// The experts' weights of a case, as GGUF bytes on the device and as f32 for the reference.
struct MoeWeights {
  std::vector<float> gate, up, down, scales;  // [E, F, D], [E, F, D], [E, D, F], [E]
  std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> buffers;
  cuda::MoeWeight gate_up_w, gate_w, up_w, down_w;
  std::unique_ptr<DeviceBuffer<float>> scales_dev;
};

MoeWeights MakeWeights(const MoeCase& c, std::mt19937& rng) {
  MoeWeights m;
  const int64_t num_experts = c.num_experts, ffn = c.expert_ffn, hidden = c.hidden;
  auto upload = [&](GgmlType type, int64_t rows_per_mat, int64_t num_cols, std::vector<float>* a,
                    std::vector<float>* b) {
    const std::vector<uint8_t> bytes = RandomRows(type, num_experts * rows_per_mat, num_cols, rng);
    const std::vector<float> values = Dequantize(type, bytes, num_experts * rows_per_mat, num_cols);
    // b: the second half of each matrix's rows (a fused gate_up's up projection).
    const int64_t a_rows = b != nullptr ? rows_per_mat / 2 : rows_per_mat;
    for (int64_t e = 0; e < num_experts; ++e) {
      const auto mat = values.begin() + e * rows_per_mat * num_cols;
      a->insert(a->end(), mat, mat + a_rows * num_cols);
      if (b != nullptr) b->insert(b->end(), mat + a_rows * num_cols, mat + rows_per_mat * num_cols);
    }
    m.buffers.push_back(std::make_unique<DeviceBuffer<uint8_t>>(Padded(bytes)));
    const size_t row_bytes = RowBytes(type, num_cols);
    return cuda::MoeWeight{m.buffers.back()->get(), type, row_bytes * rows_per_mat, row_bytes};
  };
  if (c.fused) {
    m.gate_up_w = upload(c.gate_up_type, 2 * ffn, hidden, &m.gate, &m.up);
  } else {
    m.gate_w = upload(c.gate_up_type, ffn, hidden, &m.gate, nullptr);
    m.up_w = upload(c.gate_up_type, ffn, hidden, &m.up, nullptr);
  }
  m.down_w = upload(c.down_type, hidden, ffn, &m.down, nullptr);
  m.scales = RandomFloats(num_experts, rng, 0.5f, 2.0f);
  m.scales_dev = std::make_unique<DeviceBuffer<float>>(m.scales);
  return m;
}

std::vector<float> RunMoe(const MoeCase& c, const MoeWeights& m, const std::vector<float>& x,
                          const std::vector<float>& logits, int64_t num_tokens) {
  DeviceBuffer<float> x_dev(x), logits_dev(logits), out_dev(num_tokens * c.hidden);
  DeviceBuffer<uint8_t> workspace(
      cuda::MoeWorkspaceBytes(num_tokens, c.hidden, c.num_experts, c.num_used, c.expert_ffn));
  cuda::MoeParams p{};
  p.x = x_dev.get();
  p.router_logits = logits_dev.get();
  p.scales = m.scales_dev->get();
  p.gate_up = m.gate_up_w;
  p.gate = m.gate_w;
  p.up = m.up_w;
  p.down = m.down_w;
  p.out = out_dev.get();
  p.workspace = workspace.get();
  p.num_tokens = num_tokens;
  p.hidden = c.hidden;
  p.num_experts = c.num_experts;
  p.num_used = c.num_used;
  p.expert_ffn = c.expert_ffn;
  cuda::Moe(p, nullptr);
  return out_dev.Download();
}

std::vector<float> RefMoe(const MoeCase& c, const MoeWeights& m, const std::vector<float>& x,
                          const std::vector<float>& logits, int64_t num_tokens) {
  std::vector<ref::MoeRoute> routes(num_tokens * c.num_used);
  for (int64_t t = 0; t < num_tokens; ++t) {
    ref::RouteTopK(logits.data() + t * c.num_experts, c.num_experts, c.num_used, m.scales.data(),
                   routes.data() + t * c.num_used);
  }
  std::vector<float> out(num_tokens * c.hidden);
  ref::MoeExperts({x.data(), routes.data(), m.gate.data(), m.up.data(), m.down.data(), out.data(),
                   num_tokens, c.hidden, c.num_used, c.expert_ffn});
  return out;
}

const MoeCase kCases[] = {
    {GgmlType::kF32, GgmlType::kF32, false, 256, 16, 4, 64},
    {GgmlType::kF32, GgmlType::kF32, true, 256, 16, 4, 64},
    {GgmlType::kQ8_0, GgmlType::kQ8_0, true, 512, 32, 8, 96},
    {GgmlType::kQ8_0, GgmlType::kQ8_0, false, 512, 32, 8, 96},
    {GgmlType::kQ4_K, GgmlType::kQ4_K, true, 512, 16, 4, 256},
    {GgmlType::kQ4_K, GgmlType::kQ4_K, false, 512, 16, 4, 256},
    // The 26B-A4B's geometry, shrunk in hidden: 128 experts, top 8, FFN 704 (not a multiple of
    // 256, so its down matrices are a 32-value type).
    {GgmlType::kQ4_K, GgmlType::kQ8_0, true, 512, 128, 8, 704},
};

TEST(MoeCudaTest, ExpertsMatchTheReference) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(4);
  for (const MoeCase& c : kCases) {
    const MoeWeights m = MakeWeights(c, rng);
    for (int64_t num_tokens : {1, 3, 8, 70}) {
      const std::vector<float> x = RandomFloats(num_tokens * c.hidden, rng);
      const std::vector<float> logits = RandomFloats(num_tokens * c.num_experts, rng, -3, 3);
      const std::vector<float> got = RunMoe(c, m, x, logits, num_tokens);
      const std::vector<float> want = RefMoe(c, m, x, logits, num_tokens);
      EXPECT_LT(RelError(got, want), 2e-5) << Describe(c) << ", " << num_tokens << " tokens";
    }
  }
}

// Each pair's sums are made by the same lanes in the same order whatever shares its expert, so a
// token's output is the same bits alone as in a prefill-sized batch.
TEST(MoeCudaTest, ATokenGetsTheSameBitsAloneAndInABatch) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(5);
  const MoeCase& c = kCases[std::size(kCases) - 1];
  const MoeWeights m = MakeWeights(c, rng);
  const int64_t num_tokens = 200;
  const std::vector<float> x = RandomFloats(num_tokens * c.hidden, rng);
  const std::vector<float> logits = RandomFloats(num_tokens * c.num_experts, rng, -3, 3);
  const std::vector<float> batched = RunMoe(c, m, x, logits, num_tokens);
  for (int64_t t : {0, 17, 199}) {
    const std::vector<float> x1(x.begin() + t * c.hidden, x.begin() + (t + 1) * c.hidden);
    const std::vector<float> l1(logits.begin() + t * c.num_experts,
                                logits.begin() + (t + 1) * c.num_experts);
    const std::vector<float> alone = RunMoe(c, m, x1, l1, 1);
    EXPECT_EQ(0, std::memcmp(alone.data(), batched.data() + t * c.hidden, sizeof(float) * c.hidden))
        << "token " << t;
  }
}

}  // namespace
}  // namespace gs
