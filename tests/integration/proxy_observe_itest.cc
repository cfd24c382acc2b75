// What the traffic does (issue 13): hot keys, big keys and MONITOR through the proxy, against a
// real cluster, read over the admin HTTP API and /metrics; MONITOR's lines compared with a
// standalone redis-server's for the same commands.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/http_get.h"
#include "support/loopback_client.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class ProxyObserveTest : public ProxyClusterTest {
 protected:
  uint16_t admin_port = 0;
  void startWith(const std::string& observe_yaml) {
    admin_port = pickFreePort();
    extra_yaml =
        "admin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) + "\nobserve:\n" + observe_yaml;
    startAll();
  }
  Json getJson(const std::string& path) {
    auto [status, body] = httpGet(admin_port, path);
    EXPECT_EQ(status, 200) << path << ": " << body;
    Json doc = Json::parse(body, nullptr, false);
    EXPECT_TRUE(doc.is_object()) << body;
    return doc;
  }
  // The skewed workload: of every 10 requests, 5 GET hot:key, 2 GET warm:key, 3 GET a key of
  // 600 distinct cold ones. Pipelined in batches of 100.
  void skewedLoad(SyncRedisClient& c, int requests) {
    std::vector<std::vector<std::string>> batch;
    for (int i = 0; i < requests; ++i) {
      const int r = i % 10;
      std::string key = r < 5 ? "hot:key" : r < 7 ? "warm:key" : "cold:" + std::to_string(i % 600);
      batch.push_back({"GET", key});
      if (batch.size() == 100) {
        ASSERT_EQ(c.pipeline(batch).size(), 100u);
        batch.clear();
      }
    }
  }
};

TEST_F(ProxyObserveTest, HotKeysListTheSkewedKeyFirst) {
  // Every key counted (hot_key_sample 1): the Space-Saving bounds hold exactly.
  startWith(
      "  hot_key_capacity: 64\n  hot_key_sample: 1\n  hot_key_metric_top_n: 3\n"
      "  hot_key_threshold_per_s: 500\n");
  auto c = proxyClient();
  skewedLoad(*c, 20000);
  // Counted keys are published when their second ends: poll until both hot keys show.
  Json doc;
  ASSERT_TRUE(cluster.waitFor(
      [&] {
        doc = getJson("/api/hotkeys?window=60s&limit=5");
        return doc["keys"].size() >= 2 && doc["total"].get<uint64_t>() >= 20000;
      },
      5000ms))
      << doc.dump();
  EXPECT_TRUE(doc["enabled"].get<bool>());
  EXPECT_EQ(doc["total"].get<uint64_t>(), 20000u) << doc.dump();
  ASSERT_GE(doc["keys"].size(), 2u);
  EXPECT_EQ(doc["keys"][0]["key"], "hot:key") << doc.dump();
  EXPECT_EQ(doc["keys"][1]["key"], "warm:key") << doc.dump();
  // Space-Saving over-estimates by at most `error`: the true counts lie in [count-error, count].
  for (int i = 0; i < 2; ++i) {
    const uint64_t want = i == 0 ? 10000 : 4000;
    const uint64_t count = doc["keys"][i]["count"].get<uint64_t>();
    const uint64_t error = doc["keys"][i]["error"].get<uint64_t>();
    EXPECT_LE(count - error, want) << doc.dump();
    EXPECT_GE(count, want) << doc.dump();
  }
  EXPECT_NEAR(doc["keys"][0]["share"].get<double>(), 0.5, 0.05);
  // The opt-in gauge family carries the top keys only (3 here).
  auto [status, metrics] = httpGet(admin_port, "/metrics");
  ASSERT_EQ(status, 200);
  EXPECT_NE(metrics.find("slotwise_hot_key_requests_per_second{key=\"hot:key\"}"),
            std::string::npos)
      << metrics;
  size_t series = 0;
  for (size_t p = 0;
       (p = metrics.find("slotwise_hot_key_requests_per_second{", p)) != std::string::npos; ++p) {
    ++series;
  }
  EXPECT_LE(series, 3u);
  // 10,000 GETs of one key in well under 20 s: over 500/s in some second, logged once.
  EXPECT_TRUE(cluster.waitFor(
      [&] { return proxy.log().find("hot key hot:key") != std::string::npos; }, 6000ms))
      << proxy.log();
  EXPECT_EQ(proxy.log().find("hot key cold:"), std::string::npos);
  // Bad parameters are refused.
  EXPECT_EQ(httpGet(admin_port, "/api/hotkeys?window=0s").status, 400);
  EXPECT_EQ(httpGet(admin_port, "/api/hotkeys?window=61s").status, 400);
}

