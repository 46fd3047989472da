#include "engine/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "kernels/cpu/matmul_cpu.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/ref/moe_ref.h"
#include "kernels/ref/quant_ref.h"

namespace gs {
namespace {

constexpr size_t kArenaChunkFloats = size_t{1} << 22;  // 16 MiB

}  // namespace

CpuBackend::CpuBackend(int num_threads, cpu::KvCacheType kv_type)
    : pool_(num_threads), kv_type_(kv_type) {}

StatusOr<Weight> CpuBackend::LoadWeight(const GgufTensorInfo& t) {
  const TypeTraits& traits = GetTypeTraits(t.type);
  if (!traits.computable) {
    return Status::Error("tensor " + t.name + " has type " + traits.name +
                         ", which this engine cannot compute with yet");
  }
  if (t.ne[3] != 1) return Status::Error("tensor " + t.name + " has more than 3 dimensions");
  Weight w;
  w.type = t.type;
  w.num_cols = t.ne[0];
  w.num_rows = t.ne[1];
  w.row_bytes = RowBytes(t.type, t.ne[0]);
  w.num_mats = t.ne[2];
  w.mat_bytes = w.row_bytes * static_cast<size_t>(t.ne[1]);
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
  k_cache_.assign(layout.layer_group.size(), {});
  v_cache_.assign(layout.layer_group.size(), {});
  for (size_t l = 0; l < layout.layer_group.size(); ++l) {
    if (layout.layer_group[l] < 0) continue;
    const KvGroupLayout& g = layout.groups[layout.layer_group[l]];
    // K and V together are KvSlotBytes per slot.
    const size_t bytes = static_cast<size_t>(g.num_blocks) * layout.block_size *
                         static_cast<size_t>(KvSlotBytes(g.num_kv_heads, g.head_dim)) / 2;
    k_cache_[l].assign(bytes, 0);
    v_cache_[l].assign(bytes, 0);
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

void CpuBackend::Embed(const Batch& batch, const Weight& table, float scale, Act out,
                       bool overrides) {
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
    float* dst = out.data + batch.embed_rows[i] * out.num_cols;
    if (overrides) {
      std::memcpy(dst, batch.embed_values.data() + i * out.num_cols, sizeof(float) * out.num_cols);
    } else {
      ref::DequantizeRow(table.type, base, dst, out.num_cols);
      for (int64_t c = 0; c < out.num_cols; ++c) dst[c] *= scale;
    }
  }
}

void CpuBackend::RmsNorm(Act x, const Weight* w, float eps, Act out) {
  cpu::RmsNorm({x.data, w ? static_cast<const float*>(w->data) : nullptr, out.data, x.num_rows,
                x.num_cols, w ? w->num_cols : x.num_cols, eps},
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

void CpuBackend::HeadNormRope(const Batch& batch, Act x, const HeadNormRopeSpec& spec) {
  const int32_t head_dim = static_cast<int32_t>(x.num_cols / spec.num_heads);
  cpu::QkNormRope(
      {x.data, spec.norm ? static_cast<const float*>(spec.norm->data) : nullptr,
       batch.positions.data(),
       spec.freq_factors ? static_cast<const float*>(spec.freq_factors->data) : nullptr,
       x.num_rows, spec.num_heads, head_dim, spec.n_rot, spec.eps, spec.rope_base,
       spec.rope_freq_scale, spec.normalize},
      pool_);
}

void CpuBackend::StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) {
  GS_CHECK(kv_layout_.layer_group[layer_idx] == kv_group);
  cpu::KvStore({k.data, v.data, k_cache_[layer_idx].data(), v_cache_[layer_idx].data(),
                batch.kv_groups[kv_group].slot_mapping.data(), k.num_rows, k.num_cols, kv_type_},
               pool_);
}

void CpuBackend::Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                           const AttentionSpec& spec, Act out) {
  GS_CHECK(kv_layout_.layer_group[layer_idx] == kv_group);
  const KvGroupBatch& g = batch.kv_groups[kv_group];
  cpu::PagedAttention({q.data, out.data, k_cache_[layer_idx].data(), v_cache_[layer_idx].data(),
                       batch.query_start.data(), batch.positions.data(), batch.seq_lens.data(),
                       g.block_indptr.data(), g.block_ids.data(), batch.num_seqs(), spec.num_heads,
                       spec.num_kv_heads, spec.head_dim, kv_layout_.block_size, spec.window,
                       spec.scale, spec.softcap, kv_type_},
                      pool_);
}

void CpuBackend::GeGlu(Act gate, Act up, int64_t up_offset, bool round_f16) {
  GS_CHECK(up.num_rows == gate.num_rows && up_offset + gate.num_cols <= up.num_cols);
  cpu::GeGlu({gate.data, up.data, gate.num_rows, gate.num_cols, up.num_cols, up_offset, round_f16},
             pool_);
}

void CpuBackend::Add(Act x, Act out) {
  GS_CHECK(x.num_rows == out.num_rows && x.num_cols == out.num_cols);
  pool_.ParallelFor(x.num_rows * x.num_cols, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out.data[i] += x.data[i];
  });
}

void CpuBackend::Scale(Act x, float s) {
  pool_.ParallelFor(x.num_rows * x.num_cols, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x.data[i] *= s;
  });
}

