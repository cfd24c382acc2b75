// Multi-key split/merge and whole-cluster commands through the proxy, checked on the nodes.
#include <gtest/gtest.h>

#include <iostream>
#include <iterator>
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
            "ERR slotwise: CONFIG SET through the proxy is disabled (allow_admin_commands: false) "
            "except for notify-keyspace-events");
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

// A keyspace that fits one page per master comes back from SCAN 0 in one call with cursor 0, as
// from one server (client libraries' tests rely on it): the masters' first pages go out together.
TEST_F(ProxyFanOutTest, ScanOfASmallKeyspaceEndsInOneCall) {
  startAll();
  auto c = proxyClient();
  auto empty = c->command({"SCAN", "0"});  // an empty cluster: cursor 0 and no keys
  ASSERT_EQ(empty.elements.size(), 2u) << str(empty);
  EXPECT_EQ(empty.elements[0].str, "0");
  EXPECT_TRUE(empty.elements[1].elements.empty());
  std::set<uint16_t> owners;
  for (const char* k : {"a", "b", "c", "d"}) {
    ASSERT_EQ(str(c->command({"SET", k, "1"})), "OK");
    owners.insert(cluster.masterPortForSlot(RedisClusterHarness::keySlot(k)));
  }
  ASSERT_EQ(owners.size(), 3u);  // the keys are on every master
  for (int proto : {2, 3}) {
    if (proto == 3) ASSERT_EQ(c->command({"HELLO", "3"}).type, resp::ValueType::kMap);
    auto r = c->command({"SCAN", "0"});
    ASSERT_EQ(r.elements.size(), 2u) << str(r);
    EXPECT_EQ(r.elements[0].str, "0") << "RESP" << proto;
    std::set<std::string> keys;
    for (const auto& k : r.elements[1].elements) keys.insert(k.str);
    EXPECT_EQ(keys, (std::set<std::string>{"a", "b", "c", "d"})) << "RESP" << proto;
    r = c->command({"SCAN", "0", "MATCH", "[ab]", "COUNT", "5"});
    ASSERT_EQ(r.elements.size(), 2u) << str(r);
    EXPECT_EQ(r.elements[0].str, "0");
    EXPECT_EQ(r.elements[1].elements.size(), 2u) << str(r);
  }
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

TEST_F(ProxyFanOutTest, ScanMissesNoKeyWhileASlotMigratesMidScan) {
  startAll();
  auto c = proxyClient();
  std::vector<uint16_t> masters;  // in slot order: the order a pass visits them
  for (uint16_t slot : {uint16_t{0}, uint16_t{8000}, uint16_t{16383}}) {
    masters.push_back(cluster.masterPortForSlot(slot));
  }
  ASSERT_EQ(std::set<uint16_t>(masters.begin(), masters.end()).size(), 3u);
  // 150 keys in one slot of the last master: they move to the first master (already scanned)
  // while the pass is on the middle one.
  std::string tag;
  for (int i = 0; tag.empty(); ++i) {
    std::string t = "{mig" + std::to_string(i) + "}";
    if (cluster.masterPortForSlot(RedisClusterHarness::keySlot(t)) == masters[2]) tag = t;
  }
  const uint16_t moving = RedisClusterHarness::keySlot(tag);
  std::set<std::string> want;
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 3000; ++i) want.insert("sm:" + std::to_string(i));
  for (int i = 0; i < 150; ++i) want.insert(tag + ":" + std::to_string(i));
  for (const std::string& k : want) sets.push_back({"SET", k, "1"});
  for (const auto& r : c->pipeline(sets)) ASSERT_EQ(str(r), "OK");

  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0, restarts = 0;
  bool migrated = false;
  auto scanOnce = [&] {
    auto r = c->command({"SCAN", cursor, "COUNT", "40"});
    ASSERT_EQ(r.elements.size(), 2u) << str(r);
    if (r.elements[1].elements.empty() && r.elements[0].str != "0" &&
        std::stoull(r.elements[0].str) >> 31 == 0) {
      ++restarts;
    }
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) seen.insert(k.str);
  };
  do {
    scanOnce();
    ASSERT_LT(++calls, 5000);
    const uint64_t at = std::stoull(cursor) & 0x3fff;  // the slot naming the node being scanned
    if (!migrated && cursor != "0" && cluster.masterPortForSlot(at) == masters[1]) {
      migrated = true;
      ASSERT_TRUE(cluster.beginMigration(moving, masters[2], masters[0]));
      ASSERT_EQ(cluster.migrateKeys(moving, masters[2], masters[0], 75), 75);
      for (int i = 0; i < 3 && cursor != "0"; ++i) scanOnce();  // mid-migration
      ASSERT_EQ(cluster.migrateKeys(moving, masters[2], masters[0], 1000), 75);
      ASSERT_TRUE(cluster.finishMigration(moving, masters[2], masters[0]));
    }
  } while (cursor != "0");
  ASSERT_TRUE(migrated);
  std::vector<std::string> missing;
  std::set_difference(want.begin(), want.end(), seen.begin(), seen.end(),
                      std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << missing.size() << " keys never returned, e.g. " << missing[0];
  EXPECT_EQ(seen.size(), want.size());
  EXPECT_EQ(cluster.masterPortForSlot(moving), masters[0]);
  std::cout << "SCAN mid-migration: " << calls << " calls, " << restarts << " restarts\n";
}

