#include "router/topology_refresher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "router/clock.h"
#include "tests/support/fake_node_query.h"
#include "tests/unit/router/cluster_slots_fixtures.h"

namespace slotwise::router {
namespace {

using resp::RespValue;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeNodeQuery;
using test::threeMasterReply;

const std::string kSeed1 = "10.0.0.1:6379";
const std::string kSeed2 = "10.0.0.2:6379";
const std::string kM0 = "127.0.0.1:7000";
const std::string kM1 = "127.0.0.1:7001";
const std::string kM2 = "127.0.0.1:7002";
const std::string kR0 = "127.0.0.1:7003";  // replica of kM0 in threeMasterReply(7000, 1)

RefreshPolicy::Options testOptions() {
  RefreshPolicy::Options o;
  o.interval = seconds(10);
  o.min_interval = seconds(1);
  o.redirect_threshold = 1;
  o.failure_threshold = 2;
  return o;
}

// threeMasterReply(7000, 1) after kM0 died and its replica kR0 took over its slots.
RespValue failedOverReply() {
  return test::clusterSlotsReply({
      {0, 5460, {"127.0.0.1", 7003, "replica7003"}, {}},
      {5461, 10922, {"127.0.0.1", 7001, "master1"}, {{"127.0.0.1", 7004, "replica7004"}}},
      {10923, 16383, {"127.0.0.1", 7002, "master2"}, {{"127.0.0.1", 7005, "replica7005"}}},
  });
}

class TopologyRefresherTest : public ::testing::Test {
 protected:
  TopologyRefresherTest() { makeRefresher(testOptions()); }

  void makeRefresher(RefreshPolicy::Options opts) {
    refresher_ = std::make_unique<TopologyRefresher>(
        fake_, clock_, opts, std::vector<std::string>{kSeed1, kSeed2},
        [this](SlotMapPtr map) { published_.push_back(std::move(map)); });
  }

  // Makes every node of threeMasterReply(7000, 1), and both seeds, answer with `reply`.
  void everyoneAnswers(const RespValue& reply) {
    for (int port = 7000; port <= 7005; ++port) {
      fake_.setSticky("127.0.0.1:" + std::to_string(port), reply);
    }
    fake_.setSticky(kSeed1, reply);
    fake_.setSticky(kSeed2, reply);
  }

  // Runs the initial refresh against a healthy 3+3 cluster and forgets its calls.
  void bootstrap() {
    everyoneAnswers(threeMasterReply(7000, 1));
    refresher_->tick();
    ASSERT_EQ(published_.size(), 1u);
    fake_.clearCalls();
  }

  // Ticks every 50 ms for `duration`.
  void tickFor(milliseconds duration) {
    for (milliseconds t{0}; t < duration; t += milliseconds(50)) {
      refresher_->tick();
      clock_.advance(milliseconds(50));
    }
  }

  FakeNodeQuery fake_;
  ManualClock clock_;
  std::vector<SlotMapPtr> published_;
  std::unique_ptr<TopologyRefresher> refresher_;
};

TEST_F(TopologyRefresherTest, NothingBeforeFirstTick) {
  EXPECT_EQ(refresher_->current(), nullptr);
  EXPECT_TRUE(fake_.calls().empty());
  EXPECT_FALSE(refresher_->refreshInFlight());
}

TEST_F(TopologyRefresherTest, FirstRefreshFromSecondSeedWhenFirstErrors) {
  fake_.pushError(kSeed1, "connection refused");
  fake_.pushReply(kSeed2, threeMasterReply(7000));
  refresher_->tick();
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kSeed1, kSeed2}));
  EXPECT_EQ(fake_.calls()[1].args, (std::vector<std::string>{"CLUSTER", "SLOTS"}));
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(published_[0]->version(), 1u);
  EXPECT_EQ(refresher_->current(), published_[0]);
  EXPECT_TRUE(published_[0]->fullyCovered());
  EXPECT_EQ(refresher_->stats().ok, 1u);
  EXPECT_EQ(refresher_->stats().failed, 0u);
  EXPECT_EQ(refresher_->stats().queries, 2u);
  EXPECT_NE(refresher_->lastError().find(kSeed1), std::string::npos);
  EXPECT_FALSE(refresher_->refreshInFlight());
}

// A configured IPv6 seed is spelled "[::1]:7000" (HostPort::toString); a node that reports an
// empty ip in CLUSTER SLOTS is reached at the seed's host, without the brackets.
TEST_F(TopologyRefresherTest, EmptyNodeIpTakesTheBracketedSeedsHost) {
  const std::string seed = "[::1]:7000";
  refresher_ = std::make_unique<TopologyRefresher>(
      fake_, clock_, testOptions(), std::vector<std::string>{seed},
      [this](SlotMapPtr map) { published_.push_back(std::move(map)); });
  fake_.pushReply(seed, test::clusterSlotsReply({{0, 16383, {"", 7000, "m"}, {}}}));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u) << refresher_->lastError();
  ASSERT_EQ(published_[0]->nodes().size(), 1u);
  EXPECT_EQ(published_[0]->nodes()[0].host, "::1");
  EXPECT_EQ(published_[0]->nodes()[0].address, "::1:7000");
}

