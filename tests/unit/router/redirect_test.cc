#include "router/redirect.h"

#include <gtest/gtest.h>

namespace slotwise::router {
namespace {

TEST(RedirectTest, Moved) {
  const auto r = parseRedirect("MOVED 3999 127.0.0.1:6381", "10.0.0.1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Redirect::kMoved);
  EXPECT_EQ(r->slot, 3999);
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->port, 6381);
  EXPECT_EQ(r->address, "127.0.0.1:6381");
}

TEST(RedirectTest, Ask) {
  const auto r = parseRedirect("ASK 0 10.1.2.3:7000", "x");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, Redirect::kAsk);
  EXPECT_EQ(r->slot, 0);
  EXPECT_EQ(r->address, "10.1.2.3:7000");
}

TEST(RedirectTest, EmptyHostUsesFallback) {
  const auto r = parseRedirect("MOVED 16383 :6381", "192.168.1.5");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->slot, 16383);
  EXPECT_EQ(r->host, "192.168.1.5");
  EXPECT_EQ(r->address, "192.168.1.5:6381");
}

TEST(RedirectTest, Ipv6SplitsAtLastColon) {
  const auto r = parseRedirect("ASK 12 ::1:6381", "h");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->host, "::1");
  EXPECT_EQ(r->port, 6381);
  EXPECT_EQ(r->address, "::1:6381");
  const auto full = parseRedirect("MOVED 1 2001:db8::7:65535", "h");
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->host, "2001:db8::7");
  EXPECT_EQ(full->port, 65535);
}

TEST(RedirectTest, BracketedIpv6LosesItsBrackets) {
  const auto r = parseRedirect("MOVED 7 [::1]:6381", "h");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->host, "::1");
  EXPECT_EQ(r->port, 6381);
  EXPECT_EQ(r->address, "::1:6381");  // the SlotMap key spelling
}

TEST(RedirectTest, Hostname) {
  const auto r = parseRedirect("MOVED 42 redis-2.cluster.local:6379", "h");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->host, "redis-2.cluster.local");
  EXPECT_EQ(r->port, 6379);
}

TEST(RedirectTest, RejectsJunk) {
  const char* kBad[] = {
      "",
      "MOVED",
      "MOVED 3999",
      "MOVED 3999 ",
      "MOVED 3999 127.0.0.1",         // no port
      "MOVED 3999 127.0.0.1:",        // empty port
      "MOVED 3999 127.0.0.1:0",       // port 0
      "MOVED 3999 127.0.0.1:65536",   // port too big
      "MOVED 3999 127.0.0.1:63x1",    // not a number
      "MOVED 3999 127.0.0.1:-1",
      "MOVED 3999 127.0.0.1:6381 x",  // extra field
      "MOVED 16384 127.0.0.1:6381",   // slot out of range
      "MOVED -1 127.0.0.1:6381",
      "MOVED abc 127.0.0.1:6381",
      "MOVED  3999 127.0.0.1:6381",   // double space
      "moved 3999 127.0.0.1:6381",    // Redis always sends upper case
      "ERR unknown command",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "ASKING 1 127.0.0.1:6381",
  };
  for (const char* text : kBad) {
    EXPECT_FALSE(parseRedirect(text, "fallback").has_value()) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace slotwise::router
