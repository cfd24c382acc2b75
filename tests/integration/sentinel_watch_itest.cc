// SentinelWatch (proxy/control/sentinel_watch.h) against real Sentinels started by
// RedisSentinelGroup. The uv loop runs in the test thread, in bounded slices between the
// harness's (blocking) actions.
#include <gtest/gtest.h>
#include <signal.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/control/sentinel_watch.h"
#include "tests/support/fake_redis_node.h"
#include "tests/support/quiet_test.h"
#include "tests/support/redis_sentinel_harness.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using proxy::SentinelWatch;

struct Event {
  std::string channel;
  std::string payload;
};

// A uv loop driven by the test thread, and the watches under test.
class WatchLoopTest : public QuietTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    loop_ready_ = true;
    // Wakes uv_run(UV_RUN_ONCE) at least every 10ms so runUntil() can check its condition.
    uv_timer_init(&loop_, &tick_);
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 10, 10);
  }

  void TearDown() override {
    if (!loop_ready_) return;
    watches_.clear();  // destroyed (stopped) before the loop runs their close callbacks
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0 && std::chrono::steady_clock::now() < deadline) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "handles left open on the loop";
  }

  // Runs the loop until cond() or `timeout`. @return cond().
  bool runUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  // Handles on the loop other than the tick timer, closing ones included.
  int openHandles() {
    struct Count {
      uv_handle_t* tick;
      int n = 0;
    } count{reinterpret_cast<uv_handle_t*>(&tick_)};
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void* arg) {
          auto* c = static_cast<Count*>(arg);
          if (h != c->tick) ++c->n;
        },
        &count);
    return count.n;
  }

  // A started watch recording its events into events_[index] and its subscriptions into
  // subscribed_[index]. Short timings so the tests stay fast.
  SentinelWatch& startWatch(std::vector<std::string> addresses,
                            std::vector<std::string> auth = {}) {
    const size_t index = watches_.size();
    events_.emplace_back();
    subscribed_.push_back(0);
    SentinelWatch::Options options;
    options.reconnect_delay = 100ms;
    options.connect_timeout = 1000ms;
    options.ping_interval = 300ms;
    watches_.push_back(std::make_unique<SentinelWatch>(
        &loop_, std::move(addresses), std::move(auth),
        [this, index](std::string_view channel, std::string_view payload) {
          events_[index].push_back({std::string(channel), std::string(payload)});
        },
        options));
    watches_.back()->setOnSubscribed([this, index] { ++subscribed_[index]; });
    watches_.back()->start();
    return *watches_.back();
  }

  // +switch-master events of watch `index` naming `name` and the new master port.
  size_t switchesTo(size_t index, const std::string& name, uint16_t port) {
    size_t n = 0;
    for (const Event& e : events_[index]) {
      if (e.channel != "+switch-master") continue;
      const auto parsed = proxy::parseSwitchMaster(e.payload);
      if (parsed && parsed->name == name && parsed->new_master.port == port) ++n;
    }
    return n;
  }

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  bool loop_ready_ = false;
  std::vector<std::unique_ptr<SentinelWatch>> watches_;
  std::vector<std::vector<Event>> events_;
  std::vector<int> subscribed_;
};

// Against real Sentinels.
class SentinelWatchTest : public WatchLoopTest {
 protected:
  void SetUp() override {
    if (!redisSentinelAvailable()) {
      GTEST_SKIP() << "redis-sentinel not installed (apt-get install redis-sentinel)";
    }
    WatchLoopTest::SetUp();
  }
};

// Against a scripted FakeRedisNode playing a Sentinel: exact bytes and timings.
using SentinelWatchFakeTest = WatchLoopTest;

// RESP2 pub/sub frames as Redis writes them.
std::string pubsubFrame(std::initializer_list<std::string> parts) {
  std::string out = "*" + std::to_string(parts.size()) + "\r\n";
  for (const std::string& p : parts) out += "$" + std::to_string(p.size()) + "\r\n" + p + "\r\n";
  return out;
}

// What Redis answers to SUBSCRIBE with the default channels: one [subscribe, channel, count]
// per channel.
// What a Sentinel answers to one SUBSCRIBE: a confirmation per channel it names, counting on
// from the channels the earlier SUBSCRIBEs of the same handshake named.
std::string subscribeConfirmations(const Args& subscribe) {
  const std::vector<std::string> all = proxy::SentinelWatchOptions{}.channels;
  std::string out;
  for (size_t i = 1; i < subscribe.size(); ++i) {
    const auto at = std::find(all.begin(), all.end(), subscribe[i]);
    const size_t count = static_cast<size_t>(at - all.begin()) + 1;
    out += "*3\r\n$9\r\nsubscribe\r\n$" + std::to_string(subscribe[i].size()) + "\r\n" +
           subscribe[i] + "\r\n:" + std::to_string(count) + "\r\n";
  }
  return out;
}

