// Chaos test (issue 4): 8 clients drive INCR and cross-slot MSET/MGET through Slotwise while a
// 3-master + 3-replica cluster is resharded, failed over by hand, loses a master to SIGKILL (which
// comes back as a replica), gains a fourth master and removes it again. Every acknowledged value
// is checked; the per-phase report goes to stdout; the whole run has a hard deadline.
//
// Report columns, per phase (an operation belongs to the phase current when it was sent):
//   ops            operations attempted by all clients (INCR, MSET, MGET, reconnects, GETs)
//   errors         operations that failed (error reply, I/O error, timeout, failed connect)
//   err-window-ms  longest stretch covered by failed operations, failures of any client less than
//                  kErrorWindowGap apart joined (a shard failing fast for 3 s is a 3 s window even
//                  if other requests succeed in between; a request that waited 5 s for its error
//                  is a 5 s window); a slow success is not an error and shows in max-lat-ms
//   lost-repl      acknowledged writes undone by the SIGKILL failover: on the killed master's
//                  slots, acknowledged within [kill - kReplicationLag, kill + kKillGrace]
//   lost-proxy     every other acknowledged write that went missing (must be 0)
//   dup            writes applied more often than sent, e.g. a written INCR resent (must be 0)
// Pass criteria: 0 errors outside the SIGKILL phase; 0 lost-proxy and dup everywhere; SIGKILL
// err-window-ms <= cluster-node-timeout + 2 s; every phase carried traffic.
#include <gtest/gtest.h>

#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "support/proxy_fixture.h"
#include "tests/chaos/chaos_cluster.h"
#include "tests/chaos/chaos_workload.h"

