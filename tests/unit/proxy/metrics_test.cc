// The metrics module: per-thread shards exported through ShardedCollector (a
// prometheus::Collectable), the merge of several collectables (collectAll) and the text
// exposition through prometheus::TextSerializer (serializeText / renderText).
#include "proxy/stats/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>

namespace slotwise::proxy::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr double kInf = std::numeric_limits<double>::infinity();

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

const MetricFamily* findFamily(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<ClientMetric::Label> labels(
    std::initializer_list<std::pair<const char*, const char*>> pairs) {
  std::vector<ClientMetric::Label> out;
  for (const auto& [name, value] : pairs) out.push_back(ClientMetric::Label{name, value});
  return out;
}

std::string render(const ShardedCollector& c) { return renderText({&c}); }

// ---- ShardedCollector: the data model ------------------------------------------------------

TEST(ShardedCollector, CollectBuildsPrometheusFamilies) {
  ShardedCollector collector;
  auto requests = must(collector.addCounter("req", "Requests.", {"command"}));
  auto clients = must(collector.addGauge("clients", "Clients."));
  auto latency = must(collector.addHistogram("lat_seconds", "Latency.", {"node"}, {0.1, 1.0}));
  Shard& shard = collector.addShard("worker-0");
  shard.counter(requests, {"get"}).inc(3);
  shard.gauge(clients).set(2);
  Histogram h = shard.histogram(latency, {"n1"});
  h.observe(0.05);
  h.observe(0.1);  // on the bound: counted in le="0.1"
  h.observe(0.5);
  h.observe(7.0);  // above every bound: only +Inf

  const std::vector<MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 3u);
  EXPECT_EQ(families[0].name, "clients");  // sorted by name
  EXPECT_EQ(families[1].name, "lat_seconds");
  EXPECT_EQ(families[2].name, "req_total");  // `_total` appended to counters

  const MetricFamily& req = families[2];
  EXPECT_EQ(req.type, MetricType::Counter);
  EXPECT_EQ(req.help, "Requests.");
  ASSERT_EQ(req.metric.size(), 1u);
  EXPECT_EQ(req.metric[0].label, labels({{"command", "get"}}));
  EXPECT_EQ(req.metric[0].counter.value, 3);

  EXPECT_EQ(families[0].type, MetricType::Gauge);
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_TRUE(families[0].metric[0].label.empty());
  EXPECT_EQ(families[0].metric[0].gauge.value, 2);

  const MetricFamily& lat = families[1];
  EXPECT_EQ(lat.type, MetricType::Histogram);
  ASSERT_EQ(lat.metric.size(), 1u);
  const ClientMetric::Histogram& hist = lat.metric[0].histogram;
  EXPECT_EQ(lat.metric[0].label, labels({{"node", "n1"}}));
  ASSERT_EQ(hist.bucket.size(), 3u);
  EXPECT_EQ(hist.bucket[0].upper_bound, 0.1);
  EXPECT_EQ(hist.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(hist.bucket[1].upper_bound, 1.0);
  EXPECT_EQ(hist.bucket[1].cumulative_count, 3u);
  EXPECT_EQ(hist.bucket[2].upper_bound, kInf);
  EXPECT_EQ(hist.bucket[2].cumulative_count, 4u);
  EXPECT_EQ(hist.sample_count, 4u);
  EXPECT_DOUBLE_EQ(hist.sample_sum, 7.65);
}

TEST(ShardedCollector, RendersExactTextThroughTextSerializer) {
  ShardedCollector collector;
  auto requests = must(collector.addCounter("slotwise_requests", "Requests by command and result.",
                                            {"command", "result"}));
  auto clients =
      must(collector.addGauge("slotwise_client_connections", "Open client connections."));
  auto latency =
      must(collector.addHistogram("slotwise_request_duration_seconds", "Client-observed latency.",
                                  {"command"}, {0.001, 0.01, 0.1}));
  Shard& shard = collector.addShard("worker-0");
  shard.counter(requests, {"get", "ok"}).inc(3);
  shard.counter(requests, {"del", "error"}).inc();
  shard.gauge(clients).set(7);
  Histogram get_latency = shard.histogram(latency, {"get"});
  get_latency.observe(0.0005);
  get_latency.observe(0.01);
  get_latency.observe(2.5);

  // prometheus-cpp 1.0.1's layout: `_count` and `_sum` before the buckets.
  const std::string expected =
      "# HELP slotwise_client_connections Open client connections.\n"
      "# TYPE slotwise_client_connections gauge\n"
      "slotwise_client_connections 7\n"
      "# HELP slotwise_request_duration_seconds Client-observed latency.\n"
      "# TYPE slotwise_request_duration_seconds histogram\n"
      "slotwise_request_duration_seconds_count{command=\"get\"} 3\n"
      "slotwise_request_duration_seconds_sum{command=\"get\"} 2.5105\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.001\"} 1\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.01\"} 2\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"0.1\"} 2\n"
      "slotwise_request_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 3\n"
      "# HELP slotwise_requests_total Requests by command and result.\n"
      "# TYPE slotwise_requests_total counter\n"
      "slotwise_requests_total{command=\"del\",result=\"error\"} 1\n"
      "slotwise_requests_total{command=\"get\",result=\"ok\"} 3\n";
  EXPECT_EQ(render(collector), expected);
}

TEST(ShardedCollector, UnlabelledFamiliesReportZeroAndLabelledOnesNoMetric) {
  ShardedCollector collector;
  must(collector.addCounter("a_total", "A."));
  must(collector.addHistogram("b_seconds", "B.", {}, {1.0}));
  must(collector.addGauge("c", "C.", {"node"}));
  collector.addShard("w");
  const std::vector<MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 3u);
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].counter.value, 0);
  ASSERT_EQ(families[1].metric.size(), 1u);
  EXPECT_EQ(families[1].metric[0].histogram.sample_count, 0u);
  ASSERT_EQ(families[1].metric[0].histogram.bucket.size(), 2u);
  EXPECT_TRUE(families[2].metric.empty());

  const std::string expected =
      "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
      "# HELP b_seconds B.\n# TYPE b_seconds histogram\n"
      "b_seconds_count 0\nb_seconds_sum 0\n"
      "b_seconds_bucket{le=\"1\"} 0\nb_seconds_bucket{le=\"+Inf\"} 0\n"
      "# HELP c C.\n# TYPE c gauge\n";
  EXPECT_EQ(render(collector), expected);
}

