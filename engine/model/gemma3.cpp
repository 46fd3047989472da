#include "engine/model/gemma3.h"

#include <string>

#include "engine/gguf/gguf_file.h"  // GgufTensorInfo

namespace gs {

StatusOr<std::unique_ptr<Model>> Gemma3Model::Load(const TensorLookup& tensors, ModelConfig config,
                                                   Backend& backend) {
  std::unique_ptr<Gemma3Model> m(new Gemma3Model(std::move(config)));
  const ModelConfig& c = m->config_;
  WeightLoader loader(tensors, backend);
  GS_RETURN_IF_ERROR(loader.Load("token_embd.weight", {c.hidden, c.num_vocab}, &m->token_embd_));
  GS_RETURN_IF_ERROR(loader.Load("output_norm.weight", {c.hidden}, &m->output_norm_));
  if (loader.Has("output.weight")) {
    GS_RETURN_IF_ERROR(loader.Load("output.weight", {c.hidden, c.num_vocab}, &m->output_));
  } else {
    m->output_ = m->token_embd_;
  }
  m->layers_.resize(c.num_layers);
  for (int32_t i = 0; i < c.num_layers; ++i) {
    const LayerConfig& lc = c.layers[i];
    if (lc.kv_layer != i || lc.k_eq_v || lc.has_moe || lc.rope.uses_freq_factors) {
      return Status::Error("layer " + std::to_string(i) +
                           " has a Gemma 4 feature in a gemma3 file");
    }
    const int64_t q_width = int64_t{c.num_heads} * lc.head_dim;
    const int64_t kv_width = int64_t{lc.num_kv_heads} * lc.head_dim;
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = m->layers_[i];
    struct Spec {
      const char* name;
      std::initializer_list<int64_t> shape;
      Weight* out;
    } specs[] = {
        {"attn_norm.weight", {c.hidden}, &l.attn_norm},
        {"attn_q.weight", {c.hidden, q_width}, &l.attn_q},
        {"attn_k.weight", {c.hidden, kv_width}, &l.attn_k},
        {"attn_v.weight", {c.hidden, kv_width}, &l.attn_v},
        {"attn_q_norm.weight", {lc.head_dim}, &l.attn_q_norm},
        {"attn_k_norm.weight", {lc.head_dim}, &l.attn_k_norm},
        {"attn_output.weight", {q_width, c.hidden}, &l.attn_output},
        {"post_attention_norm.weight", {c.hidden}, &l.post_attention_norm},
        {"ffn_norm.weight", {c.hidden}, &l.ffn_norm},
        {"ffn_gate.weight", {c.hidden, lc.ffn_hidden}, &l.ffn_gate},
        {"ffn_up.weight", {c.hidden, lc.ffn_hidden}, &l.ffn_up},
        {"ffn_down.weight", {lc.ffn_hidden, c.hidden}, &l.ffn_down},
        {"post_ffw_norm.weight", {c.hidden}, &l.post_ffw_norm},
    };
    for (const Spec& s : specs) GS_RETURN_IF_ERROR(loader.Load(p + s.name, s.shape, s.out));
  }
  return std::unique_ptr<Model>(std::move(m));
}

// llama.cpp's gemma3 graph, straight-line over the backend's ops. Gemma 3 norms carry their +1 in
// the GGUF weights, so every norm multiplies by the stored weight as is.
Act Gemma3Model::ForwardLogits(const Batch& batch, Backend& b, float* host_logits) const {
  const ModelConfig& c = config_;
  const int64_t num_tokens = batch.num_tokens();
  b.ResetArena();
  const LayerWidths& max = max_widths_;
  Act h = b.Alloc(num_tokens, c.hidden);  // the residual stream
  Act x = b.Alloc(num_tokens, c.hidden);
  // Sized for the widest layer once; each layer takes views of its own width.
  Act q_buf = b.Alloc(num_tokens, max.q), attn_buf = b.Alloc(num_tokens, max.q);
  Act k_buf = b.Alloc(num_tokens, max.kv), v_buf = b.Alloc(num_tokens, max.kv);
  Act gate_buf = b.Alloc(num_tokens, max.ffn), up_buf = b.Alloc(num_tokens, max.ffn);

  b.Embed(batch, token_embd_, c.embed_scale, h);
  for (int32_t il = 0; il < c.num_layers; ++il) {
    const LayerWeights& w = layers_[il];
    const LayerConfig& lc = c.layers[il];
    const Act q = q_buf.View(int64_t{c.num_heads} * lc.head_dim);
    const Act attn = attn_buf.View(q.num_cols);
    const Act k = k_buf.View(int64_t{lc.num_kv_heads} * lc.head_dim);
    const Act v = v_buf.View(k.num_cols);
    const Act gate = gate_buf.View(lc.ffn_hidden), up = up_buf.View(lc.ffn_hidden);
    // Attention block.
    b.RmsNorm(h, w.attn_norm, c.rms_eps, x);
    b.MatMuls(x, {{&w.attn_q, q}, {&w.attn_k, k}, {&w.attn_v, v}});
    HeadNormRopeSpec rope{c.num_heads,   true,         &w.attn_q_norm,     c.rms_eps,
                          lc.rope.n_rot, lc.rope.base, lc.rope.freq_scale, nullptr};
    b.HeadNormRope(batch, q, rope);
    rope.num_heads = lc.num_kv_heads;
    rope.norm = &w.attn_k_norm;
    b.HeadNormRope(batch, k, rope);
    b.StoreKv(batch, il, lc.kv_group, k, v);
    const AttentionSpec spec{c.num_heads, lc.num_kv_heads, lc.head_dim, lc.window, c.attn_scale, 0};
    b.Attention(batch, il, lc.kv_group, q, spec, attn);
    b.MatMul(attn, w.attn_output, x);
    b.NormAdd(x, w.post_attention_norm, c.rms_eps, h);
    // Feed-forward block (GeGLU).
    b.RmsNorm(h, w.ffn_norm, c.rms_eps, x);
    b.MatMuls(x, {{&w.ffn_gate, gate}, {&w.ffn_up, up}});
    b.GeGlu(gate, up, 0, !c.exact_gelu);
    b.MatMul(gate, w.ffn_down, x);
    b.NormAdd(x, w.post_ffw_norm, c.rms_eps, h);
  }
  // Only the rows that need logits go through the final norm and the vocabulary projection.
  return OutputLogits(batch, b, h, output_norm_, output_, c.rms_eps, c.num_vocab, host_logits);
}

}  // namespace gs
