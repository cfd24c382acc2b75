// RedisSentinelGroup: data nodes and Sentinels as RedisServerProcess children, polled until every
// Sentinel agrees on the topology. Nothing here sleeps for a fixed time to synchronise.
#include "tests/support/redis_sentinel_harness.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace slotwise::test {

using resp::RespValue;
using Millis = std::chrono::milliseconds;

struct RedisSentinelGroup::Proc {
  bool sentinel = false;
  std::string name;  // master set of a data node
  uint16_t port = 0;
  std::string myid;  // Sentinel ID
  std::vector<std::string> args;
  RedisServerProcess proc;
};

namespace {

constexpr const char* kSentinelBinary = "/usr/bin/redis-sentinel";
constexpr const char* kServerBinary = "/usr/bin/redis-server";
constexpr Millis kSyncTimeout{15000};
constexpr Millis kSettleTimeout{20000};
constexpr Millis kClientTimeout{1000};

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

std::string scalarText(const RespValue& v) {
  if (v.type == resp::ValueType::kInteger) return std::to_string(v.integer);
  return v.str;
}

// A random 40-hex-digit Sentinel ID.
std::string randomSentinelId() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 40; ++i) id.push_back(kHex[rng() % 16]);
  return id;
}

std::string textOf(const RespValue& reply) { return reply.isString() ? reply.str : ""; }

// Port of a SENTINEL GET-MASTER-ADDR-BY-NAME reply; 0 if it is not [ip, port].
uint16_t addrReplyPort(const RespValue& reply) {
  if (!reply.isAggregate() || reply.elements.size() != 2) return 0;
  const Result<uint16_t> port = HostPort::parsePort(scalarText(reply.elements[1]));
  return port ? *port : 0;
}

}  // namespace

std::map<std::string, std::string> sentinelFields(const RespValue& entry) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < entry.elements.size(); i += 2) {
    out[scalarText(entry.elements[i])] = scalarText(entry.elements[i + 1]);
  }
  return out;
}

bool redisSentinelAvailable() {
  return access(kSentinelBinary, X_OK) == 0 && access(kServerBinary, X_OK) == 0;
}

RedisSentinelGroup::RedisSentinelGroup() : dir_(std::make_unique<TempDir>("slotwise-sentinel-")) {}

RedisSentinelGroup::~RedisSentinelGroup() {
  clients_.clear();
  // Signal everyone first so they shut down in parallel, then reap each by PID.
  for (auto* list : {&sentinels_, &nodes_}) {
    for (auto& p : *list) {
      if (p->proc.running()) ::kill(p->proc.pid(), SIGTERM);
    }
  }
  sentinels_.clear();
  nodes_.clear();
}

const std::string& RedisSentinelGroup::dir() const { return dir_->path(); }

bool RedisSentinelGroup::fail(const std::string& message) {
  error_ = message;
  std::cerr << "RedisSentinelGroup: " << error_ << "\n";
  return false;
}

RedisSentinelGroup::Proc* RedisSentinelGroup::find(uint16_t port) {
  for (auto* list : {&nodes_, &sentinels_}) {
    for (auto& p : *list) {
      if (p->port == port) return p.get();
    }
  }
  return nullptr;
}

std::vector<std::string> RedisSentinelGroup::sentinelAuth() const {
  if (options_.sentinel_password.empty()) return {};
  if (options_.sentinel_user.empty()) return {"AUTH", options_.sentinel_password};
  return {"AUTH", options_.sentinel_user, options_.sentinel_password};
}

SyncRedisClient& RedisSentinelGroup::client(uint16_t port) {
  Proc* p = find(port);
  if (p == nullptr) return dummy_client_;
  std::unique_ptr<SyncRedisClient>& c = clients_[port];
  if (!c) {
    c = std::make_unique<SyncRedisClient>();
    c->setCommandTimeout(kClientTimeout);
  }
  if (!c->connected() && c->connect("127.0.0.1", port, kClientTimeout)) {
    const std::vector<std::string> auth =
        p->sentinel
            ? sentinelAuth()
            : (options_.password.empty() ? std::vector<std::string>{}
                                         : std::vector<std::string>{"AUTH", options_.password});
    if (!auth.empty() && c->command(auth).isError()) c->close();
  }
  return *c;
}

