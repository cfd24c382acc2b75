// RedisClusterHarness: a real Redis Cluster on loopback, built the way redis-cli --cluster create
// and Redis's own test suite do it (SET-CONFIG-EPOCH, ADDSLOTSRANGE, MEET, REPLICATE), then
// polled until every node agrees. Nothing here sleeps for a fixed time to synchronise.
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include "common/host_port.h"
#include "tests/support/child_process.h"
#include "tests/support/redis_harness.h"

namespace slotwise::test {

using resp::RespValue;
using Millis = std::chrono::milliseconds;

struct RedisClusterHarness::NodeProc {
  uint16_t port = 0;
  std::vector<std::string> args;  // cluster arguments passed to every start
  RedisServerProcess proc;
  std::string id;
  bool master = true;
};

namespace {

constexpr int kSlots = 16384;
constexpr Millis kMeetTimeout{30000};
constexpr Millis kStartTimeout{20000};
constexpr Millis kFailoverTimeout{20000};
constexpr int kMigrateBatch = 100;

struct SlotRange {
  int64_t start = 0;
  int64_t end = 0;
  uint16_t master = 0;
  std::vector<uint16_t> replicas;
};

struct NodesLine {
  std::string id;
  uint16_t port = 0;
  std::string flags;
};

// Value of `field` in an INFO-style "field:value\r\n" text; empty if absent.
std::string infoField(const std::string& text, const std::string& field) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return line.substr(field.size() + 1);
    }
  }
  return "";
}

// Port of one CLUSTER SLOTS node entry [ip, port, id, ...]; 0 if malformed.
uint16_t entryPort(const RespValue& entry) {
  if (!entry.isAggregate() || entry.elements.size() < 2) return 0;
  const RespValue& port = entry.elements[1];
  return port.type == resp::ValueType::kInteger ? static_cast<uint16_t>(port.integer) : 0;
}

// CLUSTER SLOTS reply → ranges sorted by start; nullopt if it is an error or malformed.
std::optional<std::vector<SlotRange>> parseClusterSlots(const RespValue& reply) {
  if (reply.type != resp::ValueType::kArray) return std::nullopt;
  std::vector<SlotRange> ranges;
  for (const RespValue& item : reply.elements) {
    if (item.elements.size() < 3) return std::nullopt;
    SlotRange r{item.elements[0].integer, item.elements[1].integer, entryPort(item.elements[2]),
                {}};
    for (size_t i = 3; i < item.elements.size(); ++i) {
      r.replicas.push_back(entryPort(item.elements[i]));
    }
    std::sort(r.replicas.begin(), r.replicas.end());
    ranges.push_back(std::move(r));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const SlotRange& a, const SlotRange& b) { return a.start < b.start; });
  return ranges;
}

std::string describe(const std::vector<SlotRange>& ranges) {
  std::ostringstream out;
  for (const SlotRange& r : ranges) {
    out << r.start << "-" << r.end << ":" << r.master;
    for (uint16_t rep : r.replicas) out << "," << rep;
    out << " ";
  }
  return out.str();
}

// CLUSTER NODES text → one entry per line ("<id> <ip:port@cport[,host]> <flags> ...").
std::vector<NodesLine> parseClusterNodes(const std::string& text) {
  std::vector<NodesLine> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    NodesLine n;
    std::string addr;
    if (!(fields >> n.id >> addr >> n.flags)) continue;
    const std::optional<HostPort> endpoint =
        HostPort::parse(std::string_view(addr).substr(0, addr.find('@')));
    if (endpoint) n.port = endpoint->port;
    lines.push_back(std::move(n));
  }
  return lines;
}

bool hasFlag(const std::string& flags, std::string_view flag) {
  std::istringstream in(flags);
  std::string f;
  while (std::getline(in, f, ',')) {
    if (f == flag) return true;
  }
  return false;
}

std::string textOf(const RespValue& reply) { return reply.isString() ? reply.str : ""; }

