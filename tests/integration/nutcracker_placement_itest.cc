// Placement parity with the real twemproxy (/usr/sbin/nutcracker): keys are written through
// nutcracker pools in front of real redis-servers, then each server is asked which keys it
// holds, and router::HashRing must name the same server for every key. One nutcracker process
// serves every pool of the suite; the redis-servers are shared and flushed between pools.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "router/hash_ring.h"
#include "tests/support/nutcracker_process.h"
#include "tests/support/redis_harness.h"

namespace slotwise::test {
namespace {

using router::Distribution;
using router::HashKind;
using router::HashRing;

constexpr int kRedisCount = 5;
constexpr int kDeadServer = -1;  // a port nothing listens on
constexpr int kPort11211 = -2;   // a redis-server on 11211, started by the test that needs it

constexpr HashKind kAllHashes[] = {HashKind::kOneAtATime, HashKind::kMd5,     HashKind::kCrc16,
                                   HashKind::kCrc32,      HashKind::kCrc32a,  HashKind::kFnv1_64,
                                   HashKind::kFnv1a_64,   HashKind::kFnv1_32, HashKind::kFnv1a_32,
                                   HashKind::kHsieh,      HashKind::kMurmur,  HashKind::kJenkins};

struct ServerSpec {
  int redis = 0;  // index into the shared redis-servers, or kDeadServer / kPort11211
  uint32_t weight = 1;
  std::string name;  // "" = nutcracker's default name
};

ServerSpec server(int redis, uint32_t weight = 1, std::string name = "") {
  return ServerSpec{redis, weight, std::move(name)};
}

struct PoolSpec {
  std::string name;
  HashKind hash = HashKind::kFnv1a_64;
  Distribution dist = Distribution::kKetama;
  std::string hash_tag;
  std::vector<ServerSpec> servers;
  bool auto_eject = false;
  uint16_t port = 0;  // nutcracker's listen port, assigned at start
};

std::string escaped(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// Distinct keys of many shapes: the empty key, ASCII names, random bytes (>= 0x80 and NUL
// included) of lengths 1..40, and hash-tag shapes for each of the tag pairs the pools use.
std::vector<std::string> makeKeys(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  auto randomBytes = [&rng](size_t min_len, size_t max_len) {
    std::string s(std::uniform_int_distribution<size_t>(min_len, max_len)(rng), '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
  };
  const std::string tags[] = {"{}", "<>", "$$"};
  std::set<std::string> seen = {""};
  std::vector<std::string> keys = {""};
  while (keys.size() < count) {
    std::string key;
    switch (keys.size() % 6) {
      case 0: key = "user:" + std::to_string(rng() % 1000000); break;
      case 1:
      case 2: key = randomBytes(1, 40); break;
      default: {
        const std::string& tag = tags[rng() % 3];
        const std::string inner = rng() % 4 == 0 ? "" : randomBytes(1, 6);
        const std::string shapes[] = {
            randomBytes(0, 5) + tag[0] + inner + tag[1] + randomBytes(0, 5),
            tag[0] + inner,                                        // no close: whole key
            tag[1] + randomBytes(1, 3) + tag[0] + inner + tag[1],  // close before open
            std::string(1, tag[0]) + tag[0] + inner + tag[1] + tag[1],
            "obj" + std::string(1, tag[0]) + std::to_string(rng() % 50) + tag[1] + ":" +
                std::to_string(keys.size()),
        };
        key = shapes[rng() % std::size(shapes)];
      }
    }
    if (seen.insert(key).second) keys.push_back(key);
  }
  return keys;
}

class NutcrackerPlacementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!nutcrackerAvailable() || !redisServerAvailable()) return;
    env_ = std::make_unique<Env>();
    env_->dir = std::make_unique<TempDir>("slotwise-nc-placement-");
    for (auto& redis : env_->redis) {
      redis = std::make_unique<RedisServerProcess>();
      if (!redis->start(pickFreePort(), env_->dir->path())) {
        env_->error = "redis-server: " + redis->error();
        return;
      }
    }
    env_->dead_port = pickFreePort();
    env_->pools = allPools();
    // Another test process may pick one of our ~45 listen ports before nutcracker binds it:
    // try again with fresh ports.
    for (int attempt = 0; attempt < 3; ++attempt) {
      env_->nutcracker = std::make_unique<NutcrackerProcess>();
      if (env_->nutcracker->start(nutcrackerConfig())) {
        env_->error.clear();
        return;
      }
      env_->error = "nutcracker: " + env_->nutcracker->error();
    }
  }

