#include "server/routes.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>

#include "api/chat_template.h"
#include "api/json_body.h"
#include "api/response.h"
#include "server/responses_route.h"
#include "server/schema_order.h"

namespace gs {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

constexpr const char* kVersion = "0.1.0";
constexpr auto kPollInterval = std::chrono::milliseconds(50);

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

std::string RandomId(const char* prefix) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s%016llx%08llx", prefix,
                static_cast<unsigned long long>(RandomU64()),
                static_cast<unsigned long long>(RandomU64() & 0xffffffffu));
  return buf;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SendJson(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(api::DumpJson(j), "application/json");
}

// The parsed body or false after answering 400.
template <typename T, typename Parse>
bool ParseBody(const httplib::Request& req, httplib::Response& res, Parse parse, T* out) {
  std::variant<json, api::ApiError> body = api::ParseJsonBody(req.body);
  if (auto* e = std::get_if<api::ApiError>(&body)) {
    SendError(res, *e);
    return false;
  }
  api::ParseResult<T> parsed = parse(std::get<json>(body));
  if (auto* e = std::get_if<api::ApiError>(&parsed)) {
    SendError(res, *e);
    return false;
  }
  *out = std::move(std::get<T>(parsed));
  if constexpr (requires { out->params.constraint; }) {
    KeepSchemaOrder(req.body, out->params.constraint.param, &out->params.constraint);
  }
  return true;
}

}  // namespace

RequestLogInfo& CurrentLogInfo() {
  thread_local RequestLogInfo info;
  return info;
}

void SendError(httplib::Response& res, const api::ApiError& error) {
  SendJson(res, error.ToJson(), error.status);
  if (error.status == 503 || error.status == 429) res.set_header("Retry-After", "1");
}

Routes::Routes(const ServerConfig& config) : config_(config) {}

void Routes::SetModel(ServingModel model) {
  model_ = std::move(model);
  if (model_.created == 0) model_.created = UnixNow();
  end_ids_ = model_.tokenizer->eog_ids();
  for (const std::string& text : model_.chat_template->end_of_turn_texts()) {
    const std::optional<int32_t> id = model_.tokenizer->FindToken(text);
    if (id && std::find(end_ids_.begin(), end_ids_.end(), *id) == end_ids_.end()) {
      end_ids_.push_back(*id);
    }
  }
  marker_ids_.clear();
  for (const std::string& text : model_.chat_template->marker_texts()) {
    if (const std::optional<int32_t> id = model_.tokenizer->FindToken(text)) {
      marker_ids_.push_back(*id);
    }
  }
  constraints_ = std::make_unique<ConstraintCompiler>(*model_.tokenizer, end_ids_);
  metrics_ = std::make_unique<gs::Metrics>(model_.names.front());
  ready_ = true;
}

void Routes::Register(httplib::Server& s) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  s.Get("/health", [this](Req q, Res r) { Health(q, r); });
  s.Get("/version", [](Req, Res r) { SendJson(r, {{"version", kVersion}}); });
  s.Get("/metrics", [this](Req q, Res r) { Metrics(q, r); });
  s.Get("/v1/models", [this](Req q, Res r) { ListModels(q, r); });
  s.Get(R"(/v1/models/([^/]+))", [this](Req q, Res r) { GetModel(q, r); });
  s.Post("/v1/chat/completions", [this](Req q, Res r) { ChatCompletions(q, r); });
  s.Post("/v1/completions", [this](Req q, Res r) { Completions(q, r); });
  responses_ = std::make_shared<ResponsesRoute>(*this, config_);
  responses_->Register(s);
  s.Post("/tokenize", [this](Req q, Res r) { Tokenize(q, r); });
  s.Post("/detokenize", [this](Req q, Res r) { Detokenize(q, r); });
}

