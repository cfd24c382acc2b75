#include "tests/support/nutcracker_process.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/child_process.h"

namespace slotwise::test {

bool nutcrackerAvailable() { return ::access(kNutcracker, X_OK) == 0; }

NutcrackerProcess::~NutcrackerProcess() { stop(); }

bool NutcrackerProcess::start(const std::vector<Pool>& pools) {
  dir_ = std::make_unique<TempDir>("slotwise-nutcracker-");
  std::ostringstream conf;
  for (const Pool& p : pools) {
    conf << p.name << ":\n  listen: 127.0.0.1:" << p.port << "\n  hash: " << p.hash
         << "\n  distribution: " << p.distribution << "\n  redis: true\n"
         << "  auto_eject_hosts: " << (p.auto_eject_hosts ? "true" : "false") << "\n"
         << "  server_failure_limit: " << p.server_failure_limit << "\n"
         << "  server_retry_timeout: " << p.server_retry_timeout_ms << "\n  timeout: 2000\n";
    if (!p.hash_tag.empty()) conf << "  hash_tag: \"" << p.hash_tag << "\"\n";
    conf << "  servers:\n";
    for (const std::string& s : p.servers) conf << "   - " << s << "\n";
  }
  const std::string conf_path = dir_->path() + "/nutcracker.yml";
  std::ofstream(conf_path) << conf.str();
  const std::string stats_port = std::to_string(pickFreePort());
  pid_ = spawnChild({kNutcracker, "-c", conf_path, "-o", dir_->path() + "/nutcracker.log", "-s",
                     stats_port, "-a", "127.0.0.1", "-p", dir_->path() + "/nutcracker.pid"},
                    dir_->path() + "/nutcracker.out", &error_);
  if (pid_ < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (const Pool& p : pools) {
    SyncRedisClient probe;
    while (!probe.connect("127.0.0.1", p.port, std::chrono::milliseconds(200))) {
      if (std::chrono::steady_clock::now() > deadline || reapChild(pid_, {})) {
        error_ = "nutcracker did not listen on " + std::to_string(p.port) + ": " + log();
        stop();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return true;
}

void NutcrackerProcess::stop() {
  if (pid_ > 0) terminateChild(pid_, std::chrono::seconds(2));
  pid_ = -1;
}

std::string NutcrackerProcess::log() const {
  if (!dir_) return {};
  std::ifstream in(dir_->path() + "/nutcracker.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace slotwise::test
