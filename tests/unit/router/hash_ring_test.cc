// HashRing and twemproxyHash. Hash vectors: published check values where the hash is a standard
// one (md5, CRC-32, FNV, one-at-a-time), otherwise values of this implementation after
// tests/integration/nutcracker_placement_itest.cc showed it agrees with nutcracker 0.5.0 on
// thousands of keys (bytes >= 0x80 included) for every hash.
#include "router/hash_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "router/hash_slot.h"

namespace slotwise::router {
namespace {

constexpr HashKind kAllHashes[] = {HashKind::kOneAtATime, HashKind::kMd5,     HashKind::kCrc16,
                                   HashKind::kCrc32,      HashKind::kCrc32a,  HashKind::kFnv1_64,
                                   HashKind::kFnv1a_64,   HashKind::kFnv1_32, HashKind::kFnv1a_32,
                                   HashKind::kHsieh,      HashKind::kMurmur,  HashKind::kJenkins};

const std::string kHan = "\xe4\xb8\xad";                          // U+4E2D in UTF-8
const std::string kHighBytes = std::string("k\x80\xff\x01z", 5);  // 3-byte tail: 0xff, 0x01, z
const std::string kFox = "The quick brown fox jumps over the lazy dog";

struct HashVector {
  HashKind kind;
  uint32_t a, foobar, check, han, high_bytes, fox, empty;
};

// Inputs: "a", "foobar", "123456789", kHan, kHighBytes, kFox, "".
const HashVector kVectors[] = {
    {HashKind::kOneAtATime, 0xCA2E9442, 0xF952FDE7, 0xC66B58C5, 0xA92BC4AD, 0x189C623B, 0x519E91F5,
     0x00000000},
    {HashKind::kMd5, 0xB975C10C, 0x22F65838, 0x94E7F925, 0xBCDFD1AE, 0x571ADC1B, 0x9D7D109E,
     0xD98C1DD4},
    {HashKind::kCrc16, 0x00007C87, 0x9EFFB025, 0x869031C3, 0xBDFA8F12, 0x6E6F0B94, 0x22A3F0C8,
     0x00000000},
    {HashKind::kCrc32, 0x000068B7, 0x00001EF6, 0x00004BF4, 0x000055D1, 0x000052CA, 0x0000414F,
     0x00000000},
    {HashKind::kCrc32a, 0xE8B7BE43, 0x9EF61F95, 0xCBF43926, 0xD5D15A8B, 0xD2CA9AF4, 0x414FA339,
     0x00000000},
    {HashKind::kFnv1_64, 0x8601B7BE, 0xA4DDA9C2, 0x2BF916D6, 0x943B7FB6, 0x9762A2CA, 0x7DE37ACE,
     0x84222325},
    {HashKind::kFnv1a_64, 0x8601EC8C, 0xF73967E8, 0x23C6CDFC, 0x13AE71D4, 0x90A3EA64, 0xE7E47110,
     0x84222325},
    {HashKind::kFnv1_32, 0x050C5D7E, 0x31F0B262, 0x24148816, 0xD78FE576, 0x3AA1B1AA, 0xE9C86C6E,
     0x811C9DC5},
    {HashKind::kFnv1a_32, 0xE40C292C, 0xBF9CF968, 0xBB86B11C, 0xEA46DCF4, 0x9B9AD764, 0x048FFF90,
     0x811C9DC5},
    {HashKind::kHsieh, 0x93642E87, 0x07A5862C, 0xE4FC1670, 0x4ED55646, 0x05B1ACB3, 0x1C19EE97,
     0x00000000},
    {HashKind::kMurmur, 0x4B41757C, 0xABECFF17, 0xB7760690, 0xADF9BD86, 0x68CB67DF, 0x30C79125,
     0x00000000},
    {HashKind::kJenkins, 0xE0A38690, 0x0FDD8B60, 0x19777AF6, 0xFD2D13A8, 0x2064465C, 0x12B8163C,
     0xDEADBEFC},
};

TEST(TwemproxyHashTest, KnownVectors) {
  for (const HashVector& v : kVectors) {
    SCOPED_TRACE(std::string(hashKindName(v.kind)));
    EXPECT_EQ(twemproxyHash(v.kind, "a"), v.a);
    EXPECT_EQ(twemproxyHash(v.kind, "foobar"), v.foobar);
    EXPECT_EQ(twemproxyHash(v.kind, "123456789"), v.check);
    EXPECT_EQ(twemproxyHash(v.kind, kHan), v.han);
    EXPECT_EQ(twemproxyHash(v.kind, kHighBytes), v.high_bytes);
    EXPECT_EQ(twemproxyHash(v.kind, kFox), v.fox);
    EXPECT_EQ(twemproxyHash(v.kind, ""), v.empty);
  }
}

TEST(TwemproxyHashTest, PublishedCheckValues) {
  // md5("") = d41d8cd98f00b204e9800998ecf8427e: its first 4 bytes, little-endian.
  EXPECT_EQ(twemproxyHash(HashKind::kMd5, ""), 0xD98C1DD4u);
  EXPECT_EQ(twemproxyHash(HashKind::kCrc32a, "123456789"), 0xCBF43926u);  // CRC-32 check value
  // libmemcached's crc32: bits 16..30 of the CRC-32.
  EXPECT_EQ(twemproxyHash(HashKind::kCrc32, "123456789"), (0xCBF43926u >> 16) & 0x7FFF);
  EXPECT_EQ(twemproxyHash(HashKind::kFnv1_32, "foobar"), 0x31F0B262u);
  EXPECT_EQ(twemproxyHash(HashKind::kFnv1a_32, "foobar"), 0xBF9CF968u);
  EXPECT_EQ(twemproxyHash(HashKind::kFnv1_64, "foobar"), 0xA4DDA9C2u);  // of 0x340d8765a4dda9c2
  EXPECT_EQ(twemproxyHash(HashKind::kOneAtATime, kFox), 0x519E91F5u);
}

TEST(TwemproxyHashTest, Crc16KeepsTheShiftedOutBitsAbove16) {
  // The low 16 bits are CRC16-XMODEM (the Redis Cluster CRC); the rest is twemproxy's quirk.
  EXPECT_EQ(twemproxyHash(HashKind::kCrc16, "123456789") & 0xFFFF, 0x31C3u);
  EXPECT_GT(twemproxyHash(HashKind::kCrc16, "123456789"), 0xFFFFu);
  std::string data;
  for (int i = 0; i < 256; ++i) {
    data.push_back(static_cast<char>(i));
    ASSERT_EQ(twemproxyHash(HashKind::kCrc16, data) & 0xFFFF, crc16(data.data(), data.size()));
  }
}

TEST(TwemproxyHashTest, SignExtendedBytesChangeTheHashesThatReadChar) {
  // "\x80" sign-extended is 0xFFFFFF80. FNV-1a 32 of the unsigned byte would be
  // (0x811C9DC5 ^ 0x80) * 16777619.
  const uint32_t unsigned_byte = (0x811C9DC5u ^ 0x80u) * 16777619u;
  const uint32_t sign_extended = (0x811C9DC5u ^ 0xFFFFFF80u) * 16777619u;
  EXPECT_NE(unsigned_byte, sign_extended);
  EXPECT_EQ(twemproxyHash(HashKind::kFnv1a_32, "\x80"), sign_extended);
  // one_at_a_time adds the byte: "\x80" alone is 0xFFFFFF80 run through the mixing steps.
  uint32_t v = 0xFFFFFF80u;
  v += v << 10;
  v ^= v >> 6;
  v += v << 3;
  v ^= v >> 11;
  v += v << 15;
  EXPECT_EQ(twemproxyHash(HashKind::kOneAtATime, "\x80"), v);
  // (Hsieh sign-extends only the third byte of a 3-byte tail: kHan in KnownVectors.)
}

TEST(TwemproxyHashTest, EveryTailLengthIsDeterministicAndSpread) {
  for (HashKind kind : kAllHashes) {
    std::set<uint32_t> seen;
    std::string data;
    for (int len = 1; len <= 40; ++len) {
      data.push_back(static_cast<char>(0x61 + len));
      const uint32_t h = twemproxyHash(kind, data);
      EXPECT_EQ(h, twemproxyHash(kind, data));
      seen.insert(h);
    }
    // crc32 has only 15 bits, yet 40 inputs rarely collide.
    EXPECT_GE(seen.size(), 39u) << hashKindName(kind);
  }
}

TEST(HashKindTest, NamesRoundTrip) {
  const char* names[] = {"one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
                         "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"};
  for (size_t i = 0; i < std::size(names); ++i) {
    const auto kind = parseHashKind(names[i]);
    ASSERT_TRUE(kind.has_value()) << names[i];
    EXPECT_EQ(*kind, kAllHashes[i]);
    EXPECT_EQ(hashKindName(*kind), names[i]);
  }
  for (const char* bad : {"", "MD5", "fnv1a", "crc32 ", "ketama"}) {
    EXPECT_FALSE(parseHashKind(bad).has_value()) << bad;
  }
}

TEST(DistributionTest, NamesRoundTrip) {
  for (Distribution d : {Distribution::kKetama, Distribution::kModula, Distribution::kRandom}) {
    EXPECT_EQ(parseDistribution(distributionName(d)), d);
  }
  EXPECT_EQ(distributionName(Distribution::kKetama), "ketama");
  EXPECT_EQ(distributionName(Distribution::kModula), "modula");
  EXPECT_EQ(distributionName(Distribution::kRandom), "random");
  EXPECT_FALSE(parseDistribution("Ketama").has_value());
  EXPECT_FALSE(parseDistribution("vnode").has_value());
}

TEST(RingNameTest, HostPortOrHostAloneOn11211) {
  EXPECT_EQ(ringName("10.0.0.1", 6379), "10.0.0.1:6379");
  EXPECT_EQ(ringName("cache-1", 11211), "cache-1");
  EXPECT_EQ(ringName("cache-1", 11212), "cache-1:11212");
  EXPECT_EQ(ringName("::1", 7000), "::1:7000");
}

TEST(KetamaPointsTest, FloatRoundingOfTwemproxy) {
  EXPECT_EQ(ketamaPointsPerServer(1, 1, 1), 160u);
  for (uint32_t n = 1; n <= 24; ++n) EXPECT_EQ(ketamaPointsPerServer(1, n, n), 160u) << n;
  // 1/25 in float times 40 times 25 is 39.999996: floor gives 39, hence 156 points.
  EXPECT_EQ(ketamaPointsPerServer(1, 25, 25), 156u);
  EXPECT_EQ(ketamaPointsPerServer(7, 175, 25), 156u);
  EXPECT_EQ(ketamaPointsPerServer(1, 100, 100), 156u);
  // Shares: 3 of 4 with 2 servers is 1.5 * 160.
  EXPECT_EQ(ketamaPointsPerServer(3, 4, 2), 240u);
  EXPECT_EQ(ketamaPointsPerServer(1, 4, 2), 80u);
  // A tiny share gets no point at all.
  EXPECT_EQ(ketamaPointsPerServer(1, 25003, 5), 0u);
  EXPECT_EQ(ketamaPointsPerServer(10000, 10000 * 4095, 4095), 160u);
}

std::vector<RingServer> named(std::initializer_list<const char*> names) {
  std::vector<RingServer> servers;
  for (const char* name : names) servers.push_back({name, 1, true});
  return servers;
}

std::vector<std::string> sampleKeys(size_t count) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < count; ++i) {
    keys.push_back("key:" + std::to_string(i * 7919) + (i % 3 == 0 ? "\xe9" : ""));
  }
  return keys;
}

