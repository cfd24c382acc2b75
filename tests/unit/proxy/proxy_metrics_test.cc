// The proxy's metric families and per-worker handles (WorkerStats) as they render, the control
// thread's ControlMetrics, and the BackendHealth reachability rule behind /readyz.
#include "proxy/stats/proxy_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <string>

#include "proxy/stats/slowlog.h"

namespace slotwise::proxy {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(BackendHealthTest, UnknownNodesAreReachable) {
  BackendHealth h;
  EXPECT_TRUE(h.reachable("127.0.0.1:7000"));
  EXPECT_FALSE(h.connected("127.0.0.1:7000"));
}

TEST(BackendHealthTest, AFailedConnectMakesANodeUnreachableUntilASuccess) {
  BackendHealth h;
  h.record("n:1", BackendEvent::kConnectFailed);
  EXPECT_FALSE(h.reachable("n:1"));
  EXPECT_TRUE(h.reachable("n:2"));
  h.record("n:1", BackendEvent::kProbeOk);
  EXPECT_TRUE(h.reachable("n:1"));
  h.record("n:1", BackendEvent::kProbeFailed);
  EXPECT_FALSE(h.reachable("n:1"));
  h.record("n:1", BackendEvent::kConnected);
  EXPECT_TRUE(h.reachable("n:1"));
  EXPECT_TRUE(h.connected("n:1"));
}

TEST(BackendHealthTest, AnEstablishedConnectionOutweighsAnotherWorkersFailure) {
  BackendHealth h;
  h.record("n:1", BackendEvent::kConnected);   // worker 0
  h.record("n:1", BackendEvent::kConnected);   // worker 1
  h.record("n:1", BackendEvent::kLost);        // worker 1's connection timed out
  EXPECT_TRUE(h.reachable("n:1"));
  h.record("n:1", BackendEvent::kLost);        // the node died: worker 0 sees EOF too
  EXPECT_FALSE(h.reachable("n:1"));
  EXPECT_FALSE(h.connected("n:1"));
}

TEST(BackendHealthTest, AGracefulCloseKeepsTheNodeReachable) {
  BackendHealth h;
  h.record("n:1", BackendEvent::kConnected);
  h.record("n:1", BackendEvent::kClosed);
  EXPECT_FALSE(h.connected("n:1"));
  EXPECT_TRUE(h.reachable("n:1"));
}

TEST(WorkerStatsTest, NewSeriesRenderWithTheirLabels) {
  metrics::ShardedCollector collector;
  ProxyMetricFamilies families = ProxyMetricFamilies::registerAll(collector);
  WorkerStats w0(collector.addShard("worker-0"), families);
  WorkerStats w1(collector.addShard("worker-1"), families);
  NodeStats& n = w0.node("127.0.0.1:7000");
  EXPECT_EQ(&n, &w0.node("127.0.0.1:7000"));  // resolved once, stable
  n.connected.inc();
  n.latency.observe(0.0002);
  n.bytes_in.inc(10);
  n.bytes_out.inc(20);
  n.connect_failures.inc();
  w1.node("127.0.0.1:7000").connected.inc();
  w0.clusterdown.inc();
  w1.rejected_auth.inc();
  w0.setLoopLag(0.004);
  w1.setLoopLag(-1.0);  // clamped
  w0.blocked_clients.set(1);
  w1.pubsub_clients.set(2);
  w0.client_bytes_in.inc(7);
  const std::string text = metrics::renderText({&collector});
  const std::string node = "node=\"127.0.0.1:7000\"";
  EXPECT_TRUE(has(text, "slotwise_backend_connections{" + node + ",state=\"connected\"} 2"))
      << text;
  EXPECT_TRUE(has(text, "slotwise_backend_connections{" + node + ",state=\"connecting\"} 0"));
  EXPECT_TRUE(has(text, "slotwise_backend_request_duration_seconds_count{" + node + "} 1"));
  EXPECT_TRUE(has(text, "slotwise_backend_bytes_received_total{" + node + "} 10"));
  EXPECT_TRUE(has(text, "slotwise_backend_bytes_sent_total{" + node + "} 20"));
  EXPECT_TRUE(has(text, "slotwise_backend_connect_failures_total{" + node + "} 1"));
  EXPECT_TRUE(has(text, "slotwise_redirects_total{kind=\"clusterdown\"} 1"));
  EXPECT_TRUE(has(text, "slotwise_client_connections_rejected_total{reason=\"auth\"} 1"));
  EXPECT_TRUE(has(text, "slotwise_client_connections_rejected_total{reason=\"max_clients\"} 0"));
  EXPECT_TRUE(has(text, "slotwise_event_loop_lag_seconds{worker=\"0\"} 0.004"));
  EXPECT_TRUE(has(text, "slotwise_event_loop_lag_seconds{worker=\"1\"} 0"));
  EXPECT_TRUE(has(text, "slotwise_blocked_clients 1"));
  EXPECT_TRUE(has(text, "slotwise_pubsub_clients 2"));
  EXPECT_TRUE(has(text, "slotwise_client_bytes_received_total 7"));
  EXPECT_TRUE(has(text, "slotwise_slowlog_entries_total 0"));
}

TEST(WorkerStatsTest, ReportsReachHealthAndSlowlogOnlyWhenTheServerSetThem) {
  metrics::ShardedCollector collector;
  ProxyMetricFamilies families = ProxyMetricFamilies::registerAll(collector);
  WorkerStats bare(collector.addShard("worker-0"), families);
  EXPECT_EQ(bare.slowlog, nullptr);
  bare.backendEvent("n:1", BackendEvent::kConnectFailed);  // dropped, no crash

  BackendHealth health;
  SlowlogBook book(config::SlowlogConfig{});
  families.health = &health;
  families.slowlog = &book;
  WorkerStats wired(collector.addShard("worker-1"), families);
  ASSERT_NE(wired.slowlog, nullptr);
  wired.backendEvent("n:1", BackendEvent::kConnectFailed);
  EXPECT_FALSE(health.reachable("n:1"));
  SlowlogEntry e;
  e.command = "get";
  wired.slowlog->record(e, "");
  EXPECT_EQ(book.length(), 1u);
}

// The control thread's families live in a prometheus::Registry; the refused hand-off accepts
// are summed with the workers' family of the same name.
TEST(ControlMetricsTest, RendersWithTheWorkersFamilies) {
  metrics::ShardedCollector shards;
  ProxyMetricFamilies families = ProxyMetricFamilies::registerAll(shards);
  WorkerStats w0(shards.addShard("worker-0"), families);
  w0.rejected_max_clients.inc(2);
  prometheus::Registry control_registry;
  ControlMetrics control(control_registry);

  std::string text = metrics::renderText({&shards, &control_registry});
  EXPECT_TRUE(has(text, "slotwise_slot_map_version 0")) << text;
  EXPECT_TRUE(has(text, "slotwise_slot_map_covered_slots 0"));
  EXPECT_TRUE(has(text, "slotwise_slot_map_refreshes_total 0"));
  EXPECT_TRUE(has(text, "slotwise_slot_map_refresh_failures_total 0"));
  EXPECT_TRUE(has(text, "slotwise_client_connections_rejected_total{reason=\"max_clients\"} 2"));

  control.slotMapPublished(7, 16384);
  control.refreshTotals(3, 1);
  control.refreshTotals(5, 1);
  control.refreshTotals(4, 0);  // never backwards
  control.rejected_max_clients.Increment();
  text = metrics::renderText({&shards, &control_registry});
  EXPECT_TRUE(has(text, "slotwise_slot_map_version 7")) << text;
  EXPECT_TRUE(has(text, "slotwise_slot_map_covered_slots 16384"));
  EXPECT_TRUE(has(text, "slotwise_slot_map_refreshes_total 5"));
  EXPECT_TRUE(has(text, "slotwise_slot_map_refresh_failures_total 1"));
  EXPECT_TRUE(has(text, "slotwise_client_connections_rejected_total{reason=\"max_clients\"} 3"));
  EXPECT_TRUE(has(text, "slotwise_client_connections_rejected_total{reason=\"auth\"} 0"));
  const std::string type = "# TYPE slotwise_client_connections_rejected_total counter";
  EXPECT_EQ(text.find(type), text.rfind(type));  // one family, not two
}

}  // namespace
}  // namespace slotwise::proxy
