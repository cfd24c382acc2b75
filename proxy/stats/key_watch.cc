#include "proxy/stats/key_watch.h"

#include <fmt/format.h>
#include <openssl/sha.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <random>
#include <unordered_map>

namespace slotwise::proxy {
namespace {

int64_t unixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KeyWatchShard::KeyWatchShard(const config::ObserveConfig& config)
    : hot_(config.hot_keys),
      big_bytes_(config.big_value_bytes),
      big_keys_(std::max<uint32_t>(config.big_keys, 1)),
      max_key_bytes_(config.max_key_bytes),
      sample_(std::max<uint32_t>(config.hot_key_sample, 1)),
      sample_mask_(sample_ - 1),
      rng_(std::random_device{}() | 1),
      sketch_(config.hot_keys ? config.hot_key_capacity : 1, config.max_key_bytes),
      second_(static_cast<int64_t>(time(nullptr))) {}

void KeyWatchShard::recordBig(std::string_view key, std::string_view command, bool reply,
                              uint64_t bytes) {
  if (key.size() > max_key_bytes_) key = key.substr(0, max_key_bytes_);
  const std::string_view direction = reply ? "reply" : "request";
  std::lock_guard<std::mutex> lock(mu_);
  for (BigKey& b : big_) {
    if (b.key == key && b.direction == direction) {  // one entry per key and direction
      if (bytes >= b.bytes) {
        b.bytes = bytes;
        b.command.assign(command);
        b.unix_ms = unixMillis();
      }
      return;
    }
  }
  BigKey entry{std::string(key), std::string(command), std::string(direction), bytes, unixMillis()};
  if (big_.size() < big_keys_) {
    big_.push_back(std::move(entry));
    return;
  }
  auto smallest = std::min_element(
      big_.begin(), big_.end(), [](const BigKey& a, const BigKey& b) { return a.bytes < b.bytes; });
  if (smallest->bytes < bytes) *smallest = std::move(entry);
}

void KeyWatchShard::tick(int64_t unix_s) {
  if (!hot_ || unix_s == second_) return;
  {
    Second ended{second_, sketch_.total() * sample_,
                 sketch_.top(std::max<uint32_t>(sketch_.capacity() / 4, 1))};
    for (SpaceSaving::Entry& e : ended.top) {  // scaled back to every key, not the sampled ones
      e.count *= sample_;
      e.error *= sample_;
    }
    std::lock_guard<std::mutex> lock(mu_);
    seconds_.push_back(std::move(ended));
    while (seconds_.size() > static_cast<size_t>(kHotSeconds)) seconds_.pop_front();
  }
  sketch_.clear();
  second_ = unix_s;
}

KeyWatchShard& KeyWatchBook::addShard() {
  std::lock_guard<std::mutex> lock(mu_);
  shards_.push_back(std::make_unique<KeyWatchShard>(config_));
  return *shards_.back();
}

HotKeyReport KeyWatchBook::hot(int window_s, size_t limit) const {
  return hotIn(std::clamp(window_s, 1, kHotSeconds), 0, limit);
}

HotKeyReport KeyWatchBook::hotIn(int window_s, int64_t only_second, size_t limit) const {
  HotKeyReport report;
  report.sample = std::max<uint32_t>(config_.hot_key_sample, 1);
  std::unordered_map<std::string, HotKey> merged;
  int64_t newest = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> shard_lock(shard->mu_);
    if (!shard->seconds_.empty()) newest = std::max(newest, shard->seconds_.back().unix_s);
  }
  if (only_second != 0) newest = only_second;
  const int64_t first = newest - window_s + 1;
  int64_t oldest_seen = newest + 1;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> shard_lock(shard->mu_);
    for (const KeyWatchShard::Second& s : shard->seconds_) {
      if (s.unix_s < first || s.unix_s > newest) continue;
      oldest_seen = std::min(oldest_seen, s.unix_s);
      report.total += s.total;
      for (const SpaceSaving::Entry& e : s.top) {
        HotKey& h = merged[e.key];
        h.count += e.count;
        h.error += e.error;
      }
    }
  }
  report.window_s = newest == 0 ? 0 : static_cast<int>(newest - oldest_seen + 1);
  report.keys.reserve(merged.size());
  for (auto& [key, h] : merged) {
    h.key = key;
    report.keys.push_back(std::move(h));
  }
  const size_t n = std::min(limit, report.keys.size());
  std::partial_sort(report.keys.begin(), report.keys.begin() + static_cast<std::ptrdiff_t>(n),
                    report.keys.end(), [](const HotKey& a, const HotKey& b) {
                      return a.count != b.count ? a.count > b.count : a.key < b.key;
                    });
  report.keys.resize(n);
  for (HotKey& h : report.keys) h.key = shown(h.key);
  return report;
}

