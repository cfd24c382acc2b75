#include "proxy/io/net_util.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace slotwise::proxy {
namespace {

struct ConnectOp {
  uv_connect_t connect_req{};
  uv_getaddrinfo_t resolve_req{};
  uv_tcp_t* handle = nullptr;
  uint16_t port = 0;
  std::function<void(int)> done;
};

void onConnected(uv_connect_t* req, int status) {
  std::unique_ptr<ConnectOp> op(static_cast<ConnectOp*>(req->data));
  op->done(status);
}

void startConnect(ConnectOp* op, const sockaddr* addr) {
  op->connect_req.data = op;
  int rc = uv_tcp_connect(&op->connect_req, op->handle, addr, &onConnected);
  if (rc < 0) {
    std::unique_ptr<ConnectOp> owned(op);
    owned->done(rc);
  }
}

void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* op = static_cast<ConnectOp*>(req->data);
  if (status < 0 || res == nullptr) {
    if (res) uv_freeaddrinfo(res);
    std::unique_ptr<ConnectOp> owned(op);
    owned->done(status < 0 ? status : UV_EAI_NONAME);
    return;
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(op->port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(op->port);
  }
  startConnect(op, reinterpret_cast<const sockaddr*>(&addr));
}

}  // namespace

bool parseNumericAddress(const std::string& host, uint16_t port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

void connectTcp(uv_loop_t* loop, uv_tcp_t* handle, const std::string& host, uint16_t port,
                std::function<void(int)> done) {
  auto* op = new ConnectOp();
  op->handle = handle;
  op->port = port;
  op->done = std::move(done);
  sockaddr_storage addr{};
  if (parseNumericAddress(host, port, &addr)) {
    startConnect(op, reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  op->resolve_req.data = op;
  int rc = uv_getaddrinfo(loop, &op->resolve_req, &onResolved, host.c_str(), nullptr, &hints);
  if (rc < 0) {
    std::unique_ptr<ConnectOp> owned(op);
    owned->done(rc);
  }
}

int setTcpKeepAlive(int fd, int idle_sec, int interval_sec, int probes) {
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_sec, sizeof(idle_sec)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_sec, sizeof(interval_sec)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes)) != 0) {
    return -errno;
  }
  return 0;
}

int createListenSocket(const std::string& host, uint16_t port, int backlog, bool reuseport) {
  sockaddr_storage addr{};
  if (!parseNumericAddress(host, port, &addr)) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return -EINVAL;
    std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
    else reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  int rc = setTcpKeepAlive(fd, kClientKeepAliveIdleSec, kClientKeepAliveIntervalSec,
                           kClientKeepAliveProbes);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  socklen_t len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, backlog) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

}  // namespace slotwise::proxy
