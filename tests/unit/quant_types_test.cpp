// Scalar conversions (fp16, bf16) and the ggml type table, against
// ggml's type traits (ggml.c).
#include "kernels/quant_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace gs {
namespace {

// §1's closed form for a half, independent of the implementation's bit tricks.
double HalfValue(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(man, -24);
  } else if (exp == 31) {
    v = man == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(1.0 + man / 1024.0, exp - 15);
  }
  return sign ? -v : v;
}

bool IsHalfNan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Fp16Test, ExhaustiveDecodeAndRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = Fp16ToFp32(half);
    if (IsHalfNan(half)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_TRUE(IsHalfNan(Fp32ToFp16(f))) << std::hex << h;
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), HalfValue(half)) << std::hex << h;
    EXPECT_EQ(Fp32ToFp16(f), half) << std::hex << h;  // also keeps the sign of zero
  }
}

TEST(Fp16Test, RoundsToNearestEven) {
  // Normal range: the half ulp at 1.0 is 2^-10; ties go to the even mantissa.
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f), 0x3c00);             // tie, 0x3c00 is even
  EXPECT_EQ(Fp32ToFp16(1.0f + 3 * 0x1p-11f), 0x3c02);         // tie, rounds up to even
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f + 0x1p-23f), 0x3c01);  // just above the tie
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f - 0x1p-23f), 0x3c00);  // just below
  EXPECT_EQ(Fp32ToFp16(-(1.0f + 3 * 0x1p-11f)), 0xbc02);
  // Mantissa overflow into the exponent: 2 - 2^-12 rounds up to 2.0.
  EXPECT_EQ(Fp32ToFp16(2.0f - 0x1p-12f), 0x4000);
  EXPECT_EQ(Fp32ToFp16(0.1f), 0x2e66);
}

TEST(Fp16Test, OverflowInfinityNan) {
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7bff);    // largest half
  EXPECT_EQ(Fp32ToFp16(65519.996f), 0x7bff);  // below the tie with 65536
  EXPECT_EQ(Fp32ToFp16(65520.0f), 0x7c00);    // tie: 0x7bff is odd, so up to infinity
  EXPECT_EQ(Fp32ToFp16(1e10f), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(-1e10f), 0xfc00);
  EXPECT_EQ(Fp32ToFp16(INFINITY), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(-INFINITY), 0xfc00);
  EXPECT_TRUE(IsHalfNan(Fp32ToFp16(NAN)));
  EXPECT_TRUE(IsHalfNan(Fp32ToFp16(std::bit_cast<float>(0x7f800001u))));  // payload in low bits
  EXPECT_TRUE(IsHalfNan(Fp32ToFp16(std::bit_cast<float>(0xffc00000u))));
}

TEST(Fp16Test, Subnormals) {
  EXPECT_EQ(Fp32ToFp16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(Fp32ToFp16(0x1p-25f), 0x0000);  // tie with zero: even is zero
  EXPECT_EQ(Fp32ToFp16(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(Fp32ToFp16(3 * 0x1p-25f), 0x0002);         // tie between 1 and 2 ulps
  EXPECT_EQ(Fp32ToFp16(5 * 0x1p-25f), 0x0002);         // tie between 2 and 3 ulps
  EXPECT_EQ(Fp32ToFp16(0x1p-14f - 0x1p-25f), 0x0400);  // tie rounds up into the normals
  EXPECT_EQ(Fp32ToFp16(0x1p-14f), 0x0400);             // smallest normal
  EXPECT_EQ(Fp32ToFp16(-0x3ffp-24f), 0x83ff);          // largest subnormal, negative
  EXPECT_EQ(Fp32ToFp16(1e-30f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-1e-30f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(std::bit_cast<float>(1u)), 0x0000);  // float subnormal
}

// Every finite float in the half range rounds to the nearest half (ties to even), checked
// against a sorted table of all non-negative finite halves.
TEST(Fp16Test, RandomFloatsRoundToNearest) {
  std::vector<std::pair<double, uint16_t>> halves;
  for (uint16_t h = 0; h < 0x7c00; ++h) halves.emplace_back(HalfValue(h), h);
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits_dist(0, 0x477fffffu);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = bits_dist(rng);
    const double v = std::bit_cast<float>(bits);
    auto hi = std::lower_bound(halves.begin(), halves.end(), std::make_pair(v, uint16_t{0}));
    uint16_t want;
    if (hi == halves.end()) {
      want = (v - 65504.0 >= 16.0) ? 0x7c00 : 0x7bff;  // beyond the largest half
    } else if (hi->first == v || hi == halves.begin()) {
      want = hi->second;
    } else {
      const auto lo = hi - 1;
      const double d_lo = v - lo->first, d_hi = hi->first - v;
      want = d_lo < d_hi   ? lo->second
             : d_hi < d_lo ? hi->second
                           : ((lo->second & 1) ? hi->second : lo->second);
    }
    ASSERT_EQ(Fp32ToFp16(static_cast<float>(v)), want) << std::hex << bits;
    ASSERT_EQ(Fp32ToFp16(-static_cast<float>(v)), want | 0x8000) << std::hex << bits;
  }
}

TEST(Bf16Test, ExhaustiveRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToFp32(static_cast<uint16_t>(b));
    EXPECT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    const uint16_t back = Fp32ToBf16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToFp32(back))) << std::hex << b;
    } else {
      EXPECT_EQ(back, b) << std::hex << b;
    }
  }
}

