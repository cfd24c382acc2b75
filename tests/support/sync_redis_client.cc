// SyncRedisClient: blocking loopback RESP client built on poll(2) deadlines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "common/host_port.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "tests/support/redis_harness.h"
#include "tests/support/test_util.h"

namespace slotwise::test {
namespace {

using Clock = std::chrono::steady_clock;

void appendArgs(std::string& out, const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  resp::appendCommand(out, std::span<const std::string_view>(views));
}

}  // namespace

SyncRedisClient::~SyncRedisClient() { close(); }

void SyncRedisClient::close() {
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
  return true;
}

bool SyncRedisClient::sendRaw(std::string_view bytes) {
  if (fd_ < 0) {
    last_error_ = "not connected";
    return false;
  }
  const auto deadline = Clock::now() + command_timeout_;
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
