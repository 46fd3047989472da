#include "engine/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "kernels/cpu/matmul_cpu.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/ref/quant_ref.h"

namespace gs {
namespace {

constexpr size_t kArenaChunkFloats = size_t{1} << 22;  // 16 MiB

}  // namespace

CpuBackend::CpuBackend(int num_threads) : pool_(num_threads) {}

StatusOr<Weight> CpuBackend::LoadWeight(const GgufTensorInfo& t) {
  const TypeTraits& traits = GetTypeTraits(t.type);
  if (!traits.computable) {
    return Status::Error("tensor " + t.name + " has type " + traits.name +
                         ", which this engine cannot compute with yet");
  }
  if (t.ne[2] != 1 || t.ne[3] != 1) return Status::Error("tensor " + t.name + " is not 1-D or 2-D");
  Weight w;
  w.type = t.type;
  w.num_cols = t.ne[0];
  w.num_rows = t.ne[1];
  w.row_bytes = RowBytes(t.type, t.ne[0]);
  w.data = t.data;
  if (t.num_dims == 1 && t.type != GgmlType::kF32) {
    // Norm weights are read element-wise by the ops: keep them as f32.
    auto values = std::make_unique<float[]>(t.ne[0]);
    ref::DequantizeRow(t.type, t.data, values.get(), t.ne[0]);
    w.data = values.get();
    w.type = GgmlType::kF32;
    w.row_bytes = sizeof(float) * t.ne[0];
    owned_weights_.push_back(std::move(values));
  }
  return w;
}

int64_t CpuBackend::FreeMemoryBytes() const {
  // Available physical memory: what the kernel could hand out without swapping.
  return static_cast<int64_t>(sysconf(_SC_AVPHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
}

Status CpuBackend::AllocateKv(const KvLayout& layout) {
  kv_layout_ = layout;
  const size_t kv_width = static_cast<size_t>(layout.num_kv_heads) * layout.head_dim;
  k_cache_.assign(layout.layer_group.size(), {});
  v_cache_.assign(layout.layer_group.size(), {});
  for (size_t l = 0; l < layout.layer_group.size(); ++l) {
    const size_t num_slots =
        static_cast<size_t>(layout.num_blocks[layout.layer_group[l]]) * layout.block_size;
    k_cache_[l].assign(num_slots * kv_width, 0);
    v_cache_[l].assign(num_slots * kv_width, 0);
  }
  return Status::Ok();
}

Act CpuBackend::Alloc(int64_t num_rows, int64_t num_cols) {
  // Rounded to 16 floats so every buffer starts on a cache line.
  const size_t n = (static_cast<size_t>(num_rows * num_cols) + 15) & ~size_t{15};
  while (arena_chunk_idx_ < arena_chunks_.size() &&
         arena_used_ + n > arena_chunk_sizes_[arena_chunk_idx_]) {
    ++arena_chunk_idx_;
    arena_used_ = 0;
  }
  if (arena_chunk_idx_ == arena_chunks_.size()) {
    const size_t size = std::max(n, kArenaChunkFloats);
    // Sizes are multiples of 16 floats, as aligned_alloc wants multiples of the alignment.
    arena_chunks_.emplace_back(static_cast<float*>(std::aligned_alloc(64, size * sizeof(float))));
    GS_CHECK(arena_chunks_.back() != nullptr);
    arena_chunk_sizes_.push_back(size);
    arena_used_ = 0;
  }
  float* data = arena_chunks_[arena_chunk_idx_].get() + arena_used_;
  arena_used_ += n;
  return Act{data, num_rows, num_cols};
}

void CpuBackend::ResetArena() {
  arena_chunk_idx_ = 0;
  arena_used_ = 0;
}

void CpuBackend::Embed(const Batch& batch, const Weight& table, float scale, Act out) {
  const size_t row_bytes = table.row_bytes;
  const auto* base = static_cast<const uint8_t*>(table.data);
  pool_.ParallelFor(batch.num_tokens(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* dst = out.data + r * out.num_cols;
      ref::DequantizeRow(table.type, base + batch.token_ids[r] * row_bytes, dst, out.num_cols);
      for (int64_t i = 0; i < out.num_cols; ++i) dst[i] *= scale;
    }
  });
  for (size_t i = 0; i < batch.embed_rows.size(); ++i) {
    std::memcpy(out.data + batch.embed_rows[i] * out.num_cols,
                batch.embed_values.data() + i * out.num_cols, sizeof(float) * out.num_cols);
  }
}

void CpuBackend::RmsNorm(Act x, const Weight& w, float eps, Act out) {
  cpu::RmsNorm({x.data, static_cast<const float*>(w.data), out.data, x.num_rows, x.num_cols,
                w.num_cols, eps},
               pool_);
}

void CpuBackend::NormAdd(Act x, const Weight& w, float eps, Act residual) {
  cpu::NormAdd(
      {x.data, static_cast<const float*>(w.data), residual.data, x.num_rows, x.num_cols, eps},
      pool_);
}

void CpuBackend::MatMuls(Act x, std::initializer_list<MatMulTarget> targets) {
  GS_CHECK(targets.size() >= 1 && targets.size() <= cpu::kMaxMatMulTargets);
  cpu::MatMulTarget kernel_targets[cpu::kMaxMatMulTargets];
  size_t num_targets = 0;
  const GgmlType act_type = GetTypeTraits(targets.begin()->w->type).vec_dot_type;
  for (const MatMulTarget& t : targets) {
    GS_CHECK(x.num_cols == t.w->num_cols && t.out.num_cols >= t.w->num_rows &&
             t.out.num_rows == x.num_rows);
    if (GetTypeTraits(t.w->type).vec_dot_type != act_type) {
      // Weights that want another activation format get a pass of their own.
      MatMuls(x, {t});
      continue;
    }
    kernel_targets[num_targets++] = {t.w->data,      t.out.data,     t.w->num_rows,
                                     t.out.num_cols, t.w->row_bytes, t.w->type};
  }
  cpu::MatMul(x.data, x.num_rows, x.num_cols, std::span(kernel_targets, num_targets), pool_,
              matmul_scratch_);
}

void CpuBackend::QkNormRope(const Batch& batch, Act x, int32_t num_heads, const Weight* norm,
                            float eps, float rope_base, float rope_freq_scale) {
  const int32_t head_dim = static_cast<int32_t>(x.num_cols / num_heads);
  cpu::QkNormRope(
      {x.data, norm ? static_cast<const float*>(norm->data) : nullptr, batch.positions.data(),
       x.num_rows, num_heads, head_dim, head_dim, eps, rope_base, rope_freq_scale},
      pool_);
}

void CpuBackend::StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) {
  cpu::KvStore({k.data, v.data, k_cache_[layer_idx].data(), v_cache_[layer_idx].data(),
                batch.kv_groups[kv_group].slot_mapping.data(), k.num_rows, k.num_cols},
               pool_);
}

void CpuBackend::Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                           const AttentionSpec& spec, Act out) {
  const KvGroupBatch& g = batch.kv_groups[kv_group];
  cpu::PagedAttention({q.data, out.data, k_cache_[layer_idx].data(), v_cache_[layer_idx].data(),
                       batch.query_start.data(), batch.positions.data(), batch.seq_lens.data(),
                       g.block_indptr.data(), g.block_ids.data(), batch.num_seqs(), spec.num_heads,
                       spec.num_kv_heads, spec.head_dim, kv_layout_.block_size, spec.window,
                       spec.scale, spec.softcap},
                      pool_);
}

void CpuBackend::GeGlu(Act gate, Act up) {
  cpu::GeGlu(gate.data, up.data, gate.num_rows * gate.num_cols, pool_);
}

void CpuBackend::GatherRows(Act x, std::span<const int32_t> rows, Act out) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(out.data + i * out.num_cols, x.data + rows[i] * x.num_cols,
                sizeof(float) * x.num_cols);
  }
}

void CpuBackend::ReadLogits(Act x, float softcap, float* host_out) {
  const int64_t n = x.num_rows * x.num_cols;
  if (softcap > 0) {
    const float* in = x.data;  // may be host_out itself: element-wise, in place is fine
    pool_.ParallelFor(n, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) host_out[i] = softcap * std::tanh(in[i] / softcap);
    });
  } else if (x.data != host_out) {
    std::memcpy(host_out, x.data, sizeof(float) * n);
  }
}

Act CpuBackend::LogitsBuffer(float* host_out, int64_t num_rows, int64_t num_cols) {
  return host_out ? Act{host_out, num_rows, num_cols} : Alloc(num_rows, num_cols);
}

}  // namespace gs
