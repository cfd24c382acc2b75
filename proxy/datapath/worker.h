// Worker: one thread running one uv loop. It owns the client sessions it adopted, its own pipelined
// backend connections (workers x nodes x connections_per_node in total), a request pool and its
// copy of the current slot-map pointer. Nothing here is touched by another thread except through
// post() (the mailbox) and the relaxed atomic client counter read by the acceptor.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/io/mailbox.h"
#include "proxy/stats/proxy_metrics.h"
#include "router/replica_health.h"
#include "proxy/datapath/request.h"
#include "resp/command.h"
#include "router/router.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

class BackendConn;
class ClientSession;

// Events a worker reports to the control thread (implemented by Server; thread-safe).
class ControlSink {
 public:
  virtual ~ControlSink() = default;
  virtual void onRedirectSeen() = 0;
  virtual void onBackendFailure(const std::string& address) = 0;
};


class Worker {
 public:
  // `total_clients` is shared by all workers and the acceptor (limits.max_clients).
  Worker(int id, std::shared_ptr<const config::ProxyConfig> config, ControlSink& control,
         std::atomic<int>& total_clients, metrics::Shard& shard,
         const ProxyMetricFamilies& families);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. Returns false if the loop could not be set up.
  bool start();
  // Thread-safe: asks the loop to finish in-flight work up to `deadline_ms`, then close everything.
  void stop(uint64_t drain_ms);
  void join();
  // Thread-safe: runs `task` on this worker's loop.
  void post(Mailbox::Task task) { mailbox_.post(std::move(task)); }
  // Thread-safe: adopts an accepted, non-blocking client socket (ownership of fd moves here).
  void adoptClient(int fd);
  // Thread-safe: installs a new slot-map snapshot.
  void setSlotMap(router::SlotMapPtr map);
  // Thread-safe: the worker switches to `config` on its next loop turn (SIGHUP reload). Limits
  // fixed at accept time (request parser limits) apply to clients accepted after that.
  void setConfig(std::shared_ptr<const config::ProxyConfig> config);
  // Thread-safe: replicas that must not serve reads from the next loop turn (replica_health.h).
  void setUnfitReplicas(router::UnfitReplicas unfit);
  // Thread-safe: adopts a listening socket for accept_mode reuseport (ownership of fd moves here).
  void adoptListener(int fd);
  int clientCount() const { return clients_.load(std::memory_order_relaxed); }
  int id() const { return id_; }

  // ---- loop-thread API used by sessions and backend connections ----
  uv_loop_t* loop() { return &loop_; }
  // The configuration in effect; replaced as a whole by setConfig(), so do not keep the reference
  // across loop turns.
  const config::ProxyConfig& config() const { return *config_; }
  RequestPool& requests() { return pool_; }
  WorkerStats& stats() { return stats_; }
  resp::Command& scratchCommand() { return scratch_cmd_; }
  std::vector<uint32_t>& scratchKeys() { return scratch_keys_; }
  std::vector<Request*>& scratchParts() { return scratch_parts_; }
  char* sharedReadBuffer(size_t* len) {
    *len = kSharedReadBuffer;
    return shared_read_.get();
  }
  bool isSharedReadBuffer(const char* p) const { return p == shared_read_.get(); }
  bool draining() const { return draining_; }
  std::unordered_map<uint16_t, uint32_t>& scratchSlotIndex() { return scratch_slot_index_; }
  // The lowest slot of every master of the current map, ascending (empty without a map). A
  // master is addressed by one of its slots so that a fan-out part follows it through failover.
  const std::vector<uint16_t>& masterSlots() const { return master_slots_; }
  // Local commands (INFO, CLUSTER INFO, CLIENT LIST): clients of every worker, this worker's
  // current map (null before the first) and this worker's live sessions.
  int totalClients() const { return total_clients_.load(std::memory_order_relaxed); }
  const router::SlotMapPtr& slotMap() const { return map_; }
  const std::vector<ClientSession*>& sessions() const { return sessions_; }
  // Hash of the slot -> master-address assignment; equal on every proxy that sees the same map.
  uint64_t topologyFingerprint() const { return fingerprint_; }

  // Sends `req` to where its target says (slot's master, any master, or a redirect address),
  // parking it when no node can take it right now.
  void forward(Request* req);
  // Delivers reply bytes to the request's client (or recycles an orphan).
  void complete(Request* req, std::string_view reply_bytes);
  // Completes `req` with "-<message>\r\n".
  void fail(Request* req, std::string_view message);
  // Holds a request that could not be sent (no map, node unreachable) for a retry until its
  // deadline (backend.retry_deadline_ms after it was first parked).
  void park(Request* req);
  // MOVED/ASK reply `bytes` for `req` from a node on `node_host`.
  void redirect(Request* req, std::string_view bytes, const std::string& node_host);
  // TRYAGAIN reply: retry after a backoff, or pass `bytes` on when the budget is spent.
  void tryAgain(Request* req, std::string_view bytes);
  // `req` got -CLUSTERDOWN (not run: a master is failing over, or the slot is not served): retried
  // every kClusterDownRetryMs until its retry deadline, then completed with `bytes`.
  void clusterDown(Request* req, std::string_view bytes);
  // `req` (EVALSHA/EVALSHA_RO) got -NOSCRIPT from `conn`: when the script cache knows the body,
  // queues SCRIPT LOAD and then `req` again on `conn` and returns true (costs one redirect of
  // the request's budget); else returns false and the caller completes `req` with the error.
  bool reloadScript(Request* req, BackendConn* conn);

