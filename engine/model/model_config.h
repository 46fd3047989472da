// Model hyper-parameters read from GGUF metadata only: nothing is keyed on a model's name or its
// layer count. Every layer has its own description (Gemma 4 mixes head dims, KV head counts,
// RoPE kinds and FFN widths across layers, and lets layers read another layer's KV cache).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace gs {

class GgufFile;

enum class AttentionKind { kGlobal, kSliding };

// NeoX rotary embedding of a layer's q and k: pairs (i, i + n_rot/2), i < n_rot/2, rotate by
// freq_scale * pos * base^(-2i/n_rot) / freq_factors[i]; dims >= n_rot pass through.
struct RopeSpec {
  float base = 10000;
  float freq_scale = 1;
  int32_t n_rot = 0;
  // The model's rope_freqs tensor ([n_rot/2]) divides the frequencies: Gemma 4's proportional
  // RoPE on global layers, where factors of 1e30 stop all but the first pairs from turning.
  bool uses_freq_factors = false;
};

struct LayerConfig {
  AttentionKind kind = AttentionKind::kGlobal;
  int32_t window = 0;  // sliding layers: keys with q_pos - k_pos >= window are masked
  int32_t head_dim = 0;
  int32_t num_kv_heads = 0;
  RopeSpec rope;
  int32_t ffn_hidden = 0;  // the dense GeGLU's width (doubled on Gemma 4 E-models' shared layers)
  // The layer whose K/V cache attention reads: the layer itself, or (KV sharing) an earlier
  // layer of the same kind that computed them. Only layers with kv_layer == own index project
  // and store K/V.
  int32_t kv_layer = 0;
  int32_t kv_group = 0;  // index into ModelConfig::kv_groups (of kv_layer)
  bool k_eq_v = false;   // no attn_v: V is the raw K projection, before K's norm and RoPE
  bool has_moe = false;  // a mixture of experts beside the dense FFN (Gemma 4 26B-A4B)
};

// Layers whose caches share block tables: one attention kind, one head shape (so that one
// token costs the same in each). Only layers that store K/V are members.
struct KvGroupConfig {
  AttentionKind kind = AttentionKind::kGlobal;
  int32_t window = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  std::vector<int32_t> layers;
};

struct ModelConfig {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, for display only
  int32_t num_layers = 0;
  int32_t hidden = 0;
  int32_t num_heads = 0;
  int32_t num_vocab = 0;
  int32_t context_length = 0;
  int32_t sliding_window = 0;  // 0: every layer global
  float rms_eps = 1e-6f;
  float embed_scale = 1;    // token embeddings are multiplied by sqrt(hidden)
  float attn_scale = 1;     // applied to q·k (Gemma 4: 1, its q and k are RMS-normed)
  float final_softcap = 0;  // 0: none
  // Gemma 4: V is RMS-normed per head without a weight; GELU is the exact tanh formula (Gemma 3
  // rounds it through f16 as llama.cpp's CPU backend does, whose goldens it is held to).
  bool v_norm = false;
  bool exact_gelu = false;
  // Per-layer embeddings (Gemma 4 E2B/E4B): width per layer, 0 when absent.
  int32_t ple_dim = 0;
  // Mixture of experts (layers with has_moe): experts, experts per token, expert FFN width.
  int32_t num_experts = 0;
  int32_t num_experts_used = 0;
  int32_t expert_ffn_hidden = 0;
  std::vector<int32_t> suppress_tokens;  // logits forced to -inf (Gemma 4 Unified's media markers)
  std::vector<LayerConfig> layers;
  std::vector<KvGroupConfig> kv_groups;

  static StatusOr<ModelConfig> FromGguf(const GgufFile& file);

  // Groups the KV-storing layers by (kind, head shape) into kv_groups and sets each layer's
  // kv_group from its kv_layer. Call after filling layers; errors on a kv_layer that does not
  // store K/V or differs in kind or shape.
  Status AssignKvGroups();
};

// The widest q (heads × head dim), K/V (KV heads × head dim) and FFN over a model's layers: what
// a forward pass sizes its per-layer buffers by.
struct LayerWidths {
  int64_t q = 0, kv = 0, ffn = 0;
};
LayerWidths MaxLayerWidths(const ModelConfig& config);

}  // namespace gs
