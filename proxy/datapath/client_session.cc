#include "proxy/datapath/client_session.h"

#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "proxy/local/local_commands.h"
#include "proxy/datapath/script_cache.h"
#include "proxy/stats/slowlog.h"
#include "proxy/datapath/worker.h"
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

ClientSession::ClientSession(Worker& worker, uint32_t id)
    : worker_(worker),
      out_(this, &ClientSession::onWriteDone),
      parser_(parserLimits(worker.config().limits)),
      id_(id) {
  handle_.data = this;
  authenticated_ = !worker.config().auth.required();
  local_.id = id;
}

int ClientSession::open(int fd) {
  int rc = uv_tcp_init(worker_.loop(), &handle_);
  if (rc < 0) return rc;
  open_ = true;
  rc = uv_tcp_open(&handle_, fd);
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  return startReading();
}

int ClientSession::accept(uv_stream_t* server) {
  int rc = uv_tcp_init(worker_.loop(), &handle_);
  if (rc < 0) return rc;
  open_ = true;
  rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&handle_));
  if (rc < 0) return rc;
  return startReading();
}

int ClientSession::startReading() {
  last_active_ms_ = uv_now(worker_.loop());
  uv_tcp_nodelay(&handle_, 1);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &onAlloc, &onRead);
  reading_ = rc == 0;
  return rc;
}

// Idle clients own no input memory: reads land in the worker's shared buffer, and only the
// unparsed tail of a partial request is copied into in_.
void ClientSession::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<ClientSession*>(h->data);
  size_t avail = 0;
  char* p = self->in_.empty() ? self->worker_.sharedReadBuffer(&avail)
                              : self->in_.reserveTail(16 * 1024, &avail);
  *buf = uv_buf_init(p, static_cast<unsigned>(avail));
}

void ClientSession::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ClientSession*>(s->data);
  if (nread < 0) {  // EOF or error: answer what was already asked, then close
    self->stopReading();
    // A blocked command may never end: a client that leaves releases it at once.
    if (nread != UV_EOF || self->blocked_req_ != nullptr) {
      self->close();
      return;
    }
    self->closeWhenDone();
    return;
  }
  if (nread == 0) return;
  self->last_active_ms_ = uv_now(self->worker_.loop());
  auto n = static_cast<size_t>(nread);
  self->worker_.stats().client_bytes_in.inc(n);
  if (self->worker_.isSharedReadBuffer(buf->base)) {
    std::string_view data(buf->base, n);
    size_t used = self->consume(data);
    if (used < n && !self->closing_) self->in_.append(data.substr(used));
  } else {
    self->in_.commit(n);
    size_t used = self->consume(self->in_.view());
    self->in_.consume(used, kKeepInput);
  }
  if (self->in_.size() > self->worker_.config().limits.max_pipelined_bytes && !self->paused_) {
    // Closed at once, like Redis past its query buffer limit: waiting for the replies owed could
    // wait forever (input piles up only behind a blocking command).
    spdlog::warn("client {}: {}; closing the connection", self->id_, errors::kPipelineTooLarge);
    self->worker_.stats().rejected_input_limit.inc();
    self->close();
  }
}

// Parses and dispatches complete requests from `data`; returns the bytes consumed.
size_t ClientSession::consume(std::string_view data) {
  size_t used = 0;
  resp::Command& cmd = worker_.scratchCommand();
  while (used < data.size() && !paused_ && blocked_req_ == nullptr && !close_after_flush_ &&
         !closing_) {
    resp::ParseStatus st = parser_.parse(data.substr(used), &cmd);
    if (st == resp::ParseStatus::kNeedMore) break;
    if (st == resp::ParseStatus::kError) {
      protocolError("ERR " + parser_.error());
      return data.size();
    }
    used += cmd.frame_len;
    if (cmd.argc() == 0) continue;
    dispatch(cmd);
    if (overHighWater()) {
      paused_ = true;
      stopReading();
    }
  }
  return used;
}

