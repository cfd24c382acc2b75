#include "proxy/datapath/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <memory>
#include <string>

#include "proxy/datapath/client_session.h"
#include "proxy/datapath/errors.h"
#include "proxy/local/local_commands.h"
#include "proxy/stats/key_watch.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kHousekeepingMs = 100;
constexpr int kMaxFlushRounds = 8;
std::atomic<uint32_t> g_next_client_id{1};

template <typename T>
T* fromHandle(void* h) {
  return static_cast<T*>(static_cast<uv_handle_t*>(h)->data);
}

}  // namespace

Worker::Worker(int id, std::shared_ptr<const config::ProxyConfig> config, ControlSink& control,
               std::atomic<int>& total_clients, metrics::Shard& shard,
               const ProxyMetricFamilies& families)
    : id_(id),
      config_(std::move(config)),
      total_clients_(total_clients),
      control_(control),
      stats_(shard, families),
      dispatcher_(&loop_, config_, topology_, pool_, stats_, control),
      backends_(&loop_, config_, topology_, dispatcher_, pool_, stats_, &idle_),
      services_{&loop_,    config_,   stats_,   pool_, dispatcher_,
                backends_, topology_, scratch_, *this} {
  dispatcher_.setPool(&backends_);
  backends_.setTls(control.backendTls());
  client_tls_ = control.clientTls();
  topology_.setReadFrom(config_->backend.read_from);
  if (MigrationState* state = control.migrationState(); state != nullptr) {
    const config::MigrationConfig& m = config_->migration;
    MigrationGate::Options opts;
    opts.migrate_timeout_ms = static_cast<uint64_t>(m.migrate_timeout.count());
    opts.cache_keys = m.moved_key_cache;
    opts.lookup_all = !m.servers.empty();
    opts.target_username = config_->backend.username;
    opts.target_password = config_->backend.password;
    config::UserConfig source_user;
    source_user.backend_username = m.source_username;
    source_user.backend_password = m.source_password;
    opts.source_identity = backends_.identityFor(source_user).value_or(0);
    migration_ = std::make_unique<MigrationGate>(&loop_, dispatcher_, pool_, topology_, *state,
                                                 std::move(opts));
    services_.migration = migration_.get();
  }
}

Worker::~Worker() { join(); }

bool Worker::start() {
  if (uv_loop_init(&loop_) != 0 || mailbox_.init(&loop_) != 0) return false;
  check_.data = idle_.data = housekeeping_.data = pause_timer_.data = this;
  uv_timer_init(&loop_, &pause_timer_);
  uv_check_init(&loop_, &check_);
  uv_check_start(&check_, [](uv_check_t* h) { fromHandle<Worker>(h)->onCheck(); });
  uv_idle_init(&loop_, &idle_);
  uv_timer_init(&loop_, &housekeeping_);
  uv_timer_start(&housekeeping_, [](uv_timer_t* h) { fromHandle<Worker>(h)->onHousekeeping(); },
                 kHousekeepingMs, kHousekeepingMs);
  dispatcher_.init();
  if (migration_) migration_->init();
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
    backends_.setDraining();
    drain_deadline_ms_ = uv_now(&loop_) + drain_ms;
    listener_.reset();
    tls_listener_.reset();
    std::vector<ClientSession*> sessions = sessions_;
    for (ClientSession* s : sessions) s->drain();
    onHousekeeping();
  });
}

// ---- sessions -------------------------------------------------------------------------------

// The acceptor has already counted this client in total_clients_.
void Worker::adoptClient(int fd, bool tls) {
  clients_.fetch_add(1, std::memory_order_relaxed);
  post([this, fd, tls] {
    auto* session = new ClientSession(services_, g_next_client_id.fetch_add(1));
    addSession(session);
    stats_.clients_accepted.inc();
    if (draining_ || session->open(fd, tls ? tlsContext() : nullptr) < 0) session->close();
  });
}

TlsContextPtr Worker::tlsContext() const {
  return client_tls_ != nullptr ? client_tls_->get().ctx : nullptr;
}

void Worker::adoptListener(int fd, bool tls) {
  post([this, fd, tls] {
    uv_tcp_t* listener = (tls ? tls_listener_ : listener_).emplace();
    uv_tcp_init(&loop_, listener);
    listener->data = this;
    int rc = uv_tcp_open(listener, fd);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener),
                     static_cast<int>(config_->tcp_backlog), [](uv_stream_t* server, int status) {
                       if (status == 0) fromHandle<Worker>(server)->acceptOne(server);
                     });
    }
    if (rc < 0) spdlog::error("worker {}: cannot listen: {}", id_, uv_strerror(rc));
  });
}

