#include "router/slot_map_builder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/unit/router/cluster_slots_fixtures.h"

#if __has_include("resp/value_decoder.h")
#include "resp/value_decoder.h"
#define SLOTWISE_HAVE_VALUE_DECODER 1
#endif

namespace slotwise::router {
namespace {

using resp::RespValue;
using test::clusterSlotsReply;
using test::SlotsRange;

// Expects `reply` to be rejected with a message containing `fragment`.
void expectRejected(const RespValue& reply, const std::string& fragment) {
  const Result<SlotMapPtr> map = buildFromClusterSlots(reply, "10.9.9.9", 1);
  ASSERT_FALSE(map.isOk()) << "expected an error containing '" << fragment << "'";
  EXPECT_NE(map.error().find(fragment), std::string::npos) << map.error();
}

TEST(BuildFromClusterSlotsTest, ThreeMastersWithReplicas) {
  const Result<SlotMapPtr> map = buildFromClusterSlots(test::threeMasterReply(7000, 1), "x", 5);
  ASSERT_TRUE(map.isOk()) << map.error();
  const SlotMap& m = **map;
  EXPECT_EQ(m.version(), 5u);
  EXPECT_TRUE(m.fullyCovered());
  ASSERT_EQ(m.nodes().size(), 6u);
  ASSERT_EQ(m.masters().size(), 3u);
  const NodeInfo& first = m.nodes()[m.masterIndex(0)];
  EXPECT_EQ(first.address, "127.0.0.1:7000");
  EXPECT_EQ(first.id, "master0");
  EXPECT_EQ(m.nodes()[m.masterIndex(5461)].address, "127.0.0.1:7001");
  EXPECT_EQ(m.nodes()[m.masterIndex(16383)].address, "127.0.0.1:7002");
  const auto& replicas = m.replicasOf(m.masterIndex(5461));
  ASSERT_EQ(replicas.size(), 1u);
  EXPECT_EQ(m.nodes()[replicas[0]].address, "127.0.0.1:7004");
  EXPECT_EQ(m.nodes()[replicas[0]].id, "replica7004");
  EXPECT_FALSE(m.nodes()[replicas[0]].is_master);
}

TEST(BuildFromClusterSlotsTest, MasterInSeveralRangesIsOneNode) {
  const RespValue reply = clusterSlotsReply({
      {0, 99, {"10.0.0.1", 7000, "a"}, {{"10.0.0.4", 7003, "ra"}}},
      {100, 100, {"10.0.0.2", 7001, "b"}, {}},
      {101, 16383, {"10.0.0.1", 7000, "a"}, {{"10.0.0.4", 7003, "ra"}}},
  });
  const Result<SlotMapPtr> map = buildFromClusterSlots(reply, "x", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  EXPECT_EQ((*map)->nodes().size(), 3u);
  EXPECT_EQ((*map)->masters().size(), 2u);
  EXPECT_EQ((*map)->masterIndex(0), (*map)->masterIndex(101));
  EXPECT_EQ((*map)->ranges().size(), 3u);
}

TEST(BuildFromClusterSlotsTest, UnknownHostBecomesQueriedHost) {
  const RespValue reply = clusterSlotsReply({
      {0, 5000, {"", 7000, "a"}, {{"?", 7003, "ra"}}},
      {5001, 16383, {"10.0.0.2", 7001, "b"}, {}},
  });
  const Result<SlotMapPtr> map = buildFromClusterSlots(reply, "10.9.9.9", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  EXPECT_GE((*map)->findNode("10.9.9.9:7000"), 0);
  EXPECT_GE((*map)->findNode("10.9.9.9:7003"), 0);
  EXPECT_GE((*map)->findNode("10.0.0.2:7001"), 0);
}

TEST(BuildFromClusterSlotsTest, NullHostAndOldFormatsWithoutIdOrMetadata) {
  RespValue reply = RespValue::array({RespValue::array({
      RespValue::integerValue(0), RespValue::integerValue(16383),
      RespValue::array({RespValue::null(), RespValue::integerValue(7000)}),  // Redis 3.0 style
  })});
  const Result<SlotMapPtr> map = buildFromClusterSlots(reply, "h", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  EXPECT_EQ((*map)->nodes()[0].address, "h:7000");
  EXPECT_EQ((*map)->nodes()[0].id, "");
}

TEST(BuildFromClusterSlotsTest, PartialCoverageIsAllowed) {
  const RespValue reply = clusterSlotsReply({{0, 8000, {"10.0.0.1", 7000, "a"}, {}}});
  const Result<SlotMapPtr> map = buildFromClusterSlots(reply, "x", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  EXPECT_EQ((*map)->coveredSlots(), 8001u);
  EXPECT_FALSE((*map)->fullyCovered());
}

TEST(BuildFromClusterSlotsTest, RejectsWholeReplyProblems) {
  expectRejected(RespValue::error("ERR This instance has cluster support disabled"),
                 "cluster support disabled");
  expectRejected(RespValue::bulk("nope"), "not an array");
  expectRejected(RespValue::null(), "not an array");
  expectRejected(RespValue::array({}), "no slot ranges");
}

TEST(BuildFromClusterSlotsTest, RejectsRangeProblems) {
  expectRejected(clusterSlotsReply({{5, 4, {"h", 1, "a"}, {}}}), "after end");
  expectRejected(clusterSlotsReply({{0, 16384, {"h", 1, "a"}, {}}}), "outside 0..16383");
  expectRejected(clusterSlotsReply({{-1, 10, {"h", 1, "a"}, {}}}), "outside 0..16383");
  expectRejected(clusterSlotsReply({{0, 100, {"h", 1, "a"}, {}}, {100, 200, {"h", 2, "b"}, {}}}),
                 "overlaps");
  expectRejected(clusterSlotsReply({{0, 100, {"h", 1, "a"}, {}}, {50, 60, {"h", 1, "a"}, {}}}),
                 "overlaps");
}

TEST(BuildFromClusterSlotsTest, RejectsNodeProblems) {
  expectRejected(clusterSlotsReply({{0, 10, {"h", 0, "a"}, {}}}), "port 0");
  expectRejected(clusterSlotsReply({{0, 10, {"h", 65536, "a"}, {}}}), "port 65536");
  expectRejected(clusterSlotsReply({{0, 10, {"h", -5, "a"}, {}}}), "port -5");
  expectRejected(clusterSlotsReply({{0, 10, {"h", 1, "a"}, {{"h", 70000, "r"}}}}), "port 70000");
  // The same address as master of one range and replica in another.
  expectRejected(clusterSlotsReply({{0, 10, {"h", 1, "a"}, {{"h", 2, "r"}}},
                                    {11, 20, {"h", 2, "r"}, {}}}),
                 "conflicting roles");
}

TEST(BuildFromClusterSlotsTest, RejectsWrongElementTypes) {
  const auto i = [](int64_t v) { return RespValue::integerValue(v); };
  const auto s = [](std::string v) { return RespValue::bulk(std::move(v)); };
  const auto a = [](std::vector<RespValue> v) { return RespValue::array(std::move(v)); };
  const RespValue good_node = a({s("h"), i(1), s("id")});
  expectRejected(a({s("0 16383")}), "range #0: not an array");
  expectRejected(a({a({i(0), i(16383)})}), "range #0: not an array");
  expectRejected(a({a({s("0"), i(16383), good_node})}), "start is not an integer");
  expectRejected(a({a({i(0), s("16383"), good_node})}), "end is not an integer");
  expectRejected(a({a({i(0), i(16383), s("h:1")})}), "node is not an array");
  expectRejected(a({a({i(0), i(16383), a({s("h")})})}), "node is not an array");
  expectRejected(a({a({i(0), i(16383), a({i(1), i(1)})})}), "ip is not a string");
  expectRejected(a({a({i(0), i(16383), a({s("h"), s("1")})})}), "port is not an integer");
  expectRejected(a({a({i(0), i(16383), a({s("h"), i(1), i(3)})})}), "id is not a string");
  expectRejected(a({a({i(0), i(10), good_node}), a({i(11), i(20), good_node, i(5)})}),
                 "range #1: node is not an array");
}

// ---- Replies captured from a live redis-server 7.0.15 cluster (tests/testdata). ----

#ifdef SLOTWISE_HAVE_VALUE_DECODER
RespValue loadReply(const std::string& name) {
  std::ifstream in(std::string(SLOTWISE_SOURCE_DIR) + "/tests/testdata/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream text;
  text << in.rdbuf();
  Result<RespValue> value = resp::decodeOne(text.str());
  EXPECT_TRUE(value.isOk()) << name << ": " << (value.isOk() ? "" : value.error());
  return value.isOk() ? std::move(value).value() : RespValue::null();
}
#define SLOTWISE_REQUIRE_DECODER()
#else
RespValue loadReply(const std::string&) { return RespValue::null(); }
#define SLOTWISE_REQUIRE_DECODER() GTEST_SKIP() << "resp/value_decoder.h is not available yet"
#endif

TEST(CapturedClusterSlotsTest, ThreeMasters) {
  SLOTWISE_REQUIRE_DECODER();
  const Result<SlotMapPtr> map =
      buildFromClusterSlots(loadReply("cluster_slots_3masters.resp"), "127.0.0.1", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  const SlotMap& m = **map;
  EXPECT_TRUE(m.fullyCovered());
  EXPECT_EQ(m.nodes().size(), 3u);
  const std::vector<SlotRange> expected = {{0, 5460, 0}, {5461, 10922, 1}, {10923, 16383, 2}};
  EXPECT_EQ(m.ranges(), expected);
  EXPECT_EQ(m.nodes()[0].address, "127.0.0.1:27101");
  EXPECT_EQ(m.nodes()[0].id, "0ce74c9176382371ba9e5bab566a80c7b357a366");
}

TEST(CapturedClusterSlotsTest, ThreeMastersThreeReplicas) {
  SLOTWISE_REQUIRE_DECODER();
  const Result<SlotMapPtr> map =
      buildFromClusterSlots(loadReply("cluster_slots_3plus3.resp"), "127.0.0.1", 1);
  ASSERT_TRUE(map.isOk()) << map.error();
  const SlotMap& m = **map;
  EXPECT_TRUE(m.fullyCovered());
  EXPECT_EQ(m.nodes().size(), 6u);
  EXPECT_EQ(m.masters().size(), 3u);
  for (uint16_t master : m.masters()) EXPECT_EQ(m.replicasOf(master).size(), 1u);
  const int replica = m.findNode("127.0.0.1:27104");
  ASSERT_GE(replica, 0);
  EXPECT_EQ(m.nodes()[m.nodes()[replica].master_index].address, "127.0.0.1:27101");
}

TEST(CapturedClusterSlotsTest, SplitRangesAndFailover) {
  SLOTWISE_REQUIRE_DECODER();
  const Result<SlotMapPtr> split =
      buildFromClusterSlots(loadReply("cluster_slots_3plus3_split.resp"), "127.0.0.1", 1);
  ASSERT_TRUE(split.isOk()) << split.error();
  EXPECT_TRUE((*split)->fullyCovered());
  EXPECT_EQ((*split)->nodes()[(*split)->masterIndex(100)].address, "127.0.0.1:27102");
  EXPECT_EQ((*split)->nodes()[(*split)->masterIndex(99)].address, "127.0.0.1:27101");

  // 27101 was killed and its replica 27104 promoted; the dead node is no longer listed.
  const Result<SlotMapPtr> after =
      buildFromClusterSlots(loadReply("cluster_slots_after_failover.resp"), "127.0.0.1", 2);
  ASSERT_TRUE(after.isOk()) << after.error();
  EXPECT_TRUE((*after)->fullyCovered());
  EXPECT_EQ((*after)->nodes()[(*after)->masterIndex(99)].address, "127.0.0.1:27104");
  EXPECT_EQ((*after)->findNode("127.0.0.1:27101"), -1);
  EXPECT_FALSE((*split)->sameTopology(**after));
}

TEST(CapturedClusterSlotsTest, FreshNodeAndNonClusterNodeAreErrors) {
  SLOTWISE_REQUIRE_DECODER();
  const Result<SlotMapPtr> fresh =
      buildFromClusterSlots(loadReply("cluster_slots_fresh_node.resp"), "127.0.0.1", 1);
  ASSERT_FALSE(fresh.isOk());
  EXPECT_NE(fresh.error().find("no slot ranges"), std::string::npos) << fresh.error();
  const Result<SlotMapPtr> plain =
      buildFromClusterSlots(loadReply("cluster_slots_not_cluster.resp"), "127.0.0.1", 1);
  ASSERT_FALSE(plain.isOk());
  EXPECT_NE(plain.error().find("cluster support disabled"), std::string::npos) << plain.error();
}

TEST(CapturedClusterSlotsTest, MalformedVariantsOfACapturedReply) {
  SLOTWISE_REQUIRE_DECODER();
  const std::pair<const char*, const char*> kCases[] = {
      {"cluster_slots_bad_port.resp", "port 70000"},
      {"cluster_slots_overlap.resp", "overlaps"},
      {"cluster_slots_out_of_range.resp", "outside 0..16383"},
      {"cluster_slots_wrong_types.resp", "start is not an integer"},
  };
  for (const auto& [file, fragment] : kCases) {
    SCOPED_TRACE(file);
    expectRejected(loadReply(file), fragment);
  }
}

}  // namespace
}  // namespace slotwise::router
