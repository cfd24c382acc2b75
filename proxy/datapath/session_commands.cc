// ClientSession: the commands that do more than forward one request: whole-cluster and multi-key
// fan-out, blocking commands, pub/sub entry points, commands the proxy answers itself (INFO,
// CLIENT, CLUSTER emulation...), AUTH, and the slow log record of a finished request.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/ascii.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/monitor.h"
#include "proxy/datapath/script_cache.h"
#include "proxy/local/auth.h"
#include "proxy/local/local_commands.h"
#include "proxy/stats/key_watch.h"
#include "proxy/stats/slowlog.h"
#include "resp/encoder.h"
#include "resp/request_parser.h"

namespace slotwise::proxy {

// ---- blocking commands ------------------------------------------------------------------------
//   BLPOP k 0 ──► dedicated conn (no request timeout) ──► reply ──► conn back to the idle list
//   the client's later input is not parsed until the reply, as with Redis

bool ClientSession::isBlocking(const resp::Command& cmd, const router::CommandInfo& info) {
  if (!info.hasFlag(router::kBlocking)) return false;
  if (info.name != "xread" && info.name != "xreadgroup") return true;
  for (size_t i = 1; i < cmd.argc(); ++i) {  // XREAD[GROUP] blocks only with BLOCK
    if (equalsIgnoreCase(cmd.arg(i), "streams")) return false;
    if (equalsIgnoreCase(cmd.arg(i), "block")) return true;
  }
  return false;
}

// EVAL, EVALSHA, their _RO forms, FCALL and FCALL_RO: they may run past backend.request_timeout_ms
// (a node answers -BUSY to others meanwhile), so backend.script_timeout_ms applies to them.
bool ClientSession::isScriptCall(const router::CommandInfo& info) {
  const std::string_view n = info.name;
  return n == "eval" || n == "evalsha" || n == "eval_ro" || n == "evalsha_ro" || n == "fcall" ||
         n == "fcall_ro";
}

void ClientSession::forwardBlocking(const resp::Command& cmd, const router::RouteDecision& d) {
  Request* req = newRequest(cmd, d);
  req->pinned = true;
  req->blocking = true;
  blocking_.req = req;
  blocking_.unblock_sent = false;
  services_.host.countBlocked(1);
  services_.dispatcher.forward(req);  // -> a dedicated connection -> useBlockingConn
}

void ClientSession::useBlockingConn(BackendConn* conn) {
  if (blocking_.conn != nullptr && blocking_.conn != conn) {
    services_.pool.releaseDedicated(blocking_.conn, false);  // it may still hold the old call
  }
  blocking_.conn = conn;
  conn->setRequestTimeout(false);
  conn->askClientId();  // before the command: its node-side id, for CLIENT UNBLOCK
}

// The blocking command ended: its connection is free again, and what arrived meanwhile is parsed.
void ClientSession::endBlocking() {
  blocking_.req = nullptr;
  services_.host.countBlocked(-1);
  // After a CLIENT UNBLOCK the connection closes: a late CLIENT UNBLOCK of its node-side id must
  // not reach another client's blocking command on it.
  if (blocking_.conn != nullptr) {
    services_.pool.releaseDedicated(blocking_.conn, !blocking_.unblock_sent);
  }
  blocking_.conn = nullptr;
  resume_parse_ = true;
  services_.host.markClientDirty(this);
}

// ---- CLIENT PAUSE ---------------------------------------------------------------------------
//   PAUSE WRITE: commands that may write (write or may-replicate flags: EVAL, PUBLISH ...) wait;
//   PAUSE ALL: every command but CLIENT UNPAUSE (else only the timeout could end it) waits.

bool ClientSession::waitsForUnpause(const router::RouteDecision& d) {
  const ClientPause pause = services_.host.clientPause();
  if (pause.until_ms == 0 || d.info == nullptr || d.info->name == "client|unpause") return false;
  if (!pause.all && !d.info->hasFlag(router::kWrite) && !d.info->hasFlag(router::kMayReplicate)) {
    return false;
  }
  if (localNowMs() >= pause.until_ms) return false;  // ended; the worker's timer is due
  pause_wait_ = true;
  stopReading();
  services_.host.waitForUnpause(this);
  return true;
}

void ClientSession::resumeAfterPause() {
  if (!pause_wait_ || closing_) return;
  pause_wait_ = false;
  resume_parse_ = true;
  services_.host.markClientDirty(this);
}

// ---- pub/sub --------------------------------------------------------------------------------

void ClientSession::handlePubSub(const resp::Command& cmd, const router::RouteDecision& d) {
  if (d.info->name.starts_with("pubsub|")) {
    startFanOut(cmd, d);  // PUBSUB CHANNELS / NUMSUB / ...: merged over the masters
    return;
  }
  if (!pubsub_) pubsub_ = std::make_unique<PubSubSession>(*this);
  pubsub_->handle(cmd, d);
}

// ---- fan-out --------------------------------------------------------------------------------

FanOutContext ClientSession::fanOutContext() {
  const config::ProxyConfig& c = *services_.config;
  return FanOutContext{services_.requests, services_.topology, services_.scratch.slot_index,
                       static_cast<uint64_t>(c.backend.request_timeout.count()),
                       c.allow_admin_commands};
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
  WholeClusterRule rule = wholeClusterRule(*d.info, cmd, services_.config->allow_admin_commands);
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
  parent->prefer_replica = local_.readonly;
  std::vector<Request*>& parts = services_.scratch.parts;
  std::string error;
  FanOutContext context = fanOutContext();
  if (!buildFanOut(context, parent, cmd, d, services_.scratch.keys, &parts, &error)) {
    services_.requests.recycle(parent);
    replyError(error);
    return;
  }
  launchFanOut(parent, parts);
}

void ClientSession::startInfoFanOut(std::string proxy_text,
                                    const std::vector<std::string_view>& node_sections) {
  Request* parent = newFanOutParent(router::lookupCommand("info"));
  std::vector<Request*>& parts = services_.scratch.parts;
  FanOutContext context = fanOutContext();
  buildInfoFanOut(context, parent, std::move(proxy_text), node_sections, &parts);
  launchFanOut(parent, parts);
}

// A fan-out parent of this client for `info`, counted, not yet in the FIFO.
Request* ClientSession::newFanOutParent(const router::CommandInfo* info) {
  Request* parent = services_.requests.acquire();
  parent->client = this;
  parent->affinity = id_;
  parent->identity = identity_;
  parent->info = info;
  parent->proto = local_.proto;
  parent->start_ns = uv_hrtime();
  services_.stats.requestsOf(info).inc();
  return parent;
}

// The parent joins the FIFO before any part is forwarded (see startFanOut).
void ClientSession::launchFanOut(Request* parent, std::vector<Request*>& parts) {
  enqueue(parent);
  for (Request* part : parts) services_.dispatcher.forward(part);
  parts.clear();
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
                     : services_.pool.targetAddress(*req);
  }
  sockaddr_storage peer{};
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    entry.client_addr = hostPortOf(peer).toString();
  }
  entry.client_name = local_.name;
  services_.stats.slowlog->record(std::move(entry), req->payload);
  services_.stats.slowlog_entries.inc();
}

