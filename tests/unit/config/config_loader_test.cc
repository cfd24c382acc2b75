#include "config/config_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace slotwise::config {

// gtest printer: configs show up as YAML in failure messages instead of a byte dump.
void PrintTo(const ProxyConfig& config, std::ostream* os) { *os << "\n" << formatConfig(config); }

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kMinimal[] = R"(
listen: 127.0.0.1:6380
workers: 2
cluster:
  seeds: [127.0.0.1:7000, 127.0.0.1:7001]
)";

const std::string kExamples = SLOTWISE_SOURCE_DIR "/deploy/examples/";

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// @return the error lines of loading `yaml`, or an empty list if it loaded.
std::vector<std::string> errorsOf(const std::string& yaml) {
  auto result = loadConfigString(yaml);
  return result ? std::vector<std::string>{} : splitLines(result.error());
}

std::string withSeeds(const std::string& yaml) {
  return yaml + "\ncluster:\n  seeds: [127.0.0.1:7000]\n";
}

// Leaf key paths of a block-style YAML text ("a:" then indented "b:" gives "a.b"); comments,
// blank lines and sequence items are skipped. A key with no nested keys (a scalar, a flow
// collection or a block sequence) is a leaf. Enough for our documentation files.
std::set<std::string> blockKeyPaths(const std::string& text) {
  struct Open {
    size_t indent;
    std::string path;
    bool has_children;
  };
  std::vector<Open> stack;
  std::set<std::string> leaves;
  auto close_deeper = [&](size_t indent) {
    while (!stack.empty() && stack.back().indent >= indent) {
      if (!stack.back().has_children) leaves.insert(stack.back().path);
      stack.pop_back();
    }
  };
  for (const std::string& line : splitLines(text)) {
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#' || line[indent] == '-') continue;
    const size_t colon = line.find(':', indent);
    if (colon == std::string::npos) continue;
    close_deeper(indent);
    if (!stack.empty()) stack.back().has_children = true;
    const std::string key = line.substr(indent, colon - indent);
    const std::string path = stack.empty() ? key : stack.back().path + "." + key;
    const size_t value = line.find_first_not_of(' ', colon + 1);
    if (value == std::string::npos || line[value] == '#') {
      stack.push_back({indent, path, false});
    } else {
      leaves.insert(path);
    }
  }
  close_deeper(0);
  return leaves;
}

TEST(BlockKeyPathsTest, FindsNestedLeavesAndBlockSequences) {
  EXPECT_EQ(blockKeyPaths("a: 1\nb:\n  c: 2  # x\n  d:\n    - 1\n# e: 3\nf:\n  g: [1]\n"),
            (std::set<std::string>{"a", "b.c", "b.d", "f.g"}));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(ConfigLoaderTest, MinimalConfigKeepsEveryDefault) {
  auto result = loadConfigString(kMinimal);
  ASSERT_TRUE(result) << result.error();
  ProxyConfig expected;
  expected.workers = 2;
  expected.cluster.seeds = {{"127.0.0.1", 7000}, {"127.0.0.1", 7001}};
  EXPECT_EQ(*result, expected);
  EXPECT_EQ(result->log.level, LogLevel::kInfo);
  EXPECT_EQ(result->backend.request_timeout, Millis(5000));
}

constexpr char kEveryKey[] = R"(
listen: "[::1]:7380"
workers: 8
accept_mode: reuseport
tcp_backlog: 1024
advertise: 10.1.2.3:6379
allow_admin_commands: true
cluster:
  seeds: [10.0.0.1:7000, "redis-a.local:7001"]
  refresh_interval_ms: 30000
  min_refresh_interval_ms: 500
  redirect_refresh_threshold: 3
  failure_refresh_threshold: 4
  query_timeout_ms: 1500
static:
  hash: murmur
  distribution: modula
  hash_tag: "{}"
  servers: []
  auto_eject_hosts: true
  server_retry_timeout_ms: 5000
  server_failure_limit: 3
sentinel:
  sentinels: []
  masters: []
  username: sentineluser
  password: sentinelpw
  hash: crc32a
  distribution: random
  hash_tag: "ab"
  poll_interval_ms: 500
  query_timeout_ms: 700
  failover_pause_ms: 2500
pools: {}
routes: []
default_pool: ""
migration:
  source:
    static:
      hash: fnv1a_64
      distribution: ketama
      hash_tag: ""
      servers: []
      auto_eject_hosts: false
      server_retry_timeout_ms: 30000
      server_failure_limit: 2
    sentinel:
      sentinels: []
      masters: []
      username: ""
      password: ""
      hash: fnv1a_64
      distribution: ketama
      hash_tag: ""
      poll_interval_ms: 1000
      query_timeout_ms: 1000
      failover_pause_ms: 5000
    servers: [10.0.0.5:6379, "[::1]:6379"]
  rate_keys_per_s: 2000
  batch_keys: 500
  max_block_ms: 20
  migrate_timeout_ms: 10000
  moved_key_cache: 0
  source_username: olduser
  source_password: oldpw
backend:
  connections_per_node: 2
  connect_timeout_ms: 250
  request_timeout_ms: 0
  script_timeout_ms: 9000
  max_redirects: 3
  tryagain_retries: 7
  tryagain_backoff_ms: 15
  retry_deadline_ms: 4000
  max_dedicated_connections: 77
  username: proxyuser
  password: "p@ss"
  read_from: prefer-replica
  replica_max_lag_ms: 3000
  tls:
    enabled: true
    server_name: redis.internal
    verify: false
    cert_file: /etc/c.crt
    key_file: /etc/c.key
    ca_file: /etc/ca.crt
    min_version: TLSv1.3
    ciphers: "HIGH:!aNULL"
    ciphersuites: TLS_AES_256_GCM_SHA384
limits:
  max_clients: 500
  max_args: 4096
  max_bulk_length: 1mb
  max_inline_length: 16KB
  max_request_bytes: 2mb
  max_pipelined_bytes: 8388608
  max_pending_requests: 128
  max_output_bytes: 1 GB
  client_idle_timeout_ms: 60000
auth:
  password: clientpw
  users: [{name: app, password: apppw, backend_username: appacl, backend_password: "b\"pw"}, {name: ro, password: x}]
  max_failures: 3
tls:
  listen: 127.0.0.1:7390
  handshake_timeout_ms: 3000
  cert_file: /etc/s.crt
  key_file: /etc/s.key
  ca_file: /etc/clients-ca.crt
  min_version: TLSv1.2
  ciphers: ""
  ciphersuites: ""
admin:
  listen: 127.0.0.1:9121
  token: s3cret
slowlog:
  threshold_us: 2500
  max_len: 64
  log_args: true
observe:
  hot_keys: false
  hot_key_capacity: 512
  hot_key_sample: 2
  hot_key_threshold_per_s: 1000
  hot_key_metric_top_n: 5
  big_value_bytes: 4096
  big_keys: 10
  max_key_bytes: 64
  redact_keys: true
log:
  level: debug
)";

TEST(ConfigLoaderTest, EveryKeyIsParsed) {
  auto result = loadConfigString(kEveryKey);
  ASSERT_TRUE(result) << result.error();
  ProxyConfig e;
  e.listen = {"::1", 7380};
  e.workers = 8;
  e.accept_mode = AcceptMode::kReuseport;
  e.tcp_backlog = 1024;
  e.advertise = {"10.1.2.3", 6379};
  e.allow_admin_commands = true;
  e.cluster = {{{"10.0.0.1", 7000}, {"redis-a.local", 7001}},
               Millis(30000),
               Millis(500),
               3,
               4,
               Millis(1500)};
  e.backend = {2,  Millis(250), Millis(0),   3,      7,
               Millis(15), Millis(4000), 77, "proxyuser", "p@ss", ReadFrom::kPreferReplica,
               Millis(3000)};
  e.backend.tls = {true,
                   {"/etc/c.crt", "/etc/c.key", "/etc/ca.crt", TlsVersion::kTls13, "HIGH:!aNULL",
                    "TLS_AES_256_GCM_SHA384"},
                   "redis.internal",
                   false};
  e.backend.script_timeout = Millis(9000);
  e.tls = {{"127.0.0.1", 7390},
           {"/etc/s.crt", "/etc/s.key", "/etc/clients-ca.crt", TlsVersion::kTls12, "", ""},
           Millis(3000)};
  e.static_servers.placement = {router::HashKind::kMurmur, router::Distribution::kModula, "{}"};
  e.static_servers.auto_eject_hosts = true;
  e.static_servers.server_retry_timeout = Millis(5000);
  e.static_servers.server_failure_limit = 3;
  e.sentinel.username = "sentineluser";
  e.sentinel.password = "sentinelpw";
  e.sentinel.placement = {router::HashKind::kCrc32a, router::Distribution::kRandom, "ab"};
  e.sentinel.poll_interval = Millis(500);
  e.sentinel.query_timeout = Millis(700);
  e.sentinel.failover_pause = Millis(2500);
  // One source kind only: migration.source.static and .sentinel are written at their defaults
  // (MigrationTest.EachSourceKindIsParsed sets their keys).
  e.migration.servers = {{"10.0.0.5", 6379}, {"::1", 6379}};
  e.migration.rate_keys_per_s = 2000;
  e.migration.batch_keys = 500;
  e.migration.max_block = Millis(20);
  e.migration.migrate_timeout = Millis(10000);
  e.migration.moved_key_cache = 0;
  e.migration.source_username = "olduser";
  e.migration.source_password = "oldpw";
  e.limits = {500, 4096, 1 << 20, 16 << 10, 2 << 20, 8 << 20, 128, 1ull << 30, Millis(60000)};
  e.auth = {"clientpw", {{"app", "apppw", "appacl", "b\"pw"}, {"ro", "x", "", ""}}, 3};
  e.slowlog = {2500, 64, true};
  e.observe = {false, 512, 2, 1000, 5, 4096, 10, 64, true};
  e.admin = {{"127.0.0.1", 9121}, "s3cret"};
  e.log.level = LogLevel::kDebug;
  EXPECT_EQ(*result, e);
}

