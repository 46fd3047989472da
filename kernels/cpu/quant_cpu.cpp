// Run-time ISA dispatch. This file is built with the baseline flags; it only calls into the
// ISA-specific files after CpuSupports() said yes.
#include "kernels/cpu/quant_cpu.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace gs::cpu {
namespace {

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

namespace {

// The ISA's dot kernels for the type; empty where it has none or the CPU lacks the ISA.
internal::DotKernels DotsFor(Isa isa, GgmlType weight_type) {
  if (!CpuSupports(isa)) return {};
  switch (isa) {
    case Isa::kScalar:
      return internal::ScalarDots(weight_type);
    case Isa::kAvx2:
      return internal::Avx2Dots(weight_type);
    case Isa::kAvx512Vnni:
      return internal::Avx512VnniDots(weight_type);
  }
  return {};
}

// The kernels of the best ISA under ActiveIsa() that has the type.
internal::DotKernels BestDots(GgmlType weight_type) {
  for (int isa = static_cast<int>(ActiveIsa()); isa >= 0; --isa) {
    const internal::DotKernels kernels = DotsFor(static_cast<Isa>(isa), weight_type);
    if (kernels.dot != nullptr) return kernels;
  }
  return {};
}

}  // namespace

VecDotFn GetVecDotFor(Isa isa, GgmlType weight_type) { return DotsFor(isa, weight_type).dot; }

DotTileFn GetDotTileFor(Isa isa, GgmlType weight_type) { return DotsFor(isa, weight_type).tile; }

QuantizeRowFn GetQuantizeRowFor(Isa isa, GgmlType act_type) {
  if (!CpuSupports(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar:
      return internal::ScalarQuantizeRow(act_type);
    case Isa::kAvx2:
      return internal::Avx2QuantizeRow(act_type);
    case Isa::kAvx512Vnni:
      return internal::Avx512VnniQuantizeRow(act_type);
  }
  return nullptr;
}

VecDotFn GetVecDot(GgmlType weight_type) { return BestDots(weight_type).dot; }

DotTileFn GetDotTile(GgmlType weight_type) { return BestDots(weight_type).tile; }

QuantizeRowFn GetQuantizeRow(GgmlType act_type) {
  for (int isa = static_cast<int>(ActiveIsa()); isa >= 0; --isa) {
    if (QuantizeRowFn fn = GetQuantizeRowFor(static_cast<Isa>(isa), act_type)) return fn;
  }
  return nullptr;
}

}  // namespace gs::cpu
