// Server: the client-facing listeners (plain and TLS, hand-off or reuseport accept) and the TLS
// contexts they and the node connections use.
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/control/server.h"
#include "proxy/datapath/errors.h"
#include "proxy/io/net_util.h"

namespace slotwise::proxy {
namespace {
constexpr int kAcceptBatch = 64;  // accepts per readable event, so one burst cannot starve the loop
}  // namespace

bool Server::startListening() {
  if (config_.listen.port != 0 && !listenOn(config_.listen, false)) return false;
  return !config_.tls.enabled() || listenOn(config_.tls.listen, true);
}

bool Server::listenOn(const config::HostPort& address, bool tls) {
  int backlog = static_cast<int>(config_.tcp_backlog);
  if (config_.accept_mode == config::AcceptMode::kReuseport) {
    for (auto& w : workers_) {
      int fd = createListenSocket(address.host, address.port, backlog, true);
      if (fd < 0) {
        spdlog::critical("cannot listen on {}: {}", address.toString(), strerror(-fd));
        return false;
      }
      w->adoptListener(fd, tls);
    }
    return true;
  }
  auto acceptor = std::make_unique<Acceptor>();
  acceptor->fd = createListenSocket(address.host, address.port, backlog, false);
  if (acceptor->fd < 0) {
    spdlog::critical("cannot listen on {}: {}", address.toString(), strerror(-acceptor->fd));
    return false;
  }
  acceptor->server = this;
  acceptor->tls = tls;
  acceptor->poll.data = acceptor.get();
  uv_poll_init(&loop_, &acceptor->poll, acceptor->fd);
  uv_poll_start(&acceptor->poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* a = static_cast<Acceptor*>(p->data);
    if (status == 0) a->server->onAcceptable(*a);
  });
  acceptors_.push_back(std::move(acceptor));
  return true;
}

// Hand-off accept: the control loop accepts and gives each connection to the worker with the
// fewest clients, because Redis clients keep few long-lived connections that kernel hashing
// (SO_REUSEPORT) would spread unevenly. TLS connections are handed off before their handshake,
// which runs on the worker.
void Server::onAcceptable(Acceptor& acceptor) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = accept4(acceptor.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        spdlog::warn("accept: {}", strerror(errno));
      }
      return;
    }
    if (total_clients_.load(std::memory_order_relaxed) >=
        static_cast<int>(config_.limits.max_clients)) {
      control_metrics_.rejected_max_clients.Increment();
      if (!acceptor.tls) {  // a TLS client could not read a plaintext error
        std::string msg = "-" + std::string(errors::kMaxClients) + "\r\n";
        ssize_t ignored = ::write(fd, msg.data(), msg.size());
        (void)ignored;
      }
      ::close(fd);
      continue;
    }
    total_clients_.fetch_add(1, std::memory_order_relaxed);
    Worker* best = workers_.front().get();
    for (auto& w : workers_) {
      if (w->clientCount() < best->clientCount()) best = w.get();
    }
    best->adoptClient(fd, acceptor.tls);
  }
}

bool Server::loadTls(const config::ProxyConfig& config, bool startup) {
  auto report = [startup](std::string_view section, const std::string& error) {
    if (startup) spdlog::critical("{}: {}", section, error);
    else spdlog::error("SIGHUP: {}: {}; the running certificates stay", section, error);
  };
  // Both contexts are built before either is installed: a reload applies both or neither.
  Result<TlsContextPtr> server = TlsContextPtr();
  Result<TlsContextPtr> client = TlsContextPtr();
  if (config.tls.enabled()) server = makeServerTlsContext(config.tls);
  if (config.backend.tls.enabled) client = makeClientTlsContext(config.backend.tls);
  if (!server) report("tls", server.error());
  if (!client) report("backend.tls", client.error());
  if (!server || !client) return false;
  if (config.tls.enabled()) client_tls_.set({*server, {}});
  if (config.backend.tls.enabled) backend_tls_.set({*client, config.backend.tls.server_name});
  if (!startup && (config.tls.enabled() || config.backend.tls.enabled)) {
    spdlog::info("SIGHUP: TLS certificates and keys reloaded; new connections use them");
  }
  return true;
}

}  // namespace slotwise::proxy
