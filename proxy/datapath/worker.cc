#include "proxy/datapath/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/script_cache.h"
#include "resp/encoder.h"
#include "router/redirect.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kHousekeepingMs = 100;
constexpr uint64_t kRetryTickMs = 10;
constexpr uint64_t kClusterDownRetryMs = 100;  // between retries of a -CLUSTERDOWN request
constexpr uint64_t kNodeDownMs = 100;
constexpr uint64_t kReportThrottleMs = 100;
constexpr int kMaxFlushRounds = 8;
std::atomic<uint32_t> g_next_client_id{1};

template <typename T>
T* fromHandle(void* h) {
  return static_cast<T*>(static_cast<uv_handle_t*>(h)->data);
}

bool splitAddress(const std::string& address, std::string* host, uint16_t* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size()) return false;
  int p = std::atoi(address.c_str() + colon + 1);
  if (p <= 0 || p > 65535) return false;
  *host = address.substr(0, colon);
  *port = static_cast<uint16_t>(p);
  return true;
}
}  // namespace

Worker::Worker(int id, std::shared_ptr<const config::ProxyConfig> config, ControlSink& control,
               std::atomic<int>& total_clients, metrics::Shard& shard,
               const ProxyMetricFamilies& families)
    : id_(id),
      config_(std::move(config)),
      control_(control),
      total_clients_(total_clients),
      stats_(shard, families),
      shared_read_(new char[kSharedReadBuffer]) {}

Worker::~Worker() { join(); }

bool Worker::start() {
  if (uv_loop_init(&loop_) != 0 || mailbox_.init(&loop_) != 0) return false;
  check_.data = idle_.data = housekeeping_.data = retry_timer_.data = this;
  uv_check_init(&loop_, &check_);
  uv_check_start(&check_, [](uv_check_t* h) { fromHandle<Worker>(h)->onCheck(); });
  uv_idle_init(&loop_, &idle_);
  uv_timer_init(&loop_, &housekeeping_);
  uv_timer_start(&housekeeping_, [](uv_timer_t* h) { fromHandle<Worker>(h)->onHousekeeping(); },
                 kHousekeepingMs, kHousekeepingMs);
  uv_timer_init(&loop_, &retry_timer_);
  thread_ = std::thread([this] { run(); });
  return true;
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::stop(uint64_t drain_ms) {
  post([this, drain_ms] {
    if (draining_) return;
    draining_ = true;
    drain_deadline_ms_ = uv_now(&loop_) + drain_ms;
    if (listener_) {
      uv_close(reinterpret_cast<uv_handle_t*>(listener_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      listener_ = nullptr;
    }
    std::vector<ClientSession*> sessions = sessions_;
    for (ClientSession* s : sessions) s->drain();
    onHousekeeping();
  });
}

// ---- sessions -------------------------------------------------------------------------------

// The acceptor has already counted this client in total_clients_.
void Worker::adoptClient(int fd) {
  clients_.fetch_add(1, std::memory_order_relaxed);
  post([this, fd] {
    auto* session = new ClientSession(*this, g_next_client_id.fetch_add(1));
    addSession(session);
    stats_.clients_accepted.inc();
    if (draining_ || session->open(fd) < 0) session->close();
  });
}

void Worker::adoptListener(int fd) {
  post([this, fd] {
    listener_ = new uv_tcp_t;
    uv_tcp_init(&loop_, listener_);
    listener_->data = this;
    int rc = uv_tcp_open(listener_, fd);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_),
                     static_cast<int>(config_->tcp_backlog), [](uv_stream_t* server, int status) {
                       if (status == 0) fromHandle<Worker>(server)->acceptOne(server);
                     });
    }
    if (rc < 0) spdlog::error("worker {}: cannot listen: {}", id_, uv_strerror(rc));
  });
}

void Worker::acceptOne(uv_stream_t* server) {
  clients_.fetch_add(1, std::memory_order_relaxed);
  auto* session = new ClientSession(*this, g_next_client_id.fetch_add(1));
  addSession(session);
  if (session->accept(server) < 0) {
    session->close();
    return;
  }
  stats_.clients_accepted.inc();
  if (total_clients_.fetch_add(1, std::memory_order_relaxed) >= static_cast<int>(config_->limits.max_clients)) {
    stats_.rejected_max_clients.inc();
    session->rejectAndClose(errors::kMaxClients);
  }
}

void Worker::addSession(ClientSession* session) {
  stats_.clients.inc();
  session->index = sessions_.size();
  sessions_.push_back(session);
}

