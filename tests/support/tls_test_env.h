// TLS material and the TLS test mode of the harness.
//
// testCerts() generates, once per test process and with the real `openssl` command line, a CA, a
// server certificate for localhost / 127.0.0.1 (used by redis-server and the proxy), a client
// certificate of the same CA, and a second, unrelated CA with its own client certificate (for
// "wrong CA" cases). Files live in a temporary directory removed at exit.
//
// With SLOTWISE_TEST_TLS=1 in the environment, the harness runs in TLS mode: every redis-server it
// starts listens on TLS only (`--port 0 --tls-port P`, tls-cluster and tls-replication on), every
// SyncRedisClient speaks TLS, and ProxyClusterTest's proxy serves its clients on a TLS port and
// reaches the nodes over TLS. ctest runs the cluster suites a second time in this mode.
#pragma once

#include <string>
#include <vector>

namespace slotwise::test {

struct TestCerts {
  std::string dir;
  std::string ca_file;
  std::string server_cert, server_key;              // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::string client_cert, client_key;              // signed by ca_file
  std::string other_ca_file;                        // an unrelated CA
  std::string other_client_cert, other_client_key;  // signed by other_ca_file
  std::string other_server_cert, other_server_key;  // localhost, signed by other_ca_file
};

// The certificates, generated on first use. Aborts the process with a message if `openssl`
// fails (the TLS tests cannot run without them).
const TestCerts& testCerts();

// SLOTWISE_TEST_TLS=1 (see above), or what setTlsMode() set last.
bool tlsMode();
// Switches TLS mode for this process (a TLS test fixture's SetUp / TearDown). Affects clients,
// servers and proxies created afterwards.
void setTlsMode(bool on);

// redis-server arguments serving TLS only on `port` with testCerts() (clients may present a
// certificate; cluster bus and replication over TLS).
std::vector<std::string> redisTlsArgs(uint16_t port);

// " --tls --cacert ... --cert ... --key ..." for redis-cli in tlsMode(), else "".
std::string redisCliTlsFlags();

// The YAML of ProxyClusterTest's proxy in tlsMode(): the TLS port (instead of `listen`) and
// backend.tls, to be placed at the top level and inside `backend:` respectively.
// `mutual`: clients must present a certificate of testCerts().ca_file.
std::string proxyTlsListenYaml(uint16_t port, bool mutual = false);
std::string proxyBackendTlsYaml();

}  // namespace slotwise::test