  // One nutcracker pool per PoolSpec, each on a fresh port.
  static std::vector<NutcrackerProcess::Pool> nutcrackerConfig() {
    std::vector<NutcrackerProcess::Pool> config;
    for (PoolSpec& pool : env_->pools) {
      pool.port = pickFreePort();
      NutcrackerProcess::Pool p;
      p.name = pool.name;
      p.port = pool.port;
      p.hash = std::string(router::hashKindName(pool.hash));
      p.distribution = std::string(router::distributionName(pool.dist));
      p.hash_tag = pool.hash_tag;
      p.auto_eject_hosts = pool.auto_eject;
      p.server_failure_limit = 1;
      p.server_retry_timeout_ms = 600000;
      for (const ServerSpec& s : pool.servers) {
        std::string line =
            "127.0.0.1:" + std::to_string(portOf(s.redis)) + ":" + std::to_string(s.weight);
        if (!s.name.empty()) line += " " + s.name;
        p.servers.push_back(line);
      }
      config.push_back(std::move(p));
    }
    return config;
  }

  static void TearDownTestSuite() { env_.reset(); }

  void SetUp() override {
    if (!nutcrackerAvailable()) {
      GTEST_SKIP() << kNutcracker << " not installed (apt-get install nutcracker)";
    }
    if (!redisServerAvailable()) {
      GTEST_SKIP() << "/usr/bin/redis-server not installed (apt-get install redis-server)";
    }
    ASSERT_TRUE(env_->error.empty()) << env_->error;
  }

  static uint16_t portOf(int redis) {
    if (redis == kDeadServer) return env_->dead_port;
    if (redis == kPort11211) return 11211;
    return env_->redis[static_cast<size_t>(redis)]->port();
  }

  static const PoolSpec& pool(const std::string& name) {
    for (const PoolSpec& p : env_->pools) {
      if (p.name == name) return p;
    }
    ADD_FAILURE() << "no pool " << name;
    return env_->pools.front();
  }

  // The ring for `spec` as the rest of Slotwise builds it from a server list.
  static HashRing ringFor(const PoolSpec& spec, bool dead_is_live) {
    std::vector<router::RingServer> servers;
    for (const ServerSpec& s : spec.servers) {
      servers.push_back({s.name.empty() ? router::ringName("127.0.0.1", portOf(s.redis)) : s.name,
                         s.weight, dead_is_live || s.redis != kDeadServer});
    }
    return HashRing(spec.hash, spec.dist, spec.hash_tag, std::move(servers));
  }

  // SETs every key through the pool; every reply must be OK.
  static void writeThrough(const PoolSpec& spec, const std::vector<std::string>& keys) {
    SyncRedisClient client;
    ASSERT_TRUE(client.connect("127.0.0.1", spec.port)) << client.lastError();
    constexpr size_t kBatch = 500;
    for (size_t first = 0; first < keys.size(); first += kBatch) {
      std::vector<std::vector<std::string>> cmds;
      for (size_t i = first; i < std::min(keys.size(), first + kBatch); ++i) {
        cmds.push_back({"SET", keys[i], "v"});
      }
      const auto replies = client.pipeline(cmds);
      for (size_t i = 0; i < replies.size(); ++i) {
        ASSERT_EQ(replies[i].str, "OK")
            << spec.name << ": SET " << escaped(keys[first + i]) << " failed";
      }
    }
  }

