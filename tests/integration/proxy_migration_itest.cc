// Online migration (migration: in the config) against real processes: a source deployment of
// standalone redis-servers (filled through twemproxy, Debian's nutcracker, for the static case) is
// moved into a 3-master Redis Cluster through Slotwise while a checked workload runs through the
// proxy: INCR counters with known expected values, read-your-writes, MSET/MGET, reads of every
// pre-filled value, keys of every type with TTLs. At the end: every key is in the cluster with its
// value and TTL, the source is empty, no acknowledged write was lost, no client error was seen.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/nutcracker_process.h"
#include "support/redis_harness.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

std::string str(const resp::RespValue& v) {
  if (v.type == resp::ValueType::kInteger) return std::to_string(v.integer);
  if (v.type == resp::ValueType::kNull) return "(nil)";
  if (v.type == resp::ValueType::kError) return "ERR:" + v.str;
  return v.str;
}

std::string value(int i) { return "v" + std::to_string(i) + std::string(90, 'x'); }  // ~100 B

// What the workload saw; every field must end at 0 but `ops`.
struct LoadResult {
  uint64_t ops = 0;
  uint64_t errors = 0;
  uint64_t stale = 0;
  std::string first_problem;
};

class ProxyMigrationTest : public ::testing::Test {
 protected:
  static constexpr int kSources = 2;
  static constexpr int kCounters = 40;
  static constexpr int kCounterStart = 1000;