TEST(ConfigLoaderTest, EveryKeyTestCoversEveryKnownKey) {
  const auto known = knownKeyPaths();
  EXPECT_EQ(blockKeyPaths(kEveryKey), std::set<std::string>(known.begin(), known.end()));
  EXPECT_EQ(known.front(), "listen");
  EXPECT_EQ(std::set<std::string>(known.begin(), known.end()).size(), known.size());
}

TEST(ConfigLoaderTest, TlsListenerAndBackendTlsRules) {
  // listen left out beside tls.listen: TLS only.
  auto tls_only = loadConfigString(
      withSeeds("tls:\n  listen: 127.0.0.1:6390\n  cert_file: /c\n  key_file: /k\n"));
  ASSERT_TRUE(tls_only) << tls_only.error();
  EXPECT_EQ(tls_only->listen, HostPort{});
  EXPECT_EQ(tls_only->tls.listen, (HostPort{"127.0.0.1", 6390}));
  // Both ports when listen is written.
  auto both = loadConfigString(withSeeds(
      "listen: 127.0.0.1:6380\ntls:\n  listen: 127.0.0.1:6390\n  cert_file: /c\n  key_file: /k\n"));
  ASSERT_TRUE(both) << both.error();
  EXPECT_EQ(both->listen, (HostPort{"127.0.0.1", 6380}));
  EXPECT_THAT(errorsOf(withSeeds("tls:\n  listen: 127.0.0.1:6390\n")),
              ElementsAre("tls.cert_file: required with tls.listen",
                          "tls.key_file: required with tls.listen"));
  EXPECT_THAT(errorsOf(withSeeds("listen: \"\"\n")),
              ElementsAre("listen: required unless tls.listen is set"));
  EXPECT_THAT(errorsOf(withSeeds("listen: 127.0.0.1:6390\ntls:\n  listen: 127.0.0.1:6390\n"
                                 "  cert_file: /c\n  key_file: /k\n")),
              ElementsAre("tls.listen: must differ from listen"));
  EXPECT_THAT(errorsOf(withSeeds("backend:\n  tls:\n    enabled: true\n")),
              ElementsAre(HasSubstr("backend.tls.ca_file: required to verify")));
  EXPECT_THAT(errorsOf(withSeeds("backend:\n  tls:\n    enabled: true\n    verify: false\n"
                                 "    cert_file: /c\n")),
              ElementsAre("backend.tls.cert_file: cert_file and key_file go together"));
  EXPECT_THAT(errorsOf(withSeeds("tls:\n  min_version: SSLv3\n")),
              ElementsAre(HasSubstr("tls.min_version: invalid value 'SSLv3'")));
}

TEST(ConfigLoaderTest, UnknownKeysAreReportedWithTheirPath) {
  EXPECT_THAT(errorsOf(withSeeds("foo: 1\nbackend:\n  bar: 2\nlimits:\n  max_clients: 5\n"
                                 "log:\n  level: info\n  colour: red\n")),
              UnorderedElementsAre("foo: unknown key", "backend.bar: unknown key",
                                   "log.colour: unknown key"));
}

TEST(ConfigLoaderTest, EveryErrorIsReportedAtOnce) {
  const auto errors = errorsOf(R"(
listen: nowhere
workers: 300
accept_mode: fork
cluster:
  seeds: [127.0.0.1:7000, 127.0.0.1:x]
  query_timeout_ms: 0
backend:
  foo: 1
  connections_per_node: 65
limits:
  max_clients: 0
log:
  level: verbose
)");
  EXPECT_THAT(errors,
              ElementsAre("listen: missing port in 'nowhere' (expected host:port)",
                          "workers: must be between 0 and 256",
                          "accept_mode: invalid value 'fork' (expected one of handoff, reuseport)",
                          "cluster.seeds[1]: invalid port 'x'",
                          "cluster.query_timeout_ms: must be between 10 and 60000",
                          "backend.foo: unknown key",
                          "backend.connections_per_node: must be between 1 and 64",
                          "limits.max_clients: must be between 1 and 1000000",
                          "log.level: invalid value 'verbose' (expected one of trace, debug, "
                          "info, warn, error, off)"));
}

TEST(ConfigLoaderTest, SeedsAreRequired) {
  EXPECT_THAT(errorsOf("listen: 127.0.0.1:6380\n"),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)"));
  EXPECT_THAT(errorsOf("cluster:\n  seeds: []\n"),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)"));
  EXPECT_THAT(errorsOf(""),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)"));
}

TEST(ConfigLoaderTest, ParseErrorsAreNotRepeatedByValidation) {
  // All seeds invalid: the list stays empty, but "at least 1" would only repeat the problem.
  EXPECT_THAT(errorsOf("cluster:\n  seeds: [a:1:2]\n"),
              ElementsAre("cluster.seeds[0]: IPv6 address must be in brackets: 'a:1:2'"));
  EXPECT_THAT(errorsOf("cluster: 5\n"), ElementsAre("cluster: expected a mapping, got a scalar"));
  EXPECT_THAT(errorsOf("- a\n- b\n"), ElementsAre("(root): expected a mapping, got a sequence"));
}

TEST(ConfigLoaderTest, WrongTypesAreErrors) {
  EXPECT_THAT(errorsOf(withSeeds("workers: [1]\nlisten: {a: 1}\ntcp_backlog: abc\n"
                                 "log:\n  level: [info]\nbackend: [1]\nlimits:\n"
                                 "  max_clients: -5\n  max_bulk_length: {x: 1}\n")),
              ElementsAre("workers: expected a non-negative integer, got a sequence",
                          "listen: expected a \"host:port\" string, got a mapping",
                          "tcp_backlog: expected a non-negative integer, got 'abc'",
                          "log.level: expected a string, got a sequence",
                          "backend: expected a mapping, got a sequence",
                          "limits.max_clients: expected a non-negative integer, got '-5'",
                          "limits.max_bulk_length: expected a byte size, got a mapping"));
  EXPECT_THAT(errorsOf("cluster:\n  seeds: 127.0.0.1:7000\n"),
              ElementsAre("cluster.seeds: expected a sequence of \"host:port\" strings, got a "
                          "scalar"));
  EXPECT_THAT(errorsOf(withSeeds("workers:\n")),
              ElementsAre("workers: expected a non-negative integer, got null"));
  EXPECT_THAT(errorsOf(withSeeds("workers: 99999999999999999999999\n")),
              ElementsAre("workers: value '99999999999999999999999' is too large"));
}

TEST(ConfigLoaderTest, DuplicateKeysAndExtraDocumentsAreErrors) {
  EXPECT_THAT(errorsOf(withSeeds("workers: 1\nworkers: 2\n")),
              ElementsAre("workers: duplicate key"));
  EXPECT_THAT(errorsOf(std::string("---\n") + kMinimal + "---\nworkers: 3\n"),
              ElementsAre("(root): expected one YAML document, got 2"));
}

TEST(ConfigLoaderTest, RangeBoundsAreInclusive) {
  EXPECT_THAT(errorsOf(withSeeds("workers: 0\nbackend:\n  connections_per_node: 64\n")), IsEmpty());
  EXPECT_THAT(errorsOf(withSeeds("workers: 256\nbackend:\n  connections_per_node: 1\n")),
              IsEmpty());
  EXPECT_THAT(errorsOf(withSeeds("workers: 257\n")),
              ElementsAre("workers: must be between 0 and 256"));
  EXPECT_THAT(errorsOf(withSeeds("limits:\n  max_inline_length: 65mb\n")),
              ElementsAre("limits.max_inline_length: must be between 1 and 64mb"));
}