void Worker::acceptOne(uv_stream_t* server) {
  clients_.fetch_add(1, std::memory_order_relaxed);
  auto* session = new ClientSession(services_, g_next_client_id.fetch_add(1));
  addSession(session);
  const bool tls = tls_listener_ && server == reinterpret_cast<uv_stream_t*>(tls_listener_.get());
  if (session->accept(server, tls ? tlsContext() : nullptr) < 0) {
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
  std::erase(paused_, session);
  stats_.clients.dec();
  clients_.fetch_sub(1, std::memory_order_relaxed);
  total_clients_.fetch_sub(1, std::memory_order_relaxed);
}

// ---- slot map and routing -------------------------------------------------------------------

void Worker::setConfig(std::shared_ptr<const config::ProxyConfig> config) {
  post([this, config = std::move(config)]() mutable {
    config_ = std::move(config);
    topology_.setReadFrom(config_->backend.read_from);
  });
}

void Worker::setUnfitReplicas(router::UnfitReplicas unfit) {
  post([this, unfit = std::move(unfit)]() mutable { topology_.setUnfitReplicas(std::move(unfit)); });
}

void Worker::setSlotMap(router::SlotMapPtr map) {
  post([this, map = std::move(map)]() mutable { installMap(std::move(map)); });
}

void Worker::installMap(router::SlotMapPtr map) {
  const uint64_t before = topology_.ready() ? topology_.fingerprint() : 0;
  topology_.install(std::move(map));
  backends_.onTopologyChanged();
  dispatcher_.onTopologyChanged();
  if (topology_.fingerprint() != before) {  // keyspace-notification subscriptions follow slots
    for (ClientSession* s : sessions_) s->onTopologyChanged();
  }
}

// ---- CLIENT PAUSE ---------------------------------------------------------------------------

// In effect on every worker at once (shared state); the message to every worker only re-arms
// timers and wakes the clients an UNPAUSE releases.
void Worker::requestPause(const ClientPause& pause) {
  control_.sharedPause().set(pause, localNowMs());
  control_.pauseClients(pause);
}

void Worker::waitForUnpause(ClientSession* session) {
  if (std::find(paused_.begin(), paused_.end(), session) == paused_.end()) {
    paused_.push_back(session);
  }
  onPauseTimer();
}

void Worker::onPauseTimer() {
  const uint64_t now = localNowMs();
  const uint64_t until = control_.sharedPause().get().until_ms;
  if (until > now) {
    if (!paused_.empty()) {
      uv_timer_start(
          &pause_timer_, [](uv_timer_t* t) { fromHandle<Worker>(t)->onPauseTimer(); }, until - now,
          0);
    }
    return;
  }
  uv_timer_stop(&pause_timer_);
  std::vector<ClientSession*> paused;
  paused.swap(paused_);
  for (ClientSession* s : paused) s->resumeAfterPause();
}

void Worker::scheduleResubscribe(ClientSession* session) {
  if (std::find(resubscribe_.begin(), resubscribe_.end(), session) == resubscribe_.end()) {
    resubscribe_.push_back(session);
  }
}

// ---- once per loop turn ---------------------------------------------------------------------

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
    const bool backends = backends_.flushDirty();
    if (!flushClients() && !backends) break;
  }
  if (!backends_.hasDirty() && dirty_clients_.empty()) uv_idle_stop(&idle_);
}

bool Worker::flushClients() {
  if (dirty_clients_.empty()) return false;
  flushing_clients_.swap(dirty_clients_);
  for (ClientSession* s : flushing_clients_) {
    s->dirty = false;
    s->flush();
  }
  flushing_clients_.clear();
  return true;
}

