// Attention kernel speed on the GPU (numbers for BENCHMARKS.md, never pass/fail):
//  - prefill: causal prefill of 4 sequences x 4096 rows, head dims 256 (16 q / 8 kv heads) and
//    512 (16 q / 2 kv heads), as TFLOP/s counting 4·D flops per visible (query, key, head);
//  - decode: 64 sequences x 4096 keys split-KV, as GB/s of K and V read (each once).
// Prints one JSON object per line: {"name", "value", "unit"}; scripts/gpu-check.sh sets them
// against the measured GEMM rate and copy bandwidth.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cuda/attention_cuda.h"
#include "kernels/cuda/cuda_check.h"

namespace {

using gs::cuda::AttentionPlan;

void* DeviceAlloc(size_t num_bytes) {
  void* p = nullptr;
  GS_CUDA_CHECK(cudaMalloc(&p, num_bytes));
  return p;
}

// Random bytes on the device: a 64 MiB random pattern copied over the buffer. bf16 bit patterns
// from random bytes include NaN/Inf, so every 16-bit value gets its exponent clamped on the host
// pattern to keep magnitudes in [2^-8, 2).
void FillRandomBf16(void* dst, size_t num_bytes, std::mt19937& rng) {
  const size_t pattern_bytes = std::min<size_t>(num_bytes, size_t{64} << 20);
  std::vector<uint16_t> pattern(pattern_bytes / 2);
  for (uint16_t& v : pattern) {
    const uint16_t sign = rng() & 1, exponent = 119 + rng() % 8, mantissa = rng() & 0x7F;
    v = static_cast<uint16_t>(sign << 15 | exponent << 7 | mantissa);
  }
  for (size_t offset = 0; offset < num_bytes; offset += pattern_bytes) {
    GS_CUDA_CHECK(cudaMemcpy(static_cast<uint8_t*>(dst) + offset, pattern.data(),
                             std::min(pattern_bytes, num_bytes - offset), cudaMemcpyHostToDevice));
  }
}

template <typename T>
T* Upload(const std::vector<T>& v) {
  T* p = static_cast<T*>(DeviceAlloc(v.size() * sizeof(T) + 1));
  GS_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}

struct Setup {
  int32_t num_seqs, num_q_per_seq, kv_len, num_heads, num_kv_heads, head_dim;
};

struct Result {
  double ms;
  double flops;
  double kv_bytes;
};

Result Run(const Setup& s, int num_sms) {
  std::mt19937 rng(1);
  constexpr int32_t kBlockSize = 16;
  const int32_t blocks_per_seq = (s.kv_len + kBlockSize - 1) / kBlockSize;
  std::vector<int32_t> block_indptr{0}, block_ids, query_start{0}, positions;
  for (int32_t i = 0; i < s.num_seqs; ++i) {
    for (int32_t b = 0; b < blocks_per_seq; ++b) block_ids.push_back(i * blocks_per_seq + b);
    block_indptr.push_back(block_indptr.back() + blocks_per_seq);
    for (int32_t j = s.kv_len - s.num_q_per_seq; j < s.kv_len; ++j) positions.push_back(j);
    query_start.push_back(query_start.back() + s.num_q_per_seq);
  }
  // Shuffle the block pool so that the pages are not contiguous in memory.
  std::shuffle(block_ids.begin(), block_ids.end(), rng);
  const int64_t num_slots = int64_t{s.num_seqs} * blocks_per_seq * kBlockSize;
  const size_t kv_bytes = num_slots * s.num_kv_heads * s.head_dim * 2;
  const int64_t num_tokens = query_start.back();
  const size_t q_elems = num_tokens * s.num_heads * s.head_dim;
  void* k_cache = DeviceAlloc(kv_bytes);
  void* v_cache = DeviceAlloc(kv_bytes);
  FillRandomBf16(k_cache, kv_bytes, rng);
  FillRandomBf16(v_cache, kv_bytes, rng);
  std::vector<float> q(q_elems);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& x : q) x = dist(rng);
  const AttentionPlan plan = gs::cuda::PlanAttention(
      {query_start.data(), positions.data(), s.num_seqs, 0, s.num_kv_heads, num_sms});
  gs::cuda::PagedAttentionParams p{};
  p.q = Upload(q);
  p.out = static_cast<float*>(DeviceAlloc(q_elems * sizeof(float)));
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.positions = Upload(positions);
  p.block_indptr = Upload(block_indptr);
  p.block_ids = Upload(block_ids);
  p.num_heads = s.num_heads;
  p.num_kv_heads = s.num_kv_heads;
  p.head_dim = s.head_dim;
  p.block_size = kBlockSize;
  p.scale = 1.0f / 16;
  p.kv_type = gs::cuda::KvType::kBf16;
  p.tiles = Upload(plan.tiles);
  p.splits = Upload(plan.splits);
  p.decode_rows = Upload(plan.decode_rows);
  p.num_tiles = static_cast<int32_t>(plan.tiles.size());
  p.num_splits = static_cast<int32_t>(plan.splits.size());
  p.num_decode_rows = static_cast<int32_t>(plan.decode_rows.size());
  p.partial_out = static_cast<float*>(
      DeviceAlloc(std::max<size_t>(1, plan.splits.size()) * s.num_heads * s.head_dim * 4));
  p.partial_lse =
      static_cast<float*>(DeviceAlloc(std::max<size_t>(1, plan.splits.size()) * s.num_heads * 4));

  cudaEvent_t start, stop;
  GS_CUDA_CHECK(cudaEventCreate(&start));
  GS_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) gs::cuda::PagedAttention(p, nullptr);
  GS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> times;
  for (int i = 0; i < 20; ++i) {
    GS_CUDA_CHECK(cudaEventRecord(start));
    gs::cuda::PagedAttention(p, nullptr);
    GS_CUDA_CHECK(cudaEventRecord(stop));
    GS_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    GS_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  Result r{times[times.size() / 2], 0, 0};
  for (int32_t pos : positions) r.flops += 4.0 * (pos + 1) * s.head_dim * s.num_heads;
  r.kv_bytes = 2.0 * kv_bytes;
  for (void* ptr : {k_cache, v_cache, static_cast<void*>(p.out)}) cudaFree(ptr);
  return r;
}

}  // namespace

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("no CUDA device: nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop{};
  GS_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  struct Named {
    const char* name;
    Setup setup;
    bool decode;
  };
  const Named runs[] = {
      {"attn_prefill_d256", {4, 4096, 4096, 16, 8, 256}, false},
      {"attn_prefill_d512", {4, 4096, 4096, 16, 2, 512}, false},
      {"attn_decode_d256", {64, 1, 4096, 16, 8, 256}, true},
      {"attn_decode_d512", {64, 1, 4096, 16, 2, 512}, true},
  };
  for (const Named& run : runs) {
    const Result r = Run(run.setup, prop.multiProcessorCount);
    if (run.decode) {
      std::printf("{\"name\": \"%s\", \"value\": %.1f, \"unit\": \"GB/s\", \"ms\": %.4f}\n",
                  run.name, r.kv_bytes / (r.ms * 1e-3) / 1e9, r.ms);
    } else {
      std::printf("{\"name\": \"%s\", \"value\": %.1f, \"unit\": \"TFLOP/s\", \"ms\": %.4f}\n",
                  run.name, r.flops / (r.ms * 1e-3) / 1e12, r.ms);
    }
    std::fflush(stdout);
  }
  return 0;
}