TEST(ConfigLoaderTest, CrossFieldRules) {
  EXPECT_THAT(errorsOf(withSeeds("limits:\n  max_bulk_length: 2mb\n  max_request_bytes: 1mb\n")),
              ElementsAre("limits.max_bulk_length: must not exceed limits.max_request_bytes"));
  EXPECT_THAT(errorsOf("cluster:\n  seeds: [h:1]\n  refresh_interval_ms: 1000\n"
                       "  min_refresh_interval_ms: 1001\n"),
              ElementsAre("cluster.min_refresh_interval_ms: must not exceed "
                          "cluster.refresh_interval_ms"));
}

TEST(ConfigLoaderTest, DuplicateSeedsNameBothIndices) {
  EXPECT_THAT(errorsOf("cluster:\n  seeds: [h:1, h:2, h:1]\n"),
              ElementsAre("cluster.seeds[2]: duplicate of cluster.seeds[0]"));
}

TEST(ConfigLoaderTest, SizeSuffixes) {
  auto result =
      loadConfigString(withSeeds("limits:\n  max_output_bytes: 3Mb\n"
                                 "  max_pipelined_bytes: 2g\n  max_request_bytes: 7 kb\n"
                                 "  max_bulk_length: 1024b\n  max_inline_length: 100\n"));
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->limits.max_output_bytes, 3ull << 20);
  EXPECT_EQ(result->limits.max_pipelined_bytes, 2ull << 30);
  EXPECT_EQ(result->limits.max_request_bytes, 7ull << 10);
  EXPECT_EQ(result->limits.max_bulk_length, 1024u);
  EXPECT_EQ(result->limits.max_inline_length, 100u);
}

TEST(ParseByteSizeTest, AcceptsUnitsAndRejectsGarbage) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (const Case& c : {Case{"0", 0}, Case{"17", 17}, Case{"64kb", 64 << 10}, Case{"64K", 64 << 10},
                        Case{"512mb", 512ull << 20}, Case{"1GB", 1ull << 30},
                        Case{"2 tb", 2ull << 40}, Case{"5b", 5}}) {
    auto value = parseByteSize(c.text);
    ASSERT_TRUE(value) << c.text << ": " << value.error();
    EXPECT_EQ(*value, c.bytes) << c.text;
  }
  for (const char* bad : {"", "kb", "1.5gb", "-1", "12 parsecs", "1kbb", " 1"}) {
    auto value = parseByteSize(bad);
    ASSERT_FALSE(value) << bad;
    EXPECT_THAT(value.error(), HasSubstr("invalid byte size")) << bad;
  }
  EXPECT_THAT(parseByteSize("16777216tb").error(), HasSubstr("too large"));
  EXPECT_THAT(parseByteSize("99999999999999999999").error(), HasSubstr("too large"));
}

TEST(ParseHostPortTest, ValidForms) {
  struct Case {
    const char* text;
    HostPort expected;
  };
  for (const Case& c : {Case{"127.0.0.1:7000", {"127.0.0.1", 7000}},
                        Case{"[::1]:7000", {"::1", 7000}}, Case{"localhost:1", {"localhost", 1}},
                        Case{"redis-0.redis_svc.local:65535", {"redis-0.redis_svc.local", 65535}},
                        Case{"[fe80::1%eth0]:6379", {"fe80::1%eth0", 6379}},
                        Case{"[::ffff:10.0.0.1]:80", {"::ffff:10.0.0.1", 80}}}) {
    auto result = parseHostPort(c.text);
    ASSERT_TRUE(result) << c.text << ": " << result.error();
    EXPECT_EQ(*result, c.expected) << c.text;
    EXPECT_EQ(result->toString(), c.text);
  }
}

TEST(ParseHostPortTest, InvalidForms) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"127.0.0.1", "missing port in '127.0.0.1' (expected host:port)"},
           Case{"127.0.0.1:x", "invalid port 'x'"},
           Case{"127.0.0.1:", "invalid port ''"},
           Case{"127.0.0.1:0", "invalid port '0' (must be between 1 and 65535)"},
           Case{"127.0.0.1:65536", "invalid port '65536' (must be between 1 and 65535)"},
           Case{"127.0.0.1:+80", "invalid port '+80'"},
           Case{":7000", "missing host in ':7000'"},
           Case{"::1:7000", "IPv6 address must be in brackets: '::1:7000'"},
           Case{"[::1]7000", "missing port in '[::1]7000' (expected [host]:port)"},
           Case{"[::1:7000", "missing ']' in '[::1:7000'"},
           Case{"[]:7000", "missing host in '[]:7000'"},
           Case{"[localhost]:7000", "invalid host 'localhost'"},
           Case{"bad host:7000", "invalid host 'bad host'"},
           Case{"", "missing port in '' (expected host:port)"},
       }) {
    auto result = parseHostPort(c.text);
    ASSERT_FALSE(result) << c.text;
    EXPECT_EQ(result.error(), c.error);
  }
}

TEST(ConfigLoaderTest, SyntaxErrorHasLineAndColumn) {
  EXPECT_THAT(errorsOf("listen: 127.0.0.1:6380\nworkers: 2\nlog: level: info\n"),
              ElementsAre("<string>:3:11: YAML syntax error: illegal map value"));
  auto result = loadConfigString("cluster:\n  seeds: [127.0.0.1:7000\n", "my.yaml");
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error(), ::testing::StartsWith("my.yaml:3:1: YAML syntax error: "));
}

TEST(ConfigLoaderTest, LoadFileReportsPathInSyntaxErrorsAndMissingFiles) {
  const std::string path = ::testing::TempDir() + "/slotwise_config_loader_test.yaml";
  {
    std::ofstream out(path);
    out << "workers: 2\n  oops: [\n";
  }
  auto result = loadConfigFile(path);
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error(), ::testing::StartsWith(path + ":2:"));
  std::remove(path.c_str());

  auto missing = loadConfigFile(path + ".absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), path + ".absent: cannot read config file: No such file or directory");
  EXPECT_THAT(loadConfigFile(::testing::TempDir()).error(), HasSubstr("is a directory"));
}

TEST(ConfigLoaderTest, ValidateConfigChecksProgrammaticConfigs) {
  ProxyConfig config;
  EXPECT_THAT(validateConfig(config),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)"));
  config.cluster.seeds = {{"", 7000}, {"h", 0}};
  config.backend.connect_timeout = Millis(-1);
  config.log.level = static_cast<LogLevel>(42);
  EXPECT_THAT(validateConfig(config),
              ElementsAre("cluster.seeds[0]: missing host",
                          "cluster.seeds[1]: invalid port '0' (must be between 1 and 65535)",
                          "backend.connect_timeout_ms: must be between 1 and 60000",
                          "log.level: invalid value 42"));
}

TEST(FormatConfigTest, RoundTripsEveryKey) {
  auto parsed = loadConfigString(kEveryKey);
  ASSERT_TRUE(parsed) << parsed.error();
  const std::string text = formatConfig(*parsed);
  auto reparsed = loadConfigString(text);
  ASSERT_TRUE(reparsed) << reparsed.error() << "\n" << text;
  EXPECT_EQ(*reparsed, *parsed);
  const auto known = knownKeyPaths();
  EXPECT_EQ(blockKeyPaths(text), std::set<std::string>(known.begin(), known.end()));
}

TEST(FormatConfigTest, RendersSectionsUnitsAndQuotedAddresses) {
  ProxyConfig config;
  config.cluster.seeds = {{"::1", 7000}, {"h", 7001}};
  config.limits.max_inline_length = 1000;
  const std::string text = formatConfig(config);
  EXPECT_THAT(text, ::testing::StartsWith("listen: \"127.0.0.1:6380\"\nworkers: 0\n"));
  EXPECT_THAT(text, HasSubstr("\ncluster:\n  seeds: [\"[::1]:7000\", \"h:7001\"]\n"));
  EXPECT_THAT(text, HasSubstr("\n  max_bulk_length: 512mb\n  max_inline_length: 1000\n"));
  EXPECT_THAT(text, HasSubstr("\nlog:\n  level: info\n"));
}

TEST(ConfigLoaderTest, EnumNames) {
  for (LogLevel level : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                         LogLevel::kError, LogLevel::kOff}) {
    EXPECT_EQ(parseLogLevel(logLevelName(level)), level);
  }
  EXPECT_EQ(logLevelName(LogLevel::kWarn), "warn");
  EXPECT_EQ(logLevelName(static_cast<LogLevel>(99)), "unknown");
  EXPECT_EQ(parseLogLevel("INFO"), std::nullopt);
  EXPECT_EQ(acceptModeName(AcceptMode::kReuseport), "reuseport");
  EXPECT_EQ(acceptModeName(AcceptMode::kHandoff), "handoff");
}

