#include "router/refresh_policy.h"

#include <gtest/gtest.h>

#include "router/clock.h"

namespace slotwise::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Reason = RefreshPolicy::Reason;

RefreshPolicy::Options testOptions() {
  RefreshPolicy::Options o;
  o.interval = seconds(10);
  o.min_interval = seconds(1);
  o.redirect_threshold = 3;
  o.failure_threshold = 2;
  return o;
}

class RefreshPolicyTest : public ::testing::Test {
 protected:
  // Runs one refresh that ends immediately with `success`.
  void runRefresh(bool success) {
    ASSERT_TRUE(policy_.shouldStart(clock_.now()));
    policy_.onStarted(clock_.now());
    policy_.onFinished(clock_.now(), success);
  }
  Reason due() const { return policy_.due(clock_.now()); }

  ManualClock clock_;
  RefreshPolicy policy_{testOptions()};
};

TEST_F(RefreshPolicyTest, InitialRefreshIsDueAtOnce) {
  EXPECT_EQ(due(), Reason::kInitial);
}

TEST_F(RefreshPolicyTest, PeriodicAfterIntervalSinceLastSuccess) {
  runRefresh(true);
  clock_.advance(seconds(9) + milliseconds(999));
  EXPECT_EQ(due(), Reason::kNone);
  clock_.advance(milliseconds(1));
  EXPECT_EQ(due(), Reason::kPeriodic);
}

TEST_F(RefreshPolicyTest, PeriodicMeasuredFromSuccessNotStart) {
  policy_.onStarted(clock_.now());
  clock_.advance(seconds(4));  // a slow refresh
  policy_.onFinished(clock_.now(), true);
  clock_.advance(seconds(9));
  EXPECT_EQ(due(), Reason::kNone);
  clock_.advance(seconds(1));
  EXPECT_EQ(due(), Reason::kPeriodic);
}

TEST_F(RefreshPolicyTest, RedirectThresholdTriggers) {
  runRefresh(true);
  clock_.advance(seconds(2));
  policy_.onRedirect();
  policy_.onRedirect();
  EXPECT_EQ(due(), Reason::kNone);
  policy_.onRedirect();
  EXPECT_EQ(due(), Reason::kRedirects);
}

TEST_F(RefreshPolicyTest, FailureThresholdTriggers) {
  runRefresh(true);
  clock_.advance(seconds(2));
  policy_.onFailure();
  EXPECT_EQ(due(), Reason::kNone);
  policy_.onFailure();
  EXPECT_EQ(due(), Reason::kFailures);
}

TEST_F(RefreshPolicyTest, MinIntervalHoldsBackARedirectStorm) {
  runRefresh(true);
  int starts = 0;
  // 5 s of redirects, 100 per 10 ms tick.
  for (int tick = 0; tick < 500; ++tick) {
    for (int i = 0; i < 100; ++i) policy_.onRedirect();
    if (policy_.shouldStart(clock_.now())) {
      ++starts;
      policy_.onStarted(clock_.now());
      policy_.onFinished(clock_.now(), true);
    }
    clock_.advance(milliseconds(10));
  }
  // Starts at t = 1 s, 2 s, 3 s, 4 s (the initial refresh was at t = 0).
  EXPECT_EQ(starts, 4);
}

TEST_F(RefreshPolicyTest, SingleFlight) {
  policy_.onStarted(clock_.now());
  EXPECT_TRUE(policy_.inFlight());
  clock_.advance(seconds(60));
  for (int i = 0; i < 10; ++i) policy_.onRedirect();
  policy_.requestRefresh();
  EXPECT_EQ(due(), Reason::kNone);
  policy_.onFinished(clock_.now(), true);
  EXPECT_FALSE(policy_.inFlight());
  EXPECT_EQ(due(), Reason::kRequested);  // events during the flight still count
}

TEST_F(RefreshPolicyTest, TriggersResetWhenARefreshStarts) {
  runRefresh(true);
  clock_.advance(seconds(2));
  policy_.requestRefresh();
  for (int i = 0; i < 5; ++i) policy_.onRedirect();
  runRefresh(true);
  clock_.advance(seconds(2));
  EXPECT_EQ(due(), Reason::kNone);
}

TEST_F(RefreshPolicyTest, RetryAfterFailureWaitsMinIntervalFromTheFailure) {
  policy_.onStarted(clock_.now());
  clock_.advance(seconds(3));  // slower than min_interval, e.g. timeouts
  policy_.onFinished(clock_.now(), false);
  EXPECT_EQ(due(), Reason::kNone);
  clock_.advance(milliseconds(999));
  EXPECT_EQ(due(), Reason::kNone);
  clock_.advance(milliseconds(1));
  EXPECT_EQ(due(), Reason::kInitial);  // never succeeded yet
  runRefresh(true);
  clock_.advance(seconds(1));
  EXPECT_EQ(due(), Reason::kNone);
  policy_.onStarted(clock_.now());
  policy_.onFinished(clock_.now(), false);
  clock_.advance(seconds(1));
  EXPECT_EQ(due(), Reason::kRetry);
}

TEST_F(RefreshPolicyTest, RequestedRefreshStillRespectsMinInterval) {
  runRefresh(true);
  policy_.requestRefresh();
  EXPECT_EQ(due(), Reason::kNone);
  clock_.advance(seconds(1));
  EXPECT_EQ(due(), Reason::kRequested);
}

TEST(RefreshPolicyOptionsTest, ZeroDisablesTriggers) {
  RefreshPolicy::Options o;
  o.interval = milliseconds(0);
  o.min_interval = milliseconds(0);
  o.redirect_threshold = 0;
  o.failure_threshold = 0;
  RefreshPolicy policy(o);
  ManualClock clock;
  policy.onStarted(clock.now());
  policy.onFinished(clock.now(), true);
  clock.advance(std::chrono::hours(24));
  for (int i = 0; i < 1000; ++i) {
    policy.onRedirect();
    policy.onFailure();
  }
  EXPECT_EQ(policy.due(clock.now()), Reason::kNone);
  policy.requestRefresh();
  EXPECT_EQ(policy.due(clock.now()), Reason::kRequested);
}

TEST(SteadyClockTest, Monotonic) {
  SteadyClock clock;
  const auto a = clock.now();
  EXPECT_LE(a, clock.now());
}

}  // namespace
}  // namespace slotwise::router
