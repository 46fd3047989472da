// The ggml tensor types as GGUF stores them: ids, block geometry, and the activation format each
// weight type is multiplied against. Pure data; no engine includes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gs {

// On-disk ggml_type ids. Ids missing here were removed from the format and are rejected.
enum class GgmlType : int32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
};

struct TypeTraits {
  const char* name;
  int64_t block_elems;    // values per block; rows must be a multiple of this
  int64_t block_bytes;    // bytes per block
  bool computable;        // dequantize / dot product implemented in kernels/
  GgmlType vec_dot_type;  // activation format for dot products with a weight row of this type
};

// Traits of an on-disk type id, or nullptr for ids that are unknown or were removed.
const TypeTraits* FindTypeTraits(int32_t type_id);
// Traits of a valid type (GS_CHECK-free: the enum only holds valid ids).
const TypeTraits& GetTypeTraits(GgmlType type);

// Bytes in a row of num_elems values; num_elems must be a multiple of the block size.
inline size_t RowBytes(GgmlType type, int64_t num_elems) {
  const TypeTraits& t = GetTypeTraits(type);
  return static_cast<size_t>(num_elems / t.block_elems) * static_cast<size_t>(t.block_bytes);
}

// IEEE binary16 <-> binary32. The conversion to half rounds to nearest even.
float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);

inline float Bf16ToFp32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest even; NaN stays a quiet NaN.
inline uint16_t Fp32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Little-endian loads from unaligned block bytes (quant blocks are 17/18/22/34... bytes long).
inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace gs
