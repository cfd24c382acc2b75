#include "proxy/datapath/client_session.h"

#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/datapath/errors.h"
#include "proxy/datapath/monitor.h"
#include "proxy/stats/key_watch.h"
#include "proxy/stats/slowlog.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {
constexpr size_t kKeepInput = 16 * 1024;
constexpr size_t kKeepOutput = 64 * 1024;

resp::ParserLimits parserLimits(const config::LimitsConfig& l) {
  resp::ParserLimits p;
  p.max_args = l.max_args;
  p.max_bulk_length = l.max_bulk_length;
  p.max_inline_length = l.max_inline_length;
  p.max_request_bytes = l.max_request_bytes;
  return p;
}
}  // namespace

ClientSession::ClientSession(SessionServices& services, uint32_t id)
    : services_(services),
      out_(this, &ClientSession::onWriteDone),
      parser_(parserLimits(services.config->limits)),
      id_(id) {
  handle_.data = this;
  authenticated_ = !services.config->auth.required();
  local_.id = id;
}

ClientSession::~ClientSession() = default;

int ClientSession::open(int fd, const TlsContextPtr& tls) {
  int rc = uv_tcp_init(services_.loop, &handle_);
  if (rc < 0) return rc;
  open_ = true;
  rc = uv_tcp_open(&handle_, fd);
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  return startReading(tls);
}

int ClientSession::accept(uv_stream_t* server, const TlsContextPtr& tls) {
  int rc = uv_tcp_init(services_.loop, &handle_);
  if (rc < 0) return rc;
  open_ = true;
  rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&handle_));
  if (rc < 0) return rc;
  return startReading(tls);
}

int ClientSession::startReading(const TlsContextPtr& tls) {
  opened_ms_ = last_active_ms_ = uv_now(services_.loop);
  if (tls) {
    tls_ = std::make_unique<TlsSession>(tls, TlsSession::Role::kServer);
    if (!tls_->valid()) {
      spdlog::error("client {}: {}", id_, tls_->error());
      return UV_ENOMEM;
    }
    out_.setTls(tls_.get());
  }
  uv_tcp_nodelay(&handle_, 1);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &onAlloc, &onRead);
  reading_ = rc == 0;
  return rc;
}

// Idle clients own no input memory: reads land in the worker's shared buffer, and only the
// unparsed tail of a partial request is copied into in_. TLS reads land in the thread's
// ciphertext buffer and are decrypted the same way (onCipherInput).
void ClientSession::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<ClientSession*>(h->data);
  size_t avail = 0;
  char* p = nullptr;
  if (self->tls_) {
    p = TlsSession::readBuffer(&avail);
  } else if (self->in_.empty()) {
    p = self->services_.scratch.read_buffer.get();
    avail = SessionScratch::kReadBufferBytes;
  } else {
    p = self->in_.reserveTail(16 * 1024, &avail);
  }
  *buf = uv_buf_init(p, static_cast<unsigned>(avail));
}

void ClientSession::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ClientSession*>(s->data);
  if (nread < 0) {
    self->onInputEnd(nread != UV_EOF);
    return;
  }
  if (nread == 0) return;
  self->last_active_ms_ = uv_now(self->services_.loop);
  auto n = static_cast<size_t>(nread);
  self->services_.stats.client_bytes_in.inc(n);
  if (self->tls_) {
    self->onCipherInput(buf->base, n);
  } else {
    self->onInput(buf->base, n, buf->base == self->services_.scratch.read_buffer.get());
  }
}

// EOF or error: answer what was already asked, then close.
void ClientSession::onInputEnd(bool error) {
  stopReading();
  if (!error && moving_ != nullptr) {  // finish what was sent, then close
    eof_while_moving_ = true;
    return;
  }
  // A blocked command may never end: a client that leaves releases it at once.
  if (error || blocking_.req != nullptr) {
    close();
    return;
  }
  closeWhenDone();
}

