// Tests of the real-Redis harness itself (tests/support/redis_harness.h) against redis-server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/redis_harness.h"

namespace slotwise::test {
namespace {

using resp::RespValue;
using resp::ValueType;
using namespace std::chrono_literals;

#define SKIP_WITHOUT_REDIS()                                                          \
  if (!redisServerAvailable()) {                                                      \
    GTEST_SKIP() << "/usr/bin/redis-server not installed (apt-get install redis-server)"; \
  }

constexpr int kSlots = 16384;

// Sum of the slot ranges in a CLUSTER SLOTS reply.
int coveredSlots(const RespValue& slots) {
  int covered = 0;
  for (const RespValue& range : slots.elements) {
    covered += static_cast<int>(range.elements.at(1).integer - range.elements.at(0).integer + 1);
  }
  return covered;
}

// Ports of the masters, in start order.
std::vector<uint16_t> masterPorts(RedisClusterHarness& cluster) {
  std::vector<uint16_t> out;
  for (const auto& node : cluster.nodes()) {
    if (node.master) out.push_back(node.port);
  }
  return out;
}

uint16_t otherMaster(RedisClusterHarness& cluster, uint16_t port) {
  for (uint16_t p : masterPorts(cluster)) {
    if (p != port) return p;
  }
  return 0;
}

TEST(PickFreePortTest, ReturnsDistinctBindablePortPairs) {
  std::set<uint16_t> seen;
  for (int i = 0; i < 40; ++i) {
    const uint16_t port = pickFreePort();
    EXPECT_GE(port, 20000);
    EXPECT_LT(port, 30000);
    EXPECT_TRUE(seen.insert(port).second) << "port returned twice: " << port;
  }
  // The last one (and its bus port) must be bindable by a listener right now.
  const uint16_t port = *seen.rbegin();
  for (uint16_t p : {port, static_cast<uint16_t>(port + 10000)}) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(p);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << p;
    close(fd);
  }
}

TEST(TempDirTest, CreatesAndRemovesRecursively) {
  std::string path;
  {
    TempDir dir("slotwise-tempdir-test-");
    path = dir.path();
    ASSERT_FALSE(path.empty());
    EXPECT_EQ(path.rfind("/tmp/slotwise-tempdir-test-", 0), 0u);
    std::filesystem::create_directories(path + "/a/b");
    std::ofstream(path + "/a/b/file") << "x";
    EXPECT_TRUE(std::filesystem::exists(path + "/a/b/file"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(KeySlotTest, MatchesKnownSlotsAndHashTags) {
  EXPECT_EQ(RedisClusterHarness::keySlot("foo"), 12182);
  EXPECT_EQ(RedisClusterHarness::keySlot("bar"), 5061);
  EXPECT_EQ(RedisClusterHarness::keySlot("foobar"), 12325);
  EXPECT_EQ(RedisClusterHarness::keySlot("123456789"), 0x31C3 % kSlots);
  EXPECT_EQ(RedisClusterHarness::keySlot("{user1000}.following"),
            RedisClusterHarness::keySlot("user1000"));
  EXPECT_EQ(RedisClusterHarness::keySlot("a{b}c{d}"), RedisClusterHarness::keySlot("b"));
  // Only the first '{' counts, and an empty tag "{}" means the whole key is hashed (the
  // cluster test cross-checks such keys against CLUSTER KEYSLOT).
  EXPECT_NE(RedisClusterHarness::keySlot("{}x"), RedisClusterHarness::keySlot("x"));
}

class RedisServerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_REDIS(); }
  TempDir dir_{"slotwise-it-single-"};
};

TEST_F(RedisServerProcessTest, StartsAnswersAndStopsByPid) {
  RedisServerProcess server;
  const uint16_t port = pickFreePort();
  ASSERT_TRUE(server.start(port, dir_.path())) << server.error();
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.port(), port);
  const pid_t pid = server.pid();
  ASSERT_GT(pid, 0);

  SyncRedisClient client;
  ASSERT_TRUE(client.connect("127.0.0.1", port)) << client.lastError();
  EXPECT_EQ(client.command({"SET", "k", "v"}).str, "OK");
  EXPECT_EQ(client.command({"GET", "k"}), RespValue::bulk("v"));
  EXPECT_EQ(client.command({"GET", "missing"}).type, ValueType::kNull);
  EXPECT_TRUE(client.command({"NOSUCHCOMMAND"}).isError());
  EXPECT_TRUE(std::filesystem::exists(server.logPath()));

  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_NE(::kill(pid, 0), 0) << "redis-server pid " << pid << " still exists";
  EXPECT_TRUE(client.isClosedByPeer(2s));
  EXPECT_EQ(client.command({"PING"}).str.rfind("IOERR", 0), 0u);
}

TEST_F(RedisServerProcessTest, StartFailsWhenPortIsTaken) {
  RedisServerProcess first;
  RedisServerProcess second;
  const uint16_t port = pickFreePort();
  ASSERT_TRUE(first.start(port, dir_.path())) << first.error();
  EXPECT_FALSE(second.start(port, dir_.path()));
  EXPECT_FALSE(second.error().empty());
  EXPECT_FALSE(second.running());
  // The failed start left the first server alone: it still answers, as itself.
  SyncRedisClient client;
  ASSERT_TRUE(client.connect("127.0.0.1", port)) << client.lastError();
  const std::string info = client.command({"INFO", "server"}).str;
  EXPECT_NE(info.find("process_id:" + std::to_string(first.pid()) + "\r\n"), std::string::npos)
      << info;
}

TEST_F(RedisServerProcessTest, ClientPipelinesDetectsCloseAndTimesOut) {
  RedisServerProcess server;
  const uint16_t port = pickFreePort();
  ASSERT_TRUE(server.start(port, dir_.path())) << server.error();
  SyncRedisClient client;
  ASSERT_TRUE(client.connect("127.0.0.1", port));

  const auto replies = client.pipeline(
      {{"SET", "a", "1"}, {"INCR", "a"}, {"GET", "a"}, {"LPUSH", "a", "x"}});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1], RespValue::integerValue(2));
  EXPECT_EQ(replies[2], RespValue::bulk("2"));
  EXPECT_TRUE(replies[3].isError());
  EXPECT_EQ(replies[3].str.rfind("WRONGTYPE", 0), 0u);