  // Backend credentials, by identity: 0 is backend.username/password (read from the current
  // config); others come from auth.users entries with backend_username/backend_password.
  struct Credentials {
    std::string username;
    std::string password;
  };
  // @return the identity of `user`'s backend credentials (0 when it has none of its own), or
  //         nullopt when the worker already holds 65535 other credentials (reloads adding users).
  std::optional<uint16_t> identityFor(const config::UserConfig& user);
  Credentials credentialsOf(uint16_t identity) const;
  void reportFailure(const std::string& address);
  // A node's view of slot ownership differs from this worker's map (SCAN's check): asks the
  // control thread for a refresh, throttled like MOVED reports.
  void reportTopologyDrift();
  // A connection for `owner`'s exclusive use to the node `req` targets (slot, any master or
  // address), reusing an idle one when possible. @return nullptr if the node is unknown or down
  // or backend.max_dedicated_connections is reached (*error says which).
  BackendConn* acquireDedicated(Request* req, ClientSession* owner, std::string_view* error);
  // Gives a dedicated connection back. `reusable`: it carries no server-side state (no MULTI,
  // WATCH or pending blocking command), so it may serve another client once idle; else closed.
  void releaseDedicated(BackendConn* conn, bool reusable);
  // "host:port" of the node `req` would be sent to now, or "" if none.
  std::string targetAddress(Request* req);
  // Calls session->resubscribe() on the next housekeeping tick (until the session closes).
  void scheduleResubscribe(ClientSession* session);
  // Called by a released connection once its last in-flight reply arrived.
  void returnDedicated(BackendConn* conn);
  void markBackendDirty(BackendConn* conn);
  void markClientDirty(ClientSession* session);
  // `connect_failed`: the node did not accept a connection; it is skipped for a short while.
  void onBackendClosed(BackendConn* conn, bool connect_failed);
  void onSessionClosed(ClientSession* session);

 private:
  static constexpr size_t kSharedReadBuffer = 64 * 1024;
  struct NodeConns {
    std::string host;
    uint16_t port = 0;
    std::string address;
    // connections_per_node slots per (identity, protocol): index
    // (identity * 2 + (proto == 3)) * connections_per_node + affinity % connections_per_node;
    // grown on demand; nullptr = not connected.
    std::vector<BackendConn*> conns;
    uint64_t down_until_ms = 0;       // after a failed connect, park instead of reconnecting
  };

  void run();
  void onCheck();
  void onHousekeeping();
  // Per-tick observability: event-loop lag of this tick, blocked and pub/sub client gauges.
  void sampleLoopStats();
  std::vector<BackendConn*> allBackendConns() const;
  void forwardBlocking(Request* req);
  void closeIdleClients(uint64_t now);
  void retryParked();
  // Queues `req` for retryParked() (which runs every kRetryTickMs while any request waits).
  void addParked(Request* req);
  static void rerouteBySlot(Request* req);
  void installMap(router::SlotMapPtr map);
  void beginShutdown();
  void finishShutdown();
  void acceptOne(uv_stream_t* server);
  void addSession(ClientSession* session);
  void flushDirty();
  NodeConns* nodeFor(const std::string& address, const std::string& host, uint16_t port);
  BackendConn* connFor(NodeConns* node, const Request& req);
  // kSlot requests: the slot's master, or for replica_ok requests one of its replicas per
  // backend.read_from. nullptr when the map has no such node.
  NodeConns* slotTarget(const Request& req);
  bool resolveTarget(Request* req, NodeConns** node);

  const int id_;
  std::shared_ptr<const config::ProxyConfig> config_;
  ControlSink& control_;
  uv_loop_t loop_{};
  std::thread thread_;
  Mailbox mailbox_;
  uv_check_t check_{};
  uv_timer_t housekeeping_{};
  uv_timer_t retry_timer_{};
  uv_tcp_t* listener_ = nullptr;  // reuseport mode only
  std::atomic<int> clients_{0};
  std::atomic<int>& total_clients_;
  uv_idle_t idle_{};  // active while flush lists are non-empty, so poll does not block

  router::SlotMapPtr map_;
  std::vector<NodeConns*> by_node_;  // index = SlotMap node index
  std::unordered_map<std::string, std::unique_ptr<NodeConns>> nodes_;
  std::vector<BackendConn*> dirty_backends_;
  std::vector<ClientSession*> dirty_clients_;
  std::vector<ClientSession*> sessions_;  // all live sessions (for shutdown)
  std::vector<BackendConn*> dedicated_;   // every open dedicated connection (owned or idle)
  std::vector<ClientSession*> resubscribe_;  // sessions waiting to subscribe again
  std::unordered_map<std::string, std::vector<BackendConn*>> idle_dedicated_;
  std::vector<Credentials> identities_{Credentials{}};
  router::UnfitReplicas unfit_replicas_;  // null until the control thread first judged the replicas
  OutQueue parked_;
  RequestPool pool_;
  WorkerStats stats_;
  resp::Command scratch_cmd_;
  std::vector<uint32_t> scratch_keys_;
  std::unordered_map<uint16_t, uint32_t> scratch_slot_index_;
  std::vector<Request*> scratch_parts_;
  std::vector<uint16_t> master_slots_;
  uint64_t fingerprint_ = 0;
  std::unique_ptr<char[]> shared_read_;
  uint32_t next_master_ = 0;
  uint64_t last_redirect_report_ms_ = 0;
  uint64_t last_failure_report_ms_ = 0;
  std::vector<BackendConn*> flushing_backends_;
  std::vector<ClientSession*> flushing_clients_;
  bool draining_ = false;
  bool shut_down_ = false;
  uint64_t drain_deadline_ms_ = 0;
  uint64_t last_housekeeping_ns_ = 0;  // uv_hrtime() of the previous housekeeping tick
};

}  // namespace slotwise::proxy
