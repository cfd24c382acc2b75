// Sentinel-managed master/replica groups (sentinel: in the config) against real processes: real
// redis-server masters and replicas, three real redis-sentinel processes (RedisSentinelGroup)
// and the slotwise binary. The failover tests run a checked write load (one INCR counter per
// client, so every acknowledged value is known) through SENTINEL FAILOVER and kill -9 of the
// master, and report ops, errors, the longest outage and the acknowledged writes lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_harness.h"
#include "support/redis_sentinel_harness.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string str(const resp::RespValue& v) {
  if (v.type == resp::ValueType::kInteger) return std::to_string(v.integer);
  if (v.type == resp::ValueType::kNull) return "(nil)";
  return v.str;
}

class ProxySentinelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redisSentinelAvailable()) {
      GTEST_SKIP() << "redis-sentinel / redis-server are not installed (apt-get install "
                      "redis-sentinel redis-server)";
    }
  }

  void startGroups(RedisSentinelGroup::Options options) {
    ASSERT_TRUE(group_.start(options)) << group_.error();
  }

  std::string proxyYaml(const std::vector<std::string>& masters, const std::string& extra = "") {
    std::string yaml = "listen: 127.0.0.1:" + std::to_string(pickFreePort()) +
                       "\nworkers: 2\nsentinel:\n  sentinels: [";
    const std::vector<std::string> sentinels = group_.sentinelAddresses();
    for (size_t i = 0; i < sentinels.size(); ++i) yaml += (i ? ", " : "") + sentinels[i];
    yaml += "]\n  masters: [";
    for (size_t i = 0; i < masters.size(); ++i) yaml += (i ? ", " : "") + masters[i];
    yaml += "]\n  poll_interval_ms: 1000\n";
    return yaml + extra;
  }

  void startProxy(const std::string& yaml) {
    ASSERT_TRUE(proxy_.start(yaml)) << proxy_.error();
    client_ = std::make_unique<SyncRedisClient>();
    ASSERT_TRUE(client_->connect("127.0.0.1", proxy_.listenPort()));
    // The first map comes from the sentinels (and ROLE) right after start.
    bool ready = false;
    std::string last;
    for (int i = 0; i < 100 && !ready; ++i) {
      if (!client_->connected()) client_->connect("127.0.0.1", proxy_.listenPort());
      last = str(client_->command({"SET", "probe", "1"}));
      ready = last == "OK";
      if (!ready) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(ready) << last << "\n" << proxy_.log();
  }

  RedisSentinelGroup group_;
  ProxyProcess proxy_;
  std::unique_ptr<SyncRedisClient> client_;
};

// What a checked write load saw.
struct LoadResult {
  uint64_t ops = 0;     // acknowledged INCRs
  uint64_t errors = 0;  // error replies and connection failures
  Clock::duration longest_outage{};
  uint64_t lost = 0;             // acknowledged increments missing from the final values
  uint64_t acked_near_kill = 0;  // acknowledged within kLossWindow before the event
  std::vector<std::string> sample_errors;
};

// `clients` threads INCR their own counter through the proxy until `stop`; each remembers the
// last value acknowledged and when. Returns after they stopped; the final values are read by
// the caller through `check`.
class CheckedLoad {
 public:
  CheckedLoad(uint16_t port, int clients) : port_(port), threads_(clients), last_(clients) {
    for (int i = 0; i < clients; ++i) {
      threads_[i] = std::thread([this, i] { run(i); });
    }
  }
  ~CheckedLoad() { stop(); }

  void stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  static std::string key(int i) { return "ctr:" + std::to_string(i); }

  // After stop(): compares each counter's value (read through `reader`) with the last
  // acknowledged one; acknowledgements at or after `event - window` count as "near the event".
  LoadResult result(SyncRedisClient& reader, Clock::time_point event, Clock::duration window) {
    LoadResult r;
    for (size_t i = 0; i < last_.size(); ++i) {
      const PerClient& c = last_[i];
      r.ops += c.ops;
      r.errors += c.errors;
      r.longest_outage = std::max(r.longest_outage, c.longest_gap);
      for (const std::string& e : c.sample_errors) {
        if (r.sample_errors.size() < 5) r.sample_errors.push_back(e);
      }
      const resp::RespValue v = reader.command({"GET", key(static_cast<int>(i))});
      const int64_t final_value = v.type == resp::ValueType::kBulkString ? std::stoll(v.str) : 0;
      if (c.acked > final_value) r.lost += static_cast<uint64_t>(c.acked - final_value);
      r.lost += c.lost_acks.size();
      for (const auto& [value, at] : c.recent) {
        if (at >= event - window && value > final_value) ++r.acked_near_kill;
      }
      for (const Clock::time_point at : c.lost_acks) {
        if (at >= event - window) ++r.acked_near_kill;
      }
    }
    return r;
  }