TEST(ExampleConfigTest, ReferenceFileDocumentsEveryDefault) {
  auto result = loadConfigFile(kExamples + "slotwise.yaml");
  ASSERT_TRUE(result) << result.error();
  ProxyConfig loaded = *result;
  EXPECT_EQ(loaded.cluster.seeds.size(), 1u);  // the only key without a default
  loaded.cluster.seeds.clear();
  EXPECT_EQ(loaded, ProxyConfig{});
  const auto known = knownKeyPaths();
  EXPECT_EQ(blockKeyPaths(readFile(kExamples + "slotwise.yaml")),
            std::set<std::string>(known.begin(), known.end()));
}

TEST(ExampleConfigTest, LocalQuickstartFileLoads) {
  auto result = loadConfigFile(kExamples + "local.yaml");
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->listen, (HostPort{"127.0.0.1", 6380}));
  EXPECT_EQ(result->workers, 2u);
  EXPECT_EQ(result->log.level, LogLevel::kInfo);
  ASSERT_EQ(result->cluster.seeds.size(), 6u);
  for (uint16_t i = 0; i < 6; ++i) {
    EXPECT_EQ(result->cluster.seeds[i], (HostPort{"127.0.0.1", static_cast<uint16_t>(7000 + i)}));
  }
}

TEST(ConfigLoaderTest, HotKeySampleIsAPowerOfTwo) {
  EXPECT_THAT(errorsOf(withSeeds("observe:\n  hot_key_sample: 6\n")),
              ElementsAre(HasSubstr("observe.hot_key_sample: must be a power of two")));
  EXPECT_TRUE(loadConfigString(withSeeds("observe:\n  hot_key_sample: 1\n")));
  EXPECT_TRUE(loadConfigString(withSeeds("observe:\n  hot_key_sample: 1024\n")));
}

TEST(ConfigLoaderTest, UsersAreCheckedOneByOne) {
  EXPECT_THAT(errorsOf(withSeeds("auth:\n  password: pw\n  users:\n"
                                 "    - {name: a, password: x}\n"
                                 "    - {name: a, password: y, colour: red}\n"
                                 "    - {name: default, password: \"\"}\n")),
              UnorderedElementsAre("auth.users[1].colour: unknown key",
                                   "auth.users[2].password: must not be empty"));
  EXPECT_THAT(errorsOf(withSeeds("auth:\n  password: pw\n  users:\n"
                                 "    - {name: a, password: x}\n"
                                 "    - {name: a, password: y}\n"
                                 "    - {name: default, password: z}\n")),
              UnorderedElementsAre("auth.users[1].name: duplicate of auth.users[0]",
                                   "auth.users[2].name: 'default' is auth.password's user; "
                                   "set one or the other"));
  EXPECT_THAT(errorsOf(withSeeds("auth:\n  users: {name: a}\n")),
              UnorderedElementsAre("auth.users: expected a sequence of mappings, got a mapping"));
}

TEST(ConfigLoaderTest, StaticServersInTwemproxysFormat) {
  auto result = loadConfigString(
      "static:\n  hash: murmur\n  distribution: ketama\n  servers:\n"
      "    - 127.0.0.1:7001:1 alpha\n    - \"10.0.0.2:7002:3\"\n    - \"[::1]:7003:2  g\"\n");
  ASSERT_TRUE(result) << result.error();
  const auto& servers = result->static_servers.servers;
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0], (StaticServer{{"127.0.0.1", 7001}, 1, "alpha"}));
  EXPECT_EQ(servers[1], (StaticServer{{"10.0.0.2", 7002}, 3, ""}));
  EXPECT_EQ(servers[2], (StaticServer{{"::1", 7003}, 2, "g"}));
  EXPECT_EQ(result->static_servers.placement.hash, router::HashKind::kMurmur);
  EXPECT_TRUE(result->cluster.seeds.empty());
  const auto reparsed = loadConfigString(formatConfig(*result));
  ASSERT_TRUE(reparsed) << reparsed.error();
  EXPECT_EQ(*reparsed, *result);
}

TEST(ConfigLoaderTest, StaticAndSentinelMistakesNameTheKey) {
  EXPECT_THAT(errorsOf("static:\n  hash: sha1\n  distribution: ring\n  hash_tag: \"{\"\n"
                       "  servers: [127.0.0.1:7001:1]\n"),
              UnorderedElementsAre(
                  "static.hash: invalid value 'sha1' (expected one of one_at_a_time, md5, crc16, "
                  "crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins)",
                  "static.distribution: invalid value 'ring' (expected one of ketama, modula, "
                  "random)",
                  "static.hash_tag: must be empty or two characters, e.g. \"{}\""));
  EXPECT_THAT(errorsOf("static:\n  servers: [127.0.0.1:7001, \"127.0.0.1:7002:0\"]\n"),
              UnorderedElementsAre(
                  "static.servers[0]: missing weight: expected \"host:port:weight [name]\" "
                  "(twemproxy's format), got '127.0.0.1:7001'",
                  "static.servers[1]: invalid weight '0' in '127.0.0.1:7002:0' (1..10000)"));
  EXPECT_THAT(errorsOf("static:\n  servers: [\"127.0.0.1:7001:1 a\", \"127.0.0.1:7001:1 b\","
                       " \"127.0.0.1:7003:1 a\"]\n"),
              UnorderedElementsAre("static.servers[1]: duplicate address of static.servers[0]",
                                   "static.servers[2]: duplicate name of static.servers[0]"));
  EXPECT_THAT(errorsOf(withSeeds("static:\n  servers: [127.0.0.1:7001:1]\n")),
              ElementsAre("(root): cluster.seeds, static.servers and sentinel.sentinels exclude "
                          "each other: configure one kind of backend"));
  EXPECT_THAT(errorsOf("sentinel:\n  sentinels: [127.0.0.1:26379]\n"),
              ElementsAre("sentinel.masters: must name at least 1 master"));
  EXPECT_THAT(errorsOf("sentinel:\n  sentinels: [127.0.0.1:26379]\n  masters: [a, \"\", a]\n"),
              UnorderedElementsAre("sentinel.masters[1]: must not be empty",
                                   "sentinel.masters[2]: duplicate of sentinel.masters[0]"));
}

// ---------------------------------------------------------------------------------------------
// pools, routes, default_pool.

constexpr char kThreePoolsPools[] = R"(
pools:
  legacy:
    static:
      hash: fnv1a_64
      distribution: ketama
      servers: ["127.0.0.1:7001:1 s1", "127.0.0.1:7002:1 s2"]
  sessions:
    sentinel:
      sentinels: [127.0.0.1:26379]
      masters: [mymaster]
  main:
    cluster:
      seeds: [127.0.0.1:7000]
)";
constexpr char kThreePoolsRoutes[] = R"(routes:
  - {prefix: "user:", pool: legacy}
  - {prefix: "session:", pool: sessions}
)";
constexpr char kMainIsDefault[] = "default_pool: main\n";

// The three pools `legacy`, `sessions` and `main` (not in name order) with two routes and
// default_pool main; the extras are YAML lines appended to pools (indented by 2) and routes, and
// `default_line` replaces the default_pool line.
std::string threePools(const std::string& pools_extra = "", const std::string& routes_extra = "",
                       const std::string& default_line = kMainIsDefault) {
  return kThreePoolsPools + pools_extra + kThreePoolsRoutes + routes_extra + default_line;
}

TEST(PoolsTest, ThreePoolsAreParsedInFileOrder) {
  auto result = loadConfigString(threePools());
  ASSERT_TRUE(result) << result.error();
  const ProxyConfig& config = *result;
  ASSERT_EQ(config.pools.size(), 3u);

  PoolConfig legacy;
  legacy.name = "legacy";
  legacy.static_servers.placement = {router::HashKind::kFnv1a_64, router::Distribution::kKetama,
                                     ""};
  legacy.static_servers.servers = {{{"127.0.0.1", 7001}, 1, "s1"}, {{"127.0.0.1", 7002}, 1, "s2"}};
  PoolConfig sessions;
  sessions.name = "sessions";
  sessions.sentinel.sentinels = {{"127.0.0.1", 26379}};
  sessions.sentinel.masters = {"mymaster"};
  PoolConfig main;
  main.name = "main";
  main.cluster.seeds = {{"127.0.0.1", 7000}};
  EXPECT_EQ(config.pools[0], legacy);
  EXPECT_EQ(config.pools[1], sessions);
  EXPECT_EQ(config.pools[2], main);
  EXPECT_THAT(config.routes,
              ElementsAre(RouteConfig{"user:", "legacy"}, RouteConfig{"session:", "sessions"}));
  EXPECT_EQ(config.default_pool, "main");

  ProxyConfig expected;
  expected.pools = {legacy, sessions, main};
  expected.routes = config.routes;
  expected.default_pool = "main";
  EXPECT_EQ(config, expected);  // no top-level backend, every other key at its default
}

