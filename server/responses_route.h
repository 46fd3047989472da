// OpenAI's Responses API: POST /v1/responses (streamed or not), GET and DELETE
// /v1/responses/{id} for stored ones. A request is mapped onto a chat request
// (api/responses_request.h) and generated exactly as /v1/chat/completions generates it (the same
// template rendering, limits, reasoning split and tool-call parsing); the output is built into
// items and typed events by api/responses_events.h. Completed and incomplete responses asked to
// be stored (`store`, default true) go to a bounded ResponseStore for previous_response_id.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/response_store.h"
#include "server/server_config.h"

namespace gs {

class Routes;

class ResponsesRoute {
 public:
  // `routes` serves the model and must outlive this.
  ResponsesRoute(Routes& routes, const ServerConfig& config);

  void Register(httplib::Server& server);

 private:
  struct Exchange;

  void Create(const httplib::Request& req, httplib::Response& res);
  void Get(const httplib::Request& req, httplib::Response& res);
  void Delete(const httplib::Request& req, httplib::Response& res);
  bool WriteJson(Exchange& ex, httplib::DataSink& sink);
  bool StreamEvents(Exchange& ex, httplib::DataSink& sink);
  // Waits a while for the generation's news and turns it into events; once the generation is
  // done, the closing events too (and ex.ended is set).
  void Advance(Exchange& ex, std::vector<nlohmann::json>* events);
  // Records the request in /metrics and the access log, and stores the response, once.
  void Finish(Exchange& ex, const std::string& reason);

  Routes& routes_;
  const int32_t sse_ping_interval_s_;
  ResponseStore store_;
};

}  // namespace gs
