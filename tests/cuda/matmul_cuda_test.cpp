// CUDA matrix products against float64 references built from kernels/ref: MatVec straight from
// GGUF blocks, dequantization to bf16 / f32 (bit-exact with ref::DequantizeRow), F32ToBf16, and
// the cuBLASLt bf16 GEMM. Every test skips without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/matvec_cuda.h"
#include "kernels/quant_types.h"
#include "kernels/ref/quant_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs::cuda {
namespace {

using cuda_test::DeviceBuffer;
using cuda_test::RelError;

constexpr uint32_t kPoisonBits = 0xFFFFFFFFu;  // what DeviceBuffer's 0xFF fill reads as

const GgmlType kAllTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                              GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0,
                              GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

std::string Name(GgmlType type) { return GetTypeTraits(type).name; }

uint16_t SmallHalf(std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(0.01f, 0.05f);
  return Fp32ToFp16(dist(rng));
}

void PutU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

// num_rows GGUF rows of `type`, num_cols values each: random quant bytes with f16 scale fields
// set to small finite values (random bytes there could be Inf/NaN); float types hold [-1, 1).
std::vector<uint8_t> RandomRows(GgmlType type, int64_t num_rows, int64_t num_cols,
                                std::mt19937& rng) {
  const TypeTraits& traits = GetTypeTraits(type);
  const size_t row_bytes = RowBytes(type, num_cols);
  std::vector<uint8_t> bytes(row_bytes * num_rows);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::uniform_real_distribution<float> val_dist(-1.f, 1.f);
  const size_t num_elems = static_cast<size_t>(num_rows * num_cols);
  switch (type) {
    case GgmlType::kF32:
      for (size_t i = 0; i < num_elems; ++i) {
        const float v = val_dist(rng);
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
      return bytes;
    case GgmlType::kF16:
      for (size_t i = 0; i < num_elems; ++i)
        PutU16(bytes.data() + 2 * i, Fp32ToFp16(val_dist(rng)));
      return bytes;
    case GgmlType::kBF16:
      for (size_t i = 0; i < num_elems; ++i)
        PutU16(bytes.data() + 2 * i, Fp32ToBf16(val_dist(rng)));
      return bytes;
    default:
      break;
  }
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte_dist(rng));
  const size_t num_blocks = bytes.size() / traits.block_bytes;
  for (size_t blk_idx = 0; blk_idx < num_blocks; ++blk_idx) {
    uint8_t* blk = bytes.data() + blk_idx * traits.block_bytes;
    switch (type) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
      case GgmlType::kQ5_0:
        PutU16(blk, SmallHalf(rng));
        break;
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
        PutU16(blk, SmallHalf(rng));
        PutU16(blk + 2, SmallHalf(rng));
        break;
      case GgmlType::kQ6_K:
        PutU16(blk + 208, SmallHalf(rng));
        break;
      default:
        ADD_FAILURE() << "no scale layout for " << Name(type);
    }
  }
  return bytes;
}

// GGUF bytes padded to a 16-byte multiple for upload (MatVec may read the aligned 16-byte word
// that holds the last byte).
std::vector<uint8_t> Padded16(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> padded(bytes);
  padded.resize((bytes.size() + 15) / 16 * 16 + 16, 0);
  return padded;
}

std::vector<float> DequantRows(GgmlType type, const std::vector<uint8_t>& bytes, int64_t num_rows,
                               int64_t num_cols) {
  std::vector<float> out(static_cast<size_t>(num_rows * num_cols));
  const size_t row_bytes = RowBytes(type, num_cols);
  for (int64_t row = 0; row < num_rows; ++row) {
    ref::DequantizeRow(type, bytes.data() + row * row_bytes, out.data() + row * num_cols, num_cols);
  }
  return out;
}

