// TLS on both sides with real processes: certificates made by `openssl` (tls_test_env.h), a
// TLS-only Redis Cluster (--port 0 --tls-port, tls-cluster, tls-replication), TLS standalone
// servers for static sharding, the proxy's TLS port used by redis-cli, python3-redis and the
// harness client; mutual TLS, bad input on the TLS port, a node whose certificate does not verify
// and certificate rotation on SIGHUP. (The cluster suites also run whole in TLS mode: the "tls/"
// tests of ctest.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/proxy_fixture.h"
#include "support/redis_sentinel_harness.h"
#include "support/test_util.h"
#include "support/tls_test_env.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using resp::ValueType;

class ProxyTlsTest : public ProxyClusterTest {
 protected:
  void SetUp() override {
    ProxyClusterTest::SetUp();
    was_tls_ = tlsMode();
    setTlsMode(true);
  }
  void TearDown() override { setTlsMode(was_tls_); }

  // Waits until `needle` shows in the proxy's log.
  bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout = 10s) {
    return cluster.waitFor([&] { return proxy.log().find(needle) != std::string::npos; }, timeout);
  }

  // A TLS client of the proxy with explicit settings; PING's reply ("IOERR ..." when refused).
  std::string pingWith(const SyncRedisClient::TlsOptions& tls) {
    SyncRedisClient c;
    c.setTls(tls);
    if (!c.connect("127.0.0.1", proxy_port)) return "IOERR connect: " + c.lastError();
    return str(c.command({"PING"}));
  }

  bool was_tls_ = false;
};

// A plain TCP connection to `port` that sends `bytes`; true when the proxy closes it within
// `wait` (EOF or reset), reading and dropping whatever it answers.
bool sendAndExpectClose(uint16_t port, std::string_view bytes, std::chrono::milliseconds wait) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  bool closed = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      (bytes.empty() || send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) >= 0)) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    char buf[4096];
    while (waitFd(fd, POLLIN, deadline) > 0) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed = true;
        break;
      }
    }
  }
  ::close(fd);
  return closed;
}

TEST_F(ProxyTlsTest, RedisCliPythonAndTheHarnessClientWorkOverTlsOnBothSides) {
  startAll();
  const TestCerts& certs = testCerts();
  const std::string cli =
      "redis-cli --tls --cacert " + certs.ca_file + " -p " + std::to_string(proxy_port) + " ";
  std::string out;
  ASSERT_EQ(runShell(cli + "SET tls:cli hello", &out), 0) << out;
  EXPECT_EQ(out, "OK\n");
  out.clear();
  ASSERT_EQ(runShell(cli + "GET tls:cli", &out), 0) << out;
  EXPECT_EQ(out, "hello\n");

  // python3-redis with ssl=True (verifying the proxy's certificate against the CA).
  const std::string script =
      "import redis\n"
      "r = redis.Redis(host=\"127.0.0.1\", port=" +
      std::to_string(proxy_port) + ", ssl=True, ssl_ca_certs=\"" + certs.ca_file +
      "\")\n"
      "r.set(\"tls:py\", 41)\n"
      "print(r.incr(\"tls:py\"))\n"
      "p = r.pipeline(transaction=False)\n"
      "for i in range(200): p.set(\"tls:pipe:%d\" % i, i)\n"
      "p.execute()\n"
      "print(sum(int(v) for v in r.mget([\"tls:pipe:%d\" % i for i in range(200)])))\n"
      "print(r.get(\"tls:cli\").decode())\n";
  out.clear();
  ASSERT_EQ(runShell("/usr/bin/python3 -c '" + script + "'", &out), 0) << out;
  EXPECT_EQ(out, "42\n19900\nhello\n");

  // The same keys directly on the TLS-only nodes (the harness client speaks TLS to them).
  EXPECT_EQ(str(ownerOf("tls:py").command({"GET", "tls:py"})), "42");
  EXPECT_EQ(str(ownerOf("tls:pipe:7").command({"GET", "tls:pipe:7"})), "7");

  // A big value crosses many TLS records both ways.
  auto c = proxyClient();
  const std::string big(3 * 1024 * 1024 + 17, 'x');
  ASSERT_EQ(str(c->command({"SET", "tls:big", big})), "OK");
  EXPECT_EQ(str(c->command({"GET", "tls:big"})).size(), big.size());

  // Plain RESP on the TLS port is not answered in plaintext; the connection closes.
  EXPECT_TRUE(sendAndExpectClose(proxy_port, "PING\r\n", 5s));
  EXPECT_EQ(str(c->command({"GET", "tls:cli"})), "hello");
  EXPECT_TRUE(proxy.log().find("slotwise_tls") == std::string::npos);  // no secret in the log
}