 private:
  struct PerClient {
    uint64_t ops = 0;
    uint64_t errors = 0;
    int64_t acked = 0;
    std::vector<Clock::time_point>
        lost_acks;  // when increments a later reply showed lost were acked
    Clock::duration longest_gap{};
    std::vector<std::pair<int64_t, Clock::time_point>> recent;  // last acknowledgements
    std::vector<std::string> sample_errors;
  };

  void run(int i) {
    PerClient& me = last_[static_cast<size_t>(i)];
    SyncRedisClient c;
    c.setCommandTimeout(10s);
    Clock::time_point last_ok = Clock::now();
    const Clock::time_point hard_stop =
        Clock::now() + 60s;  // bounded even if stop() is never called
    while (!stop_ && Clock::now() < hard_stop) {
      if (!c.connected() && !c.connect("127.0.0.1", port_)) {
        ++me.errors;
        std::this_thread::sleep_for(20ms);
        continue;
      }
      const resp::RespValue v = c.command({"INCR", key(i)});
      const Clock::time_point now = Clock::now();
      if (v.type == resp::ValueType::kInteger) {
        ++me.ops;
        // Only this client increments this counter: a reply not above the last acknowledged
        // value means acknowledged increments were lost (seen at once, not masked by later ones).
        if (v.integer <= me.acked) {
          for (const auto& [value, at] : me.recent) {
            if (value >= v.integer) me.lost_acks.push_back(at);
          }
        }
        me.acked = v.integer;
        me.longest_gap = std::max(me.longest_gap, now - last_ok);
        last_ok = now;
        me.recent.emplace_back(v.integer, now);
        if (me.recent.size() > 4096) me.recent.erase(me.recent.begin(), me.recent.begin() + 2048);
      } else {
        ++me.errors;
        if (me.sample_errors.size() < 3) me.sample_errors.push_back(str(v));
        std::this_thread::sleep_for(5ms);
      }
    }
  }

  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::vector<PerClient> last_;
};

void report(const char* what, const LoadResult& r) {
  std::printf(
      "[ sentinel ] %s: %llu acknowledged INCRs, %llu errors, longest outage %lld ms, "
      "%llu acknowledged increments lost (%llu acknowledged in the last 500 ms before it)\n",
      what, static_cast<unsigned long long>(r.ops), static_cast<unsigned long long>(r.errors),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(r.longest_outage).count()),
      static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.acked_near_kill));
  for (const std::string& e : r.sample_errors) std::printf("[ sentinel ]   error: %s\n", e.c_str());
}

TEST_F(ProxySentinelTest, ServesTheMasterAndReadsFromReplicas) {
  RedisSentinelGroup::Options options;
  options.replicas = 2;
  startGroups(options);
  startProxy(proxyYaml({"mymaster"}, "backend:\n  read_from: replica\n"));
  const uint16_t master = group_.masterPort("mymaster");
  ASSERT_NE(master, 0);
  ASSERT_EQ(str(client_->command({"SET", "k", "v1"})), "OK");
  EXPECT_EQ(str(group_.client(master).command({"GET", "k"})), "v1");
  // Multi-key, whole-keyspace and single-server features as on one redis-server.
  EXPECT_EQ(str(client_->command({"MSET", "a", "1", "b", "2"})), "OK");
  EXPECT_EQ(client_->command({"DBSIZE"}).integer, 4);
  EXPECT_EQ(client_->command({"KEYS", "*"}).elements.size(), 4u);
  EXPECT_EQ(str(client_->command({"MULTI"})), "OK");
  EXPECT_EQ(str(client_->command({"INCR", "a"})), "QUEUED");
  EXPECT_EQ(str(client_->command({"INCR", "b"})), "QUEUED");
  const resp::RespValue exec = client_->command({"EXEC"});
  ASSERT_EQ(exec.elements.size(), 2u) << str(exec);
  EXPECT_EQ(exec.elements[1].integer, 3);
  EXPECT_EQ(client_->command({"EVAL", "return redis.call('incr', KEYS[1])", "1", "a"}).integer, 3);
  // read_from: replica: the reads reach the replicas (their GET counters move).
  auto replicaGets = [&] {
    uint64_t total = 0;
    for (uint16_t p : group_.nodePorts("mymaster")) {
      if (p == master) continue;
      const std::string info = str(group_.client(p).command({"INFO", "commandstats"}));
      const size_t at = info.find("cmdstat_get:calls=");
      if (at != std::string::npos) total += std::stoull(info.substr(at + 18));
    }
    return total;
  };
  const uint64_t before = replicaGets();
  for (int i = 0; i < 20; ++i) {
    const std::string v = str(client_->command({"GET", "k"}));
    EXPECT_TRUE(v == "v1" || v == "(nil)") << v;  // a replica may lag by a few ms
  }
  EXPECT_GE(replicaGets() - before, 20u) << "GETs did not reach the replicas";
}