void Worker::onSessionClosed(ClientSession* session) {
  size_t i = session->index;
  sessions_[i] = sessions_.back();
  sessions_[i]->index = i;
  sessions_.pop_back();
  if (session->dirty) {
    dirty_clients_.erase(std::remove(dirty_clients_.begin(), dirty_clients_.end(), session),
                         dirty_clients_.end());
  }
  resubscribe_.erase(std::remove(resubscribe_.begin(), resubscribe_.end(), session),
                     resubscribe_.end());
  stats_.clients.dec();
  clients_.fetch_sub(1, std::memory_order_relaxed);
  total_clients_.fetch_sub(1, std::memory_order_relaxed);
}

// ---- slot map and routing -------------------------------------------------------------------

void Worker::setConfig(std::shared_ptr<const config::ProxyConfig> config) {
  post([this, config = std::move(config)]() mutable { config_ = std::move(config); });
}

void Worker::setUnfitReplicas(router::UnfitReplicas unfit) {
  post([this, unfit = std::move(unfit)]() mutable { unfit_replicas_ = std::move(unfit); });
}

void Worker::setSlotMap(router::SlotMapPtr map) {
  post([this, map = std::move(map)]() mutable { installMap(std::move(map)); });
}

void Worker::installMap(router::SlotMapPtr map) {
  map_ = std::move(map);
  by_node_.assign(map_->nodes().size(), nullptr);
  for (size_t i = 0; i < map_->nodes().size(); ++i) {
    const router::NodeInfo& n = map_->nodes()[i];
    by_node_[i] = nodeFor(n.address, n.host, n.port);
  }
  master_slots_.clear();
  std::vector<OwnedRange> owned;
  std::vector<bool> seen(map_->nodes().size(), false);
  for (const router::SlotRange& r : map_->ranges()) {
    if (!seen[r.master_index]) master_slots_.push_back(r.first);
    seen[r.master_index] = true;
    const router::NodeInfo& master = map_->nodes()[r.master_index];
    owned.push_back({r.first, r.last, master.id.empty() ? master.address : master.id});
  }
  std::sort(master_slots_.begin(), master_slots_.end());
  fingerprint_ = ownershipFingerprint(std::move(owned));
  last_redirect_report_ms_ = 0;
  retryParked();
}

Worker::NodeConns* Worker::nodeFor(const std::string& address, const std::string& host,
                                   uint16_t port) {
  auto it = nodes_.find(address);
  if (it != nodes_.end()) return it->second.get();
  auto node = std::make_unique<NodeConns>();
  node->host = host;
  node->port = port;
  node->address = address;
  node->conns.assign(2 * config_->backend.connections_per_node, nullptr);  // identity 0
  NodeConns* raw = node.get();
  nodes_.emplace(address, std::move(node));
  return raw;
}

// Returns the connection of `req`'s identity, protocol and affinity, connecting if needed; nullptr
// if the connect failed at once (the node is then marked down).
BackendConn* Worker::connFor(NodeConns* node, const Request& req) {
  const size_t per_node = config_->backend.connections_per_node;
  const size_t index = (size_t{req.identity} * 2 + (req.proto == 3)) * per_node +
                       req.affinity % per_node;
  if (index >= node->conns.size()) node->conns.resize((size_t{req.identity} + 1) * 2 * per_node);
  BackendConn*& slot = node->conns[index];
  if (slot == nullptr) {
    slot = new BackendConn(*this, node->host, node->port, node->address, req.proto, req.identity);
    slot->connect();  // may fail synchronously and reset `slot` through onBackendClosed
  }
  return slot;
}

Worker::NodeConns* Worker::slotTarget(const Request& req) {
  const uint16_t master = map_->masterIndex(static_cast<uint16_t>(req.slot));
  if (master == router::SlotMap::kNoNode) return nullptr;
  const config::ReadFrom policy = config_->backend.read_from;
  if (!req.replica_ok || policy == config::ReadFrom::kMaster) return by_node_[master];
  // A replica neither marked down nor unfit (lagging, offline), starting from the client's own
  // (spreads clients, keeps one client's reads on one replica while it is up).
  const std::vector<uint16_t>& replicas = map_->replicasOf(master);
  const uint64_t now = uv_now(&loop_);
  for (size_t i = 0; i < replicas.size(); ++i) {
    NodeConns* node = by_node_[replicas[(req.affinity + i) % replicas.size()]];
    const bool unfit = unfit_replicas_ && unfit_replicas_->count(node->address) != 0;
    if (node->down_until_ms <= now && !unfit) return node;
  }
  if (policy == config::ReadFrom::kPreferReplica) return by_node_[master];
  // replica only: none is up; the request waits (parked) for one until its retry deadline.
  return replicas.empty() ? nullptr : by_node_[replicas[req.affinity % replicas.size()]];
}

