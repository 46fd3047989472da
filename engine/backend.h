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
// num_cols), or a vector (num_rows == 1); or num_mats such matrices back to back (a 3-D tensor:
// a mixture of experts' per-expert matrices), each mat_bytes long.
struct Weight {
  const void* data = nullptr;
  GgmlType type = GgmlType::kF32;
  int64_t num_cols = 0;
  int64_t num_rows = 0;
  size_t row_bytes = 0;
  int64_t num_mats = 1;
  size_t mat_bytes = 0;

  // Matrix mat_idx of a 3-D weight, as a 2-D weight of its own.
  Weight Mat(int64_t mat_idx) const {
    Weight w = *this;
    w.data = static_cast<const uint8_t*>(data) + mat_idx * mat_bytes;
    w.num_mats = 1;
    return w;
  }
};

// An activation matrix in backend memory: num_rows × num_cols f32, rows contiguous.
struct Act {
  float* data = nullptr;
  int64_t num_rows = 0;
  int64_t num_cols = 0;

  // The same memory as num_rows rows of num_cols <= this->num_cols values: a buffer sized for
  // the widest layer, used by a narrower one.
  Act View(int64_t cols) const {
    GS_CHECK(cols <= num_cols);
    return Act{data, num_rows, cols};
  }
};

// The KV pool's memory: per KV group, num_blocks blocks of block_size token slots; every layer
// of a group that stores K/V has its own K and V arrays indexed by the group's slots.
struct KvGroupLayout {
  int32_t num_blocks = 0;
  int32_t window = 0;  // 0: global
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
};
struct KvLayout {
  int32_t block_size = 16;
  std::vector<KvGroupLayout> groups;
  // [num_layers] the group of each layer that stores K/V; -1 for a layer that reads another
  // layer's cache (KV sharing) and owns none.
  std::vector<int32_t> layer_group;
};

// One logits row to sample where the logits are (semantics: kernels/ref/sampling_ref.h).
struct DeviceSampleRow {
  SampleRowParams params;
  std::vector<PenaltyToken> penalties;  // empty unless a penalty is on; ids unique
  std::vector<LogitBiasEntry> bias;     // ids unique
};

// What an in-place per-head norm + RoPE does to q or k (kernels/op_params.h QkNormRopeParams).
struct HeadNormRopeSpec {
  int32_t num_heads = 0;
  bool normalize = true;
  const Weight* norm = nullptr;  // null: no weight
  float eps = 1e-6f;
  int32_t n_rot = 0;  // 0: no RoPE
  float rope_base = 10000;
  float rope_freq_scale = 1;
  const Weight* freq_factors = nullptr;  // [n_rot / 2] or null
};

// A mixture-of-experts FFN for a batch (Gemma 4 26B-A4B): per token, softmax over the router's
// logits, the top num_used experts by probability, their probabilities renormalised to sum to 1
// and multiplied by the expert's output scale; each expert is a GeGLU of its own.
struct MoeSpec {
  const Weight* gate_up;     // [num_experts][2 * expert_ffn][hidden] gate rows first, or null
  const Weight* gate;        // [num_experts][expert_ffn][hidden] when gate_up is null
  const Weight* up;          // same
  const Weight* down;        // [num_experts][hidden][expert_ffn]
  const float* down_scale;   // [num_experts] host values, or null
  int32_t num_experts = 0;
  int32_t num_used = 0;
  int32_t expert_ffn = 0;
  bool round_f16 = false;  // GeGlu's licence (kernels/op_params.h)
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

  // out[r] = table[token_ids[r]] * scale, or for the batch's embedding rows (media) their
  // override values unscaled (overrides) or table row 0 * scale (!overrides: what Gemma 4's
  // per-layer embeddings use for media rows).
  virtual void Embed(const Batch& batch, const Weight& table, float scale, Act out,
                     bool overrides = true) = 0;
  // Row-wise RMSNorm with weight w applied per segment of w.num_cols values (a whole row, or
  // each slice of it); w null: no weight, whole rows. out may alias x.
  virtual void RmsNorm(Act x, const Weight* w, float eps, Act out) = 0;
  void RmsNorm(Act x, const Weight& w, float eps, Act out) { RmsNorm(x, &w, eps, out); }
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
  // In place on x = [tokens, num_heads * head_dim]: per-head RMSNorm, then NeoX RoPE at the
  // batch positions, as spec says.
  virtual void HeadNormRope(const Batch& batch, Act x, const HeadNormRopeSpec& spec) = 0;
  // Writes the step's K and V rows into layer_idx's cache at the batch's slot mapping.
  virtual void StoreKv(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act k, Act v) = 0;
  // out = attention(q, layer's cached K/V) over each sequence's block table in kv_group.
  virtual void Attention(const Batch& batch, int32_t layer_idx, int32_t kv_group, Act q,
                         const AttentionSpec& spec, Act out) = 0;
  // gate = gelu_tanh(gate) * up[:, up_offset : up_offset + gate.num_cols] (round_f16:
  // kernels/op_params.h GeGluParams).
  virtual void GeGlu(Act gate, Act up, int64_t up_offset, bool round_f16) = 0;
  // out += x; x *= s; out = x (element-wise, same shapes).
  virtual void Add(Act x, Act out) = 0;
  virtual void Scale(Act x, float s) = 0;
  virtual void Copy(Act x, Act out) = 0;
  // out = the mixture of experts of x, routed by router_logits [tokens, num_experts].
  virtual void Moe(Act x, Act router_logits, const MoeSpec& spec, Act out) = 0;
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
