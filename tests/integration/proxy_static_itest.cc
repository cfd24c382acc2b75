// Static sharding (static: in the config) against real processes: plain redis-servers, the real
// twemproxy (Debian's nutcracker) as the placement oracle, and the slotwise binary.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/nutcracker_process.h"
#include "support/redis_harness.h"
#include "support/test_util.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

std::string str(const resp::RespValue& v) {
  if (v.type == resp::ValueType::kInteger) return std::to_string(v.integer);
  if (v.type == resp::ValueType::kNull) return "(nil)";
  return v.str;
}

class ProxyStaticTest : public ::testing::Test {
 protected:
  static constexpr int kServers = 3;

  void SetUp() override {
    if (!redisServerAvailable()) GTEST_SKIP() << "redis-server is not installed";
    dir_ = std::make_unique<TempDir>("slotwise-static-");
    for (int i = 0; i < kServers; ++i) {
      servers_[i] = std::make_unique<RedisServerProcess>();
      ASSERT_TRUE(servers_[i]->start(pickFreePort(), dir_->path())) << servers_[i]->error();
    }
  }

  // twemproxy's server lines: unequal weights, two named servers and one with the default name.
  std::vector<std::string> serverLines() const {
    return {"127.0.0.1:" + std::to_string(servers_[0]->port()) + ":1 alpha",
            "127.0.0.1:" + std::to_string(servers_[1]->port()) + ":2",
            "127.0.0.1:" + std::to_string(servers_[2]->port()) + ":1 gamma"};
  }

  std::string proxyYaml(const std::string& hash, const std::string& distribution,
                        const std::string& extra = "") {
    std::string yaml = "listen: 127.0.0.1:" + std::to_string(pickFreePort()) +
                       "\nworkers: 2\nstatic:\n  hash: " + hash +
                       "\n  distribution: " + distribution + "\n  hash_tag: \"{}\"\n  servers:\n";
    for (const std::string& line : serverLines()) yaml += "    - \"" + line + "\"\n";
    return yaml + extra + "backend:\n  retry_deadline_ms: 1000\n  connect_timeout_ms: 200\n";
  }

  void startProxy(const std::string& yaml) {
    ASSERT_TRUE(proxy_.start(yaml)) << proxy_.error();
    client_ = std::make_unique<SyncRedisClient>();
    ASSERT_TRUE(client_->connect("127.0.0.1", proxy_.listenPort()));
  }

