// Model hyper-parameters read from GGUF metadata only: nothing is keyed on a model's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace gs {

class GgufFile;

enum class AttentionKind { kGlobal, kSliding };

struct LayerConfig {
  AttentionKind kind = AttentionKind::kGlobal;
  int32_t kv_group = 0;  // index into ModelConfig::kv_groups
  int32_t window = 0;    // sliding layers: keys with q_pos - k_pos >= window are masked
  float rope_base = 10000;
  float rope_freq_scale = 1;
};

// Layers that share an attention kind share block tables (DESIGN.md "KV cache").
struct KvGroupConfig {
  AttentionKind kind = AttentionKind::kGlobal;
  int32_t window = 0;
  std::vector<int32_t> layers;
};

struct ModelConfig {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, for display only
  int32_t num_layers = 0;
  int32_t hidden = 0;
  int32_t ffn_hidden = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;  // key_length == value_length for Gemma 3
  int32_t num_vocab = 0;
  int32_t context_length = 0;
  int32_t sliding_window = 0;  // 0: every layer global
  float rms_eps = 1e-6f;
  float embed_scale = 1;    // token embeddings are multiplied by sqrt(hidden)
  float attn_scale = 1;     // applied to q before attention
  float final_softcap = 0;  // 0: none
  std::vector<LayerConfig> layers;
  std::vector<KvGroupConfig> kv_groups;

  static StatusOr<ModelConfig> FromGguf(const GgufFile& file);

  // Fills layers and kv_groups from num_layers, sliding_window and which layers slide
  // (sliding[i], one per layer; ignored when sliding_window is 0): sliding layers use
  // rope_base_swa unscaled, global ones rope_base_global with rope_freq_scale_global. KV group 0
  // holds the kind of layer 0, the other kind (if any) group 1.
  void AssignLayers(const std::vector<bool>& sliding, float rope_base_swa, float rope_base_global,
                    float rope_freq_scale_global);
};

}  // namespace gs
