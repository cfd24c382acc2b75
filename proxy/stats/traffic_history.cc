#include "proxy/stats/traffic_history.h"

#include <algorithm>
#include <cmath>

namespace slotwise::proxy {

TrafficHistory::Totals TrafficHistory::totalsOf(
    const std::vector<prometheus::MetricFamily>& families) {
  Totals t;
  for (const prometheus::MetricFamily& f : families) {
    for (const prometheus::ClientMetric& m : f.metric) {
      if (f.name == "slotwise_requests_total") {
        t.requests += m.counter.value;
      } else if (f.name == "slotwise_request_errors_total") {
        t.errors += m.counter.value;
      } else if (f.name == "slotwise_redirects_total") {
        t.redirects += m.counter.value;
      } else if (f.name == "slotwise_request_duration_seconds") {
        const auto& b = m.histogram.bucket;
        if (t.buckets.size() < b.size()) {
          t.buckets.resize(b.size(), 0);
          t.bounds.resize(b.size(), 0);
        }
        for (size_t i = 0; i < b.size(); ++i) {
          t.buckets[i] += b[i].cumulative_count;
          t.bounds[i] = b[i].upper_bound;
        }
      }
    }
  }
  return t;
}

double bucketQuantileMs(const std::vector<double>& bounds, const std::vector<uint64_t>& cumulative,
                        double q) {
  if (cumulative.empty() || cumulative.back() == 0) return -1;
  const double rank = q * static_cast<double>(cumulative.back());
  double lower = 0;
  uint64_t below = 0;
  for (size_t i = 0; i < cumulative.size() && i < bounds.size(); ++i) {
    if (static_cast<double>(cumulative[i]) >= rank) {
      if (std::isinf(bounds[i])) return lower * 1000;
      const uint64_t in = cumulative[i] - below;
      const double frac =
          in == 0 ? 1 : (rank - static_cast<double>(below)) / static_cast<double>(in);
      return (lower + (bounds[i] - lower) * frac) * 1000;
    }
    lower = bounds[i];
    below = cumulative[i];
  }
  return lower * 1000;
}

namespace {

// Cumulative latency buckets per node of slotwise_backend_request_duration_seconds.
std::map<std::string, std::vector<uint64_t>> nodeBuckets(
    const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, std::vector<uint64_t>> out;
  for (const prometheus::MetricFamily& f : families) {
    if (f.name != "slotwise_backend_request_duration_seconds") continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name != "node") continue;
        std::vector<uint64_t>& b = out[l.value];
        b.resize(std::max(b.size(), m.histogram.bucket.size()), 0);
        for (size_t i = 0; i < m.histogram.bucket.size(); ++i) {
          b[i] += m.histogram.bucket[i].cumulative_count;
        }
      }
    }
  }
  return out;
}

}  // namespace

std::vector<uint64_t> TrafficHistory::nodeRecent(const std::string& node,
                                                 const std::vector<uint64_t>& current) const {
  std::vector<uint64_t> recent = current;
  std::lock_guard<std::mutex> lock(mu_);
  if (node_samples_.empty()) return recent;
  const auto it = node_samples_.front().buckets.find(node);
  if (it == node_samples_.front().buckets.end()) return recent;
  for (size_t i = 0; i < recent.size() && i < it->second.size(); ++i) {
    recent[i] = recent[i] >= it->second[i] ? recent[i] - it->second[i] : 0;
  }
  return recent;
}

void TrafficHistory::sample(const std::vector<prometheus::MetricFamily>& families,
                            int64_t unix_ms) {
  {
    NodeSample node_sample{unix_ms, nodeBuckets(families)};
    std::lock_guard<std::mutex> lock(mu_);
    node_samples_.push_back(std::move(node_sample));
    // Keep the newest sample at or before the window's start as the baseline.
    while (node_samples_.size() > 1 && node_samples_[1].unix_ms <= unix_ms - kNodeWindowMs) {
      node_samples_.pop_front();
    }
  }
  Totals now = totalsOf(families);
  if (last_ms_ != 0 && unix_ms > last_ms_) {
    const double dt = static_cast<double>(unix_ms - last_ms_) / 1000.0;
    const auto rate = [dt](double a, double b) { return std::max(0.0, a - b) / dt; };
    std::vector<uint64_t> interval(now.buckets.size());
    for (size_t i = 0; i < now.buckets.size(); ++i) {
      const uint64_t before = i < last_.buckets.size() ? last_.buckets[i] : 0;
      interval[i] = now.buckets[i] >= before ? now.buckets[i] - before : 0;
    }
    HistoryPoint p{unix_ms, rate(now.requests, last_.requests), rate(now.errors, last_.errors),
                   rate(now.redirects, last_.redirects),
                   bucketQuantileMs(now.bounds, interval, 0.99)};
    std::lock_guard<std::mutex> lock(mu_);
    points_.push_back(p);
    while (points_.size() > kPoints) points_.pop_front();
  }
  last_ = std::move(now);
  last_ms_ = unix_ms;
}

std::vector<HistoryPoint> TrafficHistory::points() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {points_.begin(), points_.end()};
}

}  // namespace slotwise::proxy
