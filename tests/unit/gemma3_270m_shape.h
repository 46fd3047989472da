// The default model's shape (configs/models/gemma3-270m.json) spelled out for C++ tests, which do
// not read JSON; tests shrink layers or vocabulary from it where they need speed.
#pragma once

#include "engine/model/synthetic_model.h"

namespace gs {

inline SyntheticShape Gemma3_270mShape() {
  SyntheticShape s;
  s.name = "gemma3-270m";
  s.num_layers = 18;
  s.hidden = 640;
  s.ffn_hidden = 2048;
  s.num_heads = 4;
  s.num_kv_heads = 1;
  s.head_dim = 256;
  s.num_vocab = 262144;
  s.context_length = 32768;
  s.sliding_window = 512;
  s.query_pre_attn_scalar = 256;
  return s;
}

}  // namespace gs