void Routes::Health(const httplib::Request&, httplib::Response& res) {
  if (!ready_) return SendError(res, api::Unavailable("Loading model"));
  const EngineStats stats = model_.engine->Stats();
  const double silent_s =
      std::chrono::duration<double>(steady_clock::now() - stats.heartbeat).count();
  if (!stats.alive || silent_s > config_.health_stall_s) {
    return SendError(res, api::Unavailable("the engine loop is not responding"));
  }
  SendJson(res, {{"status", "ok"}});
}

void Routes::Metrics(const httplib::Request&, httplib::Response& res) {
  if (!ready_) return SendError(res, api::Unavailable("Loading model"));
  res.set_content(metrics_->Render(model_.engine->Stats()), "text/plain; version=0.0.4");
}

void Routes::ListModels(const httplib::Request&, httplib::Response& res) {
  json data = json::array();
  for (const std::string& name : model_.names) data.push_back(api::ModelJson(name, model_.created));
  SendJson(res, {{"object", "list"}, {"data", data}});
}

void Routes::GetModel(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!CheckModel(id, res)) return;
  SendJson(res, api::ModelJson(id, model_.created));
}

bool Routes::CheckModel(const std::string& requested, httplib::Response& res) const {
  if (requested.empty()) return true;
  for (const std::string& name : model_.names) {
    if (name == requested) return true;
  }
  SendError(res, api::ModelNotFound(requested));
  return false;
}

api::RequestLimits Routes::Limits() const {
  api::RequestLimits l;
  l.num_vocab = model_.tokenizer->num_vocab();
  l.max_n = config_.max_n;
  l.max_tokens_cap =
      config_.max_tokens_cap > 0 ? config_.max_tokens_cap : model_.engine->max_seq_len();
  return l;
}

api::ChatTemplateOptions Routes::TemplateOptions(bool add_generation_prompt,
                                                 std::optional<bool> enable_thinking,
                                                 const api::ToolConfig& tools) {
  api::ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.enable_thinking = enable_thinking.value_or(false);
  // tool_choice "none" offers the model no tools (vLLM's --exclude-tools-when-tool-choice-none):
  // a model shown tools may call them whatever it is told.
  if (tools.active()) options.tools = tools.tools;
  options.tool_choice = tools.choice;
  options.parallel_tool_calls = tools.parallel_tool_calls;
  return options;
}

bool Routes::RenderChat(const std::vector<api::ChatMessage>& messages,
                        const api::ChatTemplateOptions& options, std::vector<int32_t>* ids,
                        httplib::Response& res) const {
  const api::RenderedPrompt prompt = model_.chat_template->Render(messages, options);
  if (!prompt.error.empty()) {
    SendError(res, api::InvalidParam("messages", prompt.error));
    return false;
  }
  // The template writes <bos> and the turn markers itself: no BOS added, specials parsed.
  *ids = model_.tokenizer->Encode(prompt.text, /*add_special=*/false, /*parse_special=*/true);
  return true;
}

