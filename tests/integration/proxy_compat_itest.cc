// Differential tests (issue 14): the same command sequence against a standalone redis-server and
// against Slotwise in front of a real Redis Cluster, replies compared, in RESP2 and RESP3. Where
// Redis Cluster itself answers differently (README "Differences from a single redis-server"),
// the test checks the cluster's rule instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "resp/encoder.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using resp::RespValue;
using resp::ValueType;
using Script = std::vector<std::vector<std::string>>;

constexpr std::string_view kMarker = "--end-of-script--";

class ProxyCompatTest : public ProxyClusterTest {
 protected:
  // The cluster, the proxy and one standalone redis-server (the reference).
  void startBoth() {
    startAll();
    if (HasFatalFailure()) return;
    dir_ = std::make_unique<TempDir>("slotwise-compat-");
    ASSERT_TRUE(single_.start(pickFreePort(), dir_->path())) << single_.error();
  }
  std::unique_ptr<SyncRedisClient> singleClient() {
    auto c = std::make_unique<SyncRedisClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", single_.port())) << c->lastError();
    return c;
  }
  std::unique_ptr<SyncRedisClient> client(bool reference, int proto) {
    auto c = reference ? singleClient() : proxyClient();
    if (proto == 3) {
      RespValue hello = c->command({"HELLO", "3"});
      EXPECT_EQ(hello.type, ValueType::kMap) << str(hello);
    }
    return c;
  }
  // Sends `script` then PING <marker> on `c` and collects every reply (pushes included) up to the
  // marker's, which is left out. Bounded: 5s per reply.
  static std::vector<RespValue> run(SyncRedisClient& c, const Script& script) {
    std::string bytes;
    for (const auto& cmd : script) {
      std::vector<std::string_view> args(cmd.begin(), cmd.end());
      resp::appendCommand(bytes, std::span<const std::string_view>(args));
    }
    resp::appendCommand(bytes, {"PING", kMarker});
    EXPECT_TRUE(c.sendRaw(bytes));
    std::vector<RespValue> replies;
    for (size_t i = 0; i < 4 * script.size() + 64; ++i) {
      std::optional<RespValue> r = c.readReply(5000ms);
      if (!r) {
        replies.push_back(RespValue::error("IOERR no reply: " + c.lastError()));
        break;
      }
      if (containsMarker(*r)) break;
      replies.push_back(std::move(*r));
    }
    return replies;
  }
  static bool containsMarker(const RespValue& v) {
    if (v.str == kMarker) return true;
    return std::any_of(v.elements.begin(), v.elements.end(), containsMarker);
  }
  static std::string show(const std::vector<RespValue>& replies) {
    std::string out;
    for (const RespValue& r : replies) out += resp::toString(r) + "\n";
    return out;
  }
  // Runs `script` on a fresh connection to the reference and to the proxy; expects equal replies.
  void expectSameReplies(const Script& script, int proto) {
    auto ref = client(true, proto);
    auto via = client(false, proto);
    std::vector<RespValue> want = run(*ref, script);
    std::vector<RespValue> got = run(*via, script);
    EXPECT_EQ(show(got), show(want)) << "RESP" << proto;
    if (std::getenv("SLOTWISE_COMPAT_SHOW") != nullptr) std::cerr << show(got) << "--\n";
  }

  std::unique_ptr<TempDir> dir_;
  RedisServerProcess single_;
};

// ---- Pub/Sub ----------------------------------------------------------------------------------

TEST_F(ProxyCompatTest, SubscribeAndUnsubscribeRepliesMatchRedis) {
  startBoth();
  const Script script = {
      {"UNSUBSCRIBE", "foo", "bar", "quux"},  // never subscribed: one reply each
      {"UNSUBSCRIBE"},                        // nothing at all: one reply, nil name
      {"PUNSUBSCRIBE"},
      {"SUNSUBSCRIBE"},
      {"PUNSUBSCRIBE", "a*", "b*"},
      {"SUBSCRIBE", "foo", "bar", "foo"},
      {"SUBSCRIBE", "foo"},
      {"GET", "{t}nokey"},  // RESP2: refused in subscriber mode; RESP3: answered
      {"PSUBSCRIBE", "p*", "q?"},
      {"UNSUBSCRIBE", "quux", "foo"},
      {"SSUBSCRIBE", "{t}a", "{t}b"},  // shard channels counted apart
      {"SUNSUBSCRIBE", "{t}c"},
      {"PING"},
      {"UNSUBSCRIBE"},  // bar only
      {"UNSUBSCRIBE"},  // no channel left, two patterns: nil name, count 2
      {"PUNSUBSCRIBE", "q?"},
      {"PUNSUBSCRIBE"},  // p* only
      {"SUNSUBSCRIBE", "{t}b", "{t}a"},
      {"SUNSUBSCRIBE"},
  };
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);
  // RESET leaves subscriber mode at once, behind the confirmations still owed.
  const Script reset = {{"SUBSCRIBE", "r1", "r2"},
                        {"PSUBSCRIBE", "r*"},
                        {"SSUBSCRIBE", "{r}s"},
                        {"RESET"},
                        {"GET", "{r}x"},  // normal mode again
                        {"UNSUBSCRIBE"}};
  expectSameReplies(reset, 2);
  expectSameReplies(reset, 3);
}

TEST_F(ProxyCompatTest, PublishCountsEverySubscriberOfTheChannel) {
  startBoth();
  // Channels on every master (chan0..chan11 spread over the three), i % 3 + 1 subscribers each,
  // subscribed on separate connections; plus one direct subscriber on the channel's own master.
  for (bool reference : {true, false}) {
    std::vector<std::unique_ptr<SyncRedisClient>> subs;
    std::vector<std::string> channels;
    for (int i = 0; i < 12; ++i) channels.push_back("chan" + std::to_string(i));
    for (int i = 0; i < 12; ++i) {
      for (int n = 0; n < i % 3 + 1; ++n) {
        subs.push_back(client(reference, n % 2 == 0 ? 2 : 3));
        RespValue r = subs.back()->command({"SUBSCRIBE", channels[i]});
        ASSERT_TRUE(r.isAggregate() && r.elements.size() == 3) << str(r);
      }
    }
    auto pub = client(reference, 2);
    for (int i = 0; i < 12; ++i) {
      RespValue r = pub->command({"PUBLISH", channels[i], "hello"});
      ASSERT_EQ(r.type, ValueType::kInteger) << str(r);
      EXPECT_EQ(r.integer, i % 3 + 1) << channels[i] << (reference ? " (redis)" : " (proxy)");
    }
    EXPECT_EQ(pub->command({"PUBLISH", "nobody-listens", "x"}).integer, 0);
    for (auto& s : subs) {  // every subscriber got its one message
      std::optional<RespValue> m = s->readReply(5000ms);
      ASSERT_TRUE(m.has_value()) << s->lastError();
      ASSERT_EQ(m->elements.size(), 3u) << resp::toString(*m);
      EXPECT_EQ(m->elements[0].str, "message");
      EXPECT_EQ(m->elements[2].str, "hello");
    }
  }
  // A client of the channel's node itself counts too, as in Redis Cluster.
  auto proxy_sub = proxyClient();
  ASSERT_EQ(proxy_sub->command({"SUBSCRIBE", "chan0"}).elements.size(), 3u);
  SyncRedisClient direct;
  ASSERT_TRUE(direct.connect("127.0.0.1",
                             cluster.masterPortForSlot(RedisClusterHarness::keySlot("chan0"))));
  ASSERT_EQ(direct.command({"SUBSCRIBE", "chan0"}).elements.size(), 3u);
  EXPECT_EQ(proxyClient()->command({"PUBLISH", "chan0", "x"}).integer, 2);
}