// The default: one key in 8 counted, scaled back; the order and the shares still show the skew.
TEST_F(ProxyObserveTest, SampledHotKeysKeepTheSkew) {
  startWith("  hot_keys: true\n");
  auto c = proxyClient();
  skewedLoad(*c, 40000);
  Json doc;
  ASSERT_TRUE(cluster.waitFor(
      [&] {
        doc = getJson("/api/hotkeys?window=60s&limit=5");
        return doc["keys"].size() >= 2 && doc["total"].get<uint64_t>() >= 30000;
      },
      5000ms))
      << doc.dump();
  EXPECT_EQ(doc["keys"][0]["key"], "hot:key") << doc.dump();
  EXPECT_EQ(doc["keys"][1]["key"], "warm:key") << doc.dump();
  EXPECT_NEAR(doc["total"].get<double>(), 40000, 40000 * 0.05) << doc.dump();
  EXPECT_NEAR(doc["keys"][0]["share"].get<double>(), 0.5, 0.05);
  EXPECT_NEAR(doc["keys"][1]["share"].get<double>(), 0.2, 0.05);
}

TEST_F(ProxyObserveTest, RedactedKeyNamesNeverLeave) {
  startWith("  redact_keys: true\n  hot_key_metric_top_n: 2\n  big_value_bytes: 1000\n");
  auto c = proxyClient();
  skewedLoad(*c, 2000);
  ASSERT_EQ(str(c->command({"SET", "secret:blob", std::string(2000, 'x')})), "OK");
  Json doc;
  ASSERT_TRUE(cluster.waitFor(
      [&] {
        doc = getJson("/api/hotkeys?window=60s");
        return !doc["keys"].empty();
      },
      5000ms))
      << doc.dump();
  const std::string hot = doc["keys"][0]["key"];
  EXPECT_TRUE(std::regex_match(hot, std::regex("sha256:[0-9a-f]{16}"))) << hot;
  auto [s1, hot_body] = httpGet(admin_port, "/api/hotkeys?window=60s");
  auto [s2, big_body] = httpGet(admin_port, "/api/bigkeys");
  auto [s3, metrics] = httpGet(admin_port, "/metrics");
  for (const std::string* body : {&hot_body, &big_body, &metrics}) {
    EXPECT_EQ(body->find("hot:key"), std::string::npos) << *body;
    EXPECT_EQ(body->find("secret:blob"), std::string::npos) << *body;
  }
  EXPECT_NE(big_body.find("sha256:"), std::string::npos) << big_body;
}

TEST_F(ProxyObserveTest, BigValuesAreCountedAndListed) {
  startWith("  big_value_bytes: 1048576\n");
  auto c = proxyClient();
  const std::string five_mib(5 * 1024 * 1024, 'v');
  ASSERT_EQ(str(c->command({"SET", "big:blob", five_mib})), "OK");
  ASSERT_EQ(str(c->command({"SET", "small", "v"})), "OK");
  EXPECT_EQ(c->command({"GET", "big:blob"}).str.size(), five_mib.size());
  ASSERT_EQ(str(c->command({"SET", "medium", std::string(2 * 1024 * 1024, 'm')})), "OK");
  Json doc = getJson("/api/bigkeys");
  EXPECT_EQ(doc["threshold_bytes"].get<uint64_t>(), 1048576u);
  ASSERT_EQ(doc["keys"].size(), 3u) << doc.dump();
  // Largest first: the GET reply and the SET request of big:blob, then medium.
  std::set<std::string> big_dirs;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(doc["keys"][i]["key"], "big:blob") << doc.dump();
    EXPECT_GE(doc["keys"][i]["bytes"].get<uint64_t>(), five_mib.size());
    big_dirs.insert(doc["keys"][i]["direction"].get<std::string>() + "/" +
                    doc["keys"][i]["command"].get<std::string>());
  }
  EXPECT_EQ(big_dirs, (std::set<std::string>{"reply/get", "request/set"}));
  EXPECT_EQ(doc["keys"][2]["key"], "medium");
  auto [status, metrics] = httpGet(admin_port, "/metrics");
  EXPECT_NE(metrics.find("slotwise_big_values_total{command=\"set\",direction=\"request\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("slotwise_big_values_total{command=\"get\",direction=\"reply\"} 1"),
            std::string::npos)
      << metrics;
}

