#include "server/responses_route.h"

#include <chrono>
#include <random>
#include <utility>

#include "api/json_body.h"
#include "api/responses_events.h"
#include "api/responses_request.h"
#include "server/routes.h"
#include "server/schema_order.h"

namespace gs {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(50);

// OpenAI's ids: a type prefix and random hex (48 random characters as OpenAI's are long).
std::string RandomId(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%016llx%016llx%016llx", prefix,
                static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

void SendJson(httplib::Response& res, const json& j) {
  res.status = 200;
  res.set_content(api::DumpJson(j), "application/json");
}

}  // namespace

// What a response's provider calls share (httplib may call a provider again after it returns).
struct ResponsesRoute::Exchange {
  // A response httplib dropped before its provider finished still counts as aborted.
  ~Exchange() {
    if (!recorded) route->Finish(*this, "abort");
  }

  ResponsesRoute* route = nullptr;
  std::shared_ptr<Generation> gen;
  std::unique_ptr<api::ResponseBuilder> builder;
  bool store = true;
  ResponseStore::Chain parent;         // the conversation this response continues
  std::vector<json> own_items;         // its own input items (what it adds to `parent`)
  std::string finish_reason = "stop";  // the choice's
  bool ended = false;                  // the builder has its closing events
  bool recorded = false;
};

ResponsesRoute::ResponsesRoute(Routes& routes, const ServerConfig& config)
    : routes_(routes),
      sse_ping_interval_s_(config.sse_ping_interval_s),
      store_(config.responses_store_max, std::chrono::seconds(config.responses_store_ttl_s)) {}

void ResponsesRoute::Register(httplib::Server& s) {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  s.Post("/v1/responses", [this](Req q, Res r) { Create(q, r); });
  s.Get(R"(/v1/responses/([^/]+))", [this](Req q, Res r) { Get(q, r); });
  s.Delete(R"(/v1/responses/([^/]+))", [this](Req q, Res r) { Delete(q, r); });
}

void ResponsesRoute::Get(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (std::optional<json> response = store_.Get(id)) return SendJson(res, *response);
  SendError(res, api::ResponseNotFound(id, "response_id"));
}

void ResponsesRoute::Delete(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!store_.Delete(id)) return SendError(res, api::ResponseNotFound(id, "response_id"));
  SendJson(res, {{"id", id}, {"object", "response.deleted"}, {"deleted", true}});
}

void ResponsesRoute::Create(const httplib::Request& req, httplib::Response& res) {
  if (!routes_.ready()) return SendError(res, api::Unavailable("Loading model"));
  std::variant<json, api::ApiError> body = api::ParseJsonBody(req.body);
  if (auto* e = std::get_if<api::ApiError>(&body)) return SendError(res, *e);
  // The parent's chain is held from here on: evicting it meanwhile loses nothing.
  ResponseStore::Chain parent;
  const api::StoredItemsLookup lookup =
      [&](const std::string& id) -> std::optional<std::vector<json>> {
    parent = store_.Find(id);
    if (parent == nullptr) return std::nullopt;
    return ResponseStore::Items(parent);
  };
  api::ParseResult<api::ResponsesRequest> parsed =
      api::ParseResponsesRequest(std::get<json>(body), routes_.Limits(), lookup);
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return SendError(res, *e);
  api::ResponsesRequest& r = std::get<api::ResponsesRequest>(parsed);
  if (!routes_.CheckModel(r.chat.model, res)) return;
  KeepSchemaOrder(req.body, "text.format.schema", &r.chat.params.constraint);

  const ServingModel& model = routes_.model_;
  const api::RenderedPrompt prompt = model.chat_template->Render(
      r.chat.messages, Routes::TemplateOptions(true, r.chat.enable_thinking, r.chat.tools));
  if (!prompt.error.empty()) return SendError(res, api::InvalidParam("input", prompt.error));
  const std::vector<int32_t> ids =
      model.tokenizer->Encode(prompt.text, /*add_special=*/false, /*parse_special=*/true);
  GenerationSpec spec;
  if (!routes_.BuildSpec({ids}, r.chat.params, "input", &spec, res)) return;
  // As chat: thoughts are split out whether or not thinking was asked for, and calls are read
  // only when the model was shown the tools.
  spec.reasoning = model.chat_template->reasoning_syntax();
  if (r.chat.tools.active()) {
    spec.tool_calls = api::ToolCallSyntax{.format = model.chat_template->tool_call_format(),
                                          .names = r.chat.tools.names,
                                          .max_calls = r.chat.tools.parallel_tool_calls ? -1 : 1};
    if (!routes_.ConstrainToolCalls(r.chat.tools, &spec, res)) return;
  }
  auto gen = std::make_shared<Generation>(*model.tokenizer, std::move(spec));
  if (!gen->Submit(*model.engine)) {
    return SendError(res, api::Unavailable("the server is overloaded (too many queued requests); "
                                           "retry later"));
  }
  auto ex = std::make_shared<Exchange>();
  ex->route = this;
  ex->gen = std::move(gen);
  api::ResponseMeta meta{.id = RandomId("resp_"),
                         .created_at = std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count(),
                         .model = model.names.front(),
                         .echo = std::move(r.echo)};
  CurrentLogInfo().request_id = meta.id;
  ex->builder = std::make_unique<api::ResponseBuilder>(std::move(meta), RandomId);
  ex->store = r.store;
  ex->parent = std::move(parent);
  ex->own_items.assign(r.input_items.begin() + static_cast<std::ptrdiff_t>(r.num_previous_items),
                       r.input_items.end());
  ++routes_.num_in_flight_;
  if (r.chat.params.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ex](size_t, httplib::DataSink& sink) { return StreamEvents(*ex, sink); });
  } else {
    // Written through a provider so that a client that hangs up is noticed (is_writable) and
    // its generation cancelled, as chat does.
    res.set_chunked_content_provider(
        "application/json",
        [this, ex](size_t, httplib::DataSink& sink) { return WriteJson(*ex, sink); });
  }
}