TEST_F(ProxyCompatTest, PatternSubscriberSeesChannelsOfEveryMaster) {
  startBoth();
  for (int proto : {2, 3}) {
    auto psub = client(false, proto);
    RespValue r = psub->command({"PSUBSCRIBE", "news.*"});
    ASSERT_EQ(r.elements.size(), 3u) << str(r);
    // Channels whose slots span the three masters.
    std::vector<std::string> channels;
    std::vector<uint16_t> masters;
    for (int i = 0; channels.size() < 9 && i < 1000; ++i) {
      std::string ch = "news." + std::to_string(i);
      uint16_t m = cluster.masterPortForSlot(RedisClusterHarness::keySlot(ch));
      if (std::count(masters.begin(), masters.end(), m) < 3) {
        masters.push_back(m);
        channels.push_back(ch);
      }
    }
    ASSERT_EQ(channels.size(), 9u);
    auto pub = proxyClient();
    for (const std::string& ch : channels) pub->command({"PUBLISH", ch, "m-" + ch});
    // Messages of different channels leave from different nodes: their order may differ from
    // the publishing order (README), so compare the sets.
    std::vector<std::string> got;
    for (size_t i = 0; i < channels.size(); ++i) {
      std::optional<RespValue> m = psub->readReply(5000ms);
      ASSERT_TRUE(m.has_value()) << psub->lastError();
      ASSERT_EQ(m->elements.size(), 4u) << resp::toString(*m);
      EXPECT_EQ(m->type, proto == 3 ? ValueType::kPush : ValueType::kArray);
      EXPECT_EQ(m->elements[0].str, "pmessage");
      EXPECT_EQ(m->elements[3].str, "m-" + m->elements[2].str);
      got.push_back(m->elements[2].str);
    }
    std::sort(got.begin(), got.end());
    std::sort(channels.begin(), channels.end());
    EXPECT_EQ(got, channels);
  }
}

TEST_F(ProxyCompatTest, NoMessageAfterUnsubscribeAndNormalModeAfterTheLast) {
  startBoth();
  for (bool reference : {true, false}) {
    auto sub = client(reference, 2);
    auto pub = client(reference, 2);
    const Script script = {{"SUBSCRIBE", "a1", "a2"}, {"UNSUBSCRIBE", "a1"}};
    std::vector<RespValue> replies = run(*sub, script);
    ASSERT_EQ(replies.size(), 3u) << show(replies);
    EXPECT_EQ(pub->command({"PUBLISH", "a1", "x"}).integer, 0);
    EXPECT_EQ(pub->command({"PUBLISH", "a2", "y"}).integer, 1);
    std::optional<RespValue> m = sub->readReply(5000ms);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->elements[2].str, "y");
    // The last unsubscribe ends subscriber mode: a plain command right behind it runs.
    std::vector<RespValue> after = run(*sub, {{"UNSUBSCRIBE"}, {"SET", "{c}k", "v"}});
    EXPECT_EQ(show(after), "[\"unsubscribe\", \"a2\", (integer) 0]\nOK\n") << reference;
  }
}

// ---- Keyspace notifications -------------------------------------------------------------------

// CONFIG SET notify-keyspace-events reaches every node without allow_admin_commands; keyspace
// channels are subscribed on the key's master, keyevent channels and patterns on every master.
// The same subscriptions and writes against the standalone server and through the proxy (keys on
// different masters) deliver the same messages; their order across nodes may differ, so the
// sorted lists are compared.
TEST_F(ProxyCompatTest, KeyspaceNotificationsReachSubscribers) {
  startBoth();
  ASSERT_NE(cluster.masterPortForSlot(RedisClusterHarness::keySlot("foo")),
            cluster.masterPortForSlot(RedisClusterHarness::keySlot("bar")));
  expectSameReplies({{"CONFIG", "SET", "notify-keyspace-events", "KEA"},
                     {"CONFIG", "GET", "notify-keyspace-events"}},
                    2);
  for (const auto& node : cluster.nodes()) {  // replicas too: they keep it after a failover
    RespValue r = cluster.client(node.port).command({"CONFIG", "GET", "notify-keyspace-events"});
    ASSERT_EQ(r.elements.size(), 2u) << str(r);
    EXPECT_EQ(r.elements[1].str, "AKE") << node.port;
  }
  // Anything else still needs allow_admin_commands.
  for (const Script& refused : {Script{{"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}},
                                Script{{"CONFIG", "SET", "notify-keyspace-events", "KEA",
                                        "maxmemory-policy", "allkeys-lru"}}}) {
    std::vector<RespValue> r = run(*proxyClient(), refused);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].isError()) << show(r);
    EXPECT_NE(r[0].str.find("allow_admin_commands"), std::string::npos) << show(r);
  }
  const Script subscribe = {{"SUBSCRIBE", "__keyspace@0__:foo", "__keyspace@0__:bar",
                             "__keyevent@0__:set", "__keyevent@0__:del"},
                            {"PSUBSCRIBE", "__keyevent@0__:*", "__keyspace@0__:b*"}};
  const Script writes = {{"SET", "foo", "1"}, {"SET", "bar", "2"}, {"INCR", "foo"},
                         {"DEL", "foo"},      {"DEL", "bar"},      {"SET", "other", "x"}};
  for (int proto : {2, 3}) {
    std::vector<std::string> messages[2];
    for (bool reference : {true, false}) {
      auto sub = client(reference, proto);
      auto w = client(reference, 2);
      if (!reference) w->command({"CONFIG", "SET", "notify-keyspace-events", "KEA"});
      std::vector<RespValue> confirmations = run(*sub, subscribe);
      ASSERT_EQ(confirmations.size(), 6u) << show(confirmations);
      run(*w, writes);
      // 18 messages: SET foo 3 (keyspace, keyevent set, pattern), SET bar 4 (and b*), INCR foo
      // 2 (keyspace, pattern), DEL foo 3, DEL bar 4, SET other 2 (keyevent set, pattern).
      for (;;) {
        std::optional<RespValue> m = sub->readReply(reference ? 1000ms : 2000ms);
        if (!m) break;
        EXPECT_EQ(m->type, proto == 3 ? ValueType::kPush : ValueType::kArray);
        messages[reference].push_back(resp::toString(*m));
      }
      std::sort(messages[reference].begin(), messages[reference].end());
    }
    EXPECT_EQ(messages[false], messages[true]) << "RESP" << proto;
    EXPECT_EQ(messages[true].size(), 18u);
  }
  // UNSUBSCRIBE leaves every master: no message afterwards, normal mode again.
  auto sub = proxyClient();
  run(*sub, {{"SUBSCRIBE", "__keyevent@0__:set"}});
  std::vector<RespValue> after =
      run(*sub, {{"UNSUBSCRIBE"}, {"SET", "foo", "3"}, {"SET", "bar", "3"}});
  EXPECT_EQ(show(after), "[\"unsubscribe\", \"__keyevent@0__:set\", (integer) 0]\nOK\nOK\n");
}