TEST_F(ProxyTlsTest, MutualTlsAcceptsItsCaAndRefusesNoCertificateOrAnotherCa) {
  tls_mutual = true;
  startAll();
  const TestCerts& certs = testCerts();
  EXPECT_EQ(pingWith({certs.ca_file, certs.client_cert, certs.client_key}), "PONG");
  const std::string without = pingWith({certs.ca_file, "", ""});
  EXPECT_EQ(without.rfind("IOERR", 0), 0u) << without;
  const std::string intruder =
      pingWith({certs.ca_file, certs.other_client_cert, certs.other_client_key});
  EXPECT_EQ(intruder.rfind("IOERR", 0), 0u) << intruder;
  EXPECT_TRUE(waitForLog("TLS:")) << proxy.log();
  // Clients with a good certificate are unaffected.
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"SET", "mtls", "1"})), "OK");
  EXPECT_EQ(str(c->command({"GET", "mtls"})), "1");
}

TEST_F(ProxyTlsTest, BadInputOnTheTlsPortClosesThatConnectionOnlyWithoutMemoryGrowth) {
  tls_yaml = "  handshake_timeout_ms: 1000\n";
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan freed blocks sit in a quarantine (256 MiB by default): the proxy gets a 16 MiB one
  // (as in proxy_badinput_itest.cc) and the bound below an allowance for it and the shadow memory.
  const char* opts = std::getenv("ASAN_OPTIONS");
  const std::string saved = opts != nullptr ? opts : "";
  ::setenv("ASAN_OPTIONS", (saved + ":quarantine_size_mb=16").c_str(), 1);
  startAll();
  ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  constexpr long kAllowanceKiB = 4 * 1024 + 96 * 1024;
#else
  startAll();
  constexpr long kAllowanceKiB = 4 * 1024;
#endif
  auto good = proxyClient();
  ASSERT_EQ(str(good->command({"SET", "steady", "1"})), "OK");

  // Clients that stop in the middle of a handshake (a TLS record header, then nothing) are
  // closed by tls.handshake_timeout_ms; meanwhile everything else goes on.
  std::vector<std::thread> stalled;
  std::atomic<int> stalled_closed{0};
  for (int i = 0; i < 20; ++i) {
    stalled.emplace_back([&] {
      if (sendAndExpectClose(proxy_port, std::string("\x16\x03\x01\x02\x00\x01", 6), 5s)) {
        ++stalled_closed;
      }
    });
  }

  // Warm up (allocator, session structures), then 10,000 bad connections of three kinds.
  for (int i = 0; i < 200; ++i) sendAndExpectClose(proxy_port, "PING\r\n", 2s);
  const long rss_before = proxy.rssKiB();
  std::string garbage;
  for (int i = 0; i < 300; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  const std::string bad_record = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'z');
  int closed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) {
    const std::string_view bytes = i % 3 == 0   ? std::string_view("*1\r\n$4\r\nPING\r\n")
                                   : i % 3 == 1 ? std::string_view(garbage)
                                                : std::string_view(bad_record);
    closed += sendAndExpectClose(proxy_port, bytes, 2s) ? 1 : 0;
    if (i % 1000 == 0) {
      ASSERT_EQ(str(good->command({"INCR", "steady"})), std::to_string(2 + i / 1000));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : stalled) t.join();
  const long rss_after = proxy.rssKiB();
  EXPECT_EQ(closed, 10000);
  EXPECT_EQ(stalled_closed.load(), 20);
  ASSERT_GT(rss_before, 0);
  std::cout << "bad TLS connections: 10000 in " << seconds << " s; RSS before " << rss_before
            << " KiB, after " << rss_after << " KiB (" << (rss_after - rss_before) << " KiB)\n";
  EXPECT_LT(rss_after - rss_before, kAllowanceKiB) << "RSS grew by more than the bound";
  EXPECT_EQ(str(good->command({"GET", "steady"})), "11");
  auto fresh = proxyClient();
  EXPECT_EQ(str(fresh->command({"GET", "steady"})), "11");
  EXPECT_EQ(proxy.waitExit(0ms), -1) << "the proxy must still run";
}

