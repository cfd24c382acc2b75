// RESP3 through the proxy: `redis-cli -3` must see exactly what it sees from a redis-server.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "<popen failed>";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class ProxyResp3Test : public ProxyClusterTest {
 protected:
  std::string cli(uint16_t port, const std::string& script) {
    std::string file = cluster.dir() + "/script-" + std::to_string(port) + ".txt";
    std::ofstream(file) << script;
    return run("redis-cli -3 --no-raw -p " + std::to_string(port) + " < " + file + " 2>&1");
  }
};

TEST_F(ProxyResp3Test, RedisCliDashThreeSeesTheSameRepliesAsFromANode) {
  startAll();
  const std::string key = "{resp3}h";
  uint16_t node = cluster.masterPortForSlot(RedisClusterHarness::keySlot(key));
  const std::string script =
      "HSET {resp3}h a 1 b 2\nHGETALL {resp3}h\nSMEMBERS {resp3}none\nGET {resp3}missing\n"
      "ZADD {resp3}z 1.5 m\nZSCORE {resp3}z m\nZRANGE {resp3}z 0 -1 WITHSCORES\n"
      "HSET {resp3}h a 1 b 2\nDEL {resp3}h {resp3}z\n";
  std::string via_proxy = cli(proxy_port, script);
  std::string direct = cli(node, script);
  EXPECT_EQ(via_proxy, direct);
  EXPECT_NE(via_proxy.find("1# \"a\" => \"1\""), std::string::npos) << via_proxy;  // a RESP3 map
  EXPECT_NE(via_proxy.find("(double) 1.5"), std::string::npos) << via_proxy;
}

TEST_F(ProxyResp3Test, SubscribeDeliversPushMessagesLikeANode) {
  startAll();
  auto capture = [&](uint16_t port, const std::string& channel) {
    std::string file = cluster.dir() + "/sub-" + std::to_string(port) + ".txt";
    std::string cmd = "timeout 3 redis-cli -3 --no-raw -p " + std::to_string(port) +
                      " SUBSCRIBE " + channel + " > " + file + " 2>&1 &";
    std::system(cmd.c_str());
    return file;
  };
  uint16_t node = cluster.nodes()[0].port;
  std::string f1 = capture(proxy_port, "r3chan");
  std::string f2 = capture(node, "r3chan");
  auto pub = proxyClient();
  ASSERT_TRUE(cluster.waitFor([&] {
    return pub->command({"PUBSUB", "NUMSUB", "r3chan"}).elements.size() == 2 &&
           pub->command({"PUBSUB", "NUMSUB", "r3chan"}).elements[1].integer == 2;
  }, 3000ms));
  for (int i = 0; i < 3; ++i) pub->command({"PUBLISH", "r3chan", "hello" + std::to_string(i)});
  std::this_thread::sleep_for(3500ms);  // both redis-cli processes end by their own timeout
  std::stringstream a, b;
  a << std::ifstream(f1).rdbuf();
  b << std::ifstream(f2).rdbuf();
  EXPECT_EQ(a.str(), b.str());
  EXPECT_NE(a.str().find("hello2"), std::string::npos) << a.str();
}

}  // namespace
}  // namespace slotwise::test