TEST(ShardedCollector, WithoutShardsOrFamiliesCollectsWhatIsRegistered) {
  ShardedCollector empty;
  EXPECT_TRUE(empty.Collect().empty());
  EXPECT_EQ(render(empty), "");
  ShardedCollector no_shards;
  must(no_shards.addCounter("x_total", "X."));
  const std::vector<MetricFamily> families = no_shards.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 1u);  // the implicit zero
}

TEST(ShardedCollector, MergesShards) {
  ShardedCollector collector;
  auto hits = must(collector.addCounter("hits_total", "Hits.", {"node"}));
  auto conns = must(collector.addGauge("conns", "Connections.", {}, GaugeMerge::kSum));
  auto lag = must(collector.addGauge("lag_seconds", "Loop lag.", {}, GaugeMerge::kMax));
  auto neg = must(collector.addGauge("neg", "Negative max.", {}, GaugeMerge::kMax));
  Shard& a = collector.addShard("worker-0");
  Shard& b = collector.addShard("worker-1");
  Shard& c = collector.addShard("worker-2");
  a.counter(hits, {"n1"}).inc(5);
  b.counter(hits, {"n1"}).inc(7);
  b.counter(hits, {"n2"}).inc(1);
  a.gauge(conns).set(3);
  b.gauge(conns).set(4);
  a.gauge(lag).set(0.25);
  b.gauge(lag).set(0.75);
  c.gauge(lag).set(0.5);
  a.gauge(neg).set(-2);
  b.gauge(neg).set(-3);  // max of the shards that have the child, not of 0

  const std::string text = render(collector);
  EXPECT_EQ(sampleValue(text, "hits_total{node=\"n1\"}"), 12);
  EXPECT_EQ(sampleValue(text, "hits_total{node=\"n2\"}"), 1);
  EXPECT_EQ(sampleValue(text, "conns"), 7);  // worker-2 never touched conns
  EXPECT_EQ(sampleValue(text, "lag_seconds"), 0.75);
  EXPECT_EQ(sampleValue(text, "neg"), -2);
}