// ref[r, o] = sum_c x[r, c] * w[o, c] in float64.
std::vector<float> RefMatMul(const std::vector<float>& x, const std::vector<float>& w,
                             int64_t num_rows, int64_t num_out, int64_t num_cols) {
  std::vector<float> out(static_cast<size_t>(num_rows * num_out));
  for (int64_t r = 0; r < num_rows; ++r) {
    for (int64_t o = 0; o < num_out; ++o) {
      double sum = 0;
      for (int64_t c = 0; c < num_cols; ++c) {
        sum += static_cast<double>(x[r * num_cols + c]) * w[o * num_cols + c];
      }
      out[r * num_out + o] = static_cast<float>(sum);
    }
  }
  return out;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Splits a [num_rows, stride] download into the [num_rows, num_out] values and checks that the
// padding columns still hold the poison.
std::vector<float> Unpad(const std::vector<float>& padded, int64_t num_rows, int64_t num_out,
                         int64_t stride, const std::string& what) {
  std::vector<float> out(static_cast<size_t>(num_rows * num_out));
  int64_t num_touched = 0;
  for (int64_t r = 0; r < num_rows; ++r) {
    for (int64_t c = 0; c < stride; ++c) {
      const float v = padded[r * stride + c];
      if (c < num_out) {
        out[r * num_out + c] = v;
      } else if (Bits(v) != kPoisonBits) {
        ++num_touched;
      }
    }
  }
  EXPECT_EQ(num_touched, 0) << what << ": padding columns written";
  return out;
}

struct Case {
  GgmlType type;
  int64_t num_out, num_cols, num_rows;
};

// Column counts each type can hold: K-quants need multiples of 256, legacy quants of 32, the
// kernels want multiples of 8 for float rows.
std::vector<int64_t> ColsFor(GgmlType type) {
  if (GetTypeTraits(type).block_elems == 256) return {256, 2816};
  if (GetTypeTraits(type).block_elems == 32) return {96, 640, 2816};
  return {8, 96, 2816};
}

void RunMatVecCase(const std::vector<Case>& cases, std::mt19937& rng) {
  // All cases share num_rows and num_cols (they are targets of one call).
  const int64_t num_rows = cases[0].num_rows, num_cols = cases[0].num_cols;
  const std::vector<float> x = cuda_test::RandomFloats(num_rows * num_cols, rng);
  DeviceBuffer<float> x_dev(x);
  MatVecParams p{};
  p.x = x_dev.get();
  p.num_rows = num_rows;
  p.num_cols = num_cols;
  p.num_targets = static_cast<int32_t>(cases.size());
  std::vector<std::vector<uint8_t>> weights;
  std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> w_devs;  // DeviceBuffer cannot move
  std::vector<std::unique_ptr<DeviceBuffer<float>>> outs;
  for (size_t t = 0; t < cases.size(); ++t) {
    const Case& c = cases[t];
    weights.push_back(RandomRows(c.type, c.num_out, num_cols, rng));
    w_devs.push_back(std::make_unique<DeviceBuffer<uint8_t>>(Padded16(weights.back())));
    const int64_t stride = c.num_out + 1 + static_cast<int64_t>(t);  // padding to stay poisoned
    outs.push_back(std::make_unique<DeviceBuffer<float>>(static_cast<size_t>(num_rows * stride)));
    p.targets[t] = MatVecTarget{w_devs.back()->get(),
                                outs.back()->get(),
                                c.num_out,
                                stride,
                                RowBytes(c.type, num_cols),
                                c.type};
  }
  MatVec(p, nullptr);
  GS_CUDA_CHECK(cudaDeviceSynchronize());
  for (size_t t = 0; t < cases.size(); ++t) {
    const Case& c = cases[t];
    const std::string what = Name(c.type) + " out=" + std::to_string(c.num_out) +
                             " cols=" + std::to_string(num_cols) +
                             " rows=" + std::to_string(num_rows) + " target=" + std::to_string(t);
    const std::vector<float> w = DequantRows(c.type, weights[t], c.num_out, num_cols);
    const std::vector<float> ref = RefMatMul(x, w, num_rows, c.num_out, num_cols);
    const std::vector<float> got =
        Unpad(outs[t]->Download(), num_rows, c.num_out, p.targets[t].out_stride, what);
    EXPECT_LT(RelError(got, ref), 1e-4) << what;
  }
}

TEST(MatVecCuda, SupportsExactlyTheDecodedTypes) {
  for (GgmlType type : kAllTypes) EXPECT_TRUE(MatVecSupports(type)) << Name(type);
  EXPECT_FALSE(MatVecSupports(GgmlType::kQ2_K));
  EXPECT_FALSE(MatVecSupports(GgmlType::kIQ4_XS));
}

TEST(MatVecCuda, EveryTypeAndSizeMatchesF64Reference) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(1234);
  for (GgmlType type : kAllTypes) {
    for (int64_t num_cols : ColsFor(type)) {
      for (int64_t num_out : {1, 17, 1023}) {
        // Every row count on the small shapes; the large one samples each kernel bucket.
        const std::vector<int64_t> row_counts = num_out == 1023 || num_cols > 1000
                                                    ? std::vector<int64_t>{1, 2, 3, 8}
                                                    : std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8};
        for (int64_t num_rows : row_counts) {
          RunMatVecCase({{type, num_out, num_cols, num_rows}}, rng);
        }
      }
    }
  }
}

