// Everything `gemma-serve serve` can be told, from flags and an optional JSON config file
// (configs/*.json; its keys are the flag names, with '-' or '_'). Flags win over the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "server/loaded_model.h"

namespace gs {

struct ServerConfig {
  // Network.
  std::string host = "127.0.0.1";
  int32_t port = 8080;
  int32_t num_http_threads = 0;  // 0: max_num_seqs + 16
  int32_t max_http_queue = 0;    // connections that may wait for a busy HTTP thread
  int64_t max_body_bytes = int64_t{20} << 20;
  int32_t read_timeout_s = 10;
  int32_t write_timeout_s = 30;
  int32_t keep_alive_timeout_s = 5;
  int32_t sse_ping_interval_s = 15;
  int32_t shutdown_grace_s = 30;
  int32_t health_stall_s = 60;  // /health fails when the engine loop is silent this long
  // Model and engine.
  std::string model_path;
  std::vector<std::string> served_model_names;  // the first is the name responses carry
  BackendChoice backend;                        // --device, --threads, --kv-cache-dtype
  int64_t kv_cache_bytes = int64_t{1} << 30;
  double kv_cache_fraction = 0;  // > 0: of the backend's free memory once weights are loaded
  // Neither flag given: kv_cache_bytes on the CPU, kGpuKvCacheFraction on a GPU.
  bool kv_cache_default = true;
  static constexpr double kGpuKvCacheFraction = 0.85;
  int32_t block_size = 16;
  int64_t max_model_len = 0;  // 0: as the model and the KV budget allow
  int32_t max_num_seqs = 32;
  int32_t max_num_batched_tokens = 512;
  int32_t max_num_waiting = 128;
  bool enable_prefix_caching = true;
  // Request limits.
  int64_t max_tokens_cap = 0;  // 0: max_model_len
  int32_t max_n = 16;
  // /v1/responses kept for previous_response_id and GET (server/response_store.h).
  int64_t responses_store_max = 1024;     // responses; 0 keeps none
  int64_t responses_store_ttl_s = 3600;  // seconds a kept response lives
  // Security and operations.
  std::vector<std::string> api_keys;
  bool auth_health = false;               // /health needs a key too
  bool auth_metrics = true;               // /metrics needs a key (when keys are set)
  std::vector<std::string> cors_origins;  // "*" allows any origin
  std::string log_format = "text";        // text or json
};

// Parses `serve`'s arguments (after the command name). API keys come from --api-key (repeatable
// as a comma list), --api-key-file (one per line) and $GEMMA_SERVE_API_KEY.
StatusOr<ServerConfig> ParseServerConfig(const std::vector<std::string>& args, bool* help);

extern const char* const kServeHelp;

}  // namespace gs