TEST(ShardedCollector, HistogramBucketsMergeAcrossShards) {
  ShardedCollector collector;
  auto lat = must(collector.addHistogram("lat_seconds", "Latency.", {"node"}, {0.5, 1.0, 2.0}));
  Shard& a = collector.addShard("worker-0");
  Shard& b = collector.addShard("worker-1");
  Shard& c = collector.addShard("worker-2");
  a.histogram(lat, {"n1"}).observe(0.25);  // le=0.5
  a.histogram(lat, {"n1"}).observe(1.5);   // le=2
  b.histogram(lat, {"n1"}).observe(0.75);  // le=1
  b.histogram(lat, {"n1"}).observe(9.0);   // +Inf
  c.histogram(lat, {"n1"}).observe(0.5);   // le=0.5 (on the bound)
  c.histogram(lat, {"n2"}).observe(1.0);   // another child, le=1

  const std::vector<MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 2u);
  const ClientMetric& n1 = families[0].metric[0];
  EXPECT_EQ(n1.label, labels({{"node", "n1"}}));
  std::vector<uint64_t> cumulative;
  for (const ClientMetric::Bucket& bucket : n1.histogram.bucket) {
    cumulative.push_back(bucket.cumulative_count);
  }
  EXPECT_EQ(cumulative, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(n1.histogram.sample_count, 5u);
  EXPECT_DOUBLE_EQ(n1.histogram.sample_sum, 0.25 + 1.5 + 0.75 + 9.0 + 0.5);
  const ClientMetric& n2 = families[0].metric[1];
  EXPECT_EQ(n2.label, labels({{"node", "n2"}}));
  EXPECT_EQ(n2.histogram.bucket[0].cumulative_count, 0u);
  EXPECT_EQ(n2.histogram.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(n2.histogram.sample_count, 1u);

  const std::string text = render(collector);
  EXPECT_EQ(sampleValue(text, "lat_seconds_bucket{node=\"n1\",le=\"0.5\"}"), 2);
  EXPECT_EQ(sampleValue(text, "lat_seconds_bucket{node=\"n1\",le=\"+Inf\"}"), 5);
  EXPECT_EQ(sampleValue(text, "lat_seconds_count{node=\"n1\"}"), 5);
}

TEST(ShardedCollector, ResolvingTheSameChildTwiceSharesTheSlot) {
  ShardedCollector collector;
  auto fam = must(collector.addCounter("x", "X.", {"k"}));
  Shard& shard = collector.addShard("w");
  Counter first = shard.counter(fam, {"v"});
  first.inc(2);
  shard.counter(fam, {"v"}).inc(3);
  EXPECT_EQ(first.value(), 5u);
  EXPECT_EQ(shard.counter(fam, {"other"}).value(), 0u);
  EXPECT_TRUE(first.bound());
  EXPECT_FALSE(Counter{}.bound());
  EXPECT_EQ(shard.name(), "w");
}

TEST(ShardedCollector, GaugeAddSubAndNanObservationIgnored) {
  ShardedCollector collector;
  auto g = must(collector.addGauge("g", "G."));
  auto h = must(collector.addHistogram("h_seconds", "H.", {}, {1.0}));
  Shard& shard = collector.addShard("w");
  Gauge gauge = shard.gauge(g);
  gauge.inc();
  gauge.inc();
  gauge.dec();
  gauge.add(0.5);
  EXPECT_EQ(gauge.value(), 1.5);
  Histogram hist = shard.histogram(h);
  hist.observe(std::nan(""));
  hist.observe(std::chrono::milliseconds(1500));
  const std::string text = render(collector);
  EXPECT_EQ(sampleValue(text, "g"), 1.5);
  EXPECT_EQ(sampleValue(text, "h_seconds_count"), 1);
  EXPECT_EQ(sampleValue(text, "h_seconds_sum"), 1.5);
  EXPECT_EQ(hist.count(), 1u);
}

TEST(ShardedCollector, RejectsInvalidRegistrations) {
  ShardedCollector collector;
  EXPECT_FALSE(collector.addCounter("9bad", "h").isOk());
  EXPECT_FALSE(collector.addCounter("bad-name", "h").isOk());
  EXPECT_FALSE(collector.addGauge("", "h").isOk());
  EXPECT_FALSE(collector.addGauge("ok", "h", {"__reserved"}).isOk());
  EXPECT_FALSE(collector.addGauge("ok2", "h", {"a:b"}).isOk());
  EXPECT_FALSE(collector.addGauge("ok3", "h", {"a", "a"}).isOk());
  EXPECT_FALSE(collector.addHistogram("h1", "h", {"le"}, {1.0}).isOk());
  EXPECT_FALSE(collector.addHistogram("h2", "h", {}, {}).isOk());
  EXPECT_FALSE(collector.addHistogram("h3", "h", {}, {1.0, 1.0}).isOk());
  EXPECT_FALSE(collector.addHistogram("h4", "h", {}, {1.0, INFINITY}).isOk());
  EXPECT_TRUE(collector.addCounter("dup", "h").isOk());
  EXPECT_FALSE(collector.addCounter("dup_total", "h").isOk());  // same exposed name
  EXPECT_FALSE(collector.addGauge("dup_total", "h").isOk());    // taken by another type
  EXPECT_TRUE(collector.addGauge("ns:name_ok", "h", {"_x1"}).isOk());
  EXPECT_TRUE(collector.addGauge("le_is_fine_on_a_gauge", "h", {"le"}).isOk());
  const std::vector<MetricFamily> families = collector.Collect();
  EXPECT_EQ(families.size(), 3u);
  EXPECT_EQ(findFamily(families, "9bad"), nullptr);
}

TEST(ShardedCollectorDeathTest, LabelCountMismatchAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ShardedCollector collector;
  auto fam = must(collector.addCounter("x", "X.", {"a", "b"}));
  Shard& shard = collector.addShard("w");
  EXPECT_DEATH(shard.counter(fam, {"only-one"}), "has 2 labels");
  EXPECT_DEATH(shard.counter(CounterFamily{}, {}), "unbound");
}

// ---- Concurrency -------------------------------------------------------------------------

// Two writer threads, each on its own shard, increment while the main thread keeps collecting
// and rendering. Each writer pauses half-way until two more scrapes have completed, so scrapes do
// overlap the writes however fast the machine is. Every scrape must see values that only grow
// and never exceed the final total, with `_count` equal to the +Inf bucket; after the writers
// join the totals must be exact (no lost single-writer updates).
TEST(ShardedCollector, ConcurrentIncrementsWhileCollecting) {
  ShardedCollector collector;
  auto ops = must(collector.addCounter("ops_total", "Ops.", {"command"}));
  auto lat = must(collector.addHistogram("op_seconds", "Latency.", {}, {0.001, 1.0}));
  auto gauge = must(collector.addGauge("in_flight", "In flight."));
  constexpr uint64_t kPerThread = 200000;
  std::atomic<int> done{0};
  std::atomic<int> scrapes_done{0};
  auto writer = [&](Shard* shard) {
    Counter c = shard->counter(ops, {"get"});
    Histogram h = shard->histogram(lat);
    Gauge g = shard->gauge(gauge);
    for (uint64_t i = 0; i < kPerThread; ++i) {
      if (i == kPerThread / 2) {
        const int target = scrapes_done.load() + 2;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (scrapes_done.load() < target && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
      }
      c.inc();
      g.inc();
      if (i % 4 == 0) h.observe(0.0005);
      g.dec();
    }
    done.fetch_add(1);
  };
  std::thread t1(writer, &collector.addShard("worker-0"));
  std::thread t2(writer, &collector.addShard("worker-1"));
  double last = 0;
  uint64_t last_count = 0;
  bool saw_partial = false;
  // Bounded: the writers finish in well under a second; the cap only guards against a hang.
  for (int scrapes = 0; (done.load() < 2 || scrapes < 3) && scrapes < 1000000; ++scrapes) {
    const std::vector<MetricFamily> families = collector.Collect();
    const MetricFamily* ops_family = findFamily(families, "ops_total");
    const MetricFamily* lat_family = findFamily(families, "op_seconds");
    EXPECT_TRUE(ops_family != nullptr && lat_family != nullptr && lat_family->metric.size() == 1);
    if (ops_family == nullptr || lat_family == nullptr || lat_family->metric.size() != 1) break;
    const double now = ops_family->metric.empty() ? 0 : ops_family->metric[0].counter.value;
    EXPECT_GE(now, last);
    EXPECT_LE(now, 2.0 * kPerThread);
    saw_partial = saw_partial || (now > 0 && now < 2.0 * kPerThread);
    const ClientMetric::Histogram& h = lat_family->metric[0].histogram;
    EXPECT_EQ(h.sample_count, h.bucket.back().cumulative_count);
    EXPECT_GE(h.sample_count, last_count);
    last = now;
    last_count = h.sample_count;
    if (scrapes % 16 == 0) {
      const std::string text = render(collector);  // the whole path, TextSerializer included
      EXPECT_EQ(sampleValue(text, "op_seconds_count"),
                sampleValue(text, "op_seconds_bucket{le=\"+Inf\"}"));
    }
    scrapes_done.fetch_add(1);
  }
  t1.join();
  t2.join();
  EXPECT_TRUE(saw_partial) << "no scrape overlapped the writers";
  const std::string text = render(collector);
  EXPECT_EQ(sampleValue(text, "ops_total{command=\"get\"}"), 2.0 * kPerThread);
  EXPECT_EQ(sampleValue(text, "op_seconds_count"), 2.0 * (kPerThread / 4));
  EXPECT_NEAR(sampleValue(text, "op_seconds_sum").value(), 0.0005 * 2 * (kPerThread / 4), 1e-6);
  EXPECT_EQ(sampleValue(text, "in_flight"), 0);
}

// A writer resolving new children (new nodes, new commands: the shard mutex path) while another
// thread collects: no crash, no torn maps, and every child shows up at the end.
TEST(ShardedCollector, ResolvingChildrenWhileCollecting) {
  ShardedCollector collector;
  auto bytes = must(collector.addCounter("bytes_total", "Bytes.", {"node"}));
  Shard& shard = collector.addShard("worker-0");
  constexpr int kNodes = 300;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kNodes; ++i) {
      std::string node = std::to_string(i);  // not "n" + ...: a GCC 12 -Wrestrict false positive
      shard.counter(bytes, {node}).inc(2);
    }
    done.store(true);
  });
  size_t seen = 0;
  for (int scrapes = 0; !done.load() && scrapes < 1000000; ++scrapes) {
    const std::vector<MetricFamily> families = collector.Collect();
    EXPECT_EQ(families.size(), 1u);
    if (families.size() != 1) break;
    EXPECT_GE(families[0].metric.size(), seen);
    seen = families[0].metric.size();
  }
  writer.join();
  const std::vector<MetricFamily> families = collector.Collect();
  ASSERT_EQ(families[0].metric.size(), static_cast<size_t>(kNodes));
  for (const ClientMetric& m : families[0].metric) EXPECT_EQ(m.counter.value, 2);
}

