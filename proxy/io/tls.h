// TLS over libuv streams with OpenSSL memory BIOs: the socket I/O stays libuv's (non-blocking,
// on the connection's own loop), OpenSSL only transforms bytes.
//
//   socket ──ciphertext──► TlsSession::feed ──► rbio ─┐
//                                                     SSL ──► read(): plaintext for the parser
//   Writer::flush: plaintext ──► TlsSession::write ──►┘──► wbio ──► drain(): ciphertext to write
//
// A handshake is driven by the same calls: feed() + read() consume the peer's records, drain()
// returns ours. Nothing blocks. Contexts (SSL_CTX) are built from the config, shared by every
// thread (OpenSSL's SSL_CTX is thread-safe for creating sessions) and replaced as a whole on
// SIGHUP (TlsContextSlot): established connections keep the context they started with.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/proxy_config.h"

namespace slotwise::proxy {

using TlsContextPtr = std::shared_ptr<SSL_CTX>;

// The server context of the client-facing TLS port: certificate and key (required), TLS 1.2+ by
// default, renegotiation off, server-side session cache and tickets on (resumption); with ca_file,
// clients must present a certificate that verifies (mutual TLS). Errors name the file and
// OpenSSL's reason, never key material.
Result<TlsContextPtr> makeServerTlsContext(const config::TlsListenConfig& config);
// The client context of connections to nodes and sentinels: verification against ca_file unless
// verify is off, an optional client certificate.
Result<TlsContextPtr> makeClientTlsContext(const config::BackendTlsConfig& config);

// What a new connection of one side needs: the context and (client side) the server name.
struct TlsSettings {
  TlsContextPtr ctx;        // null: plain TCP
  std::string server_name;  // backend.tls.server_name
};

// The current settings of one side, replaced as a whole on reload. Thread-safe; read once per new
// connection.
class TlsContextSlot {
 public:
  TlsSettings get() const {
    std::lock_guard lock(mu_);
    return settings_;
  }
  void set(TlsSettings settings) {
    std::lock_guard lock(mu_);
    settings_ = std::move(settings);
  }

 private:
  mutable std::mutex mu_;
  TlsSettings settings_;
};

// OpenSSL's error queue of this thread as one "; "-joined line ("" when empty); empties it.
std::string takeOpenSslErrors();

// One TLS connection. Loop-thread only.
class TlsSession {
 public:
  enum class Role { kServer, kClient };
  // What read() found.
  enum : long { kNeedMore = 0, kClosed = -1, kError = -2 };

  // `server_name` (client role): SNI and the host name the peer certificate must carry; empty =
  // chain verification only (what redis-cli does).
  TlsSession(const TlsContextPtr& ctx, Role role, const std::string& server_name = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // False when the session could not be created (error() tells).
  bool valid() const { return ssl_ != nullptr; }
  // Ciphertext read from the socket.
  void feed(const char* data, size_t n);
  // Decrypts into dst (advancing the handshake first): > 0 bytes, kNeedMore (more ciphertext
  // needed), kClosed (the peer's close_notify), kError (handshake or record failure: error()).
  long read(char* dst, size_t cap);
  // Advances the handshake without reading (a client starts it). False on failure.
  bool handshake();
  // Encrypts all of `plain` once the handshake is done. Returns false on failure; `plain` is left
  // untouched (and true returned) while the handshake is still running: call again later.
  bool write(std::string& plain);
  // Appends the ciphertext waiting to be sent (handshake records, encrypted data, alerts).
  void drain(std::string& wire);
  bool hasOutput() const;
  bool handshakeDone() const { return SSL_is_init_finished(ssl_) == 1; }
  // Whether this connection resumed an earlier session (no full handshake).
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  const std::string& error() const { return error_; }

  // A per-thread buffer for ciphertext reads (libuv's alloc callback): feed() copies it into the
  // BIO at once, so one buffer serves every TLS connection of the thread.
  static char* readBuffer(size_t* size);

 private:
  // Records OpenSSL's error queue (and a failed verification's reason) into error_.
  void fail(int ssl_error);

  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::string error_;
};

}  // namespace slotwise::proxy