TEST_F(ProxyTlsTest, NodeCertificateThatDoesNotVerifyIsRefusedWithAClearLogLine) {
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  proxy_port = pickFreePort();
  const uint16_t plain_port = pickFreePort();
  const TestCerts& certs = testCerts();
  // The nodes' certificates come from ca.crt; the proxy trusts only other-ca.crt.
  std::string yaml = "listen: 127.0.0.1:" + std::to_string(plain_port) + "\nworkers: 1\n";
  yaml += "cluster:\n  seeds: [" + cluster.seedAddresses().front() + "]\n";
  yaml += "backend:\n  tls:\n    enabled: true\n    ca_file: " + certs.other_ca_file + "\n";
  yaml += "  connect_timeout_ms: 500\n  retry_deadline_ms: 300\n";
  ASSERT_TRUE(proxy.start(yaml)) << proxy.error();
  EXPECT_TRUE(waitForLog("certificate verify failed")) << proxy.log();
  SyncRedisClient c;
  c.setTls(std::nullopt);
  ASSERT_TRUE(c.connect("127.0.0.1", plain_port)) << c.lastError();
  const resp::RespValue r = c.command({"GET", "k"});
  EXPECT_EQ(r.type, ValueType::kError) << str(r);
  EXPECT_EQ(str(r).rfind("IOERR", 0), std::string::npos) << "a clear RESP error, not a close";
  EXPECT_EQ(str(c.command({"PING"})), "PONG");
  EXPECT_EQ(proxy.log().find("BEGIN"), std::string::npos) << "no key material in the log";
}