std::optional<uint16_t> Worker::identityFor(const config::UserConfig& user) {
  if (user.backend_username.empty() && user.backend_password.empty()) return 0;
  Credentials wanted{user.backend_username.empty() ? config_->backend.username : user.backend_username,
                     user.backend_password.empty() ? config_->backend.password : user.backend_password};
  for (size_t i = 1; i < identities_.size(); ++i) {
    if (identities_[i].username == wanted.username && identities_[i].password == wanted.password) {
      return static_cast<uint16_t>(i);
    }
  }
  if (identities_.size() > 0xffff) return std::nullopt;  // never the default credentials instead
  identities_.push_back(std::move(wanted));
  return static_cast<uint16_t>(identities_.size() - 1);
}

Worker::Credentials Worker::credentialsOf(uint16_t identity) const {
  if (identity == 0 || identity >= identities_.size()) {
    return {config_->backend.username, config_->backend.password};
  }
  return identities_[identity];
}

bool Worker::resolveTarget(Request* req, NodeConns** node) {
  switch (req->target) {
    case Request::Target::kAddress: {
      auto it = nodes_.find(req->address);
      if (it != nodes_.end()) {
        *node = it->second.get();
        break;
      }
      std::string host;
      uint16_t port = 0;
      if (!splitAddress(req->address, &host, &port)) return false;
      *node = nodeFor(req->address, host, port);
      break;
    }
    case Request::Target::kSlot: {
      if (!map_) return false;
      *node = slotTarget(*req);
      if (*node == nullptr) return false;
      break;
    }
    case Request::Target::kAnyMaster: {
      if (!map_ || map_->masters().empty()) return false;
      const auto& masters = map_->masters();
      *node = by_node_[masters[req->affinity % masters.size()]];
      break;
    }
  }
  return (*node)->down_until_ms <= uv_now(&loop_);
}

void Worker::forward(Request* req) {
  if (req->pinned) {
    // A blocking command redirected or retried gets a fresh dedicated connection; a transaction's
    // command never moves to another connection (redirect() and tryAgain() fail those already).
    if (req->blocking) forwardBlocking(req);
    else fail(req, errors::kTransactionMoved);
    return;
  }
  NodeConns* node = nullptr;
  if (!resolveTarget(req, &node)) {
    park(req);
    return;
  }
  BackendConn* conn = connFor(node, *req);
  if (conn == nullptr) park(req);
  else conn->enqueue(req);
}

void Worker::forwardBlocking(Request* req) {
  if (req->orphan()) {
    pool_.recycle(req);
    return;
  }
  std::string_view error;
  BackendConn* conn = acquireDedicated(req, req->client, &error);
  if (conn == nullptr && error != errors::kTooManyDedicated) {
    park(req);  // no map yet, or the node is down: wait for a map or node until the deadline
    return;
  }
  if (conn == nullptr) {
    fail(req, error);
    return;
  }
  req->client->useBlockingConn(conn);
  conn->enqueue(req);
}

BackendConn* Worker::acquireDedicated(Request* req, ClientSession* owner, std::string_view* error) {
  NodeConns* node = nullptr;
  if (!resolveTarget(req, &node)) {
    *error = map_ ? errors::kBackendUnreachable : errors::kNoTopology;
    return nullptr;
  }
  BackendConn* conn = nullptr;
  const std::string idle_key = BackendConn::dedicatedKey(node->address, req->proto, req->identity);
  auto idle = idle_dedicated_.find(idle_key);
  if (idle != idle_dedicated_.end() && !idle->second.empty()) {
    conn = idle->second.back();
    idle->second.pop_back();
  } else {
    if (dedicated_.size() >= config_->backend.max_dedicated_connections) {
      *error = errors::kTooManyDedicated;
      return nullptr;
    }
    conn = new BackendConn(*this, node->host, node->port, node->address, req->proto, req->identity);
    conn->dedicated = true;
    dedicated_.push_back(conn);
    conn->connect();
    if (std::find(dedicated_.begin(), dedicated_.end(), conn) == dedicated_.end()) {
      *error = errors::kBackendUnreachable;  // failed synchronously and is already closing
      return nullptr;
    }
  }
  conn->setOwner(owner);
  conn->setRequestTimeout(true);
  return conn;
}