std::vector<BigKey> KeyWatchBook::big(size_t limit) const {
  std::vector<BigKey> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& shard : shards_) {
      std::lock_guard<std::mutex> shard_lock(shard->mu_);
      all.insert(all.end(), shard->big_.begin(), shard->big_.end());
    }
  }
  std::sort(all.begin(), all.end(), [](const BigKey& a, const BigKey& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.key < b.key;
  });
  // The same key seen by several workers: keep its largest entry per direction.
  std::vector<BigKey> out;
  for (BigKey& b : all) {
    const bool seen = std::any_of(out.begin(), out.end(), [&](const BigKey& o) {
      return o.key == b.key && o.direction == b.direction;
    });
    if (seen) continue;
    out.push_back(std::move(b));
    if (out.size() == limit) break;
  }
  for (BigKey& b : out) b.key = shown(b.key);
  return out;
}

std::vector<HotKey> KeyWatchBook::overThreshold(int64_t now_unix_s) {
  std::vector<HotKey> out;
  const uint64_t threshold = config_.hot_key_threshold_per_s;
  if (!config_.hot_keys || threshold == 0) return out;
  // Two seconds back: every worker has filed that second by now (they tick every 100 ms), so
  // the busy worker's counts are not missed for an idle worker that filed the newer second.
  HotKeyReport last = hotIn(1, now_unix_s - 2, config_.hot_key_capacity);
  std::erase_if(reported_, [&](const auto& r) { return now_unix_s - r.second >= 60; });
  for (HotKey& h : last.keys) {
    if (h.count - h.error <= threshold) continue;  // only keys surely over the threshold
    const bool recent = std::any_of(reported_.begin(), reported_.end(),
                                    [&](const auto& r) { return r.first == h.key; });
    if (recent) continue;
    reported_.emplace_back(h.key, now_unix_s);
    out.push_back(std::move(h));
  }
  return out;
}

std::string KeyWatchBook::shown(std::string_view key) const {
  if (!config_.redact_keys) return std::string(key);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  std::string out = "sha256:";
  for (int i = 0; i < 8; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

namespace {

class HotKeyCollector : public prometheus::Collectable {
 public:
  explicit HotKeyCollector(const KeyWatchBook& book) : book_(book) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f;
    f.name = "slotwise_hot_key_requests_per_second";
    f.help =
        "Requests per second of the hottest keys over the last 10 seconds (upper bound; "
        "top observe.hot_key_metric_top_n keys).";
    f.type = prometheus::MetricType::Gauge;
    const HotKeyReport report = book_.hot(10, book_.config().hot_key_metric_top_n);
    for (const HotKey& h : report.keys) {
      prometheus::ClientMetric m;
      m.label.push_back(prometheus::ClientMetric::Label{"key", h.key});
      m.gauge.value = report.window_s > 0 ? static_cast<double>(h.count) / report.window_s : 0;
      f.metric.push_back(std::move(m));
    }
    return {std::move(f)};
  }

 private:
  const KeyWatchBook& book_;
};

}  // namespace

std::unique_ptr<prometheus::Collectable> makeHotKeyCollector(const KeyWatchBook& book) {
  return std::make_unique<HotKeyCollector>(book);
}

}  // namespace slotwise::proxy