namespace slotwise::test {
namespace {

using Millis = std::chrono::milliseconds;

constexpr int kNodeTimeoutMs = 2000;
// Proxy backend.retry_deadline_ms. Redis promotes a replica after cluster-node-timeout plus FAIL
// agreement by gossip (up to ~1 s), an election delay of 500-1000 ms (+1 s per rank) and the vote:
// 3.5-5.0 s were measured on a loaded 2-core machine, so node timeout + 3 s (5 s) was sometimes
// too short and the proxy failed requests 70 ms before the new map arrived.
constexpr int kRetryDeadlineMs = kNodeTimeoutMs + 5000;
constexpr int kClients = 8;
constexpr int kReshardSlots = 1200;
constexpr int kMinOpsPerPhase = 200;
constexpr Millis kHardDeadline{400000};  // below the ctest TIMEOUT (600 s), ASan included
constexpr Millis kBaselineTime{3000};
constexpr Millis kSettleTime{2000};
constexpr Millis kDeadMasterTime{1000};  // traffic against the promoted replica before restart
constexpr Millis kRedisCliTimeout{120000};
constexpr Millis kTopologyTimeout{30000};
constexpr Millis kPromotionTimeout{kNodeTimeoutMs + 20000};
// Replies from the killed master can arrive this long after its death was confirmed (they were
// in flight); no replica can be promoted before cluster-node-timeout, so half of it is safe.
constexpr Millis kKillGrace{kNodeTimeoutMs / 2};
// How long before the kill an acknowledged write may still be missing on the replica.
constexpr Millis kReplicationLag{2000};
// Failed operations less than this far apart belong to one error window.
constexpr Millis kErrorWindowGap{500};
constexpr const char* kProxyLogCopy = "chaos_proxy.log";

// Aborts the process (the harness's signal hook then SIGKILLs every child by PID) if the test is
// still running at the deadline, so a hang can never outlive the bound.
class Watchdog {
 public:
  explicit Watchdog(Millis deadline) : thread_([this, deadline] { watch(deadline); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch(Millis deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, deadline, [this] { return done_; })) return;
    std::fprintf(stderr, "chaos test: hard deadline of %lld s exceeded, aborting\n",
                 static_cast<long long>(deadline.count() / 1000));
    std::fflush(nullptr);
    std::abort();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class ChaosTest : public ProxyClusterTest {
 protected:
  void SetUp() override {
    ProxyClusterTest::SetUp();
    cluster_options.masters = 3;
    cluster_options.replicas_per_master = 1;
    cluster_options.node_timeout_ms = kNodeTimeoutMs;
    workers = 2;
    cluster_yaml = "  refresh_interval_ms: 1000\n";
    // Unsent requests for a dead master wait for the failover (see kRetryDeadlineMs).
    backend_yaml = "  retry_deadline_ms: " + std::to_string(kRetryDeadlineMs) + "\n";
  }

  std::string nodeIdOf(uint16_t port) {
    for (const auto& n : cluster.nodes()) {
      if (n.port == port) return n.id;
    }
    return "";
  }

  // Runs one phase: books traffic to it, runs `step`, then lets traffic run for `settle`.
  // @return the step's error text ("" on success).
  std::string runPhase(ChaosPhase phase, const std::function<std::string()>& step, Millis settle) {
    const auto t0 = ChaosClock::now();
    control_->phase.store(static_cast<int>(phase));
    // Operations are booked to the phase current when they started: let those of the previous
    // phase finish before this phase's fault, or an MSET begun a moment before a SIGKILL would be
    // charged to the (error-free) phase before it.
    std::this_thread::sleep_for(kPhaseDrain);
    std::string error = step();
    if (error.empty()) std::this_thread::sleep_for(settle);
    phase_seconds_[static_cast<int>(phase)] =
        std::chrono::duration<double>(ChaosClock::now() - t0).count();
    notes_ += std::string("  ") + chaosPhaseName(phase) + ": " +
              (error.empty() ? note_ : "FAILED: " + error) + "\n";
    note_.clear();
    return error;
  }

  static constexpr Millis kPhaseDrain{1000};

  std::string reshard();
  std::string manualFailover();
  std::string killMaster();
  std::string addMaster();
  std::string removeNode();
  void printReport(const std::array<PhaseStats, kChaosPhaseCount>& totals,
                   const std::array<int64_t, kChaosPhaseCount>& windows);
  void saveProxyLog();

  std::unique_ptr<ChaosCluster> topo_;
  std::unique_ptr<ChaosControl> control_;
  std::array<double, kChaosPhaseCount> phase_seconds_{};
  // The master that imported the reshard's slots is never failed over: Redis 7.0 can lose the
  // ownership of the last slots a master imported when that master fails over soon after (its
  // replica is promoted without them, the cluster stays down; redis/redis#6339, fixed upstream
  // by #12336 in a later release). That is a cluster bug, not something a proxy can hide.
  uint16_t reshard_target_ = 0;
  std::string note_;   // what the current phase did (filled by its step)
  std::string notes_;  // one line per finished phase
};

// The master with the most slots hands kReshardSlots to the one with the fewest.
std::string ChaosTest::reshard() {
  const std::map<uint16_t, int> counts = topo_->slotCounts();
  if (counts.size() < 2) return "cannot read the slot map";
  auto by_count = [](const auto& a, const auto& b) { return a.second < b.second; };
  const uint16_t from = std::max_element(counts.begin(), counts.end(), by_count)->first;
  const uint16_t to = std::min_element(counts.begin(), counts.end(), by_count)->first;
  const bool ok = topo_->runRedisCli(
      {"--cluster", "reshard", "127.0.0.1:" + std::to_string(from), "--cluster-from",
       nodeIdOf(from), "--cluster-to", nodeIdOf(to), "--cluster-slots",
       std::to_string(kReshardSlots), "--cluster-yes"},
      "chaos-reshard.log", kRedisCliTimeout);
  if (!ok) return "redis-cli --cluster reshard: " + topo_->error();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  const int moved = topo_->slotCounts()[to] - counts.at(to);
  if (moved != kReshardSlots) return "expected " + std::to_string(kReshardSlots) +
                                     " slots moved, counted " + std::to_string(moved);
  note_ = std::to_string(moved) + " slots " + std::to_string(from) + " -> " + std::to_string(to);
  reshard_target_ = to;
  return "";
}

// CLUSTER FAILOVER on the replica of the first master that has a linked one (not the reshard's
// target, see reshard_target_).
std::string ChaosTest::manualFailover() {
  uint16_t master = 0, replica = 0;
  for (const auto& [port, count] : topo_->slotCounts()) {
    if (port == reshard_target_) continue;
    replica = topo_->onlineReplicaOf(port);
    if (replica != 0) {
      master = port;
      break;
    }
  }
  if (replica == 0) return "no master has an online replica:\n" + topo_->describe();
  if (!cluster.failover(replica)) return cluster.error();
  const bool demoted = cluster.waitFor(
      [&] { return topo_->isLinkedReplica(master, replica); }, kTopologyTimeout);
  if (!demoted) return "old master did not become a linked replica:\n" + topo_->describe();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  note_ = "replica " + std::to_string(replica) + " took over from " + std::to_string(master);
  return "";
}

// SIGKILL of the master with the most slots (not the reshard's target); its replica is promoted
// after the node timeout; the killed node is restarted and must come back as a replica of the
// promoted one.
std::string ChaosTest::killMaster() {
  std::map<uint16_t, int> counts = topo_->slotCounts();
  counts.erase(reshard_target_);
  if (counts.empty()) return "cannot read the slot map";
  const uint16_t victim = std::max_element(counts.begin(), counts.end(), [](auto& a, auto& b) {
                            return a.second < b.second;
                          })->first;
  uint16_t replica = 0;
  cluster.waitFor([&] { return (replica = topo_->onlineReplicaOf(victim)) != 0; },
                  kTopologyTimeout);
  if (replica == 0) return "master " + std::to_string(victim) + " has no online replica";
  const std::bitset<kClusterSlots> slots = topo_->slotsOf(victim);
  if (slots.none()) return "cannot read the slots of " + std::to_string(victim);
  uint16_t first_slot = 0;
  while (!slots.test(first_slot)) ++first_slot;
  if (!cluster.killNode(victim, SIGKILL)) return "cannot SIGKILL " + std::to_string(victim);
  const auto killed_at = ChaosClock::now();
  control_->kill.publish(slots, killed_at);
  const bool promoted = cluster.waitFor(
      [&] {
        return cluster.masterPortForSlot(first_slot) == replica &&
               cluster.waitForConsistent(Millis(0));
      },
      kPromotionTimeout);
  if (!promoted) {
    return "replica " + std::to_string(replica) + " not promoted:\n" + topo_->describe();
  }
  const auto promotion_ms =
      std::chrono::duration_cast<Millis>(ChaosClock::now() - killed_at).count();
  std::this_thread::sleep_for(kDeadMasterTime);
  if (!cluster.restartNode(victim)) return "restart: " + cluster.error();
  const bool rejoined = cluster.waitFor(
      [&] { return topo_->isLinkedReplica(victim, replica); }, kTopologyTimeout);
  if (!rejoined) return "killed node did not rejoin as a replica:\n" + topo_->describe();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  note_ = "killed " + std::to_string(victim) + " (" + std::to_string(slots.count()) +
          " slots), " + std::to_string(replica) + " promoted after " +
          std::to_string(promotion_ms) + " ms, " + std::to_string(victim) +
          " back as its replica";
  return "";
}

// A 7th node joins empty and `redis-cli --cluster rebalance --cluster-use-empty-masters` moves
// slots to it.
std::string ChaosTest::addMaster() {
  const uint16_t port = topo_->addEmptyMaster(kTopologyTimeout);
  if (port == 0) return topo_->error();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  if (topo_->slotCounts().count(port) != 0 || !topo_->isMaster(port)) {
    return "the added node is not an empty master:\n" + topo_->describe();
  }
  const bool ok = topo_->runRedisCli(
      {"--cluster", "rebalance", "127.0.0.1:" + std::to_string(port),
       "--cluster-use-empty-masters", "--cluster-yes"},
      "chaos-rebalance.log", kRedisCliTimeout);
  if (!ok) return "redis-cli --cluster rebalance: " + topo_->error();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  const int gained = topo_->slotCounts()[port];
  if (gained == 0) return "the added master got no slots:\n" + topo_->describe();
  note_ = "node " + std::to_string(port) + " added, rebalanced " + std::to_string(gained) +
          " slots to it";
  return "";
}

// The added master gives every slot back (`rebalance --cluster-weight <id>=0`) and leaves with
// `redis-cli --cluster del-node` (CLUSTER FORGET on every other node, CLUSTER RESET SOFT of the
// node, whose process is then stopped).
std::string ChaosTest::removeNode() {
  const uint16_t port = topo_->extraPort();
  if (port == 0) return "no added node to remove";
  const std::string id = topo_->nodeId(port);
  const std::string other = "127.0.0.1:" + std::to_string(cluster.masterPortForSlot(0));
  if (id.empty()) return "cannot read the added node's id";
  const int owned = topo_->slotCounts()[port];
  bool ok = topo_->runRedisCli(
      {"--cluster", "rebalance", other, "--cluster-weight", id + "=0", "--cluster-yes"},
      "chaos-drain.log", kRedisCliTimeout);
  if (!ok) return "redis-cli --cluster rebalance (drain): " + topo_->error();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  if (topo_->slotCounts().count(port) != 0) {
    return "the node still owns slots after the drain:\n" + topo_->describe();
  }
  ok = topo_->runRedisCli({"--cluster", "del-node", other, id}, "chaos-del-node.log",
                          kRedisCliTimeout);
  if (!ok) return "redis-cli --cluster del-node: " + topo_->error();
  topo_->stopExtra();
  if (!topo_->waitConsistent(kTopologyTimeout)) return topo_->error();
  note_ = "node " + std::to_string(port) + " drained of " + std::to_string(owned) +
          " slots and removed";
  return "";
}

void ChaosTest::printReport(const std::array<PhaseStats, kChaosPhaseCount>& totals,
                            const std::array<int64_t, kChaosPhaseCount>& windows) {
  std::printf("\nChaos test report (%d clients, cluster-node-timeout %d ms)\n", kClients,
              kNodeTimeoutMs);
  std::printf("%-16s %7s %9s %7s %13s %12s %10s %10s %6s\n", "phase", "secs", "ops", "errors",
              "err-window-ms", "max-lat-ms", "lost-repl", "lost-proxy", "dup");
  for (int p = 0; p < kChaosPhaseCount; ++p) {
    const PhaseStats& s = totals[p];
    std::printf("%-16s %7.1f %9llu %7llu %13lld %12lld %10llu %10llu %6llu\n",
                chaosPhaseName(static_cast<ChaosPhase>(p)), phase_seconds_[p],
                static_cast<unsigned long long>(s.ops), static_cast<unsigned long long>(s.errors),
                static_cast<long long>(windows[p]),
                static_cast<long long>(s.max_latency_ms),
                static_cast<unsigned long long>(s.lost_replication),
                static_cast<unsigned long long>(s.lost_proxy),
                static_cast<unsigned long long>(s.duplicated));
  }
  std::printf("topology:\n%s", notes_.c_str());
  for (int p = 0; p < kChaosPhaseCount; ++p) {
    const PhaseStats& s = totals[p];
    const char* name = chaosPhaseName(static_cast<ChaosPhase>(p));
    for (const auto& [text, count] : s.error_kinds) {
      std::printf("  %s error x%llu: %s\n", name, static_cast<unsigned long long>(count),
                  text.c_str());
    }
    if (!s.first_anomaly.empty()) {
      std::printf("  %s first anomaly: %s\n", name, s.first_anomaly.c_str());
    }
  }
  std::fflush(stdout);
}

void ChaosTest::saveProxyLog() {
  std::ofstream out(kProxyLogCopy, std::ios::trunc);
  out << proxy.log();
}

TEST_F(ChaosTest, NoClientVisibleErrorsOrLostWritesThroughTopologyChanges) {
  Watchdog watchdog(kHardDeadline);
  startAll();
  if (HasFatalFailure()) return;
  topo_ = std::make_unique<ChaosCluster>(cluster, kNodeTimeoutMs);
  control_ = std::make_unique<ChaosControl>(kKillGrace, kReplicationLag);
  const SlotKeys keys;
  std::vector<std::unique_ptr<ChaosClient>> clients;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<ChaosClient>(i, kClients, proxy_port, keys, *control_));
    threads.emplace_back([c = clients.back().get()] { c->run(); });
  }

