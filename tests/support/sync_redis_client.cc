// SyncRedisClient: blocking loopback RESP client built on poll(2) deadlines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <span>

#include "common/host_port.h"
#include "proxy/io/tls.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "tests/support/redis_harness.h"
#include "tests/support/test_util.h"
#include "tests/support/tls_test_env.h"

namespace slotwise::test {
namespace {

using Clock = std::chrono::steady_clock;

void appendArgs(std::string& out, const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  resp::appendCommand(out, std::span<const std::string_view>(views));
}

}  // namespace

SyncRedisClient::SyncRedisClient() {
  if (tlsMode()) {
    const TestCerts& c = testCerts();
    tls_ = TlsOptions{c.ca_file, c.client_cert, c.client_key};
  }
}

SyncRedisClient::~SyncRedisClient() { close(); }

void SyncRedisClient::close() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
  decoder_.reset();
}

void SyncRedisClient::fail(std::string reason) {
  last_error_ = std::move(reason);
  close();
}

bool SyncRedisClient::connect(const std::string& host, uint16_t port,
                              std::chrono::milliseconds timeout) {
  close();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    last_error_ = "bad IPv4 address " + host;
    return false;
  }
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    last_error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const std::string where = HostPort{host, port}.toString();
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      fail("connect " + where + ": " + std::strerror(errno));
      return false;
    }
    if (waitFd(fd_, POLLOUT, Clock::now() + timeout) <= 0) {
      fail("connect " + where + ": timeout");
      return false;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail("connect " + where + ": " + std::strerror(err));
      return false;
    }
  }
  last_error_.clear();
  return !tls_ || handshake(Clock::now() + timeout);
}

bool SyncRedisClient::handshake(Clock::time_point deadline) {
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a peer that closed must not kill the
  // test process.
  static const bool ignore_sigpipe = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)ignore_sigpipe;
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  const TlsOptions& o = *tls_;
  bool ok = ctx != nullptr;
  if (ok && !o.ca_file.empty()) {
    ok = SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) == 1;
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  if (ok && !o.cert_file.empty()) {
    ok = SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx.get(), o.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  }
  if (ok) {
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ssl_ = SSL_new(ctx.get());  // holds its own reference to the context
    ok = ssl_ != nullptr && SSL_set_fd(ssl_, fd_) == 1;
  }
  if (!ok) {
    fail("TLS setup: " + proxy::takeOpenSslErrors());
    return false;
  }
  while (true) {
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return true;
    if (!waitTls(SSL_get_error(ssl_, rc), deadline)) {
      fail("TLS handshake: " + last_error_);
      return false;
    }
  }
}

bool SyncRedisClient::waitTls(int ssl_error, Clock::time_point deadline) {
  short events = 0;
  if (ssl_error == SSL_ERROR_WANT_READ) events = POLLIN;
  else if (ssl_error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
  if (events == 0) {
    last_error_ = proxy::takeOpenSslErrors();
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      last_error_ += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    if (last_error_.empty())
      last_error_ = "connection closed (SSL error " + std::to_string(ssl_error) + ")";
    return false;
  }
  if (waitFd(fd_, events, deadline) <= 0) {
    last_error_ = "timeout";
    return false;
  }
  return true;
}

bool SyncRedisClient::sendRaw(std::string_view bytes) {
  if (fd_ < 0) {
    last_error_ = "not connected";
    return false;
  }
  const auto deadline = Clock::now() + command_timeout_;
  while (ssl_ != nullptr && !bytes.empty()) {
    ERR_clear_error();
    size_t written = 0;
    const int rc = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written);
    if (rc == 1) {
      bytes.remove_prefix(written);
    } else if (!waitTls(SSL_get_error(ssl_, rc), deadline)) {
      fail("TLS send: " + last_error_);
      return false;
    }
  }
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      fail(std::string("send: ") + std::strerror(errno));
      return false;
    } else if (n < 0 && errno == EAGAIN && waitFd(fd_, POLLOUT, deadline) <= 0) {
      fail("send: timeout");
      return false;
    }
  }
  return true;
}

