// Self-tests of FakeRedisNode, driven by a blocking LoopbackClient: the default handler, the
// command log, every Rule outcome and delivery knob, node-level stall/reset, and the CLUSTER
// answers (checked with the router's own CLUSTER SLOTS parser).
#include "tests/support/fake_redis_node.h"

#include <gtest/gtest.h>

#include <chrono>

#include "resp/value.h"
#include "router/slot_map_builder.h"
#include "tests/support/loopback_client.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using resp::RespValue;

class FakeRedisNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(node.start()) << node.error();
    ASSERT_TRUE(client.connect(node.port())) << client.lastError();
  }

  // The exact bytes of the reply to `args`.
  std::string raw(const std::vector<std::string>& args) {
    EXPECT_TRUE(client.sendCommand(args)) << client.lastError();
    return client.readReplyBytes().value_or("<" + client.lastError() + ">");
  }

  FakeRedisNode node;
  LoopbackClient client;
};

TEST_F(FakeRedisNodeTest, BindsAKernelPickedLoopbackPort) {
  EXPECT_NE(node.port(), 0);
  EXPECT_EQ(node.address(), "127.0.0.1:" + std::to_string(node.port()));
  FakeRedisNode other;
  ASSERT_TRUE(other.start()) << other.error();
  EXPECT_NE(other.port(), node.port());
  EXPECT_FALSE(other.start());  // only once
}