void ClientSession::dispatch(const resp::Command& cmd) {
  worker_.stats().commands.inc();
  router::RouteDecision d = router::route(cmd, &worker_.scratchKeys());
  using Kind = router::RouteDecision::Kind;
  if (handleAuth(cmd, d)) return;
  if (subscribed() && d.kind != Kind::kPubSub && local_.proto == 2) {
    if (!allowedWhileSubscribed(cmd)) {
      replyError("ERR Can't execute '" + std::string(d.info ? d.info->name : cmd.arg(0)) +
                 "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                 "this context");
      return;
    }
    if (d.info != nullptr && d.info->name == "ping") {
      pingWhileSubscribed(cmd);
      return;
    }
  }
  if (d.kind == Kind::kLocal && d.info->name == "reset") {  // leaves MULTI and subscriber mode
    releasePubSub();
    if (txn_conn_ != nullptr || in_multi_ || watching_) endTransaction(false);
  }
  if (in_multi_ && d.kind != Kind::kTransaction) {
    handleInMulti(cmd, d);
    return;
  }
  switch (d.kind) {
    case Kind::kSlot:
    case Kind::kAnyMaster:
      rememberScript(cmd, *d.info);
      if (isBlocking(cmd, *d.info)) forwardBlocking(cmd, d);
      else forwardToCluster(cmd, d);
      return;
    case Kind::kLocal:
      handleLocal(cmd);
      return;
    case Kind::kReject:
      replyError(d.error);
      return;
    case Kind::kAllMasters:
      rememberScript(cmd, *d.info);
      dispatchWholeCluster(cmd, d);
      return;
    case Kind::kMultiSlot:
      startFanOut(cmd, d);
      return;
    case Kind::kTransaction:
      handleTransaction(cmd, d);
      return;
    case Kind::kPubSub:
      handlePubSub(cmd, d);
      return;
  }
}

// EVAL, EVAL_RO and SCRIPT LOAD bodies go to the script cache, for NOSCRIPT reloads (script_cache.h).
void ClientSession::rememberScript(const resp::Command& cmd, const router::CommandInfo& info) {
  static const router::CommandInfo* const kEval = router::lookupCommand("eval");
  static const router::CommandInfo* const kEvalRo = router::lookupCommand("eval_ro");
  static const router::CommandInfo* const kScriptLoad = [] {
    const router::CommandInfo* script = router::lookupCommand("script");
    return script != nullptr ? router::findSubcommand(*script, "load") : nullptr;
  }();
  if ((&info == kEval || &info == kEvalRo || &info == kScriptLoad) && cmd.argc() >= 3) {
    ScriptCache::instance().remember(cmd.arg(&info == kScriptLoad ? 2 : 1));
  }
}

void ClientSession::dispatchWholeCluster(const resp::Command& cmd, const router::RouteDecision& d) {
  WholeClusterRule rule = wholeClusterRule(*d.info, worker_.config().allow_admin_commands);
  switch (rule.mode) {
    case WholeClusterMode::kSingle: {
      router::RouteDecision any = d;
      any.kind = router::RouteDecision::Kind::kAnyMaster;
      forwardToCluster(cmd, any);
      return;
    }
    case WholeClusterMode::kReject:
      replyError(rule.reject_message != nullptr
                     ? std::string(rule.reject_message)
                     : "ERR slotwise does not support '" + std::string(d.info->name) +
                           "' through the proxy in this version");
      return;
    case WholeClusterMode::kBroadcast:
    case WholeClusterMode::kEveryNode:
    case WholeClusterMode::kScan:
      startFanOut(cmd, d);
      return;
  }
}

// The parent joins the FIFO before any part is forwarded: a part can complete synchronously
// (e.g. failed at once), and the merged reply must find its place in the FIFO.
void ClientSession::startFanOut(const resp::Command& cmd, const router::RouteDecision& d) {
  Request* parent = newFanOutParent(d.info);
  parent->replica_ok = d.kind == router::RouteDecision::Kind::kMultiSlot &&
                       (d.info->flags & router::kReadonly) != 0;
  std::vector<Request*>& parts = worker_.scratchParts();
  std::string error;
  if (!buildFanOut(worker_, parent, cmd, d, worker_.scratchKeys(), &parts, &error)) {
    worker_.requests().recycle(parent);
    replyError(error);
    return;
  }
  launchFanOut(parent, parts);
}

void ClientSession::startInfoFanOut(std::string proxy_text) {
  Request* parent = newFanOutParent(router::lookupCommand("info"));
  std::vector<Request*>& parts = worker_.scratchParts();
  buildInfoFanOut(worker_, parent, std::move(proxy_text), &parts);
  launchFanOut(parent, parts);
}

// A fan-out parent of this client for `info`, counted, not yet in the FIFO.
Request* ClientSession::newFanOutParent(const router::CommandInfo* info) {
  Request* parent = worker_.requests().acquire();
  parent->client = this;
  parent->affinity = id_;
  parent->identity = identity_;
  parent->info = info;
  parent->proto = local_.proto;
  parent->start_ns = uv_hrtime();
  worker_.stats().requestsOf(info).inc();
  return parent;
}

// The parent joins the FIFO before any part is forwarded (see startFanOut).
void ClientSession::launchFanOut(Request* parent, std::vector<Request*>& parts) {
  pending_.push(parent);
  for (Request* part : parts) worker_.forward(part);
  parts.clear();
}

// A request for `cmd` routed by `d`, queued in the FIFO, not yet sent anywhere.
Request* ClientSession::newRequest(const resp::Command& cmd, const router::RouteDecision& d) {
  Request* req = worker_.requests().acquire();
  req->info = d.info;
  req->proto = local_.proto;
  req->start_ns = uv_hrtime();
  worker_.stats().requestsOf(d.info).inc();
  req->client = this;
  req->affinity = id_;
  req->identity = identity_;
  if (d.kind == router::RouteDecision::Kind::kSlot) {
    req->target = Request::Target::kSlot;
    req->slot = d.slot;
    req->replica_ok = (d.info->flags & router::kReadonly) != 0;
  } else {
    req->target = Request::Target::kAnyMaster;
  }
  if (cmd.is_inline) {
    resp::appendCommandFrom(req->payload, cmd);
  } else {
    req->payload.assign(cmd.base, cmd.frame_len);
  }
  pending_.push(req);
  return req;
}

void ClientSession::forwardToCluster(const resp::Command& cmd, const router::RouteDecision& d) {
  worker_.forward(newRequest(cmd, d));
}

void ClientSession::onReply(Request* req, std::string_view bytes) {
  if (req->info != nullptr) {
    WorkerStats& stats = worker_.stats();
    const uint64_t elapsed_ns = uv_hrtime() - req->start_ns;
    stats.latency.observe(std::chrono::nanoseconds(elapsed_ns));
    if (!bytes.empty() && bytes[0] == '-') stats.errorsOf(req->info).inc();
    if (stats.slowlog != nullptr && stats.slowlog->wants(elapsed_ns)) recordSlow(req, elapsed_ns);
  }
  if (req == blocked_req_) {  // the blocking command ended: its connection is free again
    blocked_req_ = nullptr;
    if (blocking_conn_ != nullptr) worker_.releaseDedicated(blocking_conn_, true);
    blocking_conn_ = nullptr;
    resume_parse_ = true;  // parse what arrived while blocked
    worker_.markClientDirty(this);
  }
  if (req != pending_.front()) {  // completed early: hold until its predecessors are written
    req->reply.assign(bytes);
    req->done = true;
    return;
  }
  // Output the client has not read yet beyond twice max_output_bytes (reading stopped at once;
  // this is what requests already in flight added since): the client is disconnected, as by
  // Redis's client-output-buffer-limit. One reply larger than that still goes out whole.
  const bool over_limit = out_.pendingBytes() > 2 * worker_.config().limits.max_output_bytes;
  std::string& out = out_.buffer();
  out.append(bytes);
  worker_.requests().recycle(pending_.pop());
  while (!pending_.empty() && pending_.front()->done) {
    out.append(pending_.front()->reply);
    worker_.requests().recycle(pending_.pop());
  }
  if (over_limit) {
    spdlog::warn("client {}: more than 2 x limits.max_output_bytes of unread replies; closing",
                 id_);
    worker_.stats().rejected_output_limit.inc();
    close();
    return;
  }
  flushPushBacklog();
  worker_.markClientDirty(this);
}

// Slow requests only: resolves the node the request went to (or would go to now) and the
// client's address, then hands the entry to the worker's slow log shard.
void ClientSession::recordSlow(Request* req, uint64_t elapsed_ns) {
  SlowlogEntry entry;
  entry.duration_us = elapsed_ns / 1000;
  entry.command.assign(req->info->name);
  entry.slot = req->is_fanout ? -1 : req->slot;
  if (!req->is_fanout) {
    entry.node = req->target == Request::Target::kAddress
                     ? req->address
                     : worker_.targetAddress(req);
  }
  sockaddr_storage peer{};
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    entry.client_addr = hostPortOf(peer).toString();
  }
  entry.client_name = local_.name;
  worker_.stats().slowlog->record(std::move(entry), req->payload);
  worker_.stats().slowlog_entries.inc();
}

