#include "proxy/datapath/backend_pool.h"

#include <algorithm>
#include <optional>

#include "common/host_port.h"
#include "proxy/datapath/errors.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kNodeDownMs = 100;   // a node that refused a connect is skipped this long
constexpr size_t kIdlePerNode = 8;      // idle dedicated connections kept per node and identity

template <typename T>
void eraseValue(std::vector<T>& v, const T& value) {
  v.erase(std::remove(v.begin(), v.end(), value), v.end());
}
}  // namespace

BackendPool::BackendPool(uv_loop_t* loop, const std::shared_ptr<const config::ProxyConfig>& config,
                         const Topology& topology, BackendCallbacks& callbacks,
                         RequestPool& requests, WorkerStats& stats, uv_idle_t* flush_pending)
    : context_{loop, &callbacks, this, &requests, &stats},
      flush_pending_(flush_pending),
      config_(config),
      topology_(topology) {}

BackendPool::~BackendPool() = default;

void BackendPool::onTopologyChanged() {
  const std::vector<router::NodeInfo>& nodes = topology_.nodes();
  by_index_.assign(nodes.size(), nullptr);
  for (size_t i = 0; i < nodes.size(); ++i) {
    by_index_[i] = nodeFor(nodes[i].address, nodes[i].host, nodes[i].port);
    by_index_[i]->cluster = nodes[i].cluster;
    by_index_[i]->replica = !nodes[i].is_master;
  }
}

BackendPool::Node* BackendPool::nodeFor(const std::string& address, const std::string& host,
                                        uint16_t port) {
  auto it = nodes_.find(address);
  if (it != nodes_.end()) return it->second.get();
  auto node = std::make_unique<Node>();
  node->host = host;
  node->port = port;
  node->address = address;
  node->conns.assign(2 * (config().backend.connections_per_node + 1), nullptr);  // identity 0
  Node* raw = node.get();
  nodes_.emplace(address, std::move(node));
  return raw;
}

bool BackendPool::available(size_t node) const {
  return node < by_index_.size() && by_index_[node]->down_until_ms <= uv_now(context_.loop);
}

BackendPool::Node* BackendPool::resolve(const Request& req) {
  Node* node = nullptr;
  if (req.target == Request::Target::kAddress) {
    auto it = nodes_.find(req.address);
    if (it != nodes_.end()) {
      node = it->second.get();
    } else {
      const std::optional<HostPort> target = HostPort::parse(req.address);
      if (!target) return nullptr;
      node = nodeFor(req.address, target->host, target->port);
    }
  } else {
    const int index = topology_.select(req, *this);
    if (index == Topology::kNoNode || static_cast<size_t>(index) >= by_index_.size()) {
      return nullptr;
    }
    node = by_index_[index];
  }
  return node->down_until_ms <= uv_now(context_.loop) ? node : nullptr;
}

BackendConn* BackendPool::open(const Node& node, uint8_t proto, uint16_t identity) {
  Handshake h;
  h.proto = proto;
  h.identity = identity;
  if (identity == 0 || identity >= identities_.size()) {
    h.username = config().backend.username;
    h.password = config().backend.password;
  } else {
    h.username = identities_[identity].username;
    h.password = identities_[identity].password;
  }
  // READONLY is a cluster command; a Sentinel group's replicas serve reads without it.
  h.readonly =
      (config().backend.read_from != config::ReadFrom::kMaster || node.replica) && node.cluster;
  return new BackendConn(context_, node.host, node.port, node.address, std::move(h));
}

BackendConn* BackendPool::sharedConnFor(const Request& req) {
  Node* node = resolve(req);
  if (node == nullptr) return nullptr;
  // Slots: per identity, per protocol, the regular connections (connections_per_node, picked by
  // the client's affinity) then one out-of-band connection (SCRIPT KILL / FUNCTION KILL).
  const size_t per_node = config().backend.connections_per_node;
  const size_t stride = per_node + 1;
  const size_t index = (size_t{req.identity} * 2 + (req.proto == 3)) * stride +
                       (req.out_of_band ? per_node : req.affinity % per_node);
  if (index >= node->conns.size()) node->conns.resize((size_t{req.identity} + 1) * 2 * stride);
  BackendConn*& slot = node->conns[index];
  if (slot == nullptr) {
    slot = open(*node, req.proto, req.identity);
    slot->connect();  // may fail synchronously and reset `slot` through onClosing
  }
  return slot;
}

std::string BackendPool::targetAddress(const Request& req) {
  Node* node = resolve(req);
  return node != nullptr ? node->address : std::string();
}

std::string BackendPool::idleKey(const std::string& address, uint8_t proto, uint16_t identity) {
  std::string key = proto == 3 ? address + "#3" : address;
  return identity == 0 ? key : key + "@" + std::to_string(identity);
}

