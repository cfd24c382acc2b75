// Two Slotwise instances behind a real HAProxy (Debian `haproxy`) on loopback, the deployment of
// deploy/haproxy/haproxy.cfg in miniature: TCP mode, health check `GET /readyz` on each
// instance's admin port, `option redispatch`.
//
//   clients (threads) --> haproxy 127.0.0.1:H --leastconn--> slotwise A (admin a) --> cluster
//                                                     \----> slotwise B (admin b) --/
//
// A client workload of INCRs runs through HAProxy while instance A gets SIGTERM (drain) and is
// later replaced by a new process on the same ports. Clients reconnect when their connection
// closes and resend only the command that got no reply; such sends are counted as "unacked"
// because the proxy may or may not have executed them. At the end every counter read directly
// from its master must lie in [acked, acked + unacked].
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "resp/encoder.h"
#include "support/child_process.h"
#include "support/http_get.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using resp::RespValue;
using resp::ValueType;

constexpr char kHaproxyBinary[] = "/usr/sbin/haproxy";
constexpr int kClients = 6;
constexpr int kCounters = 8;
// Hard stop for the worker threads even if the test body bails out early.
constexpr auto kWorkloadLimit = 25s;


// Sum of every sample of `family` (all label sets) in a Prometheus text scrape; -1 if absent.
double metricSum(const std::string& scrape, const std::string& family) {
  std::istringstream lines(scrape);
  std::string line;
  double sum = -1;
  while (std::getline(lines, line)) {
    if (line.rfind(family, 0) != 0) continue;
    const char next = line.size() > family.size() ? line[family.size()] : '\0';
    if (next != '{' && next != ' ') continue;  // a longer name sharing the prefix
    sum = (sum < 0 ? 0 : sum) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// `"connected":N` from /api/clients; -1 if the endpoint or the field is missing.
int connectedClients(uint16_t admin_port) {
  auto [status, body] = httpGet(admin_port, "/api/clients");
  const size_t at = body.find("\"connected\":");
  if (status != 200 || at == std::string::npos) return -1;
  return std::atoi(body.c_str() + at + 12);
}

// What one workload client saw. Written only by its thread; read after join().
struct ClientStats {
  std::array<int64_t, kCounters> acked{};    // INCRs answered with an integer
  std::array<int64_t, kCounters> unacked{};  // INCR sends that got no reply (may have executed)
  int losses = 0;             // connections that closed under a pending command
  int failures = 0;           // error replies or non-integer replies: must stay 0
  std::string first_failure;  // the first such reply, for the failure message
};

// Runs kClients threads, each with its own connection to HAProxy, INCRing counter keys in turn.
// A lost connection is reopened and only the unanswered command is sent again. bumpEpoch() asks
// every client to close and reopen its connection between two commands (connection churn, so
// that a replacement instance gets new connections). The destructor stops and joins.
class Workload {
 public:
  Workload(uint16_t haproxy_port, std::vector<std::string> keys)
      : port_(haproxy_port), keys_(std::move(keys)), stats_(kClients) {
    for (int i = 0; i < kClients; ++i) threads_.emplace_back([this, i] { run(stats_[i], i); });
  }
  ~Workload() { stop(); }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Stops all clients after their current command and joins them. Idempotent.
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void bumpEpoch() { epoch_.fetch_add(1); }
  int64_t totalAcked() const { return total_acked_.load(); }
  // Valid after stop(); one entry per client.
  const std::vector<ClientStats>& stats() const { return stats_; }

 private:
  void run(ClientStats& st, int index) {
    const auto deadline = std::chrono::steady_clock::now() + kWorkloadLimit;
    SyncRedisClient client;
    client.setCommandTimeout(3s);
    int seen_epoch = epoch_.load();
    size_t next = static_cast<size_t>(index);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      if (epoch_.load() != seen_epoch) {  // between commands: nothing is in flight
        seen_epoch = epoch_.load();
        client.close();
      }
      if (!client.connected() && !client.connect("127.0.0.1", port_, 1s)) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      if (incrOnce(client, st, next % keys_.size())) ++next;
    }
  }

  // Sends one INCR. @return true if it was answered (so the next key is due), false if the
  // connection was lost and the same command must be sent again on a new connection.
  bool incrOnce(SyncRedisClient& client, ClientStats& st, size_t k) {
    const RespValue reply = client.command({"INCR", keys_[k]});
    if (reply.type == ValueType::kInteger) {
      ++st.acked[k];
      total_acked_.fetch_add(1);
      return true;
    }
    if (reply.isError() && reply.str.rfind("IOERR", 0) == 0) {
      ++st.unacked[k];
      ++st.losses;
      client.close();
      return false;
    }
    if (st.failures++ == 0) st.first_failure = resp::toString(reply);
    return true;
  }

  const uint16_t port_;
  const std::vector<std::string> keys_;
  std::vector<ClientStats> stats_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> epoch_{0};
  std::atomic<int64_t> total_acked_{0};
};

class HaproxyTest : public ProxyClusterTest {
 protected:
  struct Instance {
    uint16_t port = 0;
    uint16_t admin_port = 0;
    std::unique_ptr<ProxyProcess> process;
  };

  void SetUp() override {
    ProxyClusterTest::SetUp();
    if (IsSkipped()) return;
    if (::access(kHaproxyBinary, X_OK) != 0) {
      GTEST_SKIP() << kHaproxyBinary << " is missing (apt-get install haproxy)";
    }
  }

  void TearDown() override { stopHaproxy(); }

  // Config of one instance: the fixture's generated config with its own listen and admin ports.
  std::string instanceConfig(const Instance& in) {
    proxy_port = in.port;
    extra_yaml = "admin:\n  listen: 127.0.0.1:" + std::to_string(in.admin_port) + "\n";
    return proxyConfig();
  }

  // Starts (or restarts, as a new process on the same ports) instance `i`.
  bool startInstance(int i) {
    Instance& in = instances_[i];
    in.process = std::make_unique<ProxyProcess>();
    if (in.process->start(instanceConfig(in))) return true;
    ADD_FAILURE() << "instance " << i << ": " << in.process->error() << "\n" << in.process->log();
    return false;
  }

  std::string haproxyConfig() const {
    std::string cfg =
        "global\n  maxconn 1000\n"
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n"
        "  timeout server 30s\n  timeout check 1s\n  retries 3\n  option redispatch 1\n"
        "frontend redis_in\n  bind 127.0.0.1:" + std::to_string(haproxy_port_) + "\n"
        "  default_backend slotwise\n"
        "backend slotwise\n  balance leastconn\n  option httpchk\n"
        "  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host slotwise\n"
        "  http-check expect status 200\n"
        "  default-server check inter 200ms fall 2 rise 2\n";
    for (int i = 0; i < 2; ++i) {
      cfg += "  server s" + std::to_string(i) + " 127.0.0.1:" +
             std::to_string(instances_[i].port) + " port " +
             std::to_string(instances_[i].admin_port) + "\n";
    }
    cfg += "listen stats\n  mode http\n  bind 127.0.0.1:" + std::to_string(stats_port_) +
           "\n  stats enable\n  stats uri /stats\n";
    return cfg;
  }

  // Writes the config into a TempDir and runs `haproxy -db -f <cfg>` in the foreground.
  bool startHaproxy() {
    haproxy_dir_ = std::make_unique<TempDir>("slotwise-haproxy-");
    haproxy_port_ = pickFreePort();
    stats_port_ = pickFreePort();
    const std::string cfg_path = haproxy_dir_->path() + "/haproxy.cfg";
    std::ofstream(cfg_path) << haproxyConfig();
    std::string error;
    haproxy_pid_ = spawnChild({kHaproxyBinary, "-db", "-f", cfg_path},
                              haproxy_dir_->path() + "/haproxy.log", &error);
    if (haproxy_pid_ > 0) return true;
    ADD_FAILURE() << "haproxy did not start: " << error;
    return false;
  }

  void stopHaproxy() {
    if (haproxy_pid_ > 0) terminateChild(haproxy_pid_, 2s);
    haproxy_pid_ = -1;
  }

  std::string haproxyLog() const {
    std::ifstream in(haproxy_dir_->path() + "/haproxy.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Health state ("UP", "DOWN", "UP 1/2", ...) of backend server s<i> per HAProxy's CSV stats;
  // empty if the stats page does not answer.
  std::string serverStatus(int i) {
    auto [status, body] = httpGet(stats_port_, "/stats;csv");
    if (status != 200) return "";
    std::istringstream lines(body);
    std::string line;
    const std::string prefix = "slotwise,s" + std::to_string(i) + ",";
    while (std::getline(lines, line)) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::istringstream fields(line);
      std::string field;
      for (int f = 0; f <= 17 && std::getline(fields, field, ','); ++f) {
      }
      return field;  // column 17 is `status`
    }
    return "";
  }

  bool waitServerStatus(int i, const std::string& want, std::chrono::milliseconds timeout) {
    return cluster.waitFor([&] { return serverStatus(i) == want; }, timeout);
  }

  // Requests the instance has sent to the cluster so far, from its /metrics; -1 if unavailable.
  double requestsServed(int i) {
    auto [status, body] = httpGet(instances_[i].admin_port, "/metrics");
    return status == 200 ? metricSum(body, "slotwise_requests_total") : -1;
  }

  std::array<Instance, 2> instances_;
  std::unique_ptr<TempDir> haproxy_dir_;
  uint16_t haproxy_port_ = 0;
  uint16_t stats_port_ = 0;
  pid_t haproxy_pid_ = -1;
};

// Keys spread over several slots (hence over all three masters).
std::vector<std::string> counterKeys() {
  std::vector<std::string> keys;
  for (int i = 0; i < kCounters; ++i) keys.push_back("haproxy:ctr:" + std::to_string(i));
  return keys;
}

TEST_F(HaproxyTest, WorkloadSurvivesSigtermOfOneInstanceAndReachesItsReplacement) {
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  for (auto& in : instances_) {
    in.port = pickFreePort();
    in.admin_port = pickFreePort();
  }
  ASSERT_TRUE(startInstance(0));
  ASSERT_TRUE(startInstance(1));
  ASSERT_TRUE(startHaproxy());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(waitServerStatus(i, "UP", 10s))
        << "server s" << i << " is '" << serverStatus(i) << "'\n" << haproxyLog();
  }
  const std::vector<std::string> keys = counterKeys();
  Workload workload(haproxy_port_, keys);

  // 1. Traffic flows through both instances (leastconn spreads the kClients connections).
  ASSERT_TRUE(cluster.waitFor([&] { return workload.totalAcked() >= 1000; }, 10s));
  EXPECT_GT(connectedClients(instances_[0].admin_port), 0) << "no client reached instance 0";
  EXPECT_GT(connectedClients(instances_[1].admin_port), 0) << "no client reached instance 1";

  // 2. SIGTERM instance 0 mid-run: it drains and exits 0, HAProxy marks it down, and the
  //    workload keeps going on instance 1.
  instances_[0].process->stop(SIGTERM);
  EXPECT_EQ(instances_[0].process->waitExit(8s), 0) << instances_[0].process->log();
  EXPECT_TRUE(waitServerStatus(0, "DOWN", 5s)) << "s0 is '" << serverStatus(0) << "'";
  const int64_t after_kill = workload.totalAcked();
  EXPECT_TRUE(cluster.waitFor([&] { return workload.totalAcked() >= after_kill + 1000; }, 10s))
      << "workload stalled after the SIGTERM";

  // 3. A replacement on the same ports comes back UP and gets traffic again once clients
  //    open new connections.
  ASSERT_TRUE(startInstance(0));
  ASSERT_TRUE(waitServerStatus(0, "UP", 10s)) << "s0 is '" << serverStatus(0) << "'";
  workload.bumpEpoch();
  EXPECT_TRUE(cluster.waitFor([&] { return requestsServed(0) >= 100; }, 10s))
      << "replacement instance served " << requestsServed(0) << " requests";
  EXPECT_GT(connectedClients(instances_[0].admin_port), 0);
  const int64_t after_restart = workload.totalAcked();
  EXPECT_TRUE(cluster.waitFor([&] { return workload.totalAcked() >= after_restart + 500; }, 10s));
  workload.stop();
  stopHaproxy();

  // 4. No request failed; only commands in flight when a connection closed went unanswered.
  std::array<int64_t, kCounters> acked{}, unacked{};
  int losses = 0;
  for (const ClientStats& st : workload.stats()) {
    EXPECT_EQ(st.failures, 0) << "first failed reply: " << st.first_failure;
    // Once for the drained instance; a second time only if the reconnect raced the closing
    // listener (a connection accepted by the kernel just before the listener closed).
    EXPECT_LE(st.losses, 2);
    losses += st.losses;
    for (int k = 0; k < kCounters; ++k) {
      acked[k] += st.acked[k];
      unacked[k] += st.unacked[k];
    }
  }
  EXPECT_GE(losses, 1) << "no client was on the SIGTERMed instance: the drain was not exercised";
  int64_t total_unacked = 0;
  for (int64_t u : unacked) total_unacked += u;
  std::cout << "[ haproxy  ] acked " << workload.totalAcked() << ", connections lost " << losses
            << ", unanswered sends " << total_unacked << "\n";

  // 5. The cluster holds exactly the acknowledged INCRs, plus at most the unanswered ones.
  for (int k = 0; k < kCounters; ++k) {
    const RespValue v = ownerOf(keys[k]).command({"GET", keys[k]});
    ASSERT_TRUE(v.isString()) << keys[k] << ": " << str(v);
    const int64_t value = std::stoll(v.str);
    EXPECT_GE(value, acked[k]) << keys[k] << ": acknowledged INCRs are missing";
    EXPECT_LE(value, acked[k] + unacked[k]) << keys[k] << ": more INCRs than were sent";
  }
}

}  // namespace
}  // namespace slotwise::test
