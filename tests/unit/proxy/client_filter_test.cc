// CLIENT LIST / CLIENT KILL selection: Redis 7.0's syntax, errors and matching rules.
#include "proxy/local/client_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/resp_builders.h"

namespace slotwise::proxy {
namespace {

using test::makeCommand;

class ClientFilterTest : public ::testing::Test {
 protected:
  std::string kill(const std::vector<std::string>& args, ClientFilter* filter,
                   const config::AuthConfig* auth = nullptr) {
    std::string storage;
    return parseClientKillFilter(makeCommand(args, &storage), auth, 7, filter);
  }
  std::string list(const std::vector<std::string>& args, ClientFilter* filter) {
    std::string storage;
    return parseClientListFilter(makeCommand(args, &storage), filter);
  }
  ClientRow row(uint32_t id, std::string addr, std::string user = "default") {
    states_.push_back(std::make_unique<LocalClientState>());
    states_.back()->id = id;
    states_.back()->user = std::move(user);
    ClientRow r;
    r.state = states_.back().get();
    r.addr = std::move(addr);
    r.laddr = "127.0.0.1:6380";
    return r;
  }
  ClientRow subscriberRow(uint32_t id, std::string addr) {
    ClientRow r = row(id, std::move(addr));
    r.pubsub = true;
    return r;
  }
  std::vector<std::unique_ptr<LocalClientState>> states_;
};

TEST_F(ClientFilterTest, OldFormKillsByAddressAndMayKillTheCaller) {
  ClientFilter f;
  ASSERT_EQ(kill({"CLIENT", "KILL", "127.0.0.1:5000"}, &f), "");
  EXPECT_TRUE(f.old_kill);
  EXPECT_TRUE(f.matches(row(7, "127.0.0.1:5000")));  // the caller itself
  EXPECT_FALSE(f.matches(row(8, "127.0.0.1:5001")));
  EXPECT_EQ(clientKillReply(f, 1), "+OK\r\n");
  EXPECT_EQ(clientKillReply(f, 0), "-ERR No such client\r\n");
}

TEST_F(ClientFilterTest, NewFormCombinesFiltersAndSkipsTheCallerByDefault) {
  ClientFilter f;
  ASSERT_EQ(kill({"CLIENT", "KILL", "USER", "default", "LADDR", "127.0.0.1:6380"}, &f), "");
  EXPECT_FALSE(f.matches(row(7, "127.0.0.1:5000")));  // SKIPME yes
  EXPECT_TRUE(f.matches(row(8, "127.0.0.1:5001")));
  EXPECT_EQ(clientKillReply(f, 2), ":2\r\n");
  EXPECT_EQ(clientKillReply(f, 0), ":0\r\n");

  ClientFilter me;
  ASSERT_EQ(kill({"CLIENT", "KILL", "ID", "7", "SKIPME", "no"}, &me), "");
  EXPECT_TRUE(me.matches(row(7, "127.0.0.1:5000")));
  EXPECT_FALSE(me.matches(row(8, "127.0.0.1:5001")));

  ClientFilter typed;
  ASSERT_EQ(kill({"CLIENT", "KILL", "TYPE", "pubsub"}, &typed), "");
  const ClientRow sub = subscriberRow(9, "127.0.0.1:5002");
  EXPECT_TRUE(typed.matches(sub));
  EXPECT_FALSE(typed.matches(row(10, "127.0.0.1:5003")));
  ClientFilter replicas;
  ASSERT_EQ(kill({"CLIENT", "KILL", "TYPE", "replica"}, &replicas), "");
  EXPECT_FALSE(replicas.matches(sub));  // the proxy has no replication clients
}

TEST_F(ClientFilterTest, KillErrorsAreRedisOnes) {
  ClientFilter f;
  EXPECT_EQ(kill({"CLIENT", "KILL", "ID", "0"}, &f), "ERR client-id should be greater than 0");
  EXPECT_EQ(kill({"CLIENT", "KILL", "ID", "x"}, &f), "ERR client-id should be greater than 0");
  EXPECT_EQ(kill({"CLIENT", "KILL", "TYPE", "x"}, &f), "ERR Unknown client type 'x'");
  EXPECT_EQ(kill({"CLIENT", "KILL", "USER", "bob"}, &f), "ERR No such user 'bob'");
  EXPECT_EQ(kill({"CLIENT", "KILL", "SKIPME", "maybe"}, &f), "ERR syntax error");
  EXPECT_EQ(kill({"CLIENT", "KILL", "ID", "1", "ADDR"}, &f), "ERR syntax error");
  EXPECT_EQ(kill({"CLIENT", "KILL", "BOGUS", "1"}, &f), "ERR syntax error");
  config::AuthConfig auth;
  auth.users.push_back(config::UserConfig{"bob", "pw", "", ""});
  ClientFilter bob;
  ASSERT_EQ(kill({"CLIENT", "KILL", "USER", "bob"}, &bob, &auth), "");
  EXPECT_TRUE(bob.matches(row(8, "127.0.0.1:5001", "bob")));
  EXPECT_FALSE(bob.matches(row(9, "127.0.0.1:5002")));
}

TEST_F(ClientFilterTest, ListSelectsByIdsAndType) {
  ClientFilter f;
  ASSERT_EQ(list({"CLIENT", "LIST", "ID", "3", "5"}, &f), "");
  EXPECT_TRUE(f.matches(row(3, "a")));
  EXPECT_TRUE(f.matches(row(5, "b")));
  EXPECT_FALSE(f.matches(row(4, "c")));
  ClientFilter normal;
  ASSERT_EQ(list({"CLIENT", "LIST", "TYPE", "normal"}, &normal), "");
  EXPECT_FALSE(normal.matches(subscriberRow(6, "d")));
  EXPECT_TRUE(normal.matches(row(7, "e")));  // the caller too: LIST never skips it
  ClientFilter none;
  ASSERT_EQ(list({"CLIENT", "LIST", "ID", "0", "-1"}, &none), "");  // no error, no match
  EXPECT_FALSE(none.matches(row(8, "f")));
  ClientFilter bad;
  EXPECT_EQ(list({"CLIENT", "LIST", "TYPE", "x"}, &bad), "ERR Unknown client type 'x'");
  EXPECT_EQ(list({"CLIENT", "LIST", "ID", "x"}, &bad), "ERR Invalid client ID");
  EXPECT_EQ(list({"CLIENT", "LIST", "ID"}, &bad), "ERR syntax error");
  EXPECT_EQ(list({"CLIENT", "LIST", "TYPE", "normal", "ID", "1"}, &bad), "ERR syntax error");
}

}  // namespace
}  // namespace slotwise::proxy
