// Metrics module: the proxy's metrics in prometheus-cpp's data model, with lock-free per-thread
// shards for everything the request path counts. /metrics combines three kinds of sources, each a
// `prometheus::Collectable` owned by the Server: (1) a ShardedCollector (defined here) holding the
// data-path families and one Shard per worker thread, whose cells are plain 64-bit slots written
// only by the owning thread (a relaxed load plus a relaxed store, no lock, no read-modify-write, no
// prometheus::Counter) and merged into `prometheus::MetricFamily` objects when Collect() runs on
// the scraping thread; (2) a `prometheus::Registry` with prometheus-cpp's own
// Counter/Gauge/Histogram for what the control thread records (see ControlMetrics in
// proxy_metrics.h); (3) the ProcessCollector (process_metrics.h) reading /proc. renderText()
// collects every source on the scraping thread (a civetweb thread), merges families that share a
// name, and serializes them with `prometheus::TextSerializer` (text format 0.0.4). Threads: a
// worker mutates only its own shard's cells; resolving a child (Shard::counter/gauge/histogram)
// takes the shard's mutex and is done once per label combination, never per request; Collect() and
// renderText() may run on any thread concurrently with the writers. A histogram's buckets and sum
// are separate slots, so a scrape racing an observation may count it in a bucket before the sum
// moves; `_count` is derived from the buckets, so it always equals the `+Inf` bucket.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace slotwise::proxy::metrics {

// How a gauge's per-shard values are combined at scrape time.
enum class GaugeMerge { kSum, kMax };

// Label values of one child, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

namespace detail {

struct Family;  // definition of one sharded family (metrics.cc)

struct CounterCell {
  std::atomic<uint64_t> value{0};
};

struct GaugeCell {
  std::atomic<double> value{0.0};
};

struct HistogramCell {
  // `family_bounds` is owned by the family and outlives the cell.
  explicit HistogramCell(const std::vector<double>* family_bounds);