// The MONITOR lines of `script` sent on a second connection, with the timestamp and client
// address cut off ("+1700000000.123456 [0 127.0.0.1:5000] " -> ""). Bounded: 3 s per line.
std::vector<std::string> monitorLines(uint16_t port,
                                      const std::vector<std::vector<std::string>>& script,
                                      size_t expected_lines) {
  SyncRedisClient monitor, sender;
  EXPECT_TRUE(monitor.connect("127.0.0.1", port)) << monitor.lastError();
  EXPECT_TRUE(sender.connect("127.0.0.1", port)) << sender.lastError();
  EXPECT_EQ(monitor.command({"MONITOR"}).str, "OK");
  for (const auto& cmd : script) sender.command(cmd);
  std::vector<std::string> lines;
  const std::regex prefix(R"(^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] )");
  while (lines.size() < expected_lines) {
    std::optional<resp::RespValue> r = monitor.readReply(3000ms);
    if (!r) break;
    lines.push_back(std::regex_replace(r->str, prefix, ""));
  }
  return lines;
}

TEST_F(ProxyObserveTest, MonitorShowsWhatRedisShows) {
  startWith("  hot_keys: true\n");
  TempDir dir("slotwise-monitor-");
  RedisServerProcess single;
  ASSERT_TRUE(single.start(pickFreePort(), dir.path())) << single.error();
  const std::vector<std::vector<std::string>> script = {
      {"SET", "foo", "bar baz"},
      {"get", "foo"},
      {"SET", "bin", std::string("a\"b\\c\r\n\x01\xff", 10)},
      {"AUTH", "someone", "secret"},  // refused (no password set) but shown, redacted
      {"MGET", "foo", "bin", "nosuch"},
      {"CONFIG", "GET", "maxmemory"},  // admin: not shown
      {"HELLO", "2"},
      {"DEL", "foo", "bin"},
  };
  const std::vector<std::string> want = monitorLines(single.port(), script, 7);
  ASSERT_EQ(want.size(), 7u);
  EXPECT_EQ(want[3], R"x("AUTH" "(redacted)" "(redacted)")x");
  const std::vector<std::string> got = monitorLines(proxy_port, script, 7);
  EXPECT_EQ(got, want);
  // Monitors on both workers, and a monitor that leaves is no longer fed.
  auto m1 = proxyClient();
  auto m2 = proxyClient();
  ASSERT_EQ(str(m1->command({"MONITOR"})), "OK");
  ASSERT_EQ(str(m2->command({"MONITOR"})), "OK");
  m1->close();
  auto c = proxyClient();
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(str(c->command({"SET", "k" + std::to_string(i), "v"})), "OK");
  for (int i = 0; i < 50; ++i) {
    auto line = m2->readReply(3000ms);
    ASSERT_TRUE(line.has_value()) << i;
    EXPECT_NE(line->str.find("\"SET\" \"k" + std::to_string(i) + "\" \"v\""), std::string::npos)
        << line->str;
  }
  // RESET leaves monitor mode; the connection serves commands again.
  ASSERT_EQ(str(m2->command({"RESET"})), "RESET");
  EXPECT_EQ(str(m2->command({"PING"})), "PONG");
}

// A monitor that never reads is disconnected once its unread lines pass limits.max_output_bytes,
// as a slow subscriber is; the proxy and the other clients carry on.
TEST_F(ProxyObserveTest, MonitorThatDoesNotReadIsDisconnected) {
  limits_yaml = "  max_output_bytes: 1mb\n";
  startWith("  hot_keys: true\n");
  // A connection that sends MONITOR and never reads (LoopbackClient reads only when asked).
  LoopbackClient monitor;
  ASSERT_TRUE(monitor.connect(proxy_port)) << monitor.lastError();
  ASSERT_TRUE(monitor.send("MONITOR\r\n"));
  std::this_thread::sleep_for(200ms);
  auto c = proxyClient();
  const std::string value(1024, 'v');
  std::vector<std::vector<std::string>> batch;
  for (int i = 0; i < 100; ++i) batch.push_back({"SET", "mon:" + std::to_string(i), value});
  const std::string closed =
      "slotwise_client_connections_rejected_total{reason=\"output_limit\"} 1";
  bool seen = false;
  for (int round = 0; round < 300 && !seen; ++round) {  // at most 30 MB of monitor lines
    ASSERT_EQ(c->pipeline(batch).size(), 100u);
    if (round % 20 == 19)
      seen = httpGet(admin_port, "/metrics").body.find(closed) != std::string::npos;
  }
  EXPECT_TRUE(
      seen ||
      cluster.waitFor(
          [&] { return httpGet(admin_port, "/metrics").body.find(closed) != std::string::npos; },
          5000ms));
  EXPECT_EQ(str(c->command({"GET", "mon:1"})), value);  // the proxy and other clients carry on
}

}  // namespace
}  // namespace slotwise::test
