// twemproxy (Debian's nutcracker 0.5) as a child process for tests: the reference for static
// sharding placement and the baseline of the static-mode benchmark.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/redis_harness.h"

namespace slotwise::test {

inline constexpr const char* kNutcracker = "/usr/sbin/nutcracker";
bool nutcrackerAvailable();

class NutcrackerProcess {
 public:
  struct Pool {
    std::string name;
    uint16_t port = 0;                 // listen port on 127.0.0.1
    std::string hash;                  // twemproxy's names: fnv1a_64, murmur, ...
    std::string distribution;          // ketama | modula | random
    std::string hash_tag;              // "" or two characters
    std::vector<std::string> servers;  // "host:port:weight [name]"
    // auto_eject_hosts: a server that fails server_failure_limit times in a row leaves the
    // ring for server_retry_timeout_ms.
    bool auto_eject_hosts = false;
    int server_failure_limit = 2;
    int server_retry_timeout_ms = 30000;
  };
  NutcrackerProcess() = default;
  ~NutcrackerProcess();  // stops the process by PID
  NutcrackerProcess(const NutcrackerProcess&) = delete;
  NutcrackerProcess& operator=(const NutcrackerProcess&) = delete;

  // Writes the YAML config (one pool per entry, `redis: true`), starts nutcracker and waits
  // (<= 5 s) until every pool's port accepts connections. @return false (reason and log in
  // error()) otherwise. Call once per object.
  bool start(const std::vector<Pool>& pools);
  void stop();
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }
  std::string log() const;

 private:
  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace slotwise::test