// A node that lost the setting (restarted, or joined the cluster later: CONFIG SET is not
// persisted) gets it again from the proxy, and its keys' notifications reach subscribers.
TEST_F(ProxyCompatTest, KeyspaceNotificationSettingComesBackOnANodeThatLostIt) {
  startAll();
  ASSERT_EQ(str(proxyClient()->command({"CONFIG", "SET", "notify-keyspace-events", "KEA"})), "OK");
  const uint16_t port = cluster.masterPortForSlot(RedisClusterHarness::keySlot("foo"));
  SyncRedisClient& node = cluster.client(port);
  auto valueOnNode = [&] {
    RespValue r = node.command({"CONFIG", "GET", "notify-keyspace-events"});
    return r.elements.size() == 2 ? r.elements[1].str : str(r);
  };
  // The proxy learns the nodes' spelling within one round (5 s), then checks every 5 s.
  std::this_thread::sleep_for(6000ms);
  ASSERT_EQ(str(node.command({"CONFIG", "SET", "notify-keyspace-events", ""})), "OK");
  ASSERT_TRUE(cluster.waitFor([&] { return valueOnNode() == "AKE"; }, 15000ms)) << valueOnNode();
  EXPECT_TRUE(cluster.waitFor(
      [&] { return proxy.log().find("notify-keyspace-events set again") != std::string::npos; },
      2000ms))
      << proxy.log();
  auto sub = proxyClient();
  ASSERT_EQ(sub->command({"SUBSCRIBE", "__keyspace@0__:foo"}).elements.size(), 3u);
  ASSERT_EQ(str(proxyClient()->command({"SET", "foo", "1"})), "OK");
  std::optional<RespValue> m = sub->readReply(3000ms);
  ASSERT_TRUE(m.has_value()) << sub->lastError();
  EXPECT_EQ(resp::toString(*m), "[\"message\", \"__keyspace@0__:foo\", \"set\"]");
}

// ---- Transactions -----------------------------------------------------------------------------

TEST_F(ProxyCompatTest, TransactionRepliesMatchRedis) {
  startBoth();
  const std::vector<Script> scripts = {
      // Queueing errors abort EXEC, as Redis does.
      {{"MULTI"}, {"SET", "{t}a", "1"}, {"NOSUCH", "a", "b"}, {"GET"}, {"EXEC"}, {"GET", "{t}a"}},
      {{"MULTI"}, {"SET", "{t}a"}, {"EXEC"}},
      // Errors that do not abort.
      {{"MULTI"}, {"MULTI"}, {"SET", "{t}a", "2"}, {"EXEC"}},
      {{"MULTI"}, {"WATCH", "{t}x"}, {"INCR", "{t}a"}, {"EXEC"}},
      {{"MULTI"}, {"SET", "{t}s", "x"}, {"INCR", "{t}s"}, {"GET", "{t}s"}, {"EXEC"}},
      // Out of place.
      {{"EXEC"}, {"DISCARD"}, {"UNWATCH"}, {"WATCH", "{t}x"}, {"DISCARD"}, {"UNWATCH"}},
      {{"MULTI"}, {"DISCARD"}, {"EXEC"}, {"MULTI"}, {"EXEC"}},
      {{"WATCH", "{t}x"}, {"MULTI"}, {"SET", "{t}x", "1"}, {"EXEC"}, {"UNWATCH"}},
      // Commands without keys inside MULTI.
      {{"MULTI"}, {"PING"}, {"ECHO", "e"}, {"EXEC"}},
      {{"MULTI"}, {"PING"}, {"SET", "{t}b", "1"}, {"PING"}, {"EXEC"}},
      // A blocking command inside MULTI does not block: Redis runs it with a zero timeout.
      {{"DEL", "{t}l"},
       {"MULTI"},
       {"BLPOP", "{t}l", "5"},
       {"LPUSH", "{t}l", "a"},
       {"BLPOP", "{t}l", "5"},
       {"BRPOPLPUSH", "{t}l", "{t}m", "5"},
       {"EXEC"}},
      {{"DEL", "{t}a", "{t}b", "{t}s", "{t}x", "{t}m"}},
  };
  for (int proto : {2, 3}) {
    for (const Script& script : scripts) expectSameReplies(script, proto);
  }
  // Bounded: the BLPOPs inside MULTI answered at once (EXEC measured through the proxy).
  auto c = proxyClient();
  const auto start = std::chrono::steady_clock::now();
  std::vector<RespValue> r = run(*c, {{"MULTI"}, {"BLPOP", "{t}none", "3"}, {"EXEC"}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(resp::toString(r[2]), "[(nil)]");
}

TEST_F(ProxyCompatTest, WatchSeesAnotherClientsWriteLikeRedis) {
  startBoth();
  for (bool reference : {true, false}) {
    auto a = client(reference, 2);
    auto b = client(reference, 2);
    EXPECT_EQ(str(a->command({"WATCH", "{w}k"})), "OK");
    EXPECT_EQ(str(b->command({"SET", "{w}k", "other"})), "OK");
    std::vector<RespValue> r = run(*a, {{"MULTI"}, {"SET", "{w}k", "mine"}, {"EXEC"}});
    EXPECT_EQ(show(r), "OK\nQUEUED\n(nil)\n") << reference;
    EXPECT_EQ(str(b->command({"GET", "{w}k"})), "other");
    // The same connection watches and runs again afterwards.
    r = run(*a, {{"WATCH", "{w}k"}, {"MULTI"}, {"SET", "{w}k", "mine"}, {"EXEC"}});
    EXPECT_EQ(show(r), "OK\nOK\nQUEUED\n[OK]\n") << reference;
  }
}

// Cluster rule: one transaction, one slot. The refusals are queueing errors (EXECABORT), and
// whatever happened, UNWATCH / EXEC / DISCARD release the slot: the next transaction may use
// another one.
TEST_F(ProxyCompatTest, RefusedCommandsAbortAndNothingStaysPinned) {
  startAll();
  auto c = proxyClient();
  auto expectScript = [&](const Script& script, const std::string& want) {
    EXPECT_EQ(show(run(*c, script)), want);
  };
  const std::string abort = "(error) EXECABORT Transaction discarded because of previous errors.\n";
  const std::string cross =
      "(error) CROSSSLOT Keys in request don't hash to the same slot (a transaction must stay in "
      "one slot)\n";
  // A key of another slot inside MULTI.
  expectScript({{"WATCH", "{a}x"}, {"MULTI"}, {"SET", "{a}x", "1"}, {"SET", "{b}y", "1"}, {"EXEC"}},
               "OK\nOK\nQUEUED\n" + cross + abort);
  expectScript({{"WATCH", "{b}y"}, {"MULTI"}, {"SET", "{b}y", "2"}, {"EXEC"}},
               "OK\nOK\nQUEUED\n[OK]\n");
  // A cross-slot command while keys are watched, then UNWATCH.
  expectScript({{"WATCH", "{a}x"},
                {"MSETNX", "{a}1", "v", "{b}2", "v"},
                {"WATCH", "{b}y"},
                {"UNWATCH"},
                {"WATCH", "{b}y"},
                {"UNWATCH"}},
               "OK\n(error) CROSSSLOT Keys in request don't hash to the same slot\n" + cross +
                   "OK\nOK\nOK\n");
  // DISCARD after a refused command.
  expectScript({{"WATCH", "{a}x"},
                {"MULTI"},
                {"MGET", "{a}x", "{b}y"},
                {"DISCARD"},
                {"WATCH", "{b}y"},
                {"MULTI"},
                {"GET", "{b}y"},
                {"EXEC"}},
               "OK\nOK\n" + cross + "OK\nOK\nOK\nQUEUED\n[\"2\"]\n");
  // Whole-cluster commands are queueing errors with a clear message.
  std::vector<RespValue> r =
      run(*c, {{"MULTI"}, {"SET", "{a}x", "1"}, {"DBSIZE"}, {"FLUSHALL"}, {"KEYS", "*"}, {"EXEC"}});
  ASSERT_EQ(r.size(), 6u) << show(r);
  for (int i : {2, 3, 4}) {
    EXPECT_TRUE(r[i].isError()) << show(r);
    EXPECT_NE(r[i].str.find("inside MULTI"), std::string::npos) << show(r);
  }
  EXPECT_EQ(resp::toString(r[5]), abort.substr(0, abort.size() - 1));
  EXPECT_EQ(str(c->command({"GET", "{a}x"})), "<null>");        // nothing ran
  EXPECT_EQ(c->command({"DBSIZE"}).type, ValueType::kInteger);  // not in MULTI any more
  // Commands any master answers alike are queued.
  expectScript({{"MULTI"}, {"CONFIG", "GET", "maxmemory-policy"}, {"SET", "{a}x", "1"}, {"EXEC"}},
               "OK\nQUEUED\nQUEUED\n[[\"maxmemory-policy\", \"noeviction\"], OK]\n");
}

// ---- Keyspace ---------------------------------------------------------------------------------

// Reference: the standalone server for an empty keyspace; then the cluster's own key counts.
TEST_F(ProxyCompatTest, RandomKeyDrawsFromEveryMasterByItsKeyCount) {
  startBoth();
  expectSameReplies({{"FLUSHALL"}, {"RANDOMKEY"}}, 2);
  expectSameReplies({{"RANDOMKEY"}}, 3);
  const uint16_t foo_master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("foo"));
  const uint16_t bar_master = cluster.masterPortForSlot(RedisClusterHarness::keySlot("bar"));
  ASSERT_NE(foo_master, bar_master);
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "foo", "1"})), "OK");
  ASSERT_EQ(str(c->command({"SET", "bar", "1"})), "OK");
  int foo = 0, bar = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string k = str(c->command({"RANDOMKEY"}));
    foo += k == "foo";
    bar += k == "bar";
  }
  EXPECT_EQ(foo + bar, 100);
  EXPECT_GT(foo, 0);  // each is missed 100 times in a row with probability 2^-100
  EXPECT_GT(bar, 0);
  // Three more keys on bar's master: foo is one key in five (400 draws: 80 expected, sd 8).
  for (const char* k : {"{bar}1", "{bar}2", "{bar}3"}) c->command({"SET", k, "1"});
  foo = 0;
  for (int i = 0; i < 400; ++i) foo += str(c->command({"RANDOMKEY"})) == "foo";
  EXPECT_GT(foo, 40);
  EXPECT_LT(foo, 130);
  // RESP3 clients get RESP3's null when everything is gone.
  c->command({"FLUSHALL"});
  auto c3 = client(false, 3);
  EXPECT_EQ(c3->command({"RANDOMKEY"}).type, ValueType::kNull);
}

