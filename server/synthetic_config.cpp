#include "server/synthetic_config.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace gs {
namespace {

using nlohmann::json;

Status ReadInt(const json& j, const std::string& key, bool required, int32_t* out) {
  const auto it = j.find(key);
  if (it == j.end()) {
    return required ? Status::Error("missing required field '" + key + "'") : Status::Ok();
  }
  if (!it->is_number_integer()) return Status::Error("'" + key + "' must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Status::Error("'" + key + "' = " + std::to_string(v) + " is out of range");
  }
  *out = static_cast<int32_t>(v);
  return Status::Ok();
}

Status ReadFloat(const json& j, const std::string& key, float* out) {
  const auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_number()) return Status::Error("'" + key + "' must be a number");
  *out = it->get<float>();
  return Status::Ok();
}

Status ReadBool(const json& j, const std::string& key, bool* out) {
  const auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  if (!it->is_boolean()) return Status::Error("'" + key + "' must be a bool");
  *out = it->get<bool>();
  return Status::Ok();
}

Status ParseFields(const json& j, SyntheticShape* s) {
  if (!j.is_object()) return Status::Error("expected a JSON object");
  static const std::set<std::string> kKnown = {"name",
                                               "description",
                                               "architecture",
                                               "num_layers",
                                               "hidden",
                                               "ffn_hidden",
                                               "num_heads",
                                               "num_kv_heads",
                                               "head_dim",
                                               "num_vocab",
                                               "context_length",
                                               "sliding_window",
                                               "sliding_window_pattern",
                                               "rope_base_local",
                                               "rope_base_global",
                                               "rope_scaling_factor",
                                               "rms_eps",
                                               "query_pre_attn_scalar",
                                               "final_logit_softcap",
                                               "tied_embedding",
                                               "head_dim_global",
                                               "num_kv_heads_global",
                                               "k_eq_v_global",
                                               "rotary_fraction_global",
                                               "ple_dim",
                                               "num_kv_shared_layers",
                                               "double_wide_mlp",
                                               "num_experts",
                                               "num_experts_used",
                                               "expert_ffn_hidden",
                                               "suppress_tokens"};
  for (const auto& [key, value] : j.items()) {
    if (kKnown.count(key) == 0) return Status::Error("unknown field '" + key + "'");
  }
  for (const char* key : {"name", "description", "architecture"}) {
    if (j.contains(key) && !j[key].is_string()) {
      return Status::Error(std::string("'") + key + "' must be a string");
    }
  }
  if (j.contains("name")) s->name = j["name"].get<std::string>();
  if (j.contains("architecture")) s->architecture = j["architecture"].get<std::string>();
  GS_RETURN_IF_ERROR(ReadInt(j, "num_layers", true, &s->num_layers));
  GS_RETURN_IF_ERROR(ReadInt(j, "hidden", true, &s->hidden));
  GS_RETURN_IF_ERROR(ReadInt(j, "ffn_hidden", true, &s->ffn_hidden));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_heads", true, &s->num_heads));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_kv_heads", true, &s->num_kv_heads));
  GS_RETURN_IF_ERROR(ReadInt(j, "head_dim", true, &s->head_dim));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_vocab", true, &s->num_vocab));
  GS_RETURN_IF_ERROR(ReadInt(j, "context_length", true, &s->context_length));
  GS_RETURN_IF_ERROR(ReadInt(j, "sliding_window", false, &s->sliding_window));
  GS_RETURN_IF_ERROR(ReadInt(j, "sliding_window_pattern", false, &s->sliding_window_period));
  GS_RETURN_IF_ERROR(ReadFloat(j, "rope_base_local", &s->rope_base_local));
  GS_RETURN_IF_ERROR(ReadFloat(j, "rope_base_global", &s->rope_base_global));
  GS_RETURN_IF_ERROR(ReadFloat(j, "rope_scaling_factor", &s->rope_scaling_factor));
  GS_RETURN_IF_ERROR(ReadFloat(j, "rms_eps", &s->rms_eps));
  GS_RETURN_IF_ERROR(ReadFloat(j, "query_pre_attn_scalar", &s->query_pre_attn_scalar));
  GS_RETURN_IF_ERROR(ReadFloat(j, "final_logit_softcap", &s->final_softcap));
  GS_RETURN_IF_ERROR(ReadBool(j, "tied_embedding", &s->tied_embedding));
  GS_RETURN_IF_ERROR(ReadInt(j, "head_dim_global", false, &s->head_dim_global));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_kv_heads_global", false, &s->num_kv_heads_global));
  GS_RETURN_IF_ERROR(ReadBool(j, "k_eq_v_global", &s->k_eq_v_global));
  GS_RETURN_IF_ERROR(ReadFloat(j, "rotary_fraction_global", &s->rotary_fraction_global));
  GS_RETURN_IF_ERROR(ReadInt(j, "ple_dim", false, &s->ple_dim));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_kv_shared_layers", false, &s->num_kv_shared_layers));
  GS_RETURN_IF_ERROR(ReadBool(j, "double_wide_mlp", &s->double_wide_mlp));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_experts", false, &s->num_experts));
  GS_RETURN_IF_ERROR(ReadInt(j, "num_experts_used", false, &s->num_experts_used));
  GS_RETURN_IF_ERROR(ReadInt(j, "expert_ffn_hidden", false, &s->expert_ffn_hidden));
  if (const auto it = j.find("suppress_tokens"); it != j.end()) {
    if (!it->is_array() || it->size() > 4096) {
      return Status::Error("'suppress_tokens' must be an array of at most 4096 token ids");
    }
    for (const json& id : *it) {
      if (!id.is_number_integer()) return Status::Error("'suppress_tokens' must hold integers");
      const int64_t v = id.get<int64_t>();
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
        return Status::Error("'suppress_tokens' holds " + std::to_string(v) + ", out of range");
      }
      s->suppress_tokens.push_back(static_cast<int32_t>(v));
    }
  }
  // The ranges and relations the engine checks, reported against this file.
  StatusOr<ModelConfig> config = SyntheticModelConfig(*s);
  if (!config.ok()) return config.status();
  return Status::Ok();
}

}  // namespace

StatusOr<SyntheticShape> ParseSyntheticShape(const std::string& text, const std::string& source) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(source + ": not valid JSON");
  SyntheticShape shape;
  if (Status s = ParseFields(j, &shape); !s.ok()) return Status::Error(source + ": " + s.message());
  return shape;
}

StatusOr<SyntheticShape> LoadSyntheticShape(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  std::string stem = path.substr(path.find_last_of('/') + 1);
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  StatusOr<SyntheticShape> shape = ParseSyntheticShape(text.str(), path);
  if (shape.ok() && shape->name == SyntheticShape{}.name) shape->name = stem;
  return shape;
}

}  // namespace gs