std::string RedisSentinelGroup::sentinelConfig(size_t index) const {
  const Options& o = options_;
  std::ostringstream conf;
  conf << "sentinel myid " << sentinels_[index]->myid << "\n";
  if (!o.sentinel_password.empty()) {
    conf << "requirepass " << o.sentinel_password << "\n";
    conf << "sentinel sentinel-pass " << o.sentinel_password << "\n";
    if (!o.sentinel_user.empty()) {
      conf << "user " << o.sentinel_user << " on >" << o.sentinel_password << " ~* &* +@all\n";
      conf << "sentinel sentinel-user " << o.sentinel_user << "\n";
    }
  }
  for (const std::string& name : o.names) {
    conf << "sentinel monitor " << name << " 127.0.0.1 " << nodePorts(name).front() << " "
         << o.quorum << "\n";
    conf << "sentinel down-after-milliseconds " << name << " " << o.down_after_ms << "\n";
    conf << "sentinel failover-timeout " << name << " " << o.failover_timeout_ms << "\n";
    conf << "sentinel parallel-syncs " << name << " 1\n";
    if (!o.password.empty()) conf << "sentinel auth-pass " << name << " " << o.password << "\n";
    for (size_t j = 0; j < sentinels_.size(); ++j) {
      if (j == index) continue;
      conf << "sentinel known-sentinel " << name << " 127.0.0.1 " << sentinels_[j]->port << " "
           << sentinels_[j]->myid << "\n";
    }
  }
  for (const std::string& line : o.extra_sentinel_config) conf << line << "\n";
  return conf.str();
}

bool RedisSentinelGroup::startProc(Proc& p) {
  if (p.proc.start(p.port, dir_->path(), p.args)) return true;
  return fail((p.sentinel ? "sentinel " : "node ") + std::to_string(p.port) + ": " +
              p.proc.error());
}

bool RedisSentinelGroup::start(const Options& options) {
  options_ = options;
  if (!redisSentinelAvailable()) return fail("redis-sentinel/redis-server not installed");
  if (dir_->path().empty()) return fail("cannot create a temporary directory");
  if (options.names.empty() || options.replicas < 0 || options.sentinels < 1 ||
      options.quorum < 1 ||
      std::set<std::string>(options.names.begin(), options.names.end()).size() !=
          options.names.size()) {
    return fail("bad options");
  }
  if (!nodes_.empty() || !sentinels_.empty()) return fail("start() called twice");

  // Data nodes: per group a master, then its replicas.
  std::vector<std::string> node_args = {"--repl-diskless-sync-delay", "0"};
  RedisServerProcess::Launch node_launch;
  if (!options.password.empty()) {
    node_args.insert(node_args.end(),
                     {"--requirepass", options.password, "--masterauth", options.password});
    node_launch.auth = {"AUTH", options.password};
  }
  node_args.insert(node_args.end(), options.extra_node_args.begin(), options.extra_node_args.end());
  for (const std::string& name : options.names) {
    uint16_t master_port = 0;
    for (int i = 0; i <= options.replicas; ++i) {
      auto p = std::make_unique<Proc>();
      p->name = name;
      p->port = pickFreePort();
      p->args = node_args;
      if (i == 0) {
        master_port = p->port;
      } else {
        p->args.insert(p->args.end(), {"--replicaof", "127.0.0.1", std::to_string(master_port)});
      }
      p->proc.setLaunch(node_launch);
      nodes_.push_back(std::move(p));
      if (!startProc(*nodes_.back())) return false;
    }
  }
  if (!waitFor([this] { return replicasInSync(); }, kSyncTimeout)) {
    return fail("replicas did not sync within 15s:\n" + describeState());
  }

  // Sentinels: IDs and ports first, since every sentinel.conf names all of them.
  for (int i = 0; i < options.sentinels; ++i) {
    auto p = std::make_unique<Proc>();
    p->sentinel = true;
    p->port = pickFreePort();
    p->myid = randomSentinelId();
    sentinels_.push_back(std::move(p));
  }
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    Proc& s = *sentinels_[i];
    const std::string conf_path = dir_->path() + "/sentinel-" + std::to_string(s.port) + ".conf";
    std::ofstream(conf_path) << sentinelConfig(i);
    RedisServerProcess::Launch launch;
    launch.program = options.use_sentinel_binary ? kSentinelBinary : kServerBinary;
    launch.config_file = conf_path;
    launch.auth = sentinelAuth();
    s.proc.setLaunch(std::move(launch));
    if (!options.use_sentinel_binary) s.args.push_back("--sentinel");
    if (!startProc(s)) return false;
  }
  if (!waitForSettled(kSettleTimeout)) {
    return fail("sentinels did not settle within 20s:\n" + describeState());
  }
  return true;
}