void Worker::onHousekeeping() {
  sampleLoopStats();
  uint64_t now = uv_now(&loop_);
  backends_.checkTimeouts(now);
  closeIdleClients(now);
  if (stats_.keywatch != nullptr) stats_.keywatch->tick(static_cast<int64_t>(time(nullptr)));
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

// Idle clients (limits.client_idle_timeout_ms) and TLS clients that do not finish their
// handshake (tls.handshake_timeout_ms) are closed.
void Worker::closeIdleClients(uint64_t now) {
  auto timeout = static_cast<uint64_t>(config_->limits.client_idle_timeout.count());
  auto handshake = static_cast<uint64_t>(config_->tls.handshake_timeout.count());
  if (timeout == 0 && client_tls_ == nullptr) return;
  std::vector<ClientSession*> idle;
  for (ClientSession* s : sessions_) {
    if ((timeout != 0 && s->idleSince(now, timeout)) ||
        (client_tls_ != nullptr && s->handshakeOverdue(now, handshake))) {
      idle.push_back(s);
    }
  }
  if (!idle.empty()) spdlog::debug("worker {}: closing {} idle clients", id_, idle.size());
  for (ClientSession* s : idle) s->close();
}

void Worker::finishShutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<ClientSession*> sessions = sessions_;
  for (ClientSession* s : sessions) s->close();
  listener_.reset();
  tls_listener_.reset();
  backends_.closeAll();
  dispatcher_.close();
  if (migration_) migration_->close();
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  close(&check_);
  close(&idle_);
  close(&pause_timer_);
  close(&housekeeping_);
  mailbox_.close();
}

// ---- CLIENT UNBLOCK ---------------------------------------------------------------------------

void Worker::unblockClient(uint32_t id, bool error, Request* req) {
  auto call = std::make_shared<UnblockCall>();
  call->id = id;
  call->error = error;
  call->caller = this;
  call->req = req;
  call->remaining = control_.workerCount();
  if (call->remaining == 0) {
    answer(req, ":0\r\n");
    return;
  }
  control_.onEveryWorker([call](Worker& w) { w.tryUnblock(call); });
}

void Worker::tryUnblock(const std::shared_ptr<UnblockCall>& call) {
  auto it = std::find_if(sessions_.begin(), sessions_.end(),
                         [&](const ClientSession* s) { return s->id() == call->id; });
  if (it != sessions_.end()) {
    auto reply = [call](std::string bytes) { call->caller->answer(call->req, std::move(bytes)); };
    if ((*it)->unblockOnNode(call->error, reply)) call->claimed = true;
  }
  // The claim is set before this worker's decrement, so the last decrement sees it.
  if (call->remaining.fetch_sub(1) == 1 && !call->claimed) {
    call->caller->answer(call->req, ":0\r\n");
  }
}

// ---- CLIENT LIST / CLIENT KILL ---------------------------------------------------------------

void Worker::queryClients(ClientFilter filter, bool kill, int proto, Request* req) {
  auto call = std::make_shared<ClientsCall>();
  call->filter = std::move(filter);
  call->kill = kill;
  call->proto = proto;
  call->caller = this;
  call->req = req;
  call->remaining = control_.workerCount();
  if (call->remaining == 0) {  // no control thread (unit tests): this worker alone
    call->remaining = 1;
    contributeClients(call);
    return;
  }
  control_.onEveryWorker([call](Worker& w) { w.contributeClients(call); });
}

void Worker::contributeClients(const std::shared_ptr<ClientsCall>& call) {
  const uint64_t now = localNowMs();
  std::vector<ClientSession*> matched;
  std::vector<std::pair<uint32_t, std::string>> lines;
  for (ClientSession* s : sessions_) {
    const ClientRow row = s->row();
    if (!call->filter.matches(row)) continue;
    if (call->kill) matched.push_back(s);
    else lines.emplace_back(s->id(), clientLine(row, now));
  }
  // Killed clients close now, dropping what they wait for, as Redis frees them; the caller
  // itself (old form, or SKIPME no) closes once its reply is written.
  for (ClientSession* s : matched) s->kill(s->id() == call->filter.self_id);
  call->killed += matched.size();
  if (!lines.empty()) {
    std::lock_guard lock(call->mu);
    for (auto& line : lines) call->lines.push_back(std::move(line));
  }
  if (call->remaining.fetch_sub(1) != 1) return;
  std::string reply;
  if (call->kill) {
    reply = clientKillReply(call->filter, call->killed.load());
  } else {
    std::sort(call->lines.begin(), call->lines.end());  // Redis lists clients by id
    std::string text;
    for (const auto& line : call->lines) text += line.second;
    resp::appendText(reply, text, call->proto);
  }
  call->caller->answer(call->req, std::move(reply));
}

void Worker::answer(Request* req, std::string bytes) {
  post([this, req, bytes = std::move(bytes)] { dispatcher_.complete(req, bytes); });
}

}  // namespace slotwise::proxy
