#include "proxy/stats/space_saving.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "proxy/stats/key_watch.h"

namespace slotwise::proxy {
namespace {

TEST(SpaceSavingTest, CountsExactlyWhileThereIsRoom) {
  SpaceSaving s(8, 128);
  for (int i = 0; i < 5; ++i) s.add("a");
  for (int i = 0; i < 3; ++i) s.add("b");
  s.add("c");
  auto top = s.top(10);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].key, "a");
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[0].error, 0u);
  EXPECT_EQ(top[1].key, "b");
  EXPECT_EQ(top[2].key, "c");
  EXPECT_EQ(s.total(), 9u);
  EXPECT_EQ(s.top(1).size(), 1u);
}

// A skewed stream over far more keys than counters: the frequent keys are found in order, every
// count is an upper bound and count - error a lower bound of the true count.
TEST(SpaceSavingTest, FindsHeavyHittersWithBoundedError) {
  SpaceSaving s(64, 128);
  std::map<std::string, uint64_t> truth;
  std::mt19937 rng(42);
  for (int i = 0; i < 100000; ++i) {
    const int r = static_cast<int>(rng() % 100);
    std::string key = r < 30   ? "hot"
                      : r < 45 ? "warm"
                      : r < 50 ? "tepid"
                               : "cold:" + std::to_string(rng() % 5000);
    ++truth[key];
    s.add(key);
  }
  EXPECT_EQ(s.total(), 100000u);
  EXPECT_EQ(s.size(), 64u);
  auto top = s.top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].key, "hot");
  EXPECT_EQ(top[1].key, "warm");
  EXPECT_EQ(top[2].key, "tepid");
  for (const auto& e : s.top(64)) {
    EXPECT_GE(e.count, truth[e.key]) << e.key;
    EXPECT_LE(e.count - e.error, truth[e.key]) << e.key;
  }
  s.clear();
  EXPECT_EQ(s.total(), 0u);
  EXPECT_TRUE(s.top(5).empty());
  s.add("again");
  EXPECT_EQ(s.top(5)[0].key, "again");
}

// Many evictions through a small table: every counted key stays findable (the open-addressing
// deletion keeps probe runs intact), so repeating a counted key never creates a second counter.
TEST(SpaceSavingTest, EvictionKeepsTheTableConsistent) {
  SpaceSaving s(16, 128);
  for (int round = 0; round < 2000; ++round) {
    s.add("k" + std::to_string(round % 97));
    s.add("k" + std::to_string((round * 7) % 31));
    auto top = s.top(16);
    std::map<std::string, int> seen;
    for (const auto& e : top) EXPECT_EQ(++seen[e.key], 1) << e.key << " twice at round " << round;
  }
}

TEST(SpaceSavingTest, LongKeysAreCut) {
  SpaceSaving s(4, 16);
  s.add(std::string(100, 'x'));
  s.add(std::string(50, 'x'));
  auto top = s.top(4);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].key, std::string(16, 'x'));
  EXPECT_EQ(top[0].count, 2u);
}

TEST(KeyWatchBookTest, MergesSecondsOfEveryWorker) {
  config::ObserveConfig c;
  c.hot_key_capacity = 16;
  c.hot_key_sample = 1;
  KeyWatchBook book(c);
  KeyWatchShard& a = book.addShard();
  KeyWatchShard& b = book.addShard();
  a.tick(100);
  b.tick(100);
  for (int i = 0; i < 10; ++i) a.countKey("x");
  for (int i = 0; i < 5; ++i) b.countKey("x");
  for (int i = 0; i < 7; ++i) b.countKey("y");
  a.tick(101);
  b.tick(101);
  HotKeyReport r = book.hot(10, 5);
  EXPECT_EQ(r.total, 22u);
  EXPECT_EQ(r.window_s, 1);
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_EQ(r.keys[0].key, "x");
  EXPECT_EQ(r.keys[0].count, 15u);
  EXPECT_EQ(r.keys[1].key, "y");
  // A second that is outside the window is left out.
  for (int i = 0; i < 3; ++i) a.countKey("z");
  a.tick(105);
  EXPECT_EQ(book.hot(1, 5).keys.size(), 1u);
  EXPECT_EQ(book.hot(1, 5).keys[0].key, "z");
}

// One key in 8 is counted and the counts are scaled back: a key at half the traffic still reads
// as about half.
TEST(KeyWatchBookTest, SampledCountsAreScaledBack) {
  config::ObserveConfig c;
  c.hot_key_sample = 8;
  KeyWatchBook book(c);
  KeyWatchShard& a = book.addShard();
  a.tick(100);
  for (int i = 0; i < 80000; ++i) a.countKey(i % 2 == 0 ? "hot" : "k" + std::to_string(i % 1000));
  a.tick(101);
  HotKeyReport r = book.hot(10, 1);
  ASSERT_EQ(r.keys.size(), 1u);
  EXPECT_EQ(r.keys[0].key, "hot");
  EXPECT_NEAR(static_cast<double>(r.total), 80000, 80000 * 0.05);
  EXPECT_NEAR(static_cast<double>(r.keys[0].count), 40000, 40000 * 0.06);
}

TEST(KeyWatchBookTest, BigKeysKeepTheLargestPerKey) {
  config::ObserveConfig c;
  c.big_keys = 2;
  KeyWatchBook book(c);
  KeyWatchShard& a = book.addShard();
  a.recordBig("k1", "set", false, 100);
  a.recordBig("k1", "set", false, 300);
  a.recordBig("k2", "get", true, 200);
  a.recordBig("k3", "set", false, 50);  // smaller than both kept: dropped
  auto big = book.big(10);
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0].key, "k1");
  EXPECT_EQ(big[0].bytes, 300u);
  EXPECT_EQ(big[1].key, "k2");
  EXPECT_EQ(big[1].direction, "reply");
}

TEST(KeyWatchBookTest, RedactsKeyNames) {
  config::ObserveConfig c;
  c.redact_keys = true;
  KeyWatchBook book(c);
  EXPECT_EQ(book.shown("foo").rfind("sha256:", 0), 0u);
  EXPECT_EQ(book.shown("foo").size(), 7u + 16u);
  EXPECT_EQ(book.shown("foo"), book.shown("foo"));
  EXPECT_NE(book.shown("foo"), book.shown("bar"));
}

}  // namespace
}  // namespace slotwise::proxy