// How many of `keys` each server gets.
std::vector<int> counts(const HashRing& ring, const std::vector<std::string>& keys) {
  std::vector<int> out(ring.servers().size(), 0);
  for (const std::string& key : keys) {
    const int index = ring.serverFor(key);
    EXPECT_GE(index, 0);
    if (index >= 0) ++out[static_cast<size_t>(index)];
  }
  return out;
}

TEST(HashTagTest, HashedPart) {
  const HashRing ring(HashKind::kMd5, Distribution::kKetama, "{}", named({"a", "b"}));
  EXPECT_EQ(ring.hashedPart("user{42}:name"), "42");
  EXPECT_EQ(ring.hashedPart("{42}"), "42");
  EXPECT_EQ(ring.hashedPart("{a}{b}"), "a");       // the first tag
  EXPECT_EQ(ring.hashedPart("x}{y}"), "y");        // close before open is ignored
  EXPECT_EQ(ring.hashedPart("{{y}}"), "{y");       // next close after the first open
  EXPECT_EQ(ring.hashedPart("{}x{y}"), "{}x{y}");  // empty first tag: whole key
  EXPECT_EQ(ring.hashedPart("{open"), "{open");    // no close: whole key
  EXPECT_EQ(ring.hashedPart("plain"), "plain");
  EXPECT_EQ(ring.hashedPart(""), "");

  const HashRing dollars(HashKind::kMd5, Distribution::kKetama, "$$", named({"a", "b"}));
  EXPECT_EQ(dollars.hashedPart("a$tag$b$c"), "tag");
  EXPECT_EQ(dollars.hashedPart("a$$b"), "a$$b");

  const HashRing none(HashKind::kMd5, Distribution::kKetama, "", named({"a", "b"}));
  EXPECT_EQ(none.hashedPart("user{42}"), "user{42}");
  // Anything but two characters counts as no tag, as nutcracker would not start with it.
  const HashRing bad(HashKind::kMd5, Distribution::kKetama, "{", named({"a", "b"}));
  EXPECT_EQ(bad.hashedPart("user{42}"), "user{42}");
  EXPECT_EQ(bad.hashTag(), "");
}