// ---- collectAll / serializeText ------------------------------------------------------------

TEST(Exposition, SameNamedFamiliesOfSeveralCollectablesMerge) {
  ShardedCollector shards;
  auto rejected = must(shards.addCounter("rejected_total", "Rejected, by reason.", {"reason"}));
  Shard& worker = shards.addShard("worker-0");
  worker.counter(rejected, {"max_clients"}).inc(2);
  worker.counter(rejected, {"auth"}).inc(1);

  prometheus::Registry control;
  auto& control_rejected = prometheus::BuildCounter()
                               .Name("rejected_total")
                               .Help("Rejected, by reason.")
                               .Register(control);
  control_rejected.Add({{"reason", "max_clients"}}).Increment(3);
  control_rejected.Add({{"reason", "output_limit"}}).Increment();
  prometheus::BuildGauge().Name("a_first").Help("A.").Register(control).Add({}).Set(4);

  const std::vector<MetricFamily> families = collectAll({&shards, &control});
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "a_first");  // sorted by name across sources
  const MetricFamily& merged = families[1];
  EXPECT_EQ(merged.name, "rejected_total");
  ASSERT_EQ(merged.metric.size(), 3u);
  EXPECT_EQ(merged.metric[0].label, labels({{"reason", "auth"}}));
  EXPECT_EQ(merged.metric[0].counter.value, 1);
  EXPECT_EQ(merged.metric[1].label, labels({{"reason", "max_clients"}}));
  EXPECT_EQ(merged.metric[1].counter.value, 5);
  EXPECT_EQ(merged.metric[2].label, labels({{"reason", "output_limit"}}));
  EXPECT_EQ(merged.metric[2].counter.value, 1);

  const std::string text = serializeText(families);
  EXPECT_EQ(text.find("# TYPE rejected_total counter"), text.rfind("# TYPE rejected_total"));
  EXPECT_EQ(sampleValue(text, "rejected_total{reason=\"max_clients\"}"), 5);
}

