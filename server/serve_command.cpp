// `gemma-serve serve`: the HTTP server. Binds first (so /health answers 503 while the model
// loads), loads the model with a progress bar, starts the engine thread, serves until SIGINT or
// SIGTERM, then stops accepting, lets in-flight requests finish for the grace period, aborts the
// rest, and exits 0. A second signal exits at once.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <thread>

#include "engine/engine.h"
#include "server/commands.h"
#include "server/http_server.h"
#include "server/loaded_model.h"
#include "server/server_config.h"

namespace gs {
namespace {

// Pages the model's weights in (they are mapped, and the first requests would otherwise pay for
// the disk reads), drawing a bar on a terminal and a few plain lines otherwise.
void PrefaultWeights(const GgufFile& file) {
  uint64_t total = 0;
  for (const GgufTensorInfo& t : file.tensors()) total += t.num_bytes;
  const bool tty = isatty(fileno(stderr));
  uint64_t done = 0;
  int shown = -1;
  volatile uint8_t sink = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    for (uint64_t off = 0; off < t.num_bytes; off += 4096) sink = sink + t.data[off];
    done += t.num_bytes;
    const int pct = total ? static_cast<int>(done * 100 / total) : 100;
    if (tty && pct != shown) {
      const int width = 30;
      std::string bar(pct * width / 100, '#');
      bar.resize(width, '.');
      std::fprintf(stderr, "\rloading model [%s] %3d%% (%llu/%llu MiB)", bar.c_str(), pct,
                   static_cast<unsigned long long>(done >> 20),
                   static_cast<unsigned long long>(total >> 20));
      shown = pct;
    } else if (!tty && pct / 25 != shown / 25) {
      std::fprintf(stderr, "loading model: %d%% (%llu/%llu MiB)\n", pct,
                   static_cast<unsigned long long>(done >> 20),
                   static_cast<unsigned long long>(total >> 20));
      shown = pct;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace

int RunServe(const std::vector<std::string>& raw_args) {
  bool help = false;
  StatusOr<ServerConfig> parsed = ParseServerConfig(raw_args, &help);
  if (help) {
    std::fputs(kServeHelp, stdout);
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "gemma-serve serve: %s\n", parsed.status().message().c_str());
    return 2;
  }
  ServerConfig config = std::move(parsed).value();
  if (config.model_path.empty()) {
    std::fprintf(stderr,
                 "gemma-serve serve: no model: give --model PATH (or run scripts/setup.sh)\n");
    return 2;
  }
  spdlog::set_pattern(config.log_format == "json" ? "%v" : "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  auto note = [&](const std::string& msg) {
    if (config.log_format == "json") {
      spdlog::info("{{\"msg\":{}}}", nlohmann::json(msg).dump(
                                         -1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      spdlog::info("{}", msg);
    }
  };

  // Signals are taken by one thread with sigwait: no work in a signal handler, and every other
  // thread (started below) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> shutdown{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    shutdown = true;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "second signal: exiting now\n");
    std::_Exit(130);
  });
  signal_thread.detach();

  if (!IsLoopback(config.host) && config.api_keys.empty()) {
    spdlog::warn(
        "listening on {} without an API key: anyone who can reach this address can use "
        "the server (set --api-key)",
        config.host);
  }
  HttpServer http(config);
  std::string error;
  if (!http.Bind(&error)) {
    std::fprintf(stderr, "gemma-serve serve: %s\n", error.c_str());
    return 1;
  }
  http.Start();
  note("listening on http://" + config.host + ":" + std::to_string(http.port()) +
       " (loading the model)");

  StatusOr<LoadedModel> loaded = LoadModelForInference(config.model_path, config.backend);
  if (!loaded.ok()) {
    std::fprintf(stderr, "gemma-serve serve: %s\n", loaded.status().message().c_str());
    http.Stop();
    return 1;
  }
  LoadedModel& m = loaded.value();
  // The CPU backend computes from the mapping itself; a GPU backend has copied the weights.
  if (std::string_view(m.backend->name()) == "cpu") PrefaultWeights(*m.file);
  EngineOptions eo;
  eo.kv_cache_bytes = config.kv_cache_bytes;
  const bool on_cpu = std::string_view(m.backend->name()) == "cpu";
  // A GPU serves best with most of its memory as KV cache (vLLM's default is alike).
  const double fraction = config.kv_cache_fraction > 0         ? config.kv_cache_fraction
                          : config.kv_cache_default && !on_cpu ? ServerConfig::kGpuKvCacheFraction
                                                               : 0.0;
  if (fraction > 0) {
    eo.kv_cache_bytes =
        static_cast<int64_t>(fraction * static_cast<double>(m.backend->FreeMemoryBytes()));
  }
  eo.block_size = config.block_size;
  eo.max_num_batched_tokens = config.max_num_batched_tokens;
  eo.max_num_seqs = config.max_num_seqs;
  eo.max_num_waiting = config.max_num_waiting;
  eo.max_model_len = config.max_model_len;
  eo.enable_prefix_caching = config.enable_prefix_caching;
  StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(*m.model, *m.backend, eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "gemma-serve serve: %s\n", engine.status().message().c_str());
    http.Stop();
    return 1;
  }
  (*engine)->Start();
  ServingModel serving;
  serving.tokenizer = m.tokenizer.get();
  serving.chat_template = m.chat_template.get();
  serving.engine = engine->get();
  serving.names = config.served_model_names;
  if (serving.names.empty()) {
    serving.names.push_back(std::filesystem::path(config.model_path).filename().string());
  }
  http.SetModel(serving);
  note("chat template: " + std::string(m.chat_template->name()) + " (" + m.chat_template_reason +
       ")");
  note("serving " + serving.names.front() + " on http://" + config.host + ":" +
       std::to_string(http.port()) + " (context " + std::to_string((*engine)->max_seq_len()) +
       " tokens, " + m.backend->Describe() + ")");

  while (!shutdown) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  note("shutting down: no new connections; waiting up to " +
       std::to_string(config.shutdown_grace_s) + " s for requests in flight");
  http.StopAccepting();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_grace_s);
  while (http.num_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (http.num_in_flight() > 0) note("grace period over: aborting the requests left");
  (*engine)->Stop();  // aborts whatever still runs; their handlers then finish
  http.Stop();
  note("stopped");
  return 0;
}

}  // namespace gs
