#include "kernels/quant_types.h"

#include <array>
#include <bit>

namespace gs {
namespace {

constexpr int kNumTypeIds = 42;

constexpr std::array<TypeTraits, kNumTypeIds> MakeTable() {
  std::array<TypeTraits, kNumTypeIds> t{};
  auto set = [&](GgmlType id, const char* name, int64_t elems, int64_t bytes, bool computable,
                 GgmlType dot) {
    t[static_cast<int>(id)] = TypeTraits{name, elems, bytes, computable, dot};
  };
  using T = GgmlType;
  set(T::kF32, "F32", 1, 4, true, T::kF32);
  set(T::kF16, "F16", 1, 2, true, T::kF32);
  set(T::kBF16, "BF16", 1, 2, true, T::kF32);
  set(T::kQ4_0, "Q4_0", 32, 18, true, T::kQ8_0);
  set(T::kQ4_1, "Q4_1", 32, 20, true, T::kQ8_1);
  set(T::kQ5_0, "Q5_0", 32, 22, true, T::kQ8_0);
  set(T::kQ5_1, "Q5_1", 32, 24, true, T::kQ8_1);
  set(T::kQ8_0, "Q8_0", 32, 34, true, T::kQ8_0);
  set(T::kQ8_1, "Q8_1", 32, 36, false, T::kQ8_1);
  set(T::kQ2_K, "Q2_K", 256, 84, true, T::kQ8_K);
  set(T::kQ3_K, "Q3_K", 256, 110, true, T::kQ8_K);
  set(T::kQ4_K, "Q4_K", 256, 144, true, T::kQ8_K);
  set(T::kQ5_K, "Q5_K", 256, 176, true, T::kQ8_K);
  set(T::kQ6_K, "Q6_K", 256, 210, true, T::kQ8_K);
  set(T::kQ8_K, "Q8_K", 256, 292, false, T::kQ8_K);
  set(T::kIQ2_XXS, "IQ2_XXS", 256, 66, false, T::kQ8_K);
  set(T::kIQ2_XS, "IQ2_XS", 256, 74, false, T::kQ8_K);
  set(T::kIQ3_XXS, "IQ3_XXS", 256, 98, false, T::kQ8_K);
  set(T::kIQ1_S, "IQ1_S", 256, 50, false, T::kQ8_K);
  set(T::kIQ4_NL, "IQ4_NL", 32, 18, true, T::kQ8_0);
  set(T::kIQ3_S, "IQ3_S", 256, 110, false, T::kQ8_K);
  set(T::kIQ2_S, "IQ2_S", 256, 82, false, T::kQ8_K);
  set(T::kIQ4_XS, "IQ4_XS", 256, 136, true, T::kQ8_K);
  set(T::kI8, "I8", 1, 1, false, T::kI8);
  set(T::kI16, "I16", 1, 2, false, T::kI16);
  set(T::kI32, "I32", 1, 4, false, T::kI32);
  set(T::kI64, "I64", 1, 8, false, T::kI64);
  set(T::kF64, "F64", 1, 8, false, T::kF64);
  set(T::kIQ1_M, "IQ1_M", 256, 56, false, T::kQ8_K);
  set(T::kTQ1_0, "TQ1_0", 256, 54, false, T::kQ8_K);
  set(T::kTQ2_0, "TQ2_0", 256, 66, false, T::kQ8_K);
  set(T::kMXFP4, "MXFP4", 32, 17, false, T::kQ8_0);
  set(T::kNVFP4, "NVFP4", 64, 36, false, T::kQ8_0);
  set(T::kQ1_0, "Q1_0", 128, 18, false, T::kQ8_0);
  return t;
}

constexpr std::array<TypeTraits, kNumTypeIds> kTable = MakeTable();

}  // namespace

const TypeTraits* FindTypeTraits(int32_t type_id) {
  if (type_id < 0 || type_id >= kNumTypeIds) return nullptr;
  const TypeTraits& t = kTable[type_id];
  return t.block_elems > 0 ? &t : nullptr;
}

const TypeTraits& GetTypeTraits(GgmlType type) { return kTable[static_cast<int>(type)]; }

float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    // Zero or subnormal: value = man * 2^-24, exact in float.
    float f = static_cast<float>(man) * 0x1p-24f;
    return sign ? -f : f;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t Fp32ToFp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // overflow (after rounding) -> inf
  if (abs < 0x38800000u) {                        // below the smallest normal half
    // Subnormal: round abs * 2^24 to nearest even in the float unit.
    const float scaled = std::bit_cast<float>(abs) * 0x1p24f;
    // Adding 2^23 forces rounding at the integer position with the FPU's nearest-even mode.
    const float r = (scaled + 0x1p23f) - 0x1p23f;
    return sign | static_cast<uint16_t>(r);
  }
  // Normal: rebias and round the 13 dropped mantissa bits to nearest even.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

}  // namespace gs