// Hot and big keys (key_watch.h): the keys of a command routed by key are counted; a request of
// observe.big_value_bytes or more is recorded with its first key.
void ClientSession::watchKeys(KeyWatchShard& watch, const resp::Command& cmd,
                              const router::RouteDecision& d) {
  using Kind = router::RouteDecision::Kind;
  const std::vector<uint32_t>& keys = services_.scratch.keys;
  if (watch.hotKeys() && (d.kind == Kind::kSlot || d.kind == Kind::kMultiSlot)) {
    for (uint32_t i : keys) watch.countKey(cmd.arg(i));
  }
  if (watch.isBig(cmd.frame_len) && d.info != nullptr) {
    watch.recordBig(keys.empty() ? std::string_view() : cmd.arg(keys[0]), d.info->name, false,
                    cmd.frame_len);
    services_.stats.bigValue(d.info, false);
  }
}

// A reply of observe.big_value_bytes or more: its key is found again in the request's frame.
void ClientSession::recordBigReply(KeyWatchShard& watch, const Request& req, size_t bytes) {
  resp::RequestParser parser;
  resp::Command cmd;
  std::vector<uint32_t> keys;
  std::string_view key;
  if (parser.parse(req.payload, &cmd) == resp::ParseStatus::kOk &&
      router::arityOk(*req.info, cmd.argc()) && router::extractKeys(*req.info, cmd, &keys) &&
      !keys.empty()) {
    key = cmd.arg(keys[0]);
  }
  watch.recordBig(key, req.info->name, true, bytes);
  services_.stats.bigValue(req.info, true);
}