TEST(Exposition, HistogramsWithEqualBoundsMergeAcrossCollectables) {
  ShardedCollector shards;
  auto lat = must(shards.addHistogram("lat_seconds", "Latency.", {}, {0.5, 1.0}));
  shards.addShard("worker-0").histogram(lat).observe(0.25);
  prometheus::Registry control;
  auto& family =
      prometheus::BuildHistogram().Name("lat_seconds").Help("Latency.").Register(control);
  family.Add({}, prometheus::Histogram::BucketBoundaries{0.5, 1.0}).Observe(0.75);
  prometheus::Registry other_bounds;
  prometheus::BuildHistogram()
      .Name("lat_seconds")
      .Help("Latency.")
      .Register(other_bounds)
      .Add({}, prometheus::Histogram::BucketBoundaries{3.0})
      .Observe(2.0);

  const std::vector<MetricFamily> families = collectAll({&shards, &control, &other_bounds});
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 1u);  // the one with other bounds cannot merge: dropped
  const ClientMetric::Histogram& h = families[0].metric[0].histogram;
  ASSERT_EQ(h.bucket.size(), 3u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(h.bucket[1].cumulative_count, 2u);
  EXPECT_EQ(h.bucket[2].cumulative_count, 2u);
  EXPECT_EQ(h.sample_count, 2u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 1.0);
}