TEST_F(ProxyTlsTest, CertificatesRotateOnSighupWithoutDroppingConnections) {
  const TestCerts& certs = testCerts();
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  namespace fs = std::filesystem;
  const std::string cert = cluster.dir() + "/proxy.crt";
  const std::string key = cluster.dir() + "/proxy.key";
  fs::copy_file(certs.server_cert, cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs.server_key, key, fs::copy_options::overwrite_existing);
  proxy_port = pickFreePort();
  std::string yaml = "tls:\n  listen: 127.0.0.1:" + std::to_string(proxy_port) +
                     "\n  cert_file: " + cert + "\n  key_file: " + key + "\nworkers: 2\n";
  yaml += "cluster:\n  seeds: [" + cluster.seedAddresses().front() + "]\n";
  yaml += "backend:\n" + proxyBackendTlsYaml();
  ASSERT_TRUE(proxy.start(yaml)) << proxy.error();
  const SyncRedisClient::TlsOptions old_ca{certs.ca_file, "", ""};
  const SyncRedisClient::TlsOptions new_ca{certs.other_ca_file, "", ""};
  ASSERT_TRUE(cluster.waitFor([&] { return pingWith(old_ca) == "PONG"; }, 10s)) << proxy.log();
  SyncRedisClient established;
  established.setTls(old_ca);
  ASSERT_TRUE(established.connect("127.0.0.1", proxy_port)) << established.lastError();
  ASSERT_TRUE(cluster.waitFor(
      [&] {
        return str(established.command({"SET", "rot", "1"})) == "OK";
      },
      10s));

  // Rotation: new files at the same paths, SIGHUP.
  fs::copy_file(certs.other_server_cert, cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs.other_server_key, key, fs::copy_options::overwrite_existing);
  proxy.stop(SIGHUP);
  ASSERT_TRUE(waitForLog("TLS certificates and keys reloaded")) << proxy.log();
  EXPECT_EQ(str(established.command({"INCR", "rot"})), "2") << "the open connection stays";
  EXPECT_EQ(pingWith(new_ca), "PONG");
  EXPECT_EQ(pingWith(old_ca).rfind("IOERR", 0), 0u) << "new connections get the new certificate";

  // A bad new certificate is refused; the running one stays.
  std::ofstream(cert, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnot a certificate\n";
  proxy.stop(SIGHUP);
  ASSERT_TRUE(waitForLog("the running certificates stay")) << proxy.log();
  EXPECT_EQ(pingWith(new_ca), "PONG");
  EXPECT_EQ(str(established.command({"INCR", "rot"})), "3");
}

TEST_F(ProxyTlsTest, StaticServersOverTls) {
  TempDir dir("slotwise-tls-static");
  RedisServerProcess a, b;
  const uint16_t pa = pickFreePort(), pb = pickFreePort();
  ASSERT_TRUE(a.start(pa, dir.path())) << a.error();  // TLS only (tlsMode)
  ASSERT_TRUE(b.start(pb, dir.path())) << b.error();
  proxy_port = pickFreePort();
  std::string yaml = proxyTlsListenYaml(proxy_port) + "workers: 1\n";
  yaml += "static:\n  hash: fnv1a_64\n  distribution: ketama\n  servers:\n";
  yaml += "    - 127.0.0.1:" + std::to_string(pa) + ":1 a\n";
  yaml += "    - 127.0.0.1:" + std::to_string(pb) + ":1 b\n";
  yaml += "backend:\n" + proxyBackendTlsYaml();
  ASSERT_TRUE(proxy.start(yaml)) << proxy.error();
  auto c = proxyClient();
  for (int i = 0; i < 200; ++i) {
    const std::string k = "st:" + std::to_string(i);
    ASSERT_TRUE(cluster.waitFor(
        [&] {
          return str(c->command({"SET", k, k})) == "OK";
        },
        10s))
        << proxy.log();
  }
  SyncRedisClient da, db;
  ASSERT_TRUE(da.connect("127.0.0.1", pa)) << da.lastError();
  ASSERT_TRUE(db.connect("127.0.0.1", pb)) << db.lastError();
  const int64_t na = da.command({"DBSIZE"}).integer, nb = db.command({"DBSIZE"}).integer;
  EXPECT_EQ(na + nb, 200);
  EXPECT_GT(na, 0);
  EXPECT_GT(nb, 0);
  EXPECT_EQ(str(c->command({"GET", "st:123"})), "st:123");
  EXPECT_EQ(c->command({"DBSIZE"}).integer, 200);
}

// A Sentinel-managed group where sentinels and data nodes speak TLS only: discovery, the +switch-
// master subscription and the data path over TLS, through a SENTINEL FAILOVER.
TEST_F(ProxyTlsTest, SentinelGroupOverTlsFailsOver) {
  if (!redisSentinelAvailable()) GTEST_SKIP() << "redis-sentinel is not installed";
  RedisSentinelGroup group;
  RedisSentinelGroup::Options options;
  options.replicas = 1;
  ASSERT_TRUE(group.start(options)) << group.error();
  const uint16_t old_master = group.masterPort("mymaster");
  ASSERT_NE(old_master, 0);
  proxy_port = pickFreePort();
  std::string yaml = proxyTlsListenYaml(proxy_port) + "workers: 2\nsentinel:\n  sentinels: [";
  const std::vector<std::string> sentinels = group.sentinelAddresses();
  for (size_t i = 0; i < sentinels.size(); ++i) yaml += (i ? ", " : "") + sentinels[i];
  yaml += "]\n  masters: [mymaster]\nlog:\n  level: debug\nbackend:\n  retry_deadline_ms: 10000\n" +
          proxyBackendTlsYaml();
  ASSERT_TRUE(proxy.start(yaml)) << proxy.error();
  auto c = proxyClient();
  ASSERT_TRUE(group.waitFor(
      [&] {
        return str(c->command({"SET", "s", "1"})) == "OK";
      },
      10s))
      << proxy.log();
  EXPECT_EQ(str(group.client(old_master).command({"GET", "s"})), "1");
  ASSERT_TRUE(group.failover("mymaster")) << group.error();
  const uint16_t new_master = group.waitForNewMaster("mymaster", old_master, 30s);
  ASSERT_NE(new_master, 0) << group.describeState();
  // Writes through the proxy land on the new master (the old one stays a master for a while
  // before the sentinels convert it, so only the new master's value proves the switch).
  std::string last;
  ASSERT_TRUE(group.waitFor(
      [&] {
        last = str(c->command({"INCR", "s"}));
        return !last.empty() && str(group.client(new_master).command({"GET", "s"})) == last;
      },
      15s))
      << last << "\n"
      << proxy.log();
  EXPECT_EQ(group.role(new_master), "master");
}

}  // namespace
}  // namespace slotwise::test