// Reference: a node of the cluster itself (cluster mode changes these answers).
TEST_F(ProxyCompatTest, MultiDatabaseCommandsGetTheClusterNodesErrors) {
  startAll();
  const Script script = {{"SELECT", "0"},           {"SELECT", "1"},
                         {"SELECT", "x"},           {"SELECT", "00"},
                         {"SELECT", "-1"},          {"SELECT", "-0"},
                         {"SELECT", "99999999999"}, {"SELECT", "99999999999999999999"},
                         {"SWAPDB", "0", "1"},      {"SWAPDB", "0"},
                         {"MOVE", "{m}k", "1"},     {"MOVE", "{m}k", "0"},
                         {"MOVE", "{m}k"}};
  SyncRedisClient node;
  ASSERT_TRUE(
      node.connect("127.0.0.1", cluster.masterPortForSlot(RedisClusterHarness::keySlot("{m}k"))));
  auto via = proxyClient();
  EXPECT_EQ(show(run(*via, script)), show(run(node, script)));
}

// ---- CLUSTER
// -------------------------------------------------------------------------------------

// COUNTKEYSINSLOT / GETKEYSINSLOT answer for the slot's master (reference: that node itself),
// with a cluster node's errors for bad arguments. LINKS / REPLICAS describe the emulated node.
TEST_F(ProxyCompatTest, ClusterSlotQueriesGoToTheSlotsMaster) {
  startAll();
  auto c = proxyClient();
  for (const char* k : {"{a}1", "{a}2", "{a}3", "{b}1"}) c->command({"SET", k, "v"});
  const std::string slot = std::to_string(RedisClusterHarness::keySlot("a"));
  SyncRedisClient& owner = ownerOf("{a}1");
  const Script script = {
      {"CLUSTER", "COUNTKEYSINSLOT", slot},    {"CLUSTER", "GETKEYSINSLOT", slot, "2"},
      {"CLUSTER", "COUNTKEYSINSLOT", "x"},     {"CLUSTER", "COUNTKEYSINSLOT", "-1"},
      {"CLUSTER", "COUNTKEYSINSLOT", "16384"}, {"CLUSTER", "COUNTKEYSINSLOT", "007"},
      {"CLUSTER", "COUNTKEYSINSLOT"},          {"CLUSTER", "GETKEYSINSLOT", slot, "-1"},
      {"CLUSTER", "GETKEYSINSLOT", "x", "1"},  {"CLUSTER", "GETKEYSINSLOT", "16384", "1"},
      {"CLUSTER", "GETKEYSINSLOT", slot, "y"}};
  const std::string want = show(run(owner, script));
  EXPECT_EQ(show(run(*c, script)), want);
  EXPECT_EQ(want.substr(0, want.find('\n')), "(integer) 3");
  // A slot of another master counts that master's keys.
  const std::string b = std::to_string(RedisClusterHarness::keySlot("b"));
  EXPECT_EQ(c->command({"CLUSTER", "COUNTKEYSINSLOT", b}).integer, 1);
  // The emulated one-node cluster: no links, no replicas; other ids are unknown.
  const std::string myid = str(c->command({"CLUSTER", "MYID"}));
  EXPECT_EQ(show(run(*c, {{"CLUSTER", "LINKS"},
                          {"CLUSTER", "REPLICAS", myid},
                          {"CLUSTER", "SLAVES", myid},
                          {"CLUSTER", "REPLICAS", "nosuchnode"}})),
            "[]\n[]\n[]\n(error) ERR Unknown node nosuchnode\n");
  RespValue help = c->command({"CLUSTER", "HELP"});
  ASSERT_EQ(help.type, ValueType::kArray) << str(help);
  EXPECT_GT(help.elements.size(), 10u);
  // Cluster-bus administration stays refused, by name.
  RespValue meet = c->command({"CLUSTER", "MEET", "127.0.0.1", "1"});
  EXPECT_TRUE(meet.isError());
}

// ---- ACL ---------------------------------------------------------------------------------------

