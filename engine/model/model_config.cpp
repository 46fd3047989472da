#include "engine/model/model_config.h"

#include <algorithm>
#include <cmath>

#include "engine/gguf/gguf_file.h"

namespace gs {
namespace {

// Per-layer arrays are sized from metadata; bound them before trusting it.
constexpr int64_t kMaxLayers = 512;
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxHeads = 4096;

Status CheckRange(const std::string& key, int64_t v, int64_t min, int64_t max) {
  if (v < min || v > max) {
    return Status::Error(key + " = " + std::to_string(v) + " is out of range [" +
                         std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return Status::Ok();
}

Status ReadDim(const GgufFile& f, const std::string& key, int64_t max, int32_t* out) {
  const std::optional<int64_t> v = f.GetInt(key);
  if (!v) return Status::Error("missing or non-integer metadata key " + key);
  GS_RETURN_IF_ERROR(CheckRange(key, *v, 1, max));
  *out = static_cast<int32_t>(*v);
  return Status::Ok();
}

// A key that is either one integer for every layer or an array of one per layer (llama.cpp's
// "scalar or per-layer array" keys). min 0 allows zeros (e.g. an FFN width of 0).
Status ReadPerLayer(const GgufFile& f, const std::string& key, int32_t num_layers, int64_t min,
                    int64_t max, std::vector<int32_t>* out) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) return Status::Error("missing metadata key " + key);
  if (v->type == GgufValueType::kArray) {
    const std::optional<std::vector<int32_t>> values = f.GetIntArray(key);
    if (!values || static_cast<int32_t>(values->size()) != num_layers) {
      return Status::Error(key + " must be one integer or an array of one integer per layer (" +
                           std::to_string(num_layers) + ")");
    }
    for (size_t i = 0; i < values->size(); ++i) {
      GS_RETURN_IF_ERROR(CheckRange(key + "[" + std::to_string(i) + "]", (*values)[i], min, max));
    }
    *out = *values;
    return Status::Ok();
  }
  const std::optional<int64_t> s = f.GetInt(key);
  if (!s) return Status::Error("metadata key " + key + " is not an integer");
  GS_RETURN_IF_ERROR(CheckRange(key, *s, min, max));
  out->assign(num_layers, static_cast<int32_t>(*s));
  return Status::Ok();
}

int32_t OptionalDim(const GgufFile& f, const std::string& key, int32_t fallback) {
  return static_cast<int32_t>(f.GetInt(key).value_or(fallback));
}

// Which layers slide: an explicit bool per layer, or every layer but each P-th (P = 6 unless
// metadata gives a period).
Status ReadSlidingLayers(const GgufFile& f, const std::string& p, int32_t num_layers,
                         std::vector<bool>* sliding) {
  sliding->assign(num_layers, false);
  const GgufValue* pattern = f.Find(p + "attention.sliding_window_pattern");
  if (pattern != nullptr && pattern->type == GgufValueType::kArray) {
    if (static_cast<int32_t>(pattern->elems.size()) != num_layers ||
        pattern->elem_type != GgufValueType::kBool) {
      return Status::Error(p + "attention.sliding_window_pattern must be one bool per layer");
    }
    for (int32_t i = 0; i < num_layers; ++i) (*sliding)[i] = pattern->elems[i].i != 0;
    return Status::Ok();
  }
  int64_t period = 6;
  if (pattern != nullptr) {
    const std::optional<int64_t> v = f.GetInt(p + "attention.sliding_window_pattern");
    if (!v || *v <= 0 || *v > kMaxLayers) {
      return Status::Error(p + "attention.sliding_window_pattern is invalid");
    }
    period = *v;
  }
  for (int32_t i = 0; i < num_layers; ++i) (*sliding)[i] = (i % period) < period - 1;
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ModelConfig::FromGguf(const GgufFile& f) {
  ModelConfig c;
  const std::optional<std::string_view> arch = f.GetString("general.architecture");
  if (!arch) return Status::Error("missing general.architecture");
  c.architecture = std::string(*arch);
  const bool gemma4 = c.architecture == "gemma4";
  if (c.architecture != "gemma3" && !gemma4) {
    return Status::Error("unsupported architecture '" + c.architecture +
                         "' (supported: gemma3, gemma4)");
  }
  c.name = std::string(f.GetString("general.name").value_or(*arch));
  const std::string p = c.architecture + ".";

  GS_RETURN_IF_ERROR(ReadDim(f, p + "block_count", kMaxLayers, &c.num_layers));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "embedding_length", kMaxDim, &c.hidden));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "context_length", int64_t{1} << 24, &c.context_length));
  const int32_t n = c.num_layers;
  std::vector<int32_t> num_heads, num_kv_heads, ffn_hidden;
  GS_RETURN_IF_ERROR(ReadPerLayer(f, p + "attention.head_count", n, 1, kMaxHeads, &num_heads));
  if (std::any_of(num_heads.begin(), num_heads.end(),
                  [&](int32_t h) { return h != num_heads[0]; })) {
    return Status::Error(p + "attention.head_count varies across layers, which is not supported");
  }
  c.num_heads = num_heads[0];
  GS_RETURN_IF_ERROR(
      ReadPerLayer(f, p + "attention.head_count_kv", n, 1, kMaxHeads, &num_kv_heads));
  GS_RETURN_IF_ERROR(ReadPerLayer(f, p + "feed_forward_length", n, 1, kMaxDim, &ffn_hidden));

  // Head dims: key_length is the global layers' (and every layer's when no _swa key exists).
  int32_t head_dim_global = 0, value_dim_global = 0;
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.key_length", 4096, &head_dim_global));
  GS_RETURN_IF_ERROR(ReadDim(f, p + "attention.value_length", 4096, &value_dim_global));
  const int32_t head_dim_swa = OptionalDim(f, p + "attention.key_length_swa", head_dim_global);
  const int32_t value_dim_swa = OptionalDim(f, p + "attention.value_length_swa", value_dim_global);
  GS_RETURN_IF_ERROR(CheckRange(p + "attention.key_length_swa", head_dim_swa, 2, 4096));
  if (value_dim_global != head_dim_global || value_dim_swa != head_dim_swa) {
    return Status::Error("key_length != value_length is not supported");
  }
  const int32_t n_rot_global = OptionalDim(f, p + "rope.dimension_count", head_dim_global);
  const int32_t n_rot_swa = OptionalDim(f, p + "rope.dimension_count_swa", n_rot_global);

  // The vocabulary's size is its token list's; a file without one (tokenizer.ggml.model
  // "none", as `gemma-serve synth` writes for llama.cpp's benchmarks) states it instead.
  const std::optional<std::vector<std::string_view>> tokens =
      f.GetStringArray("tokenizer.ggml.tokens");
  if (tokens && !tokens->empty()) {
    c.num_vocab = static_cast<int32_t>(tokens->size());
  } else if (f.Find(p + "vocab_size") != nullptr) {
    GS_RETURN_IF_ERROR(ReadDim(f, p + "vocab_size", kMaxDim, &c.num_vocab));
  } else {
    return Status::Error("missing tokenizer.ggml.tokens");
  }

  c.rms_eps = static_cast<float>(f.GetFloat(p + "attention.layer_norm_rms_epsilon").value_or(1e-6));
  c.embed_scale = std::sqrt(static_cast<float>(c.hidden));
  c.final_softcap = static_cast<float>(f.GetFloat(p + "final_logit_softcapping").value_or(0.0));
  if (!(c.rms_eps > 0) || !(c.final_softcap >= 0)) {
    return Status::Error(p + "attention.layer_norm_rms_epsilon or final_logit_softcapping invalid");
  }
  if (const std::optional<double> s = f.GetFloat(p + "attention.scale")) {
    c.attn_scale = static_cast<float>(*s);
  } else if (gemma4) {
    c.attn_scale = 1.0f;  // q and k are RMS-normed per head instead of scaled
  } else {
    // Gemma 3 scales q by query_pre_attn_scalar^-1/2, which GGUF does not store. It equals
    // head_dim for every checkpoint but 27B, the only one with 128-wide heads, which was trained
    // with hidden / heads (llama.cpp makes the same choice).
    const float pre_attn = head_dim_global == 128
                               ? static_cast<float>(c.hidden) / static_cast<float>(c.num_heads)
                               : static_cast<float>(head_dim_global);
    c.attn_scale = 1.0f / std::sqrt(pre_attn);
  }
  if (!(c.attn_scale > 0)) return Status::Error(p + "attention.scale must be positive");
  c.v_norm = gemma4;
  c.exact_gelu = gemma4;

  // RoPE: global layers use rope.freq_base with the linear scaling factor if any (and Gemma 4's
  // rope_freqs factors); sliding layers use rope.freq_base_swa (10000 when absent), unscaled.
  const float base_global = static_cast<float>(f.GetFloat(p + "rope.freq_base").value_or(10000.0));
  const float base_swa = static_cast<float>(f.GetFloat(p + "rope.freq_base_swa").value_or(10000.0));
  if (!(base_global > 0) || !(base_swa > 0)) return Status::Error(p + "rope.freq_base invalid");
  float scale_global = 1.0f;
  if (f.GetString(p + "rope.scaling.type").value_or("none") == "linear") {
    const double factor = f.GetFloat(p + "rope.scaling.factor").value_or(1.0);
    if (!(factor > 0)) return Status::Error(p + "rope.scaling.factor must be positive");
    scale_global = static_cast<float>(1.0 / factor);
  }
  const bool has_rope_freqs = f.FindTensor("rope_freqs.weight") != nullptr;

  const int64_t window = f.GetInt(p + "attention.sliding_window").value_or(0);
  GS_RETURN_IF_ERROR(CheckRange(p + "attention.sliding_window", window, 0, c.context_length));
  c.sliding_window = static_cast<int32_t>(window);
  std::vector<bool> sliding;
  GS_RETURN_IF_ERROR(ReadSlidingLayers(f, p, n, &sliding));

  // Gemma 4 extras, each 0 / absent on models without them.
  const int64_t num_shared_kv = f.GetInt(p + "attention.shared_kv_layers").value_or(0);
  GS_RETURN_IF_ERROR(CheckRange(p + "attention.shared_kv_layers", num_shared_kv, 0, n - 1));
  const int64_t ple_dim = f.GetInt(p + "embedding_length_per_layer_input").value_or(0);
  GS_RETURN_IF_ERROR(CheckRange(p + "embedding_length_per_layer_input", ple_dim, 0, kMaxDim));
  c.ple_dim = static_cast<int32_t>(ple_dim);
  const int64_t num_experts = f.GetInt(p + "expert_count").value_or(0);
  GS_RETURN_IF_ERROR(CheckRange(p + "expert_count", num_experts, 0, 4096));
  c.num_experts = static_cast<int32_t>(num_experts);
  if (c.num_experts > 0) {
    GS_RETURN_IF_ERROR(ReadDim(f, p + "expert_used_count", c.num_experts, &c.num_experts_used));
    GS_RETURN_IF_ERROR(ReadDim(f, p + "expert_feed_forward_length", kMaxDim, &c.expert_ffn_hidden));
  }
  if (const std::optional<std::vector<int32_t>> s =
          f.GetIntArray("tokenizer.ggml.suppress_tokens")) {
    for (int32_t id : *s) {
      if (id < 0 || id >= c.num_vocab) {
        return Status::Error("tokenizer.ggml.suppress_tokens holds id " + std::to_string(id) +
                             " outside the vocabulary");
      }
    }
    c.suppress_tokens = *s;
  }

  c.layers.assign(n, LayerConfig{});
  const int32_t first_shared = n - static_cast<int32_t>(num_shared_kv);
  for (int32_t i = 0; i < n; ++i) {
    LayerConfig& l = c.layers[i];
    const bool slides = c.sliding_window > 0 && sliding[i];
    l.kind = slides ? AttentionKind::kSliding : AttentionKind::kGlobal;
    l.window = slides ? c.sliding_window : 0;
    l.head_dim = slides ? head_dim_swa : head_dim_global;
    l.num_kv_heads = num_kv_heads[i];
    l.ffn_hidden = ffn_hidden[i];
    l.rope.base = slides ? base_swa : base_global;
    l.rope.freq_scale = slides ? 1.0f : scale_global;
    l.rope.n_rot = slides ? n_rot_swa : n_rot_global;
    l.rope.uses_freq_factors = !slides && has_rope_freqs;
    l.has_moe = c.num_experts > 0;
    const std::string blk = "blk." + std::to_string(i) + ".";
    if (c.num_heads % l.num_kv_heads != 0) {
      return Status::Error("layer " + std::to_string(i) +
                           ": head_count must be a multiple of head_count_kv");
    }
    if (l.head_dim % 2 != 0 || l.rope.n_rot % 2 != 0 || l.rope.n_rot <= 0 ||
        l.rope.n_rot > l.head_dim) {
      return Status::Error("layer " + std::to_string(i) + ": head dim " +
                           std::to_string(l.head_dim) + " and rotary dims " +
                           std::to_string(l.rope.n_rot) + " must be even, rotary <= head dim");
    }
    // KV sharing: the trailing shared layers read the cache of the last layer of their kind
    // that stores one (transformers' rule; llama.cpp's for the released layouts).
    l.kv_layer = i;
    if (i >= first_shared) {
      l.kv_layer = -1;
      for (int32_t j = first_shared - 1; j >= 0; --j) {
        if (c.layers[j].kind == l.kind) {
          l.kv_layer = j;
          break;
        }
      }
      if (l.kv_layer < 0) {
        return Status::Error("layer " + std::to_string(i) +
                             " shares KV but no earlier layer of its kind stores any");
      }
    } else {
      l.k_eq_v = gemma4 && f.FindTensor(blk + "attn_v.weight") == nullptr &&
                 f.FindTensor(blk + "attn_k.weight") != nullptr;
    }
  }
  GS_RETURN_IF_ERROR(c.AssignKvGroups());
  return c;
}

