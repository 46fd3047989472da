// The Backend interface: the ops a model's forward pass is written over, once, for every device.
// A backend owns weights as it wants them, the KV pool's memory and a per-step activation arena;
// ops take the step's Batch explicitly (no global context).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "engine/status.h"
#include "kernels/quant_types.h"
#include "kernels/ref/sampling_ref.h"

namespace gs {

struct GgufTensorInfo;

// A weight as the backend holds it: a matrix of num_rows rows of num_cols values (ggml's ne0 is
// num_cols), or a vector (num_rows == 1).
struct Weight {
  const void* data = nullptr;
  GgmlType type = GgmlType::kF32;
  int64_t num_cols = 0;
  int64_t num_rows = 0;
  size_t row_bytes = 0;
};

// An activation matrix in backend memory: num_rows × num_cols f32, rows contiguous.
struct Act {
  float* data = nullptr;
  int64_t num_rows = 0;
  int64_t num_cols = 0;
};

// The KV pool's memory: per KV group, num_blocks blocks of block_size token slots; every layer
// of a group has its own K and V arrays indexed by the group's slots.
struct KvLayout {
  int32_t block_size = 16;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  std::vector<int32_t> num_blocks;    // [num_groups]
  std::vector<int32_t> group_window;  // [num_groups] 0: global
  std::vector<int32_t> layer_group;   // [num_layers]
};

// One logits row to sample where the logits are (semantics: kernels/ref/sampling_ref.h).
struct DeviceSampleRow {
  SampleRowParams params;
  std::vector<PenaltyToken> penalties;  // empty unless a penalty is on; ids unique
  std::vector<LogitBiasEntry> bias;     // ids unique
};

struct AttentionSpec {
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t window = 0;  // 0: global
  float scale = 1;     // applied to q·k
  float softcap = 0;   // 0: none, else s = softcap·tanh(s / softcap)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // One line for logs: "cpu, 16 threads", "cuda, NVIDIA H200 (139 GiB)".
  virtual std::string Describe() const = 0;

  // Makes a GGUF tensor usable by ops. Vectors (norm weights) come back as F32.
  virtual StatusOr<Weight> LoadWeight(const GgufTensorInfo& tensor) = 0;
  virtual Status AllocateKv(const KvLayout& layout) = 0;
  // Memory still free where this backend keeps the KV cache (host RAM, or the GPU's).
  virtual int64_t FreeMemoryBytes() const = 0;
  // Bytes one token takes in one layer's cache (K and V), for sizing the pool from a budget.
  virtual int64_t KvSlotBytes(int32_t num_kv_heads, int32_t head_dim) const {
    return int64_t{4} * num_kv_heads * head_dim;  // f16 K and V
  }

  // Step arena: Alloc hands out activation buffers until ResetArena; nothing is freed singly.
  virtual Act Alloc(int64_t num_rows, int64_t num_cols) = 0;
  virtual void ResetArena() = 0;

  // out[r] = table[token_ids[r]] * scale, or the batch's embedding override for that row.
  virtual void Embed(const Batch& batch, const Weight& table, float scale, Act out) = 0;
  // Row-wise RMSNorm with weight w (one value per column). out may alias x.
  virtual void RmsNorm(Act x, const Weight& w, float eps, Act out) = 0;
  // residual += rmsnorm(x) * w.
  virtual void NormAdd(Act x, const Weight& w, float eps, Act residual) = 0;
  // out = x · wᵀ (out has w.num_rows columns).
  void MatMul(Act x, const Weight& w, Act out) { MatMuls(x, {{&w, out}}); }
  // Several products of the same x at once (q/k/v, gate/up): backends share the work on x and
  // synchronize once. Up to four targets.
  struct MatMulTarget {
    const Weight* w;
    Act out;
  };
  virtual void MatMuls(Act x, std::initializer_list<MatMulTarget> targets) = 0;
  // In place on x = [tokens, num_heads * head_dim]: per-head RMSNorm (norm may be null), then
  // NeoX RoPE at the batch positions.
  virtual void QkNormRope(const Batch& batch, Act x, int32_t num_heads, const Weight* norm,
                          float eps, float rope_base, float rope_freq_scale) = 0;
  // Writes the step's K and V rows into layer_idx's cache at the batch's slot mapping.
  virtual void StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) = 0;
  // out = attention(q, layer's cached K/V) over each sequence's block table in kv_group.
  virtual void Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                         const AttentionSpec& spec, Act out) = 0;
  // gate = gelu_tanh(gate) * up.
  virtual void GeGlu(Act gate, Act up) = 0;
  // out[i] = x[rows[i]].
  virtual void GatherRows(Act x, std::span<const int32_t> rows, Act out) = 0;
  // Copies x to host memory (row-major), applying softcap c·tanh(x/c) when c > 0.
  virtual void ReadLogits(Act x, float softcap, float* host_out) = 0;
  // Where the vocabulary projection writes logits that ReadLogits then delivers to host_out:
  // host_out itself where the backend computes in host memory (no copy of [rows, 262K] floats
  // per step), an arena buffer elsewhere.
  virtual Act LogitsBuffer(float* host_out, int64_t num_rows, int64_t num_cols) = 0;

  // Backends that sample on the device (the logits never cross to the host) return true and
  // implement SampleLogits: softcap c·tanh(x/c) when c > 0, then rows[i] picks from logits row i.
  virtual bool SamplesOnDevice() const { return false; }
  virtual void SampleLogits(Act logits, float softcap, std::span<const DeviceSampleRow> rows,
                            std::span<SampleRowResult> out) {
    GS_CHECK(false);
  }
};

}  // namespace gs
