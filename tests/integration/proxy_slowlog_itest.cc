// The proxy's own slow log through SLOWLOG GET/LEN/RESET against a real cluster.
#include <gtest/gtest.h>

#include "support/http_get.h"
#include "resp/encoder.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxySlowlogTest : public ProxyClusterTest {
 protected:
  void startWithSlowlog(uint64_t threshold_us, bool log_args) {
    admin_port = pickFreePort();
    extra_yaml = "slowlog:\n  threshold_us: " + std::to_string(threshold_us) +
                 "\n  max_len: 16\n  log_args: " + (log_args ? "true" : "false") +
                 "\nadmin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) + "\n";
    startAll();
  }
  // Every string inside `v`, depth first (to check that nothing leaked into a reply).
  static std::string allText(const resp::RespValue& v) {
    std::string out = v.str;
    for (const auto& e : v.elements) out += " " + allText(e);
    return out;
  }
  uint16_t admin_port = 0;
};

TEST_F(ProxySlowlogTest, ThresholdZeroRecordsEveryRequestWithoutItsArguments) {
  startWithSlowlog(0, false);
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SLOWLOG", "RESET"})), "OK");
  ASSERT_EQ(str(c->command({"SET", "secret-key", "secret-value"})), "OK");
  ASSERT_EQ(str(c->command({"GET", "secret-key"})), "secret-value");
  EXPECT_EQ(c->command({"SLOWLOG", "LEN"}).integer, 2);
  resp::RespValue got = c->command({"SLOWLOG", "GET", "1"});
  ASSERT_EQ(got.type, resp::ValueType::kArray) << resp::toString(got);
  ASSERT_EQ(got.elements.size(), 1u);
  const resp::RespValue& e = got.elements[0];
  ASSERT_EQ(e.elements.size(), 6u) << resp::toString(got);
  EXPECT_GE(e.elements[0].integer, 1);           // id: SET came first
  EXPECT_GT(e.elements[1].integer, 1600000000);  // unix time
  EXPECT_GE(e.elements[2].integer, 0);           // microseconds
  ASSERT_EQ(e.elements[3].elements.size(), 1u);
  EXPECT_EQ(e.elements[3].elements[0].str, "get");  // newest first, command name only
  EXPECT_EQ(e.elements[4].str.rfind("127.0.0.1:", 0), 0u) << e.elements[4].str;
  resp::RespValue all = c->command({"SLOWLOG", "GET", "-1"});
  EXPECT_EQ(all.elements.size(), 2u);
  EXPECT_EQ(allText(all).find("secret"), std::string::npos) << resp::toString(all);
  EXPECT_EQ(proxy.log().find("secret-key"), std::string::npos);
  auto [status, body] = httpGet(admin_port, "/metrics");
  EXPECT_NE(body.find("slotwise_slowlog_entries_total "), std::string::npos);
  EXPECT_EQ(str(c->command({"SLOWLOG", "RESET"})), "OK");
  EXPECT_EQ(c->command({"SLOWLOG", "LEN"}).integer, 0);
  EXPECT_EQ(c->command({"SLOWLOG", "GET"}).elements.size(), 0u);
}

TEST_F(ProxySlowlogTest, OnlyRequestsOverTheThresholdAreRecorded) {
  startWithSlowlog(100000, false);  // 100 ms
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SLOWLOG", "RESET"})), "OK");
  for (int i = 0; i < 20; ++i) c->command({"INCR", "fast-counter"});
  auto r = c->command({"BLPOP", "never-filled", "0.3"});
  EXPECT_EQ(r.type, resp::ValueType::kNull) << resp::toString(r);
  EXPECT_EQ(c->command({"SLOWLOG", "LEN"}).integer, 1);
  resp::RespValue got = c->command({"SLOWLOG", "GET"});
  ASSERT_EQ(got.elements.size(), 1u) << resp::toString(got);
  const resp::RespValue& e = got.elements[0];
  EXPECT_GE(e.elements[2].integer, 250000) << resp::toString(got);
  ASSERT_EQ(e.elements[3].elements.size(), 1u);
  EXPECT_EQ(e.elements[3].elements[0].str, "blpop");
  EXPECT_NE(proxy.log().find("slow request"), std::string::npos);
}

TEST_F(ProxySlowlogTest, LogArgsKeepsTheClientArguments) {
  startWithSlowlog(0, true);
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SLOWLOG", "RESET"})), "OK");
  ASSERT_EQ(str(c->command({"SET", "visible-key", "visible-value"})), "OK");
  resp::RespValue got = c->command({"SLOWLOG", "GET", "1"});
  ASSERT_EQ(got.elements.size(), 1u) << resp::toString(got);
  const auto& args = got.elements[0].elements[3].elements;
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[0].str, "SET");
  EXPECT_EQ(args[1].str, "visible-key");
  EXPECT_EQ(args[2].str, "visible-value");
}

}  // namespace
}  // namespace slotwise::test