// Command-line arguments of a cluster node. Besides the cluster basics:
//  - no replica migration, so roles change only when a test asks for it;
//  - diskless full sync without the default 5s delay, so replicas link at once;
//  - masters ping replicas every second: Redis 7 leaves a replica out of CLUSTER SLOTS until its
//    gossiped replication offset is non-zero, which on an idle master takes one replica ping
//    (10s by default).
std::vector<std::string> clusterArgs(uint16_t port, const RedisClusterHarness::Options& options) {
  const std::string p = std::to_string(port);
  std::vector<std::string> args = {
      "--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + p + ".conf",
      "--cluster-node-timeout", std::to_string(options.node_timeout_ms),
      "--cluster-port", std::to_string(port + 10000),
      "--cluster-allow-replica-migration", "no",
      "--repl-diskless-sync-delay", "0",
      "--repl-ping-replica-period", "1"};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  return args;
}

}  // namespace

RedisClusterHarness::RedisClusterHarness() : dir_(std::make_unique<TempDir>("slotwise-it-")) {}

RedisClusterHarness::~RedisClusterHarness() {
  clients_.clear();
  // Signal everyone first so the nodes shut down in parallel, then reap each by PID.
  for (auto& node : nodes_) {
    if (node->proc.running()) ::kill(node->proc.pid(), SIGTERM);
  }
  nodes_.clear();
}

const std::string& RedisClusterHarness::dir() const { return dir_->path(); }

bool RedisClusterHarness::ok(const RespValue& reply, const std::string& what) {
  if (!reply.isError()) return true;
  error_ = what + ": " + reply.str;
  std::cerr << "RedisClusterHarness: " << error_ << "\n";
  return false;
}

RedisClusterHarness::NodeProc* RedisClusterHarness::find(uint16_t port) {
  for (auto& node : nodes_) {
    if (node->port == port) return node.get();
  }
  return nullptr;
}

SyncRedisClient& RedisClusterHarness::client(uint16_t port) {
  if (find(port) == nullptr) return dummy_client_;
  std::unique_ptr<SyncRedisClient>& c = clients_[port];
  if (!c) c = std::make_unique<SyncRedisClient>();
  if (!c->connected()) c->connect("127.0.0.1", port, Millis(1000));
  return *c;
}

bool RedisClusterHarness::startNode(NodeProc& node) {
  if (node.proc.start(node.port, dir_->path(), node.args)) return true;
  error_ = "node " + std::to_string(node.port) + ": " + node.proc.error();
  return false;
}

bool RedisClusterHarness::start(const Options& options) {
  options_ = options;
  const int total = options.masters * (1 + options.replicas_per_master);
  if (!redisServerAvailable()) error_ = "/usr/bin/redis-server not found";
  if (dir_->path().empty()) error_ = "cannot create a temporary directory";
  if (options.masters < 1 || options.replicas_per_master < 0) error_ = "bad options";
  if (!error_.empty() || !nodes_.empty()) return ok(RespValue::error(error_), "start");
  for (int i = 0; i < total; ++i) {
    auto node = std::make_unique<NodeProc>();
    node->port = pickFreePort();
    node->master = i < options.masters;
    node->args = clusterArgs(node->port, options);
    if (!startNode(*node)) return false;
    nodes_.push_back(std::move(node));
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i]->id = nodeId(nodes_[i]->port);
    if (nodes_[i]->id.empty()) return false;
    const RespValue r = client(nodes_[i]->port).command(
        {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)});
    if (!ok(r, "SET-CONFIG-EPOCH")) return false;
  }
  if (!assignSlots() || !meetAll() || !attachReplicas()) return false;
  const bool ready = waitFor([this] { return replicasLinked() && allStateOk(); }, kStartTimeout);
  if (!ready) {
    return ok(RespValue::error("cluster did not become consistent in 20s:\n" + describeState()),
              "start");
  }
  return true;
}