  // Which servers hold `key` (directly, no proxy).
  std::vector<int> holders(const std::string& key) {
    std::vector<int> out;
    for (int i = 0; i < kServers; ++i) {
      SyncRedisClient direct;
      if (!direct.connect("127.0.0.1", servers_[i]->port())) continue;
      if (direct.command({"EXISTS", key}).integer == 1) out.push_back(i);
    }
    return out;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RedisServerProcess> servers_[kServers];
  ProxyProcess proxy_;
  std::unique_ptr<SyncRedisClient> client_;
};

// Keys written through nutcracker are read back through slotwise with the same pool definition:
// every read hits the server twemproxy put the key on (MGET split by server and merged, too).
TEST_F(ProxyStaticTest, ReadsEveryKeyTwemproxyWroteForEachDistribution) {
  if (!nutcrackerAvailable()) GTEST_SKIP() << "nutcracker (twemproxy) is not installed";
  constexpr int kKeys = 10000;
  for (const char* distribution : {"ketama", "modula"}) {
    SCOPED_TRACE(distribution);
    NutcrackerProcess nutcracker;
    NutcrackerProcess::Pool pool{"p",          pickFreePort(), "fnv1a_64",
                                 distribution, "{}",           serverLines()};
    ASSERT_TRUE(nutcracker.start({pool})) << nutcracker.error();
    SyncRedisClient via_twemproxy;
    ASSERT_TRUE(via_twemproxy.connect("127.0.0.1", pool.port));
    std::vector<std::vector<std::string>> batch;
    const std::string prefix = std::string(distribution) + ":";
    for (int i = 0; i < kKeys; ++i) {
      // Every 10th key carries a hash tag: placed by the tag only, as twemproxy does.
      std::string key = prefix + (i % 10 == 0 ? "{tag" + std::to_string(i % 7) + "}" : "") +
                        "key:" + std::to_string(i);
      batch.push_back({"SET", key, "v" + std::to_string(i)});
      if (batch.size() == 500 || i == kKeys - 1) {
        for (const auto& r : via_twemproxy.pipeline(batch)) ASSERT_EQ(str(r), "OK");
        batch.clear();
      }
    }
    startProxy(proxyYaml("fnv1a_64", distribution));
    int found = 0;
    std::vector<std::string> mget = {"MGET"};
    std::vector<int> mget_ids;
    auto flush_mget = [&] {
      resp::RespValue r = client_->command(mget);
      ASSERT_EQ(r.elements.size(), mget_ids.size()) << str(r);
      for (size_t j = 0; j < mget_ids.size(); ++j) {
        if (str(r.elements[j]) == "v" + std::to_string(mget_ids[j])) ++found;
      }
      mget.resize(1);
      mget_ids.clear();
    };
    for (int i = 0; i < kKeys; ++i) {
      mget.push_back(prefix + (i % 10 == 0 ? "{tag" + std::to_string(i % 7) + "}" : "") +
                     "key:" + std::to_string(i));
      mget_ids.push_back(i);
      if (mget_ids.size() == 200) flush_mget();
    }
    if (!mget_ids.empty()) flush_mget();
    std::cout << "fnv1a_64 x " << distribution << ": " << found << "/" << kKeys
              << " keys written by nutcracker read back through slotwise\n";
    EXPECT_EQ(found, kKeys);
    proxy_.stop();
    proxy_.waitExit(5s);
    for (auto& s : servers_) {
      SyncRedisClient direct;
      ASSERT_TRUE(direct.connect("127.0.0.1", s->port()));
      direct.command({"FLUSHALL"});
    }
  }
}

TEST_F(ProxyStaticTest, MultiKeyCommandsSplitByServerAndWholePoolCommandsFanOut) {
  startProxy(proxyYaml("murmur", "ketama"));
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 60; ++i) {
    mset.push_back("mk:" + std::to_string(i));
    mset.push_back(std::to_string(i));
  }
  EXPECT_EQ(str(client_->command(mset)), "OK");
  std::set<int> used;
  for (int i = 0; i < 60; ++i) {
    const std::vector<int> h = holders("mk:" + std::to_string(i));
    ASSERT_EQ(h.size(), 1u) << "mk:" << i;
    used.insert(h[0]);
  }
  EXPECT_EQ(used.size(), static_cast<size_t>(kServers)) << "60 keys should reach every server";
  resp::RespValue r = client_->command({"MGET", "mk:0", "mk:59", "nosuch", "mk:7"});
  ASSERT_EQ(r.elements.size(), 4u);
  EXPECT_EQ(str(r.elements[0]), "0");
  EXPECT_EQ(str(r.elements[1]), "59");
  EXPECT_EQ(str(r.elements[2]), "(nil)");
  EXPECT_EQ(str(r.elements[3]), "7");
  EXPECT_EQ(client_->command({"DBSIZE"}).integer, 60);
  EXPECT_EQ(client_->command({"KEYS", "mk:*"}).elements.size(), 60u);
  EXPECT_EQ(client_->command({"EXISTS", "mk:1", "mk:2", "mk:3", "nosuch"}).integer, 3);
  std::set<std::string> scanned;
  std::string cursor = "0";
  for (int round = 0; round < 1000; ++round) {
    resp::RespValue page = client_->command({"SCAN", cursor, "COUNT", "7"});
    ASSERT_EQ(page.elements.size(), 2u) << str(page);
    for (const auto& k : page.elements[1].elements) scanned.insert(k.str);
    cursor = page.elements[0].str;
    if (cursor == "0") break;
  }
  EXPECT_EQ(scanned.size(), 60u);
  EXPECT_EQ(client_->command({"DEL", "mk:0", "mk:1", "mk:2", "mk:3", "mk:4"}).integer, 5);
  EXPECT_EQ(client_->command({"DBSIZE"}).integer, 55);
}

// The servers of a pool share nothing: every client's PUBLISH must reach the server the
// subscribers are on, whichever connection (and so backend affinity) it comes from.
TEST_F(ProxyStaticTest, PublishFromAnyClientReachesEverySubscriber) {
  startProxy(proxyYaml("fnv1a_64", "ketama"));
  SyncRedisClient subscriber;
  ASSERT_TRUE(subscriber.connect("127.0.0.1", proxy_.listenPort()));
  ASSERT_EQ(subscriber.command({"SUBSCRIBE", "news"}).elements.size(), 3u);
  SyncRedisClient shard_subscriber;
  ASSERT_TRUE(shard_subscriber.connect("127.0.0.1", proxy_.listenPort()));
  ASSERT_EQ(shard_subscriber.command({"SSUBSCRIBE", "orders"}).elements.size(), 3u);
  for (int i = 0; i < 8; ++i) {
    SyncRedisClient publisher;
    ASSERT_TRUE(publisher.connect("127.0.0.1", proxy_.listenPort()));
    const std::string text = "m" + std::to_string(i);
    EXPECT_EQ(publisher.command({"PUBLISH", "news", text}).integer, 1) << "publisher " << i;
    std::optional<resp::RespValue> message = subscriber.readReply(2s);
    ASSERT_TRUE(message.has_value()) << "publisher " << i;
    ASSERT_EQ(message->elements.size(), 3u);
    EXPECT_EQ(message->elements[2].str, text);
    EXPECT_EQ(publisher.command({"SPUBLISH", "orders", text}).integer, 1) << "publisher " << i;
    message = shard_subscriber.readReply(2s);
    ASSERT_TRUE(message.has_value()) << "publisher " << i;
    ASSERT_EQ(message->elements.size(), 3u);
    EXPECT_EQ(message->elements[2].str, text);
  }
}