  const std::vector<double>* bounds;
  // bounds->size() + 1 slots; slot i counts observations in (bounds[i-1], bounds[i]], the last
  // slot counts those above every bound (+Inf). Not cumulative: Collect() accumulates.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets;
  std::atomic<double> sum{0.0};
};

// Single-writer increment: relaxed load + relaxed store, never a read-modify-write. On x86-64
// this compiles to a plain load, add and store.
template <typename T>
inline void addRelaxed(std::atomic<T>& slot, T delta) {
  slot.store(slot.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace detail

// Handle to one counter child in one shard. Cheap to copy; a default-constructed handle is
// unbound and must not be used. REQUIRES for the mutators: called only on the shard's owning
// thread. Valid until the ShardedCollector that created the shard is destroyed.
class Counter {
 public:
  Counter() = default;
  void inc(uint64_t n = 1) const { detail::addRelaxed(cell_->value, n); }
  // This shard's value only (not merged). Any thread.
  uint64_t value() const { return cell_->value.load(std::memory_order_relaxed); }
  bool bound() const { return cell_ != nullptr; }

 private:
  friend class Shard;
  explicit Counter(detail::CounterCell* cell) : cell_(cell) {}
  detail::CounterCell* cell_ = nullptr;
};

// Handle to one gauge child in one shard. Same threading rules and lifetime as Counter.
class Gauge {
 public:
  Gauge() = default;
  void set(double v) const { cell_->value.store(v, std::memory_order_relaxed); }
  void add(double d) const { detail::addRelaxed(cell_->value, d); }
  void inc() const { add(1.0); }
  void dec() const { add(-1.0); }
  // This shard's value only (not merged). Any thread.
  double value() const { return cell_->value.load(std::memory_order_relaxed); }
  bool bound() const { return cell_ != nullptr; }

 private:
  friend class Shard;
  explicit Gauge(detail::GaugeCell* cell) : cell_(cell) {}
  detail::GaugeCell* cell_ = nullptr;
};

// Handle to one histogram child in one shard. Same threading rules and lifetime as Counter.
class Histogram {
 public:
  Histogram() = default;
  // Records one observation in base units (seconds for latency). NaN is ignored so that it
  // cannot poison `_sum` forever.
  void observe(double v) const;
  void observe(std::chrono::nanoseconds d) const { observe(static_cast<double>(d.count()) * 1e-9); }
  // This shard's observation count (sum of all buckets). Any thread.
  uint64_t count() const;
  bool bound() const { return cell_ != nullptr; }

 private:
  friend class Shard;
  explicit Histogram(detail::HistogramCell* cell) : cell_(cell) {}
  detail::HistogramCell* cell_ = nullptr;
};

inline void Histogram::observe(double v) const {
  if (v != v) return;  // NaN
  const std::vector<double>& b = *cell_->bounds;
  // First bound >= v: Prometheus buckets are "less than or equal" (le).
  size_t i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
  detail::addRelaxed(cell_->buckets[i], uint64_t{1});
  detail::addRelaxed(cell_->sum, v);
}

// Family handles returned by registration; pass them to a Shard to resolve children. Cheap to
// copy; valid for the ShardedCollector's lifetime. Only use them with shards of the same
// ShardedCollector.
class CounterFamily {
 public:
  CounterFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class ShardedCollector;
  friend class Shard;
  explicit CounterFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

class GaugeFamily {
 public:
  GaugeFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class ShardedCollector;
  friend class Shard;
  explicit GaugeFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

class HistogramFamily {
 public:
  HistogramFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class ShardedCollector;
  friend class Shard;
  explicit HistogramFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

// One thread's private set of metric cells. Created by ShardedCollector::addShard and owned by
// the collector. Resolving a child takes the shard's mutex (rare: once per label combination per
// thread); using the returned handle never does.
class Shard {
 public:
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Returns the handle of the child with `label_values` (created at zero on first use).
  // REQUIRES: label_values.size() equals the family's label count and `family` is bound and
  // from this shard's collector; a mismatch is a programming error and aborts with a message.
  // Any thread may resolve; only the owning thread may then mutate through the handle.
  Counter counter(CounterFamily family, const LabelValues& label_values = {});
  Gauge gauge(GaugeFamily family, const LabelValues& label_values = {});
  Histogram histogram(HistogramFamily family, const LabelValues& label_values = {});

  // The name given at creation (for diagnostics and the `worker` label of the proxy's families;
  // it is not added as a label by the collector).
  const std::string& name() const { return name_; }

 private:
  friend class ShardedCollector;
  template <typename Cell>
  using Children = std::map<const detail::Family*, std::map<LabelValues, std::unique_ptr<Cell>>>;

  explicit Shard(std::string name) : name_(std::move(name)) {}

  const std::string name_;
  mutable std::mutex mu_;
  Children<detail::CounterCell> counters_;      // GUARDED_BY(mu_)
  Children<detail::GaugeCell> gauges_;          // GUARDED_BY(mu_)
  Children<detail::HistogramCell> histograms_;  // GUARDED_BY(mu_)
};

// Owns the data path's metric families and the per-thread shards, and exposes them to
// prometheus-cpp as a Collectable. Registration and addShard are thread-safe (mutex) and may
// happen after shards exist; Collect() may run on any thread concurrently with increments on any
// shard and with registration.
class ShardedCollector : public prometheus::Collectable {
 public:
  ShardedCollector();
  ~ShardedCollector() override;
  ShardedCollector(const ShardedCollector&) = delete;
  ShardedCollector& operator=(const ShardedCollector&) = delete;

  // Registers a counter family. The exposed name always ends in `_total`: it is appended when
  // `name` lacks it. Errors: invalid metric or label name (prometheus::CheckMetricName /
  // CheckLabelName), duplicate label, or a name already taken in this collector.
  Result<CounterFamily> addCounter(std::string name, std::string help,
                                   std::vector<std::string> label_names = {});
  // Registers a gauge family whose per-shard values are combined by `merge` at scrape time.
  // Errors as for addCounter.
  Result<GaugeFamily> addGauge(std::string name, std::string help,
                               std::vector<std::string> label_names = {},
                               GaugeMerge merge = GaugeMerge::kSum);
  // Registers a histogram family with fixed upper bounds (base units, e.g. seconds). Errors as
  // for addCounter, plus: empty, non-increasing or non-finite bounds, or a label named "le".
  Result<HistogramFamily> addHistogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds);

  // Creates a new shard owned by this collector; the reference stays valid for its lifetime.
  // Create one per thread that writes (one per worker).
  Shard& addShard(std::string name);

  // Merges every shard at call time: counters and histograms are summed, gauges summed or
  // max'ed (GaugeMerge). Families come sorted by name, children by label values, labels in the
  // family's declared order; histogram buckets are cumulative and end with +Inf. An unlabelled
  // family is reported at zero before anything touched it; a labelled family without children is
  // reported with no metric. Each shard's mutex is taken once, briefly (the writers never take
  // it on the hot path). Any thread.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Status insertFamily(std::unique_ptr<detail::Family> family);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<detail::Family>> families_;  // GUARDED_BY(mu_)
  std::deque<std::unique_ptr<Shard>> shards_;                        // GUARDED_BY(mu_)
};

// ---- Exposition ---------------------------------------------------------------------------

// Calls Collect() on every source (in order) and merges the result: families that share a name
// become one family (the first one's help and type win; a same-named family of another type is
// dropped as a programming error, so the exposition stays valid), children with equal label
// sets are summed (counters, gauges; histograms with identical bounds), labels are sorted by
// name, and families are sorted by name and children by labels. REQUIRES: no null source. Runs
// on the calling thread; each source must be safe to collect from it.
std::vector<prometheus::MetricFamily> collectAll(
    const std::vector<const prometheus::Collectable*>& sources);

// Serializes `families` in the text exposition format 0.0.4 with prometheus::TextSerializer
// (16 significant digits). HELP texts are escaped here (`\` and newline), which
// prometheus-cpp 1.0.1's TextSerializer does not do itself.
std::string serializeText(std::vector<prometheus::MetricFamily> families);

// serializeText(collectAll(sources)): the body of /metrics. Any thread.
std::string renderText(const std::vector<const prometheus::Collectable*>& sources);

// ---- Buckets ------------------------------------------------------------------------------

// `count` bounds start, start*factor, start*factor^2, ... REQUIRES: start > 0, factor > 1.
std::vector<double> exponentialBuckets(double start, double factor, size_t count);

// Latency bounds in seconds for a Redis proxy: 50us .. ~6.5s in powers of 2 (18 buckets).
std::vector<double> latencyBucketsSeconds();

}  // namespace slotwise::proxy::metrics