bool RedisSentinelGroup::replicasInSync() {
  for (auto& p : nodes_) {
    const std::string info = textOf(client(p->port).command({"INFO", "replication"}));
    const bool master = p->port == nodePorts(p->name).front();
    if (master) {
      if (infoField(info, "connected_slaves") != std::to_string(options_.replicas)) return false;
      for (int i = 0; i < options_.replicas; ++i) {
        if (infoField(info, "slave" + std::to_string(i)).find("state=online") ==
            std::string::npos) {
          return false;
        }
      }
    } else if (infoField(info, "master_link_status") != "up") {
      return false;
    }
  }
  return true;
}

bool RedisSentinelGroup::settled() {
  std::vector<Proc*> live_sentinels;
  for (auto& s : sentinels_) {
    if (s->proc.running()) live_sentinels.push_back(s.get());
  }
  if (live_sentinels.empty()) return false;
  for (const std::string& name : options_.names) {
    uint16_t master = 0;
    for (Proc* s : live_sentinels) {
      SyncRedisClient& c = client(s->port);
      const uint16_t m = addrReplyPort(c.command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name}));
      if (m == 0 || (master != 0 && m != master)) return false;
      master = m;
      if (sentinelFields(c.command({"SENTINEL", "MASTER", name}))["flags"] != "master") {
        return false;
      }
      std::map<uint16_t, std::map<std::string, std::string>> replicas;
      for (const RespValue& e : c.command({"SENTINEL", "REPLICAS", name}).elements) {
        auto fields = sentinelFields(e);
        replicas[static_cast<uint16_t>(std::atoi(fields["port"].c_str()))] = fields;
      }
      for (const uint16_t port : nodePorts(name)) {
        if (port == m || !running(port)) continue;
        auto it = replicas.find(port);
        if (it == replicas.end() || it->second["flags"] != "slave" ||
            it->second["master-link-status"] != "ok" ||
            it->second["master-port"] != std::to_string(m)) {
          return false;
        }
      }
      std::map<uint16_t, std::string> others;
      for (const RespValue& e : c.command({"SENTINEL", "SENTINELS", name}).elements) {
        auto fields = sentinelFields(e);
        others[static_cast<uint16_t>(std::atoi(fields["port"].c_str()))] = fields["flags"];
      }
      for (Proc* other : live_sentinels) {
        if (other != s && others[other->port] != "sentinel") return false;
      }
    }
    if (!running(master) || role(master) != "master") return false;
    const std::vector<uint16_t> ports = nodePorts(name);
    if (std::find(ports.begin(), ports.end(), master) == ports.end()) return false;
  }
  return true;
}

bool RedisSentinelGroup::waitForSettled(Millis timeout) {
  return waitFor([this] { return settled(); }, timeout);
}

std::vector<std::string> RedisSentinelGroup::sentinelAddresses() const {
  std::vector<std::string> out;
  for (const auto& s : sentinels_) out.push_back("127.0.0.1:" + std::to_string(s->port));
  return out;
}

std::vector<uint16_t> RedisSentinelGroup::sentinelPorts() const {
  std::vector<uint16_t> out;
  for (const auto& s : sentinels_) out.push_back(s->port);
  return out;
}

std::vector<uint16_t> RedisSentinelGroup::nodePorts(const std::string& name) const {
  std::vector<uint16_t> out;
  for (const auto& p : nodes_) {
    if (p->name == name) out.push_back(p->port);
  }
  return out;
}

