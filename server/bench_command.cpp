// `gemma-serve bench`: prompt processing (pp) and token generation (tg) speed, measured the way
// llama-bench does so the two can be compared in one run: pp = one prompt of n tokens in steps of
// up to 512, tg = n single-token steps from an empty cache; a warm-up run first, mean ± sd over
// repetitions. Both run one request through the Engine that `serve` runs (random prompt tokens,
// greedy picks), so the step measured includes what serving adds to the forward pass.
//
// --synthetic runs the same tests on a model of a given shape with random weights
// (configs/models/*.json), so that speed can be measured where no checkpoint exists.
// --concurrency N instead measures serving: N requests at once through the Engine (continuous
// batching), reporting output tokens/s, time to first token and inter-token latency; with
// --json-schema every request is constrained by a schema, which prices constrained decoding.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/grammar/json_schema.h"
#include "engine/kv/kv_plan.h"
#include "engine/model/synthetic_model.h"
#include "engine/run_request.h"
#include "server/cli_args.h"
#include "server/commands.h"
#include "server/constraint_compiler.h"
#include "server/loaded_model.h"
#include "server/synthetic_config.h"

namespace gs {
namespace {

constexpr const char* kHelp =
    "usage: gemma-serve bench [--model PATH | --synthetic CONFIG.json] [flags]\n"
    "  --n-prompt N      prompt tokens for pp (default 512; 0 = skip)\n"
    "  --n-gen N         generated tokens for tg (default 128; 0 = skip)\n"
    "  --repetitions N   (default 5)\n"
    "  --threads N       CPU threads (default: all)\n"
    "  --batch N         tokens per step (default 512)\n"
    "  --device D        cpu (default), cuda, or auto (the GPU when usable)\n"
    "  --no-cuda-graphs  launch decode steps kernel by kernel (default: CUDA graphs)\n"
    "  --json            one JSON object per test on stdout instead of the table\n"
    "  --concurrency N   serving test instead of pp/tg: N requests of --n-prompt random tokens\n"
    "                    at once through the engine, --n-gen tokens each (EOS ignored)\n"
    "  --json-schema F   with --concurrency: every request constrained by the JSON Schema in\n"
    "                    file F (instances back to back, fenced, until --n-gen tokens)\n"
    "synthetic models (random weights of a real shape, no checkpoint needed):\n"
    "  --synthetic FILE  model shape, e.g. configs/models/gemma3-12b.json\n"
    "  --weight-type T   bf16, f16, q8_0, q5_0, q4_0, q4_k, q6_k or q4_k_m (default q4_k_m)\n"
    "  --seed S          weights' seed (default 0)\n";

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct MeanSd {
  double mean = 0, sd = 0;
};

MeanSd Summarize(const std::vector<double>& xs) {
  MeanSd r;
  for (double x : xs) r.mean += x;
  r.mean /= xs.size();
  for (double x : xs) r.sd += (x - r.mean) * (x - r.mean);
  r.sd = xs.size() > 1 ? std::sqrt(r.sd / (xs.size() - 1)) : 0.0;
  return r;
}

// The model under test, from a GGUF file or synthetic; the backend outlives both.
struct BenchModel {
  std::unique_ptr<Backend> backend;
  std::optional<LoadedModel> loaded;
  std::unique_ptr<SyntheticModel> synthetic;
  const Model* model = nullptr;
  uint64_t num_bytes = 0;
  int64_t num_params = 0;
  int32_t bos_id = 0;
  std::string weight_type;  // synthetic only
};

// The id a prompt starts with when no tokenizer says: Gemma's <bos> (2), where the vocabulary
// has it.
int32_t DefaultBosId(const Model& model) { return model.config().num_vocab > 2 ? 2 : 0; }

// model_path: the GGUF file, when not --synthetic.
StatusOr<BenchModel> LoadBenchModel(CliArgs& args, const std::string& model_path,
                                    const BackendChoice& choice) {
  BenchModel b;
  if (const std::optional<std::string> config = args.Get("synthetic")) {
    StatusOr<SyntheticShape> shape = LoadSyntheticShape(*config);
    if (!shape.ok()) return shape.status();
    StatusOr<WeightMix> mix = ParseWeightMix(args.GetOr("weight-type", "q4_k_m"));
    if (!mix.ok()) return mix.status();
    StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(choice);
    if (!backend.ok()) return backend.status();
    b.backend = std::move(backend).value();
    SyntheticOptions options;
    options.mix = *mix;
    options.seed = static_cast<uint64_t>(args.GetInt("seed", 0, 0, INT64_MAX));
    // A device backend copies each weight: tensors may share host bytes. The CPU backend reads
    // them in place, so they must not, or layers would share cache lines.
    options.share_bytes = std::string(b.backend->name()) != "cpu";
    StatusOr<std::unique_ptr<SyntheticModel>> m =
        SyntheticModel::Create(*shape, options, *b.backend);
    if (!m.ok()) return m.status();
    b.synthetic = std::move(m).value();
    b.model = &b.synthetic->model();
    b.num_bytes = b.synthetic->num_weight_bytes();
    b.num_params = b.synthetic->num_params();
    b.bos_id = DefaultBosId(*b.model);
    b.weight_type = WeightMixName(*mix);
    std::fprintf(stderr, "synthetic %s (%s): %.2f GiB of weights generated and loaded in %.1f s\n",
                 shape->name.c_str(), b.weight_type.c_str(), b.num_bytes / 1073741824.0,
                 b.synthetic->generate_seconds());
    return b;
  }
  StatusOr<LoadedModel> loaded = LoadModelForInference(model_path, choice, VocabUse::kOptional);
  if (!loaded.ok()) return loaded.status();
  b.loaded = std::move(loaded).value();
  b.backend = std::move(b.loaded->backend);
  b.model = b.loaded->model.get();
  for (const GgufTensorInfo& t : b.loaded->file->tensors()) {
    b.num_bytes += t.num_bytes;
    b.num_params += t.num_elems();
  }
  // A file without a vocabulary (`synth`'s) starts prompts as bench --synthetic does.
  const Tokenizer* tokenizer = b.loaded->tokenizer.get();
  b.bos_id = tokenizer == nullptr ? DefaultBosId(*b.model) : std::max(tokenizer->bos_id(), 0);
  return b;
}

// pp and tg, each a request alone in the engine: one row (or JSON object) per test.
int RunPpTg(BenchModel& m, int64_t n_prompt, int64_t n_gen, int64_t reps, int64_t batch,
            int num_threads, bool json) {
  const ModelConfig& c = m.model->config();
  EngineOptions options;
  options.max_num_seqs = 1;
  options.max_num_batched_tokens = static_cast<int32_t>(batch);
  options.enable_prefix_caching = false;  // every run's prompt is fresh anyway
  // The longest sequence with room to spare.
  options.kv_cache_bytes =
      KvBytesFor(c, BackendSlotBytes(*m.backend), std::max(n_prompt, n_gen + 1) + 1024, 1,
                 options.max_num_batched_tokens, options.block_size);
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*m.model, *m.backend, options);
  if (!engine.ok()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n", engine.status().message().c_str());
    return 1;
  }
  if ((*engine)->max_seq_len() < std::max(n_prompt, n_gen + 1)) {
    std::fprintf(stderr, "gemma-serve bench: sequences of %lld tokens exceed the limit of %lld\n",
                 static_cast<long long>(std::max(n_prompt, n_gen + 1)),
                 static_cast<long long>((*engine)->max_seq_len()));
    return 1;
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> random_token(0, c.num_vocab - 1);

  // One timed run of a test; returns tokens per second. pp: the prompt's steps and the pick of
  // its one token. tg: a one-token prompt and n_gen - 1 tokens more, n_gen one-token steps.
  auto run_once = [&](bool prompt_test) -> StatusOr<double> {
    EngineRequest request;
    request.prompt.resize(prompt_test ? n_prompt : 1);
    request.prompt[0] = m.bos_id;
    for (size_t i = 1; i < request.prompt.size(); ++i) request.prompt[i] = random_token(rng);
    request.max_new_tokens = prompt_test ? 1 : n_gen;  // no stop ids: EOS is ignored
    const RequestResult result = RunRequest(**engine, std::move(request));
    if (result.finish == FinishReason::kError) return Status::Error(result.error);
    const int64_t n = prompt_test ? n_prompt : n_gen;
    if (!prompt_test && static_cast<int64_t>(result.tokens.size()) != n_gen) {
      return Status::Error("tg stopped after " + std::to_string(result.tokens.size()) + " tokens");
    }
    return n / std::max(result.seconds, 1e-9);
  };

  if (!json) {
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
    const MeanSd s = Summarize(rates);
    const std::string test = (prompt_test ? "pp" : "tg") + std::to_string(n);
    if (json) {
      std::string extra;
      if (!m.weight_type.empty())
        extra = ", \"synthetic\": true, \"weight_type\": \"" + m.weight_type + "\"";
      std::printf(
          "{\"model\": \"%s\", \"test\": \"%s\", \"threads\": %d, \"avg_ts\": %.3f, "
          "\"stddev_ts\": %.3f, \"repetitions\": %lld, \"model_bytes\": %lld, "
          "\"backend\": \"%s\"%s}\n",
          c.name.c_str(), test.c_str(), num_threads, s.mean, s.sd, static_cast<long long>(reps),
          static_cast<long long>(m.num_bytes), m.backend->Describe().c_str(), extra.c_str());
    } else {
      std::printf("| %s | %.2f MiB | %.2f M | %s | %d | %s | %.2f ± %.2f |\n", c.name.c_str(),
                  m.num_bytes / 1048576.0, m.num_params / 1e6, m.backend->name(), num_threads,
                  test.c_str(), s.mean, s.sd);
    }
    std::fflush(stdout);
  }
  return 0;
}

// What one round of the serving test measured.
struct ServingRound {
  double output_tokens_per_s = 0;
  double mean_ttft_s = 0;  // submit -> first token, over requests
  double mean_itl_s = 0;   // mean gap between a request's tokens, over requests with two or more
};

// N requests submitted together; the reader notes when each token arrives.
// A grammar for every request of a serving round (bench --json-schema); null: none.
struct BenchGrammar {
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  std::shared_ptr<const grammar::TokenTrie> token_trie;
};

// The schema in `path` compiled over the model's vocabulary, with no end-of-generation token
// allowed: a constrained request must still generate its n_gen tokens, so its grammar is up to
// n_gen instances back to back, each fenced as a tool call is (FencedCallGrammar).
StatusOr<BenchGrammar> LoadBenchGrammar(const std::string& path, const Tokenizer* tokenizer,
                                        int64_t n_gen) {
  if (tokenizer == nullptr) return Status::Error("--json-schema needs a model with a vocabulary");
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  StatusOr<grammar::Grammar> g =
      grammar::CompileJsonSchema(std::string_view(text), ConstraintCompiler::SchemaOptions());
  if (!g.ok()) return Status::Error(path + ": " + g.status().message());
  g = FencedCallGrammar(*g, static_cast<int>(n_gen));
  if (!g.ok()) return g.status();
  std::vector<std::string> pieces(tokenizer->num_vocab());
  for (int32_t id = 0; id < tokenizer->num_vocab(); ++id) {
    pieces[id] = tokenizer->TokenToPiece(id, /*render_special=*/false);
  }
  BenchGrammar b;
  b.grammar = std::make_shared<const grammar::CompiledGrammar>(std::move(g).value());
  b.token_trie = std::make_shared<const grammar::TokenTrie>(pieces, std::vector<int32_t>{});
  return b;
}

StatusOr<ServingRound> RunServingRound(Engine& engine, int32_t num_vocab, int32_t bos_id,
                                       int64_t concurrency, int64_t n_prompt, int64_t n_gen,
                                       const BenchGrammar& grammar, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> random_token(0, num_vocab - 1);
  auto signal = std::make_shared<StreamSignal>();
  struct Track {
    std::shared_ptr<RequestStream> stream;
    double first = 0, last = 0;
    int64_t num_tokens = 0;
    bool done = false;
  };
  std::vector<Track> tracks(concurrency);
  std::vector<EngineRequest> requests(concurrency);
  for (int64_t i = 0; i < concurrency; ++i) {
    EngineRequest& r = requests[i];
    r.prompt.resize(n_prompt);
    r.prompt[0] = bos_id;
    for (int64_t k = 1; k < n_prompt; ++k) r.prompt[k] = random_token(rng);
    r.max_new_tokens = n_gen;  // no stop ids: EOS is ignored
    r.grammar = grammar.grammar;
    r.token_trie = grammar.token_trie;
    r.stream = tracks[i].stream = std::make_shared<RequestStream>(signal);
  }
  const double t0 = Seconds();
  for (EngineRequest& r : requests) {
    if (!engine.Submit({std::move(r)})) return Status::Error("the engine's queue is full");
  }
  int64_t num_done = 0;
  while (num_done < concurrency) {
    signal->Wait(std::chrono::milliseconds(50));
    const double now = Seconds();
    for (Track& t : tracks) {
      RequestUpdate u;
      if (t.done || !t.stream->Take(&u)) continue;
      if (!u.tokens.empty()) {
        if (t.num_tokens == 0) t.first = now;
        t.last = now;
        t.num_tokens += static_cast<int64_t>(u.tokens.size());
      }
      if (u.finish == FinishReason::kNone) continue;
      t.done = true;
      ++num_done;
      if (u.finish != FinishReason::kLength && u.finish != FinishReason::kStop) {
        return Status::Error(std::string("a request ended with ") + FinishReasonName(u.finish) +
                             (u.error.empty() ? "" : ": " + u.error));
      }
    }
  }
  ServingRound round;
  double end = t0, sum_ttft = 0, sum_itl = 0;
  int64_t num_tokens = 0, num_itl = 0;
  for (const Track& t : tracks) {
    end = std::max(end, t.last);
    num_tokens += t.num_tokens;
    sum_ttft += t.first - t0;
    if (t.num_tokens > 1) {
      sum_itl += (t.last - t.first) / static_cast<double>(t.num_tokens - 1);
      ++num_itl;
    }
  }
  round.output_tokens_per_s = num_tokens / std::max(end - t0, 1e-9);
  round.mean_ttft_s = sum_ttft / concurrency;
  round.mean_itl_s = num_itl > 0 ? sum_itl / num_itl : 0.0;
  return round;
}

int RunServing(BenchModel& m, int64_t concurrency, int64_t n_prompt, int64_t n_gen, int64_t reps,
               int64_t batch, int num_threads, bool json, const BenchGrammar& grammar) {
  const ModelConfig& c = m.model->config();
  if (n_prompt < 1 || n_gen < 1) {
    std::fprintf(stderr, "gemma-serve bench: --concurrency needs --n-prompt and --n-gen >= 1\n");
    return 2;
  }
  EngineOptions options;
  options.max_num_seqs = static_cast<int32_t>(concurrency);
  options.max_num_waiting = static_cast<int32_t>(concurrency);
  options.max_num_batched_tokens = static_cast<int32_t>(batch);
  options.enable_prefix_caching = false;  // every round's prompts are fresh anyway
  // Every sequence whole in the cache, plus a block each of rounding, so none is preempted.
  options.kv_cache_bytes = KvBytesFor(
      c, BackendSlotBytes(*m.backend), n_prompt + n_gen + 2 * options.block_size,
      static_cast<int32_t>(concurrency), options.max_num_batched_tokens, options.block_size);
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*m.model, *m.backend, options);
  if (!engine.ok()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n", engine.status().message().c_str());
    return 1;
  }
  if ((*engine)->max_seq_len() < n_prompt + n_gen) {
    std::fprintf(stderr, "gemma-serve bench: sequences of %lld tokens exceed the limit of %lld\n",
                 static_cast<long long>(n_prompt + n_gen),
                 static_cast<long long>((*engine)->max_seq_len()));
    return 1;
  }
  (*engine)->Start();
  std::mt19937 rng(42);
  std::vector<double> rates, ttfts, itls;
  for (int64_t r = 0; r <= reps; ++r) {  // round 0 warms up
    StatusOr<ServingRound> round = RunServingRound(**engine, c.num_vocab, m.bos_id, concurrency,
                                                   n_prompt, n_gen, grammar, rng);
    if (!round.ok()) {
      std::fprintf(stderr, "gemma-serve bench: %s\n", round.status().message().c_str());
      (*engine)->Stop();
      return 1;
    }
    if (r == 0) continue;
    rates.push_back(round->output_tokens_per_s);
    ttfts.push_back(round->mean_ttft_s * 1e3);
    itls.push_back(round->mean_itl_s * 1e3);
  }
  (*engine)->Stop();
  const MeanSd rate = Summarize(rates), ttft = Summarize(ttfts), itl = Summarize(itls);
  std::string test = "c";  // appends, not operator+: GCC 12 warns falsely (-Wrestrict) on that
  test += std::to_string(concurrency);
  test += "_pp";
  test += std::to_string(n_prompt);
  test += "_tg";
  test += std::to_string(n_gen);
  if (grammar.grammar) test += "_schema";
  if (json) {
    std::string extra;
    if (!m.weight_type.empty())
      extra = ", \"synthetic\": true, \"weight_type\": \"" + m.weight_type + "\"";
    std::printf(
        "{\"model\": \"%s\", \"test\": \"%s\", \"concurrency\": %lld, \"n_prompt\": %lld, "
        "\"n_gen\": %lld, \"threads\": %d, \"output_ts\": %.3f, \"stddev_ts\": %.3f, "
        "\"ttft_ms\": %.3f, \"itl_ms\": %.3f, \"repetitions\": %lld, \"backend\": \"%s\"%s}\n",
        c.name.c_str(), test.c_str(), static_cast<long long>(concurrency),
        static_cast<long long>(n_prompt), static_cast<long long>(n_gen), num_threads, rate.mean,
        rate.sd, ttft.mean, itl.mean, static_cast<long long>(reps), m.backend->Describe().c_str(),
        extra.c_str());
  } else {
    std::printf(
        "| model | backend | concurrency | prompt | gen | output t/s | TTFT ms | ITL ms |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    std::printf("| %s | %s | %lld | %lld | %lld | %.2f ± %.2f | %.1f | %.2f |\n", c.name.c_str(),
                m.backend->Describe().c_str(), static_cast<long long>(concurrency),
                static_cast<long long>(n_prompt), static_cast<long long>(n_gen), rate.mean, rate.sd,
                ttft.mean, itl.mean);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int RunBench(const std::vector<std::string>& raw_args) {
  CliArgs args(raw_args, {"help", "json", "no-cuda-graphs"});
  if (args.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const bool ok_flags = args.Validate({"help", "json", "model", "n-prompt", "n-gen", "repetitions",
                                       "threads", "batch", "device", "synthetic", "weight-type",
                                       "seed", "concurrency", "no-cuda-graphs", "json-schema"});
  const int64_t n_prompt = args.GetInt("n-prompt", 512, 0, 1 << 20);
  const int64_t n_gen = args.GetInt("n-gen", 128, 0, 1 << 20);
  const int64_t reps = args.GetInt("repetitions", 5, 1, 1000);
  const int threads = static_cast<int>(args.GetInt("threads", 0, 0, 1024));
  const int64_t batch = args.GetInt("batch", 512, 1, 1 << 16);
  const int64_t concurrency = args.GetInt("concurrency", 0, 1, 4096);
  args.GetInt("seed", 0, 0, INT64_MAX);  // validated here, read where the model is made
  std::string error = args.error();
  if (error.empty() && args.Has("model") && args.Has("synthetic")) {
    error = "--model and --synthetic exclude each other";
  }
  if (error.empty() && !args.Has("synthetic") && (args.Has("weight-type") || args.Has("seed"))) {
    error = "--weight-type and --seed apply to --synthetic models only";
  }
  StatusOr<DeviceKind> device = ParseDeviceKind(args.GetOr("device", "cpu"));
  if (error.empty() && !device.ok()) error = device.status().message();
  if (error.empty() && args.Has("weight-type")) {
    if (StatusOr<WeightMix> mix = ParseWeightMix(*args.Get("weight-type")); !mix.ok()) {
      error = mix.status().message();
    }
  }
  if (!ok_flags || !error.empty()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n%s", error.c_str(), kHelp);
    return 2;
  }
  std::string model_path;
  if (!args.Has("synthetic")) {
    const std::optional<std::string> path = ResolveModelPathOrReport(args, "bench");
    if (!path) return 2;
    model_path = *path;
  }
  BackendChoice choice;
  choice.device = *device;
  choice.num_threads = threads;
  choice.cuda_graphs = !args.Has("no-cuda-graphs");
  StatusOr<BenchModel> m = LoadBenchModel(args, model_path, choice);
  if (!m.ok()) {
    std::fprintf(stderr, "gemma-serve bench: %s\n", m.status().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "backend: %s\n", m->backend->Describe().c_str());
  const int num_threads =
      threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  const bool json = args.Has("json");
  if (args.Has("concurrency")) {
    BenchGrammar grammar;
    if (const std::optional<std::string> path = args.Get("json-schema")) {
      StatusOr<BenchGrammar> g =
          LoadBenchGrammar(*path, m->loaded ? m->loaded->tokenizer.get() : nullptr, n_gen);
      if (!g.ok()) {
        std::fprintf(stderr, "gemma-serve bench: %s\n", g.status().message().c_str());
        return 2;
      }
      grammar = std::move(g).value();
    }
    return RunServing(*m, concurrency, n_prompt, n_gen, reps, batch, num_threads, json, grammar);
  }
  return RunPpTg(*m, n_prompt, n_gen, reps, batch, num_threads, json);
}

}  // namespace gs
