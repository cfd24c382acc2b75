// Multi-key split/merge and whole-cluster commands through the proxy, checked on the nodes.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyFanOutTest : public ProxyClusterTest {
 protected:
  std::vector<uint16_t> masterPorts() {
    std::vector<uint16_t> ports;
    for (const auto& n : cluster.nodes()) {
      if (n.master) ports.push_back(n.port);
    }
    return ports;
  }
  int64_t keysOnNodes() {
    int64_t total = 0;
    for (uint16_t p : masterPorts()) total += cluster.client(p).command({"DBSIZE"}).integer;
    return total;
  }
};

TEST_F(ProxyFanOutTest, MsetMgetDelOfThousandKeysOverAllSlots) {
  startAll();
  auto c = proxyClient();
  std::vector<std::string> mset = {"MSET"}, mget = {"MGET"}, del = {"DEL"};
  std::set<uint16_t> slots;
  for (int i = 0; i < 1000; ++i) {
    std::string k = "mk:" + std::to_string(i);
    mset.push_back(k);
    mset.push_back("v" + std::to_string(i));
    mget.push_back(k);
    if (i % 2 == 0) del.push_back(k);
    slots.insert(RedisClusterHarness::keySlot(k));
  }
  ASSERT_GT(slots.size(), 900u);
  ASSERT_EQ(str(c->command(mset)), "OK");
  for (int i = 0; i < 1000; i += 3) {  // directly on the owning node
    std::string k = "mk:" + std::to_string(i);
    ASSERT_EQ(str(ownerOf(k).command({"GET", k})), "v" + std::to_string(i));
  }
  mget.insert(mget.begin() + 500, "mk:missing");
  auto values = c->command(mget);
  ASSERT_EQ(values.elements.size(), 1001u);
  for (int i = 0, j = 1; i < 1000; ++i, ++j) {
    if (j == 500) {
      EXPECT_EQ(str(values.elements[j - 1]), "<null>");
      ++j;
    }
    ASSERT_EQ(str(values.elements[j - 1]), "v" + std::to_string(i)) << i;
  }
  std::vector<std::string> exists = {"EXISTS", "mk:1", "mk:2", "mk:1", "mk:missing"};
  EXPECT_EQ(c->command(exists).integer, 3);
  EXPECT_EQ(c->command({"TOUCH", "mk:1", "mk:3", "nope"}).integer, 2);
  EXPECT_EQ(c->command(del).integer, 500);
  EXPECT_EQ(c->command({"UNLINK", "mk:1", "mk:3", "mk:0"}).integer, 2);
  EXPECT_EQ(keysOnNodes(), 498);
  EXPECT_EQ(str(ownerOf("mk:2").command({"EXISTS", "mk:2"})), "0");
  EXPECT_EQ(str(ownerOf("mk:5").command({"GET", "mk:5"})), "v5");
  // Atomicity-sensitive commands are not split.
  EXPECT_EQ(str(c->command({"MSETNX", "mk:a", "1", "mk:b", "2"})),
            "CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(str(c->command({"MSETNX", "{t}a", "1", "{t}b", "2"})), "1");
  // Malformed MSET across slots: Redis's arity error, nothing written, proxy still alive.
  EXPECT_EQ(str(c->command({"MSET", "odd:a", "1", "odd:b"})),
            "ERR wrong number of arguments for 'mset' command");
  EXPECT_EQ(str(c->command({"EXISTS", "odd:a", "odd:b"})), "0");
}

TEST_F(ProxyFanOutTest, WholeClusterCommandsMergeEveryMaster) {
  startAll();
  auto c = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 300; ++i) sets.push_back({"SET", "wc:" + std::to_string(i), "x"});
  for (const auto& r : c->pipeline(sets)) ASSERT_EQ(str(r), "OK");
  EXPECT_EQ(c->command({"DBSIZE"}).integer, 300);
  EXPECT_EQ(c->command({"DBSIZE"}).integer, keysOnNodes());
  auto keys = c->command({"KEYS", "wc:1*"});
  std::set<std::string> got;
  for (const auto& k : keys.elements) got.insert(k.str);
  std::set<std::string> want;
  for (int i = 0; i < 300; ++i) {
    std::string k = "wc:" + std::to_string(i);
    if (k.rfind("wc:1", 0) == 0) want.insert(k);
  }
  EXPECT_EQ(got, want);
  auto rk = c->command({"RANDOMKEY"});
  EXPECT_EQ(str(rk).rfind("wc:", 0), 0u) << str(rk);
  // SCRIPT LOAD reaches every master, so EVALSHA works whatever slot it lands on.
  std::string sha = str(c->command({"SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"}));
  ASSERT_EQ(sha.size(), 40u);
  for (uint16_t p : masterPorts()) {
    auto e = cluster.client(p).command({"SCRIPT", "EXISTS", sha});
    ASSERT_EQ(e.elements.size(), 1u);
    EXPECT_EQ(e.elements[0].integer, 1) << "master " << p;
  }
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(str(c->command({"EVALSHA", sha, "1", "wc:" + std::to_string(i)})), "x");
  }
  auto exists = c->command({"SCRIPT", "EXISTS", sha, std::string(40, 'a')});
  ASSERT_EQ(exists.elements.size(), 2u);
  EXPECT_EQ(exists.elements[0].integer, 1);
  EXPECT_EQ(exists.elements[1].integer, 0);
  EXPECT_EQ(str(c->command({"FLUSHALL"})), "OK");
  EXPECT_EQ(keysOnNodes(), 0);
  EXPECT_EQ(c->command({"DBSIZE"}).integer, 0);
  EXPECT_EQ(str(c->command({"CONFIG", "SET", "maxmemory", "1"})),
            "ERR slotwise: CONFIG SET through the proxy is disabled");
}

