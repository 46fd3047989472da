// Gemma 4 (general.architecture = "gemma4"): every variant from one forward pass, each feature
// switched on by what the file's metadata and tensors say: per-layer head
// dims and KV heads, K=V global layers, the weightless V norm, proportional RoPE through
// rope_freqs, per-layer embeddings and KV sharing (E2B/E4B), the mixture of experts beside the
// dense FFN (26B-A4B), the per-layer output scale and the final softcap. The 12B Unified text
// stack is this model without per-layer embeddings or experts.
#pragma once

#include <memory>
#include <vector>

#include "engine/model/model.h"

namespace gs {

class Gemma4Model final : public Model {
 public:
  // Every weight by its GGUF name, checked against the shape config implies; a missing tensor or
  // a wrong shape is an error naming it.
  static StatusOr<std::unique_ptr<Model>> Load(const TensorLookup& tensors, ModelConfig config,
                                               Backend& backend);

  const ModelConfig& config() const override { return config_; }
  Act ForwardLogits(const Batch& batch, Backend& backend, float* host_logits) const override;

 private:
  struct LayerWeights {
    Weight attn_norm, attn_q, attn_k, attn_v, attn_q_norm, attn_k_norm, attn_output;
    Weight post_attention_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, post_ffw_norm;
    float output_scale = 1;  // layer_output_scale, applied to the whole residual stream
    // Mixture of experts.
    Weight router_norm;  // ffn_gate_inp.scale / sqrt(hidden): the router input's RMSNorm weight
    Weight router, pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2;
    Weight experts_gate_up, experts_gate, experts_up, experts_down;
    bool fused_gate_up = false;
    std::vector<float> expert_scales;  // ffn_down_exps.scale, or empty
    // Per-layer embeddings.
    Weight ple_gate, ple_proj, ple_post_norm;
  };

  explicit Gemma4Model(ModelConfig config)
      : config_(std::move(config)), max_widths_(MaxLayerWidths(config_)) {}
  Status LoadLayer(WeightLoader& loader, int32_t layer_idx, Backend& backend);

  ModelConfig config_;
  LayerWidths max_widths_;                    // what the per-layer buffers are sized by
  Weight token_embd_, output_norm_, output_;  // output_ is token_embd_ when tied
  Weight rope_freqs_;                         // when a layer uses_freq_factors
  Weight ple_table_, ple_model_proj_, ple_proj_norm_;
  std::vector<LayerWeights> layers_;
  // Weights this model derived from the file's (the router's scaled norm); backends may point
  // into them, so they live as long as the model.
  std::vector<std::unique_ptr<float[]>> derived_values_;
  std::vector<std::unique_ptr<GgufTensorInfo>> derived_tensors_;
};

}  // namespace gs