void CpuBackend::Copy(Act x, Act out) {
  GS_CHECK(x.num_rows == out.num_rows && x.num_cols == out.num_cols);
  std::memcpy(out.data, x.data, sizeof(float) * x.num_rows * x.num_cols);
}

// Routing on the host (the logits are host memory here), then each expert's tokens gathered and
// run through its GeGLU as one batched product, and scattered back with their weights.
void CpuBackend::Moe(Act x, Act router_logits, const MoeSpec& spec, Act out) {
  const int64_t num_tokens = x.num_rows;
  GS_CHECK(router_logits.num_rows == num_tokens && router_logits.num_cols == spec.num_experts);
  std::vector<ref::MoeRoute> routes(num_tokens * spec.num_used);
  for (int64_t t = 0; t < num_tokens; ++t) {
    ref::RouteTopK(router_logits.data + t * spec.num_experts, spec.num_experts, spec.num_used,
              spec.down_scale, &routes[t * spec.num_used]);
  }
  std::vector<std::vector<std::pair<int32_t, float>>> tokens_of(spec.num_experts);
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int32_t j = 0; j < spec.num_used; ++j) {
      const ref::MoeRoute& r = routes[t * spec.num_used + j];
      tokens_of[r.expert_idx].push_back({static_cast<int32_t>(t), r.weight});
    }
  }
  std::fill(out.data, out.data + out.num_rows * out.num_cols, 0.0f);
  for (int32_t e = 0; e < spec.num_experts; ++e) {
    const int64_t n = static_cast<int64_t>(tokens_of[e].size());
    if (n == 0) continue;
    std::vector<int32_t> rows(n);
    for (int64_t i = 0; i < n; ++i) rows[i] = tokens_of[e][i].first;
    Act xe = Alloc(n, x.num_cols);
    GatherRows(x, rows, xe);
    Act gate = Alloc(n, spec.expert_ffn);
    Act up = Alloc(n, spec.expert_ffn);
    Weight gate_w, up_w;
    if (spec.gate_up != nullptr) {
      // Rows [0, ffn) of the expert's fused matrix are the gate, [ffn, 2 ffn) the up projection.
      gate_w = spec.gate_up->Mat(e);
      gate_w.num_rows = spec.expert_ffn;
      up_w = gate_w;
      up_w.data = static_cast<const uint8_t*>(gate_w.data) + spec.expert_ffn * gate_w.row_bytes;
    } else {
      gate_w = spec.gate->Mat(e);
      up_w = spec.up->Mat(e);
    }
    MatMuls(xe, {{&gate_w, gate}, {&up_w, up}});
    GeGlu(gate, up, 0, spec.round_f16);
    const Weight down_w = spec.down->Mat(e);
    Act ye = Alloc(n, out.num_cols);
    MatMul(gate, down_w, ye);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = out.data + tokens_of[e][i].first * out.num_cols;
      const float* src = ye.data + i * out.num_cols;
      const float w = tokens_of[e][i].second;
      for (int64_t c = 0; c < out.num_cols; ++c) dst[c] += w * src[c];
    }
  }
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