constexpr char kEveryPoolKey[] = R"(
pools:
  twem:
    static:
      hash: murmur
      distribution: modula
      hash_tag: "{}"
      servers: ["10.0.0.1:7001:2 a", "[::1]:7002:1"]
      auto_eject_hosts: true
      server_retry_timeout_ms: 5000
      server_failure_limit: 3
  groups:
    sentinel:
      sentinels: [10.0.0.9:26379, "sentinel-b.local:26379"]
      masters: [m1, m2]
      username: sentineluser
      password: sentinelpw
      hash: crc32a
      distribution: random
      hash_tag: "ab"
      poll_interval_ms: 500
      query_timeout_ms: 700
      failover_pause_ms: 2500
  main-1.b_c:
    cluster:
      seeds: [10.0.0.1:7000, "redis-a.local:7001"]
      refresh_interval_ms: 30000
      min_refresh_interval_ms: 500
      redirect_refresh_threshold: 3
      failure_refresh_threshold: 4
      query_timeout_ms: 1500
routes:
  - {prefix: "user:", pool: twem}
  - {prefix: "u", pool: main-1.b_c}
  - prefix: "session:"
    pool: groups
default_pool: main-1.b_c
workers: 3
)";

ProxyConfig everyPoolKeyConfig() {
  ProxyConfig e;
  e.workers = 3;
  PoolConfig twem;
  twem.name = "twem";
  twem.static_servers = {{router::HashKind::kMurmur, router::Distribution::kModula, "{}"},
                         {{{"10.0.0.1", 7001}, 2, "a"}, {{"::1", 7002}, 1, ""}},
                         true,
                         Millis(5000),
                         3};
  PoolConfig groups;
  groups.name = "groups";
  groups.sentinel = {{{"10.0.0.9", 26379}, {"sentinel-b.local", 26379}},
                     {"m1", "m2"},
                     "sentineluser",
                     "sentinelpw",
                     {router::HashKind::kCrc32a, router::Distribution::kRandom, "ab"},
                     Millis(500),
                     Millis(700),
                     Millis(2500)};
  PoolConfig main;
  main.name = "main-1.b_c";
  main.cluster = {{{"10.0.0.1", 7000}, {"redis-a.local", 7001}},
                  Millis(30000),
                  Millis(500),
                  3,
                  4,
                  Millis(1500)};
  e.pools = {twem, groups, main};
  e.routes = {{"user:", "twem"}, {"u", "main-1.b_c"}, {"session:", "groups"}};
  e.default_pool = "main-1.b_c";
  return e;
}

TEST(PoolsTest, EveryPoolKeyIsParsed) {
  auto result = loadConfigString(kEveryPoolKey);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(*result, everyPoolKeyConfig());
}

// Every key of the top-level backend sections is also set inside a pool of kEveryPoolKey.
TEST(PoolsTest, EveryPoolKeyTestCoversEverySectionKey) {
  const std::set<std::string> written = blockKeyPaths(kEveryPoolKey);
  const std::vector<std::pair<std::string, std::string>> sections = {
      {"cluster.", "pools.main-1.b_c.cluster."},
      {"static.", "pools.twem.static."},
      {"sentinel.", "pools.groups.sentinel."}};
  size_t checked = 0;
  for (const std::string& key : knownKeyPaths()) {
    for (const auto& [top, pool] : sections) {
      if (!key.starts_with(top)) continue;
      EXPECT_TRUE(written.contains(pool + key.substr(top.size()))) << key;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6u + 7u + 10u);
}

TEST(PoolsTest, FormatConfigRoundTripsPools) {
  for (const std::string& yaml : {threePools(), std::string(kEveryPoolKey)}) {
    auto parsed = loadConfigString(yaml);
    ASSERT_TRUE(parsed) << parsed.error();
    const std::string text = formatConfig(*parsed);
    auto reparsed = loadConfigString(text);
    ASSERT_TRUE(reparsed) << reparsed.error() << "\n" << text;
    EXPECT_EQ(*reparsed, *parsed);
    const auto known = knownKeyPaths();
    EXPECT_EQ(blockKeyPaths(text), std::set<std::string>(known.begin(), known.end()));
  }
  auto parsed = loadConfigString(threePools());
  ASSERT_TRUE(parsed);
  EXPECT_THAT(formatConfig(*parsed),
              HasSubstr("\npools: {\"legacy\": {static: {hash: fnv1a_64, distribution: ketama, "
                        "hash_tag: \"\", servers: [\"127.0.0.1:7001:1 s1\", \"127.0.0.1:7002:1 "
                        "s2\"], auto_eject_hosts: false, server_retry_timeout_ms: 30000, "
                        "server_failure_limit: 2}}, \"sessions\": {sentinel: {"));
  EXPECT_THAT(formatConfig(*parsed),
              HasSubstr("\nroutes: [{prefix: \"user:\", pool: \"legacy\"}, {prefix: \"session:\", "
                        "pool: \"sessions\"}]\ndefault_pool: \"main\"\n"));
}

TEST(PoolsTest, TopLevelBackendsLeavePoolsEmpty) {
  for (const char* yaml : {"cluster:\n  seeds: [h:1]\n", "static:\n  servers: [\"h:1:1\"]\n",
                           "sentinel:\n  sentinels: [h:26379]\n  masters: [m]\n",
                           "cluster:\n  seeds: [h:1]\npools: {}\nroutes: []\ndefault_pool: \"\"\n",
                           "cluster:\n  seeds: [h:1]\npools:\nroutes:\n"}) {
    auto result = loadConfigString(yaml);
    ASSERT_TRUE(result) << yaml << result.error();
    EXPECT_THAT(result->pools, IsEmpty()) << yaml;
    EXPECT_THAT(result->routes, IsEmpty()) << yaml;
    EXPECT_EQ(result->default_pool, "") << yaml;
  }
}

TEST(PoolsTest, PoolsMustBeAMappingOfValidNames) {
  // A pools section that failed as a whole does not also report "no backend" or "needs pools".
  EXPECT_THAT(errorsOf("pools: [legacy]\nroutes: [{prefix: a, pool: legacy}]\ndefault_pool: x\n"),
              ElementsAre("pools: expected a mapping of pool names to pools, got a sequence"));
  EXPECT_THAT(errorsOf("pools: legacy\n"),
              ElementsAre("pools: expected a mapping of pool names to pools, got a scalar"));
  EXPECT_THAT(errorsOf(threePools("  bad name:\n    cluster:\n      seeds: [h:1]\n"
                                  "  \"\":\n    static:\n      servers: [\"h:2:1\"]\n"
                                  "  \"x/y\":\n    static:\n      servers: [\"h:3:1\"]\n")),
              ElementsAre("pools.bad name: invalid pool name (expected [A-Za-z0-9_.-]+)",
                          "pools.: invalid pool name (expected [A-Za-z0-9_.-]+)",
                          "pools.x/y: invalid pool name (expected [A-Za-z0-9_.-]+)"));
  EXPECT_THAT(errorsOf(threePools("  main:\n    cluster:\n      seeds: [h:1]\n")),
              ElementsAre("pools.main: duplicate key"));
  EXPECT_THAT(errorsOf(threePools("  [a]:\n    cluster:\n      seeds: [h:1]\n")),
              ElementsAre("pools: mapping keys must be plain strings"));
}

TEST(PoolsTest, EachPoolIsExactlyOneKind) {
  EXPECT_THAT(errorsOf(threePools("  x:\n    cluster:\n      seeds: [h:1]\n"
                                  "    static:\n      hash: murmur\n"
                                  "  y: {}\n  z:\n")),
              ElementsAre("pools.x: needs exactly one of cluster, static, sentinel",
                          "pools.y: needs exactly one of cluster, static, sentinel",
                          "pools.z: needs exactly one of cluster, static, sentinel"));
  EXPECT_THAT(errorsOf(threePools("  x: {static: {servers: []}}\n  y: {sentinel: {}}\n"
                                  "  z: {cluster: {seeds: []}}\n")),
              ElementsAre("pools.x.static.servers: must list at least 1 \"host:port:weight "
                          "[name]\" server",
                          "pools.y.sentinel.sentinels: must list at least 1 host:port address",
                          "pools.z.cluster.seeds: must list at least 1 host:port address"));
  EXPECT_THAT(
      errorsOf(threePools("  x:\n    static:\n      servers: [\"h:1:1\"]\n"
                          "    colour: red\n  y: 5\n")),
      ElementsAre("pools.x.colour: unknown key", "pools.y: expected a mapping, got a scalar"));
}

TEST(PoolsTest, SectionErrorsNameThePool) {
  EXPECT_THAT(
      errorsOf(R"(
pools:
  legacy:
    static:
      hash: sha1
      servers: ["127.0.0.1:7001:1 s1", "127.0.0.1:7002"]
  sessions:
    sentinel:
      sentinels: [127.0.0.1:26379]
      masters: [a, a]
      poll_interval_ms: 5
  main:
    cluster:
      seeds: [127.0.0.1:x]
      bogus: 1
default_pool: main
)"),
      ElementsAre("pools.legacy.static.hash: invalid value 'sha1' (expected one of one_at_a_time, "
                  "md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, "
                  "jenkins)",
                  "pools.legacy.static.servers[1]: missing weight: expected \"host:port:weight "
                  "[name]\" (twemproxy's format), got '127.0.0.1:7002'",
                  "pools.sessions.sentinel.poll_interval_ms: must be between 10 and 3600000",
                  "pools.main.cluster.seeds[0]: invalid port 'x'",
                  "pools.main.cluster.bogus: unknown key",
                  "pools.sessions.sentinel.masters[1]: duplicate of "
                  "pools.sessions.sentinel.masters[0]"));
  EXPECT_THAT(errorsOf(threePools("  twem:\n    static:\n      servers: [\"h:1:1 a\", "
                                  "\"h:1:1 b\", \"h:2:1 a\"]\n")),
              ElementsAre("pools.twem.static.servers[1]: duplicate address of "
                          "pools.twem.static.servers[0]",
                          "pools.twem.static.servers[2]: duplicate name of "
                          "pools.twem.static.servers[0]"));
  EXPECT_THAT(errorsOf(threePools("  s2:\n    sentinel:\n      sentinels: [h:26380]\n")),
              ElementsAre("pools.s2.sentinel.masters: must name at least 1 master"));
  EXPECT_THAT(errorsOf(threePools(
                  "  c:\n    static:\n      servers: [\"h:1:1\"]\n    cluster:\n"
                  "      refresh_interval_ms: 1000\n      min_refresh_interval_ms: 1001\n")),
              ElementsAre("pools.c: needs exactly one of cluster, static, sentinel"));
}

TEST(PoolsTest, CrossFieldRulesInsideAPoolNameThePool) {
  EXPECT_THAT(errorsOf(R"(
pools:
  main:
    cluster:
      seeds: [h:1]
      refresh_interval_ms: 1000
      min_refresh_interval_ms: 1001
default_pool: main
)"),
              ElementsAre("pools.main.cluster.min_refresh_interval_ms: must not exceed "
                          "pools.main.cluster.refresh_interval_ms"));
}

TEST(PoolsTest, AtMostOneClusterPool) {
  EXPECT_THAT(errorsOf(threePools("  other:\n    cluster:\n      seeds: [127.0.0.1:8000]\n"
                                  "  third:\n    cluster:\n      seeds: [127.0.0.1:9000]\n")),
              ElementsAre("pools.other.cluster: at most one pool can be a Redis Cluster",
                          "pools.third.cluster: at most one pool can be a Redis Cluster"));
}

TEST(PoolsTest, PoolsExcludeTopLevelBackends) {
  const std::string kExcludes =
      "pools: pools excludes the top-level cluster, static and sentinel sections";
  EXPECT_THAT(errorsOf(threePools() + "cluster:\n  seeds: [127.0.0.1:9000]\n"),
              ElementsAre(kExcludes));
  EXPECT_THAT(errorsOf(threePools() + "static:\n  servers: [\"127.0.0.1:9000:1\"]\n"),
              ElementsAre(kExcludes));
  EXPECT_THAT(errorsOf(threePools() + "sentinel:\n  sentinels: [h:26379]\n  masters: [m]\n"),
              ElementsAre(kExcludes));
  // A top-level setting a pool would not use is refused too, rather than silently ignored.
  EXPECT_THAT(errorsOf(threePools() + "cluster:\n  refresh_interval_ms: 5000\n"),
              ElementsAre(kExcludes));
  // The sections at their defaults (as formatConfig prints them) are not "set".
  EXPECT_THAT(errorsOf(threePools() + "cluster:\n  seeds: []\nstatic: {}\nsentinel:\n"), IsEmpty());
}

TEST(PoolsTest, RoutesAndDefaultPoolNeedPools) {
  EXPECT_THAT(errorsOf(withSeeds("routes: [{prefix: \"user:\", pool: legacy}]\n")),
              ElementsAre("routes: needs pools"));
  EXPECT_THAT(errorsOf(withSeeds("default_pool: main\n")),
              ElementsAre("default_pool: needs pools"));
  EXPECT_THAT(errorsOf("routes: [{prefix: \"user:\", pool: legacy}]\ndefault_pool: main\n"),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)",
                          "routes: needs pools", "default_pool: needs pools"));
}