bool Routes::BuildSpec(const std::vector<std::vector<int32_t>>& prompts,
                       const api::GenerationParams& p, const char* prompt_param,
                       GenerationSpec* spec, httplib::Response& res) const {
  const int64_t max_len = model_.engine->max_seq_len();
  const uint64_t base_seed = p.seed.value_or(RandomU64());
  int32_t index = 0;
  for (const std::vector<int32_t>& prompt : prompts) {
    const int64_t len = static_cast<int64_t>(prompt.size());
    if (len == 0) {
      SendError(res, api::InvalidParam(prompt_param, "the prompt is empty"));
      return false;
    }
    if (len >= max_len) {
      SendError(res, api::ContextLengthExceeded(
                         prompt_param, "This model's maximum context length is " +
                                           std::to_string(max_len) + " tokens. However, your " +
                                           "prompt has " + std::to_string(len) + " tokens."));
      return false;
    }
    if (p.max_tokens && len + *p.max_tokens > max_len) {
      SendError(res,
                api::ContextLengthExceeded(
                    "max_tokens", "This model's maximum context length is " +
                                      std::to_string(max_len) + " tokens. However, you " +
                                      "requested " + std::to_string(len + *p.max_tokens) +
                                      " tokens (" + std::to_string(len) + " in the prompt, " +
                                      std::to_string(*p.max_tokens) + " for the completion)."));
      return false;
    }
    for (int32_t i = 0; i < p.n; ++i) {
      ChoiceSpec c;
      c.index = index++;
      c.prompt = prompt;
      c.max_new_tokens = p.max_tokens.value_or(max_len - len);
      if (config_.max_tokens_cap > 0)
        c.max_new_tokens = std::min(c.max_new_tokens, config_.max_tokens_cap);
      c.seed = base_seed + static_cast<uint64_t>(i);  // n > 1: the choices differ, reproducibly
      spec->choices.push_back(std::move(c));
    }
  }
  SamplingParams& s = spec->sampling;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.presence_penalty = p.presence_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.repetition_penalty = p.repetition_penalty;
  s.logit_bias.assign(p.logit_bias.begin(), p.logit_bias.end());
  if (!p.ignore_eos) spec->stop_ids = end_ids_;
  spec->marker_ids = marker_ids_;
  spec->stop_ids.insert(spec->stop_ids.end(), p.stop_token_ids.begin(), p.stop_token_ids.end());
  spec->stop = p.stop;
  spec->logprobs = p.logprobs;
  spec->top_logprobs = p.top_logprobs;
  if (p.constraint.active()) {
    GrammarOrError g = constraints_->Compile(p.constraint);
    if (const auto* e = std::get_if<api::ApiError>(&g)) {
      SendError(res, *e);
      return false;
    }
    spec->grammar = std::get<0>(std::move(g));
    spec->token_trie = constraints_->token_trie();
  }
  return true;
}

bool Routes::ConstrainToolCalls(const api::ToolConfig& tools, GenerationSpec* spec,
                                httplib::Response& res) const {
  if (tools.choice.mode != api::ToolChoiceMode::kRequired &&
      tools.choice.mode != api::ToolChoiceMode::kFunction) {
    return true;
  }
  GrammarOrError g =
      constraints_->CompileToolCalls(tools, model_.chat_template->tool_call_format());
  if (const auto* e = std::get_if<api::ApiError>(&g)) {
    SendError(res, *e);
    return false;
  }
  if (std::shared_ptr<const grammar::CompiledGrammar> calls = std::get<0>(std::move(g))) {
    spec->grammar = std::move(calls);
    spec->token_trie = constraints_->token_trie();
  }
  return true;
}

void Routes::ChatCompletions(const httplib::Request& req, httplib::Response& res) {
  const api::RequestLimits limits = Limits();
  api::ChatRequest r;
  if (!ParseBody<api::ChatRequest>(
          req, res, [&](const json& j) { return api::ParseChatRequest(j, limits); }, &r) ||
      !CheckModel(r.model, res)) {
    return;
  }
  std::vector<int32_t> ids;
  if (!RenderChat(r.messages, TemplateOptions(r.add_generation_prompt, r.enable_thinking, r.tools),
                  &ids, res)) {
    return;
  }
  GenerationSpec spec;
  if (!BuildSpec({ids}, r.params, "messages", &spec, res)) return;
  // The model's thoughts go to reasoning_content, whether or not thinking was asked for: a model
  // that thinks anyway must not leak its channel into the answer.
  spec.reasoning = model_.chat_template->reasoning_syntax();
  // With tool_choice "none" the model was not shown the tools, and nothing it writes is a call.
  if (r.tools.active()) {
    spec.tool_calls = api::ToolCallSyntax{.format = model_.chat_template->tool_call_format(),
                                          .names = r.tools.names,
                                          .max_calls = r.tools.parallel_tool_calls ? -1 : 1};
    spec.finish_as_tool_calls = r.tools.choice.mode != api::ToolChoiceMode::kFunction;
    if (!ConstrainToolCalls(r.tools, &spec, res)) return;
  }
  Respond(std::make_shared<Generation>(*model_.tokenizer, std::move(spec)), r.params, true, {},
          res);
}

