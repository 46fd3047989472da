// `gemma-serve generate`: a prompt (or a chat message rendered with the model's template) in,
// text streamed to stdout as tokens come, speed on stderr at the end.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>

#include "api/chat_template.h"
#include "engine/generator.h"
#include "engine/tokenizer/detokenizer.h"
#include "server/cli_args.h"
#include "server/commands.h"
#include "server/loaded_model.h"

namespace gs {
namespace {

constexpr const char* kHelp =
    "usage: gemma-serve generate [--model PATH] (--prompt TEXT | --chat TEXT | --prompt-file F)\n"
    "  --model PATH        GGUF file (default: $GS_MODEL or the one scripts/setup.sh installed)\n"
    "  --prompt TEXT       raw prompt; BOS is added as the model says, special tokens parsed\n"
    "  --prompt-file F     raw prompt read from a file ('-' for stdin)\n"
    "  --chat TEXT         a user message, rendered with the model's chat template\n"
    "  --system TEXT       a system message for --chat\n"
    "  --max-tokens N      tokens to generate (default 256)\n"
    "  --temperature T     0 = greedy (default 0.8)\n"
    "  --top-k K           (default 40; 0 = off)\n"
    "  --top-p P           (default 0.95; 1 = off)\n"
    "  --min-p P           (default 0.05; 0 = off)\n"
    "  --seed S            random seed (default: random)\n"
    "  --threads N         CPU threads (default: all)\n"
    "  --device D          auto (GPU when usable, default), cpu or cuda\n"
    "  --ctx-size N        KV cache tokens for this run (default: prompt + max tokens)\n"
    "  --ignore-eos        keep generating past end-of-turn\n";

}  // namespace

int RunGenerate(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help", "ignore-eos"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const bool ok_flags = args.Validate({"help", "model", "prompt", "prompt-file", "chat", "system",
                                       "max-tokens", "temperature", "top-k", "top-p", "min-p",
                                       "seed", "threads", "device", "ctx-size", "ignore-eos"});
  SamplingParams sp;
  const int64_t max_tokens = args.GetInt("max-tokens", 256, 0, 1 << 20);
  sp.temperature = static_cast<float>(args.GetDouble("temperature", 0.8, 0, 100));
  sp.top_k = static_cast<int32_t>(args.GetInt("top-k", 40, 0, 1 << 20));
  sp.top_p = static_cast<float>(args.GetDouble("top-p", 0.95, 0, 1));
  sp.min_p = static_cast<float>(args.GetDouble("min-p", 0.05, 0, 1));
  sp.seed = static_cast<uint64_t>(args.GetInt("seed", std::random_device{}(), 0, INT64_MAX));
  BackendChoice backend;
  backend.num_threads = static_cast<int>(args.GetInt("threads", 0, 0, 1024));
  StatusOr<DeviceKind> device = ParseDeviceKind(args.GetOr("device", "auto"));
  if (!device.ok()) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", device.status().message().c_str());
    return 2;
  }
  backend.device = *device;
  const int64_t ctx_size = args.GetInt("ctx-size", 0, 0, int64_t{1} << 24);
  const int num_inputs = args.Has("prompt") + args.Has("chat") + args.Has("prompt-file");
  if (!ok_flags || !args.error().empty() || num_inputs != 1) {
    std::fprintf(
        stderr, "gemma-serve generate: %s\n%s",
        args.error().empty() ? "give one of --prompt, --prompt-file, --chat" : args.error().c_str(),
        kHelp);
    return 2;
  }
  const std::optional<std::string> path = ResolveModelPathOrReport(args, "generate");
  if (!path) return 2;

  std::string text;
  bool add_special = true;
  std::vector<api::ChatMessage> messages;  // --chat: rendered once the model's template is known
  if (args.Has("chat")) {
    auto add = [&](const char* role, const std::string& content) {
      messages.emplace_back();
      messages.back().role = role;
      messages.back().content = content;
    };
    if (args.Has("system")) add("system", *args.Get("system"));
    add("user", *args.Get("chat"));
  } else {
    std::string error;
    const std::optional<std::string> prompt = ReadPromptFlag(args, &error);
    if (!prompt) {
      std::fprintf(stderr, "gemma-serve generate: %s\n", error.c_str());
      return 2;
    }
    text = *prompt;
  }

  StatusOr<LoadedModel> loaded = LoadModelForInference(*path, backend);
  if (!loaded.ok()) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", loaded.status().message().c_str());
    return 1;
  }
  LoadedModel& m = *loaded;
  if (!messages.empty()) {
    const api::RenderedPrompt r = m.chat_template->Render(messages, api::ChatTemplateOptions{});
    if (!r.error.empty()) {
      std::fprintf(stderr, "gemma-serve generate: %s\n", r.error.c_str());
      return 2;
    }
    text = r.text;
    add_special = false;  // the template writes <bos> itself
  }
  const std::vector<int32_t> prompt =
      m.tokenizer->Encode(text, add_special, /*parse_special=*/true);

  KvBudget opts;
  const int64_t want = ctx_size > 0 ? ctx_size : static_cast<int64_t>(prompt.size()) + max_tokens;
  const ModelConfig& c = m.model->config();
  opts.kv_cache_bytes = std::max<int64_t>(
      int64_t{64} << 20, KvBytesFor(c, BackendSlotBytes(*m.backend), want + 1024, 1,
                                    opts.max_batch_tokens, opts.block_size));
  StatusOr<std::unique_ptr<Generator>> gen = Generator::Create(*m.model, *m.backend, opts);
  if (!gen.ok()) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", gen.status().message().c_str());
    return 1;
  }
  const int64_t room = (*gen)->max_seq_len() - static_cast<int64_t>(prompt.size());
  if (room < 0) {
    std::fprintf(stderr,
                 "gemma-serve generate: the prompt has %zu tokens, more than the context of %lld\n",
                 prompt.size(), static_cast<long long>((*gen)->max_seq_len()));
    return 2;
  }

  Sampler sampler(sp);
  IncrementalDetokenizer detok(*m.tokenizer, /*render_special=*/false);
  std::vector<int32_t> stop_ids;
  if (!args.Has("ignore-eos")) stop_ids = m.tokenizer->eog_ids();
  StatusOr<GenerationStats> stats =
      (*gen)->Run(prompt, sampler, std::min(max_tokens, room), stop_ids, [&](int32_t token) {
        if (!m.tokenizer->IsEog(token) || args.Has("ignore-eos")) {
          std::fputs(detok.Push(token).c_str(), stdout);
          std::fflush(stdout);
        }
        return true;
      });
  std::fputs(detok.Flush().c_str(), stdout);
  std::fputs("\n", stdout);
  if (!stats.ok()) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", stats.status().message().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "\nprompt: %lld tokens, %.1f tokens/s | generation: %lld tokens, %.1f tokens/s | "
               "load %.2f s, %s\n",
               static_cast<long long>(stats->num_prompt_tokens),
               stats->num_prompt_tokens / std::max(stats->prompt_seconds, 1e-9),
               static_cast<long long>(stats->num_generated),
               stats->num_generated / std::max(stats->generate_seconds, 1e-9), m.load_seconds,
               m.backend->Describe().c_str());
  return 0;
}

}  // namespace gs
