// SIGHUP: live keys of the reloaded file take effect, restart-only keys are refused with a logged
// reason, and a file that does not load keeps the running configuration.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <string>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

class ProxyReloadTest : public ProxyClusterTest {
 protected:
  void reloadWith(const std::string& yaml) {
    std::ofstream(proxy.dir() + "/slotwise.yaml", std::ios::trunc) << yaml;
    log_offset_ = proxy.log().size();
    ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  }
  // Waits until the proxy logged `text` after the last reloadWith().
  bool logged(const std::string& text) {
    return cluster.waitFor([&] { return proxy.log().find(text, log_offset_) != std::string::npos; },
                           5000ms);
  }
  size_t log_offset_ = 0;
};

TEST_F(ProxyReloadTest, SighupAppliesLiveKeysRefusesRestartOnlyKeysAndSurvivesABadFile) {
  startAll();
  auto before = proxyClient();  // connected before the reload: already authenticated
  ASSERT_EQ(str(before->command({"SET", "rl:a", "1"})), "OK");

  std::string next = proxyConfig() + "auth:\n  password: s3cret\n";
  const std::string old_listen = "listen: 127.0.0.1:" + std::to_string(proxy_port);
  next.replace(next.find(old_listen), old_listen.size(), "listen: 127.0.0.1:1");
  reloadWith(next);
  ASSERT_TRUE(logged("now in effect: auth")) << proxy.log();
  EXPECT_NE(proxy.log().find("SIGHUP: listen cannot change without a restart"), std::string::npos);
  EXPECT_EQ(proxy.log().find("s3cret"), std::string::npos) << "a password reached the log";

  // New clients must AUTH with the new password; the listener stayed where it was.
  auto after = proxyClient();
  EXPECT_EQ(str(after->command({"GET", "rl:a"})).rfind("NOAUTH", 0), 0u);
  EXPECT_EQ(str(after->command({"AUTH", "wrong"})).rfind("WRONGPASS", 0), 0u);
  EXPECT_EQ(str(after->command({"AUTH", "s3cret"})), "OK");
  EXPECT_EQ(str(after->command({"GET", "rl:a"})), "1");
  EXPECT_EQ(str(before->command({"GET", "rl:a"})), "1");

  // A file that does not parse: the error is logged and the running configuration stays.
  reloadWith("listen: [unclosed\n");
  ASSERT_TRUE(logged("is invalid; the running configuration stays in effect")) << proxy.log();
  auto third = proxyClient();
  EXPECT_EQ(str(third->command({"AUTH", "s3cret"})), "OK");
  EXPECT_EQ(str(third->command({"GET", "rl:a"})), "1");

  // Back to no password: open again for new clients.
  reloadWith(proxyConfig());
  ASSERT_TRUE(logged("now in effect: auth")) << proxy.log();
  ASSERT_TRUE(cluster.waitFor([&] {
    return str(proxyClient()->command({"GET", "rl:a"})) == "1";
  }, 3000ms));
}

}  // namespace
}  // namespace slotwise::test
