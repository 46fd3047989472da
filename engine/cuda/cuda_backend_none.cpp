// A build without the CUDA toolkit: the CUDA backend is reported absent.
#include "engine/cuda/cuda_backend.h"

namespace gs {

StatusOr<std::string> DescribeCudaDevice(int) {
  return Status::Error("this build has no CUDA backend (configured with GS_CUDA=OFF or no nvcc)");
}

CudaGraphCounts GetCudaGraphCounts(const Backend&) { return {}; }

StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const CudaBackendOptions&) {
  return Status::Error("this build has no CUDA backend (configured with GS_CUDA=OFF or no nvcc)");
}

}  // namespace gs
