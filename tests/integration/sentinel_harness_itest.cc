// Tests of the Sentinel harness itself (tests/support/redis_sentinel_harness.h) against
// redis-server and redis-sentinel: start, SENTINEL FAILOVER, kill -9 failover, several groups.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "tests/support/redis_sentinel_harness.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class SentinelHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redisSentinelAvailable()) {
      GTEST_SKIP() << "redis-sentinel not installed (apt-get install redis-sentinel)";
    }
  }
};

TEST_F(SentinelHarnessTest, StartsSettledAndSurvivesSentinelRestart) {
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.replicas = 2;
  ASSERT_TRUE(group.start(options)) << group.error();

  const std::vector<uint16_t> ports = group.nodePorts("mymaster");
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_TRUE(group.nodePorts("nope").empty());
  ASSERT_EQ(group.sentinelAddresses().size(), 3u);
  EXPECT_EQ(group.sentinelAddresses()[0], "127.0.0.1:" + std::to_string(group.sentinelPorts()[0]));
  for (const uint16_t s : group.sentinelPorts()) {
    const std::optional<HostPort> master = group.masterAddress("mymaster", s);
    ASSERT_TRUE(master.has_value()) << s;
    EXPECT_EQ(master->toString(), "127.0.0.1:" + std::to_string(ports[0]));
    EXPECT_EQ(group.role(s), "sentinel");
  }
  EXPECT_FALSE(group.masterAddress("nope").has_value());
  EXPECT_EQ(group.role(ports[0]), "master");
  EXPECT_EQ(group.role(ports[1]), "slave");
  EXPECT_EQ(group.role(ports[2]), "slave");

  // Data written to the master reaches the replicas.
  EXPECT_EQ(group.client(ports[0]).command({"SET", "k", "v"}).str, "OK");
  EXPECT_TRUE(group.waitFor(
      [&] {
        return group.client(ports[2]).command({"GET", "k"}).str == "v";
      },
      5s));

  // A Sentinel restarted with its rewritten sentinel.conf rejoins.
  const uint16_t sentinel = group.sentinelPorts()[1];
  ASSERT_TRUE(group.killNode(sentinel, SIGKILL));
  EXPECT_FALSE(group.running(sentinel));
  EXPECT_FALSE(group.killNode(sentinel));
  ASSERT_TRUE(group.restartNode(sentinel)) << group.error();
  EXPECT_FALSE(group.restartNode(sentinel));  // already running
  EXPECT_TRUE(group.waitForSettled(10s)) << group.describeState();
  EXPECT_EQ(group.masterPort("mymaster"), ports[0]);
}

TEST_F(SentinelHarnessTest, SentinelFailoverPromotesTheReplica) {
  RedisSentinelGroup group;
  ASSERT_TRUE(group.start()) << group.error();
  const std::vector<uint16_t> ports = group.nodePorts("mymaster");
  ASSERT_EQ(ports.size(), 2u);

  ASSERT_TRUE(group.failover("mymaster")) << group.error();
  const uint16_t promoted = group.waitForNewMaster("mymaster", ports[0], 15s);
  ASSERT_EQ(promoted, ports[1]) << group.describeState();
  EXPECT_EQ(group.masterPort("mymaster"), ports[1]);
  // The Sentinels now list the old master as a replica. (They convert it only after it has
  // reported the wrong role for 8s, Sentinel's fixed delay; the kill -9 test waits for that.)
  bool listed = false;
  for (const resp::RespValue& e : group.client(group.sentinelPorts()[0])
                                      .command({"SENTINEL", "REPLICAS", "mymaster"})
                                      .elements) {
    listed = listed || sentinelFields(e)["port"] == std::to_string(ports[0]);
  }
  EXPECT_TRUE(listed) << group.describeState();
  EXPECT_FALSE(group.failover("no-such-group"));
  EXPECT_NE(group.error().find("no-such-group"), std::string::npos) << group.error();
}

