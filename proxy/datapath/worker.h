// The data path: one worker thread per core, each with its own libuv loop, sessions and backend
// connections; nothing on it is shared with another thread except through the mailbox.
//
//   client ──RESP──► ClientSession ──route──► Dispatcher ──► BackendPool ──► BackendConn ──► node
//        ◄── replies in request order ◄── RequestOwner::onReply ◄── retry policy ◄── replies
//
// Files: worker (thread, loop, accept, once-per-turn flush, housekeeping), client_session (one
// client: parse, dispatch, ordered replies; its transaction, blocking and pub/sub state in
// transaction.h and pubsub_session.h), dispatcher + retry_policy (where a request goes and what a
// reply or failure means for it), backend_pool + backend_conn (connections), topology +
// slot_map_topology (which node serves what), fanout (multi-node split and merge), request
// (the request object and its pool).
//
// Worker owns the client sessions it adopted, its own pipelined backend connections
// (workers x nodes x connections_per_node in total), a request pool and its copy of the current
// topology. Nothing here is touched by another thread except through post() (the mailbox) and
// the relaxed atomic client counter read by the acceptor.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/datapath/backend_pool.h"
#include "proxy/datapath/dispatcher.h"
#include "proxy/datapath/migration_gate.h"
#include "proxy/datapath/request.h"
#include "proxy/datapath/session_host.h"
#include "proxy/datapath/slot_map_topology.h"
#include "proxy/io/mailbox.h"
#include "proxy/io/uv_handle.h"
#include "proxy/local/client_filter.h"
#include "proxy/stats/proxy_metrics.h"
#include "router/replica_health.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

class ClientSession;

// One CLIENT UNBLOCK in search of its client on every worker: the worker that has it answers
// (later, with the node's reply); else the last worker to look answers :0.
struct UnblockCall {
  uint32_t id = 0;
  bool error = false;  // ERROR (else TIMEOUT)
  Worker* caller = nullptr;
  Request* req = nullptr;  // the caller's request, touched on the caller's loop only
  std::atomic<size_t> remaining{0};
  std::atomic<bool> claimed{false};
};

// One CLIENT LIST or CLIENT KILL over every worker: each adds its matching clients (and closes
// them for KILL); the last one to finish has the caller's worker answer `req`.
struct ClientsCall {
  ClientFilter filter;
  bool kill = false;
  int proto = 2;  // the caller's RESP version (CLIENT LIST is a verbatim string in RESP3)
  Worker* caller = nullptr;
  Request* req = nullptr;  // the caller's request, touched on the caller's loop only
  std::atomic<size_t> remaining{0};
  std::atomic<uint64_t> killed{0};
  std::mutex mu;
  std::vector<std::pair<uint32_t, std::string>> lines;  // (client id, CLIENT LIST line); mu
};

class Worker final : public SessionHost {
 public:
  // `total_clients` is shared by all workers and the acceptor (limits.max_clients).
  Worker(int id, std::shared_ptr<const config::ProxyConfig> config, ControlSink& control,
         std::atomic<int>& total_clients, metrics::Shard& shard,
         const ProxyMetricFamilies& families);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Before start(): the key placement to route with until the first slot map arrives.
  void setInitialPlacement(router::KeyPlacement placement) {
    topology_.setInitialPlacement(std::move(placement));
  }
  // Starts the thread. Returns false if the loop could not be set up.
  bool start();
  // Thread-safe: asks the loop to finish in-flight work up to `drain_ms`, then close everything.
  void stop(uint64_t drain_ms);
  void join();
  // Thread-safe: runs `task` on this worker's loop.
  void post(Mailbox::Task task) { mailbox_.post(std::move(task)); }
  // Thread-safe: adopts an accepted, non-blocking client socket (ownership of fd moves here).
  // The caller has counted the client in total_clients. `tls`: it came in on the TLS port.
  void adoptClient(int fd, bool tls = false);
  // Thread-safe: installs a new slot-map snapshot.
  void setSlotMap(router::SlotMapPtr map);
  // Thread-safe: the worker switches to `config` on its next loop turn (SIGHUP reload). Limits
  // fixed at accept time (request parser limits) apply to clients accepted after that.
  void setConfig(std::shared_ptr<const config::ProxyConfig> config);
  // Thread-safe: CLIENT PAUSE / UNPAUSE of the whole proxy changed (ControlSink::sharedPause):
  // on the next loop turn the pause timer is re-armed, or the waiting clients resume.
  void setClientPause(const ClientPause&) {
    post([this] { onPauseTimer(); });
  }
  // Thread-safe: replicas that must not serve reads from the next loop turn (replica_health.h).
  void setUnfitReplicas(router::UnfitReplicas unfit);
  // Thread-safe: adopts a listening socket for accept_mode reuseport (ownership of fd moves here);
  // `tls`: the TLS port's.
  void adoptListener(int fd, bool tls = false);
  int clientCount() const { return clients_.load(std::memory_order_relaxed); }
  int id() const { return id_; }
  // Loop thread, or any thread after join(): requests not yet recycled (0 after shutdown).
  const RequestPool& requests() const { return pool_; }

