// The GPU's row-wise and element-wise ops against kernels/ref on awkward sizes; outputs start
// poisoned (NaN) so an unwritten element fails.
#include "kernels/cuda/ops_cuda.h"

#include <cuda_fp8.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ref/ops_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs {
namespace {

using cuda_test::DeviceBuffer;
using cuda_test::RandomFloats;
using cuda_test::RelError;

TEST(OpsCudaTest, RmsNormAndNormAdd) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(1);
  for (int64_t row_len : {1, 17, 640, 3840, 5376}) {
    const int64_t num_rows = 19;
    const std::vector<float> x = RandomFloats(num_rows * row_len, rng, -3, 3);
    const std::vector<float> w = RandomFloats(row_len, rng, 0.5f, 1.5f);
    const std::vector<float> residual = RandomFloats(num_rows * row_len, rng);
    std::vector<float> want(x.size()), want_add(residual);
    for (int64_t r = 0; r < num_rows; ++r) {
      ref::RmsNorm(x.data() + r * row_len, w.data(), 1e-6f, row_len, want.data() + r * row_len);
      for (int64_t i = 0; i < row_len; ++i) want_add[r * row_len + i] += want[r * row_len + i];
    }
    DeviceBuffer<float> x_dev(x), w_dev(w), out_dev(x.size()), res_dev(residual);
    cuda::RmsNorm({x_dev.get(), w_dev.get(), out_dev.get(), num_rows, row_len, row_len, 1e-6f},
                  nullptr);
    EXPECT_LT(RelError(out_dev.Download(), want), 1e-6) << row_len;
    cuda::NormAdd({x_dev.get(), w_dev.get(), res_dev.get(), num_rows, row_len, 1e-6f}, nullptr);
    EXPECT_LT(RelError(res_dev.Download(), want_add), 1e-6) << row_len;
    // In place (out aliases x).
    cuda::RmsNorm({x_dev.get(), w_dev.get(), x_dev.get(), num_rows, row_len, row_len, 1e-6f},
                  nullptr);
    EXPECT_LT(RelError(x_dev.Download(), want), 1e-6) << row_len;
  }
}

// Per-slice weights (Gemma 4's per-layer embedding norm) and no weight (its V norm).
TEST(OpsCudaTest, RmsNormPerSliceAndWeightless) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(11);
  const int64_t num_rows = 7, w_len = 256, row_len = 35 * w_len;
  const std::vector<float> x = RandomFloats(num_rows * row_len, rng, -3, 3);
  const std::vector<float> w = RandomFloats(w_len, rng, 0.5f, 1.5f), ones(w_len, 1.0f);
  std::vector<float> want(x.size()), want_plain(x.size());
  for (int64_t s = 0; s < num_rows * row_len / w_len; ++s) {
    ref::RmsNorm(x.data() + s * w_len, w.data(), 1e-6f, w_len, want.data() + s * w_len);
  }
  for (int64_t r = 0; r < num_rows; ++r) {
    std::vector<float> all_ones(row_len, 1.0f);
    ref::RmsNorm(x.data() + r * row_len, all_ones.data(), 1e-6f, row_len,
                 want_plain.data() + r * row_len);
  }
  DeviceBuffer<float> x_dev(x), w_dev(w), out_dev(x.size());
  cuda::RmsNorm({x_dev.get(), w_dev.get(), out_dev.get(), num_rows, row_len, w_len, 1e-6f},
                nullptr);
  EXPECT_LT(RelError(out_dev.Download(), want), 1e-6);
  cuda::RmsNorm({x_dev.get(), nullptr, out_dev.get(), num_rows, row_len, row_len, 1e-6f}, nullptr);
  EXPECT_LT(RelError(out_dev.Download(), want_plain), 1e-6);
}