void Routes::Completions(const httplib::Request& req, httplib::Response& res) {
  const api::RequestLimits limits = Limits();
  api::CompletionRequest r;
  if (!ParseBody<api::CompletionRequest>(
          req, res, [&](const json& j) { return api::ParseCompletionRequest(j, limits); }, &r) ||
      !CheckModel(r.model, res)) {
    return;
  }
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> echo_texts;
  for (const api::Prompt& p : r.prompts) {
    prompts.push_back(p.is_tokens ? p.tokens
                                  : model_.tokenizer->Encode(p.text, /*add_special=*/true,
                                                             /*parse_special=*/true));
    if (r.echo) {
      const std::string text = p.is_tokens ? model_.tokenizer->Decode(p.tokens, false) : p.text;
      for (int32_t i = 0; i < r.params.n; ++i) echo_texts.push_back(text);
    }
  }
  GenerationSpec spec;
  if (!BuildSpec(prompts, r.params, "prompt", &spec, res)) return;
  Respond(std::make_shared<Generation>(*model_.tokenizer, std::move(spec)), r.params, false,
          std::move(echo_texts), res);
}

// What a response's provider calls share: httplib may call a provider again after it returns,
// so progress lives here, not in locals.
struct Routes::Exchange {
  // A response httplib dropped before its provider finished (the client left before the first
  // write) still counts as an aborted request.
  ~Exchange() {
    if (!recorded) routes->Finish(*this, "abort");
  }

  Routes* routes = nullptr;
  std::shared_ptr<Generation> gen;
  api::ResponseHeader header;
  bool chat = false;
  std::vector<std::string> echo_texts;   // per choice (completions with echo)
  std::string finished_reason = "stop";  // the request's, for /metrics: the first non-stop one
  bool recorded = false;
};

void Routes::Respond(std::shared_ptr<Generation> gen, const api::GenerationParams& p, bool chat,
                     std::vector<std::string> echo_texts, httplib::Response& res) {
  if (!gen->Submit(*model_.engine)) {
    return SendError(res, api::Unavailable("the server is overloaded (too many queued requests); "
                                           "retry later"));
  }
  auto ex = std::make_shared<Exchange>();
  ex->routes = this;
  ex->gen = std::move(gen);
  ex->header.id = RandomId(chat ? "chatcmpl-" : "cmpl-");
  ex->header.created = UnixNow();
  ex->header.model = model_.names.front();
  ex->chat = chat;
  ex->echo_texts = std::move(echo_texts);
  CurrentLogInfo().request_id = ex->header.id;
  ++num_in_flight_;
  if (p.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ex, p](size_t, httplib::DataSink& sink) { return StreamEvents(*ex, p, sink); });
  } else {
    // One JSON body, written through a provider so that a client that hangs up is noticed
    // (is_writable) and its request cancelled while it still computes.
    res.set_chunked_content_provider(
        "application/json",
        [this, ex](size_t, httplib::DataSink& sink) { return WriteJson(*ex, sink); });
  }
}

void Routes::Finish(Exchange& ex, const std::string& reason) {
  if (ex.recorded) return;
  ex.recorded = true;
  ex.gen->Cancel();  // a no-op for finished choices
  --num_in_flight_;
  metrics_->Record(ex.gen->Record(reason));
  RequestLogInfo& info = CurrentLogInfo();
  info.num_prompt_tokens = ex.gen->num_prompt_tokens();
  info.num_completion_tokens = ex.gen->num_completion_tokens();
  info.ttft_seconds = ex.gen->ttft_seconds();
}

api::Usage Routes::UsageOf(const Exchange& ex) const {
  api::Usage u;
  u.prompt_tokens = ex.gen->num_prompt_tokens();
  u.completion_tokens = ex.gen->num_completion_tokens();
  u.cached_tokens = ex.gen->num_cached_tokens();
  return u;
}