TEST(Exposition, AFamilyOfAnotherTypeUnderATakenNameIsDropped) {
  ShardedCollector shards;
  auto x = must(shards.addCounter("x_total", "X."));
  shards.addShard("w").counter(x).inc(2);
  prometheus::Registry control;
  prometheus::BuildGauge().Name("x_total").Help("Other.").Register(control).Add({}).Set(9);
  const std::vector<MetricFamily> families = collectAll({&shards, &control});
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].type, MetricType::Counter);
  EXPECT_EQ(families[0].help, "X.");
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].counter.value, 2);
}

TEST(Exposition, LabelsAreSortedByNameSoEqualSetsMerge) {
  MetricFamily a{"g", "G.", MetricType::Gauge, {}};
  ClientMetric m1;
  m1.label = labels({{"state", "up"}, {"node", "n1"}});
  m1.gauge.value = 1;
  a.metric.push_back(m1);
  ClientMetric m2;
  m2.label = labels({{"node", "n1"}, {"state", "up"}});
  m2.gauge.value = 2;
  a.metric.push_back(m2);
  struct Fixed : prometheus::Collectable {
    std::vector<MetricFamily> families;
    std::vector<MetricFamily> Collect() const override { return families; }
  } source;
  source.families = {a};
  const std::vector<MetricFamily> families = collectAll({&source});
  ASSERT_EQ(families[0].metric.size(), 1u);
  EXPECT_EQ(families[0].metric[0].label, labels({{"node", "n1"}, {"state", "up"}}));
  EXPECT_EQ(families[0].metric[0].gauge.value, 3);
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  ShardedCollector collector;
  auto fam = must(collector.addCounter("esc_total", "Line one\nback\\slash \"quoted\".", {"v"}));
  collector.addShard("w").counter(fam, {"a\"b\\c\nd"}).inc();
  const std::string text = render(collector);
  EXPECT_NE(text.find("# HELP esc_total Line one\\nback\\\\slash \"quoted\".\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Exposition, ValuesKeepSixteenSignificantDigitsWhateverTheStream) {
  ShardedCollector collector;
  auto big = must(collector.addCounter("big_total", "Big."));
  auto small = must(collector.addGauge("small", "Small."));
  Shard& shard = collector.addShard("w");
  shard.counter(big).inc(12345678901234ull);
  shard.gauge(small).set(0.000123456789);
  const std::string text = render(collector);
  EXPECT_NE(text.find("big_total 12345678901234\n"), std::string::npos) << text;
  EXPECT_NE(text.find("small 0.000123456789\n"), std::string::npos) << text;
}

// ---- Buckets -----------------------------------------------------------------------------

TEST(MetricsBuckets, ExponentialAndLatencyBounds) {
  EXPECT_EQ(exponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  std::vector<double> lat = latencyBucketsSeconds();
  ASSERT_EQ(lat.size(), 18u);
  EXPECT_DOUBLE_EQ(lat.front(), 50e-6);
  EXPECT_GT(lat.back(), 5.0);
  EXPECT_TRUE(std::is_sorted(lat.begin(), lat.end()));
}

// The `le` label values of the latency histograms as rendered: dashboards and recording rules
// written against the old exposition must keep matching.
TEST(MetricsBuckets, LatencyBoundsRenderAsBefore) {
  ShardedCollector collector;
  auto lat = must(collector.addHistogram("l_seconds", "L.", {}, latencyBucketsSeconds()));
  collector.addShard("w").histogram(lat);
  const std::string text = render(collector);
  for (const char* le : {"5e-05", "0.0001", "0.0002", "0.0004", "0.0008", "0.0016", "0.0032",
                         "0.0064", "0.0128", "0.0256", "0.0512", "0.1024", "0.2048", "0.4096",
                         "0.8192", "1.6384", "3.2768", "6.5536", "+Inf"}) {
    EXPECT_NE(text.find(std::string("l_seconds_bucket{le=\"") + le + "\"} 0\n"), std::string::npos)
        << le << "\n"
        << text;
  }
}

}  // namespace
}  // namespace slotwise::proxy::metrics
