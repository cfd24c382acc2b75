// BackendPool: one worker's connections to the backend nodes.
//
//   shared:     per node, `backend.connections_per_node` pipelined connections for each
//               (credentials identity, protocol) pair; a request picks one by its affinity, so one
//               client's requests to a node keep their order. Created lazily.
//   dedicated:  connections owned by one client (transaction, blocking command, subscriber),
//               outside the shared set; handed back to a per-node idle list when they carry no
//               server-side state, else closed. At most backend.max_dedicated_connections.
//
// The pool resolves a request's target through the Topology (slot/any master) or by address
// (MOVED/ASK), skipping nodes whose last connect failed a moment ago. It batches writes: a
// connection with queued bytes is flushed once per loop turn (flushDirty). Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/topology.h"

namespace slotwise::proxy {

class BackendPool final : public ConnLifecycle, public NodeAvailability {
 public:
  // `config` is the worker's current-config pointer (read at each use, so reloads apply);
  // `callbacks` receives every connection's request outcomes; `flush_pending` is started (a no-op
  // idle handle) while connections wait for flushDirty, so the loop does not block in poll. All
  // references outlive the pool.
  BackendPool(uv_loop_t* loop, const std::shared_ptr<const config::ProxyConfig>& config,
              const Topology& topology, BackendCallbacks& callbacks, RequestPool& requests,
              WorkerStats& stats, uv_idle_t* flush_pending);
  ~BackendPool() override;
  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  // The topology changed: re-indexes the nodes it names.
  // backend.tls: new connections use the slot's current settings (set once, before any).
  void setTls(const TlsContextSlot* tls) { context_.tls = tls; }
  void onTopologyChanged();

  // The shared connection for `req`'s target, identity, protocol and affinity, connecting if
  // needed. @return nullptr when no node can take it now (no topology, no node for the slot,
  // node recently down, or the connect failed at once): the caller parks the request.
  BackendConn* sharedConnFor(const Request& req);
  // "host:port" of the node `req` would be sent to now, or "" if none.
  std::string targetAddress(const Request& req);

  // A connection for `owner`'s exclusive use to the node `req` targets (slot, any master or
  // address), reusing an idle one when possible. @return nullptr if the node is unknown or down
  // or backend.max_dedicated_connections is reached (*error says which: errors.h).
  BackendConn* acquireDedicated(const Request& req, ConnOwner* owner, std::string_view* error);
  // Gives a dedicated connection back. `reusable`: it carries no server-side state (no MULTI,
  // WATCH or pending blocking command), so it may serve another client once idle; else closed.
  void releaseDedicated(BackendConn* conn, bool reusable);

  // Backend credentials, by identity: 0 is backend.username/password of the current config;
  // others come from auth.users entries with backend_username/backend_password.
  // @return the identity of `user`'s credentials (0 when it has none of its own), or nullopt
  //         when 65535 other credentials are already held (reloads adding users).
  std::optional<uint16_t> identityFor(const config::UserConfig& user);

  // Writes every connection with queued bytes. @return true if there were any.
  bool flushDirty();
  bool hasDirty() const { return !dirty_.empty(); }
  // Fails overdue connects and requests (housekeeping).
  void checkTimeouts(uint64_t now);
  // Shutdown: dedicated connections released from now on are closed, not kept idle.
  void setDraining() { draining_ = true; }
  void closeAll();

  // ConnLifecycle
  void onWritePending(BackendConn& conn) override;
  void onClosing(BackendConn& conn, bool connect_failed) override;
  void onIdle(BackendConn& conn) override;
  // NodeAvailability (indexes of topology.nodes())
  bool available(size_t node) const override;

 private:
  struct Node {
    std::string host;
    uint16_t port = 0;
    std::string address;
    // connections_per_node entries per (identity, protocol): index
    // (identity * 2 + (proto == 3)) * connections_per_node + affinity % connections_per_node;
    // grown on demand; nullptr = not connected.
    std::vector<BackendConn*> conns;
    uint64_t down_until_ms = 0;  // after a failed connect, park instead of reconnecting
    // A Redis Cluster node (READONLY on replica reads). Nodes only a redirect named are.
    bool cluster = true;
    bool replica = false;  // a replica in the current topology (READONLY: a client may ask for
                           // replica reads with READONLY even when backend.read_from is master)
  };
  struct Credentials {
    std::string username;
    std::string password;
  };

  const config::ProxyConfig& config() const { return *config_; }
  Node* nodeFor(const std::string& address, const std::string& host, uint16_t port);
  // The node `req` targets and may use now, or nullptr.
  Node* resolve(const Request& req);
  BackendConn* open(const Node& node, uint8_t proto, uint16_t identity);
  std::vector<BackendConn*> allConns() const;
  void sampleInFlight();

  static std::string idleKey(const std::string& address, uint8_t proto, uint16_t identity);

  BackendContext context_;
  uv_idle_t* flush_pending_;
  const std::shared_ptr<const config::ProxyConfig>& config_;
  const Topology& topology_;
  std::unordered_map<std::string, std::unique_ptr<Node>> nodes_;  // by address
  std::vector<Node*> by_index_;  // index = topology node index
  std::vector<BackendConn*> dedicated_;  // every open dedicated connection (owned or idle)
  std::unordered_map<std::string, std::vector<BackendConn*>> idle_dedicated_;
  std::vector<Credentials> identities_{Credentials{}};  // [0] unused: backend.* of the config
  std::vector<BackendConn*> dirty_;
  std::vector<BackendConn*> flushing_;
  bool draining_ = false;
};

}  // namespace slotwise::proxy
