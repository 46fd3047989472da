// The HTTP transport: cpp-httplib 0.11.4 with its known holes closed before any
// route runs (body framing and size, header bounds, smuggling after an early reject), API keys,
// CORS, one log line per request, and a bounded worker pool. It answers /health from the first
// moment; the model routes answer 503 until SetModel, and again once shutdown begins.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "server/routes.h"
#include "server/server_config.h"

namespace gs {

class HttpServer {
 public:
  explicit HttpServer(const ServerConfig& config);
  ~HttpServer();

  // Binds host:port; false (with a message) when it cannot.
  bool Bind(std::string* error);
  int port() const { return port_; }
  // The model is loaded and its engine running: the model routes open.
  void SetModel(ServingModel model);
  // Serves on a thread of its own until Stop.
  void Start();
  // Stops accepting connections; requests already accepted are still answered (new ones with
  // 503).
  void StopAccepting();
  // StopAccepting, then returns once the requests in flight are answered.
  void Stop();
  // Generation requests in flight (for the shutdown grace period).
  int num_in_flight() const { return routes_.num_in_flight(); }

 private:
  using HandlerResponse = httplib::Server::HandlerResponse;
  HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res);
  bool Authorized(const httplib::Request& req) const;
  void Log(const httplib::Request& req, const httplib::Response& res);

  const ServerConfig config_;
  httplib::Server server_;
  Routes routes_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
  int port_ = 0;
};

}  // namespace gs