// Without auth every client is "default" without a password, as on a fresh redis-server.
TEST_F(ProxyCompatTest, AclDescribesTheProxysOwnUsers) {
  startBoth();
  const Script script = {{"ACL", "WHOAMI"},
                         {"ACL", "USERS"},
                         {"ACL", "LIST"},
                         {"ACL", "GETUSER", "default"},
                         {"ACL", "GETUSER", "nosuch"},
                         {"ACL", "LOG"},
                         {"ACL", "LOG", "5"},
                         {"ACL", "LOG", "x"},
                         {"ACL", "LOG", "RESET"}};
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);
  // ACL CAT is a node's (the order of its list varies from process to process).
  auto c = proxyClient();
  RespValue cat = c->command({"ACL", "CAT", "keyspace"});
  ASSERT_EQ(cat.type, ValueType::kArray) << str(cat);
  EXPECT_EQ(cat.elements.size(),
            singleClient()->command({"ACL", "CAT", "keyspace"}).elements.size());
  // Changes are the configuration's: refused with the reason.
  for (const auto& cmd : Script{{"ACL", "SETUSER", "bob", "on"},
                                {"ACL", "DELUSER", "bob"},
                                {"ACL", "SAVE"},
                                {"ACL", "LOAD"},
                                {"ACL", "DRYRUN", "default", "GET", "k"}}) {
    const std::string error = str(c->command(cmd));
    EXPECT_EQ(error.rfind("ERR slotwise: ACL " + cmd[1] + " is not supported", 0), 0u) << error;
    EXPECT_NE(error.find("auth.users"), std::string::npos) << error;
  }
}

// auth.password and auth.users against a redis-server with the same users (requirepass, SETUSER):
// the same ACL LIST / USERS / GETUSER (passwords as SHA-256 digests), WHOAMI after each AUTH.
TEST_F(ProxyCompatTest, AclListsConfiguredUsersLikeRedis) {
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  extra_yaml = "auth:\n  password: pw-default\n  users:\n    - {name: alice, password: pw-alice}\n";
  proxy_port = pickFreePort();
  ASSERT_TRUE(proxy.start(proxyConfig())) << proxy.error();
  dir_ = std::make_unique<TempDir>("slotwise-compat-");
  ASSERT_TRUE(single_.start(pickFreePort(), dir_->path())) << single_.error();
  {
    auto ref = singleClient();
    ASSERT_EQ(
        str(ref->command({"ACL", "SETUSER", "alice", "on", ">pw-alice", "~*", "&*", "+@all"})),
        "OK");
    ASSERT_EQ(str(ref->command({"CONFIG", "SET", "requirepass", "pw-default"})), "OK");
  }
  const Script script = {{"AUTH", "pw-default"},
                         {"ACL", "WHOAMI"},
                         {"ACL", "USERS"},
                         {"ACL", "LIST"},
                         {"ACL", "GETUSER", "alice"},
                         {"ACL", "GETUSER", "default"},
                         {"AUTH", "alice", "pw-alice"},
                         {"ACL", "WHOAMI"}};
  for (int proto : {2, 3}) {
    auto ref = singleClient();
    auto via = proxyClient();
    if (proto == 3) {
      ref->command({"HELLO", "3", "AUTH", "default", "pw-default"});
      via->command({"HELLO", "3", "AUTH", "default", "pw-default"});
    }
    EXPECT_EQ(show(run(*via, script)), show(run(*ref, script))) << "RESP" << proto;
  }
}

// ---- CLIENT ------------------------------------------------------------------------------------

TEST_F(ProxyCompatTest, ClientControlSubcommandsMatchRedis) {
  startBoth();
  const Script script = {{"CLIENT", "NO-EVICT", "on"},      {"CLIENT", "NO-EVICT", "off"},
                         {"CLIENT", "NO-EVICT", "x"},       {"CLIENT", "GETREDIR"},
                         {"CLIENT", "TRACKINGINFO"},        {"CLIENT", "TRACKING", "off"},
                         {"CLIENT", "CACHING", "yes"},      {"CLIENT", "PAUSE", "x"},
                         {"CLIENT", "PAUSE", "-1"},         {"CLIENT", "PAUSE", "10", "x"},
                         {"CLIENT", "PAUSE", "0", "WRITE"}, {"CLIENT", "UNPAUSE"}};
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);
  const std::string tracking = str(proxyClient()->command({"CLIENT", "TRACKING", "on"}));
  EXPECT_EQ(tracking.rfind("ERR slotwise: CLIENT TRACKING is not supported", 0), 0u) << tracking;
}

// CLIENT LIST and CLIENT KILL see the clients of every worker, with Redis's replies and errors.
TEST_F(ProxyCompatTest, ClientListAndKillSeeEveryWorker) {
  startBoth();
  const Script script = {{"CLIENT", "LIST", "ID", "0"},
                         {"CLIENT", "LIST", "ID", "x"},
                         {"CLIENT", "LIST", "ID"},
                         {"CLIENT", "LIST", "TYPE", "x"},
                         {"CLIENT", "LIST", "TYPE", "normal", "ID", "1"},
                         {"CLIENT", "LIST", "TYPE", "master"},
                         {"CLIENT", "KILL", "ID", "0"},
                         {"CLIENT", "KILL", "ID", "x"},
                         {"CLIENT", "KILL", "ID", "1", "ADDR"},
                         {"CLIENT", "KILL", "USER", "bob"},
                         {"CLIENT", "KILL", "SKIPME", "maybe"},
                         {"CLIENT", "KILL", "1.2.3.4:5"},
                         {"CLIENT", "KILL", "ID", "999999"},
                         {"CLIENT", "KILL", "TYPE", "master"},
                         {"CLIENT", "KILL", "TYPE", "x"}};
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);

  // Six clients, spread over both workers: every one is listed from any of them, in id order.
  std::vector<std::unique_ptr<SyncRedisClient>> clients;
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(proxyClient());
    ids.push_back(clients.back()->command({"CLIENT", "ID"}).integer);
  }
  auto idsIn = [](const std::string& list) {
    std::vector<int64_t> out;
    for (size_t at = list.find("id="); at != std::string::npos; at = list.find("\nid=", at)) {
      at = list.find('=', at) + 1;
      out.push_back(std::stoll(list.substr(at, list.find(' ', at) - at)));
    }
    return out;
  };
  for (auto& c : clients) {
    const std::vector<int64_t> listed = idsIn(str(c->command({"CLIENT", "LIST"})));
    EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
    for (int64_t id : ids) EXPECT_NE(std::find(listed.begin(), listed.end(), id), listed.end());
  }
  const std::string two = str(clients[0]->command(
      {"CLIENT", "LIST", "ID", std::to_string(ids[4]), std::to_string(ids[5])}));
  EXPECT_EQ(idsIn(two), (std::vector<int64_t>{ids[4], ids[5]})) << two;
  // A subscriber is listed as type pubsub with flags=P and its counts; a client in MULTI has x.
  ASSERT_EQ(clients[5]->command({"SUBSCRIBE", "ch1", "ch2"}).elements.size(), 3u);
  ASSERT_TRUE(clients[5]->readReply(2000ms).has_value());
  ASSERT_EQ(str(clients[4]->command({"MULTI"})), "OK");
  ASSERT_EQ(str(clients[4]->command({"SET", "{m}k", "v"})), "QUEUED");
  const std::string subs = str(clients[0]->command({"CLIENT", "LIST", "TYPE", "pubsub"}));
  EXPECT_EQ(idsIn(subs), std::vector<int64_t>{ids[5]}) << subs;
  EXPECT_NE(subs.find(" flags=P db=0 sub=2 psub=0 ssub=0 multi=-1 "), std::string::npos) << subs;
  const std::string multi =
      str(clients[0]->command({"CLIENT", "LIST", "ID", std::to_string(ids[4])}));
  EXPECT_NE(multi.find(" flags=x db=0 sub=0 psub=0 ssub=0 multi=1 "), std::string::npos) << multi;
  EXPECT_EQ(clients[4]->command({"EXEC"}).elements.size(), 1u);

  // KILL ID closes a client of whichever worker holds it; the killed client sees its
  // connection end, the others keep working.
  EXPECT_EQ(clients[0]->command({"CLIENT", "KILL", "ID", std::to_string(ids[1])}).integer, 1);
  EXPECT_TRUE(clients[1]->isClosedByPeer(2000ms));
  // The old form by address answers +OK, then "No such client" once it is gone.
  const std::string info = str(clients[2]->command({"CLIENT", "INFO"}));
  const size_t at = info.find("addr=") + 5;
  const std::string addr = info.substr(at, info.find(' ', at) - at);
  EXPECT_EQ(str(clients[0]->command({"CLIENT", "KILL", addr})), "OK");
  EXPECT_TRUE(cluster.waitFor(
      [&] {
        return str(clients[0]->command({"CLIENT", "KILL", addr})) == "ERR No such client";
      },
      2000ms));
  // KILL TYPE pubsub ends the subscriber only.
  EXPECT_EQ(clients[0]->command({"CLIENT", "KILL", "TYPE", "pubsub"}).integer, 1);
  // SKIPME no with the caller's own id: the reply arrives, then the connection closes.
  EXPECT_EQ(
      clients[3]->command({"CLIENT", "KILL", "ID", std::to_string(ids[3]), "SKIPME", "no"}).integer,
      1);
  EXPECT_TRUE(clients[3]->isClosedByPeer(2000ms));
  // USER default (SKIPME yes by default) ends everyone but the caller; it keeps working.
  const int64_t others = clients[0]->command({"CLIENT", "KILL", "USER", "default"}).integer;
  EXPECT_GE(others, 1);  // clients[4] at least
  EXPECT_EQ(str(clients[0]->command({"PING"})), "PONG");
  EXPECT_TRUE(clients[4]->isClosedByPeer(2000ms));
  EXPECT_EQ(idsIn(str(clients[0]->command({"CLIENT", "LIST"}))), std::vector<int64_t>{ids[0]});
}

