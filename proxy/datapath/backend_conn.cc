#include "proxy/datapath/backend_conn.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "proxy/io/net_util.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kKeepInput = 256 * 1024;
constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";

// ":<n>\r\n" -> n (0 if malformed).
int64_t parseReplyInteger(std::string_view bytes) {
  int64_t n = 0;
  if (bytes.size() < 4) return 0;
  auto [end, ec] = std::from_chars(bytes.data() + 1, bytes.data() + bytes.size() - 2, n);
  return ec == std::errc() ? n : 0;
}
}  // namespace

BackendConn::BackendConn(const BackendContext& context, std::string host, uint16_t port,
                         std::string address, Handshake handshake)
    : ctx_(context),
      host_(std::move(host)),
      port_(port),
      address_(std::move(address)),
      handshake_(std::move(handshake)),
      out_(this, &BackendConn::onWriteDone),
      node_stats_(&context.stats->node(address_)) {
  handle_.data = this;
  node_stats_->connecting.inc();
  uv_tcp_init(ctx_.loop, &handle_);
  uv_tcp_nodelay(&handle_, 1);
}

void BackendConn::connect() {
  last_progress_ms_ = uv_now(ctx_.loop);
  lifetime_.expect();
  connectTcp(ctx_.loop, &handle_, host_, port_, [this](int status) {
    if (!lifetime_.arrived()) onConnect(status);
  });
}

void BackendConn::onConnect(int status) {
  if (state_ == State::kClosing) return;
  if (status < 0) {
    failWith(spdlog::level::warn, fmt::format("connect failed: {}", uv_strerror(status)));
    return;
  }
  if (ctx_.tls != nullptr) {
    if (TlsSettings tls = ctx_.tls->get(); tls.ctx) {
      tls_ = std::make_unique<TlsSession>(tls.ctx, TlsSession::Role::kClient, tls.server_name);
      if (!tls_->valid()) {
        failWith(spdlog::level::err, tls_->error());
        return;
      }
      out_.setTls(tls_.get());
    }
  }
  state_ = State::kConnected;
  node_stats_->connecting.dec();
  node_stats_->connected.inc();
  ctx_.stats->backendEvent(address_, BackendEvent::kConnected);
  last_progress_ms_ = uv_now(ctx_.loop);
  sendHandshake();
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &BackendConn::onAlloc,
                &BackendConn::onRead);
  // A TLS connection writes first (ClientHello) even with nothing queued.
  if (tls_ || !out_.buffer().empty()) ctx_.lifecycle->onWritePending(*this);
}

// The handshake goes first on every new connection, ahead of anything queued while connecting
// (hence the prepends): HELLO 3 [AUTH user pass] for RESP3 connections, else AUTH when the
// connection's credentials have a password; then READONLY when replicas may serve reads (harmless
// on a master).
void BackendConn::sendHandshake() {
  const Handshake& h = handshake_;
  if (h.readonly) prependInternal({"READONLY"}, false);
  if (h.password.empty() && h.proto != 3) return;
  const std::string_view user = h.username.empty() ? std::string_view("default") : h.username;
  if (h.proto == 3 && h.password.empty()) prependInternal({"HELLO", "3"}, true);
  else if (h.proto == 3) prependInternal({"HELLO", "3", "AUTH", user, h.password}, true);
  else if (h.username.empty()) prependInternal({"AUTH", h.password}, true);
  else prependInternal({"AUTH", h.username, h.password}, true);
}

void BackendConn::prependInternal(std::initializer_list<std::string_view> args, bool auth) {
  Request* req = ctx_.requests->acquire();
  req->internal = true;
  req->auth = auth;
  resp::appendCommand(req->payload, args);
  out_.buffer().insert(0, req->payload);
  inflight_.pushFront(req);
  ++unsent_;
}

void BackendConn::enqueue(Request* req) {
  if (inflight_.empty()) last_progress_ms_ = uv_now(ctx_.loop);
  std::string& buf = out_.buffer();
  if (req->asking) {
    Request* asking = ctx_.requests->acquire();
    asking->internal = true;
    buf.append(kAsking);
    inflight_.push(asking);
    ++unsent_;
  }
  buf.append(req->payload);
  inflight_.push(req);
  ++unsent_;
  ctx_.lifecycle->onWritePending(*this);
}

void BackendConn::askClientId() {
  if (client_id_asked_) return;
  client_id_asked_ = true;
  Request* req = ctx_.requests->acquire();
  req->internal = true;
  req->client_id = true;
  resp::appendCommand(req->payload, {"CLIENT", "ID"});
  enqueue(req);
}

void BackendConn::sendRaw(std::string_view bytes) {
  out_.buffer().append(bytes);
  ctx_.lifecycle->onWritePending(*this);
}

