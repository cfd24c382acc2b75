// backend.read_from: read-only commands go to replicas (READONLY connections) and fall back to the
// master when the replica is gone (prefer-replica); writes always go to the master.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyReplicaReadTest : public ProxyClusterTest {
 protected:
  void SetUp() override {
    ProxyClusterTest::SetUp();
    cluster_options.replicas_per_master = 1;
    backend_yaml = "  read_from: prefer-replica\n";
  }
  // GET calls each node has served since its last CONFIG RESETSTAT, by port.
  // `skip`: a stopped (SIGSTOP) node, which would not answer.
  std::map<uint16_t, int64_t> getCalls(uint16_t skip = 0) {
    std::map<uint16_t, int64_t> calls;
    for (const auto& n : cluster.nodes()) {
      if (!n.running || n.port == skip) continue;
      const std::string info = str(cluster.client(n.port).command({"INFO", "commandstats"}));
      const size_t at = info.find("cmdstat_get:calls=");
      calls[n.port] = at == std::string::npos ? 0 : std::stoll(info.substr(at + 18));
    }
    return calls;
  }
  void resetStats(uint16_t skip = 0) {
    for (const auto& n : cluster.nodes()) {
      if (n.running && n.port != skip) cluster.client(n.port).command({"CONFIG", "RESETSTAT"});
    }
  }
};

TEST_F(ProxyReplicaReadTest, ReadsGoToReplicasAndFallBackToTheMasterWhenTheReplicaDies) {
  startAll();
  auto c = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 60; ++i) sets.push_back({"SET", "rr:" + std::to_string(i), std::to_string(i)});
  for (const auto& r : c->pipeline(sets)) ASSERT_EQ(str(r), "OK");
  ASSERT_EQ(c->command({"WAIT", "1", "2000"}).integer, 1);  // every replica has the writes
  resetStats();
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(str(c->command({"GET", "rr:" + std::to_string(i)})), std::to_string(i));
  }
  int64_t on_masters = 0, on_replicas = 0;
  const auto calls = getCalls();
  for (const auto& n : cluster.nodes()) (n.master ? on_masters : on_replicas) += calls.at(n.port);
  EXPECT_EQ(on_masters, 0);
  EXPECT_EQ(on_replicas, 60);
  // Writes still go to masters (a replica would answer MOVED, never a write).
  EXPECT_EQ(str(c->command({"SET", "rr:0", "new"})), "OK");
  EXPECT_EQ(str(ownerOf("rr:0").command({"GET", "rr:0"})), "new");

  // The replica of rr:0's master dies: its reads move to the master, with no client error.
  const uint16_t master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("rr:0"));
  uint16_t replica = 0;
  for (const auto& n : cluster.nodes()) {  // ROLE of a replica: slave, master ip, master port
    if (n.master) continue;
    auto role = cluster.client(n.port).command({"ROLE"});
    if (role.elements.size() >= 3 && role.elements[2].integer == master) replica = n.port;
  }
  ASSERT_NE(replica, 0);
  ASSERT_TRUE(cluster.killNode(replica));
  resetStats();
  for (int i = 0; i < 60; ++i) {
    const std::string want = i == 0 ? "new" : std::to_string(i);
    ASSERT_EQ(str(c->command({"GET", "rr:" + std::to_string(i)})), want) << i;
  }
  EXPECT_GT(getCalls().at(master), 0);
}

