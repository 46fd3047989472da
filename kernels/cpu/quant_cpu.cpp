// Run-time ISA dispatch. This file is built with the baseline flags; it only calls into the
// ISA-specific files after CpuSupports() said yes.
#include "kernels/cpu/quant_cpu.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "kernels/ref/quant_ref.h"

namespace gs::cpu {
namespace {

template <GgmlType kType>
float RefVecDot(const void* weight_row, const void* act_row, int64_t n) {
  return ref::VecDot(kType, weight_row, act_row, n);
}

template <GgmlType kType>
void RefQuantizeRow(const float* src, void* dst, int64_t n) {
  ref::QuantizeRow(kType, src, dst, n);
}

VecDotFn ScalarVecDot(GgmlType type) {
  using T = GgmlType;
  switch (type) {
    case T::kF32:
      return RefVecDot<T::kF32>;
    case T::kF16:
      return RefVecDot<T::kF16>;
    case T::kBF16:
      return RefVecDot<T::kBF16>;
    case T::kQ4_0:
      return RefVecDot<T::kQ4_0>;
    case T::kQ4_1:
      return RefVecDot<T::kQ4_1>;
    case T::kQ5_0:
      return RefVecDot<T::kQ5_0>;
    case T::kQ5_1:
      return RefVecDot<T::kQ5_1>;
    case T::kQ8_0:
      return RefVecDot<T::kQ8_0>;
    case T::kQ2_K:
      return RefVecDot<T::kQ2_K>;
    case T::kQ3_K:
      return RefVecDot<T::kQ3_K>;
    case T::kQ4_K:
      return RefVecDot<T::kQ4_K>;
    case T::kQ5_K:
      return RefVecDot<T::kQ5_K>;
    case T::kQ6_K:
      return RefVecDot<T::kQ6_K>;
    case T::kIQ4_NL:
      return RefVecDot<T::kIQ4_NL>;
    case T::kIQ4_XS:
      return RefVecDot<T::kIQ4_XS>;
    default:
      return nullptr;
  }
}

QuantizeRowFn ScalarQuantizeRow(GgmlType type) {
  using T = GgmlType;
  switch (type) {
    case T::kF32:
      return RefQuantizeRow<T::kF32>;
    case T::kQ8_0:
      return RefQuantizeRow<T::kQ8_0>;
    case T::kQ8_1:
      return RefQuantizeRow<T::kQ8_1>;
    case T::kQ8_K:
      return RefQuantizeRow<T::kQ8_K>;
    default:
      return nullptr;
  }
}

Isa BestSupportedIsa() {
  if (CpuSupports(Isa::kAvx512Vnni)) return Isa::kAvx512Vnni;
  if (CpuSupports(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa ComputeActiveIsa() {
  const Isa best = BestSupportedIsa();
  const char* env = std::getenv("GS_CPU_ISA");
  if (env == nullptr || *env == '\0') return best;
  for (Isa cap : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512Vnni}) {
    if (std::strcmp(env, IsaName(cap)) == 0) return cap < best ? cap : best;
  }
  std::fprintf(stderr, "GS_CPU_ISA=%s is not one of scalar|avx2|avx512vnni; using %s\n", env,
               IsaName(best));
  return best;
}

}  // namespace

bool CpuSupports(Isa isa) {
  // Idempotent; needed when this runs from a static initializer before libgcc's own.
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      // __builtin_cpu_supports also checks that the OS saves the wider registers.
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512Vnni:
      return CpuSupports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

Isa ActiveIsa() {
  static const Isa active = ComputeActiveIsa();  // thread-safe initialization, read once
  return active;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512Vnni:
      return "avx512vnni";
  }
  return "?";
}

VecDotFn GetVecDotFor(Isa isa, GgmlType weight_type) {
  if (!CpuSupports(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar:
      return ScalarVecDot(weight_type);
    case Isa::kAvx2:
      return internal::Avx2VecDot(weight_type);
    case Isa::kAvx512Vnni:
      return internal::Avx512VnniVecDot(weight_type);
  }
  return nullptr;
}

QuantizeRowFn GetQuantizeRowFor(Isa isa, GgmlType act_type) {
  if (!CpuSupports(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar:
      return ScalarQuantizeRow(act_type);
    case Isa::kAvx2:
      return internal::Avx2QuantizeRow(act_type);
    case Isa::kAvx512Vnni:
      return internal::Avx512VnniQuantizeRow(act_type);
  }
  return nullptr;
}

VecDotFn GetVecDot(GgmlType weight_type) {
  for (int isa = static_cast<int>(ActiveIsa()); isa >= 0; --isa) {
    if (VecDotFn fn = GetVecDotFor(static_cast<Isa>(isa), weight_type)) return fn;
  }
  return nullptr;
}

QuantizeRowFn GetQuantizeRow(GgmlType act_type) {
  for (int isa = static_cast<int>(ActiveIsa()); isa >= 0; --isa) {
    if (QuantizeRowFn fn = GetQuantizeRowFor(static_cast<Isa>(isa), act_type)) return fn;
  }
  return nullptr;
}

}  // namespace gs::cpu