TEST_F(SentinelWatchFakeTest, ReassemblesSplitFramesSendsAuthFirstAndDropsASilentSentinel) {
  FakeRedisNode fake;
  ASSERT_TRUE(fake.start()) << fake.error();
  const std::string switch_payload = "mymaster 127.0.0.1 7000 127.0.0.1 7001";
  // Every frame arrives in 3-byte pieces.
  const auto subscribe_rule =
      FakeRedisNode::Rule::command("SUBSCRIBE")
          .replyWith([switch_payload](const Args& args) {
            std::string out = subscribeConfirmations(args);
            if (args.size() > 1 && args[1] == "+switch-master") {
              out += pubsubFrame({"message", "+switch-master", switch_payload});
            }
            return out;
          })
          .split(3, 1ms);
  fake.add(subscribe_rule);
  fake.add(FakeRedisNode::Rule::command("PING").reply(pubsubFrame({"pong", ""})));

  SentinelWatch& watch = startWatch({fake.address()}, {"AUTH", "user", "secret"});
  ASSERT_TRUE(runUntil([&] { return events_[0].size() == 1 && subscribed_[0] == 1; }, 5s))
      << watch.lastError();
  EXPECT_EQ(events_[0][0].channel, "+switch-master");
  EXPECT_EQ(events_[0][0].payload, switch_payload);
  EXPECT_EQ(watch.connectedCount(), 1u);
  EXPECT_EQ(subscribed_[0], 1);
  const std::vector<ReceivedCommand> commands = fake.commands();
  ASSERT_GE(commands.size(), 2u);
  EXPECT_EQ(commands[0].args, (Args{"AUTH", "user", "secret"}));
  // Every channel is subscribed, in SUBSCRIBEs of at most 10 elements (Redis's limit for a
  // connection that is not authenticated yet).
  std::vector<std::string> subscribed_channels;
  for (size_t i = 1; i < commands.size() && commands[i].name() == "SUBSCRIBE"; ++i) {
    EXPECT_LE(commands[i].args.size(), 10u);
    subscribed_channels.insert(subscribed_channels.end(), commands[i].args.begin() + 1,
                               commands[i].args.end());
  }
  EXPECT_EQ(subscribed_channels, proxy::SentinelWatchOptions{}.channels);

  // PINGs (every 300ms) are answered: the connection stays.
  ASSERT_TRUE(runUntil([&] { return fake.count("PING") >= 3; }, 3s)) << watch.lastError();
  EXPECT_EQ(watch.stats().disconnects, 0u);

  // A Sentinel that stops answering is dropped after one unanswered PING, then reconnected.
  fake.clearRules();
  fake.add(subscribe_rule);
  fake.add(FakeRedisNode::Rule::command("PING").noReply());
  ASSERT_TRUE(runUntil([&] { return watch.stats().disconnects == 1; }, 3s)) << watch.lastError();
  EXPECT_NE(watch.lastError().find("PING"), std::string::npos) << watch.lastError();
  ASSERT_TRUE(runUntil([&] { return subscribed_[0] == 2; }, 3s)) << watch.lastError();

  // A malformed reply closes the connection too.
  fake.clearRules();
  fake.add(FakeRedisNode::Rule::command("SUBSCRIBE").reply("*2\r\n%garbage\r\n"));
  fake.resetConnections();
  ASSERT_TRUE(
      runUntil([&] { return watch.lastError().find("bad reply") != std::string::npos; }, 3s))
      << watch.lastError();
  EXPECT_EQ(watch.connectedCount(), 0u);
}

TEST(ParseSwitchMasterTest, ParsesSentinelPayload) {
  const auto e = proxy::parseSwitchMaster("mymaster 127.0.0.1 6379 10.0.0.2 6380");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->name, "mymaster");
  EXPECT_EQ(e->old_master, (HostPort{"127.0.0.1", 6379}));
  EXPECT_EQ(e->new_master, (HostPort{"10.0.0.2", 6380}));
  EXPECT_FALSE(proxy::parseSwitchMaster("mymaster 127.0.0.1 6379 10.0.0.2").has_value());
  EXPECT_FALSE(proxy::parseSwitchMaster("mymaster 127.0.0.1 6379 10.0.0.2 6380 x").has_value());
  EXPECT_FALSE(proxy::parseSwitchMaster("mymaster 127.0.0.1 x 10.0.0.2 6380").has_value());
  EXPECT_FALSE(proxy::parseSwitchMaster("").has_value());
}