  // Port of the redis-server holding each key, read back with KEYS * from every server.
  static std::map<std::string, uint16_t> whereKeysAre(const PoolSpec& spec) {
    std::set<int> used;
    for (const ServerSpec& s : spec.servers) {
      if (s.redis != kDeadServer) used.insert(s.redis);
    }
    std::map<std::string, uint16_t> where;
    for (int redis : used) {
      SyncRedisClient client;
      EXPECT_TRUE(client.connect("127.0.0.1", portOf(redis))) << client.lastError();
      const resp::RespValue reply = client.command({"KEYS", "*"});
      EXPECT_EQ(reply.type, resp::ValueType::kArray) << reply.str;
      for (const resp::RespValue& key : reply.elements) {
        EXPECT_TRUE(where.emplace(key.str, portOf(redis)).second)
            << "key on two servers: " << escaped(key.str);
      }
    }
    return where;
  }

  static void flushAll() {
    for (auto& redis : env_->redis) {
      SyncRedisClient client;
      ASSERT_TRUE(client.connect("127.0.0.1", redis->port())) << client.lastError();
      ASSERT_EQ(client.command({"FLUSHALL"}).str, "OK");
    }
  }

  // Writes `count` keys through the pool and checks that HashRing names the server holding
  // each of them. For a random pool it checks only that the keys are on live servers.
  static void expectSamePlacement(const PoolSpec& spec, const HashRing& ring, size_t count) {
    SCOPED_TRACE("pool " + spec.name);
    const std::vector<std::string> keys =
        makeKeys(count, static_cast<uint32_t>(std::hash<std::string>{}(spec.name)));
    writeThrough(spec, keys);
    const auto where = whereKeysAre(spec);
    flushAll();
    ASSERT_EQ(where.size(), keys.size()) << "keys missing or foreign keys on the servers";
    int mismatches = 0;
    for (const std::string& key : keys) {
      const auto found = where.find(key);
      ASSERT_NE(found, where.end()) << "not stored: " << escaped(key);
      const int index = ring.serverFor(key);
      ASSERT_GE(index, 0);
      ASSERT_TRUE(ring.servers()[static_cast<size_t>(index)].live);
      if (spec.dist == Distribution::kRandom) continue;
      const uint16_t expected = portOf(spec.servers[static_cast<size_t>(index)].redis);
      if (expected != found->second && ++mismatches <= 5) {
        ADD_FAILURE() << "key " << escaped(key) << " (hashed part " << escaped(ring.hashedPart(key))
                      << ", hash " << router::twemproxyHash(spec.hash, ring.hashedPart(key))
                      << "): nutcracker put it on port " << found->second
                      << ", HashRing picked server " << index << " (port " << expected << ")";
      }
    }
    EXPECT_EQ(mismatches, 0) << "keys placed differently, out of " << keys.size();
  }

  static const std::string& tempDir() { return env_->dir->path(); }

  static void expectSamePlacement(const std::string& name, size_t count = 3000) {
    const PoolSpec& spec = pool(name);
    expectSamePlacement(spec, ringFor(spec, /*dead_is_live=*/false), count);
  }

 private:
  static std::vector<PoolSpec> allPools();

