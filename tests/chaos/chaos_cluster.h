// Controller-side helpers of the chaos test, layered on RedisClusterHarness: slot ownership,
// replica lookup, redis-cli --cluster runs with a deadline, and an extra master node started
// outside the harness (the "added master"), all through the harness's public API.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/redis_harness.h"
#include "tests/chaos/chaos_workload.h"

namespace slotwise::test {

class ChaosCluster {
 public:
  // `harness` must be started already and outlive this object. `node_timeout_ms` is used for the
  // added node's cluster-node-timeout (same as the harness's nodes).
  ChaosCluster(RedisClusterHarness& harness, int node_timeout_ms);
  ~ChaosCluster();  // stops the added node, if any, by PID
  ChaosCluster(const ChaosCluster&) = delete;
  ChaosCluster& operator=(const ChaosCluster&) = delete;

  // Master port → number of slots it serves, per CLUSTER SLOTS of the first running harness node
  // that answers. Empty on failure.
  std::map<uint16_t, int> slotCounts();
  // Slots served by `master_port` per the same view (all clear on failure).
  std::bitset<kClusterSlots> slotsOf(uint16_t master_port);
  // Port of a replica of `master_port` whose replication link is up ("state=online" in the
  // master's INFO replication), or 0 if there is none.
  uint16_t onlineReplicaOf(uint16_t master_port);
  // True if `port` reports role master in INFO replication.
  bool isMaster(uint16_t port);
  // True if `port` reports role slave with master_link_status:up towards `master_port`.
  bool isLinkedReplica(uint16_t port, uint16_t master_port);

  // Runs `/usr/bin/redis-cli <args>` with output to <harness dir>/<log_name> and waits up to
  // `timeout` (then kills it by PID). @return true on exit code 0; otherwise false with the
  // reason and the output's tail in error().
  bool runRedisCli(const std::vector<std::string>& args, const std::string& log_name,
                   std::chrono::milliseconds timeout);

  // Starts one more cluster-enabled redis-server in the harness's directory and CLUSTER MEETs it
  // with the first running harness node; waits until every running node knows every other one
  // (no handshake). @return its port, or 0 (error() set). At most one extra node per object.
  uint16_t addEmptyMaster(std::chrono::milliseconds timeout);
  // Port of the node addEmptyMaster() started, or 0.
  uint16_t extraPort() const { return extra_ ? extra_->port() : 0; }
  // Stops the added node's process (by PID). redis-cli --cluster del-node only resets it (CLUSTER
  // RESET SOFT): it stays up, outside the cluster.
  void stopExtra();
  // CLUSTER MYID of any running node (harness or added), or "" on error.
  std::string nodeId(uint16_t port);
  // Every running node, the added one included, reports cluster_state:ok and the same CLUSTER
  // SLOTS view (replicas included), and no node has a slot in migrating/importing state.
  bool consistent();
  // Polls consistent() every 50ms until true or `timeout`.
  bool waitConsistent(std::chrono::milliseconds timeout);

  // Ports of every running node (harness nodes plus the added one).
  std::vector<uint16_t> runningPorts();
  // A short multi-line state dump (role, cluster_state, slots per node) for failure messages.
  std::string describe();
  const std::string& error() const { return error_; }

 private:
  SyncRedisClient& clientOf(uint16_t port);
  // Normalized CLUSTER SLOTS of `port` ("start-end:master[,replica...] ..."); empty on error.
  std::string slotsView(uint16_t port);
  bool allKnowEachOther();

  RedisClusterHarness& harness_;
  int node_timeout_ms_;
  std::unique_ptr<RedisServerProcess> extra_;
  std::unique_ptr<SyncRedisClient> extra_client_;
  std::string error_;
};

}  // namespace slotwise::test