  void SetUp() override {
    if (!redisServerAvailable()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(cluster_.start()) << cluster_.error();
    dir_ = std::make_unique<TempDir>("slotwise-migration-");
    for (auto& server : sources_) {
      server = std::make_unique<RedisServerProcess>();
      ASSERT_TRUE(server->start(pickFreePort(), dir_->path())) << server->error();
    }
  }

  std::vector<std::string> serverLines() const {
    std::vector<std::string> out;
    for (int i = 0; i < kSources; ++i) {
      out.push_back("127.0.0.1:" + std::to_string(sources_[i]->port()) + ":1 s" +
                    std::to_string(i + 1));
    }
    return out;
  }

  std::string yaml(const std::string& source, uint32_t rate) {
    return "listen: 127.0.0.1:" + std::to_string(pickFreePort()) +
           "\nworkers: 2\ncluster:\n  seeds: [" + cluster_.seedAddresses()[0] +
           "]\nmigration:\n  rate_keys_per_s: " + std::to_string(rate) + "\n  batch_keys: 100\n" +
           "  source:\n" + source + "backend:\n  retry_deadline_ms: 3000\n";
  }

  std::string staticSource() const {
    std::string y =
        "    static:\n      hash: fnv1a_64\n      distribution: ketama\n"
        "      hash_tag: \"{}\"\n      servers:\n";
    for (const std::string& line : serverLines()) y += "        - \"" + line + "\"\n";
    return y;
  }

  // Fills the source through `c` (nutcracker or a server): strings, counters, typed keys + TTL.
  void fill(SyncRedisClient& c, int strings) {
    std::vector<std::vector<std::string>> batch;
    auto flush = [&] {
      for (const auto& r : c.pipeline(batch)) ASSERT_NE(r.type, resp::ValueType::kError) << r.str;
      batch.clear();
    };
    for (int i = 0; i < strings; ++i) {
      batch.push_back({"SET", "k:" + std::to_string(i), value(i)});
      if (batch.size() == 500) flush();
    }
    for (int i = 0; i < kCounters; ++i) {
      batch.push_back({"SET", "ctr:" + std::to_string(i), std::to_string(kCounterStart)});
    }
    for (int i = 0; i < 50; ++i) {
      const std::string n = std::to_string(i);
      batch.push_back({"HSET", "h:" + n, "f1", "a" + n, "f2", "b"});
      batch.push_back({"RPUSH", "l:" + n, "1", "2", "3"});
      batch.push_back({"SADD", "s:" + n, "x", "y"});
      batch.push_back({"ZADD", "z:" + n, "1", "one", "2", "two"});
      for (const char* t : {"h:", "l:", "s:", "z:"}) batch.push_back({"EXPIRE", t + n, "1000"});
    }
    flush();
  }

  uint64_t sourceKeys() {
    uint64_t n = 0;
    for (auto& s : sources_) {
      SyncRedisClient direct;
      if (direct.connect("127.0.0.1", s->port())) n += direct.command({"DBSIZE"}).integer;
    }
    return n;
  }

  uint64_t clusterKeys() {
    uint64_t n = 0;
    for (const auto& node : cluster_.nodes()) {
      SyncRedisClient direct;
      if (direct.connect("127.0.0.1", node.port)) {
        resp::RespValue role = direct.command({"ROLE"});
        if (!role.elements.empty() && role.elements[0].str == "master") {
          n += direct.command({"DBSIZE"}).integer;
        }
      }
    }
    return n;
  }

  // INFO migration of the proxy on `port`: field -> value.
  static std::map<std::string, std::string> migrationInfo(uint16_t port) {
    std::map<std::string, std::string> out;
    SyncRedisClient c;
    if (!c.connect("127.0.0.1", port)) return out;
    const std::string text = c.command({"INFO", "migration"}).str;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find("\r\n", pos);
      if (eol == std::string::npos) eol = text.size();
      const std::string line = text.substr(pos, eol - pos);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 1);
      pos = eol + 2;
    }
    return out;
  }

  // The checked workload through the proxy on `port` until `stop`. `expected` counts the
  // acknowledged INCRs per counter.
  static void load(uint16_t port, int strings, int id, const std::atomic<bool>& stop,
                   std::vector<std::atomic<int64_t>>& expected, LoadResult* out) {
    SyncRedisClient c;
    if (!c.connect("127.0.0.1", port)) {
      out->errors = 1;
      out->first_problem = "cannot connect";
      return;
    }
    auto problem = [&](uint64_t* counter, const std::string& what) {
      ++*counter;
      if (out->first_problem.empty()) out->first_problem = what;
    };
    uint64_t i = 0;
    while (!stop.load()) {
      ++i;
      const int ctr = static_cast<int>((i * 7 + id) % kCounters);
      resp::RespValue r = c.command({"INCR", "ctr:" + std::to_string(ctr)});
      if (r.type == resp::ValueType::kInteger) expected[ctr].fetch_add(1);
      else problem(&out->errors, "INCR: " + str(r));
      const int k = static_cast<int>((i * 7919 + static_cast<uint64_t>(id) * 104729) % strings);
      r = c.command({"GET", "k:" + std::to_string(k)});
      const std::string got = str(r);
      // The pre-filled value, or one the workload wrote ("w<k>" by SET, "m<i>" by MSET); a
      // missing key (nil) means it was read from the wrong side of the migration.
      if (got != value(k) && got != "w" + std::to_string(k) && got.rfind('m', 0) != 0) {
        problem(r.type == resp::ValueType::kError ? &out->errors : &out->stale,
                "GET k:" + std::to_string(k) + " -> " + got);
      }
      if (k % 2 == 0) {
        r = c.command({"SET", "k:" + std::to_string(k), "w" + std::to_string(k)});
        if (str(r) != "OK") problem(&out->errors, "SET: " + str(r));
      }
      const std::string rw = "rw:" + std::to_string(id) + ":" + std::to_string(i % 500);
      const std::string rwv = std::to_string(i);
      r = c.command({"SET", rw, rwv});
      if (str(r) != "OK") problem(&out->errors, "SET rw: " + str(r));
      r = c.command({"GET", rw});
      if (str(r) != rwv) problem(&out->stale, "read-your-write " + rw + " -> " + str(r));
      const std::string a = "k:" + std::to_string((k + 1) % strings);
      const std::string b = "k:" + std::to_string((k + 3) % strings);
      if (i % 4 == 0) {
        r = c.command({"MSET", a, "m" + rwv, b, "m" + rwv});
        if (str(r) != "OK") problem(&out->errors, "MSET: " + str(r));
        r = c.command({"MGET", a, b});
        if (r.elements.size() != 2 || str(r.elements[0]) != "m" + rwv ||
            str(r.elements[1]) != "m" + rwv) {
          problem(&out->stale, "MGET after MSET: " + str(r));
        }
      }
      out->ops += 5;
    }
  }

  RedisClusterHarness cluster_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RedisServerProcess> sources_[kSources];
};