std::string RedisClusterHarness::nodeId(uint16_t port) {
  const RespValue r = client(port).command({"CLUSTER", "MYID"});
  if (!ok(r, "CLUSTER MYID on " + std::to_string(port))) return "";
  return r.str;
}

bool RedisClusterHarness::assignSlots() {
  const int m = options_.masters;
  for (int i = 0; i < m; ++i) {
    const std::string first = std::to_string(i * kSlots / m);
    const std::string last = std::to_string((i + 1) * kSlots / m - 1);
    const RespValue r =
        client(nodes_[i]->port).command({"CLUSTER", "ADDSLOTSRANGE", first, last});
    if (!ok(r, "ADDSLOTSRANGE " + first + " " + last)) return false;
  }
  return true;
}

bool RedisClusterHarness::meetAll() {
  SyncRedisClient& first = client(nodes_[0]->port);
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const std::string p = std::to_string(nodes_[i]->port);
    const std::string bus = std::to_string(nodes_[i]->port + 10000);
    if (!ok(first.command({"CLUSTER", "MEET", "127.0.0.1", p, bus}), "CLUSTER MEET " + p)) {
      return false;
    }
  }
  // Every node must know every other one (past the handshake) before REPLICATE can name ids.
  // A handshake that does not finish within the node timeout (a loaded CI machine) makes the
  // node forget the peer for good, so a node that still misses a peer after a second is
  // introduced to it again; CLUSTER MEET of a peer already in handshake is a no-op.
  auto last_meet = std::chrono::steady_clock::now();
  std::string state;
  const bool met = waitFor(
      [&] {
        bool all = true;
        std::vector<std::pair<size_t, uint16_t>> missing;  // (node index, peer port)
        state.clear();
        for (size_t i = 0; i < nodes_.size(); ++i) {
          const std::vector<NodesLine> lines =
              parseClusterNodes(textOf(client(nodes_[i]->port).command({"CLUSTER", "NODES"})));
          state += std::to_string(nodes_[i]->port) + ":";
          for (const auto& peer : nodes_) {
            bool known = false;
            for (const NodesLine& l : lines) {
              if (l.port != peer->port) continue;
              known = !hasFlag(l.flags, "handshake") && !hasFlag(l.flags, "noaddr");
              state += " " + std::to_string(l.port) + "(" + l.flags + ")";
            }
            if (!known) {
              all = false;
              missing.emplace_back(i, peer->port);
            }
          }
          state += "\n";
        }
        if (all) return true;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_meet >= Millis(1000)) {
          last_meet = now;
          for (const auto& [i, port] : missing) {
            client(nodes_[i]->port)
                .command({"CLUSTER", "MEET", "127.0.0.1", std::to_string(port),
                          std::to_string(port + 10000)});
          }
        }
        return false;
      },
      kMeetTimeout);
  return met || ok(RespValue::error("nodes did not meet within " +
                                    std::to_string(kMeetTimeout.count() / 1000) + "s:\n" + state),
                   "CLUSTER MEET");
}

bool RedisClusterHarness::attachReplicas() {
  const size_t m = static_cast<size_t>(options_.masters);
  for (size_t i = m; i < nodes_.size(); ++i) {
    const NodeProc& master = *nodes_[(i - m) % m];
    const RespValue r =
        client(nodes_[i]->port).command({"CLUSTER", "REPLICATE", master.id});
    if (!ok(r, "CLUSTER REPLICATE on " + std::to_string(nodes_[i]->port))) return false;
  }
  return true;
}

bool RedisClusterHarness::replicasLinked() {
  for (size_t i = static_cast<size_t>(options_.masters); i < nodes_.size(); ++i) {
    const RespValue info = client(nodes_[i]->port).command({"INFO", "replication"});
    if (infoField(textOf(info), "master_link_status") != "up") return false;
  }
  const auto view = parseClusterSlots(client(nodes_[0]->port).command({"CLUSTER", "SLOTS"}));
  if (!view) return false;
  for (const SlotRange& r : *view) {
    if (r.replicas.size() != static_cast<size_t>(options_.replicas_per_master)) return false;
  }
  return true;
}