// As Redis: commands flagged skip_monitor or admin (and unknown ones) are not shown, nor those of
// a client that has not authenticated (Redis refuses them before they run) except AUTH and
// HELLO themselves; AUTH's arguments and HELLO's after AUTH are redacted.
void ClientSession::feedMonitors(MonitorHub& hub, const resp::Command& cmd,
                                 const router::RouteDecision& d) {
  if (d.info == nullptr || (d.info->flags & (router::kSkipMonitor | router::kAdmin)) != 0) return;
  if (!authenticated_ && d.info->name != "auth" && d.info->name != "hello") return;
  size_t redact_from = 0;
  if (d.info->name == "auth") {
    redact_from = 1;
  } else if (d.info->name == "hello") {
    for (size_t i = 2; i < cmd.argc() && redact_from == 0; ++i) {
      if (equalsIgnoreCase(cmd.arg(i), "auth")) redact_from = i + 1;
    }
  }
  sockaddr_storage peer{};
  int len = sizeof(peer);
  std::string addr;
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    addr = hostPortOf(peer).toString();
  }
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  hub.publish(monitorLine(cmd, addr, now_us, redact_from));
}

void ClientSession::startMonitor() {
  MonitorHub* hub = services_.stats.families.monitor;
  if (hub == nullptr) {
    replyError("ERR MONITOR is not available in this proxy");
    return;
  }
  if (monitor_id_ == 0) {
    // A monitor that does not read its lines is disconnected as a slow subscriber is.
    monitor_id_ = hub->add(services_.host.workerId(), [this](std::string&& lines) {
      if (closing_) return;
      if (out_.pendingBytes() > services_.config->limits.max_output_bytes) {
        spdlog::warn("client {}: MONITOR output not read (over limits.max_output_bytes); closing",
                     id_);
        services_.stats.rejected_output_limit.inc();
        close();
        return;
      }
      out_.buffer().append(lines);
      services_.host.markClientDirty(this);
    });
  }
  replyNow("+OK\r\n");
}

void ClientSession::stopMonitor() {
  if (monitor_id_ == 0) return;
  services_.stats.families.monitor->remove(monitor_id_);
  monitor_id_ = 0;
}

