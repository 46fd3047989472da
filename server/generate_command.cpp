// `gemma-serve generate`: a prompt (or a chat message rendered with the model's template) in,
// text streamed to stdout as tokens come, speed on stderr at the end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>

#include "api/chat_template.h"
#include "engine/engine.h"
#include "engine/kv/kv_plan.h"
#include "engine/run_request.h"
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
    "  --max-tokens N      tokens to generate, at least 1 (default 256)\n"
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
  const int64_t max_tokens = args.GetInt("max-tokens", 256, 1, 1 << 20);
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

  // One sequence through the engine `serve` runs, stepped on this thread.
  EngineOptions options;
  options.max_num_seqs = 1;
  options.enable_prefix_caching = false;  // one request: nothing to share
  const int64_t want = ctx_size > 0 ? ctx_size : static_cast<int64_t>(prompt.size()) + max_tokens;
  options.kv_cache_bytes = std::max<int64_t>(
      int64_t{64} << 20, KvBytesFor(m.model->config(), BackendSlotBytes(*m.backend), want + 1024, 1,
                                    options.max_num_batched_tokens, options.block_size));
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*m.model, *m.backend, options);
  if (!engine.ok()) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", engine.status().message().c_str());
    return 1;
  }
  if (prompt.empty() || static_cast<int64_t>(prompt.size()) > (*engine)->max_seq_len()) {
    std::fprintf(stderr,
                 "gemma-serve generate: the prompt has %zu tokens; the context holds 1 to %lld\n",
                 prompt.size(), static_cast<long long>((*engine)->max_seq_len()));
    return 2;
  }

  EngineRequest request;
  request.prompt = prompt;
  request.sampling = sp;
  request.max_new_tokens = max_tokens;  // the context's end finishes it sooner ("length")
  if (!args.Has("ignore-eos")) request.stop_ids = m.tokenizer->eog_ids();
  IncrementalDetokenizer detok(*m.tokenizer, /*render_special=*/false);
  const RequestResult result =
      RunRequest(**engine, std::move(request), [&](const SampledToken& token) {
        if (!m.tokenizer->IsEog(token.id) || args.Has("ignore-eos")) {
          std::fputs(detok.Push(token.id).c_str(), stdout);
          std::fflush(stdout);
        }
      });
  std::fputs(detok.Flush().c_str(), stdout);
  std::fputs("\n", stdout);
  if (result.finish == FinishReason::kError) {
    std::fprintf(stderr, "gemma-serve generate: %s\n", result.error.c_str());
    return 1;
  }
  // The first token comes with the prompt's step; the rest are generation proper.
  const int64_t num_tokens = static_cast<int64_t>(result.tokens.size());
  const double generate_seconds = result.seconds - result.first_token_seconds;
  std::fprintf(stderr,
               "\nprompt: %zu tokens, %.1f tokens/s | generation: %lld tokens, %.1f tokens/s | "
               "load %.2f s, %s\n",
               prompt.size(), prompt.size() / std::max(result.first_token_seconds, 1e-9),
               static_cast<long long>(num_tokens),
               std::max<int64_t>(num_tokens - 1, 0) / std::max(generate_seconds, 1e-9),
               m.load_seconds, m.backend->Describe().c_str());
  return 0;
}

}  // namespace gs
