#include "router/slot_map.h"

#include <gtest/gtest.h>

namespace slotwise::router {
namespace {

// Two masters (A: 0-99 and 200-16383, B: 100-199), A has one replica.
SlotMapPtr buildSample(uint64_t version) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("10.0.0.1", 7000, "ida");
  const uint16_t r = *b.addReplica(a, "10.0.0.3", 7002, "idr");
  const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
  EXPECT_EQ(r, 1);
  EXPECT_TRUE(b.assignRange(0, 99, a));
  EXPECT_TRUE(b.assignRange(100, 199, bb));
  EXPECT_TRUE(b.assignRange(200, 16383, a));
  return b.build(version);
}

TEST(SlotMapTest, LookupsOnBuiltMap) {
  const SlotMapPtr map = buildSample(7);
  EXPECT_EQ(map->version(), 7u);
  ASSERT_EQ(map->nodes().size(), 3u);
  EXPECT_EQ(map->nodes()[0].address, "10.0.0.1:7000");
  EXPECT_TRUE(map->nodes()[0].is_master);
  EXPECT_EQ(map->nodes()[0].master_index, 0);
  EXPECT_FALSE(map->nodes()[1].is_master);
  EXPECT_EQ(map->nodes()[1].master_index, 0);
  EXPECT_EQ(map->masterIndex(0), 0);
  EXPECT_EQ(map->masterIndex(99), 0);
  EXPECT_EQ(map->masterIndex(100), 2);
  EXPECT_EQ(map->masterIndex(199), 2);
  EXPECT_EQ(map->masterIndex(200), 0);
  EXPECT_EQ(map->masterIndex(16383), 0);
  EXPECT_EQ(map->masterIndex(16384), SlotMap::kNoNode);
  EXPECT_EQ(map->masters(), (std::vector<uint16_t>{0, 2}));
  EXPECT_EQ(map->replicasOf(0), (std::vector<uint16_t>{1}));
  EXPECT_TRUE(map->replicasOf(2).empty());
  EXPECT_TRUE(map->replicasOf(1).empty());
  EXPECT_TRUE(map->replicasOf(999).empty());
  EXPECT_EQ(map->findNode("10.0.0.2:7001"), 2);
  EXPECT_EQ(map->findNode("10.0.0.2:7002"), -1);
  EXPECT_TRUE(map->fullyCovered());
  EXPECT_EQ(map->coveredSlots(), 16384u);
}

TEST(SlotMapTest, RangesMergeContiguousRuns) {
  const SlotMapPtr map = buildSample(1);
  const std::vector<SlotRange> expected = {{0, 99, 0}, {100, 199, 2}, {200, 16383, 0}};
  EXPECT_EQ(map->ranges(), expected);
}

TEST(SlotMapTest, PartialCoverage) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("h", 1);
  ASSERT_TRUE(b.assignRange(10, 19, a));
  ASSERT_TRUE(b.assignRange(20, 29, a));
  const SlotMapPtr map = b.build(1);
  EXPECT_EQ(map->coveredSlots(), 20u);
  EXPECT_FALSE(map->fullyCovered());
  EXPECT_EQ(map->masterIndex(9), SlotMap::kNoNode);
  EXPECT_EQ(map->masterIndex(30), SlotMap::kNoNode);
  EXPECT_EQ(map->ranges(), (std::vector<SlotRange>{{10, 29, 0}}));
}

TEST(SlotMapTest, MasterWithoutSlotsIsNotInMasters) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("h", 1);
  ASSERT_TRUE(b.addMaster("h", 2).isOk());
  ASSERT_TRUE(b.assignRange(0, 16383, a));
  EXPECT_EQ(b.build(1)->masters(), (std::vector<uint16_t>{0}));
}

TEST(SlotMapBuilderTest, DeduplicatesNodesByAddress) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("h", 1, "x");
  EXPECT_EQ(*b.addMaster("h", 1, "x"), a);
  const uint16_t r = *b.addReplica(a, "h", 2);
  EXPECT_EQ(*b.addReplica(a, "h", 2), r);
  EXPECT_EQ(b.build(1)->nodes().size(), 2u);
}

TEST(SlotMapBuilderTest, RejectsBadInput) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("h", 1);
  const uint16_t r = *b.addReplica(a, "h", 2);
  EXPECT_FALSE(b.addMaster("h", 0).isOk());             // port 0
  EXPECT_FALSE(b.addMaster("h", 2).isOk());             // already a replica
  EXPECT_FALSE(b.addReplica(a, "h", 1).isOk());         // already a master
  EXPECT_FALSE(b.addReplica(r, "h", 3).isOk());         // master index is a replica
  EXPECT_FALSE(b.addReplica(77, "h", 3).isOk());        // unknown master
  EXPECT_FALSE(b.assignRange(5, 4, a));                 // start after end
  EXPECT_FALSE(b.assignRange(0, 16384, a));             // out of range
  EXPECT_FALSE(b.assignRange(0, 1, r));                 // not a master
  ASSERT_TRUE(b.assignRange(10, 20, a));
  const Status overlap = b.assignRange(20, 30, a);
  EXPECT_FALSE(overlap);
  EXPECT_NE(overlap.message().find("overlap"), std::string::npos) << overlap.message();
  // The failed assignment left slots 21..30 untouched.
  EXPECT_EQ(b.build(1)->coveredSlots(), 11u);
}