std::string RedisClusterHarness::slotsView(uint16_t port) {
  const auto ranges = parseClusterSlots(client(port).command({"CLUSTER", "SLOTS"}));
  return ranges ? describe(*ranges) : "";
}

bool RedisClusterHarness::allStateOk() {
  std::string reference;
  bool first = true;
  for (auto& node : nodes_) {
    if (!node->proc.running()) continue;
    const RespValue info = client(node->port).command({"CLUSTER", "INFO"});
    if (infoField(textOf(info), "cluster_state") != "ok") return false;
    const std::string view = slotsView(node->port);
    if (view.empty() || (!first && view != reference)) return false;
    reference = view;
    first = false;
  }
  return !first;
}

std::string RedisClusterHarness::describeState() {
  std::ostringstream out;
  for (auto& node : nodes_) {
    out << "  node " << node->port << (node->proc.running() ? "" : " (not running)");
    if (node->proc.running()) {
      SyncRedisClient& c = client(node->port);
      out << ": " << infoField(textOf(c.command({"CLUSTER", "INFO"})), "cluster_state") << ", "
          << infoField(textOf(c.command({"INFO", "replication"})), "role") << ", link "
          << infoField(textOf(c.command({"INFO", "replication"})), "master_link_status")
          << ", slots " << slotsView(node->port);
    }
    out << "\n";
  }
  return out.str();
}

bool RedisClusterHarness::waitForConsistent(Millis timeout) {
  return waitFor([this] { return allStateOk(); }, timeout);
}

bool RedisClusterHarness::waitFor(const std::function<bool()>& cond, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(20));
  }
}

std::vector<RedisClusterHarness::Node> RedisClusterHarness::nodes() {
  for (auto& node : nodes_) {
    if (!node->proc.running()) continue;
    const RespValue reply = client(node->port).command({"CLUSTER", "NODES"});
    if (reply.isError()) continue;
    for (const NodesLine& line : parseClusterNodes(textOf(reply))) {
      if (NodeProc* known = find(line.port)) {
        known->id = line.id;
        known->master = hasFlag(line.flags, "master");
      }
    }
    break;
  }
  std::vector<Node> out;
  for (auto& node : nodes_) {
    const bool running = node->proc.running();
    out.push_back({node->port, node->id, node->master, running ? node->proc.pid() : -1, running});
  }
  return out;
}

std::vector<std::string> RedisClusterHarness::seedAddresses() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back("127.0.0.1:" + std::to_string(node->port));
  return out;
}

uint16_t RedisClusterHarness::masterPortForSlot(uint16_t slot) {
  for (const Node& node : nodes()) {
    if (!node.running || !node.master) continue;
    const auto ranges = parseClusterSlots(client(node.port).command({"CLUSTER", "SLOTS"}));
    if (!ranges) continue;
    for (const SlotRange& r : *ranges) {
      if (slot >= r.start && slot <= r.end) return r.master;
    }
    return 0;
  }
  return 0;
}

