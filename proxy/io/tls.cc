#include "proxy/io/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <optional>
#include <vector>

#include "common/str_cat.h"

namespace slotwise::proxy {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr std::string_view kSessionIdContext = "slotwise";

Result<TlsContextPtr> contextError(const std::string& what) {
  std::string reason = takeOpenSslErrors();
  return Result<TlsContextPtr>::error(reason.empty() ? what : strCat(what, ": ", reason));
}

int protocolVersion(config::TlsVersion v) {
  return v == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// What both sides share: minimum version, no renegotiation or compression, cipher lists, and the
// certificate + key when configured.
std::optional<std::string> applyCommon(SSL_CTX* ctx, const config::TlsCommon& c) {
  SSL_CTX_set_min_proto_version(ctx, protocolVersion(c.min_version));
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (!c.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, c.ciphers.c_str()) != 1) {
    return strCat("ciphers '", c.ciphers, "' not usable");
  }
  if (!c.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, c.ciphersuites.c_str()) != 1) {
    return strCat("ciphersuites '", c.ciphersuites, "' not usable");
  }
  if (!c.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
      return strCat("cannot load certificate ", c.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return strCat("cannot load private key ", c.key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return strCat("private key ", c.key_file, " does not match certificate ", c.cert_file);
    }
  }
  if (!c.ca_file.empty() && SSL_CTX_load_verify_locations(ctx, c.ca_file.c_str(), nullptr) != 1) {
    return strCat("cannot load CA file ", c.ca_file);
  }
  return std::nullopt;
}

TlsContextPtr own(SSL_CTX* ctx) { return TlsContextPtr(ctx, &SSL_CTX_free); }

}  // namespace

Result<TlsContextPtr> makeServerTlsContext(const config::TlsListenConfig& config) {
  ERR_clear_error();
  TlsContextPtr ctx = own(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return contextError("cannot create a TLS server context");
  if (auto error = applyCommon(ctx.get(), config.files)) return contextError(*error);
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_num_tickets(ctx.get(), 1);  // TLS 1.3: one ticket per handshake is enough to resume
  SSL_CTX_set_session_id_context(ctx.get(),
                                 reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                                 static_cast<unsigned>(kSessionIdContext.size()));
  if (!config.files.ca_file.empty()) {  // mutual TLS
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.files.ca_file.c_str());
    if (names == nullptr) return contextError("cannot read CA names from " + config.files.ca_file);
    SSL_CTX_set_client_CA_list(ctx.get(), names);
  }
  return ctx;
}

Result<TlsContextPtr> makeClientTlsContext(const config::BackendTlsConfig& config) {
  ERR_clear_error();
  TlsContextPtr ctx = own(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return contextError("cannot create a TLS client context");
  if (auto error = applyCommon(ctx.get(), config.files)) return contextError(*error);
  SSL_CTX_set_verify(ctx.get(), config.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return ctx;
}

std::string takeOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

TlsSession::TlsSession(const TlsContextPtr& ctx, Role role, const std::string& server_name) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx.get());
  if (ssl_ == nullptr) {
    error_ = "cannot create a TLS session: " + takeOpenSslErrors();
    return;
  }
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);  // an empty input BIO means "more to come", not EOF
  SSL_set_bio(ssl_, rbio_, wbio_);
  if (role == Role::kServer) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (server_name.empty()) return;
  in6_addr ip{};
  const bool literal = inet_pton(AF_INET, server_name.c_str(), &ip) == 1 ||
                       inet_pton(AF_INET6, server_name.c_str(), &ip) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  if (literal) {
    X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());  // SNI never carries an address
  } else {
    SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    SSL_set1_host(ssl_, server_name.c_str());
  }
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees both BIOs
}

void TlsSession::feed(const char* data, size_t n) {
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<size_t>(n, INT_MAX));
    const int written = BIO_write(rbio_, data, chunk);
    if (written <= 0) return;  // a memory BIO grows; only allocation failure ends here
    data += written;
    n -= static_cast<size_t>(written);
  }
}

long TlsSession::read(char* dst, size_t cap) {
  ERR_clear_error();
  size_t got = 0;
  const int rc = SSL_read_ex(ssl_, dst, cap, &got);
  if (rc == 1) return static_cast<long>(got);
  const int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return kNeedMore;
  if (err == SSL_ERROR_ZERO_RETURN) return kClosed;
  fail(err);
  return kError;
}

bool TlsSession::handshake() {
  if (handshakeDone()) return true;
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return true;
  const int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
  fail(err);
  return false;
}

bool TlsSession::write(std::string& plain) {
  if (plain.empty()) return true;
  if (!handshakeDone()) return handshake();
  ERR_clear_error();
  size_t done = 0;
  while (done < plain.size()) {
    size_t written = 0;
    const int rc = SSL_write_ex(ssl_, plain.data() + done, plain.size() - done, &written);
    if (rc != 1) {
      fail(SSL_get_error(ssl_, rc));
      return false;
    }
    done += written;
  }
  plain.clear();
  return true;
}

bool TlsSession::hasOutput() const { return BIO_ctrl_pending(wbio_) > 0; }

void TlsSession::drain(std::string& wire) {
  const size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return;
  const size_t old = wire.size();
  wire.resize(old + pending);
  size_t got = 0;
  BIO_read_ex(wbio_, wire.data() + old, pending, &got);
  wire.resize(old + got);
}

void TlsSession::fail(int ssl_error) {
  std::string reason = takeOpenSslErrors();
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    reason += strCat(reason.empty() ? "" : " ",
                     "(certificate verification: ", X509_verify_cert_error_string(verify), ")");
  }
  if (reason.empty()) {
    reason = ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream"
                                            : strCat("TLS error ", ssl_error);
  }
  error_ = std::move(reason);
}

char* TlsSession::readBuffer(size_t* size) {
  thread_local std::vector<char> buffer(kReadBufferBytes);
  *size = buffer.size();
  return buffer.data();
}

}  // namespace slotwise::proxy
