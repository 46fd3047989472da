// A model with a real architecture's shapes and random weights, built in memory: speed can be
// measured, and backends compared with each other, where no checkpoint of that size exists.
//
// The model is assembled as a GGUF file in memory (metadata as llama.cpp's converter writes it,
// tensor records, data) and loaded by LoadModel(GgufFile) like any file, so the engine and a
// backend see exactly what they would see from a file of that shape and quantization; written
// to disk (`gemma-serve synth`), llama.cpp runs the very same weights. The engine does not parse
// the shape: server/ reads it from configs/models/*.json.
//
// Weight values: every matrix row of num_cols values has mean about 0 and standard deviation
// about 1/sqrt(num_cols) (quant blocks hold random codes; their scale fields are set so that the
// decoded values have that spread), so each product keeps its input's scale, the embedding times
// sqrt(hidden) has unit spread, and activations stay finite through any number of layers. Norm
// weights (and Gemma 4's layer output and router scales) are f32 in [0.9, 1.1]: Gemma 3 GGUF
// norms carry their +1, Gemma 4's multiply by w. rope_freqs holds the converter's values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/backend.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/model/model_config.h"
#include "engine/status.h"

namespace gs {

// The hyper-parameters of a Gemma 3 or Gemma 4 model, as plain numbers. They
// become GGUF metadata exactly as llama.cpp's converter writes it, and the engine reads that
// metadata with ModelConfig::FromGguf, the path every real file takes.
struct SyntheticShape {
  std::string name = "synthetic";
  std::string architecture = "gemma3";  // or "gemma4"
  int32_t num_layers = 0;
  int32_t hidden = 0;
  int32_t ffn_hidden = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t num_vocab = 0;
  int32_t context_length = 0;
  int32_t sliding_window = 0;         // 0: every layer global
  int32_t sliding_window_period = 6;  // layers i with i % period == period - 1 are global
  float rope_base_local = 10000;      // sliding layers
  float rope_base_global = 1000000;   // global layers
  float rope_scaling_factor = 1;      // linear scaling of global layers' positions
  float rms_eps = 1e-6f;
  float query_pre_attn_scalar = 0;  // q is scaled by its -1/2 power; 0: head_dim (Gemma 3 only)
  float final_softcap = 0;          // 0: none
  bool tied_embedding = true;       // false: a separate output.weight
  // Gemma 4 only. Its last layer is always global (transformers forces it).
  int32_t head_dim_global = 0;       // 0: head_dim
  int32_t num_kv_heads_global = 0;   // 0: num_kv_heads
  bool k_eq_v_global = false;        // global layers have no attn_v: V is K's projection
  float rotary_fraction_global = 1;  // proportional RoPE: the share of a global head that turns
  int32_t ple_dim = 0;               // per-layer embedding width, 0: none (E2B/E4B: 256)
  int32_t num_kv_shared_layers = 0;  // trailing layers reading earlier layers' KV
  bool double_wide_mlp = false;      // KV-shared layers have 2 x ffn_hidden
  int32_t num_experts = 0;           // MoE beside the dense MLP in every layer, 0: none
  int32_t num_experts_used = 0;
  int32_t expert_ffn_hidden = 0;
  std::vector<int32_t> suppress_tokens;  // ids the model never emits (12B Unified's media ends)
};

// The weight types of the matrices. A single type applies to every matrix; a 256-value K-quant
// falls back, per tensor whose rows are not a multiple of 256 values, to the 32-value type
// llama.cpp's quantizer falls back to (Q4_K -> Q5_0, Q6_K -> Q8_0). kQ4_K_M mirrors the default
// model's Q4_K_M file: token_embd (and Gemma 4's per-layer embedding table) Q8_0, output (when
// untied), attn_v, ffn_down and the experts' down projections Q6_K, every other matrix Q4_K
// (with the same fallbacks). MoE routers stay F32, as llama.cpp's quantizer leaves them.
enum class WeightMix { kBf16, kF16, kQ8_0, kQ5_0, kQ4_0, kQ4_K, kQ6_K, kQ4_K_M };

// "bf16", "f16", "q8_0", "q5_0", "q4_0", "q4_k", "q6_k", "q4_k_m".
StatusOr<WeightMix> ParseWeightMix(std::string_view text);
const char* WeightMixName(WeightMix mix);

// The config the forward pass runs with, or an error naming the first bad field.
StatusOr<ModelConfig> SyntheticModelConfig(const SyntheticShape& shape);

struct SyntheticOptions {
  WeightMix mix = WeightMix::kQ4_K_M;
  uint64_t seed = 0;
  // false: every tensor has bytes of its own, as in a file (host memory = the model's size; what
  // a CPU benchmark must have, or layers would share cache lines). true: tensors of one type and
  // row length are windows into one pool as large as the largest of them (each window starts at a
  // different block, so no two tensors are equal); host memory is a fraction of the model's size,
  // for backends that copy weights to a device.
  bool share_bytes = false;
  int num_threads = 0;  // generation threads, 0: one per hardware thread
};

class SyntheticModel {
 public:
  // Generates the weights and loads them into backend. The backend may keep pointers into this
  // object's bytes (the CPU backend does): keep it alive as long as the backend runs the model.
  static StatusOr<std::unique_ptr<SyntheticModel>> Create(const SyntheticShape& shape,
                                                          const SyntheticOptions& options,
                                                          Backend& backend);
  SyntheticModel(const SyntheticModel&) = delete;
  SyntheticModel& operator=(const SyntheticModel&) = delete;

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  // The model as a GGUF file would hold it (metadata, tensor records, data): WriteGguf writes
  // it, for llama.cpp to run the very same weights. It has no vocabulary
  // (tokenizer.ggml.model "none").
  const GgufFile& file() const { return *file_; }
  const std::vector<GgufTensorInfo>& tensors() const { return file_->tensors(); }
  const GgufTensorInfo* FindTensor(const std::string& name) const {
    return file_->FindTensor(name);
  }
  // Sum of the tensors' sizes (what a file would hold), and of the host bytes actually held.
  uint64_t num_weight_bytes() const;
  uint64_t num_host_bytes() const;
  int64_t num_params() const;
  double generate_seconds() const { return generate_seconds_; }

 private:
  SyntheticModel() = default;

  struct AlignedFree {
    void operator()(uint8_t* p) const;
  };
  // Host bytes, declared before the file whose tensors point into them and the model that
  // points at the tensors' data, so they are destroyed last.
  std::vector<std::unique_ptr<uint8_t, AlignedFree>> pools_;
  std::vector<uint64_t> pool_bytes_;
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Model> model_;
  double generate_seconds_ = 0;
};

}  // namespace gs
