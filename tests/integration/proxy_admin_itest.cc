// Admin HTTP endpoints and metrics against a real cluster, checked with promtool and scraped by a
// real Prometheus server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "support/http_get.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyAdminTest : public ProxyClusterTest {
 protected:
  uint16_t admin_port = 0;
  void startWithAdmin() {
    admin_port = pickFreePort();
    extra_yaml = "admin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) + "\n";
    startAll();
  }
};

TEST_F(ProxyAdminTest, MetricsPassPromtoolAndCountTraffic) {
  startWithAdmin();
  auto c = proxyClient();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(str(c->command({"SET", "m" + std::to_string(i), "v"})), "OK");
  c->command({"MGET", "m1", "m2", "m3"});
  c->command({"NOSUCH"});
  auto [status, body] = httpGet(admin_port, "/metrics");
  ASSERT_EQ(status, 200) << body;
  EXPECT_NE(body.find("slotwise_requests_total{command=\"set\"} 100"), std::string::npos) << body;
  EXPECT_NE(body.find("slotwise_requests_total{command=\"mget\"} 1"), std::string::npos);
  EXPECT_NE(body.find("slotwise_slot_map_covered_slots 16384"), std::string::npos);
  EXPECT_NE(body.find("slotwise_request_duration_seconds_count"), std::string::npos);
  EXPECT_NE(body.find("process_resident_memory_bytes"), std::string::npos);
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  std::string file = proxy.dir() + "/metrics.txt";
  std::ofstream(file) << body;
  std::string cmd = "/usr/bin/promtool check metrics < " + file + " > " + file + ".out 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << std::ifstream(file + ".out").rdbuf();
}

