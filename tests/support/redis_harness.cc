// pickFreePort, TempDir, RedisServerProcess and ProxyProcess. SyncRedisClient lives in
// sync_redis_client.cc and RedisClusterHarness in redis_cluster_harness.cc.
#include "tests/support/redis_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/host_port.h"
#include "tests/support/child_process.h"
#include "tests/support/tls_test_env.h"

namespace slotwise::test {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr uint16_t kPortRangeStart = 20000;
constexpr uint16_t kPortRangeSize = 10000;
constexpr uint16_t kBusPortOffset = 10000;

// True if a listening-style socket (SO_REUSEADDR, like redis and libuv use) can bind the port.
bool canBind(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// True if something accepts TCP connections on 127.0.0.1:port right now.
bool acceptsConnections(uint16_t port) {
  SyncRedisClient probe;
  probe.setTls(std::nullopt);  // a TCP connect is the question (the port may be plain or TLS)
  return probe.connect("127.0.0.1", port, std::chrono::milliseconds(200));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string tail(const std::string& text, size_t max_bytes) {
  return text.size() <= max_bytes ? text : text.substr(text.size() - max_bytes);
}

// Port of the first `listen: "host:port"` (quotes optional) line of a YAML document whose value
// parses as a HostPort; 0 if none.
uint16_t listenPortOf(const std::string& yaml) {
  static const std::regex kListen(R"re((^|\n)\s*listen\s*:\s*["']?([^"'\s#]+)["']?)re");
  for (std::sregex_iterator it(yaml.begin(), yaml.end(), kListen), end; it != end; ++it) {
    if (const std::optional<HostPort> address = HostPort::parse((*it)[2].str())) {
      return address->port;
    }
  }
  return 0;
}

std::string proxyBinary() {
  if (const char* env = std::getenv("SLOTWISE_BINARY"); env != nullptr && *env != '\0') return env;
#ifdef SLOTWISE_BINARY
  return SLOTWISE_BINARY;
#else
  return "";
#endif
}

}  // namespace

bool redisServerAvailable() { return access(kRedisServer, X_OK) == 0; }

uint16_t pickFreePort() {
  static std::mutex mu;
  static std::set<uint16_t> used;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  const uint16_t start = static_cast<uint16_t>(rng() % kPortRangeSize);
  for (uint16_t i = 0; i < kPortRangeSize; ++i) {
    const uint16_t port = kPortRangeStart + (start + i) % kPortRangeSize;
    if (used.count(port) != 0) continue;
    if (canBind(port) && canBind(port + kBusPortOffset)) {
      used.insert(port);
      return port;
    }
  }
  std::cerr << "pickFreePort: no free loopback port pair in [20000, 30000)\n";
  std::abort();
}

TempDir::TempDir(std::string prefix) {
  std::string templ = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(templ.data()) != nullptr) path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (std::getenv("SLOTWISE_KEEP_TMP") != nullptr) {
    std::cerr << "SLOTWISE_KEEP_TMP: keeping " << path_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ---- RedisServerProcess ----

RedisServerProcess::~RedisServerProcess() { stop(); }

std::string RedisServerProcess::logPath() const {
  return dir_ + "/redis-" + std::to_string(port_) + ".log";
}

bool RedisServerProcess::start(uint16_t port, const std::string& dir,
                               const std::vector<std::string>& extra_args) {
  if (running()) {
    error_ = "already running on port " + std::to_string(port_);
    return false;
  }
  port_ = port;
  dir_ = dir;
  error_.clear();
  const std::string p = std::to_string(port);
  // Each node its own dump file: nodes share `dir`, and a replica's full sync writes one, which a
  // node started later in the same directory would otherwise load as its own data.
  std::vector<std::string> argv = {kRedisServer, "--port", p,    "--bind",      "127.0.0.1",
                                   "--save",     "",       "--appendonly", "no", "--dir",
                                   dir,          "--dbfilename", "dump-" + p + ".rdb",
                                   "--daemonize", "no", "--logfile", logPath()};
  if (!launch_.program.empty()) argv[0] = launch_.program;
  if (tlsMode()) {  // TLS only on the same port, sentinels too (tls_test_env.h)
    const std::vector<std::string> tls = redisTlsArgs(port);
    argv.erase(argv.begin() + 1, argv.begin() + 3);
    argv.insert(argv.begin() + 1, tls.begin(), tls.end());
  }
  if (!launch_.config_file.empty()) argv.insert(argv.begin() + 1, launch_.config_file);
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = spawnChild(argv, dir + "/redis-" + p + ".out", &error_);
  if (pid_ < 0) return false;
  if (waitForPing(std::chrono::seconds(5))) return true;
  std::cerr << "redis-server on port " << port << " failed: " << error_ << "\n--- log tail ---\n"
            << tail(readFile(logPath()), 2000) << "\n";
  stop();
  return false;
}

bool RedisServerProcess::waitForPing(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  SyncRedisClient client;
  client.setCommandTimeout(std::chrono::milliseconds(500));
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto status = reapChild(pid_, std::chrono::milliseconds(0))) {
      error_ = "exited early with code " + std::to_string(exitCodeOf(*status));
      pid_ = -1;
      return false;
    }
    if (!client.connected() && client.connect("127.0.0.1", port_, std::chrono::milliseconds(200)) &&
        !launch_.auth.empty()) {
      const resp::RespValue auth = client.command(launch_.auth);
      if (auth.isError()) {
        if (auth.str.rfind("IOERR", 0) != 0) error_ = "AUTH: " + auth.str;
        client.close();
      }
    }
    if (client.connected()) {
      const resp::RespValue reply = client.command({"PING"});
      if (reply.isString() && reply.str == "PONG") return answeredByChild(client);
      if (reply.isError() && reply.str.rfind("LOADING", 0) != 0) error_ = reply.str;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (error_.empty()) error_ = "no PONG within " + std::to_string(timeout.count()) + "ms";
  return false;
}

bool RedisServerProcess::answeredByChild(SyncRedisClient& client) {
  const std::string info = client.command({"INFO", "server"}).str;
  const std::string key = "\nprocess_id:";
  const size_t pos = info.find(key);
  const long pid = pos == std::string::npos ? -1 : std::strtol(info.c_str() + pos + key.size(),
                                                                nullptr, 10);
  if (pid == pid_) return true;
  error_ = "port " + std::to_string(port_) + " is served by another process (pid " +
           std::to_string(pid) + ")";
  return false;
}

void RedisServerProcess::stop() {
  if (pid_ <= 0) return;
  terminateChild(pid_, std::chrono::seconds(3));
  pid_ = -1;
}

void RedisServerProcess::kill(int sig) {
  if (!running()) return;
  ::kill(pid_, sig);
  if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
    if (!reapChild(pid_, std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      reapChild(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
  }
}

bool RedisServerProcess::running() {
  if (pid_ <= 0) return false;
  if (reapChild(pid_, std::chrono::milliseconds(0))) pid_ = -1;
  return pid_ > 0;
}

// ---- ProxyProcess ----

ProxyProcess::ProxyProcess() : dir_(std::make_unique<TempDir>("slotwise-proxy-")) {}

ProxyProcess::~ProxyProcess() {
  if (pid_ > 0) terminateChild(pid_, std::chrono::seconds(3));
}

const std::string& ProxyProcess::dir() const { return dir_->path(); }

bool ProxyProcess::start(const std::string& yaml_config) {
  error_.clear();
  listen_port_ = listenPortOf(yaml_config);
  const std::string binary = proxyBinary();
  if (listen_port_ == 0) error_ = "yaml has no `listen: \"host:port\"` line";
  if (binary.empty()) error_ = "SLOTWISE_BINARY is not defined";
  if (dir_->path().empty()) error_ = "cannot create a temporary directory";
  if (!error_.empty()) return false;
  const std::string config_path = dir_->path() + "/slotwise.yaml";
  std::ofstream(config_path) << yaml_config;
  pid_ = spawnChild({binary, "--config", config_path}, dir_->path() + "/slotwise.log", &error_);
  if (pid_ < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto status = reapChild(pid_, std::chrono::milliseconds(0))) {
      exit_code_ = exitCodeOf(*status);
      pid_ = -1;
      error_ = "proxy exited early with code " + std::to_string(exit_code_);
      break;
    }
    if (acceptsConnections(listen_port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (error_.empty()) error_ = "proxy did not listen on port " + std::to_string(listen_port_);
  std::cerr << error_ << "\n--- slotwise.log tail ---\n" << tail(log(), 4000) << "\n";
  stop(SIGKILL);
  waitExit(std::chrono::seconds(5));
  return false;
}

void ProxyProcess::stop(int sig) {
  if (pid_ > 0 && isRegisteredChild(pid_)) ::kill(pid_, sig);
}

int ProxyProcess::waitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_code_;
  const std::optional<int> status = reapChild(pid_, timeout);
  if (!status) return -1;
  exit_code_ = exitCodeOf(*status);
  pid_ = -1;
  return exit_code_;
}

std::string ProxyProcess::log() const { return readFile(dir_->path() + "/slotwise.log"); }

double ProxyProcess::cpuSeconds() const {
  if (pid_ <= 0) return -1;
  const std::string stat = readFile("/proc/" + std::to_string(pid_) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  // After "pid (comm)" come fields 3..; utime and stime are fields 14 and 15.
  std::istringstream in(stat.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long ProxyProcess::rssKiB() const {
  if (pid_ <= 0) return -1;
  std::istringstream in(readFile("/proc/" + std::to_string(pid_) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

}  // namespace slotwise::test