TEST(MatVecCuda, SeveralTargetsShareX) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(99);
  for (int64_t num_rows : {1, 4, 7, 8}) {
    // q/k/v-like: one type, different widths.
    RunMatVecCase({{GgmlType::kQ4_K, 1024, 2816, num_rows},
                   {GgmlType::kQ4_K, 17, 2816, num_rows},
                   {GgmlType::kQ4_K, 513, 2816, num_rows}},
                  rng);
    // Mixed types (Q4_K_M files mix Q4_K and Q6_K): one launch per type, same x.
    RunMatVecCase({{GgmlType::kQ6_K, 300, 512, num_rows},
                   {GgmlType::kQ8_0, 1, 512, num_rows},
                   {GgmlType::kQ6_K, 65, 512, num_rows},
                   {GgmlType::kBF16, 129, 512, num_rows}},
                  rng);
    RunMatVecCase({{GgmlType::kQ5_0, 33, 640, num_rows}, {GgmlType::kQ4_0, 31, 640, num_rows}},
                  rng);
  }
}

// Gathered rows are ref::DequantizeRow times the scale, bit for bit: this pins quant_cuda.cuh's
// decoders to the reference for every type.
TEST(DequantizeRowsCuda, GatherIsBitExact) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(7);
  const std::vector<int32_t> ids = {5, 0, 5, 11, 3, 3, 0, 9, 1};  // repeated, out of order
  const int64_t num_table_rows = 12;
  for (GgmlType type : kAllTypes) {
    for (int64_t num_cols : ColsFor(type)) {
      const std::vector<uint8_t> table = RandomRows(type, num_table_rows, num_cols, rng);
      DeviceBuffer<uint8_t> table_dev(Padded16(table));
      DeviceBuffer<int32_t> ids_dev(ids);
      const int64_t num_rows = static_cast<int64_t>(ids.size());
      DeviceBuffer<float> out(static_cast<size_t>(num_rows * num_cols));
      const float scale = 61.9677f;  // ~sqrt(3840), Gemma's embedding scale
      DequantizeRows({table_dev.get(), type, RowBytes(type, num_cols), num_table_rows,
                      ids_dev.get(), num_rows, num_cols, scale, out.get()},
                     nullptr);
      const std::vector<float> got = out.Download();
      const std::vector<float> all = DequantRows(type, table, num_table_rows, num_cols);
      int64_t num_diff = 0;
      for (int64_t i = 0; i < num_rows; ++i) {
        for (int64_t c = 0; c < num_cols; ++c) {
          const float want = all[ids[i] * num_cols + c] * scale;
          if (Bits(got[i * num_cols + c]) != Bits(want)) ++num_diff;
        }
      }
      EXPECT_EQ(num_diff, 0) << Name(type) << " cols=" << num_cols;
    }
  }
}

TEST(DequantizeRowsCuda, OutOfRangeIdGivesNaN) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(8);
  const std::vector<uint8_t> table = RandomRows(GgmlType::kQ8_0, 4, 64, rng);
  DeviceBuffer<uint8_t> table_dev(Padded16(table));
  DeviceBuffer<int32_t> ids_dev(std::vector<int32_t>{4, 1});
  DeviceBuffer<float> out(2 * 64);
  out.Upload(std::vector<float>(2 * 64, 0.f));
  DequantizeRows({table_dev.get(), GgmlType::kQ8_0, RowBytes(GgmlType::kQ8_0, 64), 4, ids_dev.get(),
                  2, 64, 1.f, out.get()},
                 nullptr);
  const std::vector<float> got = out.Download();
  for (int c = 0; c < 64; ++c) {
    EXPECT_TRUE(std::isnan(got[c]));
    EXPECT_FALSE(std::isnan(got[64 + c]));
  }
}

TEST(DequantizeToBf16Cuda, BitExactWithReferenceRounding) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(11);
  for (GgmlType type : kAllTypes) {
    for (int64_t num_cols : ColsFor(type)) {
      const int64_t num_rows = 37;
      const std::vector<uint8_t> w = RandomRows(type, num_rows, num_cols, rng);
      DeviceBuffer<uint8_t> w_dev(Padded16(w));
      DeviceBuffer<uint16_t> out(static_cast<size_t>(num_rows * num_cols));
      DequantizeToBf16({w_dev.get(), type, RowBytes(type, num_cols), num_rows, num_cols, out.get()},
                       nullptr);
      const std::vector<uint16_t> got = out.Download();
      const std::vector<float> ref = DequantRows(type, w, num_rows, num_cols);
      int64_t num_diff = 0;
      for (size_t i = 0; i < ref.size(); ++i) num_diff += got[i] != Fp32ToBf16(ref[i]);
      EXPECT_EQ(num_diff, 0) << Name(type) << " cols=" << num_cols;
    }
  }
}