uint16_t RedisClusterHarness::keySlot(std::string_view key) {
  const size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  uint16_t crc = 0;  // CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0
  for (const char c : key) {
    crc ^= static_cast<uint16_t>(static_cast<uint8_t>(c) << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc & (kSlots - 1);
}

bool RedisClusterHarness::beginMigration(uint16_t slot, uint16_t from_port, uint16_t to_port) {
  NodeProc* from = find(from_port);
  NodeProc* to = find(to_port);
  if (from == nullptr || to == nullptr) return ok(RespValue::error("unknown port"), "migration");
  const std::string s = std::to_string(slot);
  return ok(client(to_port).command({"CLUSTER", "SETSLOT", s, "IMPORTING", from->id}),
            "SETSLOT IMPORTING on " + std::to_string(to_port)) &&
         ok(client(from_port).command({"CLUSTER", "SETSLOT", s, "MIGRATING", to->id}),
            "SETSLOT MIGRATING on " + std::to_string(from_port));
}

int RedisClusterHarness::migrateKeys(uint16_t slot, uint16_t from_port, uint16_t to_port,
                                     int max_keys) {
  if (find(from_port) == nullptr || find(to_port) == nullptr) {
    ok(RespValue::error("unknown port"), "migrateKeys");
    return -1;
  }
  const RespValue keys = client(from_port).command(
      {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(max_keys)});
  if (!ok(keys, "GETKEYSINSLOT")) return -1;
  if (keys.elements.empty()) return 0;
  std::vector<std::string> cmd = {"MIGRATE", "127.0.0.1", std::to_string(to_port), "", "0",
                                  "5000",    "REPLACE",   "KEYS"};
  for (const RespValue& k : keys.elements) cmd.push_back(k.str);
  if (!ok(client(from_port).command(cmd), "MIGRATE")) return -1;
  return static_cast<int>(keys.elements.size());
}

bool RedisClusterHarness::finishMigration(uint16_t slot, uint16_t from_port, uint16_t to_port) {
  NodeProc* to = find(to_port);
  if (to == nullptr || find(from_port) == nullptr) {
    return ok(RespValue::error("unknown port"), "finishMigration");
  }
  const std::vector<std::string> cmd = {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", to->id};
  // Target first (it bumps its epoch and owns the slot), then the source, then the rest.
  if (!ok(client(to_port).command(cmd), "SETSLOT NODE on target") ||
      !ok(client(from_port).command(cmd), "SETSLOT NODE on source")) {
    return false;
  }
  for (const Node& node : nodes()) {
    if (!node.running || !node.master || node.port == to_port || node.port == from_port) continue;
    if (!ok(client(node.port).command(cmd), "SETSLOT NODE on " + std::to_string(node.port))) {
      return false;
    }
  }
  return true;
}

bool RedisClusterHarness::moveSlot(uint16_t slot, uint16_t from_port, uint16_t to_port) {
  if (!beginMigration(slot, from_port, to_port)) return false;
  while (true) {
    const int moved = migrateKeys(slot, from_port, to_port, kMigrateBatch);
    if (moved < 0) return false;
    if (moved == 0) break;
  }
  return finishMigration(slot, from_port, to_port);
}

bool RedisClusterHarness::killNode(uint16_t port, int sig) {
  NodeProc* node = find(port);
  if (node == nullptr || !node->proc.running()) return false;
  clients_.erase(port);
  node->proc.kill(sig);
  return true;
}

bool RedisClusterHarness::restartNode(uint16_t port) {
  NodeProc* node = find(port);
  if (node == nullptr || node->proc.running()) {
    return ok(RespValue::error("unknown or running node " + std::to_string(port)), "restart");
  }
  clients_.erase(port);
  return startNode(*node);
}

bool RedisClusterHarness::failover(uint16_t replica_port, bool force) {
  if (find(replica_port) == nullptr) return ok(RespValue::error("unknown port"), "failover");
  std::vector<std::string> cmd = {"CLUSTER", "FAILOVER"};
  if (force) cmd.push_back("FORCE");
  if (!ok(client(replica_port).command(cmd), "CLUSTER FAILOVER")) return false;
  const bool promoted = waitFor(
      [&] {
        SyncRedisClient& c = client(replica_port);
        const RespValue role = c.command({"ROLE"});
        if (role.elements.empty() || role.elements[0].str != "master") return false;
        for (const NodesLine& l : parseClusterNodes(textOf(c.command({"CLUSTER", "NODES"})))) {
          if (hasFlag(l.flags, "myself")) return hasFlag(l.flags, "master");
        }
        return false;
      },
      kFailoverTimeout);
  if (!promoted) return ok(RespValue::error("replica was not promoted within 20s"), "failover");
  nodes();  // refresh cached roles
  return true;
}

}  // namespace slotwise::test
