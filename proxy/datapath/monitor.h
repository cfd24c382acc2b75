// MONITOR through the proxy: the commands this proxy instance receives, on every worker,
// streamed to the clients that sent MONITOR, in redis-server's format:
//   +1700000000.123456 [0 127.0.0.1:50312] "set" "foo" "bar"
// (arguments quoted as Redis's sdscatrepr does; AUTH's and HELLO ... AUTH's credentials shown as
// "(redacted)"; commands flagged skip_monitor or admin are not shown, as in Redis).
//
//   worker A: dispatch ─► active()? ─no─► (one relaxed load and a branch per request)
//                              └─yes─► format the line ─► publish(): append to each monitor's
//                                      inbox (mutex); first line posts a drain task to the
//                                      monitor's worker ─► worker B appends the batch to the
//                                      monitor client's output
//
// A monitor is added and removed on its own worker's thread; drain tasks run there too, so a
// monitor's session is never touched after it closed (the drain finds the id gone).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"

namespace slotwise::proxy {

class MonitorHub {
 public:
  using Post = std::function<void(std::function<void()>)>;   // runs a task on a worker's loop
  using Deliver = std::function<void(std::string&& lines)>;  // monitor's worker thread

  // Before the workers start: how to run a task on worker `worker`.
  void setWorker(int worker, Post post);

  // Any thread: true while some client monitors. The request path's only cost otherwise.
  bool active() const { return monitors_.load(std::memory_order_relaxed) > 0; }

  // Worker `worker`'s thread: a client starts monitoring; `deliver` receives its lines on that
  // thread. Returns the monitor's id for remove().
  uint64_t add(int worker, Deliver deliver);
  // The monitor's worker thread: stops delivering to `id` (lines in flight are dropped).
  void remove(uint64_t id);

  // Any worker: sends one command line to every monitor.
  void publish(std::string_view line);

 private:
  struct Monitor {
    int worker = 0;
    Deliver deliver;
    std::string inbox;
    bool drain_posted = false;
  };
  void drain(uint64_t id);

  std::atomic<int> monitors_{0};
  std::vector<Post> posts_;  // by worker id; set before the workers start
  std::mutex mu_;
  std::map<uint64_t, Monitor> by_id_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;               // GUARDED_BY(mu_)
};

// The MONITOR line of `cmd` sent by `client_addr` ("ip:port") at `unix_us`, ending in CRLF;
// empty when Redis would not show it (`skip`: the command is flagged skip_monitor or admin).
// `redact_from`: arguments from this index on are shown as "(redacted)" (0: none).
std::string monitorLine(const resp::Command& cmd, std::string_view client_addr, int64_t unix_us,
                        size_t redact_from);

}  // namespace slotwise::proxy