  struct Env {
    std::unique_ptr<TempDir> dir;
    std::unique_ptr<RedisServerProcess> redis[kRedisCount];
    uint16_t dead_port = 0;
    std::vector<PoolSpec> pools;
    std::unique_ptr<NutcrackerProcess> nutcracker;
    std::string error;
  };
  static inline std::unique_ptr<Env> env_;
};

// `count` servers aliased over the shared redis-servers (nutcracker accepts one address under
// several names), named "<prefix>0", "<prefix>1", ..., with weights drawn from [1, max_weight].
std::vector<ServerSpec> manyServers(size_t count, const std::string& prefix, uint32_t max_weight,
                                    uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<ServerSpec> servers;
  for (size_t i = 0; i < count; ++i) {
    servers.push_back(server(static_cast<int>(i % kRedisCount),
                             std::uniform_int_distribution<uint32_t>(1, max_weight)(rng),
                             prefix + std::to_string(i)));
  }
  return servers;
}

std::vector<PoolSpec> NutcrackerPlacementTest::allPools() {
  std::vector<PoolSpec> pools;
  // Every hash with ketama and with modula: 2 to 5 servers listed out of port order, equal or
  // uneven weights, nutcracker's default names or names that sort differently by length than
  // bytewise ("b" < "aa" < "c1" < "zzz" for nutcracker).
  const std::vector<std::vector<uint32_t>> weights = {
      {1, 1, 1, 1, 1}, {3, 1, 4, 1, 5}, {100, 7, 1, 250, 33}};
  const std::vector<std::string> names = {"zzz", "b", "c1", "aa", "shard-9"};
  int i = 0;
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula}) {
    for (HashKind hash : kAllHashes) {
      PoolSpec p{std::string(router::distributionName(dist)) + "_" +
                     std::string(router::hashKindName(hash)),
                 hash,
                 dist,
                 "",
                 {}};
      const int n = 2 + i % 4;
      for (int j = 0; j < n; ++j) {
        p.servers.push_back(server((i + 2 * j) % kRedisCount, weights[i % 3][j],
                                   i % 2 == 1 ? names[(i + j) % names.size()] : ""));
      }
      pools.push_back(std::move(p));
      ++i;
    }
  }
  // Hash tags, including one whose open and close characters are the same.
  pools.push_back({"tag_braces",
                   HashKind::kFnv1a_64,
                   Distribution::kKetama,
                   "{}",
                   {server(0), server(1), server(2), server(3)}});
  pools.push_back({"tag_angles",
                   HashKind::kMurmur,
                   Distribution::kModula,
                   "<>",
                   {server(4, 2), server(2, 1), server(0, 3)}});
  pools.push_back({"tag_dollars",
                   HashKind::kCrc32a,
                   Distribution::kKetama,
                   "$$",
                   {server(1), server(3, 2), server(0)}});
  // Weights: a weight-1 server next to 10000s gets no ketama point at all.
  pools.push_back(
      {"weights_extreme",
       HashKind::kMd5,
       Distribution::kKetama,
       "",
       {server(0, 10000), server(1, 1), server(2, 9999), server(3, 3), server(4, 5000)}});
  // 25 equal servers get 156 ketama points each, not 160 (float rounding).
  pools.push_back(
      {"equal_25", HashKind::kFnv1a_64, Distribution::kKetama, "", manyServers(25, "node-", 1, 1)});
  pools.push_back({"weighted_60", HashKind::kMurmur, Distribution::kKetama, "",
                   manyServers(60, "w", 10000, 2)});
  pools.push_back(
      {"modula_40", HashKind::kCrc16, Distribution::kModula, "", manyServers(40, "m", 50, 3)});
  pools.push_back(
      {"ketama_4095", HashKind::kMd5, Distribution::kKetama, "", manyServers(4095, "k", 10000, 4)});
  // Ketama point names longer than nutcracker's 272 bytes are cut: "<270 chars>-10" to
  // "<270 chars>-1". Names of every length around the cut.
  pools.push_back({"long_names",
                   HashKind::kOneAtATime,
                   Distribution::kKetama,
                   "",
                   {server(0, 1, std::string(270, 'a')), server(1, 2, std::string(268, 'b') + "-1"),
                    server(2, 1, std::string(271, 'c')), server(3, 1, std::string(400, 'd')),
                    server(4, 3, std::string(269, 'e'))}});
  // Auto-ejection: the dead server leaves the ring after its first failure.
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula, Distribution::kRandom}) {
    PoolSpec p{"eject_" + std::string(router::distributionName(dist)),
               HashKind::kFnv1a_64,
               dist,
               "",
               {server(0, 2), server(kDeadServer, 3), server(1, 1), server(2, 2)}};
    p.auto_eject = true;
    pools.push_back(std::move(p));
  }
  pools.push_back(
      {"random_weights", HashKind::kMd5, Distribution::kRandom, "", {server(0, 1), server(1, 50)}});
  // Default name of a server on port 11211: the host alone.
  pools.push_back({"port_11211",
                   HashKind::kFnv1a_32,
                   Distribution::kKetama,
                   "",
                   {server(kPort11211), server(0), server(1)}});
  return pools;
}

