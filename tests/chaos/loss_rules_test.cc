// The chaos test's verdicts on observed values: which are fine, which are lost writes (and whether
// Redis's asynchronous replication explains them) and which are duplicates. No network.
#include <gtest/gtest.h>

#include "tests/chaos/chaos_workload.h"

namespace slotwise::test {
namespace {

using Millis = std::chrono::milliseconds;
using Kind = WriteCheck::Kind;

class LossRulesTest : public ::testing::Test {
 protected:
  const ChaosClock::time_point t0 = ChaosClock::now();
  KillRecord kill{Millis(1000), Millis(2000)};

  void killSlot(uint16_t slot, ChaosClock::time_point at) {
    std::bitset<kClusterSlots> slots;
    slots.set(slot);
    kill.publish(slots, at);
  }
};

TEST_F(LossRulesTest, IncrementsInSequenceAreAccepted) {
  CounterState s;
  for (int64_t v = 1; v <= 3; ++v) {
    EXPECT_EQ(checkIncrReply(s, v, 7, t0, kill).kind, Kind::kOk);
  }
  EXPECT_EQ(s.acked, 3);
}

TEST_F(LossRulesTest, UnacknowledgedIncrementsWidenTheAcceptedRange) {
  CounterState s{5, 2, t0};
  EXPECT_EQ(checkIncrReply(s, 8, 7, t0, kill).kind, Kind::kOk);
  CounterState t{5, 2, t0};
  const WriteCheck dup = checkIncrReply(t, 9, 7, t0, kill);
  EXPECT_EQ(dup.kind, Kind::kDuplicated);
  EXPECT_EQ(dup.count, 1);
}

TEST_F(LossRulesTest, BackwardsWithoutAKillIsAProxyLoss) {
  CounterState s{10, 0, t0};
  const WriteCheck c = checkIncrReply(s, 8, 7, t0 + Millis(5), kill);
  EXPECT_EQ(c.kind, Kind::kLostProxy);
  EXPECT_EQ(c.count, 3);  // acknowledged 8, 9 and 10 are gone
  EXPECT_EQ(s.acked, 8);  // the observed value is the new baseline
}

TEST_F(LossRulesTest, BackwardsOnTheKilledMastersSlotJustBeforeTheKillIsReplication) {
  killSlot(7, t0 + Millis(100));
  CounterState s{10, 0, t0};
  EXPECT_EQ(checkIncrReply(s, 10, 7, t0 + Millis(3000), kill).kind, Kind::kLostReplication);
}

TEST_F(LossRulesTest, OtherSlotsOrOldAcknowledgementsStayProxyLosses) {
  killSlot(7, t0 + Millis(5000));
  CounterState other_slot{10, 0, t0 + Millis(4900)};
  EXPECT_EQ(checkIncrReply(other_slot, 9, 8, t0 + Millis(9000), kill).kind, Kind::kLostProxy);
  CounterState long_before{10, 0, t0};  // acked 5 s before the kill: had been replicated
  EXPECT_EQ(checkIncrReply(long_before, 9, 7, t0 + Millis(9000), kill).kind, Kind::kLostProxy);
  CounterState after_promotion{10, 0, t0 + Millis(6500)};  // acked by the new master
  EXPECT_EQ(checkIncrReply(after_promotion, 9, 7, t0 + Millis(9000), kill).kind,
            Kind::kLostProxy);
}

TEST_F(LossRulesTest, CounterReadsAcceptPendingIncrements) {
  CounterState s{4, 1, t0};
  EXPECT_EQ(checkCounterRead(s, 5, 7, t0, kill).kind, Kind::kOk);
  CounterState missing{4, 0, t0};
  const WriteCheck c = checkCounterRead(missing, std::nullopt, 7, t0, kill);
  EXPECT_EQ(c.kind, Kind::kLostProxy);
  EXPECT_EQ(c.count, 4);
}

TEST_F(LossRulesTest, MgetAcceptsAckedOrPendingValuesOnly) {
  MsetKeyState s{std::string("0:1"), {"0:2"}, t0};
  EXPECT_EQ(checkMgetValue(s, std::string("0:1"), 7, t0, kill).kind, Kind::kOk);
  EXPECT_EQ(checkMgetValue(s, std::string("0:2"), 7, t0, kill).kind, Kind::kOk);
  EXPECT_EQ(checkMgetValue(s, std::nullopt, 7, t0, kill).kind, Kind::kLostProxy);
  EXPECT_EQ(s.acked, std::nullopt);  // reported once, then the baseline
  EXPECT_EQ(checkMgetValue(s, std::nullopt, 7, t0, kill).kind, Kind::kOk);
}

TEST(ErrorWindowTest, JoinsFailuresCloserThanTheGapAcrossClients) {
  const auto t = ChaosClock::now();
  auto at = [t](int ms) { return t + Millis(ms); };
  std::vector<ErrorSpan> none;
  EXPECT_EQ(longestErrorWindowMs(none, Millis(500)), 0);
  // A shard failing fast every 400 ms for 2 s (two clients, unsorted), then one late failure.
  std::vector<ErrorSpan> spans = {{at(800), at(801)}, {at(0), at(1)},     {at(400), at(401)},
                                  {at(1200), at(1201)}, {at(2000), at(2001)}, {at(1600), at(1601)},
                                  {at(5000), at(5300)}};
  EXPECT_EQ(longestErrorWindowMs(spans, Millis(500)), 2001);
  EXPECT_EQ(longestErrorWindowMs(spans, Millis(100)), 300);
  // One request that waited 5 s for its error is a 5 s window on its own.
  std::vector<ErrorSpan> slow = {{at(0), at(5000)}, {at(100), at(200)}};
  EXPECT_EQ(longestErrorWindowMs(slow, Millis(500)), 5000);
}

TEST(SlotKeysTest, EverySlotHasAKeyHashingToIt) {
  const SlotKeys keys;
  for (int s = 0; s < kClusterSlots; ++s) {
    ASSERT_EQ(RedisClusterHarness::keySlot(keys.keyForSlot(static_cast<uint16_t>(s))), s);
  }
}

}  // namespace
}  // namespace slotwise::test