// CLIENT REPLY OFF / SKIP / ON drop replies exactly as Redis does, also of fanned-out commands,
// errors and replies that complete out of order; the commands still run.
TEST_F(ProxyCompatTest, ClientReplyDropsRepliesAsRedis) {
  startBoth();
  const Script script = {{"CLIENT", "REPLY", "OFF"},
                         {"SET", "{r}a", "1"},
                         {"GET", "{r}a"},
                         {"NOSUCHCMD"},
                         {"MSET", "a", "1", "b", "2"},
                         {"MGET", "a", "b", "{r}a"},
                         {"CLIENT", "REPLY", "SKIP"},
                         {"CLIENT", "REPLY", "ON"},
                         {"GET", "{r}a"},
                         {"CLIENT", "REPLY", "SKIP"},
                         {"INCR", "{r}a"},
                         {"GET", "{r}a"},
                         {"CLIENT", "REPLY", "SKIP"},
                         {"CLIENT", "REPLY", "SKIP"},
                         {"GET", "{r}a"},
                         {"GET", "b"},
                         {"CLIENT", "REPLY", "SKIP"},
                         {"MGET", "a", "b"},
                         {"DBSIZE"},
                         {"CLIENT", "REPLY", "x"},
                         {"CLIENT", "REPLY", "OFF"},
                         {"MULTI"},
                         {"INCR", "{r}a"},
                         {"EXEC"},
                         {"CLIENT", "REPLY", "ON"},
                         {"GET", "{r}a"},
                         {"CLIENT", "REPLY", "OFF"},
                         {"RESET"},
                         {"GET", "{r}a"}};
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);
}

// Inside MULTI, a command that would change the node connection the transaction borrows (HELLO,
// AUTH, CLIENT REPLY ...) is a queueing error; the connection stays usable for everyone after.
TEST_F(ProxyCompatTest, ConnectionStateCommandsInsideMultiAbortTheTransaction) {
  startAll();
  auto c = proxyClient();
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"HELLO", "3"}, {"CLIENT", "REPLY", "OFF"}, {"AUTH", "x"}, {"CLIENT", "SETNAME", "n"}}) {
    ASSERT_EQ(str(c->command({"MULTI"})), "OK");
    ASSERT_EQ(str(c->command({"SET", "{q}k", "v"})), "QUEUED");
    const std::string queued = str(c->command(cmd));
    EXPECT_EQ(queued.rfind("ERR slotwise: '", 0), 0u) << cmd[0] << ": " << queued;
    EXPECT_EQ(str(c->command({"EXEC"})).rfind("EXECABORT", 0), 0u) << cmd[0];
    EXPECT_EQ(str(c->command({"GET", "{q}k"})), "<null>") << cmd[0];
  }
  // The next transactions, of this client and of others, get RESP2 replies as usual.
  for (int i = 0; i < 3; ++i) {
    auto other = i == 0 ? proxyClient() : nullptr;
    SyncRedisClient& t = other ? *other : *c;
    ASSERT_EQ(str(t.command({"MULTI"})), "OK");
    ASSERT_EQ(str(t.command({"INCR", "{q}n"})), "QUEUED");
    RespValue r = t.command({"EXEC"});
    ASSERT_EQ(r.type, ValueType::kArray) << str(r);
    EXPECT_EQ(r.elements.at(0).integer, i + 1);
  }
  EXPECT_EQ(str(c->command({"CLIENT", "GETNAME"})), "<null>");
}

// CLIENT PAUSE holds the paused kind of command of every client of the proxy (on both workers)
// until the timeout or CLIENT UNPAUSE; other commands run.
TEST_F(ProxyCompatTest, ClientPauseHoldsEveryClientOfTheProxy) {
  startAll();
  auto admin = proxyClient();
  std::vector<std::unique_ptr<SyncRedisClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(proxyClient());  // spread over the workers
  using Clock = std::chrono::steady_clock;
  ASSERT_EQ(str(admin->command({"CLIENT", "PAUSE", "800", "WRITE"})), "OK");
  const auto paused_at = Clock::now();
  for (auto& c : clients) {  // reads run at once
    const auto start = Clock::now();
    EXPECT_EQ(str(c->command({"GET", "{p}k"})), "<null>");
    EXPECT_LT(Clock::now() - start, 300ms);
  }
  for (auto& c : clients) c->sendRaw("*3\r\n$3\r\nSET\r\n$4\r\n{p}k\r\n$1\r\nv\r\n");
  for (auto& c : clients) {
    std::optional<RespValue> r = c->readReply(3000ms);
    ASSERT_TRUE(r.has_value()) << c->lastError();
    EXPECT_EQ(str(*r), "OK");
    EXPECT_GE(Clock::now() - paused_at, 700ms);  // held until the timeout
  }
  EXPECT_LT(Clock::now() - paused_at, 2000ms);
  // ALL holds reads too, until UNPAUSE.
  ASSERT_EQ(str(admin->command({"CLIENT", "PAUSE", "20000", "ALL"})), "OK");
  for (auto& c : clients) c->sendRaw("*2\r\n$3\r\nGET\r\n$4\r\n{p}k\r\n");
  for (auto& c : clients) EXPECT_FALSE(c->readReply(300ms).has_value());
  auto other = proxyClient();
  ASSERT_EQ(str(other->command({"CLIENT", "UNPAUSE"})), "OK");
  for (auto& c : clients) {
    std::optional<RespValue> r = c->readReply(2000ms);
    EXPECT_TRUE(r.has_value()) << c->lastError();
    if (r) {
      EXPECT_EQ(str(*r), "v");
    }
  }
  EXPECT_EQ(str(admin->command({"GET", "{p}k"})), "v");
}

