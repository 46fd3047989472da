#include "engine/model/gemma3.h"

#include <string>

#include "engine/gguf/gguf_file.h"  // GgufTensorInfo

namespace gs {
namespace {

// Loads a tensor and checks it has exactly the shape the config implies (never trust a kernel
// to cope with a shape the metadata did not promise).
Status LoadChecked(const TensorLookup& tensors, Backend& backend, const std::string& name,
                   int64_t num_cols, int64_t num_rows, Weight* out) {
  const GgufTensorInfo* t = tensors(name);
  if (t == nullptr) return Status::Error("missing tensor " + name);
  const int64_t want_dims = num_rows == 1 ? 1 : 2;
  if (t->ne[0] != num_cols || t->ne[1] != num_rows || t->ne[2] != 1 || t->ne[3] != 1 ||
      t->num_dims > want_dims) {
    return Status::Error("tensor " + name + " has shape [" + std::to_string(t->ne[0]) + ", " +
                         std::to_string(t->ne[1]) + "], expected [" + std::to_string(num_cols) +
                         ", " + std::to_string(num_rows) + "]");
  }
  StatusOr<Weight> w = backend.LoadWeight(*t);
  if (!w.ok()) return w.status();
  *out = *w;
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> Gemma3Model::Load(const TensorLookup& tensors, ModelConfig config,
                                                   Backend& backend) {
  std::unique_ptr<Gemma3Model> m(new Gemma3Model(std::move(config)));
  const ModelConfig& c = m->config_;
  const int64_t q_width = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.num_kv_heads} * c.head_dim;
  GS_RETURN_IF_ERROR(
      LoadChecked(tensors, backend, "token_embd.weight", c.hidden, c.num_vocab, &m->token_embd_));
  GS_RETURN_IF_ERROR(
      LoadChecked(tensors, backend, "output_norm.weight", c.hidden, 1, &m->output_norm_));
  if (tensors("output.weight") != nullptr) {
    GS_RETURN_IF_ERROR(
        LoadChecked(tensors, backend, "output.weight", c.hidden, c.num_vocab, &m->output_));
  } else {
    m->output_ = m->token_embd_;
  }
  m->layers_.resize(c.num_layers);
  for (int32_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = m->layers_[i];
    struct Spec {
      const char* name;
      int64_t num_cols, num_rows;
      Weight* out;
    } specs[] = {
        {"attn_norm.weight", c.hidden, 1, &l.attn_norm},
        {"attn_q.weight", c.hidden, q_width, &l.attn_q},
        {"attn_k.weight", c.hidden, kv_width, &l.attn_k},
        {"attn_v.weight", c.hidden, kv_width, &l.attn_v},
        {"attn_q_norm.weight", c.head_dim, 1, &l.attn_q_norm},
        {"attn_k_norm.weight", c.head_dim, 1, &l.attn_k_norm},
        {"attn_output.weight", q_width, c.hidden, &l.attn_output},
        {"post_attention_norm.weight", c.hidden, 1, &l.post_attention_norm},
        {"ffn_norm.weight", c.hidden, 1, &l.ffn_norm},
        {"ffn_gate.weight", c.hidden, c.ffn_hidden, &l.ffn_gate},
        {"ffn_up.weight", c.hidden, c.ffn_hidden, &l.ffn_up},
        {"ffn_down.weight", c.ffn_hidden, c.hidden, &l.ffn_down},
        {"post_ffw_norm.weight", c.hidden, 1, &l.post_ffw_norm},
    };
    for (const Spec& s : specs) {
      GS_RETURN_IF_ERROR(LoadChecked(tensors, backend, p + s.name, s.num_cols, s.num_rows, s.out));
    }
  }
  return std::unique_ptr<Model>(std::move(m));
}

// gemma-arch.md §3.4, straight-line over the backend's ops. Gemma 3 norms carry their +1 in the
// GGUF weights, so every norm multiplies by the stored weight as is.
Act Gemma3Model::ForwardLogits(const Batch& batch, Backend& b, float* host_logits) const {
  const ModelConfig& c = config_;
  const int64_t num_tokens = batch.num_tokens();
  const int64_t q_width = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.num_kv_heads} * c.head_dim;
  b.ResetArena();
  Act h = b.Alloc(num_tokens, c.hidden);  // the residual stream
  Act x = b.Alloc(num_tokens, c.hidden);
  Act q = b.Alloc(num_tokens, q_width);
  Act k = b.Alloc(num_tokens, kv_width);
  Act v = b.Alloc(num_tokens, kv_width);
  Act attn = b.Alloc(num_tokens, q_width);
  Act gate = b.Alloc(num_tokens, c.ffn_hidden);
  Act up = b.Alloc(num_tokens, c.ffn_hidden);

  b.Embed(batch, token_embd_, c.embed_scale, h);
  for (int32_t il = 0; il < c.num_layers; ++il) {
    const LayerWeights& w = layers_[il];
    const LayerConfig& lc = c.layers[il];
    // Attention block.
    b.RmsNorm(h, w.attn_norm, c.rms_eps, x);
    b.MatMuls(x, {{&w.attn_q, q}, {&w.attn_k, k}, {&w.attn_v, v}});
    b.QkNormRope(batch, q, c.num_heads, &w.attn_q_norm, c.rms_eps, lc.rope_base,
                 lc.rope_freq_scale);
    b.QkNormRope(batch, k, c.num_kv_heads, &w.attn_k_norm, c.rms_eps, lc.rope_base,
                 lc.rope_freq_scale);
    b.StoreKv(batch, il, lc.kv_group, k, v);
    const AttentionSpec spec{c.num_heads, c.num_kv_heads, c.head_dim, lc.window, c.attn_scale, 0};
    b.Attention(batch, il, lc.kv_group, q, spec, attn);
    b.MatMul(attn, w.attn_output, x);
    b.NormAdd(x, w.post_attention_norm, c.rms_eps, h);
    // Feed-forward block (GeGLU).
    b.RmsNorm(h, w.ffn_norm, c.rms_eps, x);
    b.MatMuls(x, {{&w.ffn_gate, gate}, {&w.ffn_up, up}});
    b.GeGlu(gate, up);
    b.MatMul(gate, w.ffn_down, x);
    b.NormAdd(x, w.post_ffw_norm, c.rms_eps, h);
  }
  // Only the rows that need logits go through the final norm and the vocabulary projection.
  const int64_t num_out = static_cast<int64_t>(batch.logits_rows.size());
  if (num_out == 0) return Act{};
  Act last = b.Alloc(num_out, c.hidden);
  b.GatherRows(h, batch.logits_rows, last);
  b.RmsNorm(last, output_norm_, c.rms_eps, last);
  Act out = b.LogitsBuffer(host_logits, num_out, c.num_vocab);
  b.MatMul(last, output_, out);
  return out;
}

}  // namespace gs
