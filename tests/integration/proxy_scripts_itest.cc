// A script or function that runs past busy-reply-threshold (issue 14, section 6), through the
// proxy and against a standalone redis-server as the reference: SCRIPT KILL / FUNCTION KILL reach
// the node where it runs (out of band: not queued behind the script on the shared connection)
// and answer what the node answers; the client that ran it gets the node's error, even past
// backend.request_timeout_ms; clients of other nodes are unaffected.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "resp/encoder.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using resp::RespValue;
using resp::ValueType;

constexpr const char* kSpin = "local i = 0 while true do i = i + 1 end";
constexpr const char* kLibrary =
    "#!lua name=spinlib\nredis.register_function('spin', function() while true do end end)";

class ProxyScriptsTest : public ProxyClusterTest {
 protected:
  void SetUp() override {
    ProxyClusterTest::SetUp();
    workers = 1;  // every client of the proxy shares its one connection per node
    backend_yaml = "  request_timeout_ms: 500\n";  // shorter than the scripts below run
    cluster_options.extra_args = {"--busy-reply-threshold", "100"};
  }
  void startBoth() {
    startAll();
    if (HasFatalFailure()) return;
    dir_ = std::make_unique<TempDir>("slotwise-scripts-");
    ASSERT_TRUE(single_.start(pickFreePort(), dir_->path(), {"--busy-reply-threshold", "100"}))
        << single_.error();
  }
  std::unique_ptr<SyncRedisClient> client(bool reference) {
    if (!reference) return proxyClient();
    auto c = std::make_unique<SyncRedisClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", single_.port())) << c->lastError();
    return c;
  }
  static bool send(SyncRedisClient& c, const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string bytes;
    resp::appendCommand(bytes, std::span<const std::string_view>(views));
    return c.sendRaw(bytes);
  }
  // Starts `busy` on one connection, waits until the node is busy, kills it with `kill` on
  // another connection; returns {kill reply, the busy client's reply}.
  std::pair<RespValue, RespValue> runAndKill(bool reference, const std::vector<std::string>& busy,
                                             const std::string& kill) {
    auto runner = client(reference);
    auto killer = client(reference);
    EXPECT_TRUE(send(*runner, busy));
    std::this_thread::sleep_for(700ms);  // past busy-reply-threshold and request_timeout_ms
    const auto start = std::chrono::steady_clock::now();
    RespValue killed = killer->command({kill, "KILL"});
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << kill << " KILL was held up";
    std::optional<RespValue> ran = runner->readReply(5000ms);
    EXPECT_TRUE(ran.has_value()) << runner->lastError();
    return {killed, ran ? *ran : RespValue::error("no reply")};
  }

  std::unique_ptr<TempDir> dir_;
  RedisServerProcess single_;
};

// The node's error for the killed script starts with this (the rest names the script).
constexpr std::string_view kKilledPrefix = "ERR Script killed by user with SCRIPT KILL";

TEST_F(ProxyScriptsTest, ScriptKillStopsALongScriptAndItsClientGetsTheNodesError) {
  startBoth();
  for (bool reference : {true, false}) {
    SCOPED_TRACE(reference ? "redis-server" : "slotwise");
    EXPECT_EQ(client(reference)->command({"SCRIPT", "KILL"}).str,
              "NOTBUSY No scripts in execution right now.");
    auto [killed, ran] = runAndKill(reference, {"EVAL", kSpin, "1", "{s}k"}, "SCRIPT");
    EXPECT_EQ(killed.type, ValueType::kSimpleString) << resp::toString(killed);
    EXPECT_EQ(killed.str, "OK");
    EXPECT_EQ(ran.type, ValueType::kError) << resp::toString(ran);
    EXPECT_EQ(ran.str.rfind(kKilledPrefix, 0), 0u) << ran.str;
    // The connection and the node serve again.
    auto c = client(reference);
    EXPECT_EQ(c->command({"SET", "{s}k", "v"}).str, "OK");
    EXPECT_EQ(c->command({"GET", "{s}k"}).str, "v");
  }
}

TEST_F(ProxyScriptsTest, FunctionKillStopsALongFunction) {
  startBoth();
  for (bool reference : {true, false}) {
    SCOPED_TRACE(reference ? "redis-server" : "slotwise");
    auto c = client(reference);
    EXPECT_EQ(c->command({"FUNCTION", "LOAD", "REPLACE", kLibrary}).str, "spinlib");
    EXPECT_EQ(c->command({"FUNCTION", "KILL"}).str, "NOTBUSY No scripts in execution right now.");
    auto [killed, ran] = runAndKill(reference, {"FCALL", "spin", "1", "{f}k"}, "FUNCTION");
    EXPECT_EQ(killed.str, "OK") << resp::toString(killed);
    EXPECT_EQ(ran.type, ValueType::kError) << resp::toString(ran);
    EXPECT_NE(ran.str.find("killed"), std::string::npos) << ran.str;
    EXPECT_EQ(client(reference)->command({"PING"}).str, "PONG");
  }
}

// While a script runs on one master, keys of the other masters are served as usual; a client
// that shares the proxy's connection to the busy node waits for the script instead of getting
// -BUSY (the documented difference), and is answered once it is killed.
TEST_F(ProxyScriptsTest, OtherNodesAreUnaffectedAndSameNodeClientsWait) {
  startAll();
  const std::string busy_key = "{s}k";
  std::string other_key;
  for (int i = 0; other_key.empty(); ++i) {
    const std::string k = "other" + std::to_string(i);
    if (cluster.masterPortForSlot(RedisClusterHarness::keySlot(k)) !=
        cluster.masterPortForSlot(RedisClusterHarness::keySlot(busy_key))) {
      other_key = k;
    }
  }
  auto runner = proxyClient();
  auto same_node = proxyClient();
  auto other = proxyClient();
  ASSERT_TRUE(send(*runner, {"EVAL", kSpin, "1", busy_key}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(other->command({"SET", other_key, "x"}).str, "OK");
  EXPECT_EQ(other->command({"GET", other_key}).str, "x");
  ASSERT_TRUE(send(*same_node, {"SET", busy_key, "after"}));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(proxyClient()->command({"SCRIPT", "KILL"}).str, "OK");
  auto ran = runner->readReply(5000ms);
  ASSERT_TRUE(ran.has_value());
  EXPECT_EQ(ran->str.rfind(kKilledPrefix, 0), 0u) << ran->str;
  auto set = same_node->readReply(5000ms);
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->str, "OK");
  EXPECT_EQ(other->command({"GET", busy_key}).str, "after");
}

}  // namespace
}  // namespace slotwise::test