// A reply produced by the proxy itself, kept in request order behind anything still pending.
void ClientSession::replyNow(std::string_view bytes) {
  if (pending_.empty()) {
    out_.buffer().append(bytes);
    worker_.markClientDirty(this);
    return;
  }
  Request* req = worker_.requests().acquire();
  req->client = this;
  req->reply.assign(bytes);
  req->done = true;
  pending_.push(req);
}

void ClientSession::replyError(std::string_view message) {
  worker_.stats().errors_sent.inc();
  std::string bytes;
  resp::appendError(bytes, message);
  replyNow(bytes);
}

namespace {

// Compares without an early exit on the first differing byte.
bool sameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

// "default" with auth.password, or a named user of auth.users (then *named points to it).
bool ClientSession::checkCredentials(const config::AuthConfig& auth, std::string_view user,
                                     std::string_view password, const config::UserConfig** named) {
  if (user == "default" && !auth.password.empty()) return sameSecret(password, auth.password);
  for (const config::UserConfig& u : auth.users) {
    if (u.name == user && sameSecret(password, u.password)) {
      *named = &u;
      return true;
    }
  }
  return false;
}

// Before a successful AUTH only AUTH, HELLO (with AUTH), QUIT and PING run. Wrong passwords are
// answered as Redis does and the connection is closed after auth.max_failures of them; the
// password itself is never logged.
bool ClientSession::handleAuth(const resp::Command& cmd, const router::RouteDecision& d) {
  const config::AuthConfig& auth = worker_.config().auth;
  std::string_view name = d.info != nullptr ? d.info->name : std::string_view();
  if (!auth.required()) return false;
  std::string_view user, password;
  bool has_credentials = false;
  if (name == "auth" && (cmd.argc() == 2 || cmd.argc() == 3)) {
    user = cmd.argc() == 3 ? cmd.arg(1) : "default";
    password = cmd.arg(cmd.argc() - 1);
    has_credentials = true;
  } else if (name == "hello") {
    for (size_t i = 2; i + 2 < cmd.argc(); ++i) {
      if (cmd.arg(i).size() == 4 && strncasecmp(cmd.arg(i).data(), "auth", 4) == 0) {
        user = cmd.arg(i + 1);
        password = cmd.arg(i + 2);
        has_credentials = true;
        break;
      }
    }
  }
  if (!has_credentials) {
    if (authenticated_ || name == "quit" || name == "ping") return false;
    if (name == "auth") return false;  // wrong arity: the local handler answers
    replyError(name == "hello"
                   ? "NOAUTH HELLO must be called with the client already authenticated, otherwise "
                     "the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
                     "client and select the RESP protocol version at the same time"
                   : "NOAUTH Authentication required.");
    return true;
  }
  const config::UserConfig* named = nullptr;
  if (checkCredentials(auth, user, password, &named)) {
    const std::optional<uint16_t> identity = named != nullptr ? worker_.identityFor(*named) : 0;
    if (!identity) {
      replyError("ERR slotwise: too many distinct backend users on this worker; restart the proxy");
      return true;
    }
    authenticated_ = true;
    auth_failures_ = 0;
    local_.user.assign(user);
    identity_ = *identity;
    if (name == "auth") {
      replyNow("+OK\r\n");
      return true;
    }
    return false;  // HELLO: the local handler builds the reply
  }
  spdlog::info("client {}: wrong AUTH ({} of {})", id_, auth_failures_ + 1, auth.max_failures);
  replyError("WRONGPASS invalid username-password pair or user is disabled.");
  if (++auth_failures_ >= auth.max_failures) {
    worker_.stats().rejected_auth.inc();
    closeWhenDone();
  }
  return true;
}

void ClientSession::handleLocal(const resp::Command& cmd) {
  // What local commands see of this worker and its sessions, gathered only when a command asks.
  // A local class has this member function's access to every session's private members. The
  // advertised address is the one this client connected to, so it is reachable by the client.
  struct Env final : LocalEnvironment {
    explicit Env(const ClientSession& s) : session(s) {}
    const ClientSession& session;
    static config::HostPort endpoint(const ClientSession& s, bool peer) {
      sockaddr_storage a{};
      int len = sizeof(a);
      auto* sa = reinterpret_cast<sockaddr*>(&a);
      int rc = peer ? uv_tcp_getpeername(&s.handle_, sa, &len)
                    : uv_tcp_getsockname(&s.handle_, sa, &len);
      return rc == 0 ? hostPortOf(a) : config::HostPort{};
    }
    static ClientRow rowOf(const ClientSession& s) {
      ClientRow row;
      row.state = &s.local_;
      if (auto a = endpoint(s, true); !a.host.empty()) row.addr = a.toString();
      if (auto a = endpoint(s, false); !a.host.empty()) row.laddr = a.toString();
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&s.handle_), &fd) == 0) row.fd = fd;
      row.idle_s = (uv_now(s.worker_.loop()) - s.last_active_ms_) / 1000;
      return row;
    }
    config::HostPort advertisedAddress() const override {
      const config::HostPort& configured = session.worker_.config().advertise;
      if (configured.port != 0) return configured;
      config::HostPort local = endpoint(session, false);
      return local.host.empty() ? session.worker_.config().listen : local;
    }
    const router::SlotMap* slotMap() const override { return session.worker_.slotMap().get(); }
    SlowlogBook* slowlog() const override { return session.worker_.stats().families.slowlog; }
    ClientRow self() const override { return rowOf(session); }
    void listClients(std::vector<ClientRow>* out) const override {
      for (const ClientSession* s : session.worker_.sessions()) out->push_back(rowOf(*s));
    }
    ProxyFacts facts() const override {
      Worker& w = session.worker_;
      ProxyFacts f;
      f.advertised = advertisedAddress();
      f.map = slotMap();
      f.workers = w.config().workers != 0 ? w.config().workers : std::thread::hardware_concurrency();
      f.worker_id = static_cast<uint32_t>(w.id());
      f.connected_clients = static_cast<uint64_t>(w.totalClients());
      f.max_clients = w.config().limits.max_clients;
      for (const ClientSession* s : w.sessions()) f.blocked_clients += s->blocked_req_ != nullptr;
      f.connections_received = w.stats().clients_accepted.value();
      f.commands_processed = w.stats().commands.value();
      f.errors_sent = w.stats().errors_sent.value();
      f.moved = w.stats().moved.value();
      f.ask = w.stats().ask.value();
      f.backend_failures = w.stats().backend_failures.value();
      return f;
    }
  };
  const Env env(*this);
  const uint32_t sections = infoSections(cmd);
  if ((sections & kInfoKeyspace) != 0 && !worker_.masterSlots().empty()) {
    startInfoFanOut(infoText(sections, env.facts()));
    return;
  }
  std::string reply;
  LocalOutcome outcome = runLocalCommand(cmd, local_, env, &reply);
  replyNow(reply);
  if (outcome == LocalOutcome::kCloseAfterReply) closeWhenDone();
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
  worker_.stats().client_bytes_out.inc(queued - out_.buffer().size());
  if (rc < 0) {
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
  if (resume_parse_ && !paused_ && blocked_req_ == nullptr) {
    resume_parse_ = false;
    resumeInput();
  }
}

