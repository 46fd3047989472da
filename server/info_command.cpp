// `gemma-serve info`: a GGUF file's metadata and a summary of its tensor table.
#include <cstdio>
#include <map>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "server/cli_args.h"
#include "server/commands.h"

namespace gs {
namespace {

constexpr const char* kHelp =
    "usage: gemma-serve info [--model PATH] [--tensors]\n"
    "  --tensors   list every tensor (name, type, shape, bytes)\n";

// Long values (token arrays, chat templates) are cut so the listing stays readable.
std::string Describe(const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::kString: {
      std::string s(v.str.substr(0, 80));
      for (char& ch : s)
        if (ch == '\n') ch = ' ';
      return "\"" + s +
             (v.str.size() > 80 ? "...\" (" + std::to_string(v.str.size()) + " bytes)" : "\"");
    }
    case GgufValueType::kArray: {
      std::string s = std::string(GgufValueTypeName(v.elem_type)) + "[" +
                      std::to_string(v.elems.size()) + "] {";
      for (size_t i = 0; i < v.elems.size() && i < 4; ++i)
        s += (i ? ", " : "") + Describe(v.elems[i]);
      return s + (v.elems.size() > 4 ? ", ...}" : "}");
    }
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", v.f);
      return buf;
    }
    case GgufValueType::kBool:
      return v.i ? "true" : "false";
    default:
      return std::to_string(v.i);
  }
}

}  // namespace

int RunInfo(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help", "tensors"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args.Validate({"help", "tensors", "model"})) {
    std::fprintf(stderr, "gemma-serve info: %s\n%s", args.error().c_str(), kHelp);
    return 2;
  }
  const std::optional<std::string> path = ResolveModelPathOrReport(args, "info");
  if (!path) return 2;
  StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(*path);
  if (!opened.ok()) {
    std::fprintf(stderr, "gemma-serve info: %s\n", opened.status().message().c_str());
    return 1;
  }
  const GgufFile& f = **opened;
  std::printf("file: %s\nGGUF v%u, %llu bytes, alignment %u, %zu metadata keys, %zu tensors\n\n",
              f.path().c_str(), f.version(), static_cast<unsigned long long>(f.file_bytes()),
              f.alignment(), f.metadata().size(), f.tensors().size());
  std::printf("metadata:\n");
  for (const GgufKv& kv : f.metadata()) {
    std::printf("  %-45s %-8s %s\n", kv.key.c_str(), GgufValueTypeName(kv.value.type),
                Describe(kv.value).c_str());
  }
  struct TypeSummary {
    int64_t num_tensors = 0, num_elems = 0;
    uint64_t num_bytes = 0;
  };
  std::map<std::string, TypeSummary> by_type;
  TypeSummary total;
  for (const GgufTensorInfo& t : f.tensors()) {
    TypeSummary& s = by_type[GetTypeTraits(t.type).name];
    for (TypeSummary* x : {&s, &total}) {
      ++x->num_tensors;
      x->num_elems += t.num_elems();
      x->num_bytes += t.num_bytes;
    }
  }
  std::printf("\ntensors by type:\n");
  for (const auto& [name, s] : by_type) {
    std::printf("  %-8s %5lld tensors %14lld params %12.2f MiB %6.2f bits/param\n", name.c_str(),
                static_cast<long long>(s.num_tensors), static_cast<long long>(s.num_elems),
                s.num_bytes / 1048576.0, 8.0 * s.num_bytes / std::max<int64_t>(1, s.num_elems));
  }
  std::printf("  %-8s %5lld tensors %14lld params %12.2f MiB %6.2f bits/param\n", "total",
              static_cast<long long>(total.num_tensors), static_cast<long long>(total.num_elems),
              total.num_bytes / 1048576.0,
              8.0 * total.num_bytes / std::max<int64_t>(1, total.num_elems));
  if (args.Has("tensors")) {
    std::printf("\n");
    for (const GgufTensorInfo& t : f.tensors()) {
      std::printf("  %-40s %-7s [%lld, %lld, %lld, %lld] %llu bytes\n", t.name.c_str(),
                  GetTypeTraits(t.type).name, static_cast<long long>(t.ne[0]),
                  static_cast<long long>(t.ne[1]), static_cast<long long>(t.ne[2]),
                  static_cast<long long>(t.ne[3]), static_cast<unsigned long long>(t.num_bytes));
    }
  }
  StatusOr<ModelConfig> config = ModelConfig::FromGguf(f);
  if (config.ok()) {
    const ModelConfig& c = *config;
    std::printf(
        "\nmodel: %s (%s), %d layers, hidden %d, %d heads, vocab %d, context %d, sliding window "
        "%d, per-layer embeddings %d, experts %d (%d used)\n",
        c.name.c_str(), c.architecture.c_str(), c.num_layers, c.hidden, c.num_heads, c.num_vocab,
        c.context_length, c.sliding_window, c.ple_dim, c.num_experts, c.num_experts_used);
    // One line per layer: what the forward pass will do there.
    for (int32_t i = 0; i < c.num_layers; ++i) {
      const LayerConfig& l = c.layers[i];
      std::printf("  layer %2d: %-7s head dim %d, %d KV heads, rope %g/%d%s, ffn %d%s%s\n", i,
                  l.kind == AttentionKind::kGlobal ? "global" : "sliding", l.head_dim,
                  l.num_kv_heads, l.rope.base, l.rope.n_rot,
                  l.rope.uses_freq_factors ? " (freq factors)" : "", l.ffn_hidden,
                  l.k_eq_v ? ", K=V" : "",
                  l.kv_layer != i ? (", KV of layer " + std::to_string(l.kv_layer)).c_str() : "");
    }
  } else {
    std::printf("\nmodel: cannot run here: %s\n", config.status().message().c_str());
  }
  return 0;
}

}  // namespace gs
