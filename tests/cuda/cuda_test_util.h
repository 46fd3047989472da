// Shared pieces of the CUDA kernel tests: skip without a device, device buffers that start
// poisoned (so an unwritten element fails the comparison), bf16 round trips and error norms.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace gs::cuda_test {

inline bool HasDevice() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// First statement of every test that launches a kernel.
#define GS_REQUIRE_CUDA_DEVICE() \
  if (!::gs::cuda_test::HasDevice()) GTEST_SKIP() << "no CUDA device"

// A device array of T, filled with poison bytes (0xFF: NaN for floats, -1 for ints) at creation.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t count) : count_(count) {
    GS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes() == 0 ? 1 : bytes()));
    GS_CUDA_CHECK(cudaMemset(ptr_, 0xFF, bytes()));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { Upload(host); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  void Upload(const std::vector<T>& host) {
    GS_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  void Poison() { GS_CUDA_CHECK(cudaMemset(ptr_, 0xFF, bytes())); }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    GS_CUDA_CHECK(cudaDeviceSynchronize());
    GS_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* ptr_ = nullptr;
  size_t count_;
};

inline uint16_t F32ToBf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}
inline float Bf16ToF32(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// ‖out − ref‖ / ‖ref‖, infinite when out holds a NaN (an unwritten, poisoned element).
inline double RelError(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (double{out[i]} - ref[i]) * (double{out[i]} - ref[i]);
    den += double{ref[i]} * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

}  // namespace gs::cuda_test