bool Routes::WriteJson(Exchange& ex, httplib::DataSink& sink) {
  Generation& g = *ex.gen;
  std::vector<api::ChoiceResult> results(g.num_choices());
  for (size_t i = 0; i < results.size(); ++i) {
    results[i].index = static_cast<int32_t>(i);
    if (!ex.echo_texts.empty()) results[i].text = ex.echo_texts[i];
  }
  while (!g.done()) {
    if (!sink.is_writable()) {
      g.Cancel();
      Finish(ex, "abort");
      return false;
    }
    for (ChoiceDelta& d : g.Poll(kPollInterval)) {
      api::ChoiceResult& r = results[d.index];
      r.text += d.text;
      r.reasoning += d.reasoning;
      for (api::ParsedToolCall& call : d.tool_calls) {
        r.tool_calls.push_back(
            {RandomId("call_"), std::move(call.name), std::move(call.arguments)});
      }
      r.has_logprobs = g.wants_logprobs();
      for (api::TokenLogprobs& lp : d.logprobs) r.logprobs.push_back(std::move(lp));
      if (!d.finish_reason.empty()) {
        r.finish_reason = d.finish_reason;
        if (d.finish_reason != "stop" && ex.finished_reason == "stop") {
          ex.finished_reason = d.finish_reason;
        }
      }
    }
  }
  std::string body;
  if (!g.error().empty()) {
    body = api::DumpJson(api::InternalError(g.error()).ToJson());
  } else {
    for (api::ChoiceResult& r : results) r.has_logprobs = g.wants_logprobs();
    body = api::DumpJson(ex.chat ? api::ChatCompletionJson(ex.header, results, UsageOf(ex))
                                 : api::TextCompletionJson(ex.header, results, UsageOf(ex)));
  }
  Finish(ex, ex.finished_reason);
  if (!sink.write(body.data(), body.size())) return false;
  sink.done();
  return true;
}

