#include "tests/support/tls_test_env.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "tests/support/redis_harness.h"

namespace slotwise::test {
namespace {

// Runs a shell command line; aborts with its output on failure.
void run(const std::string& command) {
  const std::string line = command + " 2>&1";
  FILE* pipe = popen(line.c_str(), "r");
  std::string output;
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = pipe != nullptr ? pclose(pipe) : -1;
  if (status != 0) {
    std::cerr << "TLS test certificates: `" << command << "` failed:\n" << output << std::endl;
    std::abort();
  }
}

// A CA (self-signed) at <dir>/<name>.crt/.key.
void makeCa(const std::string& dir, const std::string& name) {
  run("openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 2 -subj '/CN=" + name +
      "' -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name + ".crt");
}

// A leaf certificate <dir>/<name>.crt/.key signed by <dir>/<ca>.crt.
void makeLeaf(const std::string& dir, const std::string& name, const std::string& ca,
              const std::string& cn) {
  const std::string base = dir + "/" + name;
  run("openssl req -new -nodes -newkey rsa:2048 -subj '/CN=" + cn + "' -keyout " + base +
      ".key -out " + base + ".csr");
  run("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
      "clientAuth\\n' > " +
      base + ".ext");
  run("openssl x509 -req -sha256 -days 2 -in " + base + ".csr -CA " + dir + "/" + ca +
      ".crt -CAkey " + dir + "/" + ca + ".key -CAcreateserial -out " + base + ".crt -extfile " +
      base + ".ext");
}

TestCerts generate(const std::string& dir) {
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeLeaf(dir, "server", "ca", "localhost");
  makeLeaf(dir, "client", "ca", "slotwise-test-client");
  makeLeaf(dir, "other-client", "other-ca", "slotwise-test-intruder");
  makeLeaf(dir, "other-server", "other-ca", "localhost");
  TestCerts c;
  c.dir = dir;
  c.ca_file = dir + "/ca.crt";
  c.server_cert = dir + "/server.crt";
  c.server_key = dir + "/server.key";
  c.client_cert = dir + "/client.crt";
  c.client_key = dir + "/client.key";
  c.other_ca_file = dir + "/other-ca.crt";
  c.other_client_cert = dir + "/other-client.crt";
  c.other_client_key = dir + "/other-client.key";
  c.other_server_cert = dir + "/other-server.crt";
  c.other_server_key = dir + "/other-server.key";
  return c;
}

}  // namespace

const TestCerts& testCerts() {
  // Function statics: the directory outlives every test and is removed at exit.
  static const std::unique_ptr<TempDir> dir = std::make_unique<TempDir>("slotwise-tls");
  static const TestCerts certs = generate(dir->path());
  return certs;
}

namespace {
bool& tlsModeFlag() {
  static bool on = [] {
    const char* env = std::getenv("SLOTWISE_TEST_TLS");
    return env != nullptr && std::string(env) == "1";
  }();
  return on;
}
}  // namespace

bool tlsMode() { return tlsModeFlag(); }
void setTlsMode(bool on) { tlsModeFlag() = on; }

std::vector<std::string> redisTlsArgs(uint16_t port) {
  const TestCerts& c = testCerts();
  return {"--port",
          "0",
          "--tls-port",
          std::to_string(port),
          "--tls-cert-file",
          c.server_cert,
          "--tls-key-file",
          c.server_key,
          "--tls-ca-cert-file",
          c.ca_file,
          "--tls-auth-clients",
          "optional",
          "--tls-cluster",
          "yes",
          "--tls-replication",
          "yes"};
}

std::string redisCliTlsFlags() {
  if (!tlsMode()) return "";
  const TestCerts& c = testCerts();
  return " --tls --cacert " + c.ca_file + " --cert " + c.client_cert + " --key " + c.client_key;
}

std::string proxyTlsListenYaml(uint16_t port, bool mutual) {
  const TestCerts& c = testCerts();
  return "tls:\n  listen: 127.0.0.1:" + std::to_string(port) + "\n  cert_file: " + c.server_cert +
         "\n  key_file: " + c.server_key + "\n" + (mutual ? "  ca_file: " + c.ca_file + "\n" : "");
}

std::string proxyBackendTlsYaml() {
  const TestCerts& c = testCerts();
  return "  tls:\n    enabled: true\n    ca_file: " + c.ca_file +
         "\n    cert_file: " + c.client_cert + "\n    key_file: " + c.client_key + "\n";
}

}  // namespace slotwise::test