void ClientSession::onInput(char* data, size_t n, bool scratch) {
  if (scratch) {
    std::string_view view(data, n);
    size_t used = consume(view);
    if (used < n && !closing_) in_.append(view.substr(used));
  } else {
    in_.commit(n);
    size_t used = consume(in_.view());
    in_.consume(used, kKeepInput);
  }
  if (in_.size() > services_.config->limits.max_pipelined_bytes && !paused_) {
    // Closed at once, like Redis past its query buffer limit: waiting for the replies owed could
    // wait forever (input piles up only behind a blocking command).
    spdlog::warn("client {}: {}; closing the connection", id_, errors::kPipelineTooLarge);
    services_.stats.rejected_input_limit.inc();
    close();
  }
}

// Everything the TLS session can decrypt is parsed now (nothing stays inside OpenSSL, so a
// paused session resumes from in_ alone); handshake records it produced go out with the next
// flush.
void ClientSession::onCipherInput(const char* data, size_t n) {
  tls_->feed(data, n);
  while (!closing_ && !close_after_flush_) {
    const bool scratch = in_.empty();
    size_t avail = SessionScratch::kReadBufferBytes;
    char* dst = scratch ? services_.scratch.read_buffer.get() : in_.reserveTail(16 * 1024, &avail);
    const long got = tls_->read(dst, avail);
    if (got == TlsSession::kNeedMore) break;
    if (got == TlsSession::kClosed) {
      onInputEnd(false);
      break;
    }
    if (got == TlsSession::kError) {
      spdlog::warn("client {}: TLS: {}; closing the connection", id_, tls_->error());
      services_.stats.tls_handshake_failures.inc();
      close();
      return;
    }
    onInput(dst, static_cast<size_t>(got), scratch);
  }
  if (!tls_established_ && tls_->handshakeDone()) {
    tls_established_ = true;
    (tls_->resumed() ? services_.stats.tls_client_resumed : services_.stats.tls_client_full).inc();
  }
  if (!closing_ && tls_->hasOutput()) services_.host.markClientDirty(this);
}

// Parses and dispatches complete requests from `data`; returns the bytes consumed.
size_t ClientSession::consume(std::string_view data) {
  size_t used = 0;
  resp::Command& cmd = services_.scratch.command;
  while (used < data.size() && !paused_ && !pause_wait_ && blocking_.req == nullptr &&
         txn_end_ == nullptr && moving_ == nullptr && !close_after_flush_ && !closing_) {
    resp::ParseStatus st = parser_.parse(data.substr(used), &cmd);
    if (st == resp::ParseStatus::kNeedMore) break;
    if (st == resp::ParseStatus::kError) {
      protocolError("ERR " + parser_.error());
      return data.size();
    }
    if (cmd.argc() != 0) {
      silent_ = reply_mode_ != ReplyMode::kOn;
      const bool ran = dispatch(cmd);
      silent_ = false;
      if (!ran) break;  // parsed again once its keys were moved (or the pause ended)
      if (reply_mode_ == ReplyMode::kSkip) reply_mode_ = ReplyMode::kOn;
      if (reply_mode_ == ReplyMode::kSkipNext) reply_mode_ = ReplyMode::kSkip;
    }
    used += cmd.frame_len;
    if (overHighWater()) {
      paused_ = true;
      stopReading();
    }
  }
  return used;
}