void BackendConn::flush() {
  if (state_ != State::kConnected) return;
  const size_t queued = out_.buffer().size();
  int rc = out_.flush(reinterpret_cast<uv_stream_t*>(&handle_));
  node_stats_->bytes_out.inc(queued - out_.buffer().size());
  if (rc < 0) {
    failWith(spdlog::level::warn, fmt::format("write failed: {}", out_.describe(rc)));
    return;
  }
  if (out_.buffer().empty() && unsent_ > 0) {
    sent_batches_.push_back({unsent_, uv_hrtime()});
    unsent_ = 0;
  }
}

void BackendConn::onWriteDone(void* owner, int status) {
  auto* self = static_cast<BackendConn*>(owner);
  if (self->state_ == State::kClosing) return;
  if (status < 0) {
    self->failWith(spdlog::level::warn, fmt::format("write failed: {}", uv_strerror(status)));
    return;
  }
  self->flush();
}

void BackendConn::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<BackendConn*>(h->data);
  size_t avail = 0;
  char* p = self->tls_ ? TlsSession::readBuffer(&avail) : self->in_.reserveTail(kReadChunk, &avail);
  *buf = uv_buf_init(p, static_cast<unsigned>(avail));
}

void BackendConn::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<BackendConn*>(s->data);
  if (nread < 0) {
    if (nread != UV_EOF) {
      self->failWith(spdlog::level::warn,
                     fmt::format("read failed: {}", uv_strerror(static_cast<int>(nread))));
    } else {
      self->failWith(spdlog::level::info, "connection closed by the node");
    }
    return;
  }
  self->node_stats_->bytes_in.inc(static_cast<uint64_t>(nread));
  if (self->tls_) {
    if (!self->decrypt(buf->base, static_cast<size_t>(nread))) return;
  } else {
    self->in_.commit(static_cast<size_t>(nread));
  }
  self->processReplies();
  // Handshake records to answer, or requests that waited for the handshake to finish.
  if (self->tls_ && self->state_ == State::kConnected &&
      (self->tls_->hasOutput() || (self->tls_->handshakeDone() && !self->out_.buffer().empty()))) {
    self->ctx_.lifecycle->onWritePending(*self);
  }
}

bool BackendConn::decrypt(const char* data, size_t n) {
  tls_->feed(data, n);
  for (;;) {
    size_t avail = 0;
    char* dst = in_.reserveTail(kReadChunk, &avail);
    const long got = tls_->read(dst, avail);
    if (got > 0) {
      in_.commit(static_cast<size_t>(got));
      continue;
    }
    if (got == TlsSession::kNeedMore) break;
    if (got == TlsSession::kClosed) {
      failWith(spdlog::level::info, "TLS connection closed by the node");
    } else {
      if (!tls_established_) ctx_.stats->tls_backend_failures.inc();
      failWith(spdlog::level::warn, fmt::format("TLS: {}; closing the connection", tls_->error()));
    }
    return false;
  }
  if (!tls_established_ && tls_->handshakeDone()) {
    tls_established_ = true;
    ctx_.stats->tls_backend_ok.inc();
  }
  return true;
}

void BackendConn::processReplies() {
  resp::ReplyInfo info;
  const uint64_t now_ns = uv_hrtime();  // every reply framed here arrived with this read
  while (state_ != State::kClosing && !in_.empty()) {
    std::string_view data = in_.view();
    resp::ScanStatus st = scanner_.scan(data, &info);
    if (st == resp::ScanStatus::kNeedMore) break;
    // Subscriber connections: frames are pushes, except the replies to the connection's own
    // handshake (AUTH / HELLO 3) still waiting in the FIFO.
    if (push_mode_ && st == resp::ScanStatus::kOk && inflight_.empty()) {
      last_progress_ms_ = uv_now(ctx_.loop);
      if (owner_ != nullptr) owner_->onPush(*this, data.substr(0, info.frame_len), info);
      in_.consume(info.frame_len, kKeepInput);
      continue;
    }
    if (st == resp::ScanStatus::kError || inflight_.empty()) {
      failWith(spdlog::level::err, fmt::format("{}; closing the connection",
                                               st == resp::ScanStatus::kError
                                                   ? scanner_.error()
                                                   : std::string("reply without a request")));
      return;
    }
    // Pop before handling: handling may enqueue on this very connection or close it.
    Request* req = inflight_.pop();
    recordLatency(*req, now_ns);
    if (unsent_ > inflight_.size()) unsent_ = inflight_.size();
    last_progress_ms_ = uv_now(ctx_.loop);
    std::string_view bytes = data.substr(0, info.frame_len);
    if (req->internal) {  // the +OK of ASKING, AUTH, READONLY; an ASKING error shows in the next
      if (req->auth && info.type == '-') {
        spdlog::error("backend {}: AUTH failed ({}); check backend.username/password", address_,
                      bytes.substr(1, bytes.size() - 3));
      }
      if (req->client_id && info.type == ':') node_client_id_ = parseReplyInteger(bytes);
      ctx_.requests->recycle(req);
    } else {
      ctx_.callbacks->onReply(*this, req, info, bytes);
    }
    in_.consume(info.frame_len, kKeepInput);
    if (release_when_idle_ && inflight_.empty() && state_ != State::kClosing) {
      release_when_idle_ = false;
      ctx_.lifecycle->onIdle(*this);
    }
  }
}