// Few TEST_Fs on purpose: ctest runs each in its own process, which starts the redis-servers
// and nutcracker again (about a second).
TEST_F(NutcrackerPlacementTest, EveryHashWithKetamaAndModula) {
  for (HashKind hash : kAllHashes) {
    expectSamePlacement("ketama_" + std::string(hashKindName(hash)));
    expectSamePlacement("modula_" + std::string(hashKindName(hash)));
  }
}

TEST_F(NutcrackerPlacementTest, HashTagsWeightsNamesAndManyServers) {
  for (const char* name : {"tag_braces", "tag_angles", "tag_dollars", "weights_extreme", "equal_25",
                           "weighted_60", "modula_40", "long_names"}) {
    expectSamePlacement(name);
  }
  expectSamePlacement("ketama_4095", 5000);
}

TEST_F(NutcrackerPlacementTest, EjectedServerLeavesTheRingAndRandomIgnoresWeights) {
  for (const char* name : {"eject_ketama", "eject_modula", "eject_random"}) {
    const PoolSpec& spec = pool(name);
    SCOPED_TRACE(name);
    // A key the full ring puts on the dead server fails and gets that server ejected.
    const HashRing full = ringFor(spec, /*dead_is_live=*/true);
    SyncRedisClient client;
    ASSERT_TRUE(client.connect("127.0.0.1", spec.port)) << client.lastError();
    bool ejected = false;
    for (const std::string& key : makeKeys(2000, 99)) {
      const int index = full.serverFor(key);
      if (spec.dist != Distribution::kRandom &&
          spec.servers[static_cast<size_t>(index)].redis != kDeadServer) {
        continue;
      }
      if (client.command({"GET", key}).isError()) {
        ejected = true;
        break;
      }
    }
    ASSERT_TRUE(ejected) << "no request reached the dead server";
    expectSamePlacement(name);
  }

  // random: any live server, with no regard to weights.
  const PoolSpec& spec = pool("random_weights");
  const std::vector<std::string> keys = makeKeys(2000, 7);
  writeThrough(spec, keys);
  const auto where = whereKeysAre(spec);
  flushAll();
  ASSERT_EQ(where.size(), keys.size());
  const auto on_light = std::count_if(where.begin(), where.end(), [&](const auto& entry) {
    return entry.second == portOf(spec.servers[0].redis);
  });
  // Weights 1 and 50, yet about half the keys each.
  EXPECT_GT(on_light, 800);
  EXPECT_LT(on_light, 1200);
}

TEST_F(NutcrackerPlacementTest, DefaultNameOfPort11211IsTheHostAlone) {
  RedisServerProcess redis;
  ASSERT_TRUE(redis.start(11211, tempDir()))
      << "this test needs 127.0.0.1:11211 free: " << redis.error();
  const PoolSpec& spec = pool("port_11211");
  const HashRing ring = ringFor(spec, /*dead_is_live=*/false);
  EXPECT_EQ(ring.servers()[0].name, "127.0.0.1");
  std::set<int> used;  // the keys reach all three servers, the one on 11211 included
  for (const std::string& key : makeKeys(3000, 11211)) used.insert(ring.serverFor(key));
  ASSERT_EQ(used.size(), 3u);
  expectSamePlacement(spec, ring, 3000);
  // flushAll() covers only the shared servers; this one goes away with the test.
}

}  // namespace
}  // namespace slotwise::test