TEST_F(TopologyRefresherTest, InvalidReplyMovesToNextCandidate) {
  fake_.pushReply(kSeed1, RespValue::error("ERR This instance has cluster support disabled"));
  fake_.pushReply(kSeed2, threeMasterReply(7000));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_NE(refresher_->lastError().find("cluster support disabled"), std::string::npos);
}

TEST_F(TopologyRefresherTest, AllCandidatesFailingIsAFailedRefreshRetriedAfterMinInterval) {
  refresher_->tick();  // nothing scripted: both seeds refuse
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_EQ(refresher_->current(), nullptr);
  EXPECT_TRUE(published_.empty());
  fake_.setSticky(kSeed2, threeMasterReply(7000));
  clock_.advance(milliseconds(999));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().queries, 2u);  // too early to retry
  clock_.advance(milliseconds(1));
  refresher_->tick();
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->stats().queries, 4u);
}

TEST_F(TopologyRefresherTest, PeriodicRefreshAsksKnownNodesMastersFirst) {
  bootstrap();
  tickFor(seconds(9));
  EXPECT_TRUE(fake_.calls().empty());
  clock_.advance(seconds(1));
  refresher_->tick();
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kM0}));
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

TEST_F(TopologyRefresherTest, CandidateOrderMastersReplicasThenSeeds) {
  bootstrap();
  // Every known node now refuses; only the last seed answers.
  for (int port = 7000; port <= 7005; ++port) {
    fake_.clearSticky("127.0.0.1:" + std::to_string(port));
  }
  fake_.clearSticky(kSeed1);
  refresher_->requestRefresh();
  clock_.advance(seconds(1));
  refresher_->tick();
  const std::vector<std::string> expected = {kM0, kM1, kM2, kR0, "127.0.0.1:7004",
                                             "127.0.0.1:7005", kSeed1, kSeed2};
  EXPECT_EQ(fake_.calledAddresses(), expected);
  EXPECT_EQ(refresher_->stats().ok, 2u);
  EXPECT_EQ(refresher_->stats().failed, 0u);
}

TEST_F(TopologyRefresherTest, NoPublishWhenUnchanged) {
  bootstrap();
  const SlotMapPtr first = refresher_->current();
  refresher_->requestRefresh();
  clock_.advance(seconds(1));
  refresher_->tick();
  EXPECT_EQ(fake_.calls().size(), 1u);
  EXPECT_EQ(refresher_->stats().ok, 2u);
  EXPECT_EQ(refresher_->stats().published, 1u);
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->current(), first);
}

TEST_F(TopologyRefresherTest, PublishOnChangeWithNextVersion) {
  bootstrap();
  // Slot 100 moves to master1.
  const RespValue moved = test::clusterSlotsReply({
      {0, 99, {"127.0.0.1", 7000, "master0"}, {{"127.0.0.1", 7003, "replica7003"}}},
      {100, 100, {"127.0.0.1", 7001, "master1"}, {{"127.0.0.1", 7004, "replica7004"}}},
      {101, 5460, {"127.0.0.1", 7000, "master0"}, {{"127.0.0.1", 7003, "replica7003"}}},
      {5461, 10922, {"127.0.0.1", 7001, "master1"}, {{"127.0.0.1", 7004, "replica7004"}}},
      {10923, 16383, {"127.0.0.1", 7002, "master2"}, {{"127.0.0.1", 7005, "replica7005"}}},
  });
  fake_.pushReply(kM0, moved);
  refresher_->reportRedirect();
  clock_.advance(seconds(1));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(published_[1]->version(), 2u);
  const SlotMap& map = *refresher_->current();
  EXPECT_EQ(map.nodes()[map.masterIndex(100)].address, kM1);
  EXPECT_EQ(map.nodes()[map.masterIndex(101)].address, kM0);
}

TEST_F(TopologyRefresherTest, MinIntervalRespectedUnderRedirectStorm) {
  bootstrap();
  // 3 s of ticks, each preceded by 200 MOVED reports.
  for (int tick = 0; tick < 60; ++tick) {
    for (int i = 0; i < 200; ++i) refresher_->reportRedirect();
    refresher_->tick();
    clock_.advance(milliseconds(50));
  }
  // Bootstrap was at t = 0 and the last tick is at 2.95 s: refreshes start at 1 s and 2 s.
  EXPECT_EQ(fake_.calls().size(), 2u);
  EXPECT_EQ(refresher_->stats().ok, 3u);
}