TEST(OpsCudaTest, QkNormRopeMatchesReference) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(2);
  struct Shape {
    int32_t num_heads, head_dim, n_rot;
    bool norm, factors;
  };
  for (const Shape& s : {Shape{4, 256, 256, true, false}, Shape{3, 512, 512, true, true},
                         Shape{2, 256, 128, true, false}, Shape{5, 64, 64, false, false}}) {
    const int64_t num_tokens = 17;
    std::vector<int32_t> positions(num_tokens);
    for (int64_t t = 0; t < num_tokens; ++t) positions[t] = static_cast<int32_t>(rng() % 262144);
    positions[0] = 0;
    const std::vector<float> x = RandomFloats(num_tokens * s.num_heads * s.head_dim, rng);
    const std::vector<float> w = RandomFloats(s.head_dim, rng, 0.5f, 1.5f);
    const std::vector<float> factors = RandomFloats(s.n_rot / 2, rng, 1.0f, 8.0f);
    std::vector<float> want = x;
    for (int64_t t = 0; t < num_tokens; ++t) {
      for (int32_t h = 0; h < s.num_heads; ++h) {
        float* row = want.data() + (t * s.num_heads + h) * s.head_dim;
        if (s.norm) ref::RmsNorm(row, w.data(), 1e-6f, s.head_dim, row);
        ref::RopeNeox(row, s.n_rot, positions[t], 1e6f, 1.0f, s.factors ? factors.data() : nullptr);
      }
    }
    DeviceBuffer<float> x_dev(x), w_dev(w), f_dev(factors);
    DeviceBuffer<int32_t> pos_dev(positions);
    cuda::QkNormRope({x_dev.get(), s.norm ? w_dev.get() : nullptr, pos_dev.get(),
                      s.factors ? f_dev.get() : nullptr, num_tokens, s.num_heads, s.head_dim,
                      s.n_rot, 1e-6f, 1e6f, 1.0f, s.norm},
                     nullptr);
    // Angles reach 2.6e5 rad: f32 angle rounding dominates (~1e-2 rad at most), so compare at
    // a few e-3 in norm.
    EXPECT_LT(RelError(x_dev.Download(), want), 5e-3) << s.head_dim;
  }
}

TEST(OpsCudaTest, KvStoreBf16RoundsAndSkipsNegativeSlots) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(3);
  const int32_t num_kv_heads = 2, head_dim = 256, kv_width = num_kv_heads * head_dim;
  const int64_t num_tokens = 5, num_slots = 40;
  const std::vector<float> k = RandomFloats(num_tokens * kv_width, rng);
  const std::vector<float> v = RandomFloats(num_tokens * kv_width, rng);
  const std::vector<int64_t> slots = {7, -1, 0, 39, 16};
  DeviceBuffer<float> k_dev(k), v_dev(v);
  DeviceBuffer<int64_t> slot_dev(slots);
  DeviceBuffer<uint16_t> k_cache(num_slots * kv_width), v_cache(num_slots * kv_width);
  cuda::KvStore({k_dev.get(), v_dev.get(), k_cache.get(), v_cache.get(), nullptr, nullptr,
                 slot_dev.get(), num_tokens, num_kv_heads, head_dim, cuda::KvType::kBf16},
                nullptr);
  const std::vector<uint16_t> kc = k_cache.Download(), vc = v_cache.Download();
  for (int64_t t = 0; t < num_tokens; ++t) {
    if (slots[t] < 0) continue;
    for (int32_t i = 0; i < kv_width; ++i) {
      ASSERT_EQ(kc[slots[t] * kv_width + i], cuda_test::F32ToBf16(k[t * kv_width + i]));
      ASSERT_EQ(vc[slots[t] * kv_width + i], cuda_test::F32ToBf16(v[t * kv_width + i]));
    }
  }
  // Untouched slots keep their poison.
  for (int32_t i = 0; i < kv_width; ++i) ASSERT_EQ(kc[1 * kv_width + i], 0xFFFF);
}

TEST(OpsCudaTest, KvStoreFp8ScalesEachRow) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(4);
  const int32_t num_kv_heads = 3, head_dim = 512, kv_width = num_kv_heads * head_dim;
  const int64_t num_tokens = 4;
  std::vector<float> k = RandomFloats(num_tokens * kv_width, rng, -20, 20);
  std::vector<float> v = RandomFloats(num_tokens * kv_width, rng, -0.01f, 0.01f);
  for (int32_t i = 0; i < head_dim; ++i) k[i] = 0;  // an all-zero row keeps scale 1
  const std::vector<int64_t> slots = {3, 0, 2, 1};
  DeviceBuffer<float> k_dev(k), v_dev(v), k_scale(num_tokens * num_kv_heads),
      v_scale(num_tokens * num_kv_heads);
  DeviceBuffer<int64_t> slot_dev(slots);
  DeviceBuffer<uint8_t> k_cache(num_tokens * kv_width), v_cache(num_tokens * kv_width);
  cuda::KvStore(
      {k_dev.get(), v_dev.get(), k_cache.get(), v_cache.get(), k_scale.get(), v_scale.get(),
       slot_dev.get(), num_tokens, num_kv_heads, head_dim, cuda::KvType::kFp8},
      nullptr);
  const std::vector<uint8_t> kc = k_cache.Download(), vc = v_cache.Download();
  const std::vector<float> ks = k_scale.Download(), vs = v_scale.Download();
  auto decode = [](uint8_t bits) {
    __nv_fp8_e4m3 f;
    f.__x = bits;
    return static_cast<float>(f);
  };
  for (int64_t t = 0; t < num_tokens; ++t) {
    std::vector<float> got_k(kv_width), got_v(kv_width), want_k(kv_width), want_v(kv_width);
    for (int32_t i = 0; i < kv_width; ++i) {
      const int64_t row = slots[t] * num_kv_heads + i / head_dim;
      got_k[i] = decode(kc[slots[t] * kv_width + i]) * ks[row];
      got_v[i] = decode(vc[slots[t] * kv_width + i]) * vs[row];
      want_k[i] = k[t * kv_width + i];
      want_v[i] = v[t * kv_width + i];
    }
    // e4m3 keeps 3 mantissa bits: relative error per value <= 2^-4.
    EXPECT_LT(RelError(got_k, want_k), 0.04) << t;
    EXPECT_LT(RelError(got_v, want_v), 0.04) << t;
  }
  EXPECT_EQ(ks[slots[0] * num_kv_heads], 1.0f);
}