int SyncRedisClient::fill(Clock::time_point deadline) {
  if (fd_ < 0) {
    last_error_ = "not connected";
    return -1;
  }
  while (ssl_ != nullptr) {
    char buf[16384];
    ERR_clear_error();
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, buf, sizeof(buf), &got);
    if (rc == 1) {
      rbuf_.append(buf, got);
      return 1;
    }
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET)) return 0;  // EOF
    if (err == SSL_ERROR_WANT_READ && waitFd(fd_, POLLIN, deadline) <= 0) {
      last_error_ = "timeout waiting for a reply";
      return -2;
    }
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      waitTls(err, deadline);
      last_error_ = "TLS recv: " + last_error_;
      return err == SSL_ERROR_SSL ? 0 : -1;  // an alert from the peer ends the connection
    }
  }
  while (true) {
    char buf[16384];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      rbuf_.append(buf, static_cast<size_t>(n));
      return 1;
    }
    if (n == 0) return 0;
    if (errno == ECONNRESET) return 0;
    if (errno != EAGAIN && errno != EINTR) {
      last_error_ = std::string("recv: ") + std::strerror(errno);
      return -1;
    }
    if (errno == EAGAIN && waitFd(fd_, POLLIN, deadline) <= 0) {
      last_error_ = "timeout waiting for a reply";
      return -2;
    }
  }
}

std::optional<resp::RespValue> SyncRedisClient::readReply(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    resp::RespValue value;
    size_t consumed = 0;
    const resp::ScanStatus status = decoder_.decode(rbuf_, &value, &consumed);
    if (status == resp::ScanStatus::kOk) {
      rbuf_.erase(0, consumed);
      return value;
    }
    if (status == resp::ScanStatus::kError) {
      fail("protocol error: " + decoder_.error());
      return std::nullopt;
    }
    const int r = fill(deadline);
    if (r == -2 && rbuf_.empty()) return std::nullopt;  // clean timeout: stream still in sync
    if (r <= 0) {
      // A timeout mid-reply loses the frame boundary; EOF leaves nothing to read: close.
      fail(r == 0 ? "connection closed by peer" : last_error_);
      return std::nullopt;
    }
  }
}

resp::RespValue SyncRedisClient::command(const std::vector<std::string>& args) {
  std::string out;
  appendArgs(out, args);
  if (!sendRaw(out)) return resp::RespValue::error("IOERR " + last_error_);
  std::optional<resp::RespValue> reply = readReply(command_timeout_);
  if (!reply) {
    fail(last_error_);  // a late reply would desynchronize the next command
    return resp::RespValue::error("IOERR " + last_error_);
  }
  return std::move(*reply);
}

std::vector<resp::RespValue> SyncRedisClient::pipeline(
    const std::vector<std::vector<std::string>>& cmds) {
  std::string out;
  for (const auto& args : cmds) appendArgs(out, args);
  std::vector<resp::RespValue> replies;
  replies.reserve(cmds.size());
  const bool sent = sendRaw(out);
  const auto deadline = Clock::now() + command_timeout_;
  for (size_t i = 0; i < cmds.size(); ++i) {
    std::optional<resp::RespValue> reply;
    if (sent && fd_ >= 0) {
      reply = readReply(std::chrono::milliseconds(millisUntil(deadline)));
      if (!reply) fail(last_error_);  // later replies would be attributed to the wrong command
    }
    replies.push_back(reply ? std::move(*reply) : resp::RespValue::error("IOERR " + last_error_));
  }
  return replies;
}

bool SyncRedisClient::isClosedByPeer(std::chrono::milliseconds wait) {
  if (fd_ < 0) return false;
  const auto deadline = Clock::now() + wait;
  while (true) {
    const int r = fill(deadline);
    if (r == 0 || r == -1) {
      // EOF, reset or another socket error. Keep buffered bytes readable, drop the socket.
      ::close(fd_);
      fd_ = -1;
      if (r == 0) last_error_ = "connection closed by peer";
      return true;
    }
    if (r == -2) return false;  // still open at the deadline
  }
}

}  // namespace slotwise::test
