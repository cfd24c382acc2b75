// The admin dashboard (GET /) loaded in a real headless Chromium against a real cluster, plus the
// JSON endpoints it reads besides /metrics and /api/slots: /api/backends and /api/config.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.h"
#include "support/http_get.h"
#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kToken = "dash-s3cret-token";

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// First capture group of `pattern` in `text`, or "" when it does not match.
std::string capture(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

int countOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = 0; (p = text.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
  return n;
}

std::string artifactsDir(const std::string& fallback) {
#ifdef SLOTWISE_ARTIFACTS_DIR
  std::string dir = SLOTWISE_ARTIFACTS_DIR;
#else
  std::string dir = fallback + "/artifacts";
#endif
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

// Keeps a steady stream of SET/GET through the proxy on its own connection until destroyed,
// so that consecutive scrapes taken by the page see the request counter grow.
class TrafficLoop {
 public:
  explicit TrafficLoop(uint16_t port) : thread_([this, port] { run(port); }) {}
  ~TrafficLoop() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t sent() const { return sent_.load(); }

 private:
  void run(uint16_t port) {
    SyncRedisClient client;
    if (!client.connect("127.0.0.1", port)) return;
    std::vector<std::vector<std::string>> batch;
    for (int i = 0; i < 20; ++i) {
      std::string key = "dash:" + std::to_string(i);
      batch.push_back(i % 2 ? std::vector<std::string>{"GET", key}
                            : std::vector<std::string>{"SET", key, "v"});
    }
    while (!stop_.load()) {
      client.pipeline(batch);
      sent_.fetch_add(batch.size());
      std::this_thread::sleep_for(2ms);  // a steady trickle, not a CPU hog on a shared machine
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

class DashboardTest : public ProxyClusterTest {
 protected:
  uint16_t admin_port = 0;

  void startWithAdmin(const std::string& token) {
    admin_port = pickFreePort();
    extra_yaml = "admin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) + "\n";
    if (!token.empty()) extra_yaml += "  token: " + token + "\n";
    startAll();
  }

  // Runs headless Chromium on the dashboard with `extra` flags; stdout goes to `out_path`.
  // @return the exit code, or -1 if it had to be killed after the deadline.
  int runChromium(const std::string& extra, const std::string& out_path) {
    const std::string profile = proxy.dir() + "/chromium-profile";
    const std::string cmd =
        std::string("exec ") + kChromium +
        " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
        " --disable-background-networking --disable-component-update --disable-sync"
        " --disable-dev-shm-usage --hide-scrollbars --user-data-dir=" +
        profile + " --window-size=1366,1500 --virtual-time-budget=12000 " + extra +
        " http://127.0.0.1:" + std::to_string(admin_port) + "/ > " + out_path + " 2>> " +
        proxy.dir() + "/chromium.log";
    std::string error;
    pid_t pid = spawnChild({"/bin/sh", "-c", cmd}, proxy.dir() + "/chromium-sh.log", &error);
    if (pid < 0) {
      ADD_FAILURE() << error;
      return -1;
    }
    std::optional<int> status = reapChild(pid, 120s);
    if (!status) {
      terminateChild(pid, 2s);
      return -1;
    }
    return exitCodeOf(*status);
  }

  std::string chromiumLog() { return readFile(proxy.dir() + "/chromium.log"); }
};

TEST_F(DashboardTest, BackendsAndRedactedConfigJson) {
  startWithAdmin(kToken);
  EXPECT_EQ(httpGet(admin_port, "/api/backends").status, 401);
  EXPECT_EQ(httpGet(admin_port, "/api/config").status, 401);

  HttpResult backends = httpGet(admin_port, "/api/backends", kToken);
  ASSERT_EQ(backends.status, 200) << backends.body;
  for (const auto& node : cluster.nodes()) {
    EXPECT_NE(backends.body.find("\"address\":\"127.0.0.1:" + std::to_string(node.port) + "\""),
              std::string::npos)
        << backends.body;
  }
  EXPECT_EQ(countOf(backends.body, "\"role\":\"master\""), 3) << backends.body;
  EXPECT_EQ(countOf(backends.body, "\"health\":\"unknown\""), 0) << backends.body;
  EXPECT_NE(backends.body.find("\"health_tracked\":true"), std::string::npos);
  int total_slots = 0;
  std::regex slots_re("\"slots\":([0-9]+)");
  for (std::sregex_iterator it(backends.body.begin(), backends.body.end(), slots_re), end;
       it != end; ++it) {
    total_slots += std::stoi((*it)[1].str());
  }
  EXPECT_EQ(total_slots, 16384) << backends.body;
  auto backends_doc = nlohmann::ordered_json::parse(backends.body, nullptr, false);
  ASSERT_TRUE(backends_doc.is_object()) << backends.body;
  EXPECT_TRUE(backends_doc["version"].is_number_unsigned());
  EXPECT_EQ(backends_doc["health_tracked"], true);
  ASSERT_EQ(backends_doc["nodes"].size(), cluster.nodes().size());
  for (auto& node : backends_doc["nodes"]) {
    for (const char* key : {"address", "id", "role", "master", "health", "last_error"}) {
      EXPECT_TRUE(node[key].is_string()) << key << " in " << node.dump();
    }
    for (const char* key : {"slots", "connections", "connect_failures", "requests"}) {
      EXPECT_TRUE(node[key].is_number_unsigned()) << key << " in " << node.dump();
    }
    const std::string health = node["health"];
    EXPECT_TRUE(health == "up" || health == "connecting" || health == "down" || health == "idle")
        << node.dump();
  }

  HttpResult config = httpGet(admin_port, "/api/config", kToken);
  ASSERT_EQ(config.status, 200) << config.body;
  EXPECT_EQ(config.body.find(kToken), std::string::npos) << "token leaked: " << config.body;
  EXPECT_NE(config.body.find("\"redacted\":[\"admin.token\"]"), std::string::npos) << config.body;
  EXPECT_NE(config.body.find("token: \\\"<redacted>\\\""), std::string::npos) << config.body;
  EXPECT_NE(config.body.find("127.0.0.1:" + std::to_string(proxy_port)), std::string::npos)
      << config.body;
  auto config_doc = nlohmann::ordered_json::parse(config.body, nullptr, false);
  ASSERT_TRUE(config_doc.is_object()) << config.body;
  EXPECT_EQ(config_doc["redacted"], nlohmann::ordered_json({"admin.token"}));
  EXPECT_NE(config_doc["yaml"].get<std::string>().find("token: \"<redacted>\"\n"),
            std::string::npos)
      << config.body;
}

TEST_F(DashboardTest, PageIsServedAsHtml) {
  startWithAdmin("");
  HttpResult page = httpGet(admin_port, "/");
  ASSERT_EQ(page.status, 200);
  // Served byte for byte as the asset file compiled into the binary.
  const std::string asset = readFile(SLOTWISE_SOURCE_DIR "/proxy/admin/assets/dashboard.html");
  ASSERT_FALSE(asset.empty());
  EXPECT_TRUE(page.body == asset) << "served " << page.body.size() << " bytes, the asset has "
                                  << asset.size();
  EXPECT_NE(page.body.find("<canvas id=\"slotmap\""), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "the page must not load remote assets";
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "the page must not load remote assets";
}

TEST_F(DashboardTest, LoadsInHeadlessChromiumWithSlotMapAndLiveOps) {
  if (access(kChromium, X_OK) != 0) {
    GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  }
  startWithAdmin("");
  {
    auto c = proxyClient();
    for (int i = 0; i < 50; ++i) ASSERT_EQ(str(c->command({"SET", "w" + std::to_string(i), "v"})), "OK");
  }
  TrafficLoop traffic(proxy_port);
  // The plots come from the proxy's own history: wait for its first 2 s point.
  ASSERT_TRUE(cluster.waitFor(
      [&] { return httpGet(admin_port, "/api/history").body.find("\"t\":") != std::string::npos; },
      10000ms));
  const std::string dom_path = proxy.dir() + "/dom.html";
  ASSERT_EQ(runChromium("--dump-dom", dom_path), 0) << chromiumLog();
  const std::string png = artifactsDir(proxy.dir()) + "/dashboard.png";
  ::unlink(png.c_str());
  EXPECT_EQ(runChromium("--screenshot=" + png, proxy.dir() + "/screenshot.out"), 0) << chromiumLog();
  EXPECT_GT(traffic.sent(), 0u);

  const std::string dom = readFile(dom_path);
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dom << chromiumLog();
  EXPECT_EQ(capture(dom, "data-js-errors=\"([0-9]+)\""), "0")
      << capture(dom, "data-last-error=\"([^\"]*)\"");
  EXPECT_EQ(capture(dom, "data-fetch-errors=\"([0-9]+)\""), "0") << dom;
  EXPECT_GE(std::atoi(capture(dom, "data-refreshes=\"([0-9]+)\"").c_str()), 2) << dom;
  EXPECT_EQ(capture(dom, "data-slots-drawn=\"([0-9]+)\""), "16384") << dom;
  EXPECT_GE(std::atoi(capture(dom, "id=\"hotkeys\" data-rows=\"([0-9]+)\"").c_str()), 1) << dom;
  EXPECT_EQ(capture(dom, "id=\"pools\" data-pools=\"([0-9]+)\""), "1") << dom;
  EXPECT_GE(std::atoi(capture(dom, "id=\"plot-ops\"[^>]*data-samples=\"([0-9]+)\"").c_str()), 1)
      << dom;
  EXPECT_NE(dom.find("health-up"), std::string::npos) << dom;
  const std::string ops = capture(dom, "id=\"ops\"[^>]*data-value=\"([^\"]*)\"");
  EXPECT_GT(std::atof(ops.c_str()), 0.0) << "ops/s shown: '" << ops << "'\n" << dom;
  for (const auto& node : cluster.nodes()) {
    EXPECT_NE(dom.find("127.0.0.1:" + std::to_string(node.port)), std::string::npos)
        << "backend table / legend lacks node " << node.port;
  }
  struct stat st {};
  ASSERT_EQ(::stat(png.c_str(), &st), 0) << "no screenshot at " << png << "\n" << chromiumLog();
  EXPECT_GT(st.st_size, 10000) << "screenshot suspiciously small";
}

}  // namespace
}  // namespace slotwise::test