bool ClientSession::dispatch(const resp::Command& cmd) {
  router::RouteDecision d =
      router::route(cmd, &services_.scratch.keys, services_.topology.placement());
  using Kind = router::RouteDecision::Kind;
  if (waitsForUnpause(d)) return false;  // parsed again when the pause ends
  if (services_.migration != nullptr && !keysInPlace(cmd, d)) return false;
  services_.stats.commands.inc();
  if (MonitorHub* hub = services_.stats.families.monitor; hub != nullptr && hub->active()) {
    feedMonitors(*hub, cmd, d);  // before AUTH runs: Redis shows AUTH itself (redacted)
  }
  if (handleAuth(cmd, d)) return true;
  if (refusedWhileSubscribed(cmd, d)) return true;
  if (KeyWatchShard* watch = services_.stats.keywatch; watch != nullptr) watchKeys(*watch, cmd, d);
  if (!move_error_.empty()) {  // its keys could not leave the migration source
    std::string error = std::move(move_error_);
    move_error_.clear();
    replyError(error);
    return true;
  }
  // RESET leaves MULTI, subscriber and monitor mode.
  if (d.kind == Kind::kLocal && d.info->name == "reset") {
    reply_mode_ = ReplyMode::kOn;
    silent_ = false;
    stopMonitor();
    if (pubsub_) pubsub_->release(false);
    if (txn_.active()) txn_.end(false);
  }
  if (txn_.inMulti() && d.kind != Kind::kTransaction) {
    txn_.handleInMulti(cmd, d);
    return true;
  }
  if (d.kind == Kind::kAnyMaster && d.info->name == "publish") {
    // Redis Cluster counts a PUBLISH's receivers on the node that got it: send it where this
    // proxy's subscribers of the channel are (pubsub_session.h).
    const int32_t slot = PubSubSession::classicSlot(cmd.arg(1), services_.topology.placement());
    if (slot >= 0) {
      d.kind = Kind::kSlot;
      d.slot = slot;
    }
  }
  switch (d.kind) {
    case Kind::kSlot:
    case Kind::kAnyMaster:
      rememberScript(cmd, *d.info);
      if (isBlocking(cmd, *d.info)) forwardBlocking(cmd, d);
      else forwardToCluster(cmd, d);
      return true;
    case Kind::kLocal:
      if (d.info->name == "monitor") startMonitor();
      else if (d.info->name == "client|unblock") clientUnblock(cmd, d);
      else if (d.info->name == "client|reply") clientReply(cmd);
      else if (d.info->name == "client|list" || d.info->name == "client|kill")
        clientsOfProxy(cmd, d);
      else handleLocal(cmd);
      return true;
    case Kind::kReject: replyError(d.error); return true;
    case Kind::kAllMasters:
      rememberScript(cmd, *d.info);
      dispatchWholeCluster(cmd, d);
      return true;
    case Kind::kMultiSlot: startFanOut(cmd, d); return true;
    case Kind::kTransaction: txn_.handle(cmd, d); return true;
    case Kind::kPubSub: handlePubSub(cmd, d); return true;
  }
  return true;
}

// Online migration (migration_gate.h): a command whose keys may still be in the source waits,
// with this client's later input unparsed, until they were moved to the cluster, so that the
// client's commands keep their order. Only commands routed by their keys (one slot or split
// across slots) wait; everything else, and unauthenticated clients, pass.
bool ClientSession::keysInPlace(const resp::Command& cmd, const router::RouteDecision& d) {
  using Kind = router::RouteDecision::Kind;
  if (moved_) {  // the second parse of the command that waited
    moved_ = false;
    return true;
  }
  MigrationGate& gate = *services_.migration;
  if (!gate.active() || services_.scratch.keys.empty() || !authenticated_ ||
      (d.kind != Kind::kSlot && d.kind != Kind::kMultiSlot)) {
    return true;
  }
  std::vector<std::string_view> keys;
  keys.reserve(services_.scratch.keys.size());
  for (uint32_t i : services_.scratch.keys) keys.push_back(cmd.arg(i));
  if (!gate.needsMove(keys)) return true;
  const auto& backend = services_.config->backend;
  const uint64_t deadline = uv_now(services_.loop) + backend.retry_deadline.count();
  std::string error;
  moving_ = gate.start(
      keys, deadline, [this](std::string e) { onKeysMoved(std::move(e)); }, &error);
  if (moving_ == nullptr) {  // settled at once
    move_error_ = std::move(error);
    return true;
  }
  stopReading();
  return false;
}

void ClientSession::onKeysMoved(std::string error) {
  moving_ = nullptr;
  moved_ = true;
  move_error_ = std::move(error);
  // Parsed again on this session's next flush, never inside the caller (which may be another
  // session's dispatch: the worker's parse scratch is shared).
  resume_parse_ = true;
  services_.host.markClientDirty(this);
}

bool ClientSession::refusedWhileSubscribed(const resp::Command& cmd,
                                           const router::RouteDecision& d) {
  if (!inPubSub() || d.kind == router::RouteDecision::Kind::kPubSub || local_.proto != 2) {
    return false;
  }
  if (!PubSubSession::allowedWhileSubscribed(cmd)) {
    replyError("ERR Can't execute '" + std::string(d.info ? d.info->name : cmd.arg(0)) +
               "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
               "this context");
    return true;
  }
  if (d.info != nullptr && d.info->name == "ping") {
    pubsub_->ping(cmd);
    return true;
  }
  return false;
}