TEST(HashTagTest, KeysWithTheSameTagShareAServer) {
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula}) {
    const HashRing ring(HashKind::kFnv1a_64, dist, "{}", named({"a", "b", "c", "d", "e"}));
    std::set<int> servers;
    for (int i = 0; i < 100; ++i) {
      servers.insert(ring.serverFor("obj:" + std::to_string(i) + "{user:7}"));
    }
    EXPECT_EQ(servers.size(), 1u);
    EXPECT_EQ(*servers.begin(), ring.serverFor("user:7"));
  }
}

TEST(HashRingTest, NoLiveServerGivesMinusOne) {
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula, Distribution::kRandom}) {
    const HashRing empty(HashKind::kMd5, dist, "", {});
    EXPECT_EQ(empty.serverFor("k"), -1);
    EXPECT_EQ(empty.liveCount(), 0u);
    std::vector<RingServer> servers = named({"a", "b"});
    for (RingServer& s : servers) s.live = false;
    const HashRing dead(HashKind::kMd5, dist, "", servers);
    EXPECT_EQ(dead.serverFor("k"), -1);
    EXPECT_EQ(dead.serverFor(""), -1);
    EXPECT_EQ(dead.liveCount(), 0u);
    EXPECT_EQ(dead.servers().size(), 2u);
  }
}