// ---- Introspection and administration ----------------------------------------------------------

// MEMORY USAGE and OBJECT go to the key's master; COMMAND's subcommands are a node's; ROLE is the
// emulated node's (a master without replicas, like a standalone server without replicas). A
// cluster node counts a few more bytes per key than a standalone server (slot bookkeeping), so
// MEMORY USAGE of an existing key is compared with the key's node.
TEST_F(ProxyCompatTest, IntrospectionCommandsMatchRedis) {
  startBoth();
  const Script script = {{"SET", "{o}k", "hello"},
                         {"RPUSH", "{o}l", "a", "b"},
                         {"MEMORY", "USAGE", "{o}missing"},
                         {"OBJECT", "ENCODING", "{o}k"},
                         {"OBJECT", "ENCODING", "{o}l"},
                         {"OBJECT", "REFCOUNT", "{o}k"},
                         {"OBJECT", "FREQ", "{o}k"},
                         {"OBJECT", "ENCODING", "{o}missing"},
                         {"COMMAND", "COUNT"},
                         {"COMMAND", "INFO", "get", "nosuch"},
                         {"COMMAND", "DOCS", "get"},
                         {"COMMAND", "LIST", "FILTERBY", "PATTERN", "xauto*"},
                         {"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"},
                         {"ROLE"},
                         {"DEL", "{o}k", "{o}l"}};
  expectSameReplies(script, 2);
  expectSameReplies(script, 3);
  auto c = proxyClient();
  c->command({"RPUSH", "{o}l", "a", "b"});
  for (const Script& usage :
       {Script{{"MEMORY", "USAGE", "{o}l"}}, Script{{"MEMORY", "USAGE", "{o}l", "SAMPLES", "0"}}}) {
    const std::string want = show(run(ownerOf("{o}l"), usage));
    EXPECT_EQ(show(run(*c, usage)), want);
    EXPECT_EQ(want.rfind("(integer) ", 0), 0u) << want;
  }
  RespValue list = c->command({"COMMAND", "LIST"});  // in the node's hash-table order
  EXPECT_EQ(list.elements.size(), singleClient()->command({"COMMAND", "LIST"}).elements.size());
  // Per-node diagnostics and persistence: clear errors (persistence needs allow_admin_commands).
  for (const auto& cmd : Script{{"MEMORY", "STATS"},
                                {"MEMORY", "DOCTOR"},
                                {"LATENCY", "LATEST"},
                                {"LATENCY", "DOCTOR"},
                                {"BGSAVE"},
                                {"SAVE"},
                                {"BGREWRITEAOF"}}) {
    const std::string error = str(c->command(cmd));
    EXPECT_EQ(error.rfind("ERR slotwise: ", 0), 0u) << error;
    EXPECT_TRUE(error.find("per-node") != std::string::npos ||
                error.find("allow_admin_commands") != std::string::npos)
        << error;
  }
}

// ---- INFO ---------------------------------------------------------------------------------------

// INFO text -> section name -> key -> value.
using InfoMap = std::map<std::string, std::map<std::string, std::string>>;
InfoMap parseInfo(const std::string& text, std::vector<std::string>* order = nullptr) {
  InfoMap info;
  std::string section;
  size_t pos = text.rfind("txt:", 0) == 0 ? 4 : 0;  // a RESP3 verbatim string's format
  while (pos < text.size()) {
    size_t eol = text.find("\r\n", pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.rfind("# ", 0) == 0) {
      section = line.substr(2);
      info[section];
      if (order != nullptr) order->push_back(section);
    } else if (size_t colon = line.find(':'); colon != std::string::npos) {
      info[section][line.substr(0, colon)] = line.substr(colon + 1);
    }
  }
  return info;
}

// Reference: the standalone server. The proxy adds its own "# Proxy" section; everything else
// (which sections, their order, the keys of the node-held ones, the reply type) must match.
TEST_F(ProxyCompatTest, InfoSectionsMatchRedis) {
  startBoth();
  const std::vector<std::vector<std::string>> requests = {
      {"INFO"},
      {"INFO", "default"},
      {"INFO", "all"},
      {"INFO", "everything"},
      {"INFO", "clients", "SERVER"},
      {"INFO", "keyspace", "memory", "stats"},
      {"INFO", "nosuch"},
      {"INFO", "nosuch", "cpu"},
      {"INFO", "persistence"},
      {"INFO", "commandstats", "errorstats"},
      {"INFO", "modules"},
      {"INFO", "default", "commandstats"},
  };
  for (int proto : {2, 3}) {
    auto ref = client(true, proto);
    auto via = client(false, proto);
    ref->command({"SET", "{i}k", "v"});  // the same keyspace, and commandstats/errorstats lines
    via->command({"SET", "{i}k", "v"});
    ref->command({"INCR", "{i}k"});
    via->command({"INCR", "{i}k"});
    for (const auto& request : requests) {
      const RespValue want = ref->command(request);
      const RespValue got = via->command(request);
      const std::string what = "RESP" + std::to_string(proto) + " " + request.back();
      ASSERT_EQ(got.type, want.type) << what << ": " << str(got);
      std::vector<std::string> want_order, got_order;
      const InfoMap want_info = parseInfo(want.str, &want_order);
      const InfoMap got_info = parseInfo(got.str, &got_order);
      got_order.erase(std::remove(got_order.begin(), got_order.end(), "Proxy"), got_order.end());
      EXPECT_EQ(got_order, want_order) << what;
      for (const char* section : {"Memory", "Persistence", "Stats", "CPU", "Errorstats"}) {
        if (want_info.count(section) == 0) continue;
        for (const auto& [key, value] : want_info.at(section)) {
          EXPECT_EQ(got_info.at(section).count(key), 1u) << what << ": " << section << " " << key;
        }
      }
      if (want_order.empty()) {
        EXPECT_EQ(got.str, want.str) << what;  // unknown: ""
      }
    }
  }
}