  // No request, no reply: a clean timeout keeps the connection usable.
  EXPECT_FALSE(client.readReply(100ms).has_value());
  EXPECT_TRUE(client.connected());
  EXPECT_FALSE(client.isClosedByPeer(50ms));

  // Raw bytes, split across two writes, and an inline command.
  ASSERT_TRUE(client.sendRaw("*2\r\n$3\r\nGET"));
  ASSERT_TRUE(client.sendRaw("\r\n$1\r\na\r\nPING\r\n"));
  EXPECT_EQ(client.readReply(), RespValue::bulk("2"));
  EXPECT_EQ(client.readReply(), RespValue::simple("PONG"));

  // RESP3 after HELLO 3: maps decode as kMap.
  const RespValue hello = client.command({"HELLO", "3"});
  EXPECT_EQ(hello.type, ValueType::kMap);
  EXPECT_EQ(client.command({"HGETALL", "nohash"}).type, ValueType::kMap);

  EXPECT_EQ(client.command({"QUIT"}).str, "OK");
  EXPECT_TRUE(client.isClosedByPeer(2s));
  EXPECT_FALSE(client.connected());
}

class ClusterHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_REDIS(); }
};

TEST_F(ClusterHarnessTest, ThreeMastersCoverAllSlots) {
  RedisClusterHarness cluster;
  ASSERT_TRUE(cluster.start()) << cluster.error();
  const auto nodes = cluster.nodes();
  ASSERT_EQ(nodes.size(), 3u);
  std::set<std::string> ids;
  for (const auto& node : nodes) {
    EXPECT_TRUE(node.master);
    EXPECT_TRUE(node.running);
    EXPECT_GT(node.pid, 0);
    EXPECT_EQ(node.id.size(), 40u);
    ids.insert(node.id);
    const RespValue slots = cluster.client(node.port).command({"CLUSTER", "SLOTS"});
    EXPECT_EQ(coveredSlots(slots), kSlots) << "view of node " << node.port;
    EXPECT_EQ(slots.elements.size(), 3u);
  }
  EXPECT_EQ(ids.size(), 3u);
  ASSERT_EQ(cluster.seedAddresses().size(), 3u);
  EXPECT_EQ(cluster.seedAddresses()[0], "127.0.0.1:" + std::to_string(nodes[0].port));
  EXPECT_EQ(std::filesystem::path(cluster.dir()).parent_path(), "/tmp");

  // keySlot agrees with the server, and the owner per CLUSTER SLOTS accepts the key while the
  // other masters redirect to it.
  for (const std::string key :
       {"foo", "bar", "{tag}x", "user:1000", "k\xff", "foo{}{bar}", "foo{{bar}}zap", "{}x"}) {
    const RespValue server_slot =
        cluster.client(nodes[0].port).command({"CLUSTER", "KEYSLOT", key});
    EXPECT_EQ(server_slot.integer, RedisClusterHarness::keySlot(key)) << key;
    const uint16_t owner = cluster.masterPortForSlot(RedisClusterHarness::keySlot(key));
    ASSERT_NE(owner, 0);
    EXPECT_EQ(cluster.client(owner).command({"SET", key, "v"}).str, "OK");
    const RespValue moved = cluster.client(otherMaster(cluster, owner)).command({"GET", key});
    EXPECT_EQ(moved.str, "MOVED " + std::to_string(RedisClusterHarness::keySlot(key)) +
                             " 127.0.0.1:" + std::to_string(owner));
  }
  EXPECT_TRUE(cluster.waitForConsistent(1s));
}