TEST(HashRingTest, WeightZeroCountsAsEjected) {
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula, Distribution::kRandom}) {
    const HashRing ring(HashKind::kMd5, dist, "", {{"a", 0, true}, {"b", 1, true}});
    EXPECT_EQ(ring.liveCount(), 1u);
    for (const std::string& key : sampleKeys(100)) ASSERT_EQ(ring.serverFor(key), 1);
    const HashRing none(HashKind::kMd5, dist, "", {{"a", 0, true}});
    EXPECT_EQ(none.serverFor("k"), -1);
  }
}

TEST(HashRingTest, OneServerTakesEveryKey) {
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula, Distribution::kRandom}) {
    for (HashKind hash : kAllHashes) {
      const HashRing ring(hash, dist, "{}", {{"only", 7, true}});
      for (const std::string& key : sampleKeys(50)) ASSERT_EQ(ring.serverFor(key), 0);
      EXPECT_EQ(ring.serverFor(""), 0);
    }
  }
}

TEST(HashRingTest, ModulaWalksServersInNameOrderRepeatedByWeight) {
  // twemproxy orders servers by name length, then bytes: "b" (1), "aa" (3), "zzz" (2).
  const HashRing ring(HashKind::kCrc32a, Distribution::kModula, "",
                      {{"zzz", 2, true}, {"aa", 3, true}, {"b", 1, true}});
  const int expected_by_slot[] = {2, 1, 1, 1, 0, 0};
  for (const std::string& key : sampleKeys(300)) {
    const uint32_t slot = twemproxyHash(HashKind::kCrc32a, key) % 6;
    ASSERT_EQ(ring.serverFor(key), expected_by_slot[slot]) << key;
  }
  // The empty key hashes to 0: the first server in name order.
  EXPECT_EQ(ring.serverFor(""), 2);
}