  const auto baseline = [this] {
    note_ = "steady traffic, no topology change";
    return std::string();
  };
  std::string failure = runPhase(ChaosPhase::kBaseline, baseline, kBaselineTime);
  const std::vector<std::pair<ChaosPhase, std::function<std::string()>>> steps = {
      {ChaosPhase::kReshard, [this] { return reshard(); }},
      {ChaosPhase::kManualFailover, [this] { return manualFailover(); }},
      {ChaosPhase::kKillMaster, [this] { return killMaster(); }},
      {ChaosPhase::kAddMaster, [this] { return addMaster(); }},
      {ChaosPhase::kRemoveNode, [this] { return removeNode(); }}};
  for (const auto& [phase, step] : steps) {
    if (failure.empty()) failure = runPhase(phase, step, kSettleTime);
  }
  control_->stop.store(true);
  for (std::thread& t : threads) t.join();
  threads.clear();

  control_->phase.store(static_cast<int>(ChaosPhase::kFinalCheck));
  const auto check_start = ChaosClock::now();
  for (auto& c : clients) threads.emplace_back([client = c.get()] { client->finalCheck(); });
  for (std::thread& t : threads) t.join();
  phase_seconds_[static_cast<int>(ChaosPhase::kFinalCheck)] =
      std::chrono::duration<double>(ChaosClock::now() - check_start).count();

