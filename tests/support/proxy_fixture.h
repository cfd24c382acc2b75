// Shared fixture for integration tests: a real Redis Cluster (RedisClusterHarness) plus the real
// slotwise binary (ProxyProcess) in front of it, and helpers to talk to both.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/redis_harness.h"

namespace slotwise::test {

class ProxyClusterTest : public ::testing::Test {
 protected:
  // Options a test may change before startAll().
  RedisClusterHarness::Options cluster_options;
  // Extra YAML appended to the generated proxy config (top-level keys).
  std::string extra_yaml;
  // Extra lines inside the generated `cluster:` and `backend:` sections.
  std::string cluster_yaml;
  std::string backend_yaml;
  std::string limits_yaml;
  // TLS mode only (tls_test_env.h): clients must present a certificate; extra lines in `tls:`.
  bool tls_mutual = false;
  std::string tls_yaml;
  int workers = 2;

  void SetUp() override;
  // Starts the cluster and the proxy; fails the test (fatally) if either does not come up.
  void startAll();
  std::string proxyConfig() const;

  // A new client connected to the proxy.
  std::unique_ptr<SyncRedisClient> proxyClient();
  // A client of the node that currently owns `key`'s slot (direct, no proxy).
  SyncRedisClient& ownerOf(const std::string& key);

  static std::string str(const resp::RespValue& v);  // bulk/simple string or "<type>" text

  RedisClusterHarness cluster;
  ProxyProcess proxy;
  uint16_t proxy_port = 0;
};

}  // namespace slotwise::test