TEST_F(ClusterHarnessTest, MoveSlotMovesKeysAndOwnership) {
  RedisClusterHarness cluster;
  ASSERT_TRUE(cluster.start()) << cluster.error();
  const uint16_t slot = RedisClusterHarness::keySlot("{mv}");
  const uint16_t from = cluster.masterPortForSlot(slot);
  const uint16_t to = otherMaster(cluster, from);
  ASSERT_NE(from, 0);
  ASSERT_NE(to, 0);
  for (int i = 0; i < 5; ++i) {
    const std::string k = "{mv}" + std::to_string(i);
    ASSERT_EQ(cluster.client(from).command({"SET", k, "val" + std::to_string(i)}).str, "OK");
  }

  ASSERT_TRUE(cluster.beginMigration(slot, from, to)) << cluster.error();
  ASSERT_EQ(cluster.migrateKeys(slot, from, to, 2), 2) << cluster.error();
  // Exactly two keys are gone from the source: those now answer ASK, the rest are served.
  int asked = 0;
  for (int i = 0; i < 5; ++i) {
    const std::string k = "{mv}" + std::to_string(i);
    const RespValue r = cluster.client(from).command({"GET", k});
    if (r.isError()) {
      EXPECT_EQ(r.str, "ASK " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to));
      ++asked;
      const auto pair = cluster.client(to).pipeline({{"ASKING"}, {"GET", k}});
      EXPECT_EQ(pair[1], RespValue::bulk("val" + std::to_string(i)));
    } else {
      EXPECT_EQ(r, RespValue::bulk("val" + std::to_string(i)));
    }
  }
  EXPECT_EQ(asked, 2);
  // Without ASKING the importing node redirects back with MOVED.
  EXPECT_EQ(cluster.client(to).command({"GET", "{mv}0"}).str.rfind("MOVED", 0), 0u);

  EXPECT_EQ(cluster.migrateKeys(slot, from, to, 100), 3);
  EXPECT_EQ(cluster.migrateKeys(slot, from, to, 100), 0);
  ASSERT_TRUE(cluster.finishMigration(slot, from, to)) << cluster.error();
  EXPECT_EQ(cluster.masterPortForSlot(slot), to);
  EXPECT_EQ(cluster.client(from).command({"GET", "{mv}3"}).str,
            "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to));
  EXPECT_EQ(cluster.client(to).command({"GET", "{mv}3"}), RespValue::bulk("val3"));
  ASSERT_TRUE(cluster.waitForConsistent(10s));

  // And back again in one call.
  ASSERT_TRUE(cluster.moveSlot(slot, to, from)) << cluster.error();
  EXPECT_EQ(cluster.masterPortForSlot(slot), from);
  EXPECT_EQ(cluster.client(from).command({"GET", "{mv}4"}), RespValue::bulk("val4"));
  EXPECT_EQ(cluster.client(to).command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}),
            RespValue::integerValue(0));
  EXPECT_TRUE(cluster.waitForConsistent(10s));
}