// One server = one redis-server: transactions, scripts and blocking commands work when their
// keys share a server (hash tags make sure), else the clear CROSSSLOT error.
TEST_F(ProxyStaticTest, TransactionsAndScriptsOnOneServerElseCrossSlot) {
  startProxy(proxyYaml("fnv1a_64", "ketama"));
  EXPECT_EQ(str(client_->command({"MULTI"})), "OK");
  EXPECT_EQ(str(client_->command({"SET", "{u1}a", "1"})), "QUEUED");
  EXPECT_EQ(str(client_->command({"INCR", "{u1}b"})), "QUEUED");
  resp::RespValue exec = client_->command({"EXEC"});
  ASSERT_EQ(exec.elements.size(), 2u) << str(exec);
  EXPECT_EQ(exec.elements[1].integer, 1);
  resp::RespValue eval = client_->command(
      {"EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])", "2",
       "{u1}c", "{u1}a", "x"});
  EXPECT_EQ(str(eval), "1");
  // Two keys on two different servers (found by asking where each lands).
  std::string other;
  const int home = holders("{u1}a").at(0);
  for (int i = 0; i < 200 && other.empty(); ++i) {
    const std::string k = "far:" + std::to_string(i);
    client_->command({"SET", k, "1"});
    if (holders(k).at(0) != home) other = k;
  }
  ASSERT_FALSE(other.empty());
  resp::RespValue cross =
      client_->command({"EVAL", "return redis.call('GET', KEYS[1])", "2", "{u1}a", other});
  EXPECT_EQ(cross.type, resp::ValueType::kError);
  EXPECT_NE(cross.str.find("CROSSSLOT"), std::string::npos) << cross.str;
  EXPECT_EQ(client_->command({"RPUSH", "{u1}list", "x"}).integer, 1);
  resp::RespValue popped = client_->command({"BLPOP", "{u1}list", "1"});
  ASSERT_EQ(popped.elements.size(), 2u) << str(popped);
  EXPECT_EQ(str(popped.elements[1]), "x");
}

// auto_eject_hosts with twemproxy's rules: after server_failure_limit failures a dead server's
// keys go to the others; after server_retry_timeout_ms it is tried again.
TEST_F(ProxyStaticTest, AutoEjectMovesADeadServersKeysAndTakesItBackLater) {
  startProxy(proxyYaml("fnv1a_64", "ketama",
                       "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                       "  server_retry_timeout_ms: 1500\n"));
  // A key that lives on server 1 while all are up. fnv1a_64 (cut to 32 bits) of short keys
  // with a common prefix clusters on the ring: with some ports none of "ej:0".."ej:199" lands
  // on server 1, so look further (about 40% of keys land there overall).
  std::string key;
  for (int i = 0; i < 2000 && key.empty(); ++i) {
    const std::string k = "ej:" + std::to_string(i);
    ASSERT_EQ(str(client_->command({"SET", k, "before"})), "OK");
    if (holders(k) == std::vector<int>{1}) key = k;
  }
  ASSERT_FALSE(key.empty()) << proxy_.log();
  const uint16_t port = servers_[1]->port();
  servers_[1]->kill(SIGKILL);
  // Writes to the key fail until the proxy ejects the server, then land on another one.
  bool moved = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!moved && std::chrono::steady_clock::now() < deadline) {
    moved = str(client_->command({"SET", key, "after"})) == "OK";
    if (!moved) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(moved) << proxy_.log();
  const std::vector<int> h = holders(key);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_NE(h[0], 1);
  EXPECT_EQ(str(client_->command({"GET", key})), "after");
  // The server comes back; once its retry time is up, its keys are placed on it again.
  ASSERT_TRUE(servers_[1]->start(port, dir_->path())) << servers_[1]->error();
  bool back = false;
  const auto back_deadline = std::chrono::steady_clock::now() + 10s;
  while (!back && std::chrono::steady_clock::now() < back_deadline) {
    // The restarted server is empty: a GET of nil means the key is placed on it again.
    back = client_->command({"GET", key}).type == resp::ValueType::kNull;
    if (!back) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(back) << proxy_.log();
}

TEST_F(ProxyStaticTest, ConfigErrorsNameTheKey) {
  ProxyProcess bad;
  EXPECT_FALSE(bad.start(proxyYaml("sha1", "ketama")));
  EXPECT_NE(bad.log().find("static.hash: invalid value 'sha1'"), std::string::npos) << bad.log();
}

}  // namespace
}  // namespace slotwise::test