TEST(HashRingTest, ModulaWithAnEjectedServerUsesOnlyTheLiveWeights) {
  const HashRing ring(HashKind::kMurmur, Distribution::kModula, "",
                      {{"b", 2, true}, {"a", 5, false}, {"c", 1, true}});
  EXPECT_EQ(ring.liveCount(), 2u);
  for (const std::string& key : sampleKeys(300)) {
    const uint32_t slot = twemproxyHash(HashKind::kMurmur, key) % 3;
    ASSERT_EQ(ring.serverFor(key), slot < 2 ? 0 : 2) << key;  // "b" twice, then "c"
  }
}

TEST(HashRingTest, KetamaWeightsSharePointsAndKeys) {
  const HashRing ring(HashKind::kMd5, Distribution::kKetama, "",
                      {{"heavy", 3, true}, {"light", 1, true}});
  const auto c = counts(ring, sampleKeys(8000));
  // 240 against 80 points: about three quarters of the keys on the heavy server.
  EXPECT_GT(c[0], 5400);
  EXPECT_LT(c[0], 6600);
}

TEST(HashRingTest, KetamaServerWithNoPointGetsNoKey) {
  const HashRing ring(HashKind::kMd5, Distribution::kKetama, "",
                      {{"a", 10000, true},
                       {"tiny", 1, true},
                       {"c", 9999, true},
                       {"d", 3, true},
                       {"e", 5000, true}});
  const auto c = counts(ring, sampleKeys(5000));
  EXPECT_EQ(c[1], 0);
  EXPECT_GT(c[0], 0);
}

TEST(HashRingTest, EjectedServerIsLeftOutAsIfAbsent) {
  // twemproxy rebuilds the ring over the live servers only: same points as a ring without the
  // server, and the same picks once indexes are mapped.
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula}) {
    const HashRing with_dead(HashKind::kFnv1a_64, dist, "",
                             {{"s1", 2, true}, {"s2", 3, false}, {"s3", 1, true}, {"s4", 2, true}});
    const HashRing without(HashKind::kFnv1a_64, dist, "",
                           {{"s1", 2, true}, {"s3", 1, true}, {"s4", 2, true}});
    const int map_index[] = {0, 2, 3};
    for (const std::string& key : sampleKeys(2000)) {
      const int index = with_dead.serverFor(key);
      ASSERT_NE(index, 1) << key;
      ASSERT_EQ(index, map_index[without.serverFor(key)]) << key;
    }
  }
}