TEST(OpsCudaTest, GeGluGatherScatterSoftcap) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(5);
  const int64_t n = 3 * 15360 + 17;
  const std::vector<float> gate = RandomFloats(n, rng, -6, 6), up = RandomFloats(n, rng);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = ref::GeluTanh(gate[i]) * up[i];
  DeviceBuffer<float> gate_dev(gate), up_dev(up);
  cuda::GeGlu({gate_dev.get(), up_dev.get(), 1, n, n, 0, false}, nullptr);
  EXPECT_LT(RelError(gate_dev.Download(), want), 1e-6);
  // A gate against a column slice of a wider up (Gemma 4's per-layer embeddings).
  {
    const int64_t rows = 5, cols = 256, up_cols = 35 * 256, offset = 7 * 256;
    const std::vector<float> g = RandomFloats(rows * cols, rng, -6, 6);
    const std::vector<float> u = RandomFloats(rows * up_cols, rng);
    std::vector<float> want_slice(g.size());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        want_slice[r * cols + c] = ref::GeluTanh(g[r * cols + c]) * u[r * up_cols + offset + c];
      }
    }
    DeviceBuffer<float> g_dev(g), u_dev(u);
    cuda::GeGlu({g_dev.get(), u_dev.get(), rows, cols, up_cols, offset, false}, nullptr);
    EXPECT_LT(RelError(g_dev.Download(), want_slice), 1e-6);
  }
  // Add and Scale.
  {
    const std::vector<float> a = RandomFloats(1001, rng), b = RandomFloats(1001, rng);
    std::vector<float> want_sum(a.size());
    for (size_t i = 0; i < a.size(); ++i) want_sum[i] = (a[i] + b[i]) * 0.5f;
    DeviceBuffer<float> a_dev(a), b_dev(b);
    cuda::Add(a_dev.get(), b_dev.get(), 1001, nullptr);
    cuda::Scale(b_dev.get(), 1001, 0.5f, nullptr);
    EXPECT_LT(RelError(b_dev.Download(), want_sum), 1e-7);
  }

  const int64_t num_cols = 641;
  const std::vector<float> x = RandomFloats(9 * num_cols, rng);
  const std::vector<int32_t> rows = {8, 0, 3, 3};
  DeviceBuffer<float> x_dev(x), out_dev(rows.size() * num_cols);
  DeviceBuffer<int32_t> rows_dev(rows);
  cuda::GatherRows({x_dev.get(), rows_dev.get(), out_dev.get(), 4, num_cols}, nullptr);
  const std::vector<float> gathered = out_dev.Download();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int64_t c = 0; c < num_cols; ++c) {
      ASSERT_EQ(gathered[i * num_cols + c], x[rows[i] * num_cols + c]);
    }
  }
  const std::vector<int32_t> targets = {2, 7};
  DeviceBuffer<int32_t> targets_dev(targets);
  cuda::ScatterRows({out_dev.get(), targets_dev.get(), x_dev.get(), 2, num_cols}, nullptr);
  const std::vector<float> scattered = x_dev.Download();
  for (int64_t c = 0; c < num_cols; ++c) {
    ASSERT_EQ(scattered[2 * num_cols + c], gathered[c]);
    ASSERT_EQ(scattered[7 * num_cols + c], gathered[num_cols + c]);
    ASSERT_EQ(scattered[0 * num_cols + c], x[c]);
  }

  std::vector<float> logits = RandomFloats(262144 + 3, rng, -100, 100), capped(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) capped[i] = 30.0f * std::tanh(logits[i] / 30.0f);
  DeviceBuffer<float> logits_dev(logits);
  cuda::Softcap(logits_dev.get(), static_cast<int64_t>(logits.size()), 30.0f, nullptr);
  EXPECT_LT(RelError(logits_dev.Download(), capped), 1e-6);
}

}  // namespace
}  // namespace gs
