#include "proxy/admin/admin_http.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <string_view>
#include <thread>

#include "common/host_port.h"

namespace slotwise::proxy {

namespace {

struct Route {
  const char* path;
  HttpHandler AdminHandlers::*handler;
  const char* default_content_type;
  bool open;  // served without the bearer token
  QueryHandler AdminHandlers::*query_handler = nullptr;  // instead of `handler`
};

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kHtml = "text/html; charset=utf-8";

const Route kRoutes[] = {
    {"/metrics", &AdminHandlers::metrics, kPrometheusContentType, false},
    {"/healthz", &AdminHandlers::healthz, kText, true},
    {"/readyz", &AdminHandlers::readyz, kText, true},
    {"/api/slots", &AdminHandlers::slots, kJson, false},
    {"/api/backends", &AdminHandlers::backends, kJson, false},
    {"/api/clients", &AdminHandlers::clients, kJson, false},
    {"/api/config", &AdminHandlers::config, kJson, false},
    {"/api/migration", &AdminHandlers::migration, kJson, false},
    {"/api/hotkeys", nullptr, kJson, false, &AdminHandlers::hotkeys},
    {"/api/bigkeys", &AdminHandlers::bigkeys, kJson, false},
    {"/api/pools", &AdminHandlers::pools, kJson, false},
    {"/api/history", &AdminHandlers::history, kJson, false},
    {"/", &AdminHandlers::dashboard, kHtml, true},
};

const Route* findRoute(std::string_view path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

// Compares without an early exit so the time taken does not reveal the matching prefix length.
bool constantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// Writes a complete response. `with_body` is false for HEAD (headers still give the length).
void sendResponse(mg_connection* conn, const HttpResponse& r, bool with_body,
                  std::string_view extra_headers = {}) {
  std::string head = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n{}\r\n",
      r.status, mg_get_response_code_text(conn, r.status), r.content_type, r.body.size(),
      extra_headers);
  mg_write(conn, head.data(), head.size());
  if (with_body && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

HttpResponse plain(int status, std::string body) {
  return HttpResponse{status, kText, std::move(body)};
}

// Runs the handler, turning an escaped exception into a 500 (it must not unwind through C).
HttpResponse invoke(const std::function<HttpResponse()>& handler, const Route& route) {
  HttpResponse r;
  try {
    r = handler();
  } catch (const std::exception& e) {
    return plain(500, fmt::format("internal error: {}\n", e.what()));
  } catch (...) {
    return plain(500, "internal error\n");
  }
  if (r.content_type.empty()) r.content_type = route.default_content_type;
  return r;
}

int logMessage(const mg_connection* conn, const char* message) {
  spdlog::debug("admin http: {}", message);
  return 1;  // handled: keep civetweb from writing to stderr
}

// Opens and immediately closes a TCP connection to the listener (wildcard binds are reached
// through loopback). Failures are ignored: the poke only shortens stop(), see there.
void pokeListener(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  sockaddr_storage storage{};
  auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (v6) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (host == "::" || inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      in6->sin6_addr = in6addr_loopback;
    }
  } else {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    if (host == "0.0.0.0" || inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
      in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<sockaddr*>(&storage), v6 ? sizeof(*in6) : sizeof(*in4));
  close(fd);
}

}  // namespace

std::string queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

AdminServer::~AdminServer() { stop(); }

bool AdminServer::start(const std::string& host, uint16_t port, AdminHandlers handlers,
                        AdminOptions options) {
  if (ctx_ != nullptr) {
    last_error_ = "admin server already started";
    return false;
  }
  handlers_ = std::move(handlers);
  options_ = std::move(options);
  const std::string ports = HostPort{host, port}.toString();  // civetweb wants "[v6]:port"
  const std::string threads = std::to_string(options_.num_threads);
  const std::string timeout = std::to_string(options_.request_timeout_ms);
  const char* config[] = {"listening_ports",    ports.c_str(),   "num_threads", threads.c_str(),
                          "request_timeout_ms", timeout.c_str(), nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = logMessage;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_init_data init{&callbacks, this, config};
  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    last_error_ = fmt::format("cannot start admin http on {}: {}", ports, error_text);
    return false;
  }
  // "**" matches every URI: routing (and 404) is done by handle().
  mg_set_request_handler(ctx_, "**", &AdminServer::onRequest, this);
  mg_server_port bound[4] = {};
  int n = mg_get_server_ports(ctx_, 4, bound);
  bound_port_ = n > 0 ? static_cast<uint16_t>(bound[0].port) : port;
  host_ = host;
  last_error_.clear();
  return true;
}

void AdminServer::stop() {
  if (ctx_ == nullptr) return;
  // civetweb's master thread polls the listener in 2 s slices and only then sees the stop
  // flag. While mg_stop runs on a helper thread, throwaway connections wake that poll so stop
  // takes milliseconds. A poke that lands before the flag is served as an empty request (the
  // worker reads EOF at once); once the listener is closed the pokes are refused. The loop ends
  // when mg_stop has joined every civetweb thread: no handler runs after this returns.
  std::atomic<bool> stopped{false};
  std::thread stopper([ctx = ctx_, &stopped] {
    mg_stop(ctx);
    stopped.store(true);
  });
  while (!stopped.load()) {
    pokeListener(host_, bound_port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stopper.join();
  ctx_ = nullptr;
  bound_port_ = 0;
}

int AdminServer::onRequest(mg_connection* conn, void* cbdata) {
  return static_cast<const AdminServer*>(cbdata)->handle(conn);
}

bool AdminServer::authorized(mg_connection* conn) const {
  if (options_.bearer_token.empty()) return true;
  const char* header = mg_get_header(conn, "Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (header == nullptr || strncasecmp(header, kScheme.data(), kScheme.size()) != 0) return false;
  return constantTimeEquals(header + kScheme.size(), options_.bearer_token);
}

// Outcomes, in order of precedence:
//   405  method other than GET/HEAD (with `Allow: GET, HEAD`)
//   404  unknown path, or a known path whose handler is empty
//   401  token configured, path not open, missing/wrong bearer token
//   the handler's response (500 if it threw)
// The return value is the status code, which tells civetweb the request was handled.
int AdminServer::handle(mg_connection* conn) const {
  const mg_request_info* info = mg_get_request_info(conn);
  std::string_view method = info->request_method != nullptr ? info->request_method : "";
  const bool is_head = method == "HEAD";
  HttpResponse r;
  if (method != "GET" && !is_head) {
    r = plain(405, "method not allowed\n");
    sendResponse(conn, r, !is_head, "Allow: GET, HEAD\r\n");
    return r.status;
  }
  const Route* route = findRoute(info->local_uri != nullptr ? info->local_uri : "");
  HttpHandler handler;
  if (route != nullptr && route->query_handler != nullptr) {
    const QueryHandler& q = handlers_.*(route->query_handler);
    const std::string_view query = info->query_string != nullptr ? info->query_string : "";
    if (q) handler = [&q, query] { return q(query); };
  } else if (route != nullptr) {
    handler = handlers_.*(route->handler);
  }
  if (!handler) {
    r = plain(404, "not found\n");
  } else if (!route->open && !authorized(conn)) {
    r = plain(401, "unauthorized\n");
    sendResponse(conn, r, !is_head, "WWW-Authenticate: Bearer realm=\"slotwise\"\r\n");
    return r.status;
  } else {
    r = invoke(handler, *route);
  }
  sendResponse(conn, r, !is_head);
  return r.status;
}

}  // namespace slotwise::proxy