BackendConn* BackendPool::acquireDedicated(const Request& req, ConnOwner* owner,
                                           std::string_view* error) {
  Node* node = resolve(req);
  if (node == nullptr) {
    *error = topology_.ready() ? errors::kBackendUnreachable : errors::kNoTopology;
    return nullptr;
  }
  BackendConn* conn = nullptr;
  auto idle = idle_dedicated_.find(idleKey(node->address, req.proto, req.identity));
  if (idle != idle_dedicated_.end() && !idle->second.empty()) {
    conn = idle->second.back();
    idle->second.pop_back();
  } else {
    if (dedicated_.size() >= config().backend.max_dedicated_connections) {
      *error = errors::kTooManyDedicated;
      return nullptr;
    }
    conn = open(*node, req.proto, req.identity);
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

void BackendPool::releaseDedicated(BackendConn* conn, bool reusable) {
  conn->setOwner(nullptr);
  if (!reusable || draining_) {
    conn->close(false);
    return;
  }
  if (conn->inflight() == 0) onIdle(*conn);
  else conn->releaseWhenIdle();
}

void BackendPool::onIdle(BackendConn& conn) {
  std::vector<BackendConn*>& idle =
      idle_dedicated_[idleKey(conn.address(), conn.proto(), conn.identity())];
  if (idle.size() >= kIdlePerNode || !conn.usable() || draining_) {
    conn.close(false);
    return;
  }
  conn.setRequestTimeout(true);
  idle.push_back(&conn);
}

std::optional<uint16_t> BackendPool::identityFor(const config::UserConfig& user) {
  if (user.backend_username.empty() && user.backend_password.empty()) return 0;
  const config::BackendConfig& b = config().backend;
  Credentials wanted{user.backend_username.empty() ? b.username : user.backend_username,
                     user.backend_password.empty() ? b.password : user.backend_password};
  for (size_t i = 1; i < identities_.size(); ++i) {
    if (identities_[i].username == wanted.username && identities_[i].password == wanted.password) {
      return static_cast<uint16_t>(i);
    }
  }
  if (identities_.size() > 0xffff) return std::nullopt;  // never the default credentials instead
  identities_.push_back(std::move(wanted));
  return static_cast<uint16_t>(identities_.size() - 1);
}

void BackendPool::onWritePending(BackendConn& conn) {
  if (conn.dirty) return;
  conn.dirty = true;
  dirty_.push_back(&conn);
  uv_idle_start(flush_pending_, [](uv_idle_t*) {});
}

bool BackendPool::flushDirty() {
  if (dirty_.empty()) return false;
  flushing_.swap(dirty_);
  for (BackendConn* c : flushing_) {
    c->dirty = false;
    c->flush();
  }
  flushing_.clear();
  return true;
}

void BackendPool::onClosing(BackendConn& conn, bool connect_failed) {
  BackendConn* c = &conn;
  if (conn.dedicated) {
    eraseValue(dedicated_, c);
    auto idle = idle_dedicated_.find(idleKey(conn.address(), conn.proto(), conn.identity()));
    if (idle != idle_dedicated_.end()) eraseValue(idle->second, c);
  }
  auto it = nodes_.find(conn.address());
  if (it != nodes_.end()) {
    for (BackendConn*& slot : it->second->conns) {
      if (slot == c) slot = nullptr;
    }
    if (connect_failed) it->second->down_until_ms = uv_now(context_.loop) + kNodeDownMs;
  }
  if (conn.dirty) {
    eraseValue(dirty_, c);
    conn.dirty = false;
  }
}

std::vector<BackendConn*> BackendPool::allConns() const {
  std::vector<BackendConn*> conns = dedicated_;
  for (const auto& [address, node] : nodes_) {
    for (BackendConn* c : node->conns) {
      if (c != nullptr) conns.push_back(c);
    }
  }
  return conns;
}

void BackendPool::checkTimeouts(uint64_t now) {
  const auto connect_ms = static_cast<uint64_t>(config().backend.connect_timeout.count());
  const auto request_ms = static_cast<uint64_t>(config().backend.request_timeout.count());
  const auto script_ms = static_cast<uint64_t>(config().backend.script_timeout.count());
  for (BackendConn* c : allConns()) c->checkTimeouts(now, connect_ms, request_ms, script_ms);
  sampleInFlight();
}

// slotwise_backend_in_flight_requests{node}: the shared connections' FIFOs per node (dedicated
// connections wait on blocking commands and would read as stuck requests), every tick.
void BackendPool::sampleInFlight() {
  for (const auto& [address, node] : nodes_) {
    size_t in_flight = 0;
    for (const BackendConn* c : node->conns) {
      if (c != nullptr) in_flight += c->inflight();
    }
    context_.stats->node(address).in_flight.set(static_cast<double>(in_flight));
  }
}

void BackendPool::closeAll() {
  draining_ = true;
  for (BackendConn* c : allConns()) c->close(false);
}

}  // namespace slotwise::proxy
