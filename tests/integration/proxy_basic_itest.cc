// End-to-end: real redis-server cluster + the real slotwise binary, driven by a plain client.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using resp::RespValue;
using resp::ValueType;

class ProxyBasicTest : public ProxyClusterTest {};

TEST_F(ProxyBasicTest, TenThousandKeysOverAllSlotsReadBackThroughProxyAndDirectly) {
  startAll();
  auto c = proxyClient();
  constexpr int kKeys = 10000;
  std::vector<bool> slot_seen(16384, false);
  for (int batch = 0; batch < kKeys; batch += 500) {
    std::vector<std::vector<std::string>> cmds;
    for (int i = batch; i < batch + 500; ++i) {
      cmds.push_back({"SET", "key:" + std::to_string(i), "value-" + std::to_string(i * 7)});
    }
    auto replies = c->pipeline(cmds);
    ASSERT_EQ(replies.size(), cmds.size());
    for (const auto& r : replies) ASSERT_EQ(str(r), "OK");
  }
  int slots = 0;
  for (int i = 0; i < kKeys; ++i) {
    uint16_t s = RedisClusterHarness::keySlot("key:" + std::to_string(i));
    if (!slot_seen[s]) ++slots;
    slot_seen[s] = true;
  }
  EXPECT_GT(slots, 7000) << "keys should spread over most slots";
  for (int batch = 0; batch < kKeys; batch += 1000) {
    std::vector<std::vector<std::string>> cmds;
    for (int i = batch; i < batch + 1000; ++i) cmds.push_back({"GET", "key:" + std::to_string(i)});
    auto replies = c->pipeline(cmds);
    ASSERT_EQ(replies.size(), cmds.size());
    for (int i = batch; i < batch + 1000; ++i) {
      ASSERT_EQ(str(replies[i - batch]), "value-" + std::to_string(i * 7)) << "key:" << i;
    }
  }
  for (int i = 0; i < kKeys; i += 7) {  // directly from the owning master, no proxy involved
    std::string key = "key:" + std::to_string(i);
    ASSERT_EQ(str(ownerOf(key).command({"GET", key})), "value-" + std::to_string(i * 7)) << key;
  }
  int masters_used = 0;
  for (const auto& n : cluster.nodes()) {
    if (!n.master) continue;
    auto dbsize = cluster.client(n.port).command({"DBSIZE"});
    EXPECT_GT(dbsize.integer, kKeys / 5) << "node " << n.port;
    ++masters_used;
  }
  EXPECT_EQ(masters_used, 3);
}

TEST_F(ProxyBasicTest, ThousandCommandPipelineInOneWriteKeepsOrder) {
  startAll();
  auto c = proxyClient();
  std::string wire;
  for (int i = 0; i < 1000; ++i) {
    std::string key = "pipe:" + std::to_string(i);
    std::string val = std::to_string(i);
    if (i % 2 == 0) {
      wire += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
              std::to_string(val.size()) + "\r\n" + val + "\r\n";
    } else {
      wire += "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n";
    }
  }
  ASSERT_TRUE(c->sendRaw(wire));
  int64_t expected_counter = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = c->readReply();
    ASSERT_TRUE(r.has_value()) << "reply " << i;
    if (i % 2 == 0) {
      ASSERT_EQ(str(*r), "OK") << i;
    } else {
      ASSERT_EQ(r->type, ValueType::kInteger) << i;
      ASSERT_EQ(r->integer, ++expected_counter) << "replies out of order at " << i;
    }
  }
  auto r = c->command({"GET", "pipe:998"});
  EXPECT_EQ(str(r), "998");
}