TEST(PoolsTest, RoutesNameKnownPoolsByUniquePrefixes) {
  EXPECT_THAT(errorsOf(threePools("",
                                  "  - {prefix: \"user:\", pool: main}\n"
                                  "  - {prefix: \"x\", pool: nowhere}\n")),
              ElementsAre("routes[2].prefix: duplicate of routes[0]",
                          "routes[3].pool: unknown pool 'nowhere'"));
  EXPECT_THAT(errorsOf(threePools("", "", "default_pool: Main\n")),
              ElementsAre("default_pool: unknown pool 'Main'"));
  EXPECT_THAT(errorsOf(threePools("", "", "")),
              ElementsAre("default_pool: must name the pool of the keys no route takes"));
  // Routes are optional: every key may go to the default pool.
  EXPECT_THAT(errorsOf(kThreePoolsPools + std::string(kMainIsDefault)), IsEmpty());
}

TEST(PoolsTest, RouteEntriesHaveExactlyPrefixAndPool) {
  EXPECT_THAT(
      errorsOf(threePools("",
                          "  - {prefix: \"\", pool: main}\n"
                          "  - {prefix: \"a\"}\n"
                          "  - {prefix: \"b\", pool: main, weight: 2}\n"
                          "  - main\n")),
      ElementsAre("routes[4].weight: unknown key", "routes[5]: expected a mapping, got a scalar",
                  "routes[2].prefix: must not be empty", "routes[3].pool: must not be empty"));
  EXPECT_THAT(errorsOf(kThreePoolsPools + std::string("routes: {prefix: a, pool: main}\n") +
                       kMainIsDefault),
              ElementsAre("routes: expected a sequence of mappings, got a mapping"));
}

TEST(PoolsTest, AtMost1024Routes) {
  std::string routes = "routes:\n";
  for (int i = 0; i < 1024; ++i)
    routes += "  - {prefix: \"p" + std::to_string(i) + "\", pool: main}\n";
  std::string yaml = R"(
pools:
  main:
    cluster:
      seeds: [127.0.0.1:7000]
default_pool: main
)";
  EXPECT_THAT(errorsOf(yaml + routes), IsEmpty());
  EXPECT_THAT(errorsOf(yaml + routes + "  - {prefix: \"last\", pool: main}\n"),
              ElementsAre("routes: at most 1024 routes"));
}

TEST(PoolsTest, ANodeAddressBelongsToOnePool) {
  EXPECT_THAT(errorsOf(threePools("  more:\n    static:\n      servers: [\"127.0.0.1:9000:1\", "
                                  "\"127.0.0.1:7002:1\", \"127.0.0.1:7000:1\"]\n")),
              ElementsAre("pools.more.static.servers[1]: duplicate address of "
                          "pools.legacy.static.servers[1]",
                          "pools.more.static.servers[2]: duplicate address of "
                          "pools.main.cluster.seeds[0]"));
  EXPECT_THAT(errorsOf(R"(
pools:
  main:
    cluster:
      seeds: [127.0.0.1:7000, "[::1]:7001"]
  old:
    static:
      servers: ["[::1]:7001:1"]
default_pool: main
)"),
              ElementsAre("pools.old.static.servers[0]: duplicate address of "
                          "pools.main.cluster.seeds[1]"));
}

TEST(PoolsTest, SentinelsMayBeSharedButNotTheirMasters) {
  // One sentinel set watching several masters, split over pools.
  EXPECT_THAT(errorsOf(threePools("  carts:\n    sentinel:\n      sentinels: [127.0.0.1:26379]\n"
                                  "      masters: [carts]\n")),
              IsEmpty());
  // The same master name on disjoint sentinels is another group of servers.
  EXPECT_THAT(errorsOf(threePools("  other:\n    sentinel:\n      sentinels: [10.0.0.1:26379]\n"
                                  "      masters: [mymaster]\n")),
              IsEmpty());
  EXPECT_THAT(errorsOf(threePools("  again:\n    sentinel:\n"
                                  "      sentinels: [10.0.0.1:26379, 127.0.0.1:26379]\n"
                                  "      masters: [x, mymaster]\n")),
              ElementsAre("pools.again.sentinel.masters[1]: duplicate of "
                          "pools.sessions.sentinel.masters[0] (the pools share a sentinel)"));
}