TEST_F(ProxyFanOutTest, NoscriptOnANodeThatLostItsScriptsIsFixedByTheProxy) {
  startAll();
  auto c = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 30; ++i) sets.push_back({"SET", "ns:" + std::to_string(i), "v"});
  for (const auto& r : c->pipeline(sets)) ASSERT_EQ(str(r), "OK");
  const std::string loaded = str(c->command({"SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"}));
  ASSERT_EQ(loaded.size(), 40u);
  const std::string body = "return redis.call('STRLEN', KEYS[1])";
  ASSERT_EQ(c->command({"EVAL", body, "1", "ns:0"}).integer, 1);
  // Every master forgets its scripts (as a restarted node or a new master would).
  for (uint16_t p : masterPorts()) ASSERT_EQ(str(cluster.client(p).command({"SCRIPT", "FLUSH"})), "OK");
  const std::string eval_sha = str(c->command({"SCRIPT", "LOAD", body}));  // learn its sha
  for (uint16_t p : masterPorts()) ASSERT_EQ(str(cluster.client(p).command({"SCRIPT", "FLUSH"})), "OK");
  for (int i = 0; i < 30; ++i) {
    const std::string key = "ns:" + std::to_string(i);
    EXPECT_EQ(str(c->command({"EVALSHA", loaded, "1", key})), "v") << key;
    EXPECT_EQ(c->command({"EVALSHA", eval_sha, "1", key}).integer, 1) << key;
  }
  // A script the proxy never saw: the cluster's own error.
  EXPECT_EQ(str(c->command({"EVALSHA", std::string(40, 'b'), "1", "ns:1"})).rfind("NOSCRIPT", 0),
            0u);
  EXPECT_NE(proxy.log().find("NOSCRIPT; loading the script"), std::string::npos);
}

TEST_F(ProxyFanOutTest, WaitCountsReplicasOfTheClientsWritesAndInfoSumsKeyspaces) {
  cluster_options.replicas_per_master = 1;
  startAll();
  auto c = proxyClient();
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 120; ++i) sets.push_back({"SET", "w:" + std::to_string(i), "1"});
  for (const auto& r : c->pipeline(sets)) ASSERT_EQ(str(r), "OK");
  // One replica per master: WAIT 1 is met, WAIT 2 times out with 1.
  EXPECT_EQ(c->command({"WAIT", "1", "2000"}).integer, 1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c->command({"WAIT", "2", "300"}).integer, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(str(c->command({"WAIT", "1"})), "ERR wrong number of arguments for 'wait' command");
  for (int i = 0; i < 120; i += 7) {  // the writes WAIT covered are on the replicas
    const std::string k = "w:" + std::to_string(i);
    int replicas_with_it = 0;  // the owner's replica answers; the others say MOVED
    for (const auto& n : cluster.nodes()) {
      if (n.master) continue;
      cluster.client(n.port).command({"READONLY"});
      replicas_with_it += str(cluster.client(n.port).command({"GET", k})) == "1";
    }
    EXPECT_EQ(replicas_with_it, 1) << k;
  }
  const std::string info = str(c->command({"INFO"}));
  EXPECT_NE(info.find("# Proxy\r\n"), std::string::npos);
  EXPECT_NE(info.find("# Keyspace\r\ndb0:keys=120,expires=0,avg_ttl=0\r\n"), std::string::npos)
      << info;
  EXPECT_EQ(str(c->command({"INFO", "keyspace"})), "# Keyspace\r\ndb0:keys=120,expires=0,avg_ttl=0\r\n");
  EXPECT_EQ(str(c->command({"INFO", "server"})).find("# Keyspace"), std::string::npos);
}

class ProxyAdminCommandsTest : public ProxyFanOutTest {};

TEST_F(ProxyAdminCommandsTest, ConfigSetAndResetstatReachEveryNodeWhenAllowed) {
  extra_yaml = "allow_admin_commands: true\n";
  cluster_options.replicas_per_master = 1;
  startAll();
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"})), "OK");
  int nodes = 0;
  for (const auto& n : cluster.nodes()) {
    auto r = cluster.client(n.port).command({"CONFIG", "GET", "maxmemory-policy"});
    ASSERT_EQ(r.elements.size(), 2u);
    EXPECT_EQ(r.elements[1].str, "allkeys-lru") << "node " << n.port;
    ++nodes;
  }
  EXPECT_EQ(nodes, 6);
  EXPECT_EQ(str(c->command({"CONFIG", "RESETSTAT"})), "OK");
  EXPECT_EQ(str(c->command({"CONFIG", "SET", "no-such-parameter", "1"})).rfind("ERR", 0), 0u);
}

// SAVE / BGSAVE run on every master with allow_admin_commands (one reply when all agree).
TEST_F(ProxyAdminCommandsTest, PersistenceRunsOnEveryMasterWhenAllowed) {
  extra_yaml = "allow_admin_commands: true\n";
  startAll();
  auto c = proxyClient();
  for (int i = 0; i < 30; ++i) c->command({"SET", "persist:" + std::to_string(i), "v"});
  EXPECT_EQ(str(c->command({"SAVE"})), "OK");
  for (const auto& n : cluster.nodes()) {
    if (!n.master) continue;
    const std::string info = str(cluster.client(n.port).command({"INFO", "persistence"}));
    EXPECT_NE(info.find("rdb_changes_since_last_save:0\r\n"), std::string::npos) << n.port;
  }
  EXPECT_EQ(str(c->command({"BGSAVE"})), "Background saving started");
}

}  // namespace
}  // namespace slotwise::test
