#include "proxy/stats/traffic_history.h"

#include <gtest/gtest.h>

#include "proxy/admin/admin_json.h"

namespace slotwise::proxy {
namespace {

prometheus::MetricFamily counter(const std::string& name, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.type = prometheus::MetricType::Counter;
  prometheus::ClientMetric m;
  m.counter.value = value;
  f.metric.push_back(m);
  return f;
}

// Latency histogram with bounds 1 ms, 10 ms, +Inf and the given cumulative counts.
prometheus::MetricFamily latency(uint64_t le1ms, uint64_t le10ms, uint64_t all) {
  prometheus::MetricFamily f;
  f.name = "slotwise_request_duration_seconds";
  f.type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric m;
  m.histogram.sample_count = all;
  m.histogram.bucket = {
      {le1ms, 0.001}, {le10ms, 0.01}, {all, std::numeric_limits<double>::infinity()}};
  f.metric.push_back(m);
  return f;
}

TEST(TrafficHistoryTest, KeepsRatesAndIntervalP99) {
  TrafficHistory h;
  h.sample({counter("slotwise_requests_total", 100), latency(100, 100, 100)}, 10'000);
  EXPECT_TRUE(h.points().empty());  // the first call only records the totals
  // 2 s later: 1000 more requests, 10 errors, 4 redirects; of the new requests 980 under 1 ms
  // and 20 between 1 and 10 ms, so the interval's p99 (rank 990) lies in the second bucket.
  h.sample({counter("slotwise_requests_total", 1100), counter("slotwise_request_errors_total", 10),
            counter("slotwise_redirects_total", 4), latency(1080, 1100, 1100)},
           12'000);
  auto points = h.points();
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].unix_ms, 12'000);
  EXPECT_DOUBLE_EQ(points[0].ops, 500);
  EXPECT_DOUBLE_EQ(points[0].errors, 5);
  EXPECT_DOUBLE_EQ(points[0].redirects, 2);
  EXPECT_NEAR(points[0].p99_ms, 1 + 9 * 10.0 / 20, 1e-9);
  // An idle interval: zero rates, no p99.
  h.sample({counter("slotwise_requests_total", 1100), latency(1080, 1100, 1100)}, 14'000);
  points = h.points();
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[1].ops, 0);
  EXPECT_LT(points[1].p99_ms, 0);
  EXPECT_EQ(renderHistoryJson(points, 2000),
            R"({"interval_ms":2000,"points":[{"t":12000,"ops":500.0,"errors":5.0,"redirects":2.0,)"
            R"("p99_ms":5.5},{"t":14000,"ops":0.0,"errors":0.0,"redirects":0.0,"p99_ms":null}]})");
}

TEST(TrafficHistoryTest, KeepsFifteenMinutes) {
  TrafficHistory h;
  for (int i = 0; i <= 1000; ++i)
    h.sample({counter("slotwise_requests_total", i)}, 1000 + i * 2000);
  auto points = h.points();
  ASSERT_EQ(points.size(), TrafficHistory::kPoints);
  EXPECT_EQ(points.back().unix_ms, 1000 + 1000 * 2000);
  EXPECT_DOUBLE_EQ(points.back().ops, 0.5);
}

// Per-node latency buckets (1 ms, +Inf) of slotwise_backend_request_duration_seconds{node}.
prometheus::MetricFamily nodeLatency(const std::string& node, uint64_t le1ms, uint64_t all) {
  prometheus::MetricFamily f;
  f.name = "slotwise_backend_request_duration_seconds";
  f.type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric m;
  m.label.push_back({"node", node});
  m.histogram.sample_count = all;
  m.histogram.bucket = {{le1ms, 0.001}, {all, std::numeric_limits<double>::infinity()}};
  f.metric.push_back(m);
  return f;
}

TEST(TrafficHistoryTest, NodeLatencyCoversTheLastMinuteOnly) {
  TrafficHistory h;
  EXPECT_EQ(h.nodeRecent("n1", {5, 7}), (std::vector<uint64_t>{5, 7}));  // no sample: since start
  // A slow start (100 requests over 1 ms in the first 2 s), then 100 fast ones every 2 s.
  h.sample({nodeLatency("n1", 0, 0)}, 0);
  h.sample({nodeLatency("n1", 0, 100)}, 2'000);
  uint64_t fast = 0;
  for (int64_t t = 4'000; t <= 62'000; t += 2'000) {
    fast += 100;
    h.sample({nodeLatency("n1", fast, fast + 100)}, t);
    if (t == 60'000) {  // the window (0 s, 60 s] still holds the slow start
      EXPECT_EQ(h.nodeRecent("n1", {fast, fast + 100}), (std::vector<uint64_t>{fast, fast + 100}));
    }
  }
  // At 62 s the baseline is the sample of 2 s: the slow start has left the window.
  const std::vector<uint64_t> recent = h.nodeRecent("n1", {fast, fast + 100});
  EXPECT_EQ(recent, (std::vector<uint64_t>{fast, fast}));
  EXPECT_LT(bucketQuantileMs({0.001, std::numeric_limits<double>::infinity()}, recent, 0.99), 1);
  EXPECT_EQ(h.nodeRecent("other", {4, 4}), (std::vector<uint64_t>{4, 4}));  // a node not seen yet
}

}  // namespace
}  // namespace slotwise::proxy
