#include "engine/model/model_config.h"

#include <cmath>

#include "engine/gguf/gguf_file.h"

namespace gs {
namespace {

// Per-layer arrays are sized from metadata; bound them before trusting it (reliability.md).
constexpr int64_t kMaxLayers = 512;
constexpr int64_t kMaxDim = 1 << 20;

Status ReadDim(const GgufFile& f, const std::string& key, int64_t max, int32_t* out) {
  const std::optional<int64_t> v = f.GetInt(key);
  if (!v) return Status::Error("missing or non-integer metadata key " + key);
  if (*v <= 0 || *v > max) {
    return Status::Error(key + " = " + std::to_string(*v) + " is out of range [1, " +
                         std::to_string(max) + "]");
  }
  *out = static_cast<int32_t>(*v);
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ModelConfig::FromGguf(const GgufFile& f) {
  ModelConfig c;
  const std::optional<std::string_view> arch = f.GetString("general.architecture");
  if (!arch) return Status::Error("missing general.architecture");
  c.architecture = std::string(*arch);
  if (c.architecture == "gemma4") {
    return Status::Error("architecture gemma4 (Gemma 4) is not supported yet");
  }
  if (c.architecture != "gemma3") {
    return Status::Error("unsupported architecture '" + c.architecture + "' (supported: gemma3)");
  }
  c.name = std::string(f.GetString("general.name").value_or(*arch));
  const std::string p = c.architecture + ".";

  GS_RETURN_IF_ERROR(ReadDim(f, p + "block_count", kMaxLayers, &c.num_layers));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "embedding_length", kMaxDim, &c.hidden));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "feed_forward_length", kMaxDim, &c.ffn_hidden));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.head_count", 4096, &c.num_heads));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.head_count_kv", 4096, &c.num_kv_heads));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.key_length", 4096, &c.head_dim));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "context_length", int64_t{1} << 24, &c.context_length));
  int32_t value_dim = 0;
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.value_length", 4096, &value_dim));
  if (value_dim != c.head_dim) return Status::Error("key_length != value_length is not supported");
  if (c.num_heads % c.num_kv_heads != 0) {
    return Status::Error("head_count must be a multiple of head_count_kv");
  }
  if (c.head_dim % 2 != 0) return Status::Error("key_length must be even for RoPE");
  const std::optional<std::vector<std::string_view>> tokens =
      f.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) return Status::Error("missing tokenizer.ggml.tokens");
  c.num_vocab = static_cast<int32_t>(tokens->size());

  c.rms_eps = static_cast<float>(f.GetFloat(p + "attention.layer_norm_rms_epsilon").value_or(1e-6));
  c.embed_scale = std::sqrt(static_cast<float>(c.hidden));
  c.final_softcap = static_cast<float>(f.GetFloat(p + "final_logit_softcapping").value_or(0.0));
  // Gemma 3 scales q by query_pre_attn_scalar^-1/2, which GGUF does not store: it is head_dim for
  // every size but the 62-layer one, where it is hidden / heads. An explicit key wins.
  if (const std::optional<double> s = f.GetFloat(p + "attention.scale")) {
    c.attn_scale = static_cast<float>(*s);
  } else if (c.num_layers == 62) {
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.hidden) / c.num_heads);
  } else {
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  }

  // RoPE: global layers use rope.freq_base with the linear scaling factor if any; sliding layers
  // use rope.freq_base_swa (10000 when absent) and are never scaled.
  const float base_global = static_cast<float>(f.GetFloat(p + "rope.freq_base").value_or(10000.0));
  const float base_swa = static_cast<float>(f.GetFloat(p + "rope.freq_base_swa").value_or(10000.0));
  float scale_global = 1.0f;
  if (f.GetString(p + "rope.scaling.type").value_or("none") == "linear") {
    const double factor = f.GetFloat(p + "rope.scaling.factor").value_or(1.0);
    if (!(factor > 0)) return Status::Error(p + "rope.scaling.factor must be positive");
    scale_global = static_cast<float>(1.0 / factor);
  }

  // Sliding-window layers: every layer but each P-th (P = 6 unless metadata says otherwise), or
  // an explicit per-layer bool array.
  const int64_t window = f.GetInt(p + "attention.sliding_window").value_or(0);
  if (window < 0 || window > c.context_length) {
    return Status::Error(p + "attention.sliding_window = " + std::to_string(window) +
                         " is out of range [0, context_length]");
  }
  c.sliding_window = static_cast<int32_t>(window);
  std::vector<bool> sliding(c.num_layers, false);
  if (c.sliding_window > 0) {
    const GgufValue* pattern = f.Find(p + "attention.sliding_window_pattern");
    if (pattern != nullptr && pattern->type == GgufValueType::kArray) {
      if (static_cast<int64_t>(pattern->elems.size()) != c.num_layers ||
          pattern->elem_type != GgufValueType::kBool) {
        return Status::Error(p + "attention.sliding_window_pattern must be one bool per layer");
      }
      for (int32_t i = 0; i < c.num_layers; ++i) sliding[i] = pattern->elems[i].i != 0;
    } else {
      int64_t period = 6;
      if (pattern != nullptr) {
        const std::optional<int64_t> v = f.GetInt(p + "attention.sliding_window_pattern");
        if (!v || *v <= 0 || *v > kMaxLayers) {
          return Status::Error(p + "attention.sliding_window_pattern is invalid");
        }
        period = *v;
      }
      for (int32_t i = 0; i < c.num_layers; ++i) sliding[i] = (i % period) < period - 1;
    }
  }

  c.AssignLayers(sliding, base_swa, base_global, scale_global);
  return c;
}

void ModelConfig::AssignLayers(const std::vector<bool>& sliding, float rope_base_swa,
                               float rope_base_global, float rope_freq_scale_global) {
  layers.assign(num_layers, LayerConfig{});
  kv_groups.clear();
  for (int32_t i = 0; i < num_layers; ++i) {
    const bool slides = sliding_window > 0 && sliding[i];
    LayerConfig& l = layers[i];
    l.kind = slides ? AttentionKind::kSliding : AttentionKind::kGlobal;
    l.window = slides ? sliding_window : 0;
    l.rope_base = slides ? rope_base_swa : rope_base_global;
    l.rope_freq_scale = slides ? 1.0f : rope_freq_scale_global;
    int32_t group_idx = -1;
    for (int32_t g = 0; g < static_cast<int32_t>(kv_groups.size()); ++g) {
      if (kv_groups[g].kind == l.kind) group_idx = g;
    }
    if (group_idx < 0) {
      kv_groups.push_back(KvGroupConfig{l.kind, l.window, {}});
      group_idx = static_cast<int32_t>(kv_groups.size()) - 1;
    }
    l.kv_group = group_idx;
    kv_groups[group_idx].layers.push_back(i);
  }
}

}  // namespace gs