TEST(SlotMapTest, SameTopologyIgnoresVersionAndNodeOrder) {
  const SlotMapPtr one = buildSample(1);
  // Same topology, nodes added in another order.
  SlotMapBuilder b;
  const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
  const uint16_t a = *b.addMaster("10.0.0.1", 7000, "ida");
  ASSERT_TRUE(b.addReplica(a, "10.0.0.3", 7002, "idr").isOk());
  ASSERT_TRUE(b.assignRange(200, 16383, a));
  ASSERT_TRUE(b.assignRange(100, 199, bb));
  ASSERT_TRUE(b.assignRange(0, 99, a));
  const SlotMapPtr two = b.build(99);
  EXPECT_TRUE(one->sameTopology(*two));
  EXPECT_TRUE(two->sameTopology(*one));
}

TEST(SlotMapTest, SameTopologyDetectsChanges) {
  const SlotMapPtr base = buildSample(1);
  {  // one slot moved
    SlotMapBuilder b;
    const uint16_t a = *b.addMaster("10.0.0.1", 7000, "ida");
    ASSERT_TRUE(b.addReplica(a, "10.0.0.3", 7002, "idr").isOk());
    const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
    ASSERT_TRUE(b.assignRange(0, 100, a));
    ASSERT_TRUE(b.assignRange(101, 199, bb));
    ASSERT_TRUE(b.assignRange(200, 16383, a));
    EXPECT_FALSE(base->sameTopology(*b.build(1)));
  }
  {  // replica gone
    SlotMapBuilder b;
    const uint16_t a = *b.addMaster("10.0.0.1", 7000, "ida");
    const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
    ASSERT_TRUE(b.assignRange(0, 99, a));
    ASSERT_TRUE(b.assignRange(100, 199, bb));
    ASSERT_TRUE(b.assignRange(200, 16383, a));
    EXPECT_FALSE(base->sameTopology(*b.build(1)));
  }
  {  // replica now replicates B instead of A
    SlotMapBuilder b;
    const uint16_t a = *b.addMaster("10.0.0.1", 7000, "ida");
    const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
    ASSERT_TRUE(b.addReplica(bb, "10.0.0.3", 7002, "idr").isOk());
    ASSERT_TRUE(b.assignRange(0, 99, a));
    ASSERT_TRUE(b.assignRange(100, 199, bb));
    ASSERT_TRUE(b.assignRange(200, 16383, a));
    EXPECT_FALSE(base->sameTopology(*b.build(1)));
  }
  {  // node id changed (node restarted with a fresh identity)
    SlotMapBuilder b;
    const uint16_t a = *b.addMaster("10.0.0.1", 7000, "NEW");
    ASSERT_TRUE(b.addReplica(a, "10.0.0.3", 7002, "idr").isOk());
    const uint16_t bb = *b.addMaster("10.0.0.2", 7001, "idb");
    ASSERT_TRUE(b.assignRange(0, 99, a));
    ASSERT_TRUE(b.assignRange(100, 199, bb));
    ASSERT_TRUE(b.assignRange(200, 16383, a));
    EXPECT_FALSE(base->sameTopology(*b.build(1)));
  }
}

TEST(SlotMapTest, BuildSnapshotsAreIndependent) {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("h", 1);
  ASSERT_TRUE(b.assignRange(0, 9, a));
  const SlotMapPtr first = b.build(1);
  ASSERT_TRUE(b.assignRange(10, 19, a));
  const SlotMapPtr second = b.build(2);
  EXPECT_EQ(first->coveredSlots(), 10u);
  EXPECT_EQ(second->coveredSlots(), 20u);
}

// Node keys are HostPort::nodeAddress: never bracketed, the spelling of MOVED/ASK.
TEST(SlotMapTest, NodeAddressIsUnbracketedHostColonPort) {
  SlotMapBuilder b;
  const uint16_t v4 = *b.addMaster("127.0.0.1", 6379, "a");
  const uint16_t v6 = *b.addMaster("::1", 1, "b");
  ASSERT_TRUE(b.assignRange(0, 0, v4));
  ASSERT_TRUE(b.assignRange(1, 1, v6));
  const SlotMapPtr map = b.build(1);
  EXPECT_EQ(map->nodes()[v4].address, "127.0.0.1:6379");
  EXPECT_EQ(map->nodes()[v6].address, "::1:1");
  EXPECT_EQ(map->findNode("::1:1"), v6);
  EXPECT_EQ(map->findNode("[::1]:1"), -1);
}

}  // namespace
}  // namespace slotwise::router
