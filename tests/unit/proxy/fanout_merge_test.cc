// mergeFanOut: the one reply a client sees, built from every part's raw reply.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/datapath/fanout.h"
#include "proxy/datapath/fanout_internal.h"
#include "proxy/datapath/topology.h"

namespace slotwise::proxy {
namespace {

using Merge = FanOut::Merge;

// A topology with fixed masters (one routing slot each) and a fingerprint.
class FixedTopology final : public Topology {
 public:
  bool ready() const override { return true; }
  const std::vector<router::NodeInfo>& nodes() const override { return nodes_; }
  int select(const Request&, const NodeAvailability&) const override { return kNoNode; }
  bool slotServed(int32_t) const override { return true; }
  const std::vector<uint16_t>& masterSlots() const override { return master_slots_; }
  uint64_t fingerprint() const override { return fingerprint_; }
  const router::SlotMap* slotMap() const override { return nullptr; }
  const router::KeyPlacement& placement() const override { return placement_; }

  std::vector<router::NodeInfo> nodes_;
  router::KeyPlacement placement_;
  std::vector<uint16_t> master_slots_{0, 5461, 10923};
  uint64_t fingerprint_ = 42;
};

Request parentWith(Merge merge, std::vector<std::string> parts) {
  Request parent;
  parent.fanout = std::make_unique<FanOut>();
  parent.fanout->merge = merge;
  parent.fanout->parts = std::move(parts);
  parent.is_fanout = true;
  return parent;
}

std::string merged(const Request& parent) {
  FixedTopology topology;
  bool drift = true;
  std::string out = mergeFanOut(parent, topology, &drift);
  EXPECT_FALSE(drift);
  return out;
}

TEST(FanOutMergeTest, MgetPutsEveryValueBackInTheClientsKeyOrder) {
  // keys k0 k1 k2 k3: k0 and k2 went to part 0, k1 and k3 to part 1
  Request p = parentWith(Merge::kMget, {"*2\r\n$2\r\nv0\r\n$2\r\nv2\r\n",
                                        "*2\r\n$-1\r\n$2\r\nv3\r\n"});
  p.fanout->key_part = {0, 1, 0, 1};
  p.fanout->key_index = {0, 0, 1, 1};
  EXPECT_EQ(merged(p), "*4\r\n$2\r\nv0\r\n$-1\r\n$2\r\nv2\r\n$2\r\nv3\r\n");
}

TEST(FanOutMergeTest, AnErrorOfAnyPartIsTheReply) {
  Request p = parentWith(Merge::kMget, {"*1\r\n$1\r\na\r\n", "-MOVED 1 127.0.0.1:7000\r\n"});
  p.fanout->key_part = {0, 1};
  p.fanout->key_index = {0, 0};
  EXPECT_EQ(merged(p), "-MOVED 1 127.0.0.1:7000\r\n");
}

TEST(FanOutMergeTest, SumsAndMinimum) {
  EXPECT_EQ(merged(parentWith(Merge::kSum, {":2\r\n", ":0\r\n", ":5\r\n"})), ":7\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kMin, {":9\r\n", ":3\r\n", ":4\r\n"})), ":3\r\n");
}

TEST(FanOutMergeTest, AllOkOnlyWhenEveryPartSaidOk) {
  EXPECT_EQ(merged(parentWith(Merge::kAllOk, {"+OK\r\n", "+OK\r\n"})), "+OK\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kAllOk, {"+OK\r\n", "-ERR oom\r\n"})), "-ERR oom\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kAnyOk, {"-NOTBUSY x\r\n", "+OK\r\n"})), "+OK\r\n");
  // SCRIPT KILL on a master whose script already wrote: its UNKILLABLE, not another's NOTBUSY.
  EXPECT_EQ(merged(parentWith(Merge::kAnyOk, {"-NOTBUSY x\r\n", "-UNKILLABLE y\r\n"})),
            "-UNKILLABLE y\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kAnyOk, {"-NOTBUSY x\r\n", "-NOTBUSY x\r\n"})),
            "-NOTBUSY x\r\n");
}

TEST(FanOutMergeTest, ConcatenatesArraysWithAndWithoutRepeats) {
  EXPECT_EQ(merged(parentWith(Merge::kConcat, {"*1\r\n$1\r\na\r\n", "*0\r\n", "*1\r\n$1\r\na\r\n"})),
            "*2\r\n$1\r\na\r\n$1\r\na\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kConcatUnique, {"*1\r\n$1\r\na\r\n", "*1\r\n$1\r\na\r\n"})),
            "*1\r\n$1\r\na\r\n");
}

TEST(FanOutMergeTest, ScriptLoadMustAgreeAndScriptExistsIsAnded) {
  EXPECT_EQ(merged(parentWith(Merge::kAllEqual, {"$1\r\nx\r\n", "$1\r\nx\r\n"})), "$1\r\nx\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kAllEqual, {"$1\r\nx\r\n", "$1\r\ny\r\n"}))[0], '-');
  EXPECT_EQ(merged(parentWith(Merge::kAndArrays, {"*2\r\n:1\r\n:1\r\n", "*2\r\n:1\r\n:0\r\n"})),
            "*2\r\n:1\r\n:0\r\n");
}

TEST(FanOutMergeTest, NumsubAddsCountsPerChannel) {
  EXPECT_EQ(merged(parentWith(Merge::kSumPairs, {"*2\r\n$1\r\nc\r\n:1\r\n", "*2\r\n$1\r\nc\r\n:2\r\n"})),
            "*2\r\n$1\r\nc\r\n:3\r\n");
}

// Parts: RANDOMKEY of each master, then DBSIZE of each.
TEST(FanOutMergeTest, RandomKeyDrawsAMasterByItsKeyCount) {
  EXPECT_EQ(merged(parentWith(Merge::kRandomKey, {"$-1\r\n", "$1\r\nk\r\n", ":0\r\n", ":5\r\n"})),
            "$1\r\nk\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kRandomKey, {"$-1\r\n", "$-1\r\n", ":0\r\n", ":0\r\n"})),
            "$-1\r\n");
  EXPECT_EQ(merged(parentWith(Merge::kRandomKey, {"_\r\n", "_\r\n", ":0\r\n", ":0\r\n"})), "_\r\n");
  // A master counted but answering nil (its key expired in between) gives way to one with a key.
  EXPECT_EQ(merged(parentWith(Merge::kRandomKey, {"$1\r\na\r\n", "$-1\r\n", ":0\r\n", ":9\r\n"})),
            "$1\r\na\r\n");
  // 1 key against 3: about a quarter of the draws (bounds far outside 1000 draws' spread).
  int first = 0;
  const Request p =
      parentWith(Merge::kRandomKey, {"$1\r\na\r\n", "$1\r\nb\r\n", ":1\r\n", ":3\r\n"});
  for (int i = 0; i < 1000; ++i) first += merged(p) == "$1\r\na\r\n";
  EXPECT_GT(first, 150);
  EXPECT_LT(first, 350);
  EXPECT_EQ(merged(parentWith(Merge::kRandomKey, {"$-1\r\n", "-ERR x\r\n", ":0\r\n", ":1\r\n"})),
            "-ERR x\r\n");
}

TEST(FanOutMergeTest, InfoAppendsTheSummedKeyspaceToTheProxysSections) {
  Request p = parentWith(Merge::kInfo, {"$34\r\n# Keyspace\r\ndb0:keys=2,expires=0\r\n",
                                        "-ERR down\r\n"});
  p.fanout->text = "# Proxy\r\n# Keyspace\r\n";
  const std::string out = merged(p);
  EXPECT_NE(out.find("# Proxy\r\n# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n"),
            std::string::npos)
      << out;
}

TEST(FanOutMergeTest, ScanWhoseNodeSeesAnotherOwnershipRestartsAndReportsDrift) {
  // Part 0: the node's SCAN page; part 1: its CLUSTER NODES text, here with one master owning
  // every slot while the pass began under another ownership.
  Request p = parentWith(Merge::kScan,
                         {"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n",
                          "$66\r\nabc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\r\n"});
  p.fanout->scan_fingerprint = 7;
  p.fanout->scan_slots = {0};
  FixedTopology topology;
  bool drift = false;
  const std::string out = mergeFanOut(p, topology, &drift);
  EXPECT_TRUE(drift);
  EXPECT_NE(out.find("*0\r\n"), std::string::npos) << out;  // an empty page: the pass restarts
}

// Scan-ahead (no CLUSTER NODES parts: a ring's servers): the pages of the masters in pass order.
Request scanOf(std::vector<std::string> pages) {
  Request p = parentWith(Merge::kScan, std::move(pages));
  p.fanout->scan_fingerprint = 7;
  p.fanout->scan_slots = {0, 5461, 10923};
  return p;
}

TEST(FanOutMergeTest, ScanAheadReturnsASmallKeyspaceInOneCallWithCursorZero) {
  Request p = scanOf({"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n", "*2\r\n$1\r\n0\r\n*0\r\n",
                      "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\nc\r\n"});
  EXPECT_EQ(merged(p), "*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
}

TEST(FanOutMergeTest, ScanAheadStopsAtTheFirstNodeWithMorePagesAndDropsTheRest) {
  Request p = scanOf({"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n", "*2\r\n$2\r\n17\r\n*1\r\n$1\r\nb\r\n",
                      "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nc\r\n"});
  const std::string cursor = std::to_string(fanout_detail::encodeCursor(17, false, 7, 5461));
  EXPECT_EQ(merged(p), "*2\r\n$" + std::to_string(cursor.size()) + "\r\n" + cursor +
                           "\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
}

TEST(FanOutMergeTest, ScanAheadLeavesALaterNodesErrorForTheCallThatReachesIt) {
  Request later = scanOf({"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n", "-LOADING busy\r\n",
                          "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nc\r\n"});
  const std::string cursor = std::to_string(fanout_detail::encodeCursor(0, false, 7, 5461));
  EXPECT_EQ(merged(later),
            "*2\r\n$" + std::to_string(cursor.size()) + "\r\n" + cursor + "\r\n*1\r\n$1\r\na\r\n");
  Request first =
      scanOf({"-LOADING busy\r\n", "*2\r\n$1\r\n0\r\n*0\r\n", "*2\r\n$1\r\n0\r\n*0\r\n"});
  EXPECT_EQ(merged(first), "-LOADING busy\r\n");
}

}  // namespace
}  // namespace slotwise::proxy
