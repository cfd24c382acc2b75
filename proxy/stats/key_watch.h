// Hot keys and big keys: which keys the traffic asks for most, and which values are huge.
//
//   worker 0 ── KeyWatchShard: SpaceSaving of this second ──(every second)──► ring of per-second
//   worker 1 ── KeyWatchShard ...                                             top lists (mutex)
//                                   KeyWatchBook::hot(window) / big() merge the shards on read
//
// Hot keys: each worker counts the keys of the requests it routes by key in a Space-Saving
// sketch (space_saving.h, observe.hot_key_capacity counters), one key in observe.hot_key_sample
// drawn at random (8 by default: counts are then estimates, scaled back by 8, and the cost per
// request is an xorshift step for 7 keys in 8). Once a second (the worker's
// housekeeping tick) the sketch's top capacity/4 keys are copied into a ring of the last
// kHotSeconds seconds and the sketch starts over. hot(window) sums those per-second lists of
// every worker: counts are upper bounds (error = how much may be over). Memory per worker is
// fixed: capacity + kHotSeconds * capacity / 4 = 16 * capacity entries of at most
// observe.max_key_bytes key bytes each.
//
// Big keys: a request or reply of observe.big_value_bytes or more is counted per command (the
// metric slotwise_big_values_total) and its key kept in a per-worker list of the
// observe.big_keys largest values, each key once (its largest size).
//
// Cost on the request path: with hot keys off one branch; with hot keys on one hash and table
// probe per key plus a heap step; big values cost one compare unless they are big.
// Key names leave the proxy (API, metric, log) redacted when observe.redact_keys is set.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/stats/space_saving.h"

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace slotwise::proxy {

// Seconds of per-second hot-key lists kept: the largest window hot() can answer.
inline constexpr int kHotSeconds = 60;

struct HotKey {
  std::string key;     // redacted when observe.redact_keys
  uint64_t count = 0;  // requests in the window (upper bound)
  uint64_t error = 0;  // count - error is a lower bound
};

struct HotKeyReport {
  int window_s = 0;          // seconds covered (at most the seconds seen since start)
  uint32_t sample = 1;       // observe.hot_key_sample: figures are scaled estimates when > 1
  uint64_t total = 0;        // requests counted in the window (all keys)
  std::vector<HotKey> keys;  // largest count first
};

struct BigKey {
  std::string key;        // redacted when observe.redact_keys; "" for a command without keys
  std::string command;    // command table name, e.g. "get"
  std::string direction;  // "request" or "reply"
  uint64_t bytes = 0;     // the largest size seen for this key
  int64_t unix_ms = 0;    // when it was seen
};

class KeyWatchBook;

// One worker's state. countKey/isBig/tick: owning thread only. recordBig and the readers take
// the shard's mutex.
class KeyWatchShard {
 public:
  explicit KeyWatchShard(const config::ObserveConfig& config);
  KeyWatchShard(const KeyWatchShard&) = delete;
  KeyWatchShard& operator=(const KeyWatchShard&) = delete;

  bool hotKeys() const { return hot_; }
  // Counts `key` with probability 1/observe.hot_key_sample (xorshift64: a few cycles).
  void countKey(std::string_view key) {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    if ((rng_ & sample_mask_) == 0) sketch_.add(key);
  }
  bool isBig(size_t bytes) const { return big_bytes_ != 0 && bytes >= big_bytes_; }
  // Keeps `key` among the largest values seen (`key` may be empty: a keyless command).
  void recordBig(std::string_view key, std::string_view command, bool reply, uint64_t bytes);
  // Owning thread, at least once a second: when the wall-clock second changed, the sketch's
  // top list becomes the entry of the second that ended, and counting starts over.
  void tick(int64_t unix_s);

 private:
  friend class KeyWatchBook;
  struct Second {
    int64_t unix_s = 0;
    uint64_t total = 0;
    std::vector<SpaceSaving::Entry> top;
  };

  const bool hot_;
  const uint64_t big_bytes_;
  const uint32_t big_keys_;
  const uint32_t max_key_bytes_;
  const uint64_t sample_;       // observe.hot_key_sample (a power of two)
  const uint64_t sample_mask_;  // sample_ - 1
  uint64_t rng_;                // owning thread: xorshift64 state, never 0
  SpaceSaving sketch_;          // owning thread only
  int64_t second_;              // owning thread: the second the sketch counts
  mutable std::mutex mu_;
  std::deque<Second> seconds_;  // GUARDED_BY(mu_), oldest first, at most kHotSeconds
  std::vector<BigKey> big_;     // GUARDED_BY(mu_), at most big_keys_, unsorted
};

// Every worker's shard. Owned by the Server; shards are added before the workers start.
class KeyWatchBook {
 public:
  explicit KeyWatchBook(const config::ObserveConfig& config) : config_(config) {}
  KeyWatchBook(const KeyWatchBook&) = delete;
  KeyWatchBook& operator=(const KeyWatchBook&) = delete;

  KeyWatchShard& addShard();
  // The `limit` hottest keys over the last `window_s` complete seconds (1..kHotSeconds),
  // merged over the workers. Any thread.
  HotKeyReport hot(int window_s, size_t limit) const;
  // The `limit` largest values seen, largest first, merged over the workers. Any thread.
  std::vector<BigKey> big(size_t limit) const;
  // Keys over observe.hot_key_threshold_per_s in the last complete second that were not
  // reported in the last minute; the caller logs them. Any thread (one caller: the control
  // thread's timer).
  std::vector<HotKey> overThreshold(int64_t now_unix_s);
  // How a key name leaves the proxy: itself, or "sha256:<16 hex digits>" when redact_keys.
  std::string shown(std::string_view key) const;
  const config::ObserveConfig& config() const { return config_; }

 private:
  // hot() over the `window_s` seconds ending at `only_second` (0: the newest filed second).
  HotKeyReport hotIn(int window_s, int64_t only_second, size_t limit) const;

  const config::ObserveConfig config_;
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<KeyWatchShard>> shards_;      // GUARDED_BY(mu_)
  std::vector<std::pair<std::string, int64_t>> reported_;  // control thread: key, last logged
};

// /metrics source for observe.hot_key_metric_top_n > 0: the gauge family
// slotwise_hot_key_requests_per_second{key} of the top N keys over the last 10 seconds (N series
// at most: cardinality bounded by configuration). `book` must outlive it.
std::unique_ptr<prometheus::Collectable> makeHotKeyCollector(const KeyWatchBook& book);

}  // namespace slotwise::proxy