TEST_F(ProxySentinelTest, SentinelFailoverUnderCheckedWriteLoadLosesNoAcknowledgedWrite) {
  startGroups({});
  startProxy(proxyYaml({"mymaster"}, "backend:\n  retry_deadline_ms: 5000\n"));
  const uint16_t old_master = group_.masterPort("mymaster");
  CheckedLoad load(proxy_.listenPort(), 4);
  std::this_thread::sleep_for(500ms);
  const Clock::time_point event = Clock::now();
  ASSERT_TRUE(group_.failover("mymaster")) << group_.error();
  const uint16_t new_master = group_.waitForNewMaster("mymaster", old_master, 15s);
  ASSERT_NE(new_master, 0) << group_.describeState();
  std::this_thread::sleep_for(2s);  // load continues on the new master
  load.stop();
  SyncRedisClient& reader = group_.client(new_master);
  const LoadResult r = load.result(reader, event, 500ms);
  report("SENTINEL FAILOVER", r);
  EXPECT_EQ(r.lost, 0u) << "a graceful failover waits for the replica: nothing may be lost";
  // No detection time in a manual failover: election and promotion, plus 2 s.
  EXPECT_LT(r.longest_outage, 5s);
  EXPECT_GT(r.ops, 100u);
  // Writes now go to the new master.
  EXPECT_EQ(str(client_->command({"SET", "after", "x"})), "OK");
  EXPECT_EQ(str(reader.command({"GET", "after"})), "x");
}

TEST_F(ProxySentinelTest, KillNineOfTheMasterFailsOverWithinDetectionPlusElection) {
  RedisSentinelGroup::Options options;
  options.down_after_ms = 1000;
  startGroups(options);
  startProxy(proxyYaml({"mymaster"}, "backend:\n  retry_deadline_ms: 6000\n"));
  const uint16_t old_master = group_.masterPort("mymaster");
  CheckedLoad load(proxy_.listenPort(), 4);
  std::this_thread::sleep_for(500ms);
  const Clock::time_point event = Clock::now();
  ASSERT_TRUE(group_.killNode(old_master, SIGKILL));
  const uint16_t new_master = group_.waitForNewMaster("mymaster", old_master, 20s);
  ASSERT_NE(new_master, 0) << group_.describeState();
  const auto sentinel_took = Clock::now() - event;
  std::this_thread::sleep_for(2s);
  load.stop();
  const LoadResult r = load.result(group_.client(new_master), event, 500ms);
  report("kill -9 of the master", r);
  std::printf("[ sentinel ]   sentinels agreed on the new master after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(sentinel_took).count()));
  // Asynchronous replication may lose what the master acknowledged just before it died, never
  // more: every lost increment was acknowledged within the last 500 ms.
  EXPECT_LE(r.lost, r.acked_near_kill);
  EXPECT_LT(r.longest_outage, sentinel_took + 2s);
  EXPECT_GT(r.ops, 100u);
}

TEST_F(ProxySentinelTest, TwoGroupsShardKeysAndSplitMultiKeyCommands) {
  RedisSentinelGroup::Options options;
  options.names = {"g1", "g2"};
  startGroups(options);
  startProxy(proxyYaml({"g1", "g2"}, "  hash: murmur\n  distribution: ketama\n"));
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 40; ++i) {
    mset.push_back("key:" + std::to_string(i));
    mset.push_back(std::to_string(i));
  }
  ASSERT_EQ(str(client_->command(mset)), "OK");
  const uint64_t on_g1 =
      static_cast<uint64_t>(group_.client(group_.masterPort("g1")).command({"DBSIZE"}).integer);
  const uint64_t on_g2 =
      static_cast<uint64_t>(group_.client(group_.masterPort("g2")).command({"DBSIZE"}).integer);
  EXPECT_GT(on_g1, 5u);
  EXPECT_GT(on_g2, 5u);
  EXPECT_EQ(client_->command({"DBSIZE"}).integer, static_cast<int64_t>(on_g1 + on_g2));
  const resp::RespValue got = client_->command({"MGET", "key:0", "key:39", "nosuch", "key:7"});
  ASSERT_EQ(got.elements.size(), 4u);
  EXPECT_EQ(str(got.elements[0]), "0");
  EXPECT_EQ(str(got.elements[1]), "39");
  EXPECT_EQ(str(got.elements[2]), "(nil)");
  EXPECT_EQ(str(got.elements[3]), "7");
}

TEST_F(ProxySentinelTest, UnknownMasterNameGetsAClearErrorAndNotReady) {
  startGroups({});
  const std::string yaml =
      proxyYaml({"mymaster", "nosuch"}, "backend:\n  retry_deadline_ms: 300\n");
  ASSERT_TRUE(proxy_.start(yaml)) << proxy_.error();
  SyncRedisClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", proxy_.listenPort()));
  // Keys placed on the known group work; keys on the unknown one get an error, not a hang.
  int ok = 0;
  int refused = 0;
  std::string error;
  for (int i = 0; i < 40; ++i) {
    const resp::RespValue v = c.command({"SET", "k" + std::to_string(i), "1"});
    if (str(v) == "OK") {
      ++ok;
    } else {
      ++refused;
      error = str(v);
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
  EXPECT_NE(error.find("not served"), std::string::npos) << error;
}

}  // namespace
}  // namespace slotwise::test