// Before a successful AUTH only AUTH, HELLO (with AUTH), QUIT and PING run. Wrong passwords are
// answered as Redis does and the connection is closed after auth.max_failures of them; the
// password itself is never logged.
bool ClientSession::handleAuth(const resp::Command& cmd, const router::RouteDecision& d) {
  const config::AuthConfig& auth = services_.config->auth;
  std::string_view name = d.info != nullptr ? d.info->name : std::string_view();
  if (!auth.required()) return false;
  const Credentials given = credentialsIn(cmd, name);
  if (!given.present) {
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
  if (checkCredentials(auth, given.user, given.password, &named)) {
    const std::optional<uint16_t> identity =
        named != nullptr ? services_.pool.identityFor(*named) : std::optional<uint16_t>(0);
    if (!identity) {
      replyError("ERR slotwise: too many distinct backend users on this worker; restart the proxy");
      return true;
    }
    authenticated_ = true;
    auth_failures_ = 0;
    local_.user.assign(given.user);
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
    services_.stats.rejected_auth.inc();
    closeWhenDone();
  }
  return true;
}

namespace {

// The peer (`peer`) or local address of a client's socket; {"", 0} if unknown.
config::HostPort endpointOf(const uv_tcp_t& handle, bool peer) {
  sockaddr_storage a{};
  int len = sizeof(a);
  auto* sa = reinterpret_cast<sockaddr*>(&a);
  int rc = peer ? uv_tcp_getpeername(&handle, sa, &len) : uv_tcp_getsockname(&handle, sa, &len);
  return rc == 0 ? hostPortOf(a) : config::HostPort{};
}

}  // namespace

ClientRow ClientSession::row() const {
  ClientRow row;
  row.state = &local_;
  if (auto a = endpointOf(handle_, true); !a.host.empty()) row.addr = a.toString();
  if (auto a = endpointOf(handle_, false); !a.host.empty()) row.laddr = a.toString();
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&handle_), &fd) == 0) row.fd = fd;
  row.idle_s = (uv_now(services_.loop) - last_active_ms_) / 1000;
  row.blocked = blocked();
  row.monitor = monitor_id_ != 0;
  if (pubsub_) {
    row.pubsub = pubsub_->subscribed();
    row.sub = pubsub_->channels();
    row.psub = pubsub_->patterns();
    row.ssub = pubsub_->shardChannels();
  }
  row.multi = txn_.queued();
  return row;
}

void ClientSession::handleLocal(const resp::Command& cmd) {
  // What local commands see of this worker and its sessions, gathered only when a command asks.
  // A local class has this member function's access to every session's private members. The
  // advertised address is the one this client connected to, so it is reachable by the client.
  struct Env final : LocalEnvironment {
    explicit Env(const ClientSession& s) : session(s) {}
    const ClientSession& session;
    config::HostPort advertisedAddress() const override {
      const config::HostPort& configured = (*session.services_.config).advertise;
      if (configured.port != 0) return configured;
      config::HostPort local = endpointOf(session.handle_, false);
      return local.host.empty() ? (*session.services_.config).listen : local;
    }
    const router::SlotMap* slotMap() const override { return session.services_.topology.slotMap(); }
    SlowlogBook* slowlog() const override { return session.services_.stats.families.slowlog; }
    const config::AuthConfig* auth() const override { return &session.services_.config->auth; }
    void pauseClients(uint64_t until_ms, bool all) const override {
      session.services_.host.requestPause(ClientPause{until_ms, all});
    }
    ClientRow self() const override { return session.row(); }
    void listClients(std::vector<ClientRow>* out) const override {
      for (const ClientSession* s : session.services_.host.sessions()) out->push_back(s->row());
    }
    ProxyFacts facts() const override {
      const SessionServices& w = session.services_;
      const config::ProxyConfig& c = *w.config;
      ProxyFacts f;
      f.advertised = advertisedAddress();
      f.map = slotMap();
      f.workers = c.workers != 0 ? c.workers : std::thread::hardware_concurrency();
      f.worker_id = static_cast<uint32_t>(w.host.workerId());
      f.connected_clients = static_cast<uint64_t>(w.host.totalClients());
      f.max_clients = c.limits.max_clients;
      f.blocked_clients = static_cast<uint64_t>(std::max(w.host.blockedClients(), 0));
      f.connections_received = w.stats.clients_accepted.value();
      f.commands_processed = w.stats.commands.value();
      f.errors_sent = w.stats.errors_sent.value();
      f.moved = w.stats.moved.value();
      f.ask = w.stats.ask.value();
      f.backend_failures = w.stats.backend_failures.value();
      if (w.migration != nullptr) w.migration->describe(&f.migration);
      return f;
    }
  };
  const Env env(*this);
  const uint32_t sections = infoSections(cmd);
  if ((sections & kInfoFromNodes) != 0 && !services_.topology.masterSlots().empty()) {
    startInfoFanOut(infoText(sections, env.facts()), infoNodeSectionNames(sections));
    return;
  }
  std::string reply;
  LocalOutcome outcome = runLocalCommand(cmd, local_, env, &reply);
  replyNow(reply);
  if (outcome == LocalOutcome::kCloseAfterReply) closeWhenDone();
}


}  // namespace slotwise::proxy