TEST_F(SentinelWatchTest, SeesSwitchMasterAfterSentinelFailover) {
  RedisSentinelGroup group;
  ASSERT_TRUE(group.start()) << group.error();
  const std::vector<uint16_t> ports = group.nodePorts("mymaster");
  SentinelWatch& watch = startWatch(group.sentinelAddresses());
  // A second watch stops itself from inside its first event callback.
  SentinelWatch* self_stopping = nullptr;
  {
    const size_t index = watches_.size();
    events_.emplace_back();
    subscribed_.push_back(0);
    watches_.push_back(std::make_unique<SentinelWatch>(
        &loop_, group.sentinelAddresses(), std::vector<std::string>{},
        [this, index](std::string_view channel, std::string_view payload) {
          events_[index].push_back({std::string(channel), std::string(payload)});
          watches_[index]->stop();
        }));
    self_stopping = watches_.back().get();
    self_stopping->start();
  }
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 3; }, 5s)) << watch.lastError();
  ASSERT_TRUE(runUntil([&] { return self_stopping->connectedCount() == 3; }, 5s));
  EXPECT_EQ(subscribed_[0], 3);
  EXPECT_EQ(watch.stats().connects, 3u);

  ASSERT_TRUE(group.failover("mymaster")) << group.error();
  // Every Sentinel publishes +switch-master once it has the new configuration.
  EXPECT_TRUE(runUntil([&] { return switchesTo(0, "mymaster", ports[1]) == 3; }, 10s))
      << group.describeState();
  for (const Event& e : events_[0]) {
    if (e.channel != "+switch-master") continue;
    const auto parsed = proxy::parseSwitchMaster(e.payload);
    ASSERT_TRUE(parsed.has_value()) << e.payload;
    EXPECT_EQ(parsed->old_master, (HostPort{"127.0.0.1", ports[0]}));
    EXPECT_EQ(parsed->new_master, (HostPort{"127.0.0.1", ports[1]}));
  }
  EXPECT_GE(watch.stats().events, 3u);
  EXPECT_EQ(watch.stats().disconnects, 0u);
  EXPECT_EQ(group.waitForNewMaster("mymaster", ports[0], 10s), ports[1]);

  ASSERT_EQ(events_[1].size(), 1u);  // nothing after its own stop()
  EXPECT_EQ(self_stopping->connectedCount(), 0u);
}

TEST_F(SentinelWatchTest, ReconnectsAfterSentinelRestart) {
  RedisSentinelGroup group;
  ASSERT_TRUE(group.start()) << group.error();
  const std::vector<uint16_t> ports = group.nodePorts("mymaster");
  const uint16_t sentinel = group.sentinelPorts()[0];
  SentinelWatch& watch = startWatch({group.sentinelAddresses()[0]});
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 1; }, 5s)) << watch.lastError();

  ASSERT_TRUE(group.killNode(sentinel, SIGKILL));
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 0; }, 5s));
  EXPECT_EQ(watch.stats().disconnects, 1u);
  EXPECT_NE(watch.lastError().find(group.sentinelAddresses()[0]), std::string::npos)
      << watch.lastError();
  // Refused attempts every reconnect_delay meanwhile.
  runUntil([] { return false; }, 300ms);
  EXPECT_EQ(watch.connectedCount(), 0u);

  ASSERT_TRUE(group.restartNode(sentinel)) << group.error();
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 1; }, 5s)) << watch.lastError();
  EXPECT_EQ(subscribed_[0], 2);
  EXPECT_EQ(watch.stats().connects, 2u);
  ASSERT_TRUE(group.waitForSettled(10s)) << group.describeState();

  // The new connection delivers events.
  ASSERT_TRUE(group.failover("mymaster")) << group.error();
  EXPECT_TRUE(runUntil([&] { return switchesTo(0, "mymaster", ports[1]) == 1; }, 10s))
      << group.describeState();
}

