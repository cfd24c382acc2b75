// Authentication: the proxy authenticates to a password-protected cluster (backend.password) and
// clients authenticate to the proxy (auth.password). Secrets never reach the log.
#include <gtest/gtest.h>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyAuthTest : public ProxyClusterTest {
 protected:
  // The harness forms the cluster without a password; then every node gets one. The harness's
  // own (already open) connections stay authenticated, so it can still inspect the nodes.
  void startProtected() {
    ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
    for (const auto& n : cluster.nodes()) {
      ASSERT_EQ(str(cluster.client(n.port).command({"CONFIG", "SET", "requirepass", "cluster-secret-1"})), "OK");
    }
    backend_yaml = "  password: cluster-secret-1\n";
    extra_yaml = "auth:\n  password: proxy-secret-2\n  max_failures: 3\n";
    proxy_port = pickFreePort();
    ASSERT_TRUE(proxy.start(proxyConfig())) << proxy.error();
  }
};

TEST_F(ProxyAuthTest, ClientsAuthenticateAndTheProxyAuthenticatesToTheCluster) {
  startProtected();
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"GET", "k"})), "NOAUTH Authentication required.");
  EXPECT_EQ(str(c->command({"PING"})), "PONG");
  EXPECT_EQ(str(c->command({"AUTH", "nope"})), "WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(str(c->command({"AUTH", "proxy-secret-2"})), "OK");
  // The first refresh may have raced the password change; the map arrives within the retry.
  ASSERT_TRUE(cluster.waitFor([&] { return str(c->command({"SET", "authed:key", "v"})) == "OK"; }, 10000ms));
  EXPECT_EQ(str(c->command({"GET", "authed:key"})), "v");
  EXPECT_EQ(str(ownerOf("authed:key").command({"GET", "authed:key"})), "v");
  auto multi = c->command({"MGET", "authed:key", "other:key"});  // fan-out parts authenticate too
  ASSERT_EQ(multi.elements.size(), 2u);
  EXPECT_EQ(str(multi.elements[0]), "v");

  auto h = proxyClient();
  auto hello = h->command({"HELLO", "2", "AUTH", "default", "proxy-secret-2"});
  EXPECT_EQ(hello.type, resp::ValueType::kArray) << str(hello);
  EXPECT_EQ(str(h->command({"GET", "authed:key"})), "v");

  auto bad = proxyClient();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(str(bad->command({"AUTH", "guess" + std::to_string(i)})).rfind("WRONGPASS", 0), 0u);
  }
  EXPECT_TRUE(bad->isClosedByPeer(2000ms));

  std::string log = proxy.log();
  EXPECT_EQ(log.find("cluster-secret-1"), std::string::npos);
  EXPECT_EQ(log.find("proxy-secret-2"), std::string::npos);
  EXPECT_EQ(log.find("guess"), std::string::npos);
}

// Several proxy users: "app" uses the proxy's own backend user, "ro" is mapped to a backend ACL
// user that may only read, so a write through "ro" gets the node's own NOPERM error.
TEST_F(ProxyAuthTest, NamedUsersMapToTheirOwnBackendAclUsers) {
  ASSERT_TRUE(cluster.start(cluster_options)) << cluster.error();
  for (const auto& n : cluster.nodes()) {
    ASSERT_EQ(str(cluster.client(n.port).command(
                  {"ACL", "SETUSER", "reader", "on", ">reader-secret-3", "~*", "+@read",
                   "+@connection", "+cluster|slots", "+cluster|nodes", "+readonly"})),
              "OK");
  }
  extra_yaml =
      "auth:\n  users:\n"
      "    - {name: app, password: app-secret-4}\n"
      "    - {name: ro, password: ro-secret-5, backend_username: reader,"
      " backend_password: reader-secret-3}\n";
  proxy_port = pickFreePort();
  ASSERT_TRUE(proxy.start(proxyConfig())) << proxy.error();

  auto app = proxyClient();
  EXPECT_EQ(str(app->command({"GET", "u:k"})), "NOAUTH Authentication required.");
  EXPECT_EQ(str(app->command({"AUTH", "default", "app-secret-4"})).rfind("WRONGPASS", 0), 0u);
  EXPECT_EQ(str(app->command({"AUTH", "app", "ro-secret-5"})).rfind("WRONGPASS", 0), 0u);
  EXPECT_EQ(str(app->command({"AUTH", "app", "app-secret-4"})), "OK");
  ASSERT_TRUE(cluster.waitFor([&] { return str(app->command({"SET", "u:k", "v"})) == "OK"; },
                              10000ms));
  EXPECT_EQ(str(app->command({"ACL", "WHOAMI"})), "app");

  auto ro = proxyClient();
  auto hello = ro->command({"HELLO", "2", "AUTH", "ro", "ro-secret-5"});
  ASSERT_EQ(hello.type, resp::ValueType::kArray) << str(hello);
  EXPECT_EQ(str(ro->command({"ACL", "WHOAMI"})), "ro");
  EXPECT_EQ(str(ro->command({"GET", "u:k"})), "v");
  auto mget = ro->command({"MGET", "u:k", "u:other"});  // fan-out parts use reader's connections
  ASSERT_EQ(mget.elements.size(), 2u) << str(mget);
  EXPECT_EQ(str(mget.elements[0]), "v");
  EXPECT_EQ(str(ro->command({"SET", "u:k", "w"})).rfind("NOPERM", 0), 0u);
  EXPECT_EQ(str(ro->command({"DEL", "u:k"})).rfind("NOPERM", 0), 0u);
  EXPECT_EQ(str(app->command({"GET", "u:k"})), "v");  // nothing was written through "ro"
  EXPECT_NE(str(ro->command({"CLIENT", "INFO"})).find(" user=ro "), std::string::npos);

  const std::string log = proxy.log();
  for (const char* secret : {"app-secret-4", "ro-secret-5", "reader-secret-3"}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " reached the log";
  }
}

}  // namespace
}  // namespace slotwise::test