TEST_F(FakeRedisNodeTest, DefaultHandlerAnswersLikeASmallRedis) {
  EXPECT_EQ(raw({"PING"}), "+PONG\r\n");
  EXPECT_EQ(raw({"ping", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(raw({"GET", "foo"}), "$-1\r\n");
  EXPECT_EQ(raw({"SET", "foo", "bar"}), "+OK\r\n");
  EXPECT_EQ(raw({"GET", "foo"}), "$3\r\nbar\r\n");
  EXPECT_EQ(node.get("foo"), "bar");
  node.set("n", "41");
  EXPECT_EQ(raw({"INCR", "n"}), ":42\r\n");
  EXPECT_EQ(raw({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(raw({"MGET", "a", "nope", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
  EXPECT_EQ(raw({"EXISTS", "a", "b", "nope"}), ":2\r\n");
  EXPECT_EQ(raw({"DEL", "a", "nope"}), ":1\r\n");
  EXPECT_EQ(raw({"ASKING"}), "+OK\r\n");
  EXPECT_EQ(raw({"AUTH", "pw"}), "+OK\r\n");
  EXPECT_EQ(raw({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(raw({"NOPE", "x"}), "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n");
  ASSERT_TRUE(client.sendCommand({"HELLO", "3"}));
  std::optional<RespValue> hello = client.readReply();
  ASSERT_TRUE(hello.has_value()) << client.lastError();
  EXPECT_EQ(hello->type, resp::ValueType::kMap);
  ASSERT_EQ(hello->elements.size(), 14u);
  EXPECT_EQ(hello->elements[5].integer, 3);  // proto
  // Inline commands are understood too.
  ASSERT_TRUE(client.send("PING\r\n"));
  EXPECT_EQ(client.readReplyBytes(), "+PONG\r\n");
}

TEST_F(FakeRedisNodeTest, RecordsEveryCommandPerConnectionInOrder) {
  LoopbackClient second;
  ASSERT_TRUE(second.connect(node.port())) << second.lastError();
  ASSERT_TRUE(client.send("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n"));
  ASSERT_TRUE(second.sendCommand({"set", "k", "v"}));
  ASSERT_TRUE(node.waitUntil([&] { return node.commands().size() == 3; }));
  EXPECT_EQ(node.connectionsAccepted(), 2u);
  EXPECT_EQ(node.openConnections(), 2u);
  const std::vector<ReceivedCommand> first_conn = node.commandsOn(1);
  ASSERT_EQ(first_conn.size(), 2u);
  EXPECT_EQ(first_conn[0].args, (Args{"GET", "a"}));
  EXPECT_EQ(first_conn[1].name(), "PING");
  EXPECT_LT(first_conn[0].index, first_conn[1].index);
  const std::vector<ReceivedCommand> sets = node.commandsNamed("SET");
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].conn, 2u);
  EXPECT_EQ(sets[0].text(), "set k v");
  EXPECT_EQ(node.count("get"), 1u);
  second.close();
  EXPECT_TRUE(node.waitUntil([&] { return node.openConnections() == 1; }));
}

TEST_F(FakeRedisNodeTest, ScriptedReplyForTheNextNCommandsThenTheDefault) {
  node.set("foo", "bar");
  const std::string moved = replies::moved(12182, "127.0.0.1:7001");
  const auto id = node.add(Rule::command("get", {"foo"}).times(2).reply(moved));
  EXPECT_EQ(raw({"GET", "other"}), "$-1\r\n");  // leading args must match
  EXPECT_EQ(raw({"GET", "foo"}), "-MOVED 12182 127.0.0.1:7001\r\n");
  EXPECT_EQ(raw({"GET", "foo"}), moved);
  EXPECT_EQ(raw({"GET", "foo"}), "$3\r\nbar\r\n");
  EXPECT_EQ(node.hits(id), 2u);
  EXPECT_EQ(node.hits(12345), 0u);
}

TEST_F(FakeRedisNodeTest, RulesAreTriedInOrderAndSkipPassesCommandsThrough) {
  node.add(Rule::anyCommand().skip(2).once().reply(replies::error("ERR third")));
  node.add(Rule::command("PING").reply(replies::simple("SECOND-RULE")));
  EXPECT_EQ(raw({"PING"}), "+SECOND-RULE\r\n");  // skipped by the first rule
  EXPECT_EQ(raw({"ECHO", "x"}), "$1\r\nx\r\n");  // skipped, no later rule: default
  EXPECT_EQ(raw({"PING"}), "-ERR third\r\n");
  EXPECT_EQ(raw({"PING"}), "+SECOND-RULE\r\n");  // the first rule's budget is spent
  node.clearRules();
  EXPECT_EQ(raw({"PING"}), "+PONG\r\n");
}

TEST_F(FakeRedisNodeTest, ReplyWithAndMatchingRunUserCode) {
  node.add(Rule::matching([](const Args& a) { return a.size() == 3; }).replyWith([](const Args& a) {
    return replies::bulk(a[2] + a[1]);
  }));
  EXPECT_EQ(raw({"ANY", "x", "y"}), "$2\r\nyx\r\n");
  EXPECT_EQ(raw({"PING"}), "+PONG\r\n");
}

TEST_F(FakeRedisNodeTest, OnConnectionLimitsARuleToOneConnection) {
  node.add(Rule::command("PING").onConnection(2).reply(replies::simple("TWO")));
  EXPECT_EQ(raw({"PING"}), "+PONG\r\n");
  LoopbackClient second;
  ASSERT_TRUE(second.connect(node.port()));
  ASSERT_TRUE(second.sendCommand({"PING"}));
  EXPECT_EQ(second.readReplyBytes(), "+TWO\r\n");
}

TEST_F(FakeRedisNodeTest, SplitReplyArrivesInPiecesWithGaps) {
  const std::string value = "a\r\nvalue";  // CRLF inside the bulk
  node.set("k", value);
  node.add(Rule::command("GET").split(1, 3ms));
  const std::string expected = replies::bulk(value);
  ASSERT_TRUE(client.sendCommand({"GET", "k"}));
  ASSERT_TRUE(client.readBytes(1).has_value());
  const auto first = Clock::now();
  std::optional<std::string> rest = client.readBytes(expected.size() - 1);
  const auto elapsed = Clock::now() - first;
  ASSERT_TRUE(rest.has_value()) << client.lastError();
  EXPECT_EQ(expected.substr(1), *rest);
  // Each later byte left at least 3 ms after the previous one (lower bound: never flaky).
  EXPECT_GE(elapsed, (expected.size() - 1) * 3ms - 2ms);
}

TEST_F(FakeRedisNodeTest, DelayedReplyHoldsBackLaterRepliesOfTheConnection) {
  node.add(Rule::command("GET").delay(60ms));
  const auto start = Clock::now();
  ASSERT_TRUE(client.send("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"));
  EXPECT_EQ(client.readReplyBytes(), "$-1\r\n");
  EXPECT_EQ(client.readReplyBytes(), "+PONG\r\n");
  EXPECT_GE(Clock::now() - start, 60ms);
  // The node counts a reply after its write returns, which may be after the client read it.
  EXPECT_TRUE(node.waitUntil([&] { return node.repliesSent() == 2u; }));
}

TEST_F(FakeRedisNodeTest, NoReplyStallsTheConnectionForever) {
  node.add(Rule::command("GET").once().noReply());
  ASSERT_TRUE(client.send("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"));
  ASSERT_TRUE(node.waitForCount("PING", 1));
  EXPECT_FALSE(client.readReplyBytes(100ms).has_value());
  // Another connection is served.
  LoopbackClient second;
  ASSERT_TRUE(second.connect(node.port()));
  EXPECT_EQ(second.command({"PING"}).str, "PONG");
}

TEST_F(FakeRedisNodeTest, ResetRuleSendsAnRstAfterEarlierReplies) {
  node.add(Rule::command("SET").reset());
  ASSERT_TRUE(client.send("*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"));
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kReset);
  EXPECT_EQ(client.buffered(), "+PONG\r\n");
  EXPECT_EQ(node.count("SET"), 1u);
  EXPECT_FALSE(node.get("k").has_value());  // not executed
  EXPECT_TRUE(node.waitUntil([&] { return node.openConnections() == 0; }));
}

TEST_F(FakeRedisNodeTest, CloseRuleSendsAFin) {
  node.add(Rule::command("SET").close());
  ASSERT_TRUE(client.sendCommand({"SET", "k", "v"}));
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kFin);
  EXPECT_EQ(client.buffered(), "");
}

TEST_F(FakeRedisNodeTest, ThenResetAndThenCloseFollowTheReply) {
  node.add(Rule::command("GET").once().thenReset());
  ASSERT_TRUE(client.sendCommand({"GET", "k"}));
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kReset);
  EXPECT_EQ(client.buffered(), "$-1\r\n");
  node.add(Rule::command("GET").once().reply(replies::simple("BYE")).thenClose());
  ASSERT_TRUE(client.connect(node.port()));
  ASSERT_TRUE(client.sendCommand({"GET", "k"}));
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kFin);
  EXPECT_EQ(client.buffered(), "+BYE\r\n");
}

TEST_F(FakeRedisNodeTest, StalledNodeRecordsButAnswersOnlyAfterResume) {
  node.stall();
  ASSERT_TRUE(client.sendCommand({"PING"}));
  ASSERT_TRUE(node.waitForCount("PING", 1));
  EXPECT_FALSE(client.readReplyBytes(80ms).has_value());
  node.resume();
  EXPECT_EQ(client.readReplyBytes(), "+PONG\r\n");
  EXPECT_EQ(raw({"PING"}), "+PONG\r\n");
}

TEST_F(FakeRedisNodeTest, ResetAndCloseConnectionsReachEveryConnection) {
  LoopbackClient second;
  ASSERT_TRUE(second.connect(node.port()));
  ASSERT_TRUE(node.waitUntil([&] { return node.openConnections() == 2; }));
  node.resetConnections();
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kReset);
  EXPECT_EQ(second.waitForPeerClose(), LoopbackClient::PeerClose::kReset);
  EXPECT_EQ(node.openConnections(), 0u);  // dropped before the sockets were reset
  ASSERT_TRUE(client.connect(node.port()));
  ASSERT_TRUE(node.waitUntil([&] { return node.openConnections() == 1; }));
  node.closeConnections();
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kFin);
}

TEST_F(FakeRedisNodeTest, ProtocolErrorIsAnsweredAndTheConnectionClosed) {
  ASSERT_TRUE(client.send("*1\r\n$x\r\n"));
  EXPECT_EQ(client.waitForPeerClose(), LoopbackClient::PeerClose::kFin);
  EXPECT_EQ(client.buffered().rfind("-ERR Protocol error", 0), 0u) << client.buffered();
}

TEST_F(FakeRedisNodeTest, ScriptsAreNamedBySha1AndForgotten) {
  const std::string sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";  // SHA1("return 1")
  EXPECT_EQ(raw({"EVALSHA", sha, "0"}), replies::noScript());
  EXPECT_EQ(raw({"EVAL", "return 1", "0"}), replies::bulk(sha));
  EXPECT_EQ(raw({"EVALSHA", sha, "0"}), replies::bulk(sha));
  node.forgetScripts();
  EXPECT_EQ(raw({"EVALSHA", sha, "0"}), replies::noScript());
  EXPECT_EQ(raw({"SCRIPT", "LOAD", "return 1"}), replies::bulk(sha));
  EXPECT_EQ(raw({"SCRIPT", "EXISTS", sha, "00"}), "*2\r\n:1\r\n:0\r\n");
}

TEST_F(FakeRedisNodeTest, ClusterAnswersDescribeTheLayout) {
  FakeRedisNode other;
  ASSERT_TRUE(other.start());
  node.setLayout({{0, 8191, "127.0.0.1", node.port(), ""},
                  {8192, 16000, "127.0.0.1", other.port(), ""},
                  {16001, 16383, "127.0.0.1", node.port(), ""}});
  ASSERT_TRUE(client.sendCommand({"CLUSTER", "SLOTS"}));
  std::optional<RespValue> slots = client.readReply();
  ASSERT_TRUE(slots.has_value()) << client.lastError();
  Result<router::SlotMapPtr> map = router::buildFromClusterSlots(*slots, "127.0.0.1", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  const router::SlotMap& m = **map;
  EXPECT_TRUE(m.fullyCovered());
  EXPECT_EQ(m.nodes()[m.masterIndex(100)].address, node.address());
  EXPECT_EQ(m.nodes()[m.masterIndex(9000)].address, other.address());
  EXPECT_EQ(m.nodes()[m.masterIndex(16383)].address, node.address());
  const RespValue nodes = client.command({"CLUSTER", "NODES"});
  ASSERT_EQ(nodes.type, resp::ValueType::kBulkString) << nodes.str;
  EXPECT_NE(nodes.str.find(node.address() + "@" + std::to_string(node.port() + 10000) +
                           " myself,master - 0 0 1 connected 0-8191 16001-16383\n"),
            std::string::npos)
      << nodes.str;
  EXPECT_NE(nodes.str.find(other.address() + "@"), std::string::npos);
  EXPECT_NE(client.command({"CLUSTER", "INFO"}).str.find("cluster_state:ok"), std::string::npos);
}

TEST_F(FakeRedisNodeTest, StopClosesConnectionsAndIsIdempotent) {
  EXPECT_EQ(client.command({"PING"}).str, "PONG");
  node.stop();
  EXPECT_NE(client.waitForPeerClose(), LoopbackClient::PeerClose::kStillOpen);
  node.stop();
  EXPECT_EQ(node.commands().size(), 1u);  // the log stays readable
  LoopbackClient late;
  EXPECT_FALSE(late.connect(node.port(), 200ms));
}

TEST_F(FakeRedisNodeTest, WaitUntilGivesUpAtItsDeadline) {
  const auto start = Clock::now();
  EXPECT_FALSE(node.waitForCount("GET", 1, 30ms));
  EXPECT_GE(Clock::now() - start, 30ms);
  EXPECT_LT(Clock::now() - start, 1000ms);
}

}  // namespace
}  // namespace slotwise::test
