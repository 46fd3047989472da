// CUDA matrix-product benchmark: the two ceilings (device-to-device copy bandwidth, cuBLASLt bf16
// GEMM rate) and MatVec straight from GGUF blocks at Gemma-3-12B shapes, as % of the copy.
// Prints one JSON object per line, then an aligned table. Exits 0 without a device.
//
// Timing: CUDA events around each repetition, warm-up first, median of kReps; inputs rotate among
// enough buffer sets to exceed L2 (60 MB on an H200) several times over, so the weights come
// from HBM as they do in decode.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm_cuda.h"
#include "kernels/cuda/matvec_cuda.h"
#include "kernels/quant_types.h"

namespace gs::cuda {
namespace {

constexpr int kWarmup = 3;
constexpr int kReps = 25;
constexpr size_t kRotateBytes = size_t{512} << 20;  // >= 8x L2 across the buffer sets

struct Result {
  std::string name;
  double value;
  std::string unit;
  double pct_of_ceiling;  // < 0: no ceiling
};
std::vector<Result> g_results;

void Report(const std::string& name, double value, const std::string& unit, double pct) {
  if (pct >= 0) {
    std::printf("{\"name\": \"%s\", \"value\": %.4g, \"unit\": \"%s\", \"pct_of_ceiling\": %.1f}\n",
                name.c_str(), value, unit.c_str(), pct);
  } else {
    std::printf("{\"name\": \"%s\", \"value\": %.4g, \"unit\": \"%s\", \"pct_of_ceiling\": null}\n",
                name.c_str(), value, unit.c_str());
  }
  std::fflush(stdout);
  g_results.push_back({name, value, unit, pct});
}

// Median milliseconds of run(rep_idx) over kReps, after kWarmup untimed calls.
double MedianMs(const std::function<void(int)>& run) {
  for (int i = 0; i < kWarmup; ++i) run(i);
  GS_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  GS_CUDA_CHECK(cudaEventCreate(&start));
  GS_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int i = 0; i < kReps; ++i) {
    GS_CUDA_CHECK(cudaEventRecord(start));
    run(i);
    GS_CUDA_CHECK(cudaEventRecord(stop));
    GS_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    GS_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  GS_CUDA_CHECK(cudaEventDestroy(start));
  GS_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void* DeviceAlloc(size_t bytes) {
  void* p = nullptr;
  GS_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

// Fills a device buffer by uploading a random host pattern and replicating it on the device.
void FillFromPattern(void* dst, size_t bytes, const std::vector<uint8_t>& pattern) {
  size_t done = std::min(bytes, pattern.size());
  GS_CUDA_CHECK(cudaMemcpy(dst, pattern.data(), done, cudaMemcpyHostToDevice));
  while (done < bytes) {
    const size_t n = std::min(done, bytes - done);
    GS_CUDA_CHECK(cudaMemcpy(static_cast<uint8_t*>(dst) + done, dst, n, cudaMemcpyDeviceToDevice));
    done += n;
  }
}

uint16_t SmallHalf(std::mt19937& rng) {
  return Fp32ToFp16(std::uniform_real_distribution<float>(0.01f, 0.05f)(rng));
}

// Random GGUF rows (whole rows, so the replicated pattern stays block-aligned) with sane scales.
std::vector<uint8_t> RandomRowsPattern(GgmlType type, int64_t num_cols, int64_t num_rows,
                                       std::mt19937& rng) {
  const TypeTraits& traits = GetTypeTraits(type);
  std::vector<uint8_t> bytes(RowBytes(type, num_cols) * num_rows);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte_dist(rng));
  auto put = [&](size_t off, uint16_t v) { std::memcpy(bytes.data() + off, &v, 2); };
  if (type == GgmlType::kBF16) {
    for (size_t i = 0; i < bytes.size(); i += 2) {
      put(i, Fp32ToBf16(std::uniform_real_distribution<float>(-1, 1)(rng)));
    }
    return bytes;
  }
  for (size_t off = 0; off < bytes.size(); off += traits.block_bytes) {
    switch (type) {
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
        put(off + 2, SmallHalf(rng));
        [[fallthrough]];
      case GgmlType::kQ8_0:
      case GgmlType::kQ5_0:
      case GgmlType::kQ4_0:
        put(off, SmallHalf(rng));
        break;
      case GgmlType::kQ6_K:
        put(off + 208, SmallHalf(rng));
        break;
      default:
        break;
    }
  }
  return bytes;
}

double CopyBandwidth() {
  const size_t half = size_t{2} << 30;  // 2 GiB read + 2 GiB written = a 4 GiB buffer
  void* buf = DeviceAlloc(2 * half);
  GS_CUDA_CHECK(cudaMemset(buf, 0x5A, 2 * half));
  uint8_t* a = static_cast<uint8_t*>(buf);
  const double ms = MedianMs([&](int i) {
    // Alternate direction so neither half is always the source.
    uint8_t* src = i % 2 ? a + half : a;
    uint8_t* dst = i % 2 ? a : a + half;
    GS_CUDA_CHECK(cudaMemcpyAsync(dst, src, half, cudaMemcpyDeviceToDevice));
  });
  GS_CUDA_CHECK(cudaFree(buf));
  const double gbps = 2.0 * half / (ms * 1e-3) / 1e9;
  Report("copy_d2d_4GiB", gbps, "GB/s", -1);
  return gbps;
}

void GemmRate() {
  const int64_t n = 8192;
  std::mt19937 rng(1);
  std::vector<uint8_t> pattern = RandomRowsPattern(GgmlType::kBF16, n, 64, rng);
  auto* x = static_cast<uint16_t*>(DeviceAlloc(n * n * 2));
  auto* w = static_cast<uint16_t*>(DeviceAlloc(n * n * 2));
  auto* out = static_cast<float*>(DeviceAlloc(n * n * 4));
  FillFromPattern(x, n * n * 2, pattern);
  pattern = RandomRowsPattern(GgmlType::kBF16, n, 64, rng);
  FillFromPattern(w, n * n * 2, pattern);
  GemmBf16 gemm;
  const double ms = MedianMs([&](int) { gemm.Run(x, w, out, n, n, n, n, nullptr); });
  GS_CUDA_CHECK(cudaFree(x));
  GS_CUDA_CHECK(cudaFree(w));
  GS_CUDA_CHECK(cudaFree(out));
  Report("gemm_bf16_f32out_8192^3", 2.0 * n * n * n / (ms * 1e-3) / 1e12, "TFLOP/s", -1);
}

void MatVecRate(GgmlType type, const char* shape, int64_t num_out, int64_t num_cols,
                int64_t num_rows, double copy_gbps) {
  const size_t w_bytes = RowBytes(type, num_cols) * num_out;
  const int num_sets =
      static_cast<int>(std::clamp<size_t>((kRotateBytes + w_bytes - 1) / w_bytes, 1, 16));
  std::mt19937 rng(2);
  const std::vector<uint8_t> pattern = RandomRowsPattern(type, num_cols, 64, rng);
  std::vector<void*> ws(num_sets);
  for (void*& w : ws) {
    w = DeviceAlloc(w_bytes + 16);
    FillFromPattern(w, w_bytes, pattern);
  }
  std::vector<float> x_host(num_rows * num_cols);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& v : x_host) v = dist(rng);
  auto* x = static_cast<float*>(DeviceAlloc(x_host.size() * 4));
  GS_CUDA_CHECK(cudaMemcpy(x, x_host.data(), x_host.size() * 4, cudaMemcpyHostToDevice));
  auto* out = static_cast<float*>(DeviceAlloc(num_rows * num_out * 4));
  const double ms = MedianMs([&](int i) {
    MatVecParams p{};
    p.x = x;
    p.num_rows = num_rows;
    p.num_cols = num_cols;
    p.num_targets = 1;
    p.targets[0] = {ws[i % num_sets], out, num_out, num_out, RowBytes(type, num_cols), type};
    MatVec(p, nullptr);
  });
  for (void* w : ws) GS_CUDA_CHECK(cudaFree(w));
  GS_CUDA_CHECK(cudaFree(x));
  GS_CUDA_CHECK(cudaFree(out));
  const double gbps = w_bytes / (ms * 1e-3) / 1e9;
  Report(std::string("matvec_") + GetTypeTraits(type).name + "_" + shape + "_rows" +
             std::to_string(num_rows),
         gbps, "GB/s", 100.0 * gbps / copy_gbps);
}

int Main() {
  int num_devices = 0;
  if (cudaGetDeviceCount(&num_devices) != cudaSuccess || num_devices == 0) {
    std::printf("cuda_matmul_bench: no CUDA device, nothing measured\n");
    return 0;
  }
  cudaDeviceProp prop{};
  GS_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("# %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount,
              prop.l2CacheSize >> 20);
  const double copy_gbps = CopyBandwidth();
  GemmRate();
  struct Shape {
    const char* name;
    int64_t num_out, num_cols;
  };
  const Shape shapes[] = {{"3840to15360", 15360, 3840},
                          {"15360to3840", 3840, 15360},
                          {"vocab262144x3840", 262144, 3840}};
  for (GgmlType type :
       {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ5_0, GgmlType::kQ8_0, GgmlType::kBF16}) {
    for (const Shape& s : shapes) {
      for (int64_t num_rows : {1, 8})
        MatVecRate(type, s.name, s.num_out, s.num_cols, num_rows, copy_gbps);
    }
  }
  std::printf("\n%-40s %12s %-8s %8s\n", "name", "value", "unit", "%ceil");
  for (const Result& r : g_results) {
    if (r.pct_of_ceiling >= 0) {
      std::printf("%-40s %12.1f %-8s %7.1f%%\n", r.name.c_str(), r.value, r.unit.c_str(),
                  r.pct_of_ceiling);
    } else {
      std::printf("%-40s %12.1f %-8s %8s\n", r.name.c_str(), r.value, r.unit.c_str(), "-");
    }
  }
  return 0;
}

}  // namespace
}  // namespace gs::cuda

int main() { return gs::cuda::Main(); }