TEST_F(TopologyRefresherTest, SingleFlightWithDeferredReplies) {
  fake_.setDeferred(true);
  fake_.pushError(kSeed1, "timeout");
  fake_.pushReply(kSeed2, threeMasterReply(7000));
  refresher_->tick();
  EXPECT_TRUE(refresher_->refreshInFlight());
  EXPECT_EQ(fake_.pendingCount(), 1u);
  // Time passes and triggers pile up, but no second query starts.
  clock_.advance(seconds(30));
  refresher_->requestRefresh();
  refresher_->reportRedirect();
  refresher_->reportFailure(kSeed1);
  refresher_->tick();
  EXPECT_EQ(fake_.calls().size(), 1u);
  ASSERT_TRUE(fake_.completeNext());  // seed1 times out -> seed2 is asked
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kSeed1, kSeed2}));
  EXPECT_TRUE(refresher_->refreshInFlight());
  ASSERT_TRUE(fake_.completeNext());
  EXPECT_FALSE(refresher_->refreshInFlight());
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(fake_.pendingCount(), 0u);
}

TEST_F(TopologyRefresherTest, FailoverOldMasterUnreachableReplicaPromoted) {
  bootstrap();
  // kM0 dies: workers report it, the other nodes already know the replica took over.
  everyoneAnswers(failedOverReply());
  fake_.clearSticky(kM0);
  clock_.advance(seconds(1));
  refresher_->reportFailure(kM0);
  refresher_->tick();
  EXPECT_TRUE(fake_.calls().empty());  // one failure is below the threshold of 2
  refresher_->reportFailure(kM0);
  refresher_->tick();
  // The dead master is skipped; the next master answers.
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kM1}));
  ASSERT_EQ(published_.size(), 2u);
  const SlotMap& map = *published_[1];
  EXPECT_EQ(map.version(), 2u);
  EXPECT_EQ(map.nodes()[map.masterIndex(0)].address, kR0);
  EXPECT_TRUE(map.nodes()[map.masterIndex(0)].is_master);
  EXPECT_EQ(map.findNode(kM0), -1);
}

TEST_F(TopologyRefresherTest, FailedNodeIsSkippedOnlyForAWhile) {
  bootstrap();
  fake_.clearSticky(kM0);
  clock_.advance(seconds(1));
  refresher_->requestRefresh();
  refresher_->tick();  // kM0 refuses, kM1 answers
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kM0, kM1}));
  fake_.clearCalls();
  clock_.advance(seconds(1));
  refresher_->requestRefresh();
  refresher_->tick();
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kM1}));
  fake_.clearCalls();
  fake_.setSticky(kM0, threeMasterReply(7000, 1));
  clock_.advance(seconds(10));  // the failed-node window (one interval) has passed
  refresher_->tick();
  EXPECT_EQ(fake_.calledAddresses(), (std::vector<std::string>{kM0}));
}

TEST_F(TopologyRefresherTest, PublishCallbackMayReenter) {
  RefreshPolicy::Options opts = testOptions();
  opts.min_interval = milliseconds(0);
  int reentries = 0;
  refresher_ = std::make_unique<TopologyRefresher>(
      fake_, clock_, opts, std::vector<std::string>{kSeed1},
      [&](SlotMapPtr map) {
        published_.push_back(map);
        if (reentries++ > 0) return;
        EXPECT_EQ(refresher_->current(), map);
        EXPECT_FALSE(refresher_->refreshInFlight());
        refresher_->requestRefresh();
        refresher_->tick();  // nested refresh: seed answers with a changed map
      });
  fake_.pushReply(kSeed1, threeMasterReply(7000));
  fake_.pushReply(kM0, threeMasterReply(7000, 1));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(published_[1]->version(), 2u);
  EXPECT_EQ(refresher_->stats().ok, 2u);
  EXPECT_EQ(refresher_->stats().queries, 2u);
  EXPECT_FALSE(refresher_->refreshInFlight());
}

TEST_F(TopologyRefresherTest, NestedFailedRefreshFromPublishIsCountedOnce) {
  RefreshPolicy::Options opts = testOptions();
  opts.min_interval = milliseconds(0);
  bool nested = false;
  refresher_ = std::make_unique<TopologyRefresher>(
      fake_, clock_, opts, std::vector<std::string>{kSeed1}, [&](SlotMapPtr map) {
        published_.push_back(map);
        if (nested) return;
        nested = true;
        refresher_->requestRefresh();
        refresher_->tick();  // every candidate refuses: the nested refresh fails
      });
  fake_.pushReply(kSeed1, threeMasterReply(7000));
  refresher_->tick();
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->stats().ok, 1u);
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_EQ(refresher_->stats().queries, 5u);  // seed1, then 3 masters and seed1 again
  EXPECT_FALSE(refresher_->refreshInFlight());
}

TEST_F(TopologyRefresherTest, ReplyAfterDestructionIsIgnored) {
  fake_.setDeferred(true);
  fake_.pushReply(kSeed1, threeMasterReply(7000));
  refresher_->tick();
  refresher_.reset();
  EXPECT_TRUE(fake_.completeNext());
  EXPECT_TRUE(published_.empty());
}

}  // namespace
}  // namespace slotwise::router