// The same commands against the standalone server and through the proxy (keys on every master):
// the node-held counters move by the same amounts, summed over the masters.
TEST_F(ProxyCompatTest, InfoCountersAreSummedOverTheMasters) {
  startBoth();
  const Script ops = [] {
    Script s;
    for (int i = 0; i < 9; ++i) s.push_back({"SET", "k" + std::to_string(i), "v"});
    for (int i = 0; i < 9; ++i) s.push_back({"GET", "k" + std::to_string(i)});
    for (int i = 0; i < 6; ++i) s.push_back({"GET", "missing" + std::to_string(i)});
    for (int i = 0; i < 3; ++i) s.push_back({"SET", "e" + std::to_string(i), "v", "PX", "20"});
    s.push_back({"INCR", "k0"});        // ERR value is not an integer
    s.push_back({"LPUSH", "k1", "x"});  // WRONGTYPE
    return s;
  }();
  const std::vector<std::pair<std::string, std::string>> counters = {
      {"Stats", "keyspace_hits"},      {"Stats", "keyspace_misses"},
      {"Stats", "expired_keys"},       {"Persistence", "rdb_changes_since_last_save"},
      {"Errorstats", "errorstat_ERR"}, {"Errorstats", "errorstat_WRONGTYPE"},
      {"Commandstats", "cmdstat_get"}, {"Commandstats", "cmdstat_set"},
  };
  // errorstat_X:count=N and cmdstat_x:calls=N,... -> N
  auto number = [](const InfoMap& info, const std::pair<std::string, std::string>& c) -> int64_t {
    auto s = info.find(c.first);
    if (s == info.end() || s->second.count(c.second) == 0) return 0;
    std::string v = s->second.at(c.second);
    if (size_t eq = v.find('='); eq != std::string::npos) v = v.substr(eq + 1);
    return std::stoll(v.substr(0, v.find(',')));
  };
  std::map<std::string, int64_t> delta[2];
  for (bool reference : {true, false}) {
    auto c = client(reference, 2);
    const std::vector<std::string> all = {"INFO", "everything"};
    const InfoMap before = parseInfo(c->command(all).str);
    run(*c, ops);
    std::this_thread::sleep_for(100ms);  // e0..e2 expire
    run(*c, {{"GET", "e0"}, {"GET", "e1"}, {"GET", "e2"}});
    // Active expiry may take a moment on some master: wait until all three are counted.
    InfoMap after;
    for (int i = 0; i < 50; ++i) {
      after = parseInfo(c->command(all).str);
      if (number(after, {"Stats", "expired_keys"}) - number(before, {"Stats", "expired_keys"}) >=
          3) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    for (const auto& counter : counters) {
      delta[reference][counter.second] = number(after, counter) - number(before, counter);
    }
  }
  EXPECT_EQ(delta[false], delta[true]);
  EXPECT_EQ(delta[true]["keyspace_hits"], 9);  // the GETs of k0..k8
  EXPECT_EQ(delta[true]["errorstat_WRONGTYPE"], 1);
  // Sizes are summed too, and their *_human forms follow the sum.
  auto c = proxyClient();
  const InfoMap memory = parseInfo(c->command({"INFO", "memory"}).str);
  const double used = std::stod(memory.at("Memory").at("used_memory"));
  const std::string human = memory.at("Memory").at("used_memory_human");
  ASSERT_EQ(human.back(), 'M') << human;
  EXPECT_NEAR(std::stod(human) * 1024 * 1024, used, used * 0.01) << human;
  int64_t direct = 0;
  for (const auto& node : cluster.nodes()) {
    const InfoMap m = parseInfo(cluster.client(node.port).command({"INFO", "memory"}).str);
    direct += std::stoll(m.at("Memory").at("used_memory"));
  }
  EXPECT_NEAR(used, static_cast<double>(direct), direct * 0.05);
}

// ---- Blocking commands ------------------------------------------------------------------------

TEST_F(ProxyCompatTest, BlockingTimeoutsAndRepliesMatchRedis) {
  startBoth();
  const std::vector<Script> scripts = {
      // Timeout validation: each command's own error.
      {{"BLPOP", "{b}l", "-1"},
       {"BLPOP", "{b}l", "abc"},
       {"BRPOP", "{b}l", "-0.5"},
       {"BLMOVE", "{b}l", "{b}m", "LEFT", "RIGHT", "x"},
       {"BRPOPLPUSH", "{b}l", "{b}m", "-1"},
       {"BZPOPMIN", "{b}z", "-1"},
       {"BZPOPMAX", "{b}z", "nan"},
       {"BLMPOP", "-1", "1", "{b}l", "LEFT"},
       {"BLMPOP", "x", "1", "{b}l", "LEFT"},
       {"BZMPOP", "-1", "1", "{b}z", "MIN"},
       {"XREAD", "BLOCK", "-1", "STREAMS", "{b}s", "$"},
       {"XREAD", "BLOCK", "abc", "STREAMS", "{b}s", "0"}},
      // Sub-second timeouts answer nil (null / null array as Redis, per protocol).
      {{"BLPOP", "{b}l", "0.001"},
       {"BRPOP", "{b}l", "0.01"},
       {"BLMOVE", "{b}l", "{b}m", "LEFT", "RIGHT", "0.01"},
       {"BZPOPMIN", "{b}z", "0.01"},
       {"BLMPOP", "0.01", "1", "{b}l", "LEFT"},
       {"BZMPOP", "0.01", "1", "{b}z", "MIN"},
       {"XREAD", "BLOCK", "10", "STREAMS", "{b}s", "$"}},
      // Data present: timeout 0 answers at once, with the protocol's types (doubles in RESP3).
      {{"RPUSH", "{b}l", "a", "b", "c"},
       {"BLPOP", "{b}l", "0"},
       {"BRPOP", "{b}l", "0"},
       {"BLMPOP", "0", "1", "{b}l", "LEFT", "COUNT", "5"},
       {"ZADD", "{b}z", "1.5", "m", "2", "n", "3", "o"},
       {"BZPOPMIN", "{b}z", "0"},
       {"BZPOPMAX", "{b}z", "0"},
       {"BZMPOP", "0", "1", "{b}z", "MAX"},
       {"XADD", "{b}s", "1-1", "f", "v"},
       {"XREAD", "BLOCK", "0", "STREAMS", "{b}s", "0"}},
      // BLMOVE / BRPOPLPUSH chains, the source its own destination, on keys of one slot.
      {{"RPUSH", "{b}l", "x", "y"},
       {"BLMOVE", "{b}l", "{b}m", "LEFT", "RIGHT", "0"},
       {"BRPOPLPUSH", "{b}m", "{b}m", "0"},
       {"BLMOVE", "{b}l", "{b}l", "RIGHT", "LEFT", "0"},
       {"LRANGE", "{b}l", "0", "-1"},
       {"LRANGE", "{b}m", "0", "-1"}},
      // CLIENT UNBLOCK's own errors, and :0 for an unknown client.
      {{"CLIENT", "UNBLOCK", "987654"},
       {"CLIENT", "UNBLOCK", "987654", "ERROR"},
       {"CLIENT", "UNBLOCK", "x"},
       {"CLIENT", "UNBLOCK", "x", "LATER"},
       {"CLIENT", "UNBLOCK", "1", "TIMEOUT", "extra"}},
      {{"DEL", "{b}l", "{b}m", "{b}z", "{b}s"}},
  };
  for (int proto : {2, 3}) {
    for (const Script& script : scripts) expectSameReplies(script, proto);
  }
  // Sub-second timeouts are prompt through the proxy.
  auto c = proxyClient();
  const auto start = std::chrono::steady_clock::now();
  std::vector<RespValue> r = run(*c, {{"BLPOP", "{b}none", "0.001"}, {"BLPOP", "{b}none", "0.05"}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type, ValueType::kNull);
  EXPECT_EQ(r[1].type, ValueType::kNull);
  // Keys of two slots: the cluster's rule.
  EXPECT_EQ(str(c->command({"BLPOP", "{b}l", "{c}l", "0.01"})).rfind("CROSSSLOT", 0), 0u);
}

}  // namespace
}  // namespace slotwise::test