// A request for `cmd` routed by `d`, queued in the FIFO, not yet sent anywhere.
Request* ClientSession::newRequest(const resp::Command& cmd, const router::RouteDecision& d) {
  Request* req = services_.requests.acquire();
  req->info = d.info;
  req->proto = local_.proto;
  req->start_ns = uv_hrtime();
  services_.stats.requestsOf(d.info).inc();
  req->client = this;
  req->affinity = id_;
  req->identity = identity_;
  req->script = (d.info->flags & router::kNoscript) != 0 && isScriptCall(*d.info);
  if (d.kind == router::RouteDecision::Kind::kSlot) {
    req->target = Request::Target::kSlot;
    req->slot = d.slot;
    req->replica_ok = (d.info->flags & router::kReadonly) != 0;
    req->prefer_replica = local_.readonly;
  } else {
    req->target = Request::Target::kAnyMaster;
  }
  if (cmd.is_inline) {
    resp::appendCommandFrom(req->payload, cmd);
  } else {
    req->payload.assign(cmd.base, cmd.frame_len);
  }
  enqueue(req);
  return req;
}

void ClientSession::forwardToCluster(const resp::Command& cmd, const router::RouteDecision& d) {
  services_.dispatcher.forward(newRequest(cmd, d));
}

void ClientSession::onReply(Request* req, std::string_view bytes) {
  if (req->info != nullptr) {
    WorkerStats& stats = services_.stats;
    const uint64_t elapsed_ns = uv_hrtime() - req->start_ns;
    stats.latency.observe(std::chrono::nanoseconds(elapsed_ns));
    if (!bytes.empty() && bytes[0] == '-') stats.errorsOf(req->info).inc();
    if (stats.slowlog != nullptr && stats.slowlog->wants(elapsed_ns)) recordSlow(req, elapsed_ns);
    if (stats.keywatch != nullptr && stats.keywatch->isBig(bytes.size())) {
      recordBigReply(*stats.keywatch, *req, bytes.size());
    }
  }
  if (req == blocking_.req) endBlocking();
  if (req == txn_end_) {
    txn_end_ = nullptr;
    resume_parse_ = true;
    services_.host.markClientDirty(this);
  }
  if (req->silent) bytes = {};    // CLIENT REPLY OFF / SKIP
  if (req != pending_.front()) {  // completed early: hold until its predecessors are written
    req->reply.assign(bytes);
    req->done = true;
    return;
  }
  // Output the client has not read yet beyond twice max_output_bytes (reading stopped at once;
  // this is what requests already in flight added since): the client is disconnected, as by
  // Redis's client-output-buffer-limit. One reply larger than that still goes out whole.
  const bool over_limit = out_.pendingBytes() > 2 * services_.config->limits.max_output_bytes;
  std::string& out = out_.buffer();
  out.append(bytes);
  services_.requests.recycle(pending_.pop());
  while (!pending_.empty() && pending_.front()->done) {
    out.append(pending_.front()->reply);
    services_.requests.recycle(pending_.pop());
  }
  if (over_limit) {
    spdlog::warn("client {}: more than 2 x limits.max_output_bytes of unread replies; closing",
                 id_);
    services_.stats.rejected_output_limit.inc();
    close();
    return;
  }
  if (pubsub_) pubsub_->flushBacklog();
  services_.host.markClientDirty(this);
}

// A reply produced by the proxy itself, kept in request order behind anything still pending.
void ClientSession::replyNow(std::string_view bytes) {
  if (silent_) return;  // CLIENT REPLY OFF / SKIP
  if (pending_.empty()) {
    out_.buffer().append(bytes);
    services_.host.markClientDirty(this);
    return;
  }
  Request* req = services_.requests.acquire();
  req->client = this;
  req->reply.assign(bytes);
  req->done = true;
  pending_.push(req);  // not enqueue(): `bytes` is the reply to send
}

void ClientSession::replyError(std::string_view message) {
  services_.stats.errors_sent.inc();
  std::string bytes;
  resp::appendError(bytes, message);
  replyNow(bytes);
}

void ClientSession::protocolError(std::string_view message) {
  spdlog::debug("client {}: {}", id_, message);
  replyError(message);
  closeWhenDone();
}

