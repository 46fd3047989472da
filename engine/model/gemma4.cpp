#include "engine/model/gemma4.h"

#include <cmath>
#include <string>

#include "engine/gguf/gguf_file.h"  // GgufTensorInfo

namespace gs {

StatusOr<std::unique_ptr<Model>> Gemma4Model::Load(const TensorLookup& tensors, ModelConfig config,
                                                   Backend& backend) {
  std::unique_ptr<Gemma4Model> m(new Gemma4Model(std::move(config)));
  const ModelConfig& c = m->config_;
  WeightLoader loader(tensors, backend);
  GS_RETURN_IF_ERROR(loader.Load("token_embd.weight", {c.hidden, c.num_vocab}, &m->token_embd_));
  GS_RETURN_IF_ERROR(loader.Load("output_norm.weight", {c.hidden}, &m->output_norm_));
  if (loader.Has("output.weight")) {
    GS_RETURN_IF_ERROR(loader.Load("output.weight", {c.hidden, c.num_vocab}, &m->output_));
  } else {
    m->output_ = m->token_embd_;
  }
  int32_t freq_factor_pairs = 0;
  for (const LayerConfig& l : c.layers) {
    if (!l.rope.uses_freq_factors) continue;
    if (freq_factor_pairs != 0 && freq_factor_pairs != l.rope.n_rot / 2) {
      return Status::Error("layers using rope_freqs rotate different numbers of dims");
    }
    freq_factor_pairs = l.rope.n_rot / 2;
  }
  if (freq_factor_pairs > 0) {
    GS_RETURN_IF_ERROR(loader.Load("rope_freqs.weight", {freq_factor_pairs}, &m->rope_freqs_));
  }
  if (c.ple_dim > 0) {
    const int64_t ple_width = int64_t{c.ple_dim} * c.num_layers;
    GS_RETURN_IF_ERROR(
        loader.Load("per_layer_token_embd.weight", {ple_width, c.num_vocab}, &m->ple_table_));
    GS_RETURN_IF_ERROR(
        loader.Load("per_layer_model_proj.weight", {c.hidden, ple_width}, &m->ple_model_proj_));
    GS_RETURN_IF_ERROR(loader.Load("per_layer_proj_norm.weight", {c.ple_dim}, &m->ple_proj_norm_));
  }
  m->layers_.resize(c.num_layers);
  for (int32_t i = 0; i < c.num_layers; ++i) GS_RETURN_IF_ERROR(m->LoadLayer(loader, i, backend));
  return std::unique_ptr<Model>(std::move(m));
}

Status Gemma4Model::LoadLayer(WeightLoader& loader, int32_t il, Backend& backend) {
  const ModelConfig& c = config_;
  const LayerConfig& lc = c.layers[il];
  LayerWeights& l = layers_[il];
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t q_width = int64_t{c.num_heads} * lc.head_dim;
  const int64_t kv_width = int64_t{lc.num_kv_heads} * lc.head_dim;
  GS_RETURN_IF_ERROR(loader.Load(p + "attn_norm.weight", {c.hidden}, &l.attn_norm));
  GS_RETURN_IF_ERROR(loader.Load(p + "attn_q.weight", {c.hidden, q_width}, &l.attn_q));
  GS_RETURN_IF_ERROR(loader.Load(p + "attn_q_norm.weight", {lc.head_dim}, &l.attn_q_norm));
  if (lc.kv_layer == il) {
    GS_RETURN_IF_ERROR(loader.Load(p + "attn_k.weight", {c.hidden, kv_width}, &l.attn_k));
    GS_RETURN_IF_ERROR(loader.Load(p + "attn_k_norm.weight", {lc.head_dim}, &l.attn_k_norm));
    if (!lc.k_eq_v) {
      GS_RETURN_IF_ERROR(loader.Load(p + "attn_v.weight", {c.hidden, kv_width}, &l.attn_v));
    }
  }
  GS_RETURN_IF_ERROR(loader.Load(p + "attn_output.weight", {q_width, c.hidden}, &l.attn_output));
  GS_RETURN_IF_ERROR(
      loader.Load(p + "post_attention_norm.weight", {c.hidden}, &l.post_attention_norm));
  GS_RETURN_IF_ERROR(loader.Load(p + "ffn_norm.weight", {c.hidden}, &l.ffn_norm));
  GS_RETURN_IF_ERROR(loader.Load(p + "ffn_gate.weight", {c.hidden, lc.ffn_hidden}, &l.ffn_gate));
  GS_RETURN_IF_ERROR(loader.Load(p + "ffn_up.weight", {c.hidden, lc.ffn_hidden}, &l.ffn_up));
  GS_RETURN_IF_ERROR(loader.Load(p + "ffn_down.weight", {lc.ffn_hidden, c.hidden}, &l.ffn_down));
  GS_RETURN_IF_ERROR(loader.Load(p + "post_ffw_norm.weight", {c.hidden}, &l.post_ffw_norm));
  if (loader.Has(p + "layer_output_scale.weight")) {
    StatusOr<std::vector<float>> s = loader.HostValues(p + "layer_output_scale.weight", 1);
    if (!s.ok()) return s.status();
    l.output_scale = (*s)[0];
  }

  if (lc.has_moe) {
    const int64_t num_experts = c.num_experts, expert_ffn = c.expert_ffn_hidden;
    GS_RETURN_IF_ERROR(loader.Load(p + "ffn_gate_inp.weight", {c.hidden, num_experts}, &l.router));
    GS_RETURN_IF_ERROR(loader.Load(p + "pre_ffw_norm_2.weight", {c.hidden}, &l.pre_ffw_norm_2));
    GS_RETURN_IF_ERROR(loader.Load(p + "post_ffw_norm_1.weight", {c.hidden}, &l.post_ffw_norm_1));
    GS_RETURN_IF_ERROR(loader.Load(p + "post_ffw_norm_2.weight", {c.hidden}, &l.post_ffw_norm_2));
    l.fused_gate_up = loader.Has(p + "ffn_gate_up_exps.weight");
    if (!l.fused_gate_up && !loader.Has(p + "ffn_gate_exps.weight")) {
      return Status::Error("missing tensor " + p + "ffn_gate_up_exps.weight (or " + p +
                           "ffn_gate_exps.weight and ffn_up_exps.weight)");
    }
    if (l.fused_gate_up) {
      GS_RETURN_IF_ERROR(loader.Load(p + "ffn_gate_up_exps.weight",
                                     {c.hidden, 2 * expert_ffn, num_experts}, &l.experts_gate_up));
    } else {
      GS_RETURN_IF_ERROR(loader.Load(p + "ffn_gate_exps.weight",
                                     {c.hidden, expert_ffn, num_experts}, &l.experts_gate));
      GS_RETURN_IF_ERROR(loader.Load(p + "ffn_up_exps.weight", {c.hidden, expert_ffn, num_experts},
                                     &l.experts_up));
    }
    GS_RETURN_IF_ERROR(loader.Load(p + "ffn_down_exps.weight", {expert_ffn, c.hidden, num_experts},
                                   &l.experts_down));
    if (loader.Has(p + "ffn_down_exps.scale")) {
      StatusOr<std::vector<float>> s = loader.HostValues(p + "ffn_down_exps.scale", num_experts);
      if (!s.ok()) return s.status();
      l.expert_scales = std::move(s).value();
    }
    // The router reads rmsnorm(residual) * scale / sqrt(hidden): one RMSNorm with the product as
    // its weight, made here once.
    StatusOr<std::vector<float>> scale = loader.HostValues(p + "ffn_gate_inp.scale", c.hidden);
    if (!scale.ok()) return scale.status();
    auto values = std::make_unique<float[]>(c.hidden);
    const float inv_sqrt_hidden = 1.0f / std::sqrt(static_cast<float>(c.hidden));
    for (int32_t i = 0; i < c.hidden; ++i) values[i] = (*scale)[i] * inv_sqrt_hidden;
    auto info = std::make_unique<GgufTensorInfo>();
    info->name = p + "ffn_gate_inp.scale";
    info->type = GgmlType::kF32;
    info->num_dims = 1;
    info->ne[0] = c.hidden;
    info->num_bytes = sizeof(float) * c.hidden;
    info->data = reinterpret_cast<const uint8_t*>(values.get());
    StatusOr<Weight> w = backend.LoadWeight(*info);
    if (!w.ok()) return w.status();
    l.router_norm = *w;
    derived_values_.push_back(std::move(values));
    derived_tensors_.push_back(std::move(info));
  }

  if (c.ple_dim > 0) {
    GS_RETURN_IF_ERROR(loader.Load(p + "inp_gate.weight", {c.hidden, c.ple_dim}, &l.ple_gate));
    GS_RETURN_IF_ERROR(loader.Load(p + "proj.weight", {c.ple_dim, c.hidden}, &l.ple_proj));
    GS_RETURN_IF_ERROR(loader.Load(p + "post_norm.weight", {c.hidden}, &l.ple_post_norm));
  }
  return Status::Ok();
}

// transformers' modeling_gemma4 and llama.cpp's gemma4 graph, straight-line over the backend's ops.
// Gemma 4 norms multiply by the stored weight (no +1 anywhere), as Gemma 3's GGUF norms do after
// the converter's +1.
Act Gemma4Model::ForwardLogits(const Batch& batch, Backend& b, float* host_logits) const {
  const ModelConfig& c = config_;
  const int64_t num_tokens = batch.num_tokens();
  const LayerWidths& max = max_widths_;
  b.ResetArena();
  Act h = b.Alloc(num_tokens, c.hidden);  // the residual stream
  Act x = b.Alloc(num_tokens, c.hidden);
  // Sized for the widest layer once; each layer takes views of its own width.
  Act q_buf = b.Alloc(num_tokens, max.q), attn_buf = b.Alloc(num_tokens, max.q);
  Act k_buf = b.Alloc(num_tokens, max.kv), v_buf = b.Alloc(num_tokens, max.kv);
  Act gate_buf = b.Alloc(num_tokens, max.ffn), up_buf = b.Alloc(num_tokens, max.ffn);

  b.Embed(batch, token_embd_, c.embed_scale, h);

  // Per-layer embeddings: (rmsnorm(proj(h0) / sqrt(hidden)) per slice + table[token] *
  // sqrt(ple_dim)) / sqrt(2), one slice of ple_dim per layer. Media rows use table row 0.
  Act ple, ple_gate;
  if (c.ple_dim > 0) {
    const int64_t ple_width = int64_t{c.ple_dim} * c.num_layers;
    ple = b.Alloc(num_tokens, ple_width);
    Act context = b.Alloc(num_tokens, ple_width);
    ple_gate = b.Alloc(num_tokens, c.ple_dim);
    b.Embed(batch, ple_table_, std::sqrt(static_cast<float>(c.ple_dim)), ple, /*overrides=*/false);
    b.MatMul(h, ple_model_proj_, context);
    b.Scale(context, 1.0f / std::sqrt(static_cast<float>(c.hidden)));
    b.RmsNorm(context, ple_proj_norm_, c.rms_eps, context);
    b.Add(context, ple);
    b.Scale(ple, 1.0f / std::sqrt(2.0f));
  }
  Act moe_in, moe_out, router_logits;
  if (c.num_experts > 0) {
    moe_in = b.Alloc(num_tokens, c.hidden);
    moe_out = b.Alloc(num_tokens, c.hidden);
    router_logits = b.Alloc(num_tokens, c.num_experts);
  }

  for (int32_t il = 0; il < c.num_layers; ++il) {
    const LayerWeights& w = layers_[il];
    const LayerConfig& lc = c.layers[il];
    const Act q = q_buf.View(int64_t{c.num_heads} * lc.head_dim);
    const Act attn = attn_buf.View(q.num_cols);
    const Act k = k_buf.View(int64_t{lc.num_kv_heads} * lc.head_dim);
    const Act v = v_buf.View(k.num_cols);
    const Act gate = gate_buf.View(lc.ffn_hidden), up = up_buf.View(lc.ffn_hidden);
    const Weight* freq_factors = lc.rope.uses_freq_factors ? &rope_freqs_ : nullptr;

    // Attention block. A layer that shares KV projects only q and reads its donor's cache.
    b.RmsNorm(h, w.attn_norm, c.rms_eps, x);
    HeadNormRopeSpec rope{c.num_heads,   true,         &w.attn_q_norm,     c.rms_eps,
                          lc.rope.n_rot, lc.rope.base, lc.rope.freq_scale, freq_factors};
    if (lc.kv_layer == il) {
      if (lc.k_eq_v) {
        b.MatMuls(x, {{&w.attn_q, q}, {&w.attn_k, k}});
        b.Copy(k, v);  // V is the raw K projection, taken before K's norm and RoPE
      } else {
        b.MatMuls(x, {{&w.attn_q, q}, {&w.attn_k, k}, {&w.attn_v, v}});
      }
      HeadNormRopeSpec k_rope = rope;
      k_rope.num_heads = lc.num_kv_heads;
      k_rope.norm = &w.attn_k_norm;
      b.HeadNormRope(batch, k, k_rope);
      if (c.v_norm) {
        b.HeadNormRope(batch, v, HeadNormRopeSpec{lc.num_kv_heads, true, nullptr, c.rms_eps, 0});
      }
      b.StoreKv(batch, il, lc.kv_group, k, v);
    } else {
      b.MatMul(x, w.attn_q, q);
    }
    b.HeadNormRope(batch, q, rope);
    const AttentionSpec spec{c.num_heads, lc.num_kv_heads, lc.head_dim, lc.window, c.attn_scale, 0};
    b.Attention(batch, lc.kv_layer, lc.kv_group, q, spec, attn);
    b.MatMul(attn, w.attn_output, x);
    b.NormAdd(x, w.post_attention_norm, c.rms_eps, h);

    // Feed-forward block: the dense GeGLU, and beside it the experts, both reading the
    // post-attention residual h.
    b.RmsNorm(h, w.ffn_norm, c.rms_eps, x);
    b.MatMuls(x, {{&w.ffn_gate, gate}, {&w.ffn_up, up}});
    b.GeGlu(gate, up, 0, !c.exact_gelu);
    b.MatMul(gate, w.ffn_down, x);
    if (lc.has_moe) {
      b.RmsNorm(x, w.post_ffw_norm_1, c.rms_eps, x);
      b.RmsNorm(h, w.router_norm, c.rms_eps, moe_in);
      b.MatMul(moe_in, w.router, router_logits);
      b.RmsNorm(h, w.pre_ffw_norm_2, c.rms_eps, moe_in);
      const MoeSpec moe{w.fused_gate_up ? &w.experts_gate_up : nullptr,
                        w.fused_gate_up ? nullptr : &w.experts_gate,
                        w.fused_gate_up ? nullptr : &w.experts_up,
                        &w.experts_down,
                        w.expert_scales.empty() ? nullptr : w.expert_scales.data(),
                        c.num_experts,
                        c.num_experts_used,
                        c.expert_ffn_hidden,
                        !c.exact_gelu};
      b.Moe(moe_in, router_logits, moe, moe_out);
      b.RmsNorm(moe_out, w.post_ffw_norm_2, c.rms_eps, moe_out);
      b.Add(moe_out, x);
    }
    b.NormAdd(x, w.post_ffw_norm, c.rms_eps, h);

    // Per-layer embedding: gelu(h · inp_gate) * this layer's slice, projected back and normed.
    if (c.ple_dim > 0) {
      b.MatMul(h, w.ple_gate, ple_gate);
      b.GeGlu(ple_gate, ple, int64_t{il} * c.ple_dim, !c.exact_gelu);
      b.MatMul(ple_gate, w.ple_proj, x);
      b.NormAdd(x, w.ple_post_norm, c.rms_eps, h);
    }
    if (w.output_scale != 1.0f) b.Scale(h, w.output_scale);
  }

  return OutputLogits(batch, b, h, output_norm_, output_, c.rms_eps, c.num_vocab, host_logits);
}

}  // namespace gs