TEST_F(ClusterHarnessTest, ReplicasAttachAndFailoverPromotesReplica) {
  RedisClusterHarness cluster;
  RedisClusterHarness::Options options;
  options.replicas_per_master = 1;
  ASSERT_TRUE(cluster.start(options)) << cluster.error();
  auto nodes = cluster.nodes();
  ASSERT_EQ(nodes.size(), 6u);
  int masters = 0;
  for (const auto& node : nodes) masters += node.master ? 1 : 0;
  EXPECT_EQ(masters, 3);
  for (const auto& node : nodes) {
    const RespValue slots = cluster.client(node.port).command({"CLUSTER", "SLOTS"});
    for (const RespValue& range : slots.elements) EXPECT_EQ(range.elements.size(), 4u);
  }

  const uint16_t slot = RedisClusterHarness::keySlot("fo-key");
  const uint16_t old_master = cluster.masterPortForSlot(slot);
  ASSERT_EQ(cluster.client(old_master).command({"SET", "fo-key", "before"}).str, "OK");
  ASSERT_EQ(cluster.client(old_master).command({"WAIT", "1", "5000"}), RespValue::integerValue(1));
  const RespValue slots = cluster.client(old_master).command({"CLUSTER", "SLOTS"});
  uint16_t replica = 0;
  for (const RespValue& range : slots.elements) {
    if (slot >= range.elements[0].integer && slot <= range.elements[1].integer) {
      replica = static_cast<uint16_t>(range.elements.at(3).elements.at(1).integer);
    }
  }
  ASSERT_NE(replica, 0);

  ASSERT_TRUE(cluster.failover(replica)) << cluster.error();
  EXPECT_TRUE(cluster.waitFor([&] { return cluster.masterPortForSlot(slot) == replica; }, 10s));
  EXPECT_EQ(cluster.client(replica).command({"GET", "fo-key"}), RespValue::bulk("before"));
  for (const auto& node : cluster.nodes()) {
    if (node.port == replica) {
      EXPECT_TRUE(node.master);
    } else if (node.port == old_master) {
      EXPECT_FALSE(node.master);
    }
  }
  EXPECT_TRUE(cluster.waitForConsistent(15s));
}

TEST_F(ClusterHarnessTest, KillNodeAndRestartKeepsIdentity) {
  RedisClusterHarness cluster;
  RedisClusterHarness::Options options;
  options.node_timeout_ms = 1000;
  ASSERT_TRUE(cluster.start(options)) << cluster.error();
  const auto before = cluster.nodes();
  const RedisClusterHarness::Node victim = before[1];
  const pid_t old_pid = victim.pid;

  ASSERT_TRUE(cluster.killNode(victim.port));
  EXPECT_FALSE(cluster.killNode(victim.port)) << "already dead";
  EXPECT_NE(::kill(old_pid, 0), 0);
  EXPECT_EQ(cluster.client(victim.port).command({"PING"}).str.rfind("IOERR", 0), 0u);
  for (const auto& node : cluster.nodes()) {
    if (node.port == victim.port) {
      EXPECT_FALSE(node.running);
    }
  }
  // The survivors notice the failure and the cluster goes down (a master has no replica).
  SyncRedisClient& survivor = cluster.client(before[0].port);
  EXPECT_TRUE(cluster.waitFor(
      [&] {
        const std::string info = survivor.command({"CLUSTER", "INFO"}).str;
        return info.find("cluster_state:fail") != std::string::npos;
      },
      15s));
  EXPECT_FALSE(cluster.waitForConsistent(100ms));

  ASSERT_TRUE(cluster.restartNode(victim.port)) << cluster.error();
  EXPECT_FALSE(cluster.restartNode(victim.port)) << "already running";
  ASSERT_TRUE(cluster.waitForConsistent(20s));
  EXPECT_EQ(cluster.client(victim.port).command({"CLUSTER", "MYID"}).str, victim.id);
  const auto after = cluster.nodes();
  EXPECT_TRUE(after[1].running);
  EXPECT_NE(after[1].pid, old_pid);
  EXPECT_TRUE(after[1].master);
}