TEST_F(ProxyFanOutTest, ScanIteratesEveryKeyOfEveryMasterToCursorZero) {
  startAll();
  auto c = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 2000; ++i) sets.push_back({"SET", "sc:" + std::to_string(i), "1"});
  sets.push_back({"HSET", "sc:hash", "f", "v"});
  for (const auto& r : c->pipeline(sets)) ASSERT_TRUE(str(r) == "OK" || str(r) == "1");
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    auto r = c->command({"SCAN", cursor, "MATCH", "sc:*", "COUNT", "100"});
    ASSERT_EQ(r.elements.size(), 2u) << str(r);
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) seen.insert(k.str);
    ASSERT_LT(++calls, 10000);
  } while (cursor != "0");
  EXPECT_EQ(seen.size(), 2001u);
  // TYPE filter goes through to each node.
  std::set<std::string> hashes;
  cursor = "0";
  do {
    auto r = c->command({"SCAN", cursor, "TYPE", "hash"});
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) hashes.insert(k.str);
  } while (cursor != "0");
  EXPECT_EQ(hashes, std::set<std::string>{"sc:hash"});
  EXPECT_EQ(str(c->command({"SCAN", "notanumber"})), "ERR invalid cursor");
}

TEST_F(ProxyFanOutTest, MultiKeyPartsFollowMovedAndAskIndependently) {
  startAll();
  auto c = proxyClient();
  std::vector<std::string> mset = {"MSET"}, mget = {"MGET"};
  for (int i = 0; i < 200; ++i) {
    mset.push_back("mv:" + std::to_string(i));
    mset.push_back(std::to_string(i));
    mget.push_back("mv:" + std::to_string(i));
  }
  ASSERT_EQ(str(c->command(mset)), "OK");
  uint16_t slot = RedisClusterHarness::keySlot("mv:7");
  uint16_t from = cluster.masterPortForSlot(slot), to = 0;
  for (uint16_t p : masterPorts()) {
    if (p != from) to = p;
  }
  ASSERT_TRUE(cluster.beginMigration(slot, from, to));
  ASSERT_GE(cluster.migrateKeys(slot, from, to, 100), 1);  // now ASK for this slot's keys
  auto values = c->command(mget);
  ASSERT_EQ(values.elements.size(), 200u);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(str(values.elements[i]), std::to_string(i)) << i;
  ASSERT_TRUE(cluster.finishMigration(slot, from, to));  // now MOVED until the map refreshes
  values = c->command(mget);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(str(values.elements[i]), std::to_string(i)) << i;
  EXPECT_EQ(c->command({"DEL", "mv:7", "mv:8", "mv:9"}).integer, 3);
}

}  // namespace
}  // namespace slotwise::test
