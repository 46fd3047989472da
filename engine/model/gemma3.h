// Gemma 3 (general.architecture = "gemma3"), as llama.cpp computes it.
#pragma once

#include <memory>
#include <vector>

#include "engine/model/model.h"

namespace gs {

class Gemma3Model final : public Model {
 public:
  // Every weight by its GGUF name, checked against the shape config implies; output.weight is
  // optional (tied to token_embd.weight when absent).
  static StatusOr<std::unique_ptr<Model>> Load(const TensorLookup& tensors, ModelConfig config,
                                               Backend& backend);

  const ModelConfig& config() const override { return config_; }
  Act ForwardLogits(const Batch& batch, Backend& backend, float* host_logits) const override;

 private:
  struct LayerWeights {
    Weight attn_norm, attn_q, attn_k, attn_v, attn_q_norm, attn_k_norm, attn_output;
    Weight post_attention_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, post_ffw_norm;
  };

  explicit Gemma3Model(ModelConfig config)
      : config_(std::move(config)), max_widths_(MaxLayerWidths(config_)) {}

  ModelConfig config_;
  LayerWidths max_widths_;                    // what the per-layer buffers are sized by
  Weight token_embd_, output_norm_, output_;  // output_ is token_embd_ when tied
  std::vector<LayerWeights> layers_;
};

}  // namespace gs
