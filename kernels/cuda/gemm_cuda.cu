// Prefill-sized products. The dequantization kernels are memory-bound element maps: one thread per
// 32-value segment (8 for float types) decodes with quant_cuda.cuh's ref-exact decoders and writes
// 64-128 contiguous bytes; blocks of 256 threads, a grid-stride loop over segments. The product
// itself is cuBLASLt's (bf16 tensor cores, f32 accumulation), planned once per shape.
#include <cublasLt.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/quant_cuda.cuh"

namespace gs::cuda {
namespace {

constexpr int kThreads = 256;

[[noreturn]] void Fail(const char* fn, const char* what) {
  std::fprintf(stderr, "gs::cuda::%s: %s\n", fn, what);
  std::abort();
}

bool Aligned(const void* ptr, uintptr_t bytes) {
  return (reinterpret_cast<uintptr_t>(ptr) & (bytes - 1)) == 0;
}

// Enough blocks to fill the device a few times over; the kernels loop over the rest.
unsigned GridFor(int64_t num_items) {
  const int64_t blocks = (num_items + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

void CheckRows(const char* fn, GgmlType type, size_t row_bytes, int64_t num_cols) {
  if (!DequantSupports(type)) Fail(fn, "unsupported type");
  if (num_cols <= 0 || num_cols % 8 != 0 || num_cols % GetTypeTraits(type).block_elems != 0) {
    Fail(fn, "num_cols must be a positive multiple of 8 and of the block size");
  }
  if (row_bytes != RowBytes(type, num_cols)) Fail(fn, "row_bytes != RowBytes(type, num_cols)");
}

// Round to nearest even; NaN stays a quiet NaN (bit for bit gs::Fp32ToBf16).
__device__ __forceinline__ uint32_t Bf16Bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bits >> 16) | 0x40u;
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return bits >> 16;
}

__device__ __forceinline__ uint2 PackBf16x4(float4 v) {
  return make_uint2(Bf16Bits(v.x) | (Bf16Bits(v.y) << 16), Bf16Bits(v.z) | (Bf16Bits(v.w) << 16));
}

template <typename S>
__global__ void __launch_bounds__(kThreads) DequantizeToBf16Kernel(const DequantizeToBf16Params p) {
  const int64_t segs_per_row = p.num_cols / S::kSegElems;
  const int64_t num_segs = p.num_rows * segs_per_row;
  for (int64_t seg_idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       seg_idx < num_segs; seg_idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = seg_idx / segs_per_row, row_seg = seg_idx % segs_per_row;
    const auto* w_row = static_cast<const uint8_t*>(p.w) + static_cast<size_t>(row) * p.row_bytes;
    const S seg = RowSeg<S::kType>(w_row, row_seg);
    uint2* out = reinterpret_cast<uint2*>(p.out + row * p.num_cols + row_seg * S::kSegElems);
#pragma unroll
    for (int g = 0; g < S::kSegElems / 4; ++g) out[g] = PackBf16x4(seg.Get4(g));
  }
}

template <typename S>
__global__ void __launch_bounds__(kThreads) DequantizeRowsKernel(const DequantizeRowsParams p) {
  const int64_t segs_per_row = p.num_cols / S::kSegElems;
  const int64_t num_segs = p.num_rows * segs_per_row;
  for (int64_t seg_idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       seg_idx < num_segs; seg_idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = seg_idx / segs_per_row, row_seg = seg_idx % segs_per_row;
    const int64_t table_row = p.row_ids[row];
    float4* out = reinterpret_cast<float4*>(p.out + row * p.num_cols + row_seg * S::kSegElems);
    if (table_row < 0 || table_row >= p.num_table_rows) {  // a broken invariant made visible
      const float nan = __uint_as_float(0x7FC00000u);
#pragma unroll
      for (int g = 0; g < S::kSegElems / 4; ++g) out[g] = make_float4(nan, nan, nan, nan);
      continue;
    }
    const auto* t_row =
        static_cast<const uint8_t*>(p.table) + static_cast<size_t>(table_row) * p.row_bytes;
    const S seg = RowSeg<S::kType>(t_row, row_seg);
#pragma unroll
    for (int g = 0; g < S::kSegElems / 4; ++g) {
      const float4 v = seg.Get4(g);
      out[g] = make_float4(__fmul_rn(v.x, p.scale), __fmul_rn(v.y, p.scale),
                           __fmul_rn(v.z, p.scale), __fmul_rn(v.w, p.scale));
    }
  }
}

// Four values per thread when both pointers allow 16/8-byte accesses, one otherwise.
__global__ void __launch_bounds__(kThreads) F32ToBf16Kernel(const F32ToBf16Params p, bool vec4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  int64_t tail_begin = 0;
  if (vec4) {
    const int64_t num_vec = p.num_elems / 4;
    const float4* in = reinterpret_cast<const float4*>(p.in);
    uint2* out = reinterpret_cast<uint2*>(p.out);
    for (int64_t i = first; i < num_vec; i += stride) out[i] = PackBf16x4(in[i]);
    tail_begin = num_vec * 4;
  }
  for (int64_t i = tail_begin + first; i < p.num_elems; i += stride) {
    p.out[i] = static_cast<uint16_t>(Bf16Bits(p.in[i]));
  }
}

// Largest power of two (<= 256) dividing both the address and the row pitch in bytes: what
// cuBLASLt may assume about every column start.
uint32_t AlignmentOf(const void* ptr, int64_t ld_bytes) {
  const uintptr_t bits = reinterpret_cast<uintptr_t>(ptr) | static_cast<uintptr_t>(ld_bytes) | 256u;
  return static_cast<uint32_t>(bits & (~bits + 1));
}

}  // namespace

bool DequantSupports(GgmlType type) {
  return DispatchQuantType(type, [](auto) {});
}

void DequantizeToBf16(const DequantizeToBf16Params& p, cudaStream_t stream) {
  CheckRows("DequantizeToBf16", p.type, p.row_bytes, p.num_cols);
  if (p.num_rows < 0) Fail("DequantizeToBf16", "num_rows < 0");
  if (!Aligned(p.w, 16) || !Aligned(p.out, 16)) Fail("DequantizeToBf16", "unaligned pointer");
  if (p.num_rows == 0) return;
  DispatchQuantType(p.type, [&](auto tag) {
    using S = decltype(tag);
    DequantizeToBf16Kernel<S>
        <<<GridFor(p.num_rows * (p.num_cols / S::kSegElems)), kThreads, 0, stream>>>(p);
    GS_CUDA_CHECK_LAUNCH();
  });
}

void DequantizeRows(const DequantizeRowsParams& p, cudaStream_t stream) {
  CheckRows("DequantizeRows", p.type, p.row_bytes, p.num_cols);
  if (p.num_rows < 0) Fail("DequantizeRows", "num_rows < 0");
  if (!Aligned(p.table, 16) || !Aligned(p.out, 16)) Fail("DequantizeRows", "unaligned pointer");
  if (p.num_rows == 0) return;
  DispatchQuantType(p.type, [&](auto tag) {
    using S = decltype(tag);
    DequantizeRowsKernel<S>
        <<<GridFor(p.num_rows * (p.num_cols / S::kSegElems)), kThreads, 0, stream>>>(p);
    GS_CUDA_CHECK_LAUNCH();
  });
}

void F32ToBf16(const F32ToBf16Params& p, cudaStream_t stream) {
  if (p.num_elems <= 0) return;
  const bool vec4 = Aligned(p.in, 16) && Aligned(p.out, 8);
  F32ToBf16Kernel<<<GridFor(vec4 ? (p.num_elems + 3) / 4 : p.num_elems), kThreads, 0, stream>>>(
      p, vec4);
  GS_CUDA_CHECK_LAUNCH();
}

// cuBLASLt is column-major. Our row-major out[m, ldo] = x[m, k] · w[n, k]ᵀ is, read column-major,
// outᶜ[n, m] (ld ldo) = wᶜᵀ · xᶜ where wᶜ = w read column-major, a k x n matrix with ld k, and
// xᶜ a k x m matrix with ld k. So A = w with op T, B = x with op N, D is n x m with ld ldo.
struct GemmBf16::Impl {
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // (m, n, k, ldo, alignment of A, B, D).
  using Key = std::array<int64_t, 7>;

  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = size_t{32} << 20;  // what NVIDIA suggests for Hopper
  std::map<Key, Plan> plans;