// Parses what arrived while reading was stopped, then reads again unless that stopped it anew.
void ClientSession::resumeInput() {
  if (!in_.empty()) {
    size_t used = consume(in_.view());
    in_.consume(used, kKeepInput);
  }
  if (!paused_ && blocked_req_ == nullptr && !close_after_flush_ && !closing_ && !reading_) {
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
  self->worker_.markClientDirty(self);
}

bool ClientSession::overHighWater() const {
  const auto& l = worker_.config().limits;
  return pending_.size() >= l.max_pending_requests || out_.pendingBytes() >= l.max_output_bytes;
}

bool ClientSession::belowLowWater() const {
  const auto& l = worker_.config().limits;
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
  worker_.markClientDirty(this);
}

void ClientSession::drain() { closeWhenDone(); }

void ClientSession::rejectAndClose(std::string_view message) {
  replyError(message);
  closeWhenDone();
}

void ClientSession::close() {
  if (closing_) return;
  closing_ = true;
  stopReading();
  releaseDedicatedConns();
  while (!pending_.empty()) {
    Request* req = pending_.pop();
    if (req->done) worker_.requests().recycle(req);
    else req->client = nullptr;  // orphan: the network side recycles it
  }
  worker_.onSessionClosed(this);
  if (open_) uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &ClientSession::onClosed);
  else delete this;
}

void ClientSession::onClosed(uv_handle_t* h) { delete static_cast<ClientSession*>(h->data); }

}  // namespace slotwise::proxy
