// Admin HTTP endpoints and metrics against a real cluster, checked with promtool and scraped by a
// real Prometheus server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
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

}  // namespace
}  // namespace slotwise::test
