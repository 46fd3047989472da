// The CPU backend: weights stay in the mapped GGUF file, activations are f32, the KV cache is f16
// (or f32, exact) in paged blocks, and every op runs on one thread pool over all cores.
#pragma once

#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/cpu/thread_pool.h"

namespace gs {

class CpuBackend final : public Backend {
 public:
  // num_threads 0: one per hardware thread.
  explicit CpuBackend(int num_threads, cpu::KvCacheType kv_type = cpu::KvCacheType::kF16);

  const char* name() const override { return "cpu"; }
  std::string Describe() const override {
    return "cpu, " + std::to_string(num_threads()) + " threads";
  }
  int num_threads() const { return pool_.num_threads(); }

  StatusOr<Weight> LoadWeight(const GgufTensorInfo& tensor) override;
  int64_t FreeMemoryBytes() const override;
  int64_t KvSlotBytes(int32_t num_kv_heads, int32_t head_dim) const override {
    const int64_t value_bytes = kv_type_ == cpu::KvCacheType::kF32 ? 4 : 2;
    return 2 * value_bytes * num_kv_heads * head_dim;
  }
  Status AllocateKv(const KvLayout& layout) override;
  Act Alloc(int64_t num_rows, int64_t num_cols) override;
  void ResetArena() override;

  void Embed(const Batch& batch, const Weight& table, float scale, Act out,
             bool overrides) override;
  using Backend::RmsNorm;
  void RmsNorm(Act x, const Weight* w, float eps, Act out) override;
  void NormAdd(Act x, const Weight& w, float eps, Act residual) override;
  void MatMuls(Act x, std::initializer_list<MatMulTarget> targets) override;
  void HeadNormRope(const Batch& batch, Act x, const HeadNormRopeSpec& spec) override;
  void StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) override;
  void Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                 const AttentionSpec& spec, Act out) override;
  void GeGlu(Act gate, Act up, int64_t up_offset, bool round_f16) override;
  void Add(Act x, Act out) override;
  void Scale(Act x, float s) override;
  void Copy(Act x, Act out) override;
  void Moe(Act x, Act router_logits, const MoeSpec& spec, Act out) override;
  void GatherRows(Act x, std::span<const int32_t> rows, Act out) override;
  void ReadLogits(Act x, float softcap, float* host_out) override;
  Act LogitsBuffer(float* host_out, int64_t num_rows, int64_t num_cols) override;

 private:
  cpu::ThreadPool pool_;
  std::vector<std::unique_ptr<float[]>> owned_weights_;  // vectors converted to f32
  cpu::KvCacheType kv_type_;
  KvLayout kv_layout_;
  // [layer][slot * kv_width] values of kv_type_; empty for layers that store no K/V.
  std::vector<std::vector<uint8_t>> k_cache_, v_cache_;
  // Arena: chunks are never moved, so Acts stay valid until ResetArena.
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<float[], FreeDeleter>> arena_chunks_;
  std::vector<size_t> arena_chunk_sizes_;
  size_t arena_chunk_idx_ = 0, arena_used_ = 0;
  std::vector<uint8_t> matmul_scratch_;
};

}  // namespace gs
