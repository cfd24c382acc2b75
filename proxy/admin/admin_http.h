// Admin HTTP listener (civetweb): /metrics, /healthz, /readyz, /api/*, and the dashboard at /.
//
// civetweb accepts and serves requests on its own threads (a master thread plus
// AdminOptions::num_threads workers). Every handler therefore runs on a civetweb thread, never
// on the control loop or a worker loop: it may only read thread-safe state (the metrics
// collectors of proxy/stats/metrics.h, atomics, snapshots published under a mutex) and must not
// touch uv handles.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

struct mg_connection;
struct mg_context;

namespace slotwise::proxy {

// Content type of the Prometheus text exposition format served at /metrics.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// What a handler returns. An empty `content_type` means the route's default: Prometheus text
// for /metrics, application/json for /api/*, text/html for /, text/plain otherwise.
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// Called on a civetweb thread for each GET/HEAD of its path; see the threading note above.
// An exception escaping the handler is turned into a 500 response.
using HttpHandler = std::function<HttpResponse()>;
// The same for paths that take parameters: `query` is the raw query string ("window=10s&n=5",
// "" when there is none, never URL-decoded).
using QueryHandler = std::function<HttpResponse(std::string_view query)>;

// The value of parameter `name` in a raw query string ("" when absent).
std::string queryParam(std::string_view query, std::string_view name);

// One callback per path. An empty handler makes its path answer 404.
struct AdminHandlers {
  HttpHandler metrics;    // GET /metrics
  HttpHandler healthz;    // GET /healthz   (never behind the bearer token)
  HttpHandler readyz;     // GET /readyz    (never behind the bearer token)
  HttpHandler slots;      // GET /api/slots
  HttpHandler backends;   // GET /api/backends
  HttpHandler clients;    // GET /api/clients
  HttpHandler config;     // GET /api/config
  HttpHandler migration;  // GET /api/migration (404 unless a migration runs)
  QueryHandler hotkeys;   // GET /api/hotkeys?window=10s&limit=20
  HttpHandler bigkeys;    // GET /api/bigkeys
  HttpHandler pools;      // GET /api/pools
  HttpHandler history;    // GET /api/history
  HttpHandler dashboard;  // GET /
};

struct AdminOptions {
  // When non-empty, every path except /healthz and /readyz requires the header
  // `Authorization: Bearer <token>`; otherwise the answer is 401 with `WWW-Authenticate`.
  std::string bearer_token;
  int num_threads = 2;             // civetweb worker threads
  int request_timeout_ms = 10000;  // per-connection read/write timeout
};

// Owns one civetweb context. Not copyable. start/stop/port are called from one thread (the
// control thread); the handlers run on civetweb threads.
class AdminServer {
 public:
  AdminServer() = default;
  ~AdminServer();  // calls stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `host:port` (IPv4 or IPv6 literal; port 0 picks a free port, see port()) and starts
  // serving. Returns false when already started or when civetweb could not start (the bind
  // failed, bad option); lastError() then says why and nothing is left running.
  bool start(const std::string& host, uint16_t port, AdminHandlers handlers,
             AdminOptions options = {});

  // Stops accepting, waits for in-flight handlers to return and joins civetweb's threads
  // (typically a few milliseconds plus the longest in-flight handler). Idempotent. After
  // stop() the handlers are no longer called and may be destroyed.
  void stop();

  // The bound port once start() succeeded (the real one when 0 was asked), else 0.
  uint16_t port() const { return bound_port_; }
  bool running() const { return ctx_ != nullptr; }
  // Why the last start() failed; empty after a successful start.
  const std::string& lastError() const { return last_error_; }

 private:
  // civetweb request callback (C linkage-compatible): `cbdata` is the AdminServer.
  static int onRequest(mg_connection* conn, void* cbdata);
  int handle(mg_connection* conn) const;
  bool authorized(mg_connection* conn) const;

  mg_context* ctx_ = nullptr;
  AdminHandlers handlers_;
  AdminOptions options_;
  std::string host_;
  uint16_t bound_port_ = 0;
  std::string last_error_;
};

}  // namespace slotwise::proxy