// Server-sent events: for chat a role chunk per choice first, then content deltas and each
// choice's finish_reason, the usage chunk when asked for, and [DONE]. Comment pings keep an idle
// stream (a long prefill) alive. A failed write means the client is gone.
bool Routes::StreamEvents(Exchange& ex, const api::GenerationParams& p, httplib::DataSink& sink) {
  Generation& g = *ex.gen;
  auto send = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
  auto chunk = [&](const api::ChunkDelta& d) {
    return send(api::SseEvent(ex.chat ? api::ChatChunkJson(ex.header, d, p.include_usage)
                                      : api::TextChunkJson(ex.header, d, p.include_usage)));
  };
  auto client_gone = [&] {
    g.Cancel();
    Finish(ex, "abort");
    return false;
  };
  std::vector<int64_t> text_offsets(g.num_choices(), 0);
  std::vector<int32_t> num_tool_calls(g.num_choices(), 0);
  for (int32_t i = 0; i < g.num_choices(); ++i) {
    api::ChunkDelta first;
    first.index = i;
    if (ex.chat) {
      first.role_delta = true;
    } else if (!ex.echo_texts.empty()) {
      first.text = ex.echo_texts[i];
      text_offsets[i] = static_cast<int64_t>(ex.echo_texts[i].size());
    } else {
      continue;
    }
    if (!chunk(first)) return client_gone();
  }
  const auto ping_every = std::chrono::seconds(config_.sse_ping_interval_s);
  auto last_write = steady_clock::now();
  while (!g.done()) {
    if (!sink.is_writable()) return client_gone();
    for (ChoiceDelta& d : g.Poll(kPollInterval)) {
      const bool ends =
          !d.finish_reason.empty() && d.finish_reason != "abort" && d.finish_reason != "error";
      if (!d.finish_reason.empty() && d.finish_reason != "stop" && ex.finished_reason == "stop") {
        ex.finished_reason = d.finish_reason;
      }
      api::ChunkDelta out;
      out.index = d.index;
      out.has_logprobs = g.wants_logprobs() && !d.logprobs.empty();
      out.logprobs = std::move(d.logprobs);
      out.text_offset = text_offsets[d.index];
      text_offsets[d.index] += static_cast<int64_t>(d.text.size());
      const bool has_content = !d.text.empty() || !d.reasoning.empty() || out.has_logprobs;
      // A delta that is only reasoning carries no `content` key (the client appends what comes).
      if (!d.reasoning.empty()) out.reasoning = std::move(d.reasoning);
      if (!d.text.empty() || (has_content && !out.reasoning)) out.text = std::move(d.text);
      // Completions put the reason on the last text chunk; chat sends it with an empty delta.
      if (ends && !ex.chat) out.finish_reason = d.finish_reason;
      if ((has_content || !out.finish_reason.empty()) && !chunk(out)) return client_gone();
      // Each call as OpenAI streams one: an entry that opens it (id, name, arguments ""), then
      // its arguments. Calls arrive whole (api/tool_call_parser.h says why), so one fragment.
      for (api::ParsedToolCall& call : d.tool_calls) {
        const int32_t call_idx = num_tool_calls[d.index]++;
        api::ChunkDelta opens;
        opens.index = d.index;
        opens.tool_calls.push_back({.index = call_idx,
                                    .opens = true,
                                    .id = RandomId("call_"),
                                    .name = std::move(call.name),
                                    .arguments = ""});
        api::ChunkDelta arguments;
        arguments.index = d.index;
        arguments.tool_calls.push_back({.index = call_idx,
                                        .opens = false,
                                        .id = "",
                                        .name = "",
                                        .arguments = std::move(call.arguments)});
        if (!chunk(opens) || !chunk(arguments)) return client_gone();
      }
      if (ends && ex.chat) {
        api::ChunkDelta fin;
        fin.index = d.index;
        fin.finish_reason = d.finish_reason;
        if (!chunk(fin)) return client_gone();
      }
      last_write = steady_clock::now();
    }
    if (steady_clock::now() - last_write >= ping_every) {
      if (!send(api::kSsePing)) return client_gone();
      last_write = steady_clock::now();
    }
  }
  if (!g.error().empty()) {
    // After the 200 headers an error can only travel as an event (as OpenAI's streams do).
    send(api::SseEvent(api::InternalError(g.error()).ToJson()));
  } else if (p.include_usage) {
    send(api::SseEvent(api::UsageChunkJson(
        ex.header, ex.chat ? "chat.completion.chunk" : "text_completion", UsageOf(ex))));
  }
  Finish(ex, ex.finished_reason);
  send(api::kSseDone);
  sink.done();
  return true;
}

void Routes::Tokenize(const httplib::Request& req, httplib::Response& res) {
  const api::RequestLimits limits = Limits();
  api::TokenizeRequest r;
  if (!ParseBody<api::TokenizeRequest>(
          req, res, [&](const json& j) { return api::ParseTokenizeRequest(j, limits); }, &r) ||
      !CheckModel(r.model, res)) {
    return;
  }
  std::vector<int32_t> ids;
  if (r.is_chat) {
    if (!RenderChat(r.messages,
                    TemplateOptions(r.add_generation_prompt, r.enable_thinking, r.tools), &ids,
                    res)) {
      return;
    }
  } else {
    ids = model_.tokenizer->Encode(r.prompt, r.add_special_tokens, /*parse_special=*/true);
  }
  SendJson(
      res,
      {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", model_.engine->max_seq_len()}});
}

void Routes::Detokenize(const httplib::Request& req, httplib::Response& res) {
  const api::RequestLimits limits = Limits();
  api::DetokenizeRequest r;
  if (!ParseBody<api::DetokenizeRequest>(
          req, res, [&](const json& j) { return api::ParseDetokenizeRequest(j, limits); }, &r) ||
      !CheckModel(r.model, res)) {
    return;
  }
  SendJson(res, {{"prompt", model_.tokenizer->Decode(r.tokens, /*render_special=*/true)}});
}

}  // namespace gs
