// Pub/Sub through the proxy: classic and sharded channels, across failovers.
#include <gtest/gtest.h>

#include <thread>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyPubSubTest : public ProxyClusterTest {
 protected:
  // Reads `n` messages from a subscribed client; returns their payloads.
  std::vector<std::string> readMessages(SyncRedisClient& c, int n) {
    std::vector<std::string> got;
    for (int i = 0; i < n; ++i) {
      auto r = c.readReply(5000ms);
      if (!r) break;
      if (r->elements.size() == 3) got.push_back(r->elements[2].str);
    }
    return got;
  }
  void publishAll(const std::string& verb, const std::string& channel, int from, int to) {
    auto pub = proxyClient();
    for (int i = from; i < to; ++i) {
      auto r = pub->command({verb, channel, "m" + std::to_string(i)});
      ASSERT_EQ(r.type, resp::ValueType::kInteger) << str(r);
    }
  }
  static std::vector<std::string> expected(int from, int to) {
    std::vector<std::string> v;
    for (int i = from; i < to; ++i) v.push_back("m" + std::to_string(i));
    return v;
  }
  uint16_t replicaOf(uint16_t master_port) {
    auto& c = cluster.client(master_port);
    std::string id = str(c.command({"CLUSTER", "MYID"}));
    auto replicas = c.command({"CLUSTER", "REPLICAS", id});
    for (const auto& line : replicas.elements) {
      std::string s = line.str;
      size_t colon = s.find(':', s.find(' ') + 1);
      if (colon != std::string::npos) return static_cast<uint16_t>(std::stoi(s.substr(colon + 1)));
    }
    return 0;
  }
};

TEST_F(ProxyPubSubTest, SubscribeAndSsubscribeSurviveManualFailover) {
  cluster_options.replicas_per_master = 1;
  startAll();
  auto sub = proxyClient();
  auto ssub = proxyClient();
  auto r = sub->command({"SUBSCRIBE", "news"});
  ASSERT_EQ(r.elements.size(), 3u) << str(r);
  EXPECT_EQ(str(r.elements[0]), "subscribe");
  r = ssub->command({"SSUBSCRIBE", "{orders}ch"});
  ASSERT_EQ(r.elements.size(), 3u) << str(r);
  EXPECT_EQ(str(r.elements[0]), "ssubscribe");
  // Subscriber-mode rules, as Redis.
  auto err = sub->command({"GET", "x"});
  EXPECT_EQ(str(err).rfind("ERR Can't execute 'get'", 0), 0u) << str(err);
  auto pong = sub->command({"PING"});
  ASSERT_EQ(pong.elements.size(), 2u);
  EXPECT_EQ(str(pong.elements[0]), "pong");

  publishAll("PUBLISH", "news", 0, 50);
  publishAll("SPUBLISH", "{orders}ch", 0, 50);
  EXPECT_EQ(readMessages(*sub, 50), expected(0, 50));
  EXPECT_EQ(readMessages(*ssub, 50), expected(0, 50));

  uint16_t master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("{orders}ch"));
  uint16_t replica = replicaOf(master);
  ASSERT_NE(replica, 0);
  ASSERT_TRUE(cluster.failover(replica));
  ASSERT_TRUE(cluster.waitForConsistent(10000ms));
  publishAll("PUBLISH", "news", 50, 100);
  publishAll("SPUBLISH", "{orders}ch", 50, 100);
  EXPECT_EQ(readMessages(*sub, 50), expected(50, 100));
  EXPECT_EQ(readMessages(*ssub, 50), expected(50, 100));

  // Unsubscribing leaves subscriber mode: normal commands work again.
  r = ssub->command({"SUNSUBSCRIBE", "{orders}ch"});
  EXPECT_EQ(str(r.elements[0]), "sunsubscribe");
  EXPECT_EQ(str(ssub->command({"SET", "after", "1"})), "OK");
}

TEST_F(ProxyPubSubTest, SubscriptionsComeBackAfterTheNodeIsKilled) {
  cluster_options.replicas_per_master = 1;
  cluster_options.node_timeout_ms = 1000;
  startAll();
  auto ssub = proxyClient();
  auto r = ssub->command({"SSUBSCRIBE", "{kill}ch"});
  ASSERT_EQ(r.elements.size(), 3u) << str(r);
  uint16_t master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("{kill}ch"));
  ASSERT_TRUE(cluster.killNode(master, SIGKILL));
  // Wait until the replica took over, then publish until the proxy can reach the new master.
  ASSERT_TRUE(cluster.waitFor([&] {
    uint16_t now = cluster.masterPortForSlot(RedisClusterHarness::keySlot("{kill}ch"));
    return now != 0 && now != master;
  }, 15000ms));
  auto pub = proxyClient();
  ASSERT_TRUE(cluster.waitFor([&] {
    return pub->command({"SPUBLISH", "{kill}ch", "probe"}).integer >= 1;  // our re-subscription
  }, 10000ms));
  // From here on every message arrives; the probes before it may or may not.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(pub->command({"SPUBLISH", "{kill}ch", "m" + std::to_string(i)}).type,
              resp::ValueType::kInteger);
  }
  std::vector<std::string> got;
  while (got.size() < 20) {
    auto m = ssub->readReply(5000ms);
    ASSERT_TRUE(m.has_value()) << "received " << got.size();
    ASSERT_EQ(m->elements.size(), 3u) << str(*m);  // no stray confirmation reaches the client
    if (m->elements[2].str != "probe") got.push_back(m->elements[2].str);
  }
  EXPECT_EQ(got, expected(0, 20));
}

}  // namespace
}  // namespace slotwise::test
