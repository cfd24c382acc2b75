#include "common/host_port.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>

namespace slotwise {

// Readable gtest messages (found by argument-dependent lookup).
void PrintTo(const HostPort& a, std::ostream* out) {
  *out << "HostPort{\"" << a.host << "\", " << a.port << "}";
}

namespace {

struct ParseCase {
  std::string text;
  std::optional<HostPort> want;  // nullopt: rejected
};

std::ostream& operator<<(std::ostream& out, const ParseCase& c) {
  return out << "'" << c.text << "'";
}

// Every spelling the former parsers accepted (config, MOVED/ASK, CLUSTER SLOTS/NODES addresses,
// seeds, node query and data-path targets) and what they refused.
TEST(HostPortTest, ParseTable) {
  const ParseCase kCases[] = {
      // Accepted.
      {"127.0.0.1:7000", HostPort{"127.0.0.1", 7000}},
      {"redis-2.cluster.local:6379", HostPort{"redis-2.cluster.local", 6379}},
      {"localhost:1", HostPort{"localhost", 1}},
      {"h:65535", HostPort{"h", 65535}},
      {"h:07000", HostPort{"h", 7000}},                      // leading zeros
      {"[::1]:7000", HostPort{"::1", 7000}},                 // bracketed IPv6
      {"[fe80::1%eth0]:7000", HostPort{"fe80::1%eth0", 7000}},
      {"[::ffff:10.0.0.1]:7000", HostPort{"::ffff:10.0.0.1", 7000}},
      {"::1:7000", HostPort{"::1", 7000}},                   // bare IPv6, as in MOVED
      {"2001:db8::7:65535", HostPort{"2001:db8::7", 65535}},  // split at the last ':'
      {":7000", HostPort{"", 7000}},                         // Redis' "address unknown"
      {"[]:7000", HostPort{"", 7000}},
      // Rejected.
      {"", std::nullopt},
      {"127.0.0.1", std::nullopt},  // no port
      {"127.0.0.1:", std::nullopt},
      {"127.0.0.1:0", std::nullopt},
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:99999999999999999999999", std::nullopt},
      {"127.0.0.1:x", std::nullopt},
      {"127.0.0.1:63x1", std::nullopt},
      {"127.0.0.1:+80", std::nullopt},
      {"127.0.0.1:-1", std::nullopt},
      {"127.0.0.1: 80", std::nullopt},
      {"127.0.0.1:80 ", std::nullopt},
      {"[::1]7000", std::nullopt},  // no ':' after ']'
      {"[::1]", std::nullopt},
      {"[::1:7000", std::nullopt},  // no ']'
  };
  for (const ParseCase& c : kCases) EXPECT_EQ(HostPort::parse(c.text), c.want) << c;
  // A bare IPv6 address without a port is ambiguous: its last group reads as the port.
  EXPECT_EQ(HostPort::parse("::1"), (HostPort{":", 1}));
}

TEST(HostPortTest, SplitErrorMessages) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case kCases[] = {
      {"nowhere", "missing port in 'nowhere' (expected host:port)"},
      {"", "missing port in '' (expected host:port)"},
      {"[::1]7000", "missing port in '[::1]7000' (expected [host]:port)"},
      {"[::1]", "missing port in '[::1]' (expected [host]:port)"},
      {"[::1:7000", "missing ']' in '[::1:7000'"},
  };
  for (const Case& c : kCases) {
    const auto parts = HostPort::split(c.text);
    ASSERT_FALSE(parts) << c.text;
    EXPECT_EQ(parts.error(), c.error);
  }
  const auto bare = HostPort::split("::1:7000");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "::1");
  EXPECT_EQ(bare->port, "7000");
  EXPECT_FALSE(bare->bracketed);
  const auto bracketed = HostPort::split("[::1]:x");
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(bracketed->host, "::1");
  EXPECT_EQ(bracketed->port, "x");
  EXPECT_TRUE(bracketed->bracketed);
}

TEST(HostPortTest, ParsePortMessages) {
  struct Case {
    std::string text;
    std::optional<uint16_t> want;
    std::string error;
  };
  const Case kCases[] = {
      {"1", 1, ""},
      {"6379", 6379, ""},
      {"65535", 65535, ""},
      {"007", 7, ""},
      {"", std::nullopt, "invalid port ''"},
      {"x", std::nullopt, "invalid port 'x'"},
      {"+80", std::nullopt, "invalid port '+80'"},
      {"-1", std::nullopt, "invalid port '-1'"},
      {"80 ", std::nullopt, "invalid port '80 '"},
      {"99999999999999999999999", std::nullopt, "invalid port '99999999999999999999999'"},
      {"0", std::nullopt, "invalid port '0' (must be between 1 and 65535)"},
      {"65536", std::nullopt, "invalid port '65536' (must be between 1 and 65535)"},
  };
  for (const Case& c : kCases) {
    const auto port = HostPort::parsePort(c.text);
    if (c.want) {
      ASSERT_TRUE(port) << c.text << ": " << port.error();
      EXPECT_EQ(*port, *c.want) << c.text;
    } else {
      ASSERT_FALSE(port) << c.text;
      EXPECT_EQ(port.error(), c.error);
    }
  }
}

TEST(HostPortTest, FormatTable) {
  struct Case {
    const char* host;
    uint16_t port;
    const char* text;          // toString()
    const char* node_address;  // toNodeAddress()
  };
  const Case kCases[] = {
      {"127.0.0.1", 6379, "127.0.0.1:6379", "127.0.0.1:6379"},
      {"redis.local", 1, "redis.local:1", "redis.local:1"},
      {"::1", 7000, "[::1]:7000", "::1:7000"},
      {"fe80::1%eth0", 65535, "[fe80::1%eth0]:65535", "fe80::1%eth0:65535"},
      {"", 7000, ":7000", ":7000"},
      {"h", 0, "h:0", "h:0"},
  };
  for (const Case& c : kCases) {
    const HostPort address{c.host, c.port};
    EXPECT_EQ(address.toString(), c.text);
    EXPECT_EQ(address.toNodeAddress(), c.node_address);
    EXPECT_EQ(HostPort::nodeAddress(c.host, c.port), c.node_address);
  }
}

// Both spellings read back to the same endpoint (port 0 excepted: it is not a valid port).
TEST(HostPortTest, FormatThenParseRoundTrips) {
  const HostPort kAddresses[] = {
      {"127.0.0.1", 6379}, {"redis.local", 1}, {"::1", 7000}, {"2001:db8::7", 65535},
      {"fe80::1%eth0", 80}, {"::ffff:10.0.0.1", 7001},
  };
  for (const HostPort& a : kAddresses) {
    EXPECT_EQ(HostPort::parse(a.toString()), a) << a.toString();
    EXPECT_EQ(HostPort::parse(a.toNodeAddress()), a) << a.toNodeAddress();
  }
}

}  // namespace
}  // namespace slotwise
