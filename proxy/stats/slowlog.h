// The proxy's own slow log: requests slower than slowlog.threshold_us (client-observed, from
// parse to reply ready) are kept per worker in a bounded ring and logged at warn level.
//
//   worker 0 ── SlowlogShard (ring of max_len, own mutex) ─┐
//   worker 1 ── SlowlogShard ──────────────────────────────┼─► SlowlogBook::newest()/length()/reset()
//   ...                                                    ┘    (SLOWLOG GET/LEN/RESET, any worker)
//
// The request path only compares the elapsed time with the threshold (no lock, no atomic). A
// slow request takes its shard's mutex once to append, plus one relaxed atomic increment for
// its id; readers take each shard's mutex in turn. Keys and values are kept only when
// slowlog.log_args is true; otherwise an entry's arguments are just the command name.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "resp/command.h"

namespace slotwise::proxy {

struct SlowlogEntry {
  uint64_t id = 0;                // unique and increasing across workers
  int64_t unix_time_s = 0;        // when the request finished
  uint64_t duration_us = 0;       // parse -> reply ready
  std::string command;            // command table name, e.g. "get" or "config|get"
  std::vector<std::string> args;  // client arguments (log_args) or the command name's words
  int32_t slot = -1;              // -1: no single slot (keyless, fan-out)
  std::string node;               // "host:port" the request went to; "" if several or unknown
  std::string client_addr;        // "ip:port" of the client; "" if unknown
  std::string client_name;        // CLIENT SETNAME; "" if none
};

class SlowlogBook;

// One worker's ring. record() and the readers are thread-safe (mutex); wants() reads only
// immutable configuration.
class SlowlogShard {
 public:
  SlowlogShard(SlowlogBook& book, const config::SlowlogConfig& config);
  SlowlogShard(const SlowlogShard&) = delete;
  SlowlogShard& operator=(const SlowlogShard&) = delete;

  // True when a request that took `elapsed_ns` must be recorded (the log is on and the time
  // reaches the threshold). Owning thread; lock-free.
  bool wants(uint64_t elapsed_ns) const {
    return config_.max_len > 0 && elapsed_ns >= config_.threshold_us * 1000;
  }
  // Completes `entry` (id, time, arguments) and appends it, dropping the oldest entry when the
  // ring holds max_len; also logs it at warn level. `payload` is the request's RESP multibulk
  // frame, read only when log_args is true (then at most 32 arguments of at most 128 bytes
  // each are kept, as Redis does). Any thread; takes the shard's mutex.
  void record(SlowlogEntry entry, std::string_view payload);
  // Appends a copy of every entry, oldest first, to `*out`.
  void appendTo(std::vector<SlowlogEntry>* out) const;
  size_t size() const;
  void clear();

 private:
  SlowlogBook& book_;
  const config::SlowlogConfig config_;  // a copy: the proxy config may be reloaded
  mutable std::mutex mu_;
  std::deque<SlowlogEntry> entries_;  // GUARDED_BY(mu_), oldest first
};

// Every worker's shard. Owned by the Server; shards are added before the workers start and
// live as long as the book.
class SlowlogBook {
 public:
  explicit SlowlogBook(config::SlowlogConfig config) : config_(config) {}
  SlowlogBook(const SlowlogBook&) = delete;
  SlowlogBook& operator=(const SlowlogBook&) = delete;

  // A new shard for one worker; the reference stays valid for the book's lifetime. Any thread.
  SlowlogShard& addShard();
  // The next entry id (first is 0, as in Redis). Any thread.
  uint64_t nextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  // Up to `count` entries of all shards, newest (highest id) first. Any thread.
  std::vector<SlowlogEntry> newest(size_t count) const;
  // Entries held by all shards together. Any thread.
  size_t length() const;
  // Empties every shard (ids keep increasing). Any thread.
  void reset();
  const config::SlowlogConfig& config() const { return config_; }

 private:
  const config::SlowlogConfig config_;
  std::atomic<uint64_t> next_id_{0};
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<SlowlogShard>> shards_;  // GUARDED_BY(mu_)
};

// The arguments of a RESP multibulk frame for the slow log: at most `max_args` (the last one
// kept replaced by "... (N more arguments)") and each cut to `max_len` bytes with
// "... (N more bytes)" appended. Empty if `frame` is not a complete multibulk frame.
std::vector<std::string> slowlogArgs(std::string_view frame, size_t max_args = 32,
                                     size_t max_len = 128);

// The reply of SLOWLOG GET for `entries` in Redis's format: an array of entries, each
// [id, timestamp, duration-us, [args...], client-addr, client-name].
void appendSlowlogEntries(const std::vector<SlowlogEntry>& entries, std::string* reply);

// Answers SLOWLOG GET [count] | LEN | RESET | HELP from `book` into `*reply` (RESP2). `book`
// null means the proxy runs without a slow log: the reply is an error. `cmd` is only read
// during the call.
void runSlowlogCommand(const resp::Command& cmd, SlowlogBook* book, std::string* reply);

}  // namespace slotwise::proxy
