#include "server/http_server.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>
#include <utility>

#include "api/json_body.h"
#include "server/task_queue.h"

namespace gs {
namespace {

constexpr size_t kMaxHeaderCount = 100;
constexpr size_t kMaxHeaderBytes = 16 << 10;
constexpr int kNumOverflowThreads = 4;

// Client text in a log line: control characters (CR/LF injection) become '?'.
std::string Printable(const std::string& s, size_t max_bytes = 512) {
  std::string out = s.substr(0, max_bytes);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// A reject before the body was read: the unread body must never be parsed as the next request
// on this connection, so the connection closes after the answer.
httplib::Server::HandlerResponse Reject(httplib::Response& res, const api::ApiError& e) {
  SendError(res, e);
  res.set_header("Connection", "close");
  return httplib::Server::HandlerResponse::Handled;
}

// Takes time that depends on the length of `given` only, not on where it differs from `key`.
bool ConstantTimeEquals(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ (i < key.size() ? key[i] : 0));
  }
  return diff == 0;
}

}  // namespace

HttpServer::HttpServer(const ServerConfig& config) : config_(config), routes_(config) {
  server_.new_task_queue = [this] {
    return new BoundedTaskQueue(config_.num_http_threads, config_.max_http_queue,
                                kNumOverflowThreads);
  };
  server_.set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  server_.set_read_timeout(config_.read_timeout_s, 0);
  server_.set_write_timeout(config_.write_timeout_s, 0);
  server_.set_keep_alive_timeout(config_.keep_alive_timeout_s);
  server_.set_keep_alive_max_count(100);
  server_.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return PreRoute(req, res); });
  server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    api::ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = "no route " + Printable(req.path);
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = "the request body is too large";
    } else {
      e.message = "HTTP " + std::to_string(res.status);
      if (res.status >= 500) e.type = "server_error";
    }
    SendError(res, e);
  });
  server_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("handler failed: {}", Printable(what));
        SendError(res, api::InternalError("internal error"));
      });
  server_.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { Log(req, res); });
  routes_.Register(server_);
}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Bind(std::string* error) {
  if (config_.port == 0) {
    port_ = server_.bind_to_any_port(config_.host);
    if (port_ <= 0) {
      *error = "cannot bind " + config_.host;
      return false;
    }
    return true;
  }
  if (!server_.bind_to_port(config_.host, config_.port)) {
    *error = "cannot bind " + config_.host + ":" + std::to_string(config_.port) +
             " (in use, or not an address of this machine)";
    return false;
  }
  port_ = config_.port;
  return true;
}

void HttpServer::SetModel(ServingModel model) { routes_.SetModel(std::move(model)); }

void HttpServer::Start() {
  thread_ = std::thread([this] {
    server_.listen_after_bind();
    listen_returned_ = true;
  });
}

void HttpServer::StopAccepting() {
  stopping_ = true;
  if (!thread_.joinable()) return;
  // A stop() before listen_after_bind starts its loop is ignored by cpp-httplib, and the loop
  // would then never end: wait until it runs (a model that fails to load fails that fast).
  while (!listen_returned_ && !server_.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_.stop();
}

void HttpServer::Stop() {
  StopAccepting();
  if (thread_.joinable()) thread_.join();  // once the requests in flight are answered
}

bool HttpServer::Authorized(const httplib::Request& req) const {
  const std::string header = req.get_header_value("Authorization");
  static constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    return false;
  }
  const std::string key = header.substr(kBearer.size());
  bool ok = false;
  for (const std::string& k : config_.api_keys) ok |= ConstantTimeEquals(key, k);
  return ok;
}