TEST(Bf16Test, RoundsToNearestEvenAndKeepsNan) {
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, even above
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to inf
  // A NaN whose payload sits only in the dropped bits must not become infinity.
  EXPECT_TRUE(std::isnan(Bf16ToFp32(Fp32ToBf16(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(Bf16ToFp32(Fp32ToBf16(std::bit_cast<float>(0xff800001u)))));
}

TEST(TypeTableTest, BlockGeometryMatchesSpec) {
  struct Row {
    int id;
    const char* name;
    int64_t elems, bytes;
  };
  const Row rows[] = {
      {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
      {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
      {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
      {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
      {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
      {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
      {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
      {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
      {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
      {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
      {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},    {40, "NVFP4", 64, 36},
      {41, "Q1_0", 128, 18},
  };
  for (const Row& row : rows) {
    const TypeTraits* t = FindTypeTraits(row.id);
    ASSERT_NE(t, nullptr) << row.id;
    EXPECT_STREQ(t->name, row.name);
    EXPECT_EQ(t->block_elems, row.elems) << row.name;
    EXPECT_EQ(t->block_bytes, row.bytes) << row.name;
    EXPECT_EQ(&GetTypeTraits(static_cast<GgmlType>(row.id)), t);
  }
}

TEST(TypeTableTest, RemovedAndUnknownIdsAreRejected) {
  for (int id : {-1, 4, 5, 31, 32, 33, 36, 37, 38, 42, 1000}) {
    EXPECT_EQ(FindTypeTraits(id), nullptr) << id;
  }
}

TEST(TypeTableTest, VecDotTypesAndComputable) {
  using T = GgmlType;
  const std::pair<T, T> dots[] = {
      {T::kF32, T::kF32},   {T::kF16, T::kF32},     {T::kBF16, T::kF32},    {T::kQ4_0, T::kQ8_0},
      {T::kQ4_1, T::kQ8_1}, {T::kQ5_0, T::kQ8_0},   {T::kQ5_1, T::kQ8_1},   {T::kQ8_0, T::kQ8_0},
      {T::kQ2_K, T::kQ8_K}, {T::kQ3_K, T::kQ8_K},   {T::kQ4_K, T::kQ8_K},   {T::kQ5_K, T::kQ8_K},
      {T::kQ6_K, T::kQ8_K}, {T::kIQ4_NL, T::kQ8_0}, {T::kIQ4_XS, T::kQ8_K},
  };
  for (const auto& [weight, act] : dots) {
    const TypeTraits& t = GetTypeTraits(weight);
    EXPECT_TRUE(t.computable) << t.name;
    EXPECT_EQ(t.vec_dot_type, act) << t.name;
    // Quantized weights pair with activation blocks covering the same values (§5.1).
    if (t.block_elems > 1) {
      EXPECT_EQ(GetTypeTraits(act).block_elems, t.block_elems) << t.name;
    }
  }
  for (T t : {T::kQ8_1, T::kQ8_K, T::kIQ2_XXS, T::kMXFP4, T::kI32}) {
    EXPECT_FALSE(GetTypeTraits(t).computable) << GetTypeTraits(t).name;
  }
}

TEST(TypeTableTest, RowBytes) {
  EXPECT_EQ(RowBytes(GgmlType::kQ8_0, 640), 20u * 34u);
  EXPECT_EQ(RowBytes(GgmlType::kQ4_K, 2048), 8u * 144u);
  EXPECT_EQ(RowBytes(GgmlType::kF16, 7), 14u);
  EXPECT_EQ(RowBytes(GgmlType::kQ6_K, 0), 0u);
}

}  // namespace
}  // namespace gs
