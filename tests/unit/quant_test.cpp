// Reference (de)quantization and dot products against hand-built blocks, the reference dot
// products against dequantized float math, and every kernel this CPU runs (scalar and SIMD)
// against the reference, against llama.cpp's float order and, as dot tiles, against its own
// single-row dots. Layouts and formulas: ggml's ggml-quants.c.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ios>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/quant_types.h"
#include "kernels/ref/quant_ref.h"

namespace gs {
namespace {

using Bytes = std::vector<uint8_t>;
using T = GgmlType;

// ---- Helpers ---------------------------------------------------------------------------------

// Writes an fp16 field; hand-built test values are exact in fp16.
void PutHalf(Bytes& b, size_t offset, float v) {
  const uint16_t h = Fp32ToFp16(v);
  ASSERT_EQ(Fp16ToFp32(h), v) << "not exact in fp16";
  std::memcpy(&b[offset], &h, sizeof h);
}

void PutF32(Bytes& b, size_t offset, float v) { std::memcpy(&b[offset], &v, sizeof v); }

void PutI8(Bytes& b, size_t offset, std::initializer_list<int> values) {
  for (int v : values) b[offset++] = static_cast<uint8_t>(static_cast<int8_t>(v));
}

float GetHalf(const Bytes& b, size_t offset) { return Fp16ToFp32(LoadU16(&b[offset])); }
float GetF32(const Bytes& b, size_t offset) { return LoadF32(&b[offset]); }

Bytes ZeroBlocks(T type, int64_t num_blocks) {
  return Bytes(static_cast<size_t>(num_blocks * GetTypeTraits(type).block_bytes), 0);
}

std::vector<float> Dequant(T type, const Bytes& row) {
  const TypeTraits& t = GetTypeTraits(type);
  const int64_t n = static_cast<int64_t>(row.size()) / t.block_bytes * t.block_elems;
  std::vector<float> out(static_cast<size_t>(n));
  ref::DequantizeRow(type, row.data(), out.data(), n);
  return out;
}

void ExpectValues(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

Bytes Quantize(T act_type, const std::vector<float>& x) {
  const TypeTraits& t = GetTypeTraits(act_type);
  const int64_t n = static_cast<int64_t>(x.size());
  Bytes out(static_cast<size_t>(n / t.block_elems * t.block_bytes), 0xab);  // garbage
  ref::QuantizeRow(act_type, x.data(), out.data(), n);
  return out;
}

// ---- Dequantization of hand-built blocks -------------------------------------------------------

TEST(DequantizeTest, FloatTypes) {
  Bytes f16(10);
  const uint16_t halves[5] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000};
  std::memcpy(f16.data(), halves, sizeof halves);
  const auto got16 = Dequant(T::kF16, f16);
  ExpectValues(got16, {1.0f, -2.0f, 0x1p-24f, 65504.0f, -0.0f});
  EXPECT_TRUE(std::signbit(got16[4]));

  Bytes bf16(6);
  const uint16_t bhalves[3] = {0x3f80, 0xc040, 0x4049};
  std::memcpy(bf16.data(), bhalves, sizeof bhalves);
  ExpectValues(Dequant(T::kBF16, bf16), {1.0f, -3.0f, 3.140625f});

  Bytes f32(8);
  PutF32(f32, 0, 1.5f);
  PutF32(f32, 4, -1e-30f);
  ExpectValues(Dequant(T::kF32, f32), {1.5f, -1e-30f});
}

// Split-half order: qs[j] = j (low nibble, element j) | 15 - j (high nibble, element j + 16).
void FillSplitHalfRamp(Bytes& b, size_t qs_offset) {
  for (int j = 0; j < 16; ++j) b[qs_offset + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
}

TEST(DequantizeTest, Q4_0) {
  Bytes b = ZeroBlocks(T::kQ4_0, 1);
  PutHalf(b, 0, 0.5f);
  FillSplitHalfRamp(b, 2);
  // 0.5 * (nibble - 8).
  ExpectValues(Dequant(T::kQ4_0, b),
               {-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0,  0.5,  1,  1.5,  2,  2.5,  3, 3.5, 3.5,
                3,  2.5,  2,  1.5,  1,  0.5,  0,  -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4});
}

TEST(DequantizeTest, Q4_1) {
  Bytes b = ZeroBlocks(T::kQ4_1, 1);
  PutHalf(b, 0, 0.25f);
  PutHalf(b, 2, -1.0f);
  FillSplitHalfRamp(b, 4);
  // 0.25 * nibble - 1.
  ExpectValues(Dequant(T::kQ4_1, b),
               {-1,   -0.75, -0.5, -0.25, 0,    0.25, 0.5,   0.75, 1,     1.25, 1.5,
                1.75, 2,     2.25, 2.5,   2.75, 2.75, 2.5,   2.25, 2,     1.75, 1.5,
                1.25, 1,     0.75, 0.5,   0.25, 0,    -0.25, -0.5, -0.75, -1});
}

TEST(DequantizeTest, Q5_0) {
  Bytes b = ZeroBlocks(T::kQ5_0, 1);
  PutHalf(b, 0, 2.0f);
  const uint32_t qh = 0x80800001u;  // high bits of elements 0, 23 and 31
  std::memcpy(&b[2], &qh, 4);
  b[6 + 0] = 0x3a;                      // element 0: 10, element 16: 3
  b[6 + 7] = 0x0f;                      // element 7: 15, element 23: 0
  b[6 + 15] = 0xf0;                     // element 15: 0, element 31: 15
  std::vector<float> want(32, -32.0f);  // 2 * (0 - 16)
  want[0] = 20;                         // 2 * ((10 | 16) - 16)
  want[16] = -26;                       // 2 * (3 - 16)
  want[7] = -2;                         // 2 * (15 - 16)
  want[23] = 0;                         // 2 * ((0 | 16) - 16)
  want[31] = 30;                        // 2 * ((15 | 16) - 16)
  ExpectValues(Dequant(T::kQ5_0, b), want);
}

TEST(DequantizeTest, Q5_1) {
  Bytes b = ZeroBlocks(T::kQ5_1, 1);
  PutHalf(b, 0, 0.5f);
  PutHalf(b, 2, 1.0f);
  const uint32_t qh = 0x80000020u;  // elements 5 and 31
  std::memcpy(&b[4], &qh, 4);
  b[8 + 5] = 0x21;                    // element 5: 1, element 21: 2
  b[8 + 15] = 0xf0;                   // element 15: 0, element 31: 15
  std::vector<float> want(32, 1.0f);  // 0.5 * 0 + 1
  want[5] = 9.5;                      // 0.5 * 17 + 1
  want[21] = 2;                       // 0.5 * 2 + 1
  want[31] = 16.5;                    // 0.5 * 31 + 1
  ExpectValues(Dequant(T::kQ5_1, b), want);
}

TEST(DequantizeTest, Q8_0AndQ8_1) {
  Bytes b = ZeroBlocks(T::kQ8_0, 1);
  PutHalf(b, 0, 0.125f);
  PutI8(b, 2, {-128, 127, -1});
  PutI8(b, 33, {64});
  std::vector<float> want(32, 0.0f);
  want[0] = -16;
  want[1] = 15.875;
  want[2] = -0.125;
  want[31] = 8;
  ExpectValues(Dequant(T::kQ8_0, b), want);

  Bytes b1 = ZeroBlocks(T::kQ8_1, 1);
  PutHalf(b1, 0, 0.5f);
  PutHalf(b1, 2, 7.0f);  // s: not part of the values
  PutI8(b1, 4 + 3, {-7});
  std::vector<float> want1(32, 0.0f);
  want1[3] = -3.5;
  ExpectValues(Dequant(T::kQ8_1, b1), want1);
}

TEST(DequantizeTest, IQ4_NL) {
  EXPECT_EQ(
      std::vector<int>(std::begin(ref::kIq4NlValues), std::end(ref::kIq4NlValues)),
      (std::vector<int>{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}));
  Bytes b = ZeroBlocks(T::kIQ4_NL, 1);
  PutHalf(b, 0, 0.5f);
  FillSplitHalfRamp(b, 2);
  // 0.5 * K[nibble], K = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89,
  // 113}.
  ExpectValues(Dequant(T::kIQ4_NL, b),
               {-63.5, -52,  -41.5, -32.5, -24.5, -17.5, -11,   -5,    0.5,  6.5,  12.5,
                19,    26.5, 34.5,  44.5,  56.5,  56.5,  44.5,  34.5,  26.5, 19,   12.5,
                6.5,   0.5,  -5,    -11,   -17.5, -24.5, -32.5, -41.5, -52,  -63.5});
}

TEST(DequantizeTest, Q2_K) {
  Bytes b = ZeroBlocks(T::kQ2_K, 1);
  b[3] = 0x52;             // group 3: scale 2, min 5
  b[9] = 0x1f;             // group 9: scale 15, min 1
  b[16 + 16] = 0x0c;       // qs[16]: shift 2 -> element 48 (group 3) = 3
  b[16 + 32 + 20] = 0x82;  // qs[52]: shift 0 -> element 148 (group 9) = 2; shift 6 -> 244 = 2
  PutHalf(b, 80, 0.5f);
  PutHalf(b, 82, 0.25f);
  std::vector<float> want(256, 0.0f);                // groups with scale 0 and min 0
  for (int e = 48; e < 64; ++e) want[e] = -1.25f;    // 0.5 * 2 * 0 - 0.25 * 5
  for (int e = 144; e < 160; ++e) want[e] = -0.25f;  // 0.5 * 15 * 0 - 0.25 * 1
  want[48] = 1.75f;                                  // 0.5 * 2 * 3 - 1.25
  want[148] = 14.75f;                                // 0.5 * 15 * 2 - 0.25
  ExpectValues(Dequant(T::kQ2_K, b), want);
}

TEST(DequantizeTest, Q3_K) {
  Bytes b = ZeroBlocks(T::kQ3_K, 1);
  uint8_t* hmask = &b[0];
  uint8_t* qs = &b[32];
  uint8_t* s = &b[96];
  s[0] = 0x05;  // group 0 low4 = 5
  s[8] = 0x02;  // group 0 high2 = 2 -> (5 | 32) - 32 = 5
  s[5] = 0x30;  // group 13 low4 = hi4(s[5]) = 3
  s[9] = 0x40;  // group 13 high2 = (s[9] >> 6) & 3 = 1 -> (3 | 16) - 32 = -13
  PutHalf(b, 108, 0.5f);
  hmask[0] = 0x01;                      // element 0: high bit set
  qs[0] = 0x03;                         // element 0: low 3 -> q = 3 + 4 - 4 = 3
  qs[1] = 0x01;                         // element 1: low 1, high bit clear -> q = -3
  hmask[18] = 0x40;                     // element 210 (half 1, shift 2, l 18): high bit set
  qs[50] = 0x20;                        // element 210: low 2 -> q = 2
  qs[51] = 0x30;                        // element 211: low 3, high bit clear -> q = -1
  std::vector<float> want(256, 64.0f);  // 0.5 * -32 * -4 everywhere else
  for (int e = 0; e < 16; ++e) want[e] = -10.0f;    // 0.5 * 5 * -4
  for (int e = 208; e < 224; ++e) want[e] = 26.0f;  // 0.5 * -13 * -4
  want[0] = 7.5f;                                   // 0.5 * 5 * 3
  want[1] = -7.5f;                                  // 0.5 * 5 * -3
  want[210] = -13.0f;                               // 0.5 * -13 * 2
  want[211] = 6.5f;                                 // 0.5 * -13 * -1
  ExpectValues(Dequant(T::kQ3_K, b), want);
}

// Q4_K/Q5_K scales: sub-block 1 via the j < 4 branch (sc 3, mn 4), sub-block 5 via the j >= 4
// branch (sc = 2 | 3 << 4 = 50, mn = 7 | 2 << 4 = 39); every other scale and min is 0.
void PutK4Scales(Bytes& b) {
  b[4 + 1] = 0xc3;  // sc_1 = 3; top bits 3 -> sc_5 bits 4-5
  b[4 + 5] = 0x84;  // mn_1 = 4; top bits 2 -> mn_5 bits 4-5
  b[4 + 9] = 0x72;  // sc_5 low 4 = 2, mn_5 low 4 = 7
  PutHalf(b, 0, 0.5f);
  PutHalf(b, 2, 0.25f);
}

TEST(DequantizeTest, Q4_K) {
  Bytes b = ZeroBlocks(T::kQ4_K, 1);
  PutK4Scales(b);
  b[16 + 8] = 0x90;        // element 8 (sub-block 0) = 0, element 40 (sub-block 1) = 9
  b[16 + 64 + 10] = 0xf0;  // element 138 (sub-block 4) = 0, element 170 (sub-block 5) = 15
  std::vector<float> want(256, 0.0f);
  for (int e = 32; e < 64; ++e) want[e] = -1.0f;     // 0.5 * 3 * 0 - 0.25 * 4
  for (int e = 160; e < 192; ++e) want[e] = -9.75f;  // 0.5 * 50 * 0 - 0.25 * 39
  want[40] = 12.5f;                                  // 0.5 * 3 * 9 - 1
  want[170] = 365.25f;                               // 0.5 * 50 * 15 - 9.75
  ExpectValues(Dequant(T::kQ4_K, b), want);
}

TEST(DequantizeTest, Q5_K) {
  Bytes b = ZeroBlocks(T::kQ5_K, 1);
  PutK4Scales(b);
  b[16 + 0] = 0x01;        // qh[0] bit 0: element 0 (scale 0) - no effect
  b[16 + 8] = 0x02;        // qh[8] bit 1: element 40 gets +16
  b[16 + 11] = 0x20;       // qh[11] bit 5: element 171 gets +16
  b[48 + 8] = 0x90;        // element 40 low 4 = 9
  b[48 + 64 + 10] = 0xf0;  // element 170 low 4 = 15
  std::vector<float> want(256, 0.0f);
  for (int e = 32; e < 64; ++e) want[e] = -1.0f;
  for (int e = 160; e < 192; ++e) want[e] = -9.75f;
  want[40] = 36.5f;     // 0.5 * 3 * 25 - 1
  want[170] = 365.25f;  // 0.5 * 50 * 15 - 9.75
  want[171] = 390.25f;  // 0.5 * 50 * 16 - 9.75
  ExpectValues(Dequant(T::kQ5_K, b), want);
}

TEST(DequantizeTest, Q6_K) {
  Bytes b = ZeroBlocks(T::kQ6_K, 1);
  uint8_t* ql = &b[0];
  uint8_t* qh = &b[128];
  for (int g = 0; g < 16; ++g) b[192 + g] = 1;
  PutI8(b, 192 + 2, {-3});  // group 2: negative scale
  PutI8(b, 192 + 11, {4});
  PutHalf(b, 208, 0.5f);
  ql[37] = 0x0a;   // element 37 (quarter 1 of half 0, l 5): low 10
  qh[5] = 0x0c;    // element 37: high 3 -> (10 | 48) - 32 = 26
  ql[116] = 0x03;  // element 180 (quarter 1 of half 1, l 20): low 3, high 0 -> -29
  ql[117] = 0x70;  // element 245 (quarter 3 of half 1, l 21): low 7
  qh[53] = 0x80;   // element 245: high 2 -> (7 | 32) - 32 = 7
  std::vector<float> want(256, -16.0f);              // 0.5 * 1 * -32
  for (int e = 32; e < 48; ++e) want[e] = 48.0f;     // 0.5 * -3 * -32
  for (int e = 176; e < 192; ++e) want[e] = -64.0f;  // 0.5 * 4 * -32
  want[37] = -39.0f;                                 // 0.5 * -3 * 26
  want[180] = -58.0f;                                // 0.5 * 4 * -29
  want[245] = 3.5f;                                  // 0.5 * 1 * 7
  ExpectValues(Dequant(T::kQ6_K, b), want);
}

TEST(DequantizeTest, IQ4_XS) {
  Bytes b = ZeroBlocks(T::kIQ4_XS, 1);
  PutHalf(b, 0, 0.5f);
  const uint16_t scales_h = 0x0081;  // sub-block 0 high 1; sub-block 3 high 2
  std::memcpy(&b[2], &scales_h, 2);
  b[4 + 1] = 0x50;       // scales_l: sub-block 3 low 5 (sub-block 2 low 0)
  b[8 + 1] = 0x21;       // sub-block 0: value 1 = K[1], value 17 = K[2]
  b[8 + 48 + 2] = 0x9f;  // sub-block 3: value 98 = K[15], value 114 = K[9]
  // dl: sub-block 0: 0.5 * (16 - 32) = -8; 3: 0.5 * (37 - 32) = 2.5; others 0.5 * -32 = -16.
  std::vector<float> want(256, 2032.0f);             // -16 * K[0] = -16 * -127
  for (int e = 0; e < 32; ++e) want[e] = 1016.0f;    // -8 * -127
  for (int e = 96; e < 128; ++e) want[e] = -317.5f;  // 2.5 * -127
  want[1] = 832.0f;                                  // -8 * -104
  want[17] = 664.0f;                                 // -8 * -83
  want[98] = 282.5f;                                 // 2.5 * 113
  want[114] = 32.5f;                                 // 2.5 * 13
  ExpectValues(Dequant(T::kIQ4_XS, b), want);
}

TEST(DequantizeTest, Q8_K) {
  Bytes b = ZeroBlocks(T::kQ8_K, 1);
  PutF32(b, 0, 0.25f);
  PutI8(b, 4, {-127});
  PutI8(b, 4 + 255, {100});
  std::vector<float> want(256, 0.0f);
  want[0] = -31.75f;
  want[255] = 25.0f;
  ExpectValues(Dequant(T::kQ8_K, b), want);
}

// ---- Activation quantizers -----------------------------------------------------------------

std::vector<int> QuantsOf(const Bytes& b, size_t offset, int count) {
  std::vector<int> q;
  for (int i = 0; i < count; ++i) q.push_back(static_cast<int8_t>(b[offset + i]));
  return q;
}

// amax 127 gives 127/amax = 1 exactly, so the scaled values keep their halves.
std::vector<float> Q8_0TieBlock() {
  std::vector<float> x(32, 0.25f);
  const float head[8] = {127, -63.5f, 0.5f, -0.5f, 2.5f, -2.5f, 1.49f, -126.5f};
  std::copy(std::begin(head), std::end(head), x.begin());
  return x;
}

TEST(QuantizeTest, Q8_0RoundsHalfToEven) {
  std::vector<float> x = Q8_0TieBlock();
  // Second block: amax 25.4 -> d = 0.2 (stored as fp16), q = round(x * 127 / 25.4).
  std::vector<float> second(32, 0.0f);
  second[0] = 25.4f;
  second[1] = 1.0f;
  second[2] = -12.0f;
  x.insert(x.end(), second.begin(), second.end());
  x.insert(x.end(), 32, 0.0f);  // third block: all zero
  const Bytes b = Quantize(T::kQ8_0, x);
  EXPECT_EQ(LoadU16(&b[0]), 0x3c00);                     // d = 1
  std::vector<int> want(32, 0);                          // 0.25 -> 0
  const int head[8] = {127, -64, 0, 0, 2, -2, 1, -126};  // ties to even
  std::copy(std::begin(head), std::end(head), want.begin());
  EXPECT_EQ(QuantsOf(b, 2, 32), want);
  EXPECT_EQ(LoadU16(&b[34]), Fp32ToFp16(25.4f / 127.0f));
  EXPECT_EQ(QuantsOf(b, 36, 3), (std::vector<int>{127, 5, -60}));
  EXPECT_EQ(LoadU16(&b[68]), 0);
  EXPECT_EQ(QuantsOf(b, 70, 32), std::vector<int>(32, 0));
}

TEST(QuantizeTest, Q8_1AddsScaledSum) {
  const Bytes b = Quantize(T::kQ8_1, Q8_0TieBlock());
  EXPECT_EQ(GetHalf(b, 0), 1.0f);
  // Σq = 127 - 64 + 0 + 0 + 2 - 2 + 1 - 126 = -62.
  EXPECT_EQ(GetHalf(b, 2), -62.0f);
  EXPECT_EQ(QuantsOf(b, 4, 8), (std::vector<int>{127, -64, 0, 0, 2, -2, 1, -126}));
}

TEST(QuantizeTest, Q8_KRoundsHalfToEvenWithSignedMax) {
  // Largest magnitude first reached by a negative value: iscale = -127 / -127 = 1, d = 1.
  std::vector<float> x(256, 0.0f);
  const float head[6] = {2.5f, 3.5f, -0.5f, 0.5f, 1.5f, -2.5f};
  std::copy(std::begin(head), std::end(head), x.begin());
  x[10] = -127;
  x[11] = 127;  // same magnitude, later: not the max
  x[16] = 5;
  // Second block: first max is positive, so the quants flip sign: iscale = -127/4 = -31.75.
  std::vector<float> second(256, 0.0f);
  second[0] = 4;
  second[1] = -4;
  second[2] = 1;
  x.insert(x.end(), second.begin(), second.end());
  const Bytes b = Quantize(T::kQ8_K, x);
  EXPECT_EQ(GetF32(b, 0), 1.0f);
  std::vector<int> want(256, 0);
  const int want_head[6] = {2, 4, 0, 0, 2, -2};
  std::copy(std::begin(want_head), std::end(want_head), want.begin());
  want[10] = -127;
  want[11] = 127;
  want[16] = 5;
  EXPECT_EQ(QuantsOf(b, 4, 256), want);
  int16_t bsums[16];
  std::memcpy(bsums, &b[260], sizeof bsums);
  EXPECT_EQ(bsums[0], 6);  // 2 + 4 + 2 - 2 - 127 + 127
  EXPECT_EQ(bsums[1], 5);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(bsums[g], 0) << g;

  EXPECT_EQ(GetF32(b, 292), 1.0f / (-127.0f / 4.0f));
  EXPECT_EQ(QuantsOf(b, 292 + 4, 4), (std::vector<int>{-127, 127, -32, 0}));  // -31.75 -> -32
  std::memcpy(bsums, &b[292 + 260], sizeof bsums);
  EXPECT_EQ(bsums[0], -32);
}

TEST(QuantizeTest, ZeroBlocksClearEverything) {
  const std::vector<float> zeros(256, 0.0f);
  for (T type : {T::kQ8_0, T::kQ8_1, T::kQ8_K}) {
    const Bytes b = Quantize(type, zeros);  // starts as 0xab garbage
    EXPECT_EQ(b, Bytes(b.size(), 0)) << GetTypeTraits(type).name;
  }
}

TEST(QuantizeTest, F32IsACopy) {
  const std::vector<float> x = {1.5f, -2.25f, 3e-20f};
  const Bytes b = Quantize(T::kF32, x);
  EXPECT_EQ(std::memcmp(b.data(), x.data(), b.size()), 0);
}

// ---- Hand-computed dot products ------------------------------------------------------------

TEST(VecDotTest, HandComputed) {
  // Q8_0 x Q8_0: 0.5 * 0.25 * Σ (e + 1) * (-1)^e = 0.125 * -16.
  Bytes w = ZeroBlocks(T::kQ8_0, 1), a = ZeroBlocks(T::kQ8_0, 1);
  PutHalf(w, 0, 0.5f);
  PutHalf(a, 0, 0.25f);
  for (int e = 0; e < 32; ++e) {
    w[2 + e] = static_cast<uint8_t>(e + 1);
    a[2 + e] = static_cast<uint8_t>(e % 2 ? -1 : 1);
  }
  EXPECT_EQ(ref::VecDot(T::kQ8_0, w.data(), a.data(), 32), -2.0f);

  // Q4_1 x Q8_1: d·a.d·Σq·aq + m·a.s = 1 * 0.5 * 32 + 2 * 3 (a.s taken as stored).
  Bytes w1 = ZeroBlocks(T::kQ4_1, 1), a1 = ZeroBlocks(T::kQ8_1, 1);
  PutHalf(w1, 0, 1.0f);
  PutHalf(w1, 2, 2.0f);
  for (int j = 0; j < 16; ++j) w1[4 + j] = 0x11;
  PutHalf(a1, 0, 0.5f);
  PutHalf(a1, 2, 3.0f);
  for (int e = 0; e < 32; ++e) a1[4 + e] = 1;
  EXPECT_EQ(ref::VecDot(T::kQ4_1, w1.data(), a1.data(), 32), 22.0f);

  // Q4_K x Q8_K: the mins come from a.bsums, not from a.qs: every value is 1 with scale 1 and
  // min 1, all activations 2, but bsums claim 10 per group: 8 * 32 * 2 - 8 * 1 * 20 = 352.
  Bytes w2 = ZeroBlocks(T::kQ4_K, 1), a2 = ZeroBlocks(T::kQ8_K, 1);
  PutHalf(w2, 0, 1.0f);
  PutHalf(w2, 2, 1.0f);
  for (int i = 0; i < 8; ++i) w2[4 + i] = 1;
  w2[4 + 8] = w2[4 + 9] = w2[4 + 10] = w2[4 + 11] = 0x11;
  for (int i = 0; i < 128; ++i) w2[16 + i] = 0x11;
  PutF32(a2, 0, 1.0f);
  for (int e = 0; e < 256; ++e) a2[4 + e] = 2;
  for (int g = 0; g < 16; ++g) a2[260 + 2 * g] = 10;
  EXPECT_EQ(ref::VecDot(T::kQ4_K, w2.data(), a2.data(), 256), 352.0f);
}

// ---- Random data -----------------------------------------------------------------------------

const T kWeightTypes[] = {T::kF32,  T::kF16,  T::kBF16, T::kQ4_0,   T::kQ4_1,
                          T::kQ5_0, T::kQ5_1, T::kQ8_0, T::kQ2_K,   T::kQ3_K,
                          T::kQ4_K, T::kQ5_K, T::kQ6_K, T::kIQ4_NL, T::kIQ4_XS};

// Offsets of the fp16 scale fields in each block, which must hold finite values.
std::vector<size_t> HalfFields(T type) {
  switch (type) {
    case T::kQ4_1:
    case T::kQ5_1:
    case T::kQ4_K:
    case T::kQ5_K:
      return {0, 2};
    case T::kQ2_K:
      return {80, 82};
    case T::kQ3_K:
      return {108};
    case T::kQ6_K:
      return {208};
    default:
      return {0};
  }
}

std::vector<float> RandomFloats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

// A random row of n values: random bytes with sane fp16 scales (or random floats).
Bytes RandomWeightRow(T type, int64_t n, std::mt19937& rng) {
  const TypeTraits& t = GetTypeTraits(type);
  Bytes row(static_cast<size_t>(n / t.block_elems * t.block_bytes));
  if (type == T::kF32 || type == T::kF16 || type == T::kBF16) {
    const std::vector<float> x = RandomFloats(n, rng);
    for (int64_t i = 0; i < n; ++i) {
      if (type == T::kF32) std::memcpy(&row[4 * i], &x[i], 4);
      const uint16_t h = type == T::kF16 ? Fp32ToFp16(x[i]) : Fp32ToBf16(x[i]);
      if (type != T::kF32) std::memcpy(&row[2 * i], &h, 2);
    }
    return row;
  }
  std::uniform_int_distribution<int> byte_dist(0, 255);
  for (uint8_t& byte : row) byte = static_cast<uint8_t>(byte_dist(rng));
  std::uniform_real_distribution<float> scale_dist(-0.02f, 0.02f);
  for (size_t blk = 0; blk < row.size() / t.block_bytes; ++blk) {
    for (size_t offset : HalfFields(type)) {
      const uint16_t h = Fp32ToFp16(scale_dist(rng));
      std::memcpy(&row[blk * t.block_bytes + offset], &h, 2);
    }
  }
  return row;
}

// Activation rows: random values with a per-block magnitude spanning several decades.
std::vector<float> RandomActivations(int64_t n, std::mt19937& rng) {
  std::vector<float> x = RandomFloats(n, rng);
  std::uniform_int_distribution<int> exp_dist(-6, 6);
  for (int64_t i = 0; i < n; i += 32) {
    const float s = std::ldexp(1.0f, exp_dist(rng));
    for (int64_t k = i; k < i + 32 && k < n; ++k) x[k] *= s;
  }
  return x;
}

std::string Describe(T type, int64_t n) {
  return std::string(GetTypeTraits(type).name) + " n=" + std::to_string(n);
}

// Σ|w_e·a_e| over dequantized values: the scale that float rounding errors are relative to.
double AbsDotBound(T type, const Bytes& w, const Bytes& act) {
  const std::vector<float> wf = Dequant(type, w);
  const std::vector<float> af = Dequant(GetTypeTraits(type).vec_dot_type, act);
  double bound = 0;
  for (size_t i = 0; i < wf.size(); ++i) bound += std::fabs(static_cast<double>(wf[i]) * af[i]);
  return bound;
}

// VecDot(ref) = Σ dequant(w)·dequant(quant(a)) up to float rounding. For Q4_1/Q5_1 the min term
// uses the stored a.s = fp16(d·Σq), not Σ of the dequantized activations, so the expectation
// swaps that term in per block.
TEST(VecDotTest, RefMatchesDequantizedMath) {
  std::mt19937 rng(1);
  for (T type : kWeightTypes) {
    const TypeTraits& t = GetTypeTraits(type);
    const T act_type = t.vec_dot_type;
    const int64_t act_elems = GetTypeTraits(act_type).block_elems;
    const int64_t unit = std::max(t.block_elems, act_elems);
    for (int64_t num_units : {1, 3, 8}) {
      const int64_t n = num_units * unit;
      const Bytes w = RandomWeightRow(type, n, rng);
      const std::vector<float> x = RandomActivations(n, rng);
      const Bytes act = Quantize(act_type, x);
      const std::vector<float> wf = Dequant(type, w);
      const std::vector<float> af = Dequant(act_type, act);
      double want = 0, bound = 0;
      for (int64_t i = 0; i < n; ++i) {
        want += static_cast<double>(wf[i]) * af[i];
        bound += std::fabs(static_cast<double>(wf[i]) * af[i]);
      }
      if (act_type == T::kQ8_1) {
        for (int64_t blk = 0; blk < n / 32; ++blk) {
          double act_sum = 0;
          for (int64_t i = 32 * blk; i < 32 * blk + 32; ++i) act_sum += af[i];
          const double m = GetHalf(w, blk * t.block_bytes + 2);
          want += m * (GetHalf(act, blk * 36 + 2) - act_sum);
        }
      }
      const float got = ref::VecDot(type, w.data(), act.data(), n);
      EXPECT_NEAR(got, want, 1e-5 * bound + 1e-9) << Describe(type, n);
    }
  }
}

// ---- SIMD kernels against the reference ------------------------------------------------------

class IsaTest : public ::testing::TestWithParam<cpu::Isa> {
 protected:
  void SetUp() override {
    if (!cpu::CpuSupports(GetParam())) GTEST_SKIP() << "CPU lacks " << cpu::IsaName(GetParam());
  }
};

INSTANTIATE_TEST_SUITE_P(AllIsas, IsaTest,
                         ::testing::Values(cpu::Isa::kScalar, cpu::Isa::kAvx2,
                                           cpu::Isa::kAvx512Vnni),
                         [](const auto& info) { return std::string(cpu::IsaName(info.param)); });

// Awkward sizes: 1, 3, 7, 17 (and 33 for 32-value types) blocks, plus the model's 640 and 2048.
std::vector<int64_t> TestSizes(int64_t block_elems) {
  std::vector<int64_t> sizes;
  for (int64_t blocks : {1, 3, 7, 17}) sizes.push_back(blocks * block_elems);
  if (block_elems == 1) {
    for (int64_t n : {31, 33, 65}) sizes.push_back(n);
  }
  if (block_elems <= 32) sizes.push_back(33 * block_elems);
  if (640 % block_elems == 0) sizes.push_back(640);
  sizes.push_back(2048);
  return sizes;
}

TEST_P(IsaTest, VecDotMatchesRef) {
  std::mt19937 rng(2);
  int num_kernels = 0;
  for (T type : kWeightTypes) {
    const cpu::VecDotFn fn = cpu::GetVecDotFor(GetParam(), type);
    if (fn == nullptr) continue;
    ++num_kernels;
    const T act_type = GetTypeTraits(type).vec_dot_type;
    const int64_t unit =
        std::max(GetTypeTraits(type).block_elems, GetTypeTraits(act_type).block_elems);
    for (int64_t n : TestSizes(unit)) {
      const Bytes w = RandomWeightRow(type, n, rng);
      const Bytes act = Quantize(act_type, RandomActivations(n, rng));
      const double bound = AbsDotBound(type, w, act);
      const float want = ref::VecDot(type, w.data(), act.data(), n);
      EXPECT_NEAR(fn(w.data(), act.data(), n), want, 1e-5 * bound + 1e-9) << Describe(type, n);
    }
  }
  if (GetParam() == cpu::Isa::kScalar) {
    EXPECT_EQ(num_kernels, static_cast<int>(std::size(kWeightTypes)));
  }
}

// Extreme codes: Q8_0 weights of -128 and activations of ±127 in every lane, which is where
// maddubs-style pair sums come closest to saturating.
TEST_P(IsaTest, Q8_0ExtremeCodes) {
  const cpu::VecDotFn fn = cpu::GetVecDotFor(GetParam(), T::kQ8_0);
  if (fn == nullptr) GTEST_SKIP();
  Bytes w = ZeroBlocks(T::kQ8_0, 2), a = ZeroBlocks(T::kQ8_0, 2);
  for (int blk = 0; blk < 2; ++blk) {
    PutHalf(w, 34 * blk, 1.0f);
    PutHalf(a, 34 * blk, 1.0f);
    for (int e = 0; e < 32; ++e) {
      w[34 * blk + 2 + e] = static_cast<uint8_t>(blk == 0 ? -128 : (e % 2 ? 127 : -128));
      a[34 * blk + 2 + e] = static_cast<uint8_t>(e % 3 ? 127 : -127);
    }
  }
  EXPECT_EQ(fn(w.data(), a.data(), 64), ref::VecDot(T::kQ8_0, w.data(), a.data(), 64));
}

// ---- Float summation order -------------------------------------------------------------------
//
// The model is chaotic in float summation order: a last-bit change in one dot product can flip a
// later 8-bit activation rounding and grow to tenths of a logit. So the kernels of the model's
// weight types all follow one order, llama.cpp's x86 one (for logits as close to llama.cpp's as
// possible), on every ISA, scalar included (so that the machine never changes the output). The
// models below spell that order out independently of the kernels (from dequantized values); the
// kernels must match them bit for bit.

const T kOrderedTypes[] = {T::kQ8_0, T::kQ5_0, T::kQ4_0, T::kQ4_K, T::kQ6_K};

// 1, 3, 7 and 17 blocks, then those of the model's widths that are whole blocks.
std::vector<int64_t> OrderTestSizes(int64_t block_elems) {
  std::vector<int64_t> sizes;
  for (int64_t blocks : {1, 3, 7, 17}) sizes.push_back(blocks * block_elems);
  for (int64_t n : {640, 1024, 2048}) {
    if (n % block_elems == 0) sizes.push_back(n);
  }
  return sizes;
}

// Bit-for-bit equality (so 0 and -0 differ), printing both values exactly on failure.
void ExpectSameBits(float got, float want, const std::string& what) {
  EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
      << what << ": " << std::hexfloat << got << " vs " << want;
}

// The row dequantized with every block's fp16 scale fields (in HalfFields order) set to `scales`.
// With d = 1 (and dmin = 0) the values are the integer quants times their sub-block scales, which
// float holds exactly.
std::vector<float> DequantWithScales(T type, Bytes row, std::initializer_list<float> scales) {
  const int64_t block_bytes = GetTypeTraits(type).block_bytes;
  const std::vector<size_t> fields = HalfFields(type);
  for (size_t blk = 0; blk < row.size() / block_bytes; ++blk) {
    size_t i = 0;
    for (float s : scales) PutHalf(row, blk * block_bytes + fields[i++], s);
  }
  return Dequant(type, row);
}

int Int8At(const Bytes& b, size_t offset) { return static_cast<int8_t>(b[offset]); }

int Int16At(const Bytes& b, size_t offset) {
  int16_t v;
  std::memcpy(&v, &b[offset], sizeof v);
  return v;
}

// An 8-lane accumulator's final sum, in llama.cpp's association.
float ReduceLanes(const float acc[8]) {
  float r[4];
  for (int i = 0; i < 4; ++i) r[i] = acc[i + 4] + acc[i];
  const float s0 = r[0] + r[2], s1 = r[1] + r[3];
  return s0 + s1;
}

// Q8_0, Q5_0, Q4_0 x Q8_0: per block, lane k sums the products of elements 4k..4k+3 (signed
// weight quants) and acc[k] = fma(w.d * a.d, lane k, acc[k]).
float OrderModel32(T type, const Bytes& w, const Bytes& act, int64_t n) {
  const std::vector<float> q = DequantWithScales(type, w, {1.0f});
  const int64_t w_bytes = GetTypeTraits(type).block_bytes;
  float acc[8] = {};
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    const float d = GetHalf(w, blk * w_bytes) * GetHalf(act, blk * 34);
    for (int k = 0; k < 8; ++k) {
      int lane = 0;
      for (int e = 4 * k; e < 4 * k + 4; ++e) {
        lane += static_cast<int>(q[32 * blk + e]) * Int8At(act, blk * 34 + 2 + e);
      }
      acc[k] = std::fma(d, static_cast<float>(lane), acc[k]);
    }
  }
  return ReduceLanes(acc);
}

// Q4_K x Q8_K: one exact integer per block for the scaled quants and one for the mins, each
// accumulated in its own float by fma; their difference at the end.
float OrderModelQ4_K(const Bytes& w, const Bytes& act, int64_t n) {
  const std::vector<float> scaled_q = DequantWithScales(T::kQ4_K, w, {1.0f, 0.0f});  // sc * q
  const std::vector<float> neg_min = DequantWithScales(T::kQ4_K, w, {0.0f, 1.0f});   // -mn
  float acc = 0, acc_min = 0;
  for (int64_t blk = 0; blk < n / 256; ++blk) {
    const size_t a_blk = blk * 292;
    int isum = 0, imin = 0;
    for (int e = 0; e < 256; ++e) {
      isum += static_cast<int>(scaled_q[256 * blk + e]) * Int8At(act, a_blk + 4 + e);
    }
    for (int j = 0; j < 8; ++j) {
      const int bsum_pair = Int16At(act, a_blk + 260 + 4 * j) + Int16At(act, a_blk + 262 + 4 * j);
      imin -= static_cast<int>(neg_min[256 * blk + 32 * j]) * bsum_pair;
    }
    const float a_d = GetF32(act, a_blk);
    acc = std::fma(static_cast<float>(isum), GetHalf(w, blk * 144) * a_d, acc);
    acc_min = std::fma(static_cast<float>(imin), GetHalf(w, blk * 144 + 2) * a_d, acc_min);
  }
  return acc - acc_min;
}

// Q6_K x Q8_K: lane k sums, over the block's eight 32-value chunks, scale * unsigned quant (q +
// 32) * activation for chunk elements 4k..4k+3, less 32 * Σ scale * bsum over groups 2k and
// 2k + 1; then acc[k] = fma(a.d * w.d, lane k, acc[k]).
float OrderModelQ6_K(const Bytes& w, const Bytes& act, int64_t n) {
  const std::vector<float> scaled_q = DequantWithScales(T::kQ6_K, w, {1.0f});  // sc * q
  float acc[8] = {};
  for (int64_t blk = 0; blk < n / 256; ++blk) {
    const size_t w_blk = blk * 210, a_blk = blk * 292;
    const auto scale = [&](int group) { return Int8At(w, w_blk + 192 + group); };
    const float d = GetF32(act, a_blk) * GetHalf(w, w_blk + 208);
    for (int k = 0; k < 8; ++k) {
      int lane = 0;
      for (int chunk = 0; chunk < 8; ++chunk) {
        for (int e = 32 * chunk + 4 * k; e < 32 * chunk + 4 * k + 4; ++e) {
          const int scaled_u = static_cast<int>(scaled_q[256 * blk + e]) + 32 * scale(e / 16);
          lane += scaled_u * Int8At(act, a_blk + 4 + e);
        }
      }
      lane -= 32 * (Int16At(act, a_blk + 260 + 4 * k) * scale(2 * k) +
                    Int16At(act, a_blk + 262 + 4 * k) * scale(2 * k + 1));
      acc[k] = std::fma(d, static_cast<float>(lane), acc[k]);
    }
  }
  return ReduceLanes(acc);
}

float OrderModel(T type, const Bytes& w, const Bytes& act, int64_t n) {
  switch (type) {
    case T::kQ4_K:
      return OrderModelQ4_K(w, act, n);
    case T::kQ6_K:
      return OrderModelQ6_K(w, act, n);
    default:
      return OrderModel32(type, w, act, n);
  }
}

// Calls each(type, n, w, act) for random rows of every ordered type and size.
template <typename Each>
void ForOrderCases(Each each) {
  std::mt19937 rng(4);
  for (T type : kOrderedTypes) {
    const T act_type = GetTypeTraits(type).vec_dot_type;
    for (int64_t n : OrderTestSizes(GetTypeTraits(type).block_elems)) {
      for (int trial = 0; trial < 4; ++trial) {
        each(type, n, RandomWeightRow(type, n, rng), Quantize(act_type, RandomActivations(n, rng)));
      }
    }
  }
}

TEST_P(IsaTest, VecDotFollowsLlamaCppOrder) {
  ForOrderCases([this](T type, int64_t n, const Bytes& w, const Bytes& act) {
    const cpu::VecDotFn fn = cpu::GetVecDotFor(GetParam(), type);
    ASSERT_NE(fn, nullptr) << GetTypeTraits(type).name;
    ExpectSameBits(fn(w.data(), act.data(), n), OrderModel(type, w, act, n), Describe(type, n));
  });
}

TEST(VecDotTest, AllIsasAgreeBitwise) {
  std::vector<cpu::Isa> isas;
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512Vnni}) {
    if (cpu::CpuSupports(isa)) isas.push_back(isa);
  }
  if (isas.size() < 2) GTEST_SKIP() << "this CPU runs only the scalar kernels";
  ForOrderCases([&](T type, int64_t n, const Bytes& w, const Bytes& act) {
    const float want = cpu::GetVecDotFor(cpu::Isa::kScalar, type)(w.data(), act.data(), n);
    for (cpu::Isa isa : isas) {
      const cpu::VecDotFn fn = cpu::GetVecDotFor(isa, type);
      ASSERT_NE(fn, nullptr) << GetTypeTraits(type).name << " on " << cpu::IsaName(isa);
      ExpectSameBits(fn(w.data(), act.data(), n), want,
                     Describe(type, n) + " on " + cpu::IsaName(isa));
    }
  });
}

