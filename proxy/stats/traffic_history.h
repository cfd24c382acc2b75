// The last 15 minutes of the proxy's traffic for the dashboard's plots: every 2 seconds the
// control thread hands the merged metric families to sample(), which keeps the rates of that
// interval (requests, errors, redirects per second) and its p99 latency in a bounded ring.
// It also keeps each backend node's cumulative latency buckets of the last minute, so that
// /api/backends reports per-node p50/p99 of recent requests rather than since start.
// Thread-safe: sample() on the control thread, points() and nodeRecent() on civetweb threads.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace slotwise::proxy {

// Like PromQL's histogram_quantile(): the q-quantile of cumulative bucket counts (`bounds`
// ascending, the last one +Inf), interpolated linearly inside its bucket, in milliseconds for
// bounds in seconds; -1 without observations.
double bucketQuantileMs(const std::vector<double>& bounds, const std::vector<uint64_t>& cumulative,
                        double q);

struct HistoryPoint {
  int64_t unix_ms = 0;
  double ops = 0;        // client commands sent to the backends per second
  double errors = 0;     // error replies per second
  double redirects = 0;  // MOVED/ASK/TRYAGAIN/CLUSTERDOWN per second
  double p99_ms = -1;    // p99 latency of the interval's requests; -1 without any
};

class TrafficHistory {
 public:
  static constexpr int kIntervalMs = 2000;
  static constexpr size_t kPoints = 15 * 60 * 1000 / kIntervalMs;  // 15 minutes

  static constexpr int64_t kNodeWindowMs = 60 * 1000;

  // Adds the interval since the previous call (the first call only records the totals).
  void sample(const std::vector<prometheus::MetricFamily>& families, int64_t unix_ms);
  std::vector<HistoryPoint> points() const;
  // `current`, cumulative bucket counts of slotwise_backend_request_duration_seconds{node}, minus
  // the node's counts of the oldest sample of the last kNodeWindowMs: its requests of about the
  // last minute (since start while the proxy is younger than that).
  std::vector<uint64_t> nodeRecent(const std::string& node,
                                   const std::vector<uint64_t>& current) const;

 private:
  struct Totals {
    double requests = 0, errors = 0, redirects = 0;
    std::vector<uint64_t> buckets;  // cumulative counts of slotwise_request_duration_seconds
    std::vector<double> bounds;
  };
  static Totals totalsOf(const std::vector<prometheus::MetricFamily>& families);

  struct NodeSample {
    int64_t unix_ms = 0;
    std::map<std::string, std::vector<uint64_t>> buckets;  // node -> cumulative counts
  };

  Totals last_;  // control thread only
  int64_t last_ms_ = 0;
  mutable std::mutex mu_;
  std::deque<HistoryPoint> points_;  // GUARDED_BY(mu_), oldest first
  std::deque<NodeSample> node_samples_;  // GUARDED_BY(mu_), oldest first, spanning the window
};

}  // namespace slotwise::proxy
