#include "proxy/stats/metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <optional>
#include <sstream>
#include <thread>

namespace slotwise::proxy::metrics {
namespace {

// Value of the sample whose name+labels is exactly `series` (e.g. `x_total{a="b"}`).
std::optional<double> sampleValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

template <typename T>
T must(Result<T> r) {
  EXPECT_TRUE(r.isOk()) << (r.isOk() ? "" : r.error());
  return std::move(r).value();
}

TEST(MetricsRegistry, RendersExactTextForSmallRegistry) {
  Registry registry;
  auto requests = must(registry.addCounter("slotwise_requests", "Requests by command and result.",
                                           {"command", "result"}));
  auto clients = must(registry.addGauge("slotwise_client_connections", "Open client connections."));
  auto latency =
      must(registry.addHistogram("slotwise_request_duration_seconds", "Client-observed latency.",
                                 {"command"}, {0.001, 0.01, 0.1}));
  Shard& shard = registry.addShard("worker-0");
  shard.counter(requests, {"get", "ok"}).inc(3);
  shard.counter(requests, {"del", "error"}).inc();
  shard.gauge(clients).set(7);
  Histogram get_latency = shard.histogram(latency, {"get"});
  get_latency.observe(0.0005);
  get_latency.observe(0.01);  // on the bound: le="0.01"
  get_latency.observe(2.5);   // above every bound: only +Inf

  const std::string expected =
      "# HELP slotwise_client_connections Open client connections.\n"
      "# TYPE slotwise_client_connections gauge\n"
      "slotwise_client_connections 7\n"
      "# HELP slotwise_request_duration_seconds Client-observed latency.\n"
      "# TYPE slotwise_request_duration_seconds histogram\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.001\"} 1\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.01\"} 2\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.1\"} 2\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 3\n"
      "slotwise_request_duration_seconds_sum{command=\"get\"} 2.5105\n"
      "slotwise_request_duration_seconds_count{command=\"get\"} 3\n"
      "# HELP slotwise_requests_total Requests by command and result.\n"
      "# TYPE slotwise_requests_total counter\n"
      "slotwise_requests_total{command=\"del\",result=\"error\"} 1\n"
      "slotwise_requests_total{command=\"get\",result=\"ok\"} 3\n";
  EXPECT_EQ(registry.renderPrometheus(), expected);
}

TEST(MetricsRegistry, UnlabelledFamiliesRenderZeroAndLabelledOnesOnlyHeaders) {
  Registry registry;
  must(registry.addCounter("a_total", "A."));
  must(registry.addHistogram("b_seconds", "B.", {}, {1.0}));
  must(registry.addGauge("c", "C.", {"node"}));
  registry.addShard("w");
  const std::string expected =
      "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
      "# HELP b_seconds B.\n# TYPE b_seconds histogram\n"
      "b_seconds_bucket{le=\"1\"} 0\nb_seconds_bucket{le=\"+Inf\"} 0\n"
      "b_seconds_sum 0\nb_seconds_count 0\n"
      "# HELP c C.\n# TYPE c gauge\n";
  EXPECT_EQ(registry.renderPrometheus(), expected);
}

TEST(MetricsRegistry, MergesShards) {
  Registry registry;
  auto hits = must(registry.addCounter("hits_total", "Hits.", {"node"}));
  auto conns = must(registry.addGauge("conns", "Connections.", {}, GaugeMerge::kSum));
  auto lag = must(registry.addGauge("lag_seconds", "Loop lag.", {}, GaugeMerge::kMax));
  auto lat = must(registry.addHistogram("lat_seconds", "Latency.", {}, {0.5, 1.0}));
  Shard& a = registry.addShard("worker-0");
  Shard& b = registry.addShard("worker-1");
  Shard& c = registry.addShard("control");
  a.counter(hits, {"n1"}).inc(5);
  b.counter(hits, {"n1"}).inc(7);
  b.counter(hits, {"n2"}).inc(1);
  a.gauge(conns).set(3);
  b.gauge(conns).set(4);
  a.gauge(lag).set(0.25);
  b.gauge(lag).set(0.75);
  c.gauge(lag).set(0.5);
  a.histogram(lat).observe(0.25);
  b.histogram(lat).observe(0.75);
  c.histogram(lat).observe(0.25);

  const std::string text = registry.renderPrometheus();
  EXPECT_EQ(sampleValue(text, "hits_total{node=\"n1\"}"), 12);
  EXPECT_EQ(sampleValue(text, "hits_total{node=\"n2\"}"), 1);
  EXPECT_EQ(sampleValue(text, "conns"), 7 + 0);  // control shard never touched conns
  EXPECT_EQ(sampleValue(text, "lag_seconds"), 0.75);
  EXPECT_EQ(sampleValue(text, "lat_seconds_bucket{le=\"0.5\"}"), 2);
  EXPECT_EQ(sampleValue(text, "lat_seconds_bucket{le=\"1\"}"), 3);
  EXPECT_EQ(sampleValue(text, "lat_seconds_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(sampleValue(text, "lat_seconds_sum"), 1.25);
  EXPECT_EQ(sampleValue(text, "lat_seconds_count"), 3);
}

TEST(MetricsRegistry, ResolvingTheSameChildTwiceSharesTheSlot) {
  Registry registry;
  auto fam = must(registry.addCounter("x", "X.", {"k"}));
  Shard& shard = registry.addShard("w");
  Counter first = shard.counter(fam, {"v"});
  first.inc(2);
  shard.counter(fam, {"v"}).inc(3);
  EXPECT_EQ(first.value(), 5u);
  EXPECT_EQ(shard.counter(fam, {"other"}).value(), 0u);
}

TEST(MetricsRegistry, GaugeAddSubAndNanObservationIgnored) {
  Registry registry;
  auto g = must(registry.addGauge("g", "G."));
  auto h = must(registry.addHistogram("h_seconds", "H.", {}, {1.0}));
  Shard& shard = registry.addShard("w");
  Gauge gauge = shard.gauge(g);
  gauge.inc();
  gauge.inc();
  gauge.dec();
  gauge.add(0.5);
  Histogram hist = shard.histogram(h);
  hist.observe(std::nan(""));
  hist.observe(std::chrono::milliseconds(1500));
  const std::string text = registry.renderPrometheus();
  EXPECT_EQ(sampleValue(text, "g"), 1.5);
  EXPECT_EQ(sampleValue(text, "h_seconds_count"), 1);
  EXPECT_EQ(sampleValue(text, "h_seconds_sum"), 1.5);
  EXPECT_EQ(hist.count(), 1u);
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  Registry registry;
  auto fam = must(registry.addCounter("esc_total", "Line one\nback\\slash \"quoted\".", {"v"}));
  registry.addShard("w").counter(fam, {"a\"b\\c\nd"}).inc();
  const std::string text = registry.renderPrometheus();
  EXPECT_NE(text.find("# HELP esc_total Line one\\nback\\\\slash \"quoted\".\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, RejectsInvalidRegistrations) {
  Registry registry;
  EXPECT_FALSE(registry.addCounter("9bad", "h").isOk());
  EXPECT_FALSE(registry.addCounter("bad-name", "h").isOk());
  EXPECT_FALSE(registry.addGauge("ok", "h", {"__reserved"}).isOk());
  EXPECT_FALSE(registry.addGauge("ok2", "h", {"a:b"}).isOk());
  EXPECT_FALSE(registry.addGauge("ok3", "h", {"a", "a"}).isOk());
  EXPECT_FALSE(registry.addHistogram("h1", "h", {"le"}, {1.0}).isOk());
  EXPECT_FALSE(registry.addHistogram("h2", "h", {}, {}).isOk());
  EXPECT_FALSE(registry.addHistogram("h3", "h", {}, {1.0, 1.0}).isOk());
  EXPECT_FALSE(registry.addHistogram("h4", "h", {}, {1.0, INFINITY}).isOk());
  EXPECT_FALSE(
      registry
          .addCallback("cb", "h", MetricType::kHistogram, {}, [] { return std::vector<Sample>{}; })
          .isOk());
  EXPECT_TRUE(registry.addCounter("dup", "h").isOk());
  EXPECT_FALSE(registry.addCounter("dup_total", "h").isOk());  // same rendered name
  EXPECT_TRUE(registry.addGauge("ns:name_ok", "h", {"_x1"}).isOk());
  EXPECT_EQ(registry.renderPrometheus().find("9bad"), std::string::npos);
}

TEST(MetricsRegistryDeathTest, LabelCountMismatchAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  auto fam = must(registry.addCounter("x", "X.", {"a", "b"}));
  Shard& shard = registry.addShard("w");
  EXPECT_DEATH(shard.counter(fam, {"only-one"}), "has 2 labels");
  EXPECT_DEATH(shard.counter(CounterFamily{}, {}), "unbound");
}

TEST(MetricsRegistry, CallbacksAreEvaluatedAtScrapeTime) {
  Registry registry;
  std::atomic<int> version{1};
  ASSERT_TRUE(registry.addCallbackGauge("slot_map_version", "Version.",
                                        [&] { return static_cast<double>(version.load()); }));
  ASSERT_TRUE(registry.addCallback("by_node", "Per node.", MetricType::kGauge, {"node"}, [] {
    return std::vector<Sample>{{{"b"}, 2}, {{"a"}, 1}, {{"x", "too-many"}, 9}};
  }));
  ASSERT_TRUE(registry.addCallbackCounter("refreshes", "Refreshes.", [] { return 4.0; }));
  std::string text = registry.renderPrometheus();
  EXPECT_EQ(sampleValue(text, "slot_map_version"), 1);
  EXPECT_LT(text.find("by_node{node=\"a\"} 1"), text.find("by_node{node=\"b\"} 2"));
  EXPECT_EQ(text.find("too-many"), std::string::npos);
  EXPECT_NE(text.find("# TYPE refreshes_total counter\nrefreshes_total 4\n"), std::string::npos);
  version = 42;
  EXPECT_EQ(sampleValue(registry.renderPrometheus(), "slot_map_version"), 42);
}

// Two writer threads, each on its own shard, increment while the main thread keeps scraping.
// Every scrape must see values that only grow and never exceed the final total; after the
// writers join, the totals must be exact (no lost single-writer updates).
TEST(MetricsRegistry, ConcurrentIncrementsWhileRendering) {
  Registry registry;
  auto ops = must(registry.addCounter("ops_total", "Ops.", {"command"}));
  auto lat = must(registry.addHistogram("op_seconds", "Latency.", {}, {0.001, 1.0}));
  constexpr uint64_t kPerThread = 200000;
  std::atomic<int> done{0};
  auto writer = [&](Shard* shard) {
    Counter c = shard->counter(ops, {"get"});
    Histogram h = shard->histogram(lat);
    for (uint64_t i = 0; i < kPerThread; ++i) {
      c.inc();
      if (i % 4 == 0) h.observe(0.0005);
    }
    done.fetch_add(1);
  };
  std::thread t1(writer, &registry.addShard("worker-0"));
  std::thread t2(writer, &registry.addShard("worker-1"));
  double last = 0;
  int scrapes = 0;
  while (done.load() < 2 || scrapes < 3) {
    std::string text = registry.renderPrometheus();
    double now = sampleValue(text, "ops_total{command=\"get\"}").value_or(0);
    EXPECT_GE(now, last);
    EXPECT_LE(now, 2.0 * kPerThread);
    EXPECT_EQ(sampleValue(text, "op_seconds_count"),
              sampleValue(text, "op_seconds_bucket{le=\"+Inf\"}"));
    last = now;
    ++scrapes;
  }
  t1.join();
  t2.join();
  const std::string text = registry.renderPrometheus();
  EXPECT_EQ(sampleValue(text, "ops_total{command=\"get\"}"), 2.0 * kPerThread);
  EXPECT_EQ(sampleValue(text, "op_seconds_count"), 2.0 * (kPerThread / 4));
  EXPECT_NEAR(sampleValue(text, "op_seconds_sum").value(), 0.0005 * 2 * (kPerThread / 4), 1e-6);
}

TEST(MetricsRegistry, ProcessMetricsReadProc) {
  Registry registry;
  ASSERT_TRUE(addProcessMetrics(registry));
  EXPECT_FALSE(addProcessMetrics(registry));  // names already taken
  std::string text = registry.renderPrometheus();
  EXPECT_GE(sampleValue(text, "process_cpu_seconds_total").value_or(-1), 0);
  EXPECT_GT(sampleValue(text, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(sampleValue(text, "process_virtual_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(sampleValue(text, "process_max_fds").value_or(0), 0);
  const double now = static_cast<double>(std::time(nullptr));
  const double start = sampleValue(text, "process_start_time_seconds").value_or(0);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);  // the test binary started recently

  const double fds = sampleValue(text, "process_open_fds").value_or(0);
  ASSERT_GT(fds, 0);
  int extra = open("/dev/null", O_RDONLY);
  ASSERT_GE(extra, 0);
  EXPECT_EQ(sampleValue(registry.renderPrometheus(), "process_open_fds"), fds + 1);
  close(extra);
}

TEST(MetricsBuckets, ExponentialAndLatencyBounds) {
  EXPECT_EQ(exponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  std::vector<double> lat = latencyBucketsSeconds();
  ASSERT_EQ(lat.size(), 18u);
  EXPECT_DOUBLE_EQ(lat.front(), 50e-6);
  EXPECT_GT(lat.back(), 5.0);
  EXPECT_TRUE(std::is_sorted(lat.begin(), lat.end()));
}

}  // namespace
}  // namespace slotwise::proxy::metrics