  const Plan& GetPlan(const Key& key) {
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    const auto [m, n, k, ldo, align_a, align_b, align_d] = key;
    Plan plan;
    GS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    GS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
                                                   sizeof trans_a));
    GS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b,
                                                   sizeof trans_b));
    GS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, k, n, k));
    GS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_16BF, k, m, k));
    GS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.d, CUDA_R_32F, n, m, ldo));

    cublasLtMatmulPreference_t pref = nullptr;
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = workspace_bytes;
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    const uint32_t aligns[3] = {static_cast<uint32_t>(align_a), static_cast<uint32_t>(align_b),
                                static_cast<uint32_t>(align_d)};
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aligns[0], sizeof aligns[0]));
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &aligns[1], sizeof aligns[1]));
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &aligns[2], sizeof aligns[2]));
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &aligns[2], sizeof aligns[2]));
    cublasLtMatmulHeuristicResult_t result{};
    int num_results = 0;
    GS_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, plan.op, plan.a, plan.b, plan.d, plan.d,
                                                   pref, 1, &result, &num_results));
    GS_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    if (num_results < 1) Fail("GemmBf16", "cuBLASLt found no algorithm for the shape");
    plan.algo = result.algo;
    return plans.emplace(key, plan).first->second;
  }
};

GemmBf16::GemmBf16() : impl_(std::make_unique<Impl>()) {
  GS_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
  GS_CUDA_CHECK(cudaMalloc(&impl_->workspace, impl_->workspace_bytes));
}

GemmBf16::~GemmBf16() {
  for (auto& [key, plan] : impl_->plans) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.d);
    cublasLtMatmulDescDestroy(plan.op);
  }
  cudaFree(impl_->workspace);
  cublasLtDestroy(impl_->handle);
}

void GemmBf16::Run(const uint16_t* x, const uint16_t* w, float* out, int64_t m, int64_t n,
                   int64_t k, int64_t ldo, cudaStream_t stream) {
  if (m <= 0 || n <= 0 || k <= 0 || ldo < n) Fail("GemmBf16::Run", "bad shape");
  if (k % 8 != 0 || !Aligned(x, 16) || !Aligned(w, 16) || !Aligned(out, 16)) {
    Fail("GemmBf16::Run", "k % 8 != 0 or unaligned pointer");
  }
  const Impl::Key key = {m,
                         n,
                         k,
                         ldo,
                         AlignmentOf(w, k * 2),
                         AlignmentOf(x, k * 2),
                         AlignmentOf(out, ldo * static_cast<int64_t>(sizeof(float)))};
  const Impl::Plan& plan = impl_->GetPlan(key);
  const float alpha = 1.f, beta = 0.f;
  GS_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out,
                                 plan.d, out, plan.d, &plan.algo, impl_->workspace,
                                 impl_->workspace_bytes, stream));
}

}  // namespace gs::cuda
