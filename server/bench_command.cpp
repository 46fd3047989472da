// `gemma-serve bench`: prompt processing (pp) and token generation (tg) speed, measured the way
// llama-bench does so the two can be compared in one run: pp = one prompt of n tokens in steps of
// up to 512, tg = n single-token steps from an empty cache; random tokens, no sampling, a warm-up
// run first, mean ± sd over repetitions.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "engine/generator.h"
#include "server/cli_args.h"
#include "server/commands.h"
#include "server/loaded_model.h"

namespace gs {
namespace {

constexpr const char* kHelp =
    "usage: gemma-serve bench [--model PATH] [flags]\n"
    "  --n-prompt N      prompt tokens for pp (default 512; 0 = skip)\n"
    "  --n-gen N         generated tokens for tg (default 128; 0 = skip)\n"
    "  --repetitions N   (default 5)\n"
    "  --threads N       CPU threads (default: all)\n"
    "  --batch N         tokens per step (default 512)\n"
    "  --json            one JSON object per test on stdout instead of the table\n";

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int RunBench(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help", "json"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const bool ok_flags = args.Validate(
      {"help", "json", "model", "n-prompt", "n-gen", "repetitions", "threads", "batch"});
  const int64_t n_prompt = args.GetInt("n-prompt", 512, 0, 1 << 20);
  const int64_t n_gen = args.GetInt("n-gen", 128, 0, 1 << 20);
  const int64_t reps = args.GetInt("repetitions", 5, 1, 1000);
  const int threads = static_cast<int>(args.GetInt("threads", 0, 0, 1024));
  const int64_t batch = args.GetInt("batch", 512, 1, 1 << 16);
  if (!ok_flags || !args.error().empty()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n%s", args.error().c_str(), kHelp);
    return 2;
  }
  const std::optional<std::string> path = ResolveModelPathOrReport(args, "bench");
  if (!path) return 2;
  StatusOr<LoadedModel> loaded = LoadModelForInference(*path, {.device = DeviceKind::kCpu, .num_threads = threads});
  if (!loaded.ok()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n", loaded.status().message().c_str());
    return 1;
  }
  LoadedModel& m = *loaded;
  const int num_threads = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  const ModelConfig& c = m.model->config();
  KvBudget opts;
  opts.max_batch_tokens = static_cast<int32_t>(batch);
  const int64_t bytes_per_token = int64_t{4} * c.num_kv_heads * c.head_dim * c.num_layers;
  opts.kv_cache_bytes = (std::max(n_prompt, n_gen + 1) + 1024) * bytes_per_token;
  StatusOr<std::unique_ptr<Generator>> gen = Generator::Create(*m.model, *m.backend, opts);
  if (!gen.ok()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n", gen.status().message().c_str());
    return 1;
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> random_token(0, c.num_vocab - 1);
  std::vector<float> logits(c.num_vocab);

  // One timed run of a test; returns tokens per second.
  auto run_once = [&](bool prompt_test) -> StatusOr<double> {
    const int32_t seq = (*gen)->AddSequence();
    std::vector<int32_t> tokens(prompt_test ? n_prompt : 1);
    tokens[0] = m.tokenizer->bos_id() >= 0 ? m.tokenizer->bos_id() : 0;
    for (size_t i = 1; i < tokens.size(); ++i) tokens[i] = random_token(rng);
    double t0 = Seconds();
    Status s = Status::Ok();
    if (prompt_test) {
      s = (*gen)->Extend(seq, tokens, logits.data());
    } else {
      int32_t token = tokens[0];
      for (int64_t i = 0; i < n_gen && s.ok(); ++i) {
        s = (*gen)->Extend(seq, std::span<const int32_t>(&token, 1), logits.data());
        token = random_token(rng);
      }
    }
    const double dt = Seconds() - t0;
    (*gen)->RemoveSequence(seq);
    if (!s.ok()) return s;
    return (prompt_test ? n_prompt : n_gen) / dt;
  };

  uint64_t model_bytes = 0;
  int64_t num_params = 0;
  for (const GgufTensorInfo& t : m.file->tensors()) {
    model_bytes += t.num_bytes;
    num_params += t.num_elems();
  }
  if (!args.Has("json")) {
    std::printf("| model | size | params | backend | threads | test | t/s |\n");
    std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
  }
  for (const bool prompt_test : {true, false}) {
    const int64_t n = prompt_test ? n_prompt : n_gen;
    if (n == 0) continue;
    if (StatusOr<double> warm = run_once(prompt_test); !warm.ok()) {
      std::fprintf(stderr, "gemma-serve bench: %s\n", warm.status().message().c_str());
      return 1;
    }
    std::vector<double> rates;
    for (int64_t r = 0; r < reps; ++r) {
      StatusOr<double> rate = run_once(prompt_test);
      if (!rate.ok()) {
        std::fprintf(stderr, "gemma-serve bench: %s\n", rate.status().message().c_str());
        return 1;
      }
      rates.push_back(*rate);
    }
    double mean = 0, var = 0;
    for (double x : rates) mean += x;
    mean /= rates.size();
    for (double x : rates) var += (x - mean) * (x - mean);
    const double sd = rates.size() > 1 ? std::sqrt(var / (rates.size() - 1)) : 0.0;
    const std::string test = (prompt_test ? "pp" : "tg") + std::to_string(n);
    if (args.Has("json")) {
      std::printf(
          "{\"model\": \"%s\", \"test\": \"%s\", \"threads\": %d, \"avg_ts\": %.3f, "
          "\"stddev_ts\": %.3f, \"repetitions\": %lld}\n",
          c.name.c_str(), test.c_str(), num_threads, mean, sd,
          static_cast<long long>(reps));
    } else {
      std::printf("| %s | %.2f MiB | %.2f M | %s | %d | %s | %.2f ± %.2f |\n", c.name.c_str(),
                  model_bytes / 1048576.0, num_params / 1e6, m.backend->name(),
                  num_threads, test.c_str(), mean, sd);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace gs
