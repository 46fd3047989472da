// gemma-serve synth: writes a synthetic model (configs/models/*.json's shape, random weights) as
// a GGUF file, so that llama.cpp's llama-bench and `gemma-serve bench --model` run the very same
// bytes. The same --synthetic, --weight-type and --seed as `bench --synthetic` give the same
// weights. The file has no vocabulary (tokenizer.ggml.model "none" and <arch>.vocab_size, which
// llama.cpp reads as dummy tokens): it is for benchmarks, not for serving.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/synthetic_model.h"
#include "server/cli_args.h"
#include "server/commands.h"
#include "server/synthetic_config.h"

namespace gs {
namespace {

constexpr char kHelp[] =
    "usage: gemma-serve synth --synthetic CONFIG.json --out FILE.gguf [flags]\n"
    "\n"
    "Writes a model of CONFIG's shape with random weights as a GGUF file that llama.cpp reads.\n"
    "\n"
    "  --synthetic FILE    model shape, e.g. configs/models/gemma4-12b-unified.json\n"
    "  --out FILE          the GGUF file to write (replaced if it exists)\n"
    "  --weight-type T     bf16, f16, q8_0, q5_0, q4_0, q4_k, q6_k or q4_k_m (default q4_k_m)\n"
    "  --seed N            weight seed (default 0); as bench --synthetic's\n";

}  // namespace

int RunSynth(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const bool ok_flags = args.Validate({"help", "synthetic", "out", "weight-type", "seed"});
  const auto seed = static_cast<uint64_t>(args.GetInt("seed", 0, 0, INT64_MAX));
  std::string error = args.error();
  if (error.empty() && (!args.Has("synthetic") || !args.Has("out"))) {
    error = "--synthetic and --out are required";
  }
  StatusOr<WeightMix> mix = ParseWeightMix(args.GetOr("weight-type", "q4_k_m"));
  if (error.empty() && !mix.ok()) error = mix.status().message();
  if (!ok_flags || !error.empty()) {
    std::fprintf(stderr, "gemma-serve synth: %s\n%s", error.c_str(), kHelp);
    return 2;
  }
  StatusOr<SyntheticShape> shape = LoadSyntheticShape(*args.Get("synthetic"));
  if (!shape.ok()) {
    std::fprintf(stderr, "gemma-serve synth: %s\n", shape.status().message().c_str());
    return 1;
  }
  // The CPU backend reads weights in place: loading checks every tensor against the forward
  // pass (what a reader of the file will do) without copying them.
  CpuBackend backend(1);
  StatusOr<std::unique_ptr<SyntheticModel>> m =
      SyntheticModel::Create(*shape, {.mix = *mix, .seed = seed}, backend);
  if (!m.ok()) {
    std::fprintf(stderr, "gemma-serve synth: %s\n", m.status().message().c_str());
    return 1;
  }
  const std::string out = *args.Get("out");
  if (Status s = WriteGguf((*m)->file(), out); !s.ok()) {
    std::fprintf(stderr, "gemma-serve synth: %s\n", s.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s: %s (%s, seed %" PRIu64 "), %.2f GiB of weights, %.3f B params\n",
               out.c_str(), shape->name.c_str(), WeightMixName(*mix), seed,
               (*m)->num_weight_bytes() / 1073741824.0, (*m)->num_params() / 1e9);
  return 0;
}

}  // namespace gs