// Runs before the body is read. Everything that can be refused from the headers is refused
// here, so no body a request was refused for is ever buffered.
HttpServer::HandlerResponse HttpServer::PreRoute(const httplib::Request& req,
                                                 httplib::Response& res) {
  CurrentLogInfo() = RequestLogInfo{};
  CurrentLogInfo().started_at = std::chrono::steady_clock::now();
  const bool is_health = req.path == "/health";
  if (OnOverflowThread() && !is_health) {
    return Reject(res, api::Unavailable("the server is overloaded; retry later"));
  }
  size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers) header_bytes += name.size() + value.size() + 4;
  if (req.headers.size() > kMaxHeaderCount || header_bytes > kMaxHeaderBytes) {
    api::ApiError e = api::InvalidParam("", "too many or too large request headers");
    e.status = 431;
    return Reject(res, e);
  }
  // Body framing: only a single Content-Length is accepted. Chunked bodies bypass 0.11.4's size
  // limit and compressed ones are zip bombs.
  if (req.has_header("Transfer-Encoding")) {
    api::ApiError e =
        api::InvalidParam("", "Transfer-Encoding is not supported; send Content-Length");
    e.status = 411;
    return Reject(res, e);
  }
  if (req.has_header("Content-Encoding") &&
      req.get_header_value("Content-Encoding") != "identity") {
    api::ApiError e = api::InvalidParam("", "compressed request bodies are not accepted");
    e.status = 415;
    return Reject(res, e);
  }
  const size_t num_lengths = req.get_header_value_count("Content-Length");
  if (num_lengths > 1) return Reject(res, api::InvalidParam("", "duplicate Content-Length"));
  if (req.method == "POST" && num_lengths == 0) {
    api::ApiError e = api::InvalidParam("", "Content-Length is required");
    e.status = 411;
    return Reject(res, e);
  }
  if (num_lengths == 1) {
    const std::string v = req.get_header_value("Content-Length");
    const bool digits =
        !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) return Reject(res, api::InvalidParam("", "malformed Content-Length"));
    if (std::stoll(v) > config_.max_body_bytes) {
      api::ApiError e =
          api::InvalidParam("", "the request body is larger than the limit of " +
                                    std::to_string(config_.max_body_bytes) + " bytes");
      e.status = 413;
      return Reject(res, e);
    }
  }
  // CORS: allowed origins get the headers; a preflight is answered here.
  const std::string origin = req.get_header_value("Origin");
  bool origin_allowed = false;
  for (const std::string& o : config_.cors_origins) origin_allowed |= o == "*" || o == origin;
  if (!origin.empty() && origin_allowed) {
    res.set_header("Access-Control-Allow-Origin",
                   config_.cors_origins.size() == 1 && config_.cors_origins[0] == "*"
                       ? std::string("*")
                       : origin);
    res.set_header("Vary", "Origin");
  }
  if (req.method == "OPTIONS") {
    res.status = origin_allowed ? 204 : 403;
    if (origin_allowed) {
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
    }
    res.set_header("Connection", "close");
    return HandlerResponse::Handled;
  }
  // API keys guard every route but /health (optionally) and /metrics (optionally).
  const bool needs_key = !config_.api_keys.empty() && !(is_health && !config_.auth_health) &&
                         !(req.path == "/metrics" && !config_.auth_metrics);
  if (needs_key && !Authorized(req)) return Reject(res, api::InvalidApiKey());
  if (stopping_ && !is_health) {
    return Reject(res, api::Unavailable("the server is shutting down"));
  }
  if (!routes_.ready() && !is_health && req.path != "/version") {
    return Reject(res, api::Unavailable("Loading model"));
  }
  return HandlerResponse::Unhandled;
}

void HttpServer::Log(const httplib::Request& req, const httplib::Response& res) {
  // Taken, not read: a request that fails before PreRoute (a malformed request line) must not
  // log the previous request's numbers.
  const RequestLogInfo info = std::exchange(CurrentLogInfo(), RequestLogInfo{});
  const double total_s =
      info.started_at == std::chrono::steady_clock::time_point{}
          ? 0.0
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - info.started_at)
                .count();
  if (req.path == "/health" || req.path == "/metrics") {
    if (res.status < 400) return;  // probes would drown the log
  }
  if (config_.log_format == "json") {
    nlohmann::json j = {{"remote", req.remote_addr},
                        {"method", req.method},
                        {"path", req.path},
                        {"status", res.status}};
    if (!info.request_id.empty()) j["id"] = info.request_id;
    if (info.num_prompt_tokens >= 0) j["prompt_tokens"] = info.num_prompt_tokens;
    if (info.num_completion_tokens >= 0) j["completion_tokens"] = info.num_completion_tokens;
    if (info.ttft_seconds >= 0) j["ttft_s"] = info.ttft_seconds;
    j["total_s"] = total_s;
    spdlog::info("{}", api::DumpJson(j));
    return;
  }
  spdlog::info(
      "{} {} {} {} {}{}{} total={:.3f}s", req.remote_addr, Printable(req.method),
      Printable(req.path), res.status, info.request_id,
      info.num_prompt_tokens >= 0 ? fmt::format(" prompt={} completion={}", info.num_prompt_tokens,
                                                info.num_completion_tokens)
                                  : std::string(),
      info.ttft_seconds >= 0 ? fmt::format(" ttft={:.3f}s", info.ttft_seconds) : std::string(),
      total_s);
}

}  // namespace gs
