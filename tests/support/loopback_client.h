// LoopbackClient: a blocking test client over one loopback TCP connection, for talking RESP to
// the proxy or to a FakeRedisNode byte by byte. Unlike SyncRedisClient (redis_harness.h) it
// exposes the raw stream: exact reply bytes, how the peer closed (FIN or RST), and an abortive
// close of its own. Every wait has a deadline; nothing sleeps. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_scanner.h"
#include "resp/value.h"

namespace slotwise::test {

class LoopbackClient {
 public:
  using Millis = std::chrono::milliseconds;
  enum class PeerClose { kStillOpen, kFin, kReset };

  LoopbackClient() = default;
  ~LoopbackClient();
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  // Connects to 127.0.0.1:`port`. @return false (reason in lastError()) on failure or timeout.
  bool connect(uint16_t port, Millis timeout = Millis(2000));
  bool connected() const { return fd_ >= 0; }

  // Writes all of `bytes`. @return false on error or if the peer does not take them in time.
  bool send(std::string_view bytes);
  // Encodes `args` as a RESP multibulk request and sends it.
  bool sendCommand(const std::vector<std::string>& args);

  // Reads until at least `n` bytes are buffered (or EOF/timeout) and takes exactly `n` of them.
  // @return the bytes, or nullopt if fewer than `n` arrived in time (they stay buffered).
  std::optional<std::string> readBytes(size_t n, Millis timeout = Millis(2000));
  // Reads one complete RESP reply (RESP2/RESP3) and returns its exact bytes, or nullopt on
  // timeout, close or a protocol error (lastError() says which).
  std::optional<std::string> readReplyBytes(Millis timeout = Millis(2000));
  // Like readReplyBytes, decoded.
  std::optional<resp::RespValue> readReply(Millis timeout = Millis(2000));
  // sendCommand + readReply. On failure returns an error value "IOERR <reason>".
  resp::RespValue command(const std::vector<std::string>& args, Millis timeout = Millis(2000));

  // Waits up to `timeout` for the peer to close; bytes that arrive meanwhile stay buffered.
  // kFin: orderly close (read returned 0); kReset: ECONNRESET.
  PeerClose waitForPeerClose(Millis timeout = Millis(2000));
  // Bytes received and not yet taken.
  const std::string& buffered() const { return rbuf_; }

  // Closes with a FIN (plain close). Idempotent.
  void close();
  // Closes abortively: SO_LINGER 0, so the peer sees a reset (RST) at once. Idempotent.
  void resetClose();
  const std::string& lastError() const { return last_error_; }

 private:
  // Receives more bytes until `deadline`: 1 data, 0 EOF, -1 reset/error, -2 timeout.
  int fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string rbuf_;
  resp::ReplyScanner scanner_;  // frames the reply at the front of rbuf_
  std::string last_error_;
};

}  // namespace slotwise::test
