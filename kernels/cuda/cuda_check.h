// Error checks for CUDA runtime and cuBLAS calls. A failed call is a broken invariant (bad launch
// configuration, device lost, out of memory at start-up), so it aborts with the call's text.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <cuda_runtime_api.h>

#define GS_CUDA_CHECK(expr)                                                                 \
  do {                                                                                      \
    const cudaError_t gs_cuda_err = (expr);                                                 \
    if (gs_cuda_err != cudaSuccess) {                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                    \
                   cudaGetErrorString(gs_cuda_err));                                        \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

// After every launch: a bad configuration is reported here, not at the next synchronization.
#define GS_CUDA_CHECK_LAUNCH() GS_CUDA_CHECK(cudaGetLastError())

#define GS_CUBLAS_CHECK(expr)                                                               \
  do {                                                                                      \
    const int gs_cublas_status = static_cast<int>(expr);                                    \
    if (gs_cublas_status != 0) {                                                            \
      std::fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #expr,      \
                   gs_cublas_status);                                                       \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
