#include "tests/support/loopback_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "resp/encoder.h"
#include "resp/value_decoder.h"
#include "tests/support/test_util.h"

namespace slotwise::test {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

LoopbackClient::~LoopbackClient() { close(); }

bool LoopbackClient::connect(uint16_t port, Millis timeout) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    last_error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == EINPROGRESS) {
      err = waitFd(fd_, POLLOUT, Clock::now() + timeout) > 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof(int);
      if (err == 0) ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err != 0) {
      last_error_ = "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(err);
      close();
      return false;
    }
  }
  return true;
}

bool LoopbackClient::send(std::string_view bytes) {
  if (fd_ < 0) {
    last_error_ = "not connected";
    return false;
  }
  const auto deadline = Clock::now() + Millis(2000);
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && waitFd(fd_, POLLOUT, deadline) > 0) continue;
    last_error_ = n < 0 && errno != EAGAIN ? std::string("send: ") + std::strerror(errno)
                                           : std::string("send: timeout");
    return false;
  }
  return true;
}

bool LoopbackClient::sendCommand(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  resp::appendCommand(out, std::span<const std::string_view>(views));
  return send(out);
}

int LoopbackClient::fill(Clock::time_point deadline) {
  if (fd_ < 0) {
    last_error_ = "not connected";
    return -1;
  }
  while (true) {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      rbuf_.append(buf, static_cast<size_t>(n));
      return 1;
    }
    if (n == 0) {
      last_error_ = "connection closed by peer (FIN)";
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      last_error_ = std::string("recv: ") + std::strerror(errno);
      return -1;
    }
    if (waitFd(fd_, POLLIN, deadline) <= 0) {
      last_error_ = "timeout";
      return -2;
    }
  }
}

std::optional<std::string> LoopbackClient::readBytes(size_t n, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (rbuf_.size() < n) {
    if (fill(deadline) != 1) return std::nullopt;
  }
  std::string out = rbuf_.substr(0, n);
  rbuf_.erase(0, n);
  return out;
}

std::optional<std::string> LoopbackClient::readReplyBytes(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    resp::ReplyInfo info;
    const resp::ScanStatus st = scanner_.scan(rbuf_, &info);
    if (st == resp::ScanStatus::kOk) {
      std::string out = rbuf_.substr(0, info.frame_len);
      rbuf_.erase(0, info.frame_len);
      return out;
    }
    if (st == resp::ScanStatus::kError) {
      last_error_ = "protocol error: " + scanner_.error();
      scanner_.reset();
      return std::nullopt;
    }
    if (fill(deadline) != 1) return std::nullopt;
  }
}

std::optional<resp::RespValue> LoopbackClient::readReply(Millis timeout) {
  std::optional<std::string> bytes = readReplyBytes(timeout);
  if (!bytes) return std::nullopt;
  Result<resp::RespValue> value = resp::decodeOne(*bytes);
  if (!value.isOk()) {
    last_error_ = "cannot decode a framed reply: " + value.error();
    return std::nullopt;
  }
  return std::move(value).value();
}

resp::RespValue LoopbackClient::command(const std::vector<std::string>& args, Millis timeout) {
  if (!sendCommand(args)) return resp::RespValue::error("IOERR " + last_error_);
  std::optional<resp::RespValue> reply = readReply(timeout);
  if (!reply) return resp::RespValue::error("IOERR " + last_error_);
  return std::move(*reply);
}

LoopbackClient::PeerClose LoopbackClient::waitForPeerClose(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const int r = fill(deadline);
    if (r == 1) continue;
    if (r == 0) return PeerClose::kFin;
    if (r == -1) return PeerClose::kReset;
    return PeerClose::kStillOpen;
  }
}

void LoopbackClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
  scanner_.reset();
}

void LoopbackClient::resetClose() {
  if (fd_ >= 0) {
    const linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close();
}

}  // namespace slotwise::test