void ClientSession::flush() {
  if (closing_) return;
  const size_t queued = out_.buffer().size();
  int rc = out_.flush(reinterpret_cast<uv_stream_t*>(&handle_));
  services_.stats.client_bytes_out.inc(queued - out_.buffer().size());
  if (rc < 0) {
    if (rc == UV_EPROTO) spdlog::warn("client {}: {}", id_, out_.describe(rc));
    close();
    return;
  }
  if (out_.idle()) out_.trim(kKeepOutput);
  if (close_after_flush_) {
    if (pending_.empty() && out_.idle()) close();
    return;
  }
  if (paused_ && belowLowWater()) {
    paused_ = false;
    resume_parse_ = true;
  }
  if (resume_parse_ && !paused_ && blocking_.req == nullptr && txn_end_ == nullptr) {
    resume_parse_ = false;
    resumeInput();
    if (eof_while_moving_ && moving_ == nullptr) closeWhenDone();  // input ended meanwhile
  }
}

// Parses what arrived while reading was stopped, then reads again unless that stopped it anew.
void ClientSession::resumeInput() {
  if (!in_.empty()) {
    size_t used = consume(in_.view());
    in_.consume(used, kKeepInput);
  }
  if (!paused_ && !pause_wait_ && blocking_.req == nullptr && moving_ == nullptr &&
      !eof_while_moving_ && !close_after_flush_ && !closing_ && !reading_) {
    reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &onAlloc, &onRead) == 0;
  }
}

void ClientSession::onWriteDone(void* owner, int status) {
  auto* self = static_cast<ClientSession*>(owner);
  if (self->closing_) return;
  if (status < 0) {
    self->close();
    return;
  }
  self->services_.host.markClientDirty(self);
}

bool ClientSession::overHighWater() const {
  const auto& l = services_.config->limits;
  return pending_.size() >= l.max_pending_requests || out_.pendingBytes() >= l.max_output_bytes;
}

bool ClientSession::belowLowWater() const {
  const auto& l = services_.config->limits;
  return pending_.size() <= l.max_pending_requests / 2 &&
         out_.pendingBytes() <= l.max_output_bytes / 2;
}

void ClientSession::stopReading() {
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  reading_ = false;
}

void ClientSession::closeWhenDone() {
  close_after_flush_ = true;
  stopReading();
  services_.host.markClientDirty(this);
}

void ClientSession::rejectAndClose(std::string_view message) {
  replyError(message);
  closeWhenDone();
}

void ClientSession::close() {
  if (closing_) return;
  closing_ = true;
  stopReading();
  if (moving_ != nullptr) MigrationGate::cancel(moving_);
  moving_ = nullptr;
  releaseDedicatedConns();
  txn_end_ = nullptr;
  if (blocking_.req != nullptr) {  // orphaned below
    blocking_.req = nullptr;
    services_.host.countBlocked(-1);
  }
  stopMonitor();
  while (!pending_.empty()) {
    Request* req = pending_.pop();
    if (req->done) services_.requests.recycle(req);
    else req->client = nullptr;  // orphan: the network side recycles it
  }
  services_.host.onSessionClosed(this);
  if (open_) lifetime_.close(reinterpret_cast<uv_handle_t*>(&handle_));
  lifetime_.release();  // deleted once libuv is done with the socket
}

void ClientSession::releaseDedicatedConns() {
  txn_.end(false);
  if (blocking_.conn != nullptr) services_.pool.releaseDedicated(blocking_.conn, false);
  blocking_.conn = nullptr;
  if (pubsub_) pubsub_->release(closing_);
}

void ClientSession::onOwnedConnClosed(BackendConn& conn) {
  if (pubsub_) pubsub_->onConnClosed(&conn);
  if (&conn == blocking_.conn) blocking_.conn = nullptr;
  txn_.onConnClosed(&conn);
}

void ClientSession::onPush(BackendConn& conn, std::string_view frame,
                           const resp::ReplyInfo& info) {
  if (pubsub_) pubsub_->onPush(conn, frame, info);
}

void ClientSession::resubscribe() {
  if (pubsub_ && !closing_) pubsub_->resubscribe();
}

}  // namespace slotwise::proxy
