// Dispatcher: takes a worker's requests to the backend and back. It sends each request to the
// connection the BackendPool picks, receives every connection's outcomes (BackendCallbacks),
// applies the retry policy's decision (retry_policy.h), and completes requests: a fan-out part's
// reply is stored in its parent and merged when the last part arrives, a client request's reply
// goes to its RequestOwner. Requests that cannot be sent now wait in the parked list, retried
// every kRetryTickMs until their deadline.
//
//   forward(req) ──► pool.sharedConnFor ──► BackendConn::enqueue
//        ▲  │ none                                │ onReply / onRequestFailed
//        │  └──► park ──(retry timer)──┐          ▼
//        └─────────────────────────────┴── decideOn*(): deliver ─► complete ─► owner / fan-out
//                                          forward (MOVED/ASK), retry later (TRYAGAIN,
//                                          CLUSTERDOWN), reload script (NOSCRIPT), fail
//
// Loop thread only.
#pragma once

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/backend_pool.h"
#include "proxy/datapath/request.h"
#include "proxy/datapath/topology.h"
#include "proxy/stats/proxy_metrics.h"

namespace slotwise::proxy {

// Events a worker reports to the control thread (implemented by Server; thread-safe).
struct MigrationState;
class Worker;
// CLIENT PAUSE of this proxy instance: while it lasts, the commands of the paused kind of every
// client of every worker wait (ClientSession::waitsForUnpause).
struct ClientPause {
  uint64_t until_ms = 0;  // end, on the localNowMs() clock (steady); 0 = not paused (UNPAUSE)
  bool all = false;       // ALL: every command; else WRITE: commands that may write
};

// The pause every worker reads before running a command: shared, so that a pause is in effect on
// every worker as soon as CLIENT PAUSE is answered. Thread-safe.
class SharedClientPause {
 public:
  ClientPause get() const {
    return {until_ms_.load(std::memory_order_acquire), all_.load(std::memory_order_acquire)};
  }
  // A longer pause extends the current one and ALL outranks WRITE while it lasts (as Redis);
  // until_ms 0 ends it. `now_ms`: the localNowMs() clock.
  void set(const ClientPause& pause, uint64_t now_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t until = until_ms_.load(std::memory_order_relaxed);
    if (pause.until_ms == 0) {
      all_.store(false, std::memory_order_release);
      until_ms_.store(0, std::memory_order_release);
      return;
    }
    const bool running = until > now_ms;
    all_.store(pause.all || (running && all_.load(std::memory_order_relaxed)),
               std::memory_order_release);
    until_ms_.store(running ? std::max(until, pause.until_ms) : pause.until_ms,
                    std::memory_order_release);
  }

 private:
  std::mutex mu_;
  std::atomic<uint64_t> until_ms_{0};
  std::atomic<bool> all_{false};
};

class ControlSink {
 public:
  virtual ~ControlSink() = default;
  // CLIENT PAUSE / UNPAUSE changed `sharedPause()`: every worker re-arms its timer or resumes
  // its waiting clients (Worker::setClientPause).
  virtual void pauseClients(const ClientPause& pause) { (void)pause; }
  SharedClientPause& sharedPause() { return shared_pause_; }
  // Clients of every worker waiting for a blocking command's reply (INFO blocked_clients).
  std::atomic<int>& blockedClients() { return blocked_clients_; }
  // Runs `task` on the loop of every worker (through the control thread): CLIENT UNBLOCK looks
  // for its client on each. workerCount(): how many run it.
  virtual void onEveryWorker(const std::function<void(Worker&)>& task) { (void)task; }
  virtual size_t workerCount() const { return 0; }
  virtual void onRedirectSeen() = 0;
  // A client's CONFIG SET `name` `value` (allowed by default) was +OK on every node: the
  // control thread applies it again to nodes that lack it later (router::NodeSettings).
  virtual void onNodeSettingApplied(const std::string& name, const std::string& value) {
    (void)name, (void)value;
  }
  virtual void onBackendFailure(const std::string& address) = 0;
  // The state of a running online migration (`migration:`), or null when there is none.
  virtual MigrationState* migrationState() { return nullptr; }
  // TLS settings of the client-facing TLS port and of node connections (null: none).
  virtual const TlsContextSlot* clientTls() { return nullptr; }
  virtual const TlsContextSlot* backendTls() { return nullptr; }

 private:
  SharedClientPause shared_pause_;
  std::atomic<int> blocked_clients_{0};
};

class Dispatcher final : public BackendCallbacks {
 public:
  // All references outlive the dispatcher; `config` is the worker's current-config pointer.
  Dispatcher(uv_loop_t* loop, const std::shared_ptr<const config::ProxyConfig>& config,
             const Topology& topology, RequestPool& requests, WorkerStats& stats,
             ControlSink& control);
  ~Dispatcher() override;
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;
  // Set once by the worker right after construction (the pool needs the dispatcher too).
  void setPool(BackendPool* pool) { pool_ = pool; }
  // Starts the retry timer's handle on the loop. REQUIRES: called once before any request.
  void init();

  // Sends `req` where its target says (slot, any master, or a redirect address), parking it when
  // no node can take it now. A pinned request: blocking commands get a (new) dedicated
  // connection; a transaction's request never moves and fails.
  void forward(Request* req);
  // Completes `req` with `reply_bytes`: into its fan-out parent, to its owner, or recycled when
  // nobody waits (orphan).
  void complete(Request* req, std::string_view reply_bytes);
  // Completes `req` with "-<message>\r\n".
  void fail(Request* req, std::string_view message);
  // Asks the control thread for a slot map refresh (throttled): a MOVED was followed, or a node's
  // view of slot ownership differs from this worker's.
  void reportTopologyDrift();
  // Counts a node failure and tells the control thread (throttled).
  void reportFailure(const std::string& address);
  // The topology changed: parked requests are retried at once; redirect reports re-armed.
  void onTopologyChanged();
  // Shutdown: recycles the parked requests and closes the retry timer.
  void close();
  size_t parked() const { return parked_.size(); }

  // BackendCallbacks
  void onReply(BackendConn& conn, Request* req, const resp::ReplyInfo& info,
               std::string_view bytes) override;
  void onRequestFailed(BackendConn& conn, Request* req, ConnFailure why, bool sent) override;
  void onNodeFailure(BackendConn& conn) override;

 private:
  void forwardBlocking(Request* req);
  // No node can take `req` now: parked until its deadline, then failed.
  void park(Request* req);
  void addParked(Request* req);
  void retryParked();
  void reloadScript(BackendConn& conn, Request* req, std::string_view bytes);
  void countReply(const resp::ReplyInfo& info, const BackendConn& conn);

  uv_loop_t* loop_;
  const std::shared_ptr<const config::ProxyConfig>& config_;
  const Topology& topology_;
  RequestPool& requests_;
  WorkerStats& stats_;
  ControlSink& control_;
  BackendPool* pool_ = nullptr;
  uv_timer_t retry_timer_{};
  OutQueue parked_;
  uint64_t last_redirect_report_ms_ = 0;
  uint64_t last_failure_report_ms_ = 0;
};

}  // namespace slotwise::proxy
