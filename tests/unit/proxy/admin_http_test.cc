#include "proxy/admin/admin_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <stdexcept>
#include <string>

namespace slotwise::proxy {
namespace {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Tiny blocking HTTP/1.1 client: sends one request with `Connection: close` and reads to EOF.
// Returns status 0 when the connection or the status line fails.
HttpReply httpRequest(uint16_t port, const std::string& method, const std::string& path,
                      const std::string& extra_headers = "") {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return reply;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string raw;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers +
                      "Connection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, size_t(n));
    }
  }
  close(fd);
  size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      size_t v = line.find_first_not_of(' ', colon + 1);
      reply.headers[lower(line.substr(0, colon))] = v == std::string::npos ? "" : line.substr(v);
    }
    pos = eol + 2;
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

HttpReply get(uint16_t port, const std::string& path, const std::string& extra = "") {
  return httpRequest(port, "GET", path, extra);
}

HttpHandler returning(std::string body, std::string content_type = "", int status = 200) {
  return [=] { return HttpResponse{status, content_type, body}; };
}

AdminHandlers allHandlers() {
  AdminHandlers h;
  h.metrics = returning("# HELP up Up.\n# TYPE up gauge\nup 1\n");
  h.healthz = returning("ok\n");
  h.readyz = returning("not ready: 16000/16384 slots covered\n", "", 503);
  h.slots = returning("{\"slots\":[]}");
  h.backends = returning("{\"backends\":[]}");
  h.clients = returning("{\"clients\":3}");
  h.config = returning("{\"auth\":\"<redacted>\"}");
  h.dashboard = returning("<html>dash</html>");
  return h;
}

TEST(AdminServer, ServesEveryPathWithItsContentType) {
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, allHandlers())) << server.lastError();
  ASSERT_NE(server.port(), 0);
  struct Case {
    const char* path;
    int status;
    const char* content_type;
    const char* body;
  };
  const Case cases[] = {
      {"/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", "up 1\n"},
      {"/healthz", 200, "text/plain; charset=utf-8", "ok\n"},
      {"/readyz", 503, "text/plain; charset=utf-8", "16000/16384"},
      {"/api/slots", 200, "application/json", "{\"slots\":[]}"},
      {"/api/backends", 200, "application/json", "{\"backends\":[]}"},
      {"/api/clients", 200, "application/json", "{\"clients\":3}"},
      {"/api/config", 200, "application/json", "<redacted>"},
      {"/", 200, "text/html; charset=utf-8", "<html>dash</html>"},
  };
  for (const Case& c : cases) {
    HttpReply r = get(server.port(), c.path);
    EXPECT_EQ(r.status, c.status) << c.path;
    EXPECT_EQ(r.headers["content-type"], c.content_type) << c.path;
    EXPECT_NE(r.body.find(c.body), std::string::npos) << c.path << ": " << r.body;
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size())) << c.path;
  }
  server.stop();
  EXPECT_FALSE(server.running());
}

TEST(AdminServer, UnknownPathsAndEmptyHandlersAre404) {
  AdminHandlers h;
  h.healthz = returning("ok\n");
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, h)) << server.lastError();
  EXPECT_EQ(get(server.port(), "/healthz").status, 200);
  EXPECT_EQ(get(server.port(), "/").status, 404);  // no dashboard handler
  EXPECT_EQ(get(server.port(), "/metrics").status, 404);
  EXPECT_EQ(get(server.port(), "/nope").status, 404);
  EXPECT_EQ(get(server.port(), "/healthz/extra").status, 404);
}

TEST(AdminServer, HandlerContentTypeOverridesDefault) {
  AdminHandlers h;
  h.dashboard = returning("body{}", "text/css");
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, h)) << server.lastError();
  EXPECT_EQ(get(server.port(), "/").headers["content-type"], "text/css");
}

// The dashboard page itself carries no data (its script fetches /metrics and /api/* with the
// token), so it stays open: a browser cannot send a bearer header when it opens a page.
TEST(AdminServer, BearerTokenGuardsEverythingButHealthReadyAndThePage) {
  AdminServer server;
  AdminOptions options;
  options.bearer_token = "s3cret";
  ASSERT_TRUE(server.start("127.0.0.1", 0, allHandlers(), options)) << server.lastError();
  const uint16_t port = server.port();
  for (const char* path : {"/metrics", "/api/slots", "/api/config", "/api/backends"}) {
    HttpReply missing = get(port, path);
    EXPECT_EQ(missing.status, 401) << path;
    EXPECT_NE(missing.headers["www-authenticate"].find("Bearer"), std::string::npos) << path;
    EXPECT_EQ(get(port, path, "Authorization: Bearer wrong\r\n").status, 401) << path;
    EXPECT_EQ(get(port, path, "Authorization: Bearer s3cre\r\n").status, 401) << path;
    EXPECT_EQ(get(port, path, "Authorization: Basic s3cret\r\n").status, 401) << path;
    EXPECT_EQ(get(port, path, "Authorization: Bearer s3cret\r\n").status, 200) << path;
    EXPECT_EQ(get(port, path, "Authorization: bearer s3cret\r\n").status, 200) << path;
  }
  EXPECT_EQ(get(port, "/healthz").status, 200);
  EXPECT_EQ(get(port, "/readyz").status, 503);
  EXPECT_EQ(get(port, "/").status, 200);
}

TEST(AdminServer, HeadHasNoBodyAndOtherMethodsAre405) {
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, allHandlers())) << server.lastError();
  HttpReply head = httpRequest(server.port(), "HEAD", "/api/clients");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers["content-length"], "13");
  HttpReply post = httpRequest(server.port(), "POST", "/metrics", "Content-Length: 0\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET, HEAD");
}

TEST(AdminServer, ThrowingHandlerIs500) {
  AdminHandlers h;
  h.slots = []() -> HttpResponse { throw std::runtime_error("boom"); };
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, h)) << server.lastError();
  HttpReply r = get(server.port(), "/api/slots");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
}

TEST(AdminServer, HandlersSeeLiveState) {
  std::atomic<int> calls{0};
  AdminHandlers h;
  h.metrics = [&] { return HttpResponse{200, "", "calls " + std::to_string(++calls) + "\n"}; };
  AdminServer server;
  ASSERT_TRUE(server.start("127.0.0.1", 0, h)) << server.lastError();
  EXPECT_EQ(get(server.port(), "/metrics").body, "calls 1\n");
  EXPECT_EQ(get(server.port(), "/metrics").body, "calls 2\n");
}

TEST(AdminServer, BindFailureIsReportedAndStartIsNotRepeatable) {
  AdminServer first;
  ASSERT_TRUE(first.start("127.0.0.1", 0, allHandlers())) << first.lastError();
  EXPECT_FALSE(first.start("127.0.0.1", 0, allHandlers()));
  EXPECT_NE(first.lastError().find("already"), std::string::npos);

  AdminServer second;
  EXPECT_FALSE(second.start("127.0.0.1", first.port(), allHandlers()));
  EXPECT_FALSE(second.running());
  EXPECT_EQ(second.port(), 0);
  EXPECT_NE(second.lastError().find(std::to_string(first.port())), std::string::npos)
      << second.lastError();

  const uint16_t port = first.port();
  first.stop();
  first.stop();  // idempotent
  EXPECT_EQ(first.port(), 0);
  EXPECT_EQ(get(port, "/healthz").status, 0);  // nothing listens any more
}

}  // namespace
}  // namespace slotwise::proxy