  std::array<PhaseStats, kChaosPhaseCount> totals{};
  for (const auto& c : clients) {
    for (int p = 0; p < kChaosPhaseCount; ++p) totals[p].merge(c->stats()[p]);
  }
  std::array<int64_t, kChaosPhaseCount> windows{};
  for (int p = 0; p < kChaosPhaseCount; ++p) {
    windows[p] = longestErrorWindowMs(totals[p].error_spans, kErrorWindowGap);
  }
  printReport(totals, windows);
  saveProxyLog();

  ASSERT_TRUE(failure.empty()) << "topology step failed: " << failure;
  for (int p = 0; p < kChaosPhaseCount; ++p) {
    const PhaseStats& s = totals[p];
    const ChaosPhase phase = static_cast<ChaosPhase>(p);
    SCOPED_TRACE(chaosPhaseName(phase));
    EXPECT_GE(s.ops, static_cast<uint64_t>(kMinOpsPerPhase)) << "too little traffic to judge";
    EXPECT_EQ(s.lost_proxy, 0u) << s.first_anomaly;
    EXPECT_EQ(s.duplicated, 0u) << s.first_anomaly;
    if (phase != ChaosPhase::kKillMaster) {
      EXPECT_EQ(s.errors, 0u) << s.first_error;
    } else {
      EXPECT_LE(windows[p], kNodeTimeoutMs + 2000) << s.first_error;
    }
  }
  if (HasFailure()) std::printf("proxy log copied to %s (cwd of the test)\n", kProxyLogCopy);
}

}  // namespace
}  // namespace slotwise::test