// ---- Dot tiles -------------------------------------------------------------------------------

// Every tile shape up to the maximum, on sub-matrices at every row offset of a random matrix
// whose rows are padded with garbage bytes: each output has the single-row dot's bits, and
// nothing outside the tile's outputs is written.
TEST_P(IsaTest, DotTilesMatchSingleRowDot) {
  constexpr int kMaxW = cpu::kDotTileMaxWeightRows, kMaxA = cpu::kDotTileMaxActRows;
  // Odd padding for the byte-addressed quant rows; F32 activation rows are float arrays, so their
  // stride keeps 4-byte alignment.
  constexpr size_t kPadBytes = 5;
  constexpr int64_t kOutStride = kMaxW + 3;
  const float poison = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 rng(5);
  for (T type : kWeightTypes) {
    const cpu::VecDotFn dot = cpu::GetVecDotFor(GetParam(), type);
    const cpu::DotTileFn tile = cpu::GetDotTileFor(GetParam(), type);
    ASSERT_EQ(dot == nullptr, tile == nullptr) << GetTypeTraits(type).name;
    if (tile == nullptr) continue;
    const T act_type = GetTypeTraits(type).vec_dot_type;
    const int64_t unit =
        std::max(GetTypeTraits(type).block_elems, GetTypeTraits(act_type).block_elems);
    for (int64_t n : TestSizes(unit)) {
      // kMaxW + 1 weight rows and kMaxA + 1 activation rows, so tiles also start at row 1.
      const size_t w_row_bytes = RowBytes(type, n) + kPadBytes;
      const size_t act_row_bytes =
          RowBytes(act_type, n) + (act_type == GgmlType::kF32 ? 2 * sizeof(float) : kPadBytes);
      Bytes w, act;
      for (int i = 0; i <= kMaxW; ++i) {
        const Bytes row = RandomWeightRow(type, n, rng);
        w.insert(w.end(), row.begin(), row.end());
        w.insert(w.end(), kPadBytes, 0xee);
      }
      for (int r = 0; r <= kMaxA; ++r) {
        const Bytes row = Quantize(act_type, RandomActivations(n, rng));
        act.insert(act.end(), row.begin(), row.end());
        act.insert(act.end(), kPadBytes, 0xee);
      }
      for (int num_w_rows = 1; num_w_rows <= kMaxW; ++num_w_rows) {
        for (int num_act_rows = 1; num_act_rows <= kMaxA; ++num_act_rows) {
          const int w_first = num_w_rows % 2, act_first = num_act_rows % 2;
          std::vector<float> out(kMaxA * kOutStride, poison);
          tile(&w[w_first * w_row_bytes], w_row_bytes, num_w_rows, &act[act_first * act_row_bytes],
               act_row_bytes, num_act_rows, n, out.data(), kOutStride);
          for (int r = 0; r < kMaxA; ++r) {
            for (int i = 0; i < kOutStride; ++i) {
              const std::string what = Describe(type, n) + " tile " + std::to_string(num_w_rows) +
                                       "x" + std::to_string(num_act_rows) + " out (" +
                                       std::to_string(i) + ", " + std::to_string(r) + ")";
              if (i >= num_w_rows || r >= num_act_rows) {
                ASSERT_TRUE(std::isnan(out[r * kOutStride + i])) << what << " written";
                continue;
              }
              const float want =
                  dot(&w[(w_first + i) * w_row_bytes], &act[(act_first + r) * act_row_bytes], n);
              ExpectSameBits(out[r * kOutStride + i], want, what);
            }
          }
        }
      }
    }
  }
}

