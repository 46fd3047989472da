#include "server/server_config.h"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "server/cli_args.h"

namespace gs {

const char* const kServeHelp =
    "usage: gemma-serve serve [--model PATH] [flags]\n"
    "An OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/responses,\n"
    "/v1/models, /tokenize, /detokenize, /health, /version, /metrics).\n"
    "  --config FILE              JSON file whose keys are these flags' names (flags win)\n"
    "  --model PATH               GGUF file (default: $GS_MODEL or the one setup installed)\n"
    "  --served-model-name A,B    names clients may use (default: the file's name)\n"
    "  --host H                   (default 127.0.0.1)\n"
    "  --port P                   (default 8080)\n"
    "  --device D                 auto (GPU when usable, default), cpu or cuda\n"
    "  --threads N                CPU compute threads (default: all cores)\n"
    "  --http-threads N           HTTP worker threads (default: max-num-seqs + 16)\n"
    "  --max-http-queue N         connections that may wait for a busy worker (default 0: 503)\n"
    "  --kv-cache-mb N            KV cache memory (default: 1024 on the CPU; on a GPU 85% of\n"
    "                             the memory left after the weights)\n"
    "  --kv-cache-fraction F      KV cache memory as a fraction of the device's memory left\n"
    "                             after the weights (host RAM on the CPU; instead of -mb)\n"
    "  --kv-cache-dtype T         KV cache values: on a GPU bf16 (default) or fp8 (e4m3,\n"
    "                             scaled per row); on the CPU f16 (default) or f32 (exact)\n"
    "  --no-cuda-graphs           launch decode steps kernel by kernel (default: CUDA graphs)\n"
    "  --no-prefix-caching        do not reuse the KV of earlier requests' shared prefixes\n"
    "  --block-size N             KV block size in tokens (default 16)\n"
    "  --max-model-len N          context length cap (default: model / KV budget)\n"
    "  --max-num-seqs N           sequences batched together (default 32)\n"
    "  --max-num-batched-tokens N tokens per engine step (default 512)\n"
    "  --max-num-waiting N        queued requests before 503 (default 128)\n"
    "  --max-tokens-cap N         largest max_tokens a request may ask for\n"
    "  --max-n N                  largest n (default 16)\n"
    "  --max-body-mb N            request body limit (default 20)\n"
    "  --responses-store-max N    /v1/responses kept for previous_response_id (default 1024)\n"
    "  --responses-store-ttl S    seconds a kept response lives (default 3600)\n"
    "  --read-timeout S, --write-timeout S, --keep-alive-timeout S   seconds (10, 30, 5)\n"
    "  --sse-ping-interval S      keep-alive comments on idle streams (default 15)\n"
    "  --shutdown-grace S         SIGTERM: seconds in-flight requests may finish (default 30)\n"
    "  --health-stall S           /health fails when the engine is silent this long (60)\n"
    "  --api-key K1,K2            require 'Authorization: Bearer K' (also $GEMMA_SERVE_API_KEY)\n"
    "  --api-key-file F           keys, one per line\n"
    "  --auth-health              /health needs a key too (default: public)\n"
    "  --public-metrics           /metrics needs no key (default: it does when keys are set)\n"
    "  --cors-origin O1,O2        origins allowed by CORS ('*' for any; default none)\n"
    "  --log-format text|json     request log lines as text or JSON lines (default text)\n";

namespace {

const std::set<std::string> kSwitches = {"help", "auth-health", "public-metrics",
                                         "no-prefix-caching", "no-cuda-graphs"};
const std::set<std::string> kFlags = {"help",
                                      "config",
                                      "model",
                                      "served-model-name",
                                      "host",
                                      "port",
                                      "threads",
                                      "device",
                                      "kv-cache-dtype",
                                      "no-cuda-graphs",
                                      "http-threads",
                                      "max-http-queue",
                                      "kv-cache-mb",
                                      "kv-cache-fraction",
                                      "no-prefix-caching",
                                      "block-size",
                                      "max-model-len",
                                      "max-num-seqs",
                                      "max-num-batched-tokens",
                                      "max-num-waiting",
                                      "max-tokens-cap",
                                      "max-n",
                                      "max-body-mb",
                                      "responses-store-max",
                                      "responses-store-ttl",
                                      "read-timeout",
                                      "write-timeout",
                                      "keep-alive-timeout",
                                      "sse-ping-interval",
                                      "shutdown-grace",
                                      "health-stall",
                                      "api-key",
                                      "api-key-file",
                                      "auth-health",
                                      "public-metrics",
                                      "cors-origin",
                                      "log-format"};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The config file as flags, placed before the command line's so that flags override it.
StatusOr<std::vector<std::string>> ConfigFileArgs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read config file " + path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Error(path + ": not a JSON object");
  std::vector<std::string> args;
  for (const auto& [key, value] : j.items()) {
    std::string name = key;
    for (char& c : name) c = c == '_' ? '-' : c;
    if (!kFlags.count(name) || name == "config" || name == "help") {
      return Status::Error(path + ": unknown key '" + key + "'");
    }
    if (kSwitches.count(name)) {
      if (!value.is_boolean()) return Status::Error(path + ": '" + key + "' must be true/false");
      if (value.get<bool>()) args.push_back("--" + name);
      continue;
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_integer()) {
      text = std::to_string(value.get<int64_t>());
    } else if (value.is_array()) {
      for (const auto& item : value) {
        if (!item.is_string()) return Status::Error(path + ": '" + key + "' must hold strings");
        if (!text.empty()) text += ',';
        text += item.get<std::string>();
      }
    } else {
      return Status::Error(path + ": '" + key + "' has an unsupported value type");
    }
    args.push_back("--" + name + "=" + text);
  }
  return args;
}

Status ReadKeyFile(const std::string& path, std::vector<std::string>* keys) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot read API key file " + path);
  std::string line;
  while (std::getline(in, line)) {
    // Surrounding whitespace (tabs, CRLF endings, indentation) is never part of a key: a line
    // of only whitespace is blank and an indented '#' line is a comment.
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos || line[begin] == '#') continue;
    keys->push_back(line.substr(begin, line.find_last_not_of(" \t\r") + 1 - begin));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ServerConfig> ParseServerConfig(const std::vector<std::string>& raw_args, bool* help) {
  *help = false;
  std::vector<std::string> all;
  {
    CliArgs pre(raw_args, kSwitches);
    if (!pre.Validate(kFlags)) return Status::Error(pre.error());
    if (pre.Has("help")) {
      *help = true;
      return ServerConfig{};
    }
    if (std::optional<std::string> file = pre.Get("config")) {
      StatusOr<std::vector<std::string>> from_file = ConfigFileArgs(*file);
      if (!from_file.ok()) return from_file.status();
      all = std::move(from_file).value();
    }
  }
  all.insert(all.end(), raw_args.begin(), raw_args.end());
  CliArgs args(all, kSwitches);
  if (!args.Validate(kFlags)) return Status::Error(args.error());

  ServerConfig c;
  c.host = args.GetOr("host", c.host);
  c.port = static_cast<int32_t>(args.GetInt("port", c.port, 0, 65535));
  c.backend.num_threads = static_cast<int32_t>(args.GetInt("threads", 0, 0, 1024));
  StatusOr<DeviceKind> device = ParseDeviceKind(args.GetOr("device", "auto"));
  if (!device.ok()) return Status::Error("--device: " + device.status().message());
  c.backend.device = *device;
  StatusOr<KvDtype> kv_dtype = ParseKvDtype(args.GetOr("kv-cache-dtype", "auto"));
  if (!kv_dtype.ok()) return Status::Error("--kv-cache-dtype: " + kv_dtype.status().message());
  c.backend.kv_dtype = *kv_dtype;
  c.backend.cuda_graphs = !args.Has("no-cuda-graphs");
  c.max_num_seqs = static_cast<int32_t>(args.GetInt("max-num-seqs", c.max_num_seqs, 1, 4096));
  c.num_http_threads = static_cast<int32_t>(args.GetInt("http-threads", 0, 0, 4096));
  if (c.num_http_threads == 0) c.num_http_threads = c.max_num_seqs + 16;
  c.max_http_queue =
      static_cast<int32_t>(args.GetInt("max-http-queue", c.max_http_queue, 0, 1 << 16));
  c.kv_cache_bytes = args.GetInt("kv-cache-mb", 1024, 1, 1 << 24) << 20;
  c.kv_cache_default = !args.Has("kv-cache-mb") && !args.Has("kv-cache-fraction");
  if (args.Has("kv-cache-fraction")) {
    c.kv_cache_fraction = args.GetDouble("kv-cache-fraction", 0.1, 1e-6, 0.95);
  }
  c.enable_prefix_caching = !args.Has("no-prefix-caching");
  c.block_size = static_cast<int32_t>(args.GetInt("block-size", c.block_size, 1, 1024));
  c.max_model_len = args.GetInt("max-model-len", 0, 0, int64_t{1} << 24);
  c.max_num_batched_tokens = static_cast<int32_t>(
      args.GetInt("max-num-batched-tokens", c.max_num_batched_tokens, 1, 1 << 16));
  c.max_num_waiting =
      static_cast<int32_t>(args.GetInt("max-num-waiting", c.max_num_waiting, 0, 1 << 20));
  c.max_tokens_cap = args.GetInt("max-tokens-cap", 0, 0, int64_t{1} << 24);
  c.max_n = static_cast<int32_t>(args.GetInt("max-n", c.max_n, 1, 128));
  c.max_body_bytes = args.GetInt("max-body-mb", 20, 1, 1024) << 20;
  c.responses_store_max =
      args.GetInt("responses-store-max", c.responses_store_max, 0, int64_t{1} << 24);
  c.responses_store_ttl_s =
      args.GetInt("responses-store-ttl", c.responses_store_ttl_s, 1, int64_t{1} << 31);
  c.read_timeout_s = static_cast<int32_t>(args.GetInt("read-timeout", c.read_timeout_s, 1, 3600));
  c.write_timeout_s =
      static_cast<int32_t>(args.GetInt("write-timeout", c.write_timeout_s, 1, 3600));
  c.keep_alive_timeout_s =
      static_cast<int32_t>(args.GetInt("keep-alive-timeout", c.keep_alive_timeout_s, 1, 3600));
  c.sse_ping_interval_s =
      static_cast<int32_t>(args.GetInt("sse-ping-interval", c.sse_ping_interval_s, 1, 3600));
  c.shutdown_grace_s =
      static_cast<int32_t>(args.GetInt("shutdown-grace", c.shutdown_grace_s, 0, 3600));
  c.health_stall_s = static_cast<int32_t>(args.GetInt("health-stall", c.health_stall_s, 1, 86400));
  if (!args.error().empty()) return Status::Error(args.error());

  if (std::optional<std::string> names = args.Get("served-model-name")) {
    c.served_model_names = SplitList(*names);
  }
  for (const std::string& k : SplitList(args.GetOr("api-key", ""))) c.api_keys.push_back(k);
  if (std::optional<std::string> file = args.Get("api-key-file")) {
    GS_RETURN_IF_ERROR(ReadKeyFile(*file, &c.api_keys));
  }
  if (const char* env = std::getenv("GEMMA_SERVE_API_KEY"); env && *env) {
    for (const std::string& k : SplitList(env)) c.api_keys.push_back(k);
  }
  c.auth_health = args.Has("auth-health");
  c.auth_metrics = !args.Has("public-metrics");
  c.cors_origins = SplitList(args.GetOr("cors-origin", ""));
  c.log_format = args.GetOr("log-format", c.log_format);
  if (c.log_format != "text" && c.log_format != "json") {
    return Status::Error("--log-format must be text or json");
  }
  if (std::optional<std::string> model = ResolveModelPath(args)) c.model_path = *model;
  return c;
}

}  // namespace gs