Status ModelConfig::AssignKvGroups() {
  kv_groups.clear();
  for (int32_t i = 0; i < num_layers; ++i) {
    const LayerConfig& l = layers[i];
    if (l.kv_layer != i) continue;
    int32_t group_idx = -1;
    for (int32_t g = 0; g < static_cast<int32_t>(kv_groups.size()); ++g) {
      const KvGroupConfig& kg = kv_groups[g];
      if (kg.kind == l.kind && kg.window == l.window && kg.head_dim == l.head_dim &&
          kg.num_kv_heads == l.num_kv_heads) {
        group_idx = g;
      }
    }
    if (group_idx < 0) {
      kv_groups.push_back(KvGroupConfig{l.kind, l.window, l.num_kv_heads, l.head_dim, {}});
      group_idx = static_cast<int32_t>(kv_groups.size()) - 1;
    }
    kv_groups[group_idx].layers.push_back(i);
  }
  for (int32_t i = 0; i < num_layers; ++i) {
    const LayerConfig& l = layers[i];
    if (l.kv_layer < 0 || l.kv_layer > i) {
      return Status::Error("layer " + std::to_string(i) + " reads the KV cache of layer " +
                           std::to_string(l.kv_layer) + ", which does not precede it");
    }
    const LayerConfig& src = layers[l.kv_layer];
    if (src.kv_layer != l.kv_layer || src.kind != l.kind || src.head_dim != l.head_dim ||
        src.num_kv_heads != l.num_kv_heads) {
      return Status::Error("layer " + std::to_string(i) + " cannot read the KV cache of layer " +
                           std::to_string(l.kv_layer) + " (another kind or head shape)");
    }
  }
  for (int32_t g = 0; g < static_cast<int32_t>(kv_groups.size()); ++g) {
    for (int32_t owner : kv_groups[g].layers) layers[owner].kv_group = g;
  }
  for (LayerConfig& l : layers) l.kv_group = layers[l.kv_layer].kv_group;
  return Status::Ok();
}

LayerWidths MaxLayerWidths(const ModelConfig& c) {
  LayerWidths w;
  for (const LayerConfig& l : c.layers) {
    w.q = std::max(w.q, int64_t{c.num_heads} * l.head_dim);
    w.kv = std::max(w.kv, int64_t{l.num_kv_heads} * l.head_dim);
    w.ffn = std::max<int64_t>(w.ffn, l.ffn_hidden);
  }
  return w;
}

}  // namespace gs