std::string Worker::targetAddress(Request* req) {
  NodeConns* node = nullptr;
  return resolveTarget(req, &node) ? node->address : std::string();
}

void Worker::scheduleResubscribe(ClientSession* session) {
  if (std::find(resubscribe_.begin(), resubscribe_.end(), session) == resubscribe_.end()) {
    resubscribe_.push_back(session);
  }
}

void Worker::releaseDedicated(BackendConn* conn, bool reusable) {
  conn->setOwner(nullptr);
  if (!reusable || draining_) {
    conn->close(false);
    return;
  }
  if (conn->inflight() == 0) returnDedicated(conn);
  else conn->releaseWhenIdle();
}

void Worker::returnDedicated(BackendConn* conn) {
  constexpr size_t kIdlePerNode = 8;
  std::vector<BackendConn*>& idle = idle_dedicated_[conn->idleKey()];
  if (idle.size() >= kIdlePerNode || !conn->usable()) {
    conn->close(false);
    return;
  }
  conn->setRequestTimeout(true);
  idle.push_back(conn);
}

void Worker::complete(Request* req, std::string_view reply_bytes) {
  if (req->parent != nullptr) {
    Request* parent = req->parent;
    FanOut& f = *parent->fanout;
    f.parts[req->part].assign(reply_bytes);
    pool_.recycle(req);
    if (--f.outstanding == 0) {
      std::string merged = mergeFanOut(*parent, *this);
      complete(parent, merged);
    }
    return;
  }
  if (req->client != nullptr) req->client->onReply(req, reply_bytes);
  else pool_.recycle(req);
}

void Worker::fail(Request* req, std::string_view message) {
  stats_.errors_sent.inc();
  std::string bytes;
  resp::appendError(bytes, message);
  complete(req, bytes);
}

// ---- retries --------------------------------------------------------------------------------

void Worker::park(Request* req) {
  if (req->orphan()) {
    pool_.recycle(req);
    return;
  }
  uint64_t now = uv_now(&loop_);
  if (req->deadline_ms == 0) req->deadline_ms = now + config_->backend.retry_deadline.count();
  if (now >= req->deadline_ms) {
    if (!map_) fail(req, errors::kNoTopology);
    else if (req->target == Request::Target::kSlot &&
             map_->masterIndex(static_cast<uint16_t>(req->slot)) == router::SlotMap::kNoNode)
      fail(req, errors::kSlotNotServed);
    else fail(req, errors::kBackendUnreachable);
    return;
  }
  rerouteBySlot(req);
  addParked(req);
}

void Worker::addParked(Request* req) {
  parked_.push(req);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_))) {
    uv_timer_start(&retry_timer_, [](uv_timer_t* h) { fromHandle<Worker>(h)->retryParked(); },
                   kRetryTickMs, kRetryTickMs);
  }
}

// A request redirected to an address goes back to being routed by its slot (the next map).
void Worker::rerouteBySlot(Request* req) {
  if (req->target != Request::Target::kAddress) return;
  req->target = req->slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  req->asking = false;
}

void Worker::retryParked() {
  uint64_t now = uv_now(&loop_);
  Request* r = parked_.takeAll();
  while (r != nullptr) {
    Request* next = r->next_out;
    r->next_out = nullptr;
    if (r->orphan()) pool_.recycle(r);
    else if (r->not_before_ms > now && now < r->deadline_ms) parked_.push(r);
    else {
      r->not_before_ms = 0;
      forward(r);  // keeps a TRYAGAIN request's target (e.g. the ASK node)
    }
    r = next;
  }
  if (parked_.empty()) uv_timer_stop(&retry_timer_);
}

void Worker::redirect(Request* req, std::string_view bytes, const std::string& node_host) {
  if (req->pinned && !req->blocking) {  // inside a transaction: never run it elsewhere
    if (req->client != nullptr) req->client->onTransactionRedirect();
    fail(req, errors::kTransactionMoved);
    return;
  }
  std::string_view text = bytes.substr(1, bytes.size() - 3);  // strip '-' and CRLF
  std::optional<router::Redirect> r = router::parseRedirect(text, node_host);
  if (!r || req->redirects >= config_->backend.max_redirects) {
    complete(req, bytes);  // cannot follow: the client sees the cluster's own error
    return;
  }
  ++req->redirects;
  req->target = Request::Target::kAddress;
  req->address = r->address;
  req->asking = r->kind == router::Redirect::kAsk;
  if (r->kind == router::Redirect::kMoved) {
    stats_.moved.inc();
    uint64_t now = uv_now(&loop_);
    if (now - last_redirect_report_ms_ >= kReportThrottleMs || last_redirect_report_ms_ == 0) {
      last_redirect_report_ms_ = now;
      control_.onRedirectSeen();
    }
  } else {
    stats_.ask.inc();
  }
  forward(req);
}