TEST_F(ClusterHarnessTest, DestructorStopsEveryNode) {
  std::vector<pid_t> pids;
  std::string dir;
  {
    RedisClusterHarness cluster;
    RedisClusterHarness::Options options;
    options.masters = 2;
    ASSERT_TRUE(cluster.start(options)) << cluster.error();
    for (const auto& node : cluster.nodes()) pids.push_back(node.pid);
    dir = cluster.dir();
  }
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t pid : pids) EXPECT_NE(::kill(pid, 0), 0) << "pid " << pid << " survived";
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(ProxyProcessTest, RejectsYamlWithoutListenPort) {
  ProxyProcess proxy;
  EXPECT_FALSE(proxy.start("workers: 1\n"));
  EXPECT_NE(proxy.error().find("listen"), std::string::npos) << proxy.error();
  EXPECT_EQ(proxy.pid(), -1);
  EXPECT_EQ(proxy.waitExit(10ms), -1);
}

TEST_F(ClusterHarnessTest, ProxyProcessStartsMeasuresAndStops) {
  RedisClusterHarness cluster;
  RedisClusterHarness::Options options;
  options.masters = 2;
  ASSERT_TRUE(cluster.start(options)) << cluster.error();
  const uint16_t port = pickFreePort();
  std::string yaml = "listen: \"127.0.0.1:" + std::to_string(port) + "\"\nworkers: 1\n";
  yaml += "cluster:\n  seeds:\n";
  for (const std::string& seed : cluster.seedAddresses()) yaml += "    - " + seed + "\n";

  ProxyProcess proxy;
  ASSERT_TRUE(proxy.start(yaml)) << proxy.error();
  EXPECT_EQ(proxy.listenPort(), port);
  const pid_t pid = proxy.pid();
  ASSERT_GT(pid, 0);
  SyncRedisClient client;
  ASSERT_TRUE(client.connect("127.0.0.1", port)) << client.lastError();
  EXPECT_EQ(client.command({"PING"}), RespValue::simple("PONG"));
  EXPECT_GE(proxy.cpuSeconds(), 0.0);
  EXPECT_GT(proxy.rssKiB(), 0);
  EXPECT_TRUE(std::filesystem::exists(proxy.dir() + "/slotwise.yaml"));

  proxy.stop(SIGTERM);
  EXPECT_GE(proxy.waitExit(15s), 0) << proxy.log();
  EXPECT_NE(::kill(pid, 0), 0) << "proxy pid " << pid << " still exists";
  EXPECT_EQ(proxy.cpuSeconds(), -1);
  EXPECT_TRUE(client.isClosedByPeer(2s));
}

TEST_F(ClusterHarnessTest, ProxyProcessReportsEarlyExit) {
  ProxyProcess proxy;
  const std::string yaml = "listen: 127.0.0.1:" + std::to_string(pickFreePort()) +
                           "\nno_such_key_for_harness_test: 1\n";
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(proxy.start(yaml));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 9s) << "early exit not noticed";
  EXPECT_NE(proxy.error().find("exited early"), std::string::npos) << proxy.error();
  EXPECT_FALSE(proxy.log().empty());
}

}  // namespace
}  // namespace slotwise::test