void ResponsesRoute::Advance(Exchange& ex, std::vector<json>* events) {
  auto append = [&](std::vector<json> more) {
    for (json& e : more) events->push_back(std::move(e));
  };
  Generation& g = *ex.gen;
  for (ChoiceDelta& d : g.Poll(kPollInterval)) {
    // Gemma thinks before it answers, so a delta's reasoning precedes its text.
    append(ex.builder->AddReasoning(d.reasoning));
    append(ex.builder->AddText(d.text));
    for (const api::ParsedToolCall& call : d.tool_calls) {
      append(ex.builder->AddFunctionCall(call.name, call.arguments));
    }
    if (!d.finish_reason.empty()) ex.finish_reason = d.finish_reason;
  }
  if (!g.done() || ex.ended) return;
  ex.ended = true;
  if (!g.error().empty()) return append(ex.builder->Fail(g.error()));
  const api::ResponseUsage usage{.input_tokens = g.num_prompt_tokens(),
                                 .output_tokens = g.num_completion_tokens(),
                                 .cached_tokens = g.num_cached_tokens(),
                                 .reasoning_tokens = 0};
  append(ex.builder->Finish(ex.finish_reason, usage));
}

void ResponsesRoute::Finish(Exchange& ex, const std::string& reason) {
  if (ex.recorded) return;
  ex.recorded = true;
  ex.gen->Cancel();  // a no-op once finished
  --routes_.num_in_flight_;
  routes_.metrics_->Record(ex.gen->Record(reason));
  RequestLogInfo& info = CurrentLogInfo();
  info.num_prompt_tokens = ex.gen->num_prompt_tokens();
  info.num_completion_tokens = ex.gen->num_completion_tokens();
  info.ttft_seconds = ex.gen->ttft_seconds();
  if (!ex.store || !ex.ended || !ex.gen->error().empty()) return;
  // The conversation goes on from this response's input and output (reasoning included: the
  // next request drops it when it renders, as it drops any reasoning item).
  std::vector<json> items = std::move(ex.own_items);
  for (const json& item : ex.builder->output()) items.push_back(item);
  store_.Put(ex.builder->Response(), std::move(ex.parent), std::move(items));
}

bool ResponsesRoute::WriteJson(Exchange& ex, httplib::DataSink& sink) {
  std::vector<json> events;
  while (!ex.ended) {
    if (!sink.is_writable()) {
      Finish(ex, "abort");
      return false;
    }
    events.clear();
    Advance(ex, &events);
  }
  const bool failed = !ex.gen->error().empty();
  const std::string body =
      api::DumpJson(failed ? api::InternalError(ex.gen->error()).ToJson() : ex.builder->Response());
  Finish(ex, ex.finish_reason);
  if (!sink.write(body.data(), body.size())) return false;
  sink.done();
  return true;
}

// Server-sent events, each with its type on the `event:` line; comment pings keep an idle stream
// (a long prefill) alive; a failed write means the client is gone.
bool ResponsesRoute::StreamEvents(Exchange& ex, httplib::DataSink& sink) {
  auto send = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
  auto send_all = [&](const std::vector<json>& events) {
    for (const json& e : events) {
      if (!send(api::ResponseSseEvent(e))) return false;
    }
    return true;
  };
  auto client_gone = [&] {
    Finish(ex, "abort");
    return false;
  };
  if (!send_all(ex.builder->Start())) return client_gone();
  const auto ping_every = std::chrono::seconds(sse_ping_interval_s_);
  auto last_write = steady_clock::now();
  std::vector<json> events;
  while (!ex.ended) {
    if (!sink.is_writable()) return client_gone();
    events.clear();
    Advance(ex, &events);
    if (!events.empty()) {
      if (!send_all(events)) return client_gone();
      last_write = steady_clock::now();
    } else if (steady_clock::now() - last_write >= ping_every) {
      if (!send(api::kSsePing)) return client_gone();
      last_write = steady_clock::now();
    }
  }
  Finish(ex, ex.finish_reason);
  sink.done();
  return true;
}

}  // namespace gs