TEST_F(ProxyBasicTest, LocalAndRoutedCommandsAnswerLikeRedis) {
  startAll();
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"PING"})), "PONG");
  EXPECT_EQ(str(c->command({"PING", "hello"})), "hello");
  EXPECT_EQ(str(c->command({"ECHO", "a b"})), "a b");
  EXPECT_EQ(str(c->command({"SELECT", "0"})), "OK");
  EXPECT_EQ(str(c->command({"SELECT", "1"})), "ERR SELECT is not allowed in cluster mode");
  EXPECT_EQ(str(c->command({"NOSUCHCMD", "x"})),
            "ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ");
  EXPECT_EQ(str(c->command({"GET"})), "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(str(c->command({"OBJECT", "NOPE"})), "ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
  // Same-slot multi-key commands are routed; cross-slot non-splittable ones get CROSSSLOT.
  EXPECT_EQ(str(c->command({"MSET", "{u1}a", "1", "{u1}b", "2"})), "OK");
  auto mget = c->command({"MGET", "{u1}a", "{u1}b", "{u1}c"});
  ASSERT_EQ(mget.elements.size(), 3u);
  EXPECT_EQ(str(mget.elements[0]), "1");
  EXPECT_EQ(str(mget.elements[2]), "<null>");
  EXPECT_EQ(str(c->command({"RENAME", "{u1}a", "other"})),
            "CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(str(c->command({"RENAME", "{u1}a", "{u1}z"})), "OK");
  // Keyless and numkeys-0 commands go to a master, and Redis's own errors come back verbatim.
  EXPECT_EQ(str(c->command({"EVAL", "return 42", "0"})), "42");
  EXPECT_EQ(str(c->command({"EVAL", "return 1", "5", "a"})),
            "ERR Number of keys can't be greater than number of args");
  auto count = c->command({"COMMAND", "COUNT"});
  EXPECT_EQ(count.type, ValueType::kInteger);
  EXPECT_GT(count.integer, 200);
  // Inline commands, as typed into telnet.
  ASSERT_TRUE(c->sendRaw("SET inline:key \"two words\"\r\nGET inline:key\r\n"));
  EXPECT_EQ(str(*c->readReply()), "OK");
  EXPECT_EQ(str(*c->readReply()), "two words");
  EXPECT_EQ(str(c->command({"QUIT"})), "OK");
  EXPECT_TRUE(c->isClosedByPeer(std::chrono::milliseconds(2000)));
}

TEST_F(ProxyBasicTest, MalformedInputGetsErrorAndCloseWhileOthersKeepWorking) {
  startAll();
  auto good = proxyClient();
  ASSERT_EQ(str(good->command({"SET", "survivor", "1"})), "OK");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"*abc\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*1\r\n$2000000000\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
      {"*2\r\n+OK\r\n", "ERR Protocol error: expected '$', got '+'"},
      {"SET \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request"},
  };
  for (const auto& [bytes, expected] : cases) {
    auto bad = proxyClient();
    ASSERT_TRUE(bad->sendRaw(bytes));
    auto r = bad->readReply(std::chrono::milliseconds(2000));
    ASSERT_TRUE(r.has_value()) << "no error for " << testing::PrintToString(bytes);
    EXPECT_EQ(str(*r), expected);
    EXPECT_TRUE(bad->isClosedByPeer(std::chrono::milliseconds(2000)))
        << testing::PrintToString(bytes);
    EXPECT_EQ(str(good->command({"INCR", "survivor"})), "2") << "after " << bytes;
    good->command({"SET", "survivor", "1"});
  }
  // A request pipelined before the bad frame is still answered, in order, before the error.
  auto mixed = proxyClient();
  ASSERT_TRUE(mixed->sendRaw("*2\r\n$3\r\nGET\r\n$8\r\nsurvivor\r\n*x\r\n"));
  EXPECT_EQ(str(*mixed->readReply()), "1");
  EXPECT_EQ(str(*mixed->readReply()), "ERR Protocol error: invalid multibulk length");
}

TEST_F(ProxyBasicTest, OversizedRequestIsRejectedByConfiguredLimits) {
  limits_yaml = "  max_bulk_length: 1024\n  max_args: 8\n";
  startAll();
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"SET", "small", std::string(1000, 'x')})), "OK");
  auto big = proxyClient();
  auto r = big->command({"SET", "big", std::string(2000, 'x')});
  EXPECT_EQ(str(r), "ERR Protocol error: invalid bulk length");
  EXPECT_TRUE(big->isClosedByPeer(std::chrono::milliseconds(2000)));
  auto many = proxyClient();
  std::vector<std::string> args = {"MSET"};
  for (int i = 0; i < 5; ++i) {
    args.push_back("{t}k" + std::to_string(i));
    args.push_back("v");
  }
  EXPECT_EQ(str(many->command(args)), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(str(c->command({"GET", "small"})).size(), 1000u);
}

TEST_F(ProxyBasicTest, BackpressureWithHugePipelineKeepsEveryReplyInOrder) {
  limits_yaml = "  max_pending_requests: 64\n";
  startAll();
  auto c = proxyClient();
  constexpr int kCommands = 20000;
  std::string wire;
  for (int i = 0; i < kCommands; ++i) wire += "*2\r\n$4\r\nINCR\r\n$10\r\nbp:counter\r\n";
  ASSERT_TRUE(c->sendRaw(wire));
  for (int i = 1; i <= kCommands; ++i) {
    auto r = c->readReply();
    ASSERT_TRUE(r.has_value()) << i;
    ASSERT_EQ(r->integer, i);
  }
}

TEST_F(ProxyBasicTest, ReuseportAcceptModeServesClients) {
  extra_yaml = "accept_mode: reuseport\n";
  startAll();
  std::vector<std::unique_ptr<SyncRedisClient>> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(proxyClient());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(str(clients[i]->command({"SET", "rp" + std::to_string(i), "v"})), "OK");
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(str(clients[i]->command({"GET", "rp" + std::to_string(i)})), "v");
  }
}

TEST_F(ProxyBasicTest, MaxClientsRejectsWithClearError) {
  limits_yaml = "  max_clients: 3\n";
  startAll();
  std::vector<std::unique_ptr<SyncRedisClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(proxyClient());
    ASSERT_EQ(str(clients.back()->command({"PING"})), "PONG");
  }
  auto extra = proxyClient();
  auto r = extra->readReply(std::chrono::milliseconds(2000));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(str(*r), "ERR max number of clients reached");
  clients.pop_back();  // frees a place
  ASSERT_TRUE(cluster.waitFor([&] {
    auto c = proxyClient();
    return str(c->command({"PING"})) == "PONG";
  }, std::chrono::milliseconds(3000)));
}

TEST_F(ProxyBasicTest, SigtermExitsCleanly) {
  startAll();
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "k", "v"})), "OK");
  proxy.stop(SIGTERM);
  EXPECT_EQ(proxy.waitExit(std::chrono::milliseconds(8000)), 0) << proxy.log();
}

}  // namespace
}  // namespace slotwise::test
