// Runs Prometheus' own linter (`promtool check metrics`, Debian package `prometheus`) on the
// exposition of realistic metric sources (sharded collector, prometheus::Registry, process
// collector) as /metrics renders them. Skips only when promtool is not installed.
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "proxy/stats/metrics.h"
#include "proxy/stats/process_metrics.h"
#include "proxy/stats/proxy_metrics.h"

namespace slotwise::proxy::metrics {
namespace {

std::optional<std::string> findPromtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/promtool";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct CheckResult {
  int exit_code = -1;
  std::string output;
};

// Writes `text` to a temporary file and runs `promtool check metrics < file`.
CheckResult promtoolCheck(const std::string& promtool, const std::string& text) {
  char path[] = "/tmp/slotwise_metrics_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return {};
  close(fd);
  std::ofstream(path) << text;
  CheckResult result;
  std::string cmd = promtool + " check metrics < " + path + " 2>&1";
  if (FILE* pipe = popen(cmd.c_str(), "r")) {
    char buf[512];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) result.output.append(buf, n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  unlink(path);
  return result;
}

template <typename T>
T must(Result<T> r) {
  EXPECT_TRUE(r.isOk()) << (r.isOk() ? "" : r.error());
  return std::move(r).value();
}

// Sources shaped like the proxy's: labelled counters, latency histograms and merged gauges in two
// worker shards; control-plane gauges, counters and a histogram in a prometheus::Registry (one
// family shared with the shards, as the proxy's rejected-connections counter is); the process
// collectors.
std::string renderRealisticSources() {
  ShardedCollector shards;
  auto requests = must(shards.addCounter(
      "slotwise_requests_total", "Client requests by command and result.", {"command", "result"}));
  auto redirects = must(shards.addCounter(
      "slotwise_redirects_total", "Backend redirect and cluster errors by kind.", {"kind"}));
  auto bytes_in = must(shards.addCounter("slotwise_client_received_bytes_total",
                                         "Bytes read from client connections."));
  auto latency = must(shards.addHistogram("slotwise_request_duration_seconds",
                                          "Client-observed request latency.", {"command"},
                                          latencyBucketsSeconds()));
  auto backend_latency = must(shards.addHistogram("slotwise_backend_request_duration_seconds",
                                                  "Backend round-trip latency by node.", {"node"},
                                                  latencyBucketsSeconds()));
  auto clients = must(
      shards.addGauge("slotwise_client_connections", "Open client connections.", {"worker"}));
  auto lag =
      must(shards.addGauge("slotwise_event_loop_lag_max_seconds",
                           "Largest event-loop lag across workers.", {}, GaugeMerge::kMax));
  for (int w = 0; w < 2; ++w) {
    Shard& shard = shards.addShard("worker-" + std::to_string(w));
    shard.counter(requests, {"get", "ok"}).inc(100 + w);
    shard.counter(requests, {"set", "error"}).inc(2);
    shard.counter(redirects, {"moved"}).inc(3);
    shard.counter(redirects, {"ask"}).inc(1);
    shard.counter(bytes_in).inc(4096);
    shard.histogram(latency, {"get"}).observe(0.00021);
    shard.histogram(latency, {"set"}).observe(0.0123);
    shard.histogram(backend_latency, {"127.0.0.1:7000"}).observe(0.0001);
    shard.gauge(clients, {std::to_string(w)}).set(5 + w);
    shard.gauge(lag).set(0.001 * (w + 1));
  }

  prometheus::Registry control;
  prometheus::BuildGauge()
      .Name("slotwise_slot_map_version")
      .Help("Version of the current slot map.")
      .Register(control)
      .Add({})
      .Set(7);
  prometheus::BuildCounter()
      .Name("slotwise_redirects_total")
      .Help("Backend redirect and cluster errors by kind.")
      .Register(control)
      .Add({{"kind", "clusterdown"}})
      .Increment();
  prometheus::BuildHistogram()
      .Name("slotwise_refresh_duration_seconds")
      .Help("Topology refresh duration.")
      .Register(control)
      .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.1, 1})
      .Observe(0.05);

  ProcessCollector process;
  return renderText({&shards, &control, &process});
}

TEST(MetricsPromtool, RealisticSourcesPassPromtoolCheck) {
  std::optional<std::string> promtool = findPromtool();
  if (!promtool) GTEST_SKIP() << "promtool not installed (Debian package `prometheus`)";
  const std::string text = renderRealisticSources();
  CheckResult r = promtoolCheck(*promtool, text);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n---- exposition ----\n" << text;
  EXPECT_EQ(r.output, "") << text;
}

// The proxy's real sources (ProxyMetricFamilies, ControlMetrics, process collectors), as the
// Server wires them, with every labelled series in use.
TEST(MetricsPromtool, ProxyFamiliesPassPromtoolCheck) {
  std::optional<std::string> promtool = findPromtool();
  if (!promtool) GTEST_SKIP() << "promtool not installed (Debian package `prometheus`)";
  ShardedCollector shards;
  ProxyMetricFamilies families = ProxyMetricFamilies::registerAll(shards);
  prometheus::Registry control_registry;
  ControlMetrics control(control_registry);
  ProcessCollector process;
  WorkerStats stats(shards.addShard("worker-0"), families);
  stats.requestsOf(nullptr).inc();
  NodeStats& node = stats.node("127.0.0.1:7000");
  node.latency.observe(0.0003);
  node.connected.inc();
  node.bytes_out.inc(42);
  stats.setLoopLag(0.002);
  control.slotMapPublished(3, 16384);
  control.refreshTotals(2, 1);
  control.rejected_max_clients.Increment();
  const std::string text = renderText({&shards, &control_registry, &process});
  CheckResult r = promtoolCheck(*promtool, text);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n---- exposition ----\n" << text;
  EXPECT_EQ(r.output, "") << text;
}

// Guards the check itself: promtool must flag a counter without `_total` and a malformed line,
// so the test above cannot pass because promtool silently accepted everything.
TEST(MetricsPromtool, PromtoolRejectsBadExposition) {
  std::optional<std::string> promtool = findPromtool();
  if (!promtool) GTEST_SKIP() << "promtool not installed (Debian package `prometheus`)";
  CheckResult lint = promtoolCheck(*promtool, "# HELP bad Bad.\n# TYPE bad counter\nbad 1\n");
  EXPECT_NE(lint.exit_code, 0) << lint.output;
  EXPECT_NE(lint.output.find("_total"), std::string::npos) << lint.output;
  CheckResult parse = promtoolCheck(*promtool, "x{a=\"unterminated} 1\n");
  EXPECT_NE(parse.exit_code, 0) << parse.output;
}

}  // namespace
}  // namespace slotwise::proxy::metrics