namespace {

// The second argument of a RESP multibulk request (EVALSHA's sha), or empty.
std::string_view secondArgument(std::string_view payload) {
  size_t pos = payload.find("\r\n");
  for (int i = 0; i < 2 && pos != std::string_view::npos; ++i) {
    const size_t header = pos + 2;
    pos = payload.find("\r\n", header);
    if (pos == std::string_view::npos || header >= payload.size() || payload[header] != '$') break;
    size_t len = 0;
    auto [end, ec] = std::from_chars(payload.data() + header + 1, payload.data() + pos, len);
    if (ec != std::errc() || end != payload.data() + pos || pos + 2 + len > payload.size()) break;
    if (i == 1) return payload.substr(pos + 2, len);
    pos += 2 + len;
  }
  return {};
}

}  // namespace

bool Worker::reloadScript(Request* req, BackendConn* conn) {
  if (req->pinned || req->redirects >= config_->backend.max_redirects) return false;
  if (req->info == nullptr || !req->info->name.starts_with("evalsha")) return false;
  std::optional<std::string> body = ScriptCache::instance().find(secondArgument(req->payload));
  if (!body) return false;
  spdlog::info("backend {}: NOSCRIPT; loading the script and running EVALSHA again",
               conn->address());
  ++req->redirects;
  Request* load = pool_.acquire();
  load->internal = true;
  resp::appendCommand(load->payload, {"SCRIPT", "LOAD", *body});
  conn->enqueue(load);
  conn->enqueue(req);
  return true;
}

void Worker::clusterDown(Request* req, std::string_view bytes) {
  const uint64_t now = uv_now(&loop_);
  if (req->deadline_ms == 0) req->deadline_ms = now + config_->backend.retry_deadline.count();
  if (req->pinned || now >= req->deadline_ms) {
    complete(req, bytes);
    return;
  }
  req->not_before_ms = now + kClusterDownRetryMs;
  rerouteBySlot(req);
  addParked(req);
}

void Worker::tryAgain(Request* req, std::string_view bytes) {
  stats_.tryagain.inc();
  if (req->tryagains >= config_->backend.tryagain_retries || (req->pinned && !req->blocking)) {
    complete(req, bytes);
    return;
  }
  uint64_t now = uv_now(&loop_);
  uint64_t backoff = static_cast<uint64_t>(config_->backend.tryagain_backoff.count()) << req->tryagains;
  ++req->tryagains;
  req->not_before_ms = now + std::max<uint64_t>(backoff, 1);
  if (req->deadline_ms == 0 || req->deadline_ms < req->not_before_ms) {
    req->deadline_ms = req->not_before_ms + config_->backend.retry_deadline.count();
  }
  addParked(req);
}

void Worker::reportTopologyDrift() {
  uint64_t now = uv_now(&loop_);
  if (now - last_redirect_report_ms_ < kReportThrottleMs && last_redirect_report_ms_ != 0) return;
  last_redirect_report_ms_ = now;
  control_.onRedirectSeen();
}

void Worker::reportFailure(const std::string& address) {
  stats_.backend_failures.inc();
  uint64_t now = uv_now(&loop_);
  if (now - last_failure_report_ms_ < kReportThrottleMs && last_failure_report_ms_ != 0) return;
  last_failure_report_ms_ = now;
  control_.onBackendFailure(address);
}

void Worker::onBackendClosed(BackendConn* conn, bool connect_failed) {
  if (conn->dedicated) {
    dedicated_.erase(std::remove(dedicated_.begin(), dedicated_.end(), conn), dedicated_.end());
    auto idle = idle_dedicated_.find(conn->idleKey());
    if (idle != idle_dedicated_.end()) {
      auto& v = idle->second;
      v.erase(std::remove(v.begin(), v.end(), conn), v.end());
    }
  }
  auto it = nodes_.find(conn->address());
  if (it != nodes_.end()) {
    for (BackendConn*& c : it->second->conns) {
      if (c == conn) c = nullptr;
    }
    if (connect_failed) it->second->down_until_ms = uv_now(&loop_) + kNodeDownMs;
  }
  if (conn->dirty) {
    dirty_backends_.erase(std::remove(dirty_backends_.begin(), dirty_backends_.end(), conn),
                          dirty_backends_.end());
    conn->dirty = false;
  }
}