TEST_F(SentinelWatchTest, WorksWithSentinelAuth) {
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.password = "nodepw";
  options.sentinel_user = "watcher";
  options.sentinel_password = "sentinelpw";
  ASSERT_TRUE(group.start(options)) << group.error();
  const std::vector<uint16_t> ports = group.nodePorts("mymaster");

  SentinelWatch& authed = startWatch(group.sentinelAddresses(), group.sentinelAuth());
  SentinelWatch& anonymous = startWatch(group.sentinelAddresses());
  SentinelWatch& wrong = startWatch(group.sentinelAddresses(), {"AUTH", "watcher", "nope"});
  ASSERT_TRUE(runUntil([&] { return authed.connectedCount() == 3; }, 5s)) << authed.lastError();
  ASSERT_TRUE(runUntil(
      [&] { return anonymous.stats().disconnects >= 3 && wrong.stats().disconnects >= 3; }, 5s));
  EXPECT_EQ(anonymous.connectedCount(), 0u);
  EXPECT_EQ(wrong.connectedCount(), 0u);
  EXPECT_NE(anonymous.lastError().find("NOAUTH"), std::string::npos) << anonymous.lastError();
  EXPECT_NE(wrong.lastError().find("AUTH failed"), std::string::npos) << wrong.lastError();

  ASSERT_TRUE(group.failover("mymaster")) << group.error();
  EXPECT_TRUE(runUntil([&] { return switchesTo(0, "mymaster", ports[1]) == 3; }, 10s))
      << group.describeState();
  EXPECT_TRUE(events_[1].empty());
  EXPECT_TRUE(events_[2].empty());
}

TEST_F(SentinelWatchTest, ToleratesOneSentinelDownAtStart) {
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.names = {"alpha", "beta"};
  ASSERT_TRUE(group.start(options)) << group.error();
  const std::vector<uint16_t> beta = group.nodePorts("beta");
  const uint16_t down = group.sentinelPorts()[2];
  ASSERT_TRUE(group.killNode(down, SIGKILL));

  SentinelWatch& watch = startWatch(group.sentinelAddresses());
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 2; }, 5s)) << watch.lastError();
  ASSERT_TRUE(runUntil([&] { return !watch.lastError().empty(); }, 2s));
  EXPECT_NE(watch.lastError().find(group.sentinelAddresses()[2]), std::string::npos)
      << watch.lastError();
  EXPECT_EQ(watch.stats().disconnects, 0u);  // refused connects are not disconnects

  // The two live Sentinels (a majority of three) still fail over, and report it.
  ASSERT_TRUE(group.failover("beta")) << group.error();
  EXPECT_TRUE(runUntil([&] { return switchesTo(0, "beta", beta[1]) == 2; }, 10s))
      << group.describeState();
  for (const Event& e : events_[0]) {
    EXPECT_NE(e.payload.rfind("alpha ", 0), 0u) << e.channel << " " << e.payload;
  }

  ASSERT_TRUE(group.restartNode(down)) << group.error();
  EXPECT_TRUE(runUntil([&] { return watch.connectedCount() == 3; }, 5s)) << watch.lastError();
  EXPECT_EQ(subscribed_[0], 3);
}

TEST_F(SentinelWatchTest, StopThenDestroyIsClean) {
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.sentinels = 2;
  options.quorum = 1;
  ASSERT_TRUE(group.start(options)) << group.error();

  // Stopped while the connects are still in flight, destroyed before the loop runs again.
  SentinelWatch& early = startWatch(group.sentinelAddresses());
  early.stop();
  early.stop();  // idempotent
  watches_[0].reset();
  runUntil([] { return false; }, 100ms);

  SentinelWatch& watch = startWatch(group.sentinelAddresses());
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 2; }, 5s)) << watch.lastError();
  // Some PINGs go back and forth without disturbing the subscription.
  runUntil([] { return false; }, 700ms);
  EXPECT_EQ(watch.connectedCount(), 2u);
  EXPECT_EQ(watch.stats().disconnects, 0u);
  watch.stop();
  EXPECT_EQ(watch.connectedCount(), 0u);
  watch.start();  // starts afresh after stop()
  ASSERT_TRUE(runUntil([&] { return watch.connectedCount() == 2; }, 5s)) << watch.lastError();
  EXPECT_EQ(subscribed_[1], 4);
  watch.stop();
  watches_[1].reset();
  // Every handle of both watches closes (TearDown then checks uv_loop_close).
  EXPECT_TRUE(runUntil([&] { return openHandles() == 0; }, 1s)) << openHandles();
}

}  // namespace
}  // namespace slotwise::test