TEST_F(SentinelHarnessTest, DestructorStopsEveryProcess) {
  std::vector<uint16_t> ports;
  {
    RedisSentinelGroup group;
    RedisSentinelGroup::Options options;
    options.sentinels = 2;
    options.quorum = 1;
    ASSERT_TRUE(group.start(options)) << group.error();
    ports = group.nodePorts("mymaster");
    for (const uint16_t s : group.sentinelPorts()) ports.push_back(s);
  }
  ASSERT_EQ(ports.size(), 4u);
  for (const uint16_t port : ports) {
    SyncRedisClient probe;
    EXPECT_FALSE(probe.connect("127.0.0.1", port, 200ms)) << "still listening: " << port;
  }
}

TEST_F(SentinelHarnessTest, KillNineOfTheMasterFailsOverAndTheOldMasterRejoinsAsReplica) {
  RedisSentinelGroup group;
  ASSERT_TRUE(group.start()) << group.error();
  const std::vector<uint16_t> ports = group.nodePorts("mymaster");
  ASSERT_EQ(ports.size(), 2u);

  ASSERT_TRUE(group.killNode(ports[0], SIGKILL));
  EXPECT_FALSE(group.running(ports[0]));
  const uint16_t promoted = group.waitForNewMaster("mymaster", ports[0], 20s);
  ASSERT_EQ(promoted, ports[1]) << group.describeState();

  // Restarted with its original command line, the old master comes up as a master; the
  // Sentinels convert it into a replica of the new one once it has reported the wrong role for
  // 8s (Sentinel's fixed delay) and they have read its INFO again: 8-18s, bounded by 45s since a
  // loaded CI machine (two tests in parallel) stretches every Sentinel period.
  ASSERT_TRUE(group.restartNode(ports[0])) << group.error();
  EXPECT_TRUE(group.waitFor([&] { return group.role(ports[0]) == "slave"; }, 45s))
      << group.describeState();
  EXPECT_EQ(group.masterPort("mymaster"), ports[1]) << group.describeState();
}

TEST_F(SentinelHarnessTest, TwoGroupsWithAuthUnderRedisServerSentinelMode) {
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.names = {"alpha", "beta"};
  options.password = "nodepw";
  options.sentinel_user = "watcher";
  options.sentinel_password = "sentinelpw";
  options.use_sentinel_binary = false;
  ASSERT_TRUE(group.start(options)) << group.error();
  EXPECT_EQ(group.sentinelAuth(), (std::vector<std::string>{"AUTH", "watcher", "sentinelpw"}));

  const std::vector<uint16_t> alpha = group.nodePorts("alpha");
  const std::vector<uint16_t> beta = group.nodePorts("beta");
  ASSERT_EQ(alpha.size(), 2u);
  ASSERT_EQ(beta.size(), 2u);
  EXPECT_EQ(group.masterPort("alpha"), alpha[0]);
  EXPECT_EQ(group.masterPort("beta"), beta[0]);

  // Unauthenticated clients are refused by data nodes and Sentinels alike.
  for (const uint16_t port : {alpha[0], group.sentinelPorts()[0]}) {
    SyncRedisClient anonymous;
    ASSERT_TRUE(anonymous.connect("127.0.0.1", port)) << anonymous.lastError();
    const resp::RespValue reply = anonymous.command({"PING"});
    EXPECT_TRUE(reply.isError() && reply.str.rfind("NOAUTH", 0) == 0) << port << ": " << reply.str;
  }

  // A failover of one group leaves the other alone.
  ASSERT_TRUE(group.failover("alpha")) << group.error();
  EXPECT_EQ(group.waitForNewMaster("alpha", alpha[0], 15s), alpha[1]) << group.describeState();
  EXPECT_EQ(group.masterPort("beta"), beta[0]);
  EXPECT_EQ(group.role(beta[0]), "master");
}

}  // namespace
}  // namespace slotwise::test