  // SessionHost
  void markClientDirty(ClientSession* session) override;
  void onSessionClosed(ClientSession* session) override;
  void scheduleResubscribe(ClientSession* session) override;
  const std::vector<ClientSession*>& sessions() const override { return sessions_; }
  int workerId() const override { return id_; }
  int totalClients() const override { return total_clients_.load(std::memory_order_relaxed); }
  ClientPause clientPause() const override { return control_.sharedPause().get(); }
  void countBlocked(int delta) override {
    control_.blockedClients().fetch_add(delta, std::memory_order_relaxed);
  }
  int blockedClients() const override {
    return control_.blockedClients().load(std::memory_order_relaxed);
  }
  void unblockClient(uint32_t id, bool error, Request* req) override;
  // CLIENT UNBLOCK from any worker: unblocks `call`'s client if it lives here (worker.cc).
  void tryUnblock(const std::shared_ptr<UnblockCall>& call);
  void queryClients(ClientFilter filter, bool kill, int proto, Request* req) override;
  // CLIENT LIST / KILL from any worker: this worker's part of `call` (worker.cc).
  void contributeClients(const std::shared_ptr<ClientsCall>& call);
  // Thread-safe: completes `req`, a request of this worker's client, with `bytes`.
  void answer(Request* req, std::string bytes);
  void requestPause(const ClientPause& pause) override;
  void waitForUnpause(ClientSession* session) override;

 private:
  void run();
  void onCheck();
  void onHousekeeping();
  // Per-tick observability: event-loop lag of this tick, blocked and pub/sub client gauges.
  void sampleLoopStats();
  void closeIdleClients(uint64_t now);
  void installMap(router::SlotMapPtr map);
  // Re-arms the pause timer while the shared pause lasts; else resumes the waiting clients.
  void onPauseTimer();
  void finishShutdown();
  void acceptOne(uv_stream_t* server);
  // The client-facing TLS context new TLS clients get (the slot's current one).
  TlsContextPtr tlsContext() const;
  void addSession(ClientSession* session);
  void flushDirty();
  bool flushClients();

  const int id_;
  std::shared_ptr<const config::ProxyConfig> config_;
  uv_loop_t loop_{};
  std::thread thread_;
  Mailbox mailbox_;
  uv_check_t check_{};
  uv_timer_t housekeeping_{};
  uv_idle_t idle_{};  // active while flush lists are non-empty, so poll does not block
  UvOwned<uv_tcp_t> listener_;                  // reuseport mode only
  UvOwned<uv_tcp_t> tls_listener_;              // reuseport mode with tls.listen
  const TlsContextSlot* client_tls_ = nullptr;  // tls.listen: the server's slot
  std::atomic<int> clients_{0};
  std::atomic<int>& total_clients_;
  ControlSink& control_;

  // Declaration order is construction order: each component refers to those above it.
  RequestPool pool_;
  WorkerStats stats_;
  SlotMapTopology topology_;
  Dispatcher dispatcher_;
  BackendPool backends_;
  SessionScratch scratch_;
  std::unique_ptr<MigrationGate> migration_;  // only while a `migration:` runs
  SessionServices services_;

  std::vector<ClientSession*> sessions_;  // all live sessions (for shutdown)
  std::vector<ClientSession*> dirty_clients_;
  std::vector<ClientSession*> flushing_clients_;
  std::vector<ClientSession*> resubscribe_;  // sessions waiting to subscribe again
  uv_timer_t pause_timer_{};                 // fires when the CLIENT PAUSE ends
  std::vector<ClientSession*> paused_;       // sessions waiting for it to end
  bool draining_ = false;
  bool shut_down_ = false;
  uint64_t drain_deadline_ms_ = 0;
  uint64_t last_housekeeping_ns_ = 0;  // uv_hrtime() of the previous housekeeping tick
};

}  // namespace slotwise::proxy