std::optional<HostPort> RedisSentinelGroup::masterAddress(const std::string& name,
                                                          uint16_t sentinel_port) {
  for (auto& s : sentinels_) {
    if (sentinel_port != 0 ? s->port != sentinel_port : !s->proc.running()) continue;
    const RespValue reply = client(s->port).command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name});
    const uint16_t port = addrReplyPort(reply);
    if (port != 0) return HostPort{scalarText(reply.elements[0]), port};
  }
  return std::nullopt;
}

uint16_t RedisSentinelGroup::masterPort(const std::string& name) {
  const std::optional<HostPort> address = masterAddress(name);
  return address ? address->port : 0;
}

std::string RedisSentinelGroup::role(uint16_t port) {
  const RespValue reply = client(port).command({"ROLE"});
  return reply.isAggregate() && !reply.elements.empty() ? reply.elements[0].str : "";
}

bool RedisSentinelGroup::running(uint16_t port) {
  Proc* p = find(port);
  return p != nullptr && p->proc.running();
}

bool RedisSentinelGroup::failover(const std::string& name, uint16_t sentinel_port) {
  for (auto& s : sentinels_) {
    if (sentinel_port != 0 ? s->port != sentinel_port : !s->proc.running()) continue;
    const RespValue reply = client(s->port).command({"SENTINEL", "FAILOVER", name});
    if (reply.isError()) return fail("SENTINEL FAILOVER " + name + ": " + reply.str);
    return true;
  }
  return fail("no running sentinel" +
              (sentinel_port != 0 ? " on port " + std::to_string(sentinel_port) : ""));
}

uint16_t RedisSentinelGroup::waitForNewMaster(const std::string& name, uint16_t old_master_port,
                                              Millis timeout) {
  uint16_t result = 0;
  const bool ok = waitFor(
      [&] {
        uint16_t agreed = 0;
        for (auto& s : sentinels_) {
          if (!s->proc.running()) continue;
          const uint16_t m = masterAddress(name, s->port).value_or(HostPort{}).port;
          if (m == 0 || m == old_master_port || (agreed != 0 && m != agreed)) return false;
          agreed = m;
        }
        if (agreed == 0 || role(agreed) != "master") return false;
        result = agreed;
        return true;
      },
      timeout);
  return ok ? result : 0;
}

bool RedisSentinelGroup::killNode(uint16_t port, int sig) {
  Proc* p = find(port);
  if (p == nullptr || !p->proc.running()) return false;
  clients_.erase(port);
  p->proc.kill(sig);
  return true;
}

bool RedisSentinelGroup::restartNode(uint16_t port) {
  Proc* p = find(port);
  if (p == nullptr || p->proc.running()) {
    return fail("unknown or running node " + std::to_string(port));
  }
  clients_.erase(port);
  return startProc(*p);
}

bool RedisSentinelGroup::waitFor(const std::function<bool()>& cond, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(20));
  }
}

std::string RedisSentinelGroup::describeState() {
  std::ostringstream out;
  for (auto& p : nodes_) {
    out << "  node " << p->port << " [" << p->name << "]";
    if (!p->proc.running()) {
      out << " (not running)\n";
      continue;
    }
    const std::string info = textOf(client(p->port).command({"INFO", "replication"}));
    out << ": role " << infoField(info, "role") << ", link "
        << infoField(info, "master_link_status") << ", master_port "
        << infoField(info, "master_port") << ", connected_slaves "
        << infoField(info, "connected_slaves") << "\n";
  }
  for (auto& s : sentinels_) {
    out << "  sentinel " << s->port;
    if (!s->proc.running()) {
      out << " (not running)\n";
      continue;
    }
    for (const std::string& name : options_.names) {
      auto fields = sentinelFields(client(s->port).command({"SENTINEL", "MASTER", name}));
      out << " [" << name << ": master " << fields["port"] << " flags " << fields["flags"]
          << " replicas " << fields["num-slaves"] << " sentinels " << fields["num-other-sentinels"]
          << "]";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace slotwise::test
