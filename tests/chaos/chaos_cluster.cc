// ChaosCluster: topology operations and checks of the chaos test on top of RedisClusterHarness.
#include "tests/chaos/chaos_cluster.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "tests/support/child_process.h"

namespace slotwise::test {
namespace {

using Millis = std::chrono::milliseconds;
using resp::RespValue;
using resp::ValueType;

constexpr const char* kRedisCli = "/usr/bin/redis-cli";
constexpr Millis kPollPause{50};
constexpr size_t kLogTail = 1500;

struct SlotRange {
  int64_t start = 0;
  int64_t end = 0;
  std::vector<int64_t> ports;  // master first, then replicas sorted
};

std::string textOf(const RespValue& reply) { return reply.isString() ? reply.str : ""; }

// Value of `field` in "field:value" lines (INFO output); empty if absent.
std::string infoField(const std::string& text, const std::string& field) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return "";
}

int64_t entryPort(const RespValue& entry) {
  if (!entry.isAggregate() || entry.elements.size() < 2) return -1;
  return entry.elements[1].type == ValueType::kInteger ? entry.elements[1].integer : -1;
}

// CLUSTER SLOTS → ranges sorted by start; empty if the reply is an error or malformed.
std::vector<SlotRange> parseSlots(const RespValue& reply) {
  std::vector<SlotRange> ranges;
  if (reply.type != ValueType::kArray) return ranges;
  for (const RespValue& item : reply.elements) {
    if (item.elements.size() < 3) return {};
    SlotRange r{item.elements[0].integer, item.elements[1].integer, {entryPort(item.elements[2])}};
    std::vector<int64_t> replicas;
    for (size_t i = 3; i < item.elements.size(); ++i) {
      replicas.push_back(entryPort(item.elements[i]));
    }
    std::sort(replicas.begin(), replicas.end());
    r.ports.insert(r.ports.end(), replicas.begin(), replicas.end());
    ranges.push_back(std::move(r));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const SlotRange& a, const SlotRange& b) { return a.start < b.start; });
  return ranges;
}

std::string readTail(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  const std::string text = out.str();
  return text.size() <= kLogTail ? text : text.substr(text.size() - kLogTail);
}

// Same cluster settings as the harness's own nodes (see redis_cluster_harness.cc clusterArgs).
std::vector<std::string> extraNodeArgs(uint16_t port, int node_timeout_ms) {
  const std::string p = std::to_string(port);
  return {"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + p + ".conf",
          "--cluster-node-timeout", std::to_string(node_timeout_ms),
          "--cluster-port", std::to_string(port + 10000),
          "--cluster-allow-replica-migration", "no",
          "--repl-diskless-sync-delay", "0",
          "--repl-ping-replica-period", "1"};
}

// One CLUSTER NODES line has a flag or a slot in migration that makes the view unsettled.
bool unsettledLine(const std::string& line) {
  std::istringstream fields(line);
  std::string id, addr, flags;
  fields >> id >> addr >> flags;
  for (const char* bad : {"handshake", "noaddr", "fail", "fail?"}) {
    std::istringstream f(flags);
    std::string flag;
    while (std::getline(f, flag, ',')) {
      if (flag == bad) return true;
    }
  }
  return line.find("->-") != std::string::npos || line.find("-<-") != std::string::npos;
}

}  // namespace

ChaosCluster::ChaosCluster(RedisClusterHarness& harness, int node_timeout_ms)
    : harness_(harness), node_timeout_ms_(node_timeout_ms) {}

ChaosCluster::~ChaosCluster() {
  extra_client_.reset();
  if (extra_) extra_->stop();
}

SyncRedisClient& ChaosCluster::clientOf(uint16_t port) {
  if (extra_ && extra_->port() == port) {
    if (!extra_client_->connected()) extra_client_->connect("127.0.0.1", port, Millis(1000));
    return *extra_client_;
  }
  return harness_.client(port);
}

std::vector<uint16_t> ChaosCluster::runningPorts() {
  std::vector<uint16_t> ports;
  for (const RedisClusterHarness::Node& n : harness_.nodes()) {
    if (n.running) ports.push_back(n.port);
  }
  if (extra_ && extra_->running()) ports.push_back(extra_->port());
  return ports;
}

std::map<uint16_t, int> ChaosCluster::slotCounts() {
  std::map<uint16_t, int> counts;
  for (uint16_t port : runningPorts()) {
    const std::vector<SlotRange> ranges = parseSlots(clientOf(port).command({"CLUSTER", "SLOTS"}));
    if (ranges.empty()) continue;
    for (const SlotRange& r : ranges) {
      counts[static_cast<uint16_t>(r.ports[0])] += static_cast<int>(r.end - r.start + 1);
    }
    break;
  }
  return counts;
}

std::bitset<kClusterSlots> ChaosCluster::slotsOf(uint16_t master_port) {
  std::bitset<kClusterSlots> slots;
  for (uint16_t port : runningPorts()) {
    const std::vector<SlotRange> ranges = parseSlots(clientOf(port).command({"CLUSTER", "SLOTS"}));
    if (ranges.empty()) continue;
    for (const SlotRange& r : ranges) {
      if (r.ports[0] != master_port) continue;
      for (int64_t s = r.start; s <= r.end && s < kClusterSlots; ++s) slots.set(s);
    }
    break;
  }
  return slots;
}

