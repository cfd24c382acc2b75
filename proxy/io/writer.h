// Writer: the output side of one libuv stream. Bytes are appended to buffer(); flush() first tries
// a synchronous uv_try_write (the common case writes everything with no allocation and no callback)
// and hands any remainder to uv_write, keeping it alive until the write callback. While a uv_write
// is in flight new bytes accumulate in buffer() and go out when it completes.
//
// On a TLS connection (setTls) buffer() holds plaintext: flush() advances the handshake, encrypts
// buffer() once it is done and writes the ciphertext (handshake records included) the same way.
#pragma once

#include <uv.h>

#include <string>

#include "proxy/io/tls.h"

namespace slotwise::proxy {

class Writer {
 public:
  // `on_done(owner, status)` runs after an asynchronous write completes (status < 0 on error).
  // The owner must outlive the stream's close callback (libuv cancels pending writes first).
  using DoneFn = void (*)(void* owner, int status);
  Writer(void* owner, DoneFn on_done) : owner_(owner), on_done_(on_done) { req_.data = this; }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  std::string& buffer() { return pending_; }
  size_t pendingBytes() const { return pending_.size() + wire_.size() + writing_.size(); }
  bool idle() const { return pending_.empty() && wire_.empty() && !busy_; }

  // Encrypts from now on (the session outlives this writer's use of it; nullptr = plain).
  void setTls(TlsSession* tls) { tls_ = tls; }
  // Hands buffer() to the socket. Returns 0, or a negative libuv error code (the caller closes;
  // UV_EPROTO when TLS failed: tls->error() tells why).
  int flush(uv_stream_t* stream);
  // What a negative flush() result or write status means, for a log line or an error reply.
  std::string describe(int rc) const;
  // Frees buffer memory above `keep` bytes of capacity when nothing is pending.
  void trim(size_t keep);

 private:
  static void onWrite(uv_write_t* req, int status);

  void* owner_;
  DoneFn on_done_;
  std::string pending_;
  std::string wire_;     // TLS: ciphertext not yet handed to the socket
  std::string writing_;  // owned by the in-flight uv_write
  TlsSession* tls_ = nullptr;
  uv_write_t req_;
  bool busy_ = false;
};

}  // namespace slotwise::proxy