TEST_F(ProxyAdminTest, HealthReadinessAndSlotsJson) {
  startWithAdmin();
  EXPECT_EQ(httpGet(admin_port, "/healthz").status, 200);
  // Ready once the first slot map (all 16384 slots) is in; the listener may answer before that.
  HttpResult ready;
  EXPECT_TRUE(cluster.waitFor([&] {
    ready = httpGet(admin_port, "/readyz");
    return ready.status == 200;
  }, 10000ms)) << ready.status << " " << ready.body;
  auto slots = httpGet(admin_port, "/api/slots");
  ASSERT_EQ(slots.status, 200);
  int ranges = 0;
  for (size_t p = 0; (p = slots.body.find("\"first\":", p)) != std::string::npos; ++p) ++ranges;
  EXPECT_EQ(ranges, 3) << slots.body;
  for (const auto& n : cluster.nodes()) {
    EXPECT_NE(slots.body.find("127.0.0.1:" + std::to_string(n.port)), std::string::npos);
  }
  // The shape the dashboard reads: {"version":N,"ranges":[{"first","last","master","id",
  // "replicas":[...]}]}, covering every slot.
  auto doc = nlohmann::ordered_json::parse(slots.body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << slots.body;
  EXPECT_TRUE(doc["version"].is_number_unsigned());
  EXPECT_GE(doc["version"].get<uint64_t>(), 1u);
  ASSERT_TRUE(doc["ranges"].is_array());
  uint64_t covered = 0;
  for (auto& range : doc["ranges"]) {
    ASSERT_TRUE(range["first"].is_number_unsigned() && range["last"].is_number_unsigned());
    covered += range["last"].get<uint64_t>() - range["first"].get<uint64_t>() + 1;
    EXPECT_TRUE(range["master"].is_string());
    EXPECT_EQ(range["id"].get<std::string>().size(), 40u);
    EXPECT_TRUE(range["replicas"].is_array());
  }
  EXPECT_EQ(covered, 16384u);
  auto clients = httpGet(admin_port, "/api/clients");
  ASSERT_EQ(clients.status, 200);
  auto connected = nlohmann::json::parse(clients.body, nullptr, false);
  ASSERT_TRUE(connected.is_object()) << clients.body;
  EXPECT_TRUE(connected["connected"].is_number_integer()) << clients.body;
}

TEST_F(ProxyAdminTest, RealPrometheusScrapesTheProxy) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus not installed (apt-get install prometheus)";
  startWithAdmin();
  TempDir dir("slotwise-prom-");
  uint16_t prom_port = pickFreePort();
  std::ofstream(dir.path() + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: slotwise\n"
      << "    static_configs:\n      - targets: ['127.0.0.1:" << admin_port << "']\n";
  pid_t pid = fork();
  if (pid == 0) {
    std::string cfg = "--config.file=" + dir.path() + "/prometheus.yml";
    std::string data = "--storage.tsdb.path=" + dir.path() + "/data";
    std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(prom_port);
    freopen((dir.path() + "/prometheus.log").c_str(), "w", stderr);
    execl("/usr/bin/prometheus", "prometheus", cfg.c_str(), data.c_str(), listen.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  auto c = proxyClient();
  auto query = [&] {
    return httpGet(prom_port, "/api/v1/query?query=slotwise_requests_total%7Bcommand%3D%22incr%22%7D");
  };
  double first = -1, later = -1;
  bool ok = cluster.waitFor([&] {
    c->command({"INCR", "scraped"});
    auto [status, body] = query();
    std::smatch m;
    if (status != 200 || !std::regex_search(body, m, std::regex("\"([0-9.]+)\"\\]"))) return false;
    double v = std::stod(m[1]);
    if (first < 0) first = v;
    later = v;
    return later > first;  // the counter grew between two scrapes
  }, 30000ms);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(ok) << "first=" << first << " later=" << later << "\n"
                  << std::ifstream(dir.path() + "/prometheus.log").rdbuf();
}

// The value of the sample `series` (full name plus labels) in a Prometheus text body, or -1.
double sampleValue(const std::string& body, const std::string& series) {
  size_t p = body.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(body.substr(p + series.size() + 2));
}

TEST_F(ProxyAdminTest, BackendBytesLagAndClientStateSeriesAfterTraffic) {
  startWithAdmin();
  auto c = proxyClient();
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(str(c->command({"SET", "t" + std::to_string(i), "v"})), "OK");
  }
  auto [status, body] = httpGet(admin_port, "/metrics");
  ASSERT_EQ(status, 200);
  for (const auto& n : cluster.nodes()) {
    const std::string node = "node=\"127.0.0.1:" + std::to_string(n.port) + "\"";
    EXPECT_GT(sampleValue(body, "slotwise_backend_request_duration_seconds_count{" + node + "}"), 0)
        << node << "\n" << body;
    const std::string connected = "slotwise_backend_connections{" + node + ",state=\"connected\"}";
    EXPECT_GE(sampleValue(body, connected), 1);
    EXPECT_GT(sampleValue(body, "slotwise_backend_bytes_sent_total{" + node + "}"), 0);
    EXPECT_GT(sampleValue(body, "slotwise_backend_bytes_received_total{" + node + "}"), 0);
  }
  EXPECT_GT(sampleValue(body, "slotwise_client_bytes_received_total"), 200 * 20);
  EXPECT_GT(sampleValue(body, "slotwise_client_bytes_sent_total"), 200 * 4);
  for (int w = 0; w < workers; ++w) {
    const std::string worker = "{worker=\"" + std::to_string(w) + "\"}";
    double lag = sampleValue(body, "slotwise_event_loop_lag_seconds" + worker);
    EXPECT_GE(lag, 0) << body;
    EXPECT_LT(lag, 1.0);
  }
  EXPECT_EQ(sampleValue(body, "slotwise_redirects_total{kind=\"clusterdown\"}"), 0);

  auto gauge = [&](const std::string& series) {
    return sampleValue(httpGet(admin_port, "/metrics").body, series);
  };
  auto sub = proxyClient();
  ASSERT_EQ(sub->command({"SUBSCRIBE", "ops-news"}).type, resp::ValueType::kArray);
  EXPECT_TRUE(cluster.waitFor([&] { return gauge("slotwise_pubsub_clients") == 1; }, 5000ms));
  EXPECT_GE(gauge("slotwise_backend_dedicated_connections_in_use"), 1);
  sub->close();
  EXPECT_TRUE(cluster.waitFor([&] { return gauge("slotwise_pubsub_clients") == 0; }, 5000ms));

  auto blocked = proxyClient();
  ASSERT_TRUE(blocked->sendRaw("*3\r\n$5\r\nBLPOP\r\n$7\r\nopsq{1}\r\n$1\r\n0\r\n"));
  EXPECT_TRUE(cluster.waitFor([&] { return gauge("slotwise_blocked_clients") == 1; }, 5000ms));
  EXPECT_EQ(c->command({"LPUSH", "opsq{1}", "x"}).integer, 1);
  auto popped = blocked->readReply();
  ASSERT_TRUE(popped.has_value());
  EXPECT_EQ(popped->elements.size(), 2u);
  EXPECT_TRUE(cluster.waitFor([&] { return gauge("slotwise_blocked_clients") == 0; }, 5000ms));
}

TEST_F(ProxyAdminTest, ClientsRefusedOverMaxClientsAreCounted) {
  // 2, not 1: the fixture's own start-up connections must fit while it waits for the proxy.
  limits_yaml = "  max_clients: 2\n";
  startWithAdmin();
  auto first = proxyClient();
  ASSERT_EQ(str(first->command({"PING"})), "PONG");
  auto second = proxyClient();
  ASSERT_EQ(str(second->command({"PING"})), "PONG");
  auto third = proxyClient();
  EXPECT_TRUE(third->isClosedByPeer(5000ms));
  auto [status, body] = httpGet(admin_port, "/metrics");
  const std::string rejected = "slotwise_client_connections_rejected_total{reason=\"max_clients\"}";
  EXPECT_EQ(sampleValue(body, rejected), 1) << body;
}

// /readyz: ready with the full map; unready as soon as a master is unreachable (its connections
// drop at once, before the cluster fails over); ready again once the replica is promoted and
// the proxy has the new map.
TEST_F(ProxyAdminTest, ReadyzFollowsMasterReachabilityThroughFailover) {
  cluster_options.replicas_per_master = 1;
  cluster_options.node_timeout_ms = 1000;
  cluster_yaml = "  refresh_interval_ms: 500\n";
  startWithAdmin();
  auto readyz = [&] { return httpGet(admin_port, "/readyz"); };
  HttpResult r;
  ASSERT_TRUE(cluster.waitFor([&] { return (r = readyz()).status == 200; }, 10000ms)) << r.body;
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "ready-key", "v"})), "OK");
  const uint16_t victim = cluster.masterPortForSlot(RedisClusterHarness::keySlot("ready-key"));
  ASSERT_NE(victim, 0);
  ASSERT_TRUE(cluster.killNode(victim));
  EXPECT_TRUE(cluster.waitFor([&] { return (r = readyz()).status == 503; }, 3000ms)) << r.body;
  EXPECT_NE(r.body.find("127.0.0.1:" + std::to_string(victim)), std::string::npos) << r.body;
  // The replica takes over after cluster-node-timeout; traffic and the refresh interval bring the
  // new map in.
  EXPECT_TRUE(cluster.waitFor([&] {
    c->command({"GET", "ready-key"});
    return (r = readyz()).status == 200;
  }, 30000ms)) << r.body << "\n" << proxy.log();
  EXPECT_NE(cluster.masterPortForSlot(RedisClusterHarness::keySlot("ready-key")), victim);
}

}  // namespace
}  // namespace slotwise::test
