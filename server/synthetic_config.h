// Model shapes for synthetic models (configs/models/*.json): the JSON is read here, in server/,
// so that the engine never parses JSON; engine/model/synthetic_model.h builds the model.
#pragma once

#include <string>

#include "engine/model/synthetic_model.h"
#include "engine/status.h"

namespace gs {

// Parses a shape file's text. `source` names it in errors ("gemma3-270m.json: hidden ...").
// Required: num_layers, hidden, ffn_hidden, num_heads, num_kv_heads, head_dim, num_vocab,
// context_length. Optional: name, description, architecture ("gemma3" or "gemma4"),
// sliding_window, sliding_window_pattern, rope_base_local, rope_base_global, rope_scaling_factor,
// rms_eps, query_pre_attn_scalar, final_logit_softcap, tied_embedding; Gemma 4's head_dim_global,
// num_kv_heads_global, k_eq_v_global, rotary_fraction_global, ple_dim, num_kv_shared_layers,
// double_wide_mlp, num_experts, num_experts_used, expert_ffn_hidden, suppress_tokens
// (SyntheticShape's fields).
// Any other key is an error, and the values are checked as SyntheticModelConfig checks them.
StatusOr<SyntheticShape> ParseSyntheticShape(const std::string& text, const std::string& source);

// Reads and parses the file; the name defaults to the file's stem.
StatusOr<SyntheticShape> LoadSyntheticShape(const std::string& path);

}  // namespace gs