TEST(F32ToBf16Cuda, BitExactAlignedAndUnaligned) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(12);
  for (int64_t num_elems : {1, 7, 4096, 100003}) {
    std::vector<float> in = cuda_test::RandomFloats(num_elems + 1, rng, -1e4f, 1e4f);
    in[0] = INFINITY;
    if (num_elems > 2) in[2] = -0.f;
    DeviceBuffer<float> in_dev(in);
    DeviceBuffer<uint16_t> out(num_elems + 1);
    for (int offset : {0, 1}) {  // offset 1: neither pointer 16/8-byte aligned, scalar path
      out.Poison();
      const int64_t n = num_elems + 1 - offset;
      F32ToBf16({in_dev.get() + offset, out.get() + offset, n}, nullptr);
      const std::vector<uint16_t> got = out.Download();
      int64_t num_diff = 0;
      for (int64_t i = 0; i < n; ++i) num_diff += got[offset + i] != Fp32ToBf16(in[offset + i]);
      EXPECT_EQ(num_diff, 0) << "n=" << n << " offset=" << offset;
    }
  }
}

TEST(GemmBf16Cuda, MatchesF64ReferenceOnBf16Inputs) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(13);
  GemmBf16 gemm;
  for (int64_t m : {1, 17, 513}) {
    for (int64_t n : {17, 1024}) {
      for (int64_t k : {256, 640}) {
        std::vector<uint16_t> x_bits(m * k), w_bits(n * k);
        std::vector<float> x(m * k), w(n * k);
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        for (int64_t i = 0; i < m * k; ++i) {
          x_bits[i] = Fp32ToBf16(dist(rng));
          x[i] = Bf16ToFp32(x_bits[i]);
        }
        for (int64_t i = 0; i < n * k; ++i) {
          w_bits[i] = Fp32ToBf16(dist(rng));
          w[i] = Bf16ToFp32(w_bits[i]);
        }
        DeviceBuffer<uint16_t> x_dev(x_bits), w_dev(w_bits);
        const int64_t ldo = n + 5;
        DeviceBuffer<float> out(static_cast<size_t>(m * ldo));
        gemm.Run(x_dev.get(), w_dev.get(), out.get(), m, n, k, ldo, nullptr);
        const std::string what =
            "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
        const std::vector<float> got = Unpad(out.Download(), m, n, ldo, what);
        // bf16 operands are exact; only f32 accumulation differs from the f64 sum (~1e-6; an
        // output rounded to bf16 would show ~2e-3).
        EXPECT_LT(RelError(got, RefMatMul(x, w, m, n, k)), 1e-4) << what;
      }
    }
  }
}

// The prefill path end to end: Q4_K weights -> bf16, f32 activations -> bf16, cuBLASLt.
TEST(GemmBf16Cuda, PrefillPathFromQuantizedWeights) {
  GS_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(14);
  const int64_t m = 33, n = 300, k = 512;
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0}) {
    const std::vector<uint8_t> w = RandomRows(type, n, k, rng);
    DeviceBuffer<uint8_t> w_dev(Padded16(w));
    const std::vector<float> x = cuda_test::RandomFloats(m * k, rng);
    DeviceBuffer<float> x_dev(x);
    DeviceBuffer<uint16_t> x_bf16(m * k), w_bf16(n * k);
    DeviceBuffer<float> out(m * n);
    F32ToBf16({x_dev.get(), x_bf16.get(), m * k}, nullptr);
    DequantizeToBf16({w_dev.get(), type, RowBytes(type, k), n, k, w_bf16.get()}, nullptr);
    GemmBf16 gemm;
    gemm.Run(x_bf16.get(), w_bf16.get(), out.get(), m, n, k, n, nullptr);
    const std::vector<float> ref = RefMatMul(x, DequantRows(type, w, n, k), m, n, k);
    EXPECT_LT(RelError(out.Download(), ref), 1e-2) << Name(type);
  }
}

}  // namespace
}  // namespace gs::cuda