// ---- once per loop turn ---------------------------------------------------------------------

void Worker::markBackendDirty(BackendConn* conn) {
  if (conn->dirty) return;
  conn->dirty = true;
  dirty_backends_.push_back(conn);
  uv_idle_start(&idle_, [](uv_idle_t*) {});
}

void Worker::markClientDirty(ClientSession* session) {
  if (session->dirty) return;
  session->dirty = true;
  dirty_clients_.push_back(session);
  uv_idle_start(&idle_, [](uv_idle_t*) {});
}

// Runs after each poll: writes everything the I/O callbacks of this turn queued, so that many
// clients' requests to one node leave in one write. Flushing a client can resume its reading and
// queue more backend work, hence the bounded rounds; leftovers keep the idle handle active.
void Worker::onCheck() { flushDirty(); }

void Worker::flushDirty() {
  for (int round = 0; round < kMaxFlushRounds; ++round) {
    if (dirty_backends_.empty() && dirty_clients_.empty()) break;
    flushing_backends_.swap(dirty_backends_);
    for (BackendConn* c : flushing_backends_) {
      c->dirty = false;
      c->flush();
    }
    flushing_backends_.clear();
    flushing_clients_.swap(dirty_clients_);
    for (ClientSession* s : flushing_clients_) {
      s->dirty = false;
      s->flush();
    }
    flushing_clients_.clear();
  }
  if (dirty_backends_.empty() && dirty_clients_.empty()) uv_idle_stop(&idle_);
}

std::vector<BackendConn*> Worker::allBackendConns() const {
  std::vector<BackendConn*> conns = dedicated_;
  for (const auto& [address, node] : nodes_) {
    for (BackendConn* c : node->conns) {
      if (c != nullptr) conns.push_back(c);
    }
  }
  return conns;
}

void Worker::onHousekeeping() {
  sampleLoopStats();
  uint64_t now = uv_now(&loop_);
  for (BackendConn* c : allBackendConns()) c->checkTimeouts(now);
  closeIdleClients(now);
  std::vector<ClientSession*> resubscribe;
  resubscribe.swap(resubscribe_);
  for (ClientSession* s : resubscribe) s->resubscribe();
  if (draining_ && (sessions_.empty() || now >= drain_deadline_ms_)) finishShutdown();
}

// libuv re-arms a repeating timer relative to the loop time at which it ran, so the gap between
// two ticks is the period plus this tick's lateness: that lateness is the event-loop lag. The
// session scan is O(clients) every 100 ms, a few pointer reads per client.
void Worker::sampleLoopStats() {
  const uint64_t now_ns = uv_hrtime();
  if (last_housekeeping_ns_ != 0) {
    const double gap_s = static_cast<double>(now_ns - last_housekeeping_ns_) * 1e-9;
    stats_.setLoopLag(gap_s - static_cast<double>(kHousekeepingMs) * 1e-3);
  }
  last_housekeeping_ns_ = now_ns;
  size_t blocked = 0, subscribers = 0;
  for (const ClientSession* s : sessions_) {
    blocked += s->blocked();
    subscribers += s->inPubSub();
  }
  stats_.blocked_clients.set(static_cast<double>(blocked));
  stats_.pubsub_clients.set(static_cast<double>(subscribers));
}

void Worker::closeIdleClients(uint64_t now) {
  auto timeout = static_cast<uint64_t>(config_->limits.client_idle_timeout.count());
  if (timeout == 0) return;
  std::vector<ClientSession*> idle;
  for (ClientSession* s : sessions_) {
    if (s->idleSince(now, timeout)) idle.push_back(s);
  }
  for (ClientSession* s : idle) s->close();
}

void Worker::finishShutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<ClientSession*> sessions = sessions_;
  for (ClientSession* s : sessions) s->close();
  for (BackendConn* c : allBackendConns()) c->close(false);
  for (Request* r = parked_.takeAll(); r != nullptr;) {
    Request* next = r->next_out;
    pool_.recycle(r);
    r = next;
  }
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  close(&check_);
  close(&idle_);
  close(&housekeeping_);
  close(&retry_timer_);
  mailbox_.close();
}

}  // namespace slotwise::proxy
