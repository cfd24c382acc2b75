// What a client session uses of its worker: the worker's components as plain references (the
// hot path reads them without virtual calls), and the SessionHost interface for the worker-level
// events. ClientSession includes this header, never worker.h, so the data path's includes stay
// acyclic: worker -> client_session -> {dispatcher, backend_pool} -> backend_conn.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/datapath/backend_pool.h"
#include "proxy/datapath/dispatcher.h"
#include "proxy/datapath/request.h"
#include "proxy/datapath/topology.h"
#include "proxy/local/client_filter.h"
#include "proxy/stats/proxy_metrics.h"
#include "resp/command.h"

namespace slotwise::proxy {

class ClientSession;
class MigrationGate;

// Worker-level events of a session (implemented by Worker). Loop thread only.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // The session has output to write: flush() it once this loop turn.
  virtual void markClientDirty(ClientSession* session) = 0;
  // The session is closing; it leaves the worker's lists (called once).
  virtual void onSessionClosed(ClientSession* session) = 0;
  // Call session->resubscribe() on the next housekeeping tick (until the session closes).
  virtual void scheduleResubscribe(ClientSession* session) = 0;
  // Local commands (INFO, CLIENT LIST): this worker's sessions and id, clients of all workers.
  virtual const std::vector<ClientSession*>& sessions() const = 0;
  virtual int workerId() const = 0;
  virtual int totalClients() const = 0;
  // Blocked clients of all workers (INFO blocked_clients): a session adds 1 when its blocking
  // command starts and -1 when it ends or the session closes while blocked.
  virtual void countBlocked(int delta) { (void)delta; }
  virtual int blockedClients() const { return 0; }
  // CLIENT UNBLOCK <id>: finds the client on whichever worker has it and completes `req` (a
  // request of the caller, on this worker) with the node's :1 / :0, or :0.
  virtual void unblockClient(uint32_t id, bool error, Request* req) = 0;
  // CLIENT LIST (`kill` false) or CLIENT KILL over the clients of every worker that match
  // `filter`; completes `req` (a request of the caller, on this worker) with the reply in the
  // caller's RESP version `proto`.
  virtual void queryClients(ClientFilter filter, bool kill, int proto, Request* req) = 0;
  // CLIENT PAUSE in effect (until_ms 0: none).
  virtual ClientPause clientPause() const { return {}; }
  // CLIENT PAUSE / UNPAUSE from a client of this worker: applied here at once, then on every
  // worker (through the control thread).
  virtual void requestPause(const ClientPause& pause) { (void)pause; }
  // The session waits for the pause to end: resumeAfterPause() once it does (until it closes).
  virtual void waitForUnpause(ClientSession* session) { (void)session; }
};

// Scratch space shared by the sessions of one worker (one command is handled at a time).
struct SessionScratch {
  static constexpr size_t kReadBufferBytes = 64 * 1024;
  resp::Command command;
  std::vector<uint32_t> keys;
  std::vector<Request*> parts;
  std::unordered_map<uint16_t, uint32_t> slot_index;
  // Reads of sessions without buffered input land here (idle clients own no input memory).
  std::unique_ptr<char[]> read_buffer{new char[kReadBufferBytes]};
};

// Owned by the worker; every reference outlives the worker's sessions.
struct SessionServices {
  uv_loop_t* loop;
  const std::shared_ptr<const config::ProxyConfig>& config;  // the config in effect
  WorkerStats& stats;
  RequestPool& requests;
  Dispatcher& dispatcher;
  BackendPool& pool;
  const Topology& topology;
  SessionScratch& scratch;
  SessionHost& host;
  MigrationGate* migration = nullptr;  // set while a `migration:` runs (migration_gate.h)
};

}  // namespace slotwise::proxy