TEST(HashRingTest, ServerOrderInTheListDoesNotMatter) {
  // nutcracker sorts servers by name, so only the names, not their order, define the ring.
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula}) {
    const HashRing one(HashKind::kJenkins, dist, "",
                       {{"10.0.0.9:6379", 1, true}, {"10.0.0.10:6379", 2, true}, {"x", 1, true}});
    const HashRing other(HashKind::kJenkins, dist, "",
                         {{"x", 1, true}, {"10.0.0.10:6379", 2, true}, {"10.0.0.9:6379", 1, true}});
    for (const std::string& key : sampleKeys(2000)) {
      ASSERT_EQ(one.servers()[one.serverFor(key)].name, other.servers()[other.serverFor(key)].name);
    }
  }
}

TEST(HashRingTest, KetamaPointNamesAreCutAt272Bytes) {
  // "<name>-<index>" longer than 272 bytes is cut, so names equal in their first 272 bytes give
  // the same points. (Their tie order is then by name, which is why both rings agree.)
  const std::string base(300, 'n');
  const HashRing one(HashKind::kMd5, Distribution::kKetama, "",
                     {{base + "A", 1, true}, {"other", 1, true}});
  const HashRing two(HashKind::kMd5, Distribution::kKetama, "",
                     {{base + "B", 1, true}, {"other", 1, true}});
  const HashRing short_name(HashKind::kMd5, Distribution::kKetama, "",
                            {{base.substr(0, 200), 1, true}, {"other", 1, true}});
  bool differs_from_short = false;
  for (const std::string& key : sampleKeys(2000)) {
    ASSERT_EQ(one.serverFor(key), two.serverFor(key));
    differs_from_short |= one.serverFor(key) != short_name.serverFor(key);
  }
  EXPECT_TRUE(differs_from_short);
}

TEST(HashRingTest, RandomPicksLiveServersIgnoringWeights) {
  const HashRing ring(HashKind::kMd5, Distribution::kRandom, "",
                      {{"a", 1, true}, {"b", 100, true}, {"c", 5, false}});
  int on_a = 0;
  for (int i = 0; i < 4000; ++i) {
    const int index = ring.serverFor("same-key");
    ASSERT_TRUE(index == 0 || index == 1) << index;
    on_a += index == 0;
  }
  EXPECT_GT(on_a, 1600);
  EXPECT_LT(on_a, 2400);
}

TEST(HashRingTest, LargestPoolsBuild) {
  std::vector<RingServer> servers;
  for (uint32_t i = 0; i < 4095; ++i) {
    servers.push_back({"10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":6379",
                       1 + (i * 7919) % 10000, true});
  }
  for (Distribution dist : {Distribution::kKetama, Distribution::kModula}) {
    const HashRing ring(HashKind::kMurmur, dist, "", servers);
    EXPECT_EQ(ring.liveCount(), 4095u);
    std::set<int> used;
    for (const std::string& key : sampleKeys(20000)) {
      const int index = ring.serverFor(key);
      ASSERT_GE(index, 0);
      ASSERT_LT(index, 4095);
      used.insert(index);
    }
    EXPECT_GT(used.size(), 3000u);
  }
}

TEST(HashRingTest, ConcurrentReadersAgree) {
  const HashRing ring(HashKind::kMd5, Distribution::kKetama, "{}", named({"a", "b", "c", "d"}));
  const std::vector<std::string> keys = sampleKeys(2000);
  std::vector<int> expected;
  for (const std::string& key : keys) expected.push_back(ring.serverFor(key));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < keys.size(); ++i)
        mismatches[t] += ring.serverFor(keys[i]) != expected[i];
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(std::count(mismatches.begin(), mismatches.end(), 0), 4);
}

}  // namespace
}  // namespace slotwise::router
