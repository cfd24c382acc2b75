#include "support/proxy_fixture.h"

#include "resp/encoder.h"
#include "tests/support/tls_test_env.h"

namespace slotwise::test {

void ProxyClusterTest::SetUp() {
  if (!redisServerAvailable()) GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
}

std::string ProxyClusterTest::proxyConfig() const {
  // TLS mode (tls_test_env.h): clients reach the proxy on its TLS port, the proxy the nodes over
  // TLS; tests keep using proxy_port.
  std::string yaml = tlsMode() ? proxyTlsListenYaml(proxy_port, tls_mutual) + tls_yaml
                               : "listen: 127.0.0.1:" + std::to_string(proxy_port) + "\n";
  yaml += "workers: " + std::to_string(workers) + "\n";
  yaml += "cluster:\n  seeds: [";
  auto seeds = cluster.seedAddresses();
  for (size_t i = 0; i < seeds.size(); ++i) yaml += (i ? ", " : "") + seeds[i];
  yaml += "]\n  min_refresh_interval_ms: 100\n" + cluster_yaml;
  const std::string backend = backend_yaml + (tlsMode() ? proxyBackendTlsYaml() : "");
  if (!backend.empty()) yaml += "backend:\n" + backend;
  if (!limits_yaml.empty()) yaml += "limits:\n" + limits_yaml;
  yaml += "log:\n  level: debug\n";
  yaml += extra_yaml;
  return yaml;
}

void ProxyClusterTest::startAll() {
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  proxy_port = pickFreePort();
  ASSERT_TRUE(proxy.start(proxyConfig())) << proxy.error() << "\n" << proxy.log();
  if (tlsMode()) {  // the TLS run really runs over TLS (the port accepts before that log line)
    ASSERT_TRUE(cluster.waitFor([&] { return proxy.log().find(" (TLS) ") != std::string::npos; },
                                std::chrono::milliseconds(10000)))
        << proxy.log();
  }
  // The port accepts before the first slot map is in; tests start once the proxy routes keys
  // (a cluster-wide DBSIZE needs the map), so that every test sees a ready proxy.
  SyncRedisClient probe;
  ASSERT_TRUE(probe.connect("127.0.0.1", proxy_port)) << probe.lastError();
  ASSERT_TRUE(cluster.waitFor([&] {
    return probe.command({"DBSIZE"}).type == resp::ValueType::kInteger;
  }, std::chrono::milliseconds(15000))) << proxy.log();
  // QUIT: the proxy forgets this client before the close becomes visible here, so limits such as
  // max_clients see only the test's own connections.
  probe.command({"QUIT"});
  ASSERT_TRUE(probe.isClosedByPeer(std::chrono::milliseconds(5000)));
}

std::unique_ptr<SyncRedisClient> ProxyClusterTest::proxyClient() {
  auto c = std::make_unique<SyncRedisClient>();
  EXPECT_TRUE(c->connect("127.0.0.1", proxy_port)) << c->lastError();
  return c;
}

SyncRedisClient& ProxyClusterTest::ownerOf(const std::string& key) {
  return cluster.client(cluster.masterPortForSlot(RedisClusterHarness::keySlot(key)));
}

std::string ProxyClusterTest::str(const resp::RespValue& v) {
  if (v.isString() || v.isError()) return v.str;
  if (v.type == resp::ValueType::kInteger) return std::to_string(v.integer);
  if (v.type == resp::ValueType::kNull) return "<null>";
  return "<" + resp::toString(v) + ">";
}

}  // namespace slotwise::test
