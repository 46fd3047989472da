// The CUDA backend: weights uploaded once in their GGUF types, f32 activations in a device arena,
// the paged KV pool in one device allocation (bf16, or fp8 e4m3 with a scale per stored head
// row), the batch's index arrays staged through pinned host memory, products by the small-batch
// kernels straight from GGUF blocks or by cuBLASLt on bf16 for prefill-sized batches.
//
// The class lives in cuda_backend.cpp; this header compiles without the toolkit, and in a build
// without CUDA CreateCudaBackend reports that instead of a device.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/status.h"

namespace gs {

enum class KvCacheType { kBf16, kFp8 };

struct CudaBackendOptions {
  int device_idx = 0;
  KvCacheType kv_type = KvCacheType::kBf16;
  // Keep a bf16 copy of every quantized matrix beside its GGUF blocks, for products of more than
  // eight rows (prefill, large decode batches), while half the GPU's memory stays free; without
  // one a matrix is expanded per product.
  bool bf16_weights = true;
  // Decode-only steps (every sequence adds one token) are captured as CUDA graphs the second
  // time their shape occurs and replayed after that: one launch instead of ~15 per layer.
  bool cuda_graphs = true;
};

// "NVIDIA H200, 139 GiB" for the first usable device, or an error saying why there is none
// (no CUDA in this build, no driver, no device).
StatusOr<std::string> DescribeCudaDevice(int device_idx);

StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const CudaBackendOptions& options);

// Decode steps captured as CUDA graphs and replays of them so far (zeros for other backends).
struct CudaGraphCounts {
  int64_t captures = 0;
  int64_t replays = 0;
};
CudaGraphCounts GetCudaGraphCounts(const Backend& backend);

}  // namespace gs