// The twemproxy way out: data placed by nutcracker, moved into the cluster through Slotwise
// with the same hash/distribution, with a checked workload running the whole time.
TEST_F(ProxyMigrationTest, TwemproxyDataMovesIntoTheClusterUnderLoad) {
  if (!nutcrackerAvailable()) GTEST_SKIP() << "nutcracker (twemproxy) is not installed";
  constexpr int kStrings = 20000;
  {
    NutcrackerProcess nutcracker;
    NutcrackerProcess::Pool pool{"p", pickFreePort(), "fnv1a_64", "ketama", "{}", serverLines()};
    ASSERT_TRUE(nutcracker.start({pool})) << nutcracker.error();
    SyncRedisClient via_twemproxy;
    ASSERT_TRUE(via_twemproxy.connect("127.0.0.1", pool.port));
    fill(via_twemproxy, kStrings);
  }
  const uint64_t total = sourceKeys();
  ASSERT_EQ(total, uint64_t{kStrings + kCounters + 200});

  ProxyProcess proxy;
  // Rate-limited so that the workload runs against a half-moved keyspace for several seconds.
  ASSERT_TRUE(proxy.start(yaml(staticSource(), 4000))) << proxy.error();
  std::vector<std::atomic<int64_t>> expected(kCounters);
  std::atomic<bool> stop{false};
  LoadResult results[2];
  std::thread loaders[2];
  for (int id = 0; id < 2; ++id) {
    loaders[id] = std::thread(load, proxy.listenPort(), kStrings, id, std::cref(stop),
                              std::ref(expected), &results[id]);
  }
  // Mid-way: the union is visible (DBSIZE counts both sides, a key is in exactly one place).
  std::this_thread::sleep_for(1500ms);
  {
    SyncRedisClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", proxy.listenPort()));
    const uint64_t mid_source = sourceKeys();
    EXPECT_GT(mid_source, 0u) << "the migration ended before the mid-way check";
    EXPECT_GE(c.command({"DBSIZE"}).integer, static_cast<int64_t>(total));
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (migrationInfo(proxy.listenPort())["migration_done"] != "1" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  std::this_thread::sleep_for(500ms);  // the workload keeps going on the cluster alone
  stop = true;
  for (auto& t : loaders) t.join();
  auto info = migrationInfo(proxy.listenPort());
  ASSERT_EQ(info["migration_done"], "1") << proxy.log();
  std::cout << "migration: " << info["migration_keys_moved_by_mover"] << " keys by the mover, "
            << info["migration_keys_moved_by_commands"] << " by commands, workload ops "
            << results[0].ops + results[1].ops << "\n";
  for (const LoadResult& r : results) {
    EXPECT_EQ(r.errors, 0u) << r.first_problem;
    EXPECT_EQ(r.stale, 0u) << r.first_problem;
    EXPECT_GT(r.ops, 0u);
  }
  EXPECT_EQ(sourceKeys(), 0u);

  SyncRedisClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", proxy.listenPort()));
  for (int i = 0; i < kCounters; ++i) {  // 0 acknowledged INCRs lost
    EXPECT_EQ(str(c.command({"GET", "ctr:" + std::to_string(i)})),
              std::to_string(kCounterStart + expected[i].load()))
        << "ctr:" << i;
  }
  int wrong = 0;
  for (int i = 1; i < kStrings; i += 2) {  // odd keys only read or MSET by the workload
    const std::string got = str(c.command({"GET", "k:" + std::to_string(i)}));
    if (got != value(i) && got.rfind('m', 0) != 0) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
  for (int i = 0; i < 50; ++i) {  // types and TTLs kept (±1 s of what is left of 1000 s)
    const std::string n = std::to_string(i);
    EXPECT_EQ(str(c.command({"HGET", "h:" + n, "f1"})), "a" + n);
    EXPECT_EQ(c.command({"LLEN", "l:" + n}).integer, 3);
    EXPECT_EQ(c.command({"SCARD", "s:" + n}).integer, 2);
    EXPECT_EQ(str(c.command({"ZSCORE", "z:" + n, "two"})), "2");
    for (const char* t : {"h:", "l:", "s:", "z:"}) {
      const int64_t ttl = c.command({"TTL", t + n}).integer;
      EXPECT_GE(ttl, 1000 - 120 - 1) << t << n;
      EXPECT_LE(ttl, 1000) << t << n;
    }
  }
  // Everything is in the cluster: the pre-filled keys plus the workload's rw: keys.
  EXPECT_GE(clusterKeys(), total);
  EXPECT_EQ(static_cast<uint64_t>(c.command({"DBSIZE"}).integer), clusterKeys());
}

// Standalone source with a 50 MB key, two proxies running the same migration at once, one of
// them killed with SIGKILL mid-way and restarted: nothing lost, nothing duplicated.
TEST_F(ProxyMigrationTest, TwoProxiesAndAKilledOneFinishTheMigration) {
  constexpr int kStrings = 20000;
  {
    SyncRedisClient direct;
    ASSERT_TRUE(direct.connect("127.0.0.1", sources_[0]->port()));
    fill(direct, kStrings);
    ASSERT_EQ(str(direct.command({"SET", "big", std::string(50 << 20, 'b')})), "OK");
  }
  const uint64_t total = sourceKeys();
  const std::string source =
      "    servers: [\"127.0.0.1:" + std::to_string(sources_[0]->port()) + "\"]\n";
  ProxyProcess first;
  auto second = std::make_unique<ProxyProcess>();
  ASSERT_TRUE(first.start(yaml(source, 3000))) << first.error();
  ASSERT_TRUE(second->start(yaml(source, 3000))) << second->error();
  const uint16_t first_port = first.listenPort();
  std::vector<std::atomic<int64_t>> expected(kCounters);
  std::atomic<bool> stop{false};
  LoadResult results[2];
  std::thread loader(load, first_port, kStrings, 0, std::cref(stop), std::ref(expected),
                     &results[0]);
  std::this_thread::sleep_for(1500ms);
  second->stop(SIGKILL);
  second->waitExit(5s);
  EXPECT_GT(sourceKeys(), 0u) << "the migration ended before the kill";
  second = std::make_unique<ProxyProcess>();
  ASSERT_TRUE(second->start(yaml(source, 3000))) << second->error();
  std::thread loader2(load, second->listenPort(), kStrings, 1, std::cref(stop), std::ref(expected),
                      &results[1]);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((migrationInfo(first_port)["migration_done"] != "1" ||
          migrationInfo(second->listenPort())["migration_done"] != "1") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  stop = true;
  loader.join();
  loader2.join();
  ASSERT_EQ(migrationInfo(first_port)["migration_done"], "1") << first.log();
  ASSERT_EQ(migrationInfo(second->listenPort())["migration_done"], "1") << second->log();
  for (const LoadResult& r : results) {
    EXPECT_EQ(r.errors, 0u) << r.first_problem;
    EXPECT_EQ(r.stale, 0u) << r.first_problem;
  }
  EXPECT_EQ(sourceKeys(), 0u);
  SyncRedisClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", first_port));
  for (int i = 0; i < kCounters; ++i) {
    EXPECT_EQ(str(c.command({"GET", "ctr:" + std::to_string(i)})),
              std::to_string(kCounterStart + expected[i].load()))
        << "ctr:" << i;
  }
  EXPECT_EQ(c.command({"STRLEN", "big"}).integer, 50 << 20);
  EXPECT_GE(clusterKeys(), total);
}

}  // namespace
}  // namespace slotwise::test