// A replica that stops acknowledging (SIGSTOP) is judged unfit by its master's INFO replication
// lag: reads move to the master promptly; once it resumes, reads go back to it.
TEST_F(ProxyReplicaReadTest, LaggingReplicaServesNoReadsUntilItCatchesUp) {
  backend_yaml += "  replica_max_lag_ms: 1000\n";
  startAll();
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "lag:k", "v"})), "OK");
  ASSERT_EQ(c->command({"WAIT", "1", "2000"}).integer, 1);
  const uint16_t master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("lag:k"));
  uint16_t replica = 0;
  for (const auto& n : cluster.nodes()) {
    if (n.master) continue;
    auto role = cluster.client(n.port).command({"ROLE"});
    if (role.elements.size() >= 3 && role.elements[2].integer == master) replica = n.port;
  }
  ASSERT_NE(replica, 0);
  ASSERT_TRUE(cluster.killNode(replica, SIGSTOP));
  const std::string unfit = "replica 127.0.0.1:" + std::to_string(replica) + " serves no reads";
  ASSERT_TRUE(cluster.waitFor([&] { return proxy.log().find(unfit) != std::string::npos; }, 8000ms))
      << proxy.log();
  resetStats(replica);
  for (int i = 0; i < 20; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(str(c->command({"GET", "lag:k"})), "v");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  }
  EXPECT_EQ(getCalls(replica).at(master), 20);
  ASSERT_TRUE(cluster.killNode(replica, SIGCONT));
  const std::string fit = "replica 127.0.0.1:" + std::to_string(replica) + " serves reads again";
  ASSERT_TRUE(cluster.waitFor([&] { return proxy.log().find(fit) != std::string::npos; }, 8000ms))
      << proxy.log();
  resetStats();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(str(c->command({"GET", "lag:k"})), "v");
  EXPECT_EQ(getCalls().at(replica), 20);
}

// READONLY from a client: its reads prefer replicas even with read_from: master (as a cluster
// node lets a READONLY connection read from a replica); READWRITE and RESET end it. Other
// clients keep the configured rule.
TEST_F(ProxyReplicaReadTest, ReadonlyClientReadsFromReplicas) {
  backend_yaml = "  read_from: master\n";
  startAll();
  auto writer = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 30; ++i) sets.push_back({"SET", "ro:" + std::to_string(i), "v"});
  for (const auto& r : writer->pipeline(sets)) ASSERT_EQ(str(r), "OK");
  ASSERT_EQ(writer->command({"WAIT", "1", "2000"}).integer, 1);
  // Reads of 30 keys (over every master) on `c`: {calls on masters, calls on replicas}.
  auto reads = [&](SyncRedisClient& c) {
    resetStats();
    for (int i = 0; i < 30; ++i) EXPECT_EQ(str(c.command({"GET", "ro:" + std::to_string(i)})), "v");
    int64_t on_masters = 0, on_replicas = 0;
    for (const auto& [port, n] : getCalls()) {
      for (const auto& node : cluster.nodes()) {
        if (node.port == port) (node.master ? on_masters : on_replicas) += n;
      }
    }
    return std::make_pair(on_masters, on_replicas);
  };
  auto c = proxyClient();
  EXPECT_EQ(reads(*c), std::make_pair(int64_t{30}, int64_t{0}));
  EXPECT_EQ(str(c->command({"READONLY"})), "OK");
  EXPECT_EQ(str(c->command({"ASKING"})), "OK");  // as a cluster node; the proxy follows ASK
  EXPECT_EQ(reads(*c), std::make_pair(int64_t{0}, int64_t{30}));
  EXPECT_NE(str(c->command({"CLIENT", "INFO"})).find(" flags=r "), std::string::npos);
  EXPECT_EQ(reads(*writer), std::make_pair(int64_t{30}, int64_t{0}));  // others unchanged
  // Writes still go to the masters; multi-slot reads are split over the replicas.
  EXPECT_EQ(str(c->command({"SET", "ro:w", "w"})), "OK");
  EXPECT_EQ(str(ownerOf("ro:w").command({"GET", "ro:w"})), "w");
  EXPECT_EQ(c->command({"MGET", "ro:1", "ro:2", "ro:3", "ro:4"}).elements.size(), 4u);
  EXPECT_EQ(str(c->command({"READWRITE"})), "OK");
  EXPECT_EQ(reads(*c), std::make_pair(int64_t{30}, int64_t{0}));
  EXPECT_EQ(str(c->command({"READONLY"})), "OK");
  EXPECT_EQ(str(c->command({"RESET"})), "RESET");
  EXPECT_EQ(reads(*c), std::make_pair(int64_t{30}, int64_t{0}));
}

}  // namespace
}  // namespace slotwise::test