TEST_P(IsaTest, QuantizersMatchRefBytes) {
  std::mt19937 rng(3);
  for (T act_type : {T::kF32, T::kQ8_0, T::kQ8_1, T::kQ8_K}) {
    const cpu::QuantizeRowFn fn = cpu::GetQuantizeRowFor(GetParam(), act_type);
    if (fn == nullptr) continue;
    for (int64_t n : TestSizes(GetTypeTraits(act_type).block_elems)) {
      const std::vector<float> x = RandomActivations(n, rng);
      Bytes got = Quantize(act_type, x);
      std::fill(got.begin(), got.end(), 0xcd);
      fn(x.data(), got.data(), n);
      EXPECT_EQ(got, Quantize(act_type, x)) << Describe(act_type, n);
    }
  }
}

// Values landing exactly on .5 after scaling, zero blocks and repeated maxima of both signs: the
// SIMD quantizers round ties like the reference (half to even, with the same scale arithmetic),
// so they match it byte for byte even here.
TEST_P(IsaTest, QuantizersMatchRefOnTies) {
  std::vector<float> x;
  // Halves in [-125.5, 126.5], with ±127 at each 32-value block start so that 127/amax = 1.
  for (int i = 0; i < 256; ++i) x.push_back(static_cast<float>((i * 37) % 253 - 126) + 0.5f);
  for (int i = 0; i < 256; i += 32) x[i] = (i / 32) % 2 ? 127.0f : -127.0f;
  x.insert(x.end(), 256, 0.0f);
  std::vector<float> repeated(256, 3.0f);
  repeated[7] = -3.0f;
  x.insert(x.end(), repeated.begin(), repeated.end());
  const int64_t n = static_cast<int64_t>(x.size());
  for (T act_type : {T::kQ8_0, T::kQ8_1, T::kQ8_K}) {
    const cpu::QuantizeRowFn fn = cpu::GetQuantizeRowFor(GetParam(), act_type);
    if (fn == nullptr) continue;
    Bytes got = Quantize(act_type, x);
    std::fill(got.begin(), got.end(), 0xcd);
    fn(x.data(), got.data(), n);
    EXPECT_EQ(got, Quantize(act_type, x)) << GetTypeTraits(act_type).name;
  }
}