TEST(PoolsTest, ValidateConfigChecksProgrammaticPools) {
  PoolConfig cluster;
  cluster.name = "c";
  cluster.cluster.seeds = {{"h", 1}};
  PoolConfig none;
  none.name = "none";
  PoolConfig both = cluster;
  both.name = "both";
  both.cluster.seeds = {{"h", 2}};
  both.static_servers.servers = {{{"h", 3}, 1, ""}};

  ProxyConfig config;
  config.pools = {cluster, none, both};
  config.default_pool = "c";
  EXPECT_THAT(validateConfig(config),
              ElementsAre("pools.none: needs exactly one of cluster, static, sentinel",
                          "pools.both: needs exactly one of cluster, static, sentinel",
                          "pools.both.cluster: at most one pool can be a Redis Cluster"));

  config.pools = {cluster, cluster};
  config.pools[1].name = "bad!";
  config.pools.push_back(cluster);
  EXPECT_THAT(validateConfig(config),
              ElementsAre("pools.bad!: invalid pool name (expected [A-Za-z0-9_.-]+)",
                          "pools.c: duplicate pool name"));
}

// ---------------------------------------------------------------------------------------------
// migration.

constexpr char kClusterTarget[] = "cluster:\n  seeds: [127.0.0.1:7001]\n";
constexpr char kServersSource[] = "  source:\n    servers: [127.0.0.1:6379]\n";

// A top-level cluster (the target) and a migration block whose keys, indented by 2, are `lines`.
std::string withMigration(const std::string& lines) {
  return kClusterTarget + std::string("migration:\n") + lines;
}

// Every key of each source kind, set away from its default.
constexpr char kStaticSource[] = R"(
cluster:
  seeds: [127.0.0.1:7001]
migration:
  source:
    static:
      hash: murmur
      distribution: modula
      hash_tag: "{}"
      servers: ["127.0.0.1:6379:1 s1", "[::1]:6380:2"]
      auto_eject_hosts: true
      server_retry_timeout_ms: 5000
      server_failure_limit: 3
)";
constexpr char kSentinelSource[] = R"(
cluster:
  seeds: [127.0.0.1:7001]
migration:
  source:
    sentinel:
      sentinels: [127.0.0.1:26379, "sentinel-b.local:26379"]
      masters: [m1, m2]
      username: sentineluser
      password: sentinelpw
      hash: crc32a
      distribution: random
      hash_tag: "ab"
      poll_interval_ms: 500
      query_timeout_ms: 700
      failover_pause_ms: 2500
)";
constexpr char kServersOnlySource[] = R"(
cluster:
  seeds: [127.0.0.1:7001]
migration:
  source:
    servers: [127.0.0.1:6379, "old-redis.local:6380"]
)";

ProxyConfig clusterTarget() {
  ProxyConfig e;
  e.cluster.seeds = {{"127.0.0.1", 7001}};
  return e;
}

TEST(MigrationTest, EachSourceKindIsParsed) {
  ProxyConfig fixed = clusterTarget();
  fixed.migration.static_servers = {
      {router::HashKind::kMurmur, router::Distribution::kModula, "{}"},
      {{{"127.0.0.1", 6379}, 1, "s1"}, {{"::1", 6380}, 2, ""}},
      true,
      Millis(5000),
      3};
  ProxyConfig sentinel = clusterTarget();
  sentinel.migration.sentinel = {{{"127.0.0.1", 26379}, {"sentinel-b.local", 26379}},
                                 {"m1", "m2"},
                                 "sentineluser",
                                 "sentinelpw",
                                 {router::HashKind::kCrc32a, router::Distribution::kRandom, "ab"},
                                 Millis(500),
                                 Millis(700),
                                 Millis(2500)};
  ProxyConfig servers = clusterTarget();
  servers.migration.servers = {{"127.0.0.1", 6379}, {"old-redis.local", 6380}};
  const std::pair<const char*, const ProxyConfig*> cases[] = {
      {kStaticSource, &fixed}, {kSentinelSource, &sentinel}, {kServersOnlySource, &servers}};
  for (const auto& [yaml, expected] : cases) {
    auto result = loadConfigString(yaml);
    ASSERT_TRUE(result) << yaml << result.error();
    EXPECT_EQ(*result, *expected) << yaml;
    EXPECT_TRUE(result->migration.enabled()) << yaml;
  }
}

// Every key of the top-level static and sentinel sections is also set under migration.source.
TEST(MigrationTest, EachSourceKindTestCoversEverySectionKey) {
  const std::set<std::string> fixed = blockKeyPaths(kStaticSource);
  const std::set<std::string> sentinel = blockKeyPaths(kSentinelSource);
  size_t checked = 0;
  for (const std::string& key : knownKeyPaths()) {
    if (key.starts_with("static.")) {
      EXPECT_TRUE(fixed.contains("migration.source." + key)) << key;
      ++checked;
    } else if (key.starts_with("sentinel.")) {
      EXPECT_TRUE(sentinel.contains("migration.source." + key)) << key;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 7u + 10u);
}

TEST(MigrationTest, DefaultsAndNoMigration) {
  const MigrationConfig none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.rate_keys_per_s, 0u);
  EXPECT_EQ(none.batch_keys, 100u);
  EXPECT_EQ(none.max_block, Millis(50));
  EXPECT_EQ(none.migrate_timeout, Millis(5000));
  EXPECT_EQ(none.moved_key_cache, 100000u);
  EXPECT_EQ(none.source_username, "");
  EXPECT_EQ(none.source_password, "");

  // Only a source: every other key keeps its default.
  auto result = loadConfigString(withMigration(kServersSource));
  ASSERT_TRUE(result) << result.error();
  MigrationConfig expected;
  expected.servers = {{"127.0.0.1", 6379}};
  EXPECT_EQ(result->migration, expected);

  // As `pools: {}`: a block whose source lists nothing, at its defaults, is no migration.
  for (const char* lines : {"", "  {}\n", "  source:\n", "  source:\n    servers: []\n",
                            "  source: {static: {servers: []}, sentinel: {}, servers: []}\n"
                            "  batch_keys: 100\n"}) {
    auto off = loadConfigString(withMigration(lines));
    ASSERT_TRUE(off) << lines << off.error();
    EXPECT_EQ(off->migration, MigrationConfig{}) << lines;
    EXPECT_FALSE(off->migration.enabled()) << lines;
  }
}

TEST(MigrationTest, FormatConfigRoundTripsEachSourceKind) {
  for (const char* yaml : {kStaticSource, kSentinelSource, kServersOnlySource}) {
    auto parsed = loadConfigString(yaml);
    ASSERT_TRUE(parsed) << parsed.error();
    const std::string text = formatConfig(*parsed);
    auto reparsed = loadConfigString(text);
    ASSERT_TRUE(reparsed) << reparsed.error() << "\n" << text;
    EXPECT_EQ(*reparsed, *parsed);
  }
  auto parsed = loadConfigString(kServersOnlySource);
  ASSERT_TRUE(parsed);
  EXPECT_THAT(formatConfig(*parsed),
              HasSubstr("\n    servers: [\"127.0.0.1:6379\", \"old-redis.local:6380\"]\n"
                        "  rate_keys_per_s: 0\n  batch_keys: 100\n  max_block_ms: 50\n"
                        "  migrate_timeout_ms: 5000\n  moved_key_cache: 100000\n"
                        "  source_username: \"\"\n  source_password: \"\"\n"));
  EXPECT_THAT(formatConfig(*parsed), HasSubstr("\nmigration:\n  source:\n    static:\n"));
}

TEST(MigrationTest, SourceIsRequiredAndExactlyOneKind) {
  const std::string kMissing =
      "migration.source: missing: set exactly one of static, sentinel, servers";
  const std::string kTwo = "migration.source: exactly one of static, sentinel, servers";
  EXPECT_THAT(errorsOf(withMigration("  rate_keys_per_s: 5\n")), ElementsAre(kMissing));
  EXPECT_THAT(errorsOf(withMigration("  source: {}\n  source_password: pw\n")),
              ElementsAre(kMissing));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [127.0.0.1:6379]\n"
                                     "    static:\n      servers: [\"127.0.0.1:6380:1\"]\n")),
              ElementsAre(kTwo));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [127.0.0.1:6379]\n"
                                     "    sentinel:\n      sentinels: [127.0.0.1:26379]\n"
                                     "      masters: [m]\n"
                                     "    static:\n      servers: [\"127.0.0.1:6380:1\"]\n")),
              ElementsAre(kTwo));
  // A second section that sets no address is a second kind, not silently ignored.
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [127.0.0.1:6379]\n"
                                     "    static:\n      hash: murmur\n")),
              ElementsAre(kTwo));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    static:\n      hash: murmur\n")),
              ElementsAre("migration.source.static.servers: must list at least 1 "
                          "\"host:port:weight [name]\" server"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    sentinel:\n      masters: [m]\n")),
              ElementsAre("migration.source.sentinel.sentinels: must list at least 1 host:port "
                          "address"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    sentinel:\n"
                                     "      sentinels: [127.0.0.1:26379]\n")),
              ElementsAre("migration.source.sentinel.masters: must name at least 1 master"));
}

