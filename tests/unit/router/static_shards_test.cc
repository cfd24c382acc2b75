#include "router/static_shards.h"

#include <gtest/gtest.h>

#include <vector>

#include "router/shard_map.h"

namespace slotwise::router {
namespace {

using namespace std::chrono_literals;

std::vector<StaticShards::Server> threeServers() {
  return {{"127.0.0.1:7001", "s1", 1}, {"127.0.0.1:7002", "s2", 1}, {"127.0.0.1:7003", "s3", 2}};
}

class StaticShardsTest : public ::testing::Test {
 protected:
  StaticShards make(bool auto_eject) {
    StaticShards::Options opts;
    opts.auto_eject = auto_eject;
    opts.failure_limit = 2;
    opts.retry_timeout = 1s;
    return StaticShards(clock_, opts, threeServers(), [this](SlotMapPtr m) { maps_.push_back(m); });
  }
  // Index of the server `key` is placed on by the latest map.
  int serverOf(std::string_view key) const {
    const SlotMap& map = *maps_.back();
    const uint16_t slot = map.placement().slotOf(key);
    const uint16_t owner = map.masterIndex(slot);
    return owner == SlotMap::kNoNode ? -1 : map.nodes()[owner].port - 7001;
  }

  ManualClock clock_;
  std::vector<SlotMapPtr> maps_;
};

TEST_F(StaticShardsTest, FirstTickPublishesServerISlotI) {
  StaticShards shards = make(false);
  EXPECT_EQ(shards.current(), nullptr);
  shards.tick();
  ASSERT_EQ(maps_.size(), 1u);
  const SlotMap& map = *maps_[0];
  EXPECT_EQ(map.coveredSlots(), 3u);
  EXPECT_TRUE(map.complete());
  for (uint16_t slot = 0; slot < 3; ++slot) {
    EXPECT_EQ(map.nodes()[map.masterIndex(slot)].port, 7001 + slot);
  }
  EXPECT_EQ(map.masterIndex(3), SlotMap::kNoNode);
  ASSERT_NE(map.placement().ring(), nullptr);
  shards.tick();
  EXPECT_EQ(maps_.size(), 1u) << "nothing changed: nothing published";
}

TEST_F(StaticShardsTest, WithoutAutoEjectFailuresChangeNothing) {
  StaticShards shards = make(false);
  shards.tick();
  for (int i = 0; i < 10; ++i) shards.reportFailure("127.0.0.1:7002");
  shards.tick();
  EXPECT_EQ(maps_.size(), 1u);
  EXPECT_FALSE(shards.ejected(1));
}

TEST_F(StaticShardsTest, EjectsAtTheFailureLimitAndTakesBackAfterTheRetryTimeout) {
  StaticShards shards = make(true);
  shards.tick();
  std::vector<std::string> on_s2;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (serverOf(key) == 1) on_s2.push_back(key);
  }
  ASSERT_FALSE(on_s2.empty());
  shards.reportFailure("127.0.0.1:7002");
  shards.reportReachable("127.0.0.1:7002");  // a success in between: the count starts again
  shards.reportFailure("127.0.0.1:7002");
  shards.tick();
  EXPECT_EQ(maps_.size(), 1u);
  shards.reportFailure("127.0.0.1:7002");
  shards.tick();
  ASSERT_EQ(maps_.size(), 2u);
  EXPECT_TRUE(shards.ejected(1));
  EXPECT_EQ(maps_[1]->nodes().size(), 3u) << "the ejected server stays in the map";
  for (const std::string& key : on_s2) EXPECT_NE(serverOf(key), 1) << key;
  clock_.advance(999ms);
  shards.tick();
  EXPECT_EQ(maps_.size(), 2u);
  clock_.advance(1ms);
  shards.tick();
  ASSERT_EQ(maps_.size(), 3u);
  EXPECT_FALSE(shards.ejected(1));
  for (const std::string& key : on_s2) EXPECT_EQ(serverOf(key), 1) << key;
}

TEST_F(StaticShardsTest, EveryServerEjectedLeavesKeysUnplaced) {
  StaticShards shards = make(true);
  shards.tick();
  for (const char* a : {"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}) {
    shards.reportFailure(a);
    shards.reportFailure(a);
  }
  shards.tick();
  EXPECT_EQ(serverOf("anything"), -1);
  EXPECT_EQ(maps_.back()->placement().slotOf("anything"), KeyPlacement::kUnplaced);
}

TEST(ShardMapTest, GroupsWithReplicasAndAnUnknownMaster) {
  auto ring =
      std::make_shared<const HashRing>(HashKind::kFnv1a_64, Distribution::kKetama, "",
                                       std::vector<RingServer>{{"g1", 1, true}, {"g2", 1, true}});
  Result<SlotMapPtr> map = buildShardMap(
      {{"127.0.0.1:7001", {"127.0.0.1:7101", "127.0.0.1:7102"}}, {"", {}}}, KeyPlacement(ring), 7);
  ASSERT_TRUE(map) << map.error();
  const SlotMap& m = **map;
  EXPECT_EQ(m.version(), 7u);
  EXPECT_EQ(m.coveredSlots(), 1u);
  EXPECT_FALSE(m.complete());
  EXPECT_EQ(m.replicasOf(m.masterIndex(0)).size(), 2u);
  EXPECT_EQ(m.masterIndex(1), SlotMap::kNoNode);
  EXPECT_FALSE(
      buildShardMap({{"127.0.0.1:7001", {}}, {"127.0.0.1:7001", {}}}, KeyPlacement(ring), 1));
  EXPECT_FALSE(buildShardMap({{"nonsense", {}}}, KeyPlacement(ring), 1));
}

TEST(KeyPlacementTest, ClusterPlacementIsCrc16AndSingleServerRingIsAlwaysZero) {
  KeyPlacement cluster;
  EXPECT_EQ(cluster.slotOf("foo"), keyHashSlot("foo"));
  EXPECT_EQ(cluster.slotCount(), 16384u);
  KeyPlacement one(std::make_shared<const HashRing>(HashKind::kMurmur, Distribution::kKetama, "",
                                                    std::vector<RingServer>{{"only", 1, true}}));
  for (const char* key : {"a", "b", "{x}y", ""}) EXPECT_EQ(one.slotOf(key), 0) << key;
  EXPECT_EQ(one.slotCount(), 1u);
}

}  // namespace
}  // namespace slotwise::router