// Every reply framed from one read is timed against the write batch its request left in.
void BackendConn::recordLatency(const Request& req, uint64_t now_ns) {
  if (sent_batches_.empty()) return;  // a reply to a request whose write was still partial
  SentBatch& batch = sent_batches_.front();
  if (!req.internal) node_stats_->latency.observe(std::chrono::nanoseconds(now_ns - batch.sent_ns));
  if (--batch.count == 0) sent_batches_.pop_front();
}

void BackendConn::checkTimeouts(uint64_t now, uint64_t connect_timeout_ms,
                                uint64_t request_timeout_ms, uint64_t script_timeout_ms) {
  if (state_ == State::kConnecting) {
    if (now - last_progress_ms_ > connect_timeout_ms) {
      failWith(spdlog::level::warn, "connect timed out");
    }
    return;
  }
  if (state_ != State::kConnected || !timeout_enabled_ || inflight_.empty()) return;
  const uint64_t timeout_ms = inflight_.front()->script ? script_timeout_ms : request_timeout_ms;
  if (timeout_ms > 0 && now - last_progress_ms_ > timeout_ms) {
    failWith(spdlog::level::warn,
             fmt::format("no reply for {} ms with {} requests in flight; closing",
                         now - last_progress_ms_, inflight_.size()),
             ConnFailure::kTimeout);
  }
}

void BackendConn::failWith(spdlog::level::level_enum level, std::string why, ConnFailure kind) {
  spdlog::log(level, "backend {}: {}", address_, why);
  last_error_ = std::move(why);
  closeWith(kind, true);
}

void BackendConn::close(bool report_failure) { closeWith(ConnFailure::kLost, report_failure); }

// The owner and the pool hear of the close before any request fails: a callee that reacts to a
// failure must already see this connection as closing (not usable, out of the pool).
void BackendConn::closeWith(ConnFailure why, bool report_failure) {
  if (state_ == State::kClosing) return;
  bool connect_failed = state_ == State::kConnecting;
  noteClosed(state_, report_failure);
  state_ = State::kClosing;
  if (owner_ != nullptr) {
    ConnOwner* owner = owner_;
    setOwner(nullptr);
    owner->onOwnedConnClosed(*this);
  }
  ctx_.lifecycle->onClosing(*this, connect_failed);
  failAll(why);
  if (report_failure) ctx_.callbacks->onNodeFailure(*this);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  lifetime_.close(reinterpret_cast<uv_handle_t*>(&handle_));
  lifetime_.release();  // deleted once libuv is done with the handle and the connect
}

// Each request leaves the FIFO before it is reported (the callee may close or enqueue). Requests
// at the tail that never reached the socket are reported as not sent. Internal requests (ASKING,
// AUTH) are this connection's own and are simply dropped.
void BackendConn::failAll(ConnFailure why) {
  const size_t sent = inflight_.size() - std::min(unsent_, inflight_.size());
  unsent_ = 0;
  sent_batches_.clear();
  for (size_t i = 0; !inflight_.empty(); ++i) {
    Request* req = inflight_.pop();
    if (req->internal) ctx_.requests->recycle(req);
    else ctx_.callbacks->onRequestFailed(*this, req, why, i < sent);
  }
  out_.buffer().clear();
}

// Metrics and reachability for a connection leaving `previous` (connecting or connected).
// `failure`: the close reports a failure (connect refused or timed out, EOF, I/O error).
void BackendConn::noteClosed(State previous, bool failure) {
  WorkerStats& stats = *ctx_.stats;
  if (previous == State::kConnecting) {
    node_stats_->connecting.dec();
    if (!failure) return;
    node_stats_->connect_failures.inc();
    stats.backendEvent(address_, BackendEvent::kConnectFailed, last_error_);
    return;
  }
  node_stats_->connected.dec();
  stats.backendEvent(address_, failure ? BackendEvent::kLost : BackendEvent::kClosed, last_error_);
}

void BackendConn::setOwner(ConnOwner* owner) {
  if ((owner_ == nullptr) != (owner == nullptr)) {
    ctx_.stats->dedicated_in_use.add(owner != nullptr ? 1.0 : -1.0);
  }
  owner_ = owner;
}

}  // namespace slotwise::proxy
