// RedisSentinelGroup: a real Redis Sentinel deployment on loopback for integration tests. One or
// more master sets ("groups", each a master plus replicas started with --replicaof) monitored by
// the same Sentinels, each Sentinel a redis-sentinel (or redis-server --sentinel) child with a
// generated sentinel.conf in the harness's TempDir (/tmp/slotwise-sentinel-XXXXXX).
//
// Speed: Sentinels normally find each other through hello messages (one every 2s) and need a
// while to agree; the generated sentinel.conf files instead name every Sentinel's myid and list
// the others as known-sentinel entries, so a group is ready about a second after start. Timings
// (down-after-milliseconds, failover-timeout) default to short values meant for tests.
//
// Process hygiene as in redis_harness.h: every child is stopped by PID by the destructor and the
// child-process registry kills survivors. Not thread-safe: use it from one thread.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/host_port.h"
#include "resp/value.h"
#include "tests/support/redis_harness.h"

namespace slotwise::test {

// @return true if /usr/bin/redis-sentinel and /usr/bin/redis-server exist and are executable.
bool redisSentinelAvailable();

class RedisSentinelGroup {
 public:
  struct Options {
    // One master set per name, each `replicas` replicas; every Sentinel monitors all of them.
    std::vector<std::string> names = {"mymaster"};
    int replicas = 1;
    int sentinels = 3;
    int quorum = 2;
    int down_after_ms = 1000;
    int failover_timeout_ms = 3000;
    // Data nodes: requirepass + masterauth (and `sentinel auth-pass` for the Sentinels).
    std::string password;
    // Sentinels: requirepass and `sentinel sentinel-pass` (how they authenticate to each other).
    std::string sentinel_password;
    // With sentinel_password: also an ACL user with that password on every Sentinel, which the
    // Sentinels (sentinel-user) and the harness's clients then use.
    std::string sentinel_user;
    // Run /usr/bin/redis-sentinel <conf>; false runs /usr/bin/redis-server <conf> --sentinel.
    bool use_sentinel_binary = true;
    std::vector<std::string> extra_node_args;        // appended to every data node's command line
    std::vector<std::string> extra_sentinel_config;  // lines appended to every sentinel.conf
  };

  RedisSentinelGroup();
  ~RedisSentinelGroup();  // stops every child by PID, removes the temp dir
  RedisSentinelGroup(const RedisSentinelGroup&) = delete;
  RedisSentinelGroup& operator=(const RedisSentinelGroup&) = delete;

  // Starts the data nodes, waits until every replica is in sync (master_link_status:up and
  // listed online by its master), starts the Sentinels, then waits until settled() (<= 20s).
  // @return false (state of every node in error() and on stderr) on failure. Call once.
  bool start(const Options& options);
  bool start() { return start(Options{}); }
  const std::string& error() const { return error_; }
  const Options& options() const { return options_; }

  // Every running Sentinel reports, for every group, the same master, which is running and says
  // it is a master; lists every other running data node of the group as a replica with flags
  // "slave" and master-link-status ok; and lists every other running Sentinel without flags
  // like s_down or disconnected. Sentinels refresh replicas' INFO every 10s (every 1s while a
  // failover runs), so after a restart this can take that long to become true.
  bool settled();
  bool waitForSettled(std::chrono::milliseconds timeout);

  // ---- Addresses ----
  // "127.0.0.1:P" of every Sentinel, in start order (running or not).
  std::vector<std::string> sentinelAddresses() const;
  std::vector<uint16_t> sentinelPorts() const;
  // Ports of the group's data nodes in start order: the initial master first, then replicas.
  // Empty for an unknown name.
  std::vector<uint16_t> nodePorts(const std::string& name) const;
  // The master of `name` per SENTINEL GET-MASTER-ADDR-BY-NAME of the Sentinel on
  // `sentinel_port`, or (0) of the first running Sentinel that answers. nullopt if none does.
  std::optional<HostPort> masterAddress(const std::string& name, uint16_t sentinel_port = 0);
  // Port of masterAddress(name); 0 if unknown.
  uint16_t masterPort(const std::string& name);
  // ROLE of the node ("master", "slave", "sentinel"); empty if it does not answer.
  std::string role(uint16_t port);

  // ---- Topology changes ----
  // SENTINEL FAILOVER <name> on the Sentinel on `sentinel_port` (0: the first running one).
  // Does not wait: see waitForNewMaster. @return false (reason in error()) on an error reply.
  // Note: a still-running old master stays a master (accepting writes) until the Sentinels
  // convert it, 8-20s later (they wait until it has reported the wrong role for 8s).
  bool failover(const std::string& name, uint16_t sentinel_port = 0);
  // Waits until every running Sentinel reports the same master for `name`, other than
  // `old_master_port`, and that node's ROLE is master. @return its port, or 0 on timeout.
  uint16_t waitForNewMaster(const std::string& name, uint16_t old_master_port,
                            std::chrono::milliseconds timeout);
  // Sends `sig` to the data node or Sentinel on `port` (see RedisServerProcess::kill) and drops
  // its cached client. @return false if the port is unknown or the process is not running.
  bool killNode(uint16_t port, int sig = SIGKILL);
  // Starts a stopped node again on the same port with the same arguments (a Sentinel with its
  // sentinel.conf as Sentinel last rewrote it; a data node with its original --replicaof or none,
  // so an old master comes back as a master until a Sentinel converts it, which Sentinel does
  // only after the node has reported the wrong role for 8s) and waits for PING.
  bool restartNode(uint16_t port);
  bool running(uint16_t port);

  // ---- Helpers ----
  // A cached, authenticated connection to a node or Sentinel, reconnected if it was closed; a
  // disconnected client (answering IOERR) if it cannot connect or the port is unknown. The
  // reference is valid for the harness's life.
  SyncRedisClient& client(uint16_t port);
  // The AUTH command for the Sentinels ({"AUTH", [user,] password}); empty without a password.
  std::vector<std::string> sentinelAuth() const;
  // Calls cond() every 20ms until it returns true or `timeout` passes. @return the last result.
  bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
  // One line per node and Sentinel (role, what each Sentinel reports) for failure messages.
  std::string describeState();
  // The temporary directory (logs, sentinel-P.conf).
  const std::string& dir() const;

 private:
  struct Proc;
  Proc* find(uint16_t port);
  bool startProc(Proc& proc);
  bool replicasInSync();
  bool fail(const std::string& message);
  std::string sentinelConfig(size_t index) const;

  Options options_;
  std::unique_ptr<TempDir> dir_;
  std::vector<std::unique_ptr<Proc>> nodes_;      // data nodes, grouped by name
  std::vector<std::unique_ptr<Proc>> sentinels_;  // in start order
  std::map<uint16_t, std::unique_ptr<SyncRedisClient>> clients_;
  SyncRedisClient dummy_client_;
  std::string error_;
};

// A SENTINEL MASTER / REPLICAS / SENTINELS entry (flat field/value array or RESP3 map) as a map.
std::map<std::string, std::string> sentinelFields(const resp::RespValue& entry);

}  // namespace slotwise::test