TEST(MigrationTest, SourceSectionErrorsNameTheKey) {
  // A source whose addresses failed to parse is not also reported as missing.
  EXPECT_THAT(errorsOf(withMigration("  source:\n    static:\n"
                                     "      servers: [127.0.0.1:6379]\n"
                                     "      hash: sha1\n  rate_keys_per_s: 10\n")),
              ElementsAre("migration.source.static.servers[0]: missing weight: expected "
                          "\"host:port:weight [name]\" (twemproxy's format), got '127.0.0.1:6379'",
                          "migration.source.static.hash: invalid value 'sha1' (expected one of "
                          "one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, "
                          "fnv1a_32, hsieh, murmur, jenkins)"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [127.0.0.1, \"::1:6379\"]\n")),
              ElementsAre("migration.source.servers[0]: missing port in '127.0.0.1' (expected "
                          "host:port)",
                          "migration.source.servers[1]: IPv6 address must be in brackets: "
                          "'::1:6379'"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [h:1, h:2, h:1]\n")),
              ElementsAre("migration.source.servers[2]: duplicate of migration.source.servers[0]"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    sentinel:\n      sentinels: [h:26379]\n"
                                     "      masters: [a]\n      poll_interval_ms: 5\n")),
              ElementsAre("migration.source.sentinel.poll_interval_ms: must be between 10 and "
                          "3600000"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    sentinel:\n      sentinels: [h:26379]\n"
                                     "      masters: [a, a]\n")),
              ElementsAre("migration.source.sentinel.masters[1]: duplicate of "
                          "migration.source.sentinel.masters[0]"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [h:1]\n    redis: [h:2]\n"
                                     "  colour: red\n")),
              ElementsAre("migration.source.redis: unknown key", "migration.colour: unknown key"));
  EXPECT_THAT(errorsOf(withMigration("  source: [h:1]\n")),
              ElementsAre("migration.source: expected a mapping, got a sequence"));
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: h:1\n")),
              ElementsAre("migration.source.servers: expected a sequence of \"host:port\" "
                          "strings, got a scalar"));
  EXPECT_THAT(errorsOf(kClusterTarget + std::string("migration: 5\n")),
              ElementsAre("migration: expected a mapping, got a scalar"));
}

TEST(MigrationTest, NumbersAreInRange) {
  struct Case {
    const char* key;
    uint64_t lo;
    uint64_t hi;
  };
  for (const Case& c : {Case{"rate_keys_per_s", 0, 10000000}, Case{"batch_keys", 1, 10000},
                        Case{"max_block_ms", 1, 60000}, Case{"migrate_timeout_ms", 100, 3600000},
                        Case{"moved_key_cache", 0, 10000000}}) {
    auto line = [&](uint64_t value) {
      return withMigration(kServersSource + std::string("  ") + c.key + ": " +
                           std::to_string(value) + "\n");
    };
    const std::string range = "migration." + std::string(c.key) + ": must be between " +
                              std::to_string(c.lo) + " and " + std::to_string(c.hi);
    EXPECT_THAT(errorsOf(line(c.lo)), IsEmpty()) << c.key;
    EXPECT_THAT(errorsOf(line(c.hi)), IsEmpty()) << c.key;
    EXPECT_THAT(errorsOf(line(c.hi + 1)), ElementsAre(range)) << c.key;
    if (c.lo > 0) {
      EXPECT_THAT(errorsOf(line(c.lo - 1)), ElementsAre(range)) << c.key;
    }
  }
  EXPECT_THAT(errorsOf(withMigration(std::string(kServersSource) + "  batch_keys: -1\n")),
              ElementsAre("migration.batch_keys: expected a non-negative integer, got '-1'"));
}

TEST(MigrationTest, TargetMustBeARedisCluster) {
  const std::string kNotACluster =
      "migration: the target must be a Redis Cluster (cluster: or a cluster pool as "
      "default_pool)";
  const std::string migration = std::string("migration:\n") + kServersSource;
  EXPECT_THAT(errorsOf("static:\n  servers: [\"127.0.0.1:7001:1\"]\n" + migration),
              ElementsAre(kNotACluster));
  EXPECT_THAT(errorsOf("sentinel:\n  sentinels: [127.0.0.1:26379]\n  masters: [m]\n" + migration),
              ElementsAre(kNotACluster));
  // With pools: the cluster pool, as default_pool.
  EXPECT_THAT(errorsOf(threePools() + migration), IsEmpty());
  EXPECT_THAT(errorsOf(threePools("", "", "default_pool: legacy\n") + migration),
              ElementsAre(kNotACluster));
  EXPECT_THAT(errorsOf("pools:\n  a:\n    static:\n      servers: [\"127.0.0.1:7001:1\"]\n"
                       "default_pool: a\n" +
                       migration),
              ElementsAre(kNotACluster));
  // No backend at all: both requirements are reported.
  EXPECT_THAT(errorsOf(migration),
              ElementsAre("cluster.seeds: must list at least 1 host:port address (or use "
                          "static.servers or sentinel.sentinels instead of a cluster)",
                          kNotACluster));
  // A target whose seeds, pools or default_pool failed to parse is not also "not a cluster".
  EXPECT_THAT(errorsOf("cluster:\n  seeds: [127.0.0.1:x]\n" + migration),
              ElementsAre("cluster.seeds[0]: invalid port 'x'"));
  EXPECT_THAT(errorsOf(threePools("", "", "default_pool: [main]\n") + migration),
              ElementsAre("default_pool: expected a string, got a sequence"));
}

TEST(MigrationTest, NoSourceAddressIsABackendOfTheProxy) {
  const std::string kBackend = "; the source cannot be a backend of the proxy";
  EXPECT_THAT(errorsOf(withMigration("  source:\n    servers: [127.0.0.1:6379, 127.0.0.1:7001]\n")),
              ElementsAre("migration.source.servers[1]: 127.0.0.1:7001 is also cluster.seeds[0]" +
                          kBackend));
  EXPECT_THAT(
      errorsOf("cluster:\n  seeds: [h:1, \"[::1]:7001\"]\nmigration:\n"
               "  source:\n    servers: [\"[::1]:7001\"]\n"),
      ElementsAre("migration.source.servers[0]: [::1]:7001 is also cluster.seeds[1]" + kBackend));
  const std::string source_static =
      "migration:\n  source:\n    static:\n      servers: [\"127.0.0.1:6379:1\", "
      "\"127.0.0.1:7002:1 s2\"]\n";
  EXPECT_THAT(errorsOf(threePools() + source_static),
              ElementsAre("migration.source.static.servers[1]: 127.0.0.1:7002 is also "
                          "pools.legacy.static.servers[1]" +
                          kBackend));
  EXPECT_THAT(errorsOf(threePools() + "migration:\n  source:\n    sentinel:\n"
                                      "      sentinels: [127.0.0.1:7000]\n      masters: [m]\n"),
              ElementsAre("migration.source.sentinel.sentinels[0]: 127.0.0.1:7000 is also "
                          "pools.main.cluster.seeds[0]" +
                          kBackend));
  // Sentinels may be shared with a Sentinel pool, the master names they watch may not.
  const std::string source_sentinel =
      "migration:\n  source:\n    sentinel:\n      sentinels: [127.0.0.1:26379]\n";
  EXPECT_THAT(errorsOf(threePools() + source_sentinel + "      masters: [old]\n"), IsEmpty());
  EXPECT_THAT(errorsOf(threePools() + source_sentinel + "      masters: [old, mymaster]\n"),
              ElementsAre("migration.source.sentinel.masters[1]: 'mymaster' is also "
                          "pools.sessions.sentinel.masters[0] (they share a sentinel)" +
                          kBackend));
}

TEST(MigrationTest, ValidateConfigChecksProgrammaticMigrations) {
  ProxyConfig config = clusterTarget();
  config.migration.servers = {{"", 6379}, {"h", 0}};
  config.migration.batch_keys = 0;
  EXPECT_THAT(validateConfig(config),
              ElementsAre("migration.source.servers[0]: missing host",
                          "migration.source.servers[1]: invalid port '0' (must be between 1 and "
                          "65535)",
                          "migration.batch_keys: must be between 1 and 10000"));
  config.migration.servers = {{"h", 6379}};
  config.migration.batch_keys = 10;
  EXPECT_THAT(validateConfig(config), IsEmpty());
  config.migration.static_servers.servers = {{{"h", 6380}, 1, ""}};
  EXPECT_THAT(validateConfig(config),
              ElementsAre("migration.source: exactly one of static, sentinel, servers"));
  config.migration.servers.clear();
  config.migration.static_servers.servers = {{{"127.0.0.1", 7001}, 1, ""}};
  EXPECT_THAT(validateConfig(config),
              ElementsAre("migration.source.static.servers[0]: 127.0.0.1:7001 is also "
                          "cluster.seeds[0]; the source cannot be a backend of the proxy"));
  config.migration.static_servers = {};
  EXPECT_THAT(validateConfig(config),
              ElementsAre("migration.source: missing: set exactly one of static, sentinel, "
                          "servers"));
}

}  // namespace
}  // namespace slotwise::config