TEST(DispatchTest, FallsBackToAnImplementation) {
  const cpu::Isa active = cpu::ActiveIsa();
  EXPECT_TRUE(cpu::CpuSupports(active));
  if (const char* cap = std::getenv("GS_CPU_ISA")) {
    for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512Vnni}) {
      if (std::string(cap) == cpu::IsaName(isa)) {
        EXPECT_LE(active, isa);
      }
    }
  }
  for (T type : kWeightTypes) {
    EXPECT_NE(cpu::GetVecDot(type), nullptr) << GetTypeTraits(type).name;
    EXPECT_NE(cpu::GetDotTile(type), nullptr) << GetTypeTraits(type).name;
  }
  for (T type : {T::kF32, T::kQ8_0, T::kQ8_1, T::kQ8_K}) {
    EXPECT_NE(cpu::GetQuantizeRow(type), nullptr) << GetTypeTraits(type).name;
  }
  EXPECT_EQ(cpu::GetVecDot(T::kQ8_K), nullptr);
  EXPECT_EQ(cpu::GetVecDot(T::kIQ2_XXS), nullptr);
  EXPECT_EQ(cpu::GetDotTile(T::kQ8_K), nullptr);
  EXPECT_EQ(cpu::GetDotTile(T::kIQ2_XXS), nullptr);
  EXPECT_EQ(cpu::GetQuantizeRow(T::kQ4_0), nullptr);
  // The hot types have a SIMD kernel wherever the CPU has AVX2.
  if (cpu::CpuSupports(cpu::Isa::kAvx2)) {
    for (T type : {T::kQ8_0, T::kQ5_0, T::kQ4_K, T::kQ6_K, T::kQ4_0}) {
      EXPECT_NE(cpu::GetVecDotFor(cpu::Isa::kAvx2, type), nullptr) << GetTypeTraits(type).name;
      if (cpu::CpuSupports(cpu::Isa::kAvx512Vnni)) {
        EXPECT_NE(cpu::GetVecDotFor(cpu::Isa::kAvx512Vnni, type), nullptr)
            << GetTypeTraits(type).name;
      }
    }
  }
}

}  // namespace
}  // namespace gs
