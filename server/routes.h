// The endpoints: OpenAI's /v1/chat/completions, /v1/completions and /v1/models (and
// /v1/responses, through server/responses_route.h), vLLM's
// /tokenize and /detokenize, and /health, /version, /metrics. Each handler parses and validates
// (api/), renders and tokenizes, hands the choices to the engine through a Generation, and writes
// JSON or SSE. Handlers run on HTTP worker threads and never touch engine state.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/chat_template.h"
#include "api/request.h"
#include "api/response.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/constraint_compiler.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/server_config.h"

namespace gs {

// What the routes serve once the model is loaded.
struct ServingModel {
  const Tokenizer* tokenizer = nullptr;
  Engine* engine = nullptr;
  const api::ChatTemplate* chat_template = nullptr;  // the model's chat format
  std::vector<std::string> names;                    // names[0] is reported in responses
  int64_t created = 0;                               // unix seconds the server loaded it; 0: now
};

// Per-request numbers for the access log, filled by handlers on the worker thread.
struct RequestLogInfo {
  std::string request_id;
  int64_t num_prompt_tokens = -1;
  int64_t num_completion_tokens = -1;
  double ttft_seconds = -1;
  std::chrono::steady_clock::time_point started_at;
};
RequestLogInfo& CurrentLogInfo();

void SendError(httplib::Response& res, const api::ApiError& error);

class ResponsesRoute;

class Routes {
 public:
  explicit Routes(const ServerConfig& config);

  void Register(httplib::Server& server);
  void SetModel(ServingModel model);
  bool ready() const { return ready_.load(); }
  int num_in_flight() const { return num_in_flight_.load(); }

 private:
  // /v1/responses generates through the chat path's pieces (limits, rendering, BuildSpec) and
  // records its requests like the others.
  friend class ResponsesRoute;

  void Health(const httplib::Request& req, httplib::Response& res);
  void Metrics(const httplib::Request& req, httplib::Response& res);
  void ListModels(const httplib::Request& req, httplib::Response& res);
  void GetModel(const httplib::Request& req, httplib::Response& res);
  void ChatCompletions(const httplib::Request& req, httplib::Response& res);
  void Completions(const httplib::Request& req, httplib::Response& res);
  void Tokenize(const httplib::Request& req, httplib::Response& res);
  void Detokenize(const httplib::Request& req, httplib::Response& res);

  api::RequestLimits Limits() const;
  // The served name a request's `model` refers to, or a 404.
  bool CheckModel(const std::string& requested, httplib::Response& res) const;
  // What a chat request asks of the template (chat and /tokenize render alike).
  static api::ChatTemplateOptions TemplateOptions(bool add_generation_prompt,
                                                  std::optional<bool> enable_thinking,
                                                  const api::ToolConfig& tools);
  // Chat messages -> prompt ids through the model's chat template, or a 400 naming `messages`.
  bool RenderChat(const std::vector<api::ChatMessage>& messages,
                  const api::ChatTemplateOptions& options, std::vector<int32_t>* ids,
                  httplib::Response& res) const;
  // Builds the choices (n per prompt) and checks lengths against the context, and compiles the
  // output constraint the params ask for (a 400 naming its source when it does not compile).
  bool BuildSpec(const std::vector<std::vector<int32_t>>& prompts, const api::GenerationParams& p,
                 const char* prompt_param, GenerationSpec* spec, httplib::Response& res) const;
  // tool_choice "required" or a named function: the spec's grammar becomes the calls' (it
  // replaces a response_format one, which asks for content the calls leave none of).
  bool ConstrainToolCalls(const api::ToolConfig& tools, GenerationSpec* spec,
                          httplib::Response& res) const;
  // Submits and answers, streamed (SSE) or as one JSON body; `chat` picks the wire format.
  void Respond(std::shared_ptr<Generation> gen, const api::GenerationParams& p, bool chat,
               std::vector<std::string> echo_texts, httplib::Response& res);
  struct Exchange;
  bool WriteJson(Exchange& ex, httplib::DataSink& sink);
  bool StreamEvents(Exchange& ex, const api::GenerationParams& p, httplib::DataSink& sink);
  // Records the request in /metrics and the access log, once.
  void Finish(Exchange& ex, const std::string& reason);
  api::Usage UsageOf(const Exchange& ex) const;

  const ServerConfig config_;
  std::atomic<bool> ready_{false};
  ServingModel model_;
  // From the tokenizer and the chat template, once (SetModel): the ids generation stops at (the
  // tokenizer's end-of-generation ids and the template's end-of-turn tokens), and the marker
  // tokens the output is parsed by, rendered as text even when typed as control tokens.
  std::vector<int32_t> end_ids_;
  std::vector<int32_t> marker_ids_;
  std::unique_ptr<ConstraintCompiler> constraints_;  // the model's trie and grammar caches
  std::unique_ptr<gs::Metrics> metrics_;
  std::atomic<int> num_in_flight_{0};
  std::shared_ptr<ResponsesRoute> responses_;  // made by Register
};

}  // namespace gs
