// Commands the proxy answers itself, end to end: the emulated one-node cluster (checked with
// redis-py's RedisCluster, a real cluster-aware client), INFO, CLIENT INFO/LIST, and TIME going
// to a master.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <thread>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using resp::RespValue;
using resp::ValueType;

class ProxyLocalTest : public ProxyClusterTest {
 protected:
  // Waits until the proxy reports a full slot map (CLUSTER INFO cluster_state:ok).
  void waitClusterOk(SyncRedisClient& c) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (str(c.command({"CLUSTER", "INFO"})).find("cluster_state:ok") == std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "proxy never covered all slots";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

// Runs `script` with /usr/bin/python3; returns its exit status and combined output.
int runPython(const std::string& script, std::string* output) {
  std::string cmd = "/usr/bin/python3 -c '" + script + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool pythonRedisClusterAvailable() {
  std::string out;
  return runPython("import redis.cluster", &out) == 0;
}

TEST_F(ProxyLocalTest, ClusterCommandsDescribeTheProxyAsOneMasterWithEverySlot) {
  startAll();
  auto c = proxyClient();
  waitClusterOk(*c);
  std::string id = str(c->command({"CLUSTER", "MYID"}));
  ASSERT_EQ(id.size(), 40u);

  RespValue slots = c->command({"CLUSTER", "SLOTS"});
  ASSERT_EQ(slots.type, ValueType::kArray);
  ASSERT_EQ(slots.elements.size(), 1u);
  const RespValue& range = slots.elements[0];
  ASSERT_EQ(range.elements.size(), 3u);
  EXPECT_EQ(range.elements[0].integer, 0);
  EXPECT_EQ(range.elements[1].integer, 16383);
  ASSERT_EQ(range.elements[2].elements.size(), 4u);
  EXPECT_EQ(str(range.elements[2].elements[0]), "127.0.0.1");
  EXPECT_EQ(range.elements[2].elements[1].integer, proxy_port);
  EXPECT_EQ(str(range.elements[2].elements[2]), id);

  std::string nodes = str(c->command({"CLUSTER", "NODES"}));
  EXPECT_EQ(nodes, id + " 127.0.0.1:" + std::to_string(proxy_port) +
                       "@0 myself,master - 0 0 1 connected 0-16383\n");
  RespValue shards = c->command({"CLUSTER", "SHARDS"});
  ASSERT_EQ(shards.elements.size(), 1u);
  EXPECT_EQ(str(shards.elements[0].elements[0]), "slots");
  EXPECT_EQ(c->command({"CLUSTER", "KEYSLOT", "{user1000}.following"}).integer,
            RedisClusterHarness::keySlot("user1000"));
  // The real nodes are not what a client sees: the proxy's id is not any node's id.
  EXPECT_NE(str(cluster.client(cluster.masterPortForSlot(0)).command({"CLUSTER", "MYID"})), id);
  EXPECT_EQ(c->command({"CLUSTER", "MEET", "127.0.0.1", "1"}).type, ValueType::kError);
}

TEST_F(ProxyLocalTest, ConfiguredAdvertiseAddressIsWhatClusterClientsSee) {
  extra_yaml = "advertise: \"proxy.example:7777\"\n";
  startAll();
  auto c = proxyClient();
  waitClusterOk(*c);
  RespValue slots = c->command({"CLUSTER", "SLOTS"});
  ASSERT_EQ(slots.elements.size(), 1u);
  ASSERT_EQ(slots.elements[0].elements.size(), 3u);
  EXPECT_EQ(str(slots.elements[0].elements[2].elements[0]), "proxy.example");
  EXPECT_EQ(slots.elements[0].elements[2].elements[1].integer, 7777);
  const std::string id = str(c->command({"CLUSTER", "MYID"}));
  EXPECT_EQ(str(c->command({"CLUSTER", "NODES"})),
            id + " proxy.example:7777@0 myself,master - 0 0 1 connected 0-16383\n");
}

TEST_F(ProxyLocalTest, RedisPyClusterClientWorksThroughTheProxy) {
  if (!pythonRedisClusterAvailable()) {
    GTEST_SKIP() << "python3-redis (redis.cluster) is not installed for /usr/bin/python3";
  }
  startAll();
  auto c = proxyClient();
  waitClusterOk(*c);
  // Double quotes only: the script is passed inside single quotes.
  const std::string script =
      "import sys\n"
      "from redis.cluster import RedisCluster\n"
      "rc = RedisCluster(host=\"127.0.0.1\", port=" + std::to_string(proxy_port) +
      ", decode_responses=True)\n"
      "nodes = rc.get_nodes()\n"
      "assert len(nodes) == 1, nodes\n"
      "assert nodes[0].port == " + std::to_string(proxy_port) + ", nodes[0]\n"
      "keys = [\"py:%d\" % i for i in range(100)]\n"
      "assert len({rc.keyslot(k) for k in keys}) > 90\n"
      "for i, k in enumerate(keys):\n"
      "    assert rc.set(k, \"v%d\" % i)\n"
      "for i, k in enumerate(keys):\n"
      "    assert rc.get(k) == \"v%d\" % i, k\n"
      "vals = rc.mget_nonatomic(keys)\n"
      "assert vals == [\"v%d\" % i for i in range(100)], vals\n"
      "assert rc.delete(*keys[:10]) == 10\n"
      "print(\"ok\")\n";
  std::string out;
  ASSERT_EQ(runPython(script, &out), 0) << out;
  EXPECT_EQ(out, "ok\n");
  // Verified on the nodes themselves, not through the proxy.
  for (int i = 10; i < 100; ++i) {
    std::string key = "py:" + std::to_string(i);
    EXPECT_EQ(str(ownerOf(key).command({"GET", key})), "v" + std::to_string(i));
  }
  EXPECT_EQ(ownerOf("py:3").command({"EXISTS", "py:3"}).integer, 0);
}

TEST_F(ProxyLocalTest, InfoAndClientListDescribeProxyClients) {
  startAll();  // two workers: CLIENT LIST shows the clients of both
  auto a = proxyClient();
  auto b = proxyClient();
  waitClusterOk(*a);
  ASSERT_EQ(str(b->command({"CLIENT", "SETNAME", "second"})), "OK");
  int64_t id_b = b->command({"CLIENT", "ID"}).integer;

  std::string info = str(a->command({"INFO"}));
  EXPECT_NE(info.find("# Server\r\nredis_version:7.0.15\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("loading:0\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("connected_clients:2\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("# Proxy\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("covered_slots:16384\r\nmasters:3\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find("tcp_port:" + std::to_string(proxy_port) + "\r\n"), std::string::npos);
  EXPECT_EQ(str(a->command({"INFO", "keyspace"})), "# Keyspace\r\n");  // no keys on any master
  EXPECT_EQ(str(a->command({"INFO", "modules"})), "# Modules\r\n");    // empty, as on a node
  EXPECT_EQ(str(a->command({"INFO", "nosuch"})), "");                  // unknown section

  std::string list = str(a->command({"CLIENT", "LIST"}));
  EXPECT_NE(list.find("id=" + std::to_string(id_b) + " addr=127.0.0.1:"), std::string::npos)
      << list;
  EXPECT_NE(list.find(" name=second "), std::string::npos) << list;
  EXPECT_NE(list.find("laddr=127.0.0.1:" + std::to_string(proxy_port)), std::string::npos);
  // CLIENT SETINFO (Redis 7.2, sent by current client libraries) is answered by the proxy.
  EXPECT_EQ(str(a->command({"CLIENT", "SETINFO", "LIB-NAME", "mylib"})), "OK");
  EXPECT_EQ(str(a->command({"CLIENT", "SETINFO", "LIB-VER", "1.2"})), "OK");
  std::string mine = str(a->command({"CLIENT", "INFO"}));
  EXPECT_NE(mine.find(" lib-name=mylib lib-ver=1.2"), std::string::npos) << mine;
  EXPECT_NE(mine.find(" cmd=client|info "), std::string::npos) << mine;
  EXPECT_EQ(mine.find("name=second"), std::string::npos) << mine;
  std::string only_b = str(a->command({"CLIENT", "LIST", "ID", std::to_string(id_b)}));
  EXPECT_EQ(std::count(only_b.begin(), only_b.end(), '\n'), 1) << only_b;
}

TEST_F(ProxyLocalTest, TimeIsAnsweredByAMaster) {
  startAll();
  auto c = proxyClient();
  RespValue t = c->command({"TIME"});
  ASSERT_EQ(t.type, ValueType::kArray);
  ASSERT_EQ(t.elements.size(), 2u);
  int64_t seconds = std::stoll(str(t.elements[0]));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_LE(std::llabs(seconds - now), 5);
}

}  // namespace
}  // namespace slotwise::test