uint16_t ChaosCluster::onlineReplicaOf(uint16_t master_port) {
  const std::string info = textOf(clientOf(master_port).command({"INFO", "replication"}));
  for (int i = 0;; ++i) {
    const std::string entry = infoField(info, "slave" + std::to_string(i));
    if (entry.empty()) return 0;
    const size_t port_at = entry.find("port=");
    if (port_at == std::string::npos || entry.find("state=online") == std::string::npos) continue;
    const auto port = static_cast<uint16_t>(std::atoi(entry.c_str() + port_at + 5));
    if (isLinkedReplica(port, master_port)) return port;
  }
}

bool ChaosCluster::isMaster(uint16_t port) {
  return infoField(textOf(clientOf(port).command({"INFO", "replication"})), "role") == "master";
}

bool ChaosCluster::isLinkedReplica(uint16_t port, uint16_t master_port) {
  const std::string info = textOf(clientOf(port).command({"INFO", "replication"}));
  return infoField(info, "role") == "slave" &&
         infoField(info, "master_port") == std::to_string(master_port) &&
         infoField(info, "master_link_status") == "up";
}

bool ChaosCluster::runRedisCli(const std::vector<std::string>& args, const std::string& log_name,
                               Millis timeout) {
  std::vector<std::string> argv = {kRedisCli};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log_path = harness_.dir() + "/" + log_name;
  std::string spawn_error;
  const pid_t pid = spawnChild(argv, log_path, &spawn_error);
  if (pid < 0) {
    error_ = "cannot start redis-cli: " + spawn_error;
    return false;
  }
  const std::optional<int> status = reapChild(pid, timeout);
  if (!status) {
    terminateChild(pid, Millis(1000));
    error_ = "redis-cli did not finish in time; output tail:\n" + readTail(log_path);
    return false;
  }
  if (exitCodeOf(*status) != 0) {
    error_ = "redis-cli exited with " + std::to_string(exitCodeOf(*status)) +
             "; output tail:\n" + readTail(log_path);
    return false;
  }
  return true;
}

uint16_t ChaosCluster::addEmptyMaster(Millis timeout) {
  if (extra_) {
    error_ = "an extra node was already added";
    return 0;
  }
  const uint16_t port = pickFreePort();
  extra_ = std::make_unique<RedisServerProcess>();
  extra_client_ = std::make_unique<SyncRedisClient>();
  if (!extra_->start(port, harness_.dir(), extraNodeArgs(port, node_timeout_ms_))) {
    error_ = "extra node: " + extra_->error();
    return 0;
  }
  const std::vector<uint16_t> ports = runningPorts();
  const RespValue meet = clientOf(port).command(
      {"CLUSTER", "MEET", "127.0.0.1", std::to_string(ports.front()),
       std::to_string(ports.front() + 10000)});
  if (meet.isError()) {
    error_ = "CLUSTER MEET: " + meet.str;
    return 0;
  }
  if (!harness_.waitFor([this] { return allKnowEachOther(); }, timeout)) {
    error_ = "the added node was not known to every node in time:\n" + describe();
    return 0;
  }
  return port;
}

void ChaosCluster::stopExtra() {
  if (!extra_) return;
  extra_client_->close();
  extra_->stop();
}

std::string ChaosCluster::nodeId(uint16_t port) {
  const RespValue id = clientOf(port).command({"CLUSTER", "MYID"});
  return id.isError() ? std::string() : id.str;
}

bool ChaosCluster::allKnowEachOther() {
  const std::vector<uint16_t> ports = runningPorts();
  for (uint16_t port : ports) {
    const std::string nodes = textOf(clientOf(port).command({"CLUSTER", "NODES"}));
    std::istringstream in(nodes);
    std::string line;
    size_t count = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (unsettledLine(line)) return false;
      ++count;
    }
    if (count != ports.size()) return false;
  }
  return true;
}

std::string ChaosCluster::slotsView(uint16_t port) {
  std::ostringstream out;
  for (const SlotRange& r : parseSlots(clientOf(port).command({"CLUSTER", "SLOTS"}))) {
    out << r.start << "-" << r.end << ":";
    for (int64_t p : r.ports) out << p << ",";
    out << " ";
  }
  return out.str();
}

bool ChaosCluster::consistent() {
  std::string reference;
  const std::vector<uint16_t> ports = runningPorts();
  for (uint16_t port : ports) {
    SyncRedisClient& c = clientOf(port);
    if (infoField(textOf(c.command({"CLUSTER", "INFO"})), "cluster_state") != "ok") return false;
    const std::string view = slotsView(port);
    if (view.empty() || (!reference.empty() && view != reference)) return false;
    reference = view;
  }
  return !ports.empty() && allKnowEachOther();
}

bool ChaosCluster::waitConsistent(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!consistent()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      error_ = "cluster not consistent within " + std::to_string(timeout.count()) + " ms:\n" +
               describe();
      return false;
    }
    std::this_thread::sleep_for(kPollPause);
  }
  return true;
}

std::string ChaosCluster::describe() {
  std::ostringstream out;
  for (uint16_t port : runningPorts()) {
    SyncRedisClient& c = clientOf(port);
    const std::string repl = textOf(c.command({"INFO", "replication"}));
    out << "  node " << port << ": "
        << infoField(textOf(c.command({"CLUSTER", "INFO"})), "cluster_state") << ", "
        << infoField(repl, "role") << " (master_port " << infoField(repl, "master_port")
        << ", link " << infoField(repl, "master_link_status") << "), slots " << slotsView(port)
        << "\n";
  }
  return out.str();
}

}  // namespace slotwise::test
