// In-house metrics registry in the Prometheus data model, built for per-thread shards.
//
//   Registry ── families (name, help, type, label names, buckets / merge rule / callback)
//      │
//      ├── Shard "worker-0" ── children: family × label values → cell (atomic slots)
//      ├── Shard "worker-1" ── ...                                   ▲
//      └── Shard "control"  ── ...                                   │ relaxed load + store,
//                                                                    │ owning thread only
//   renderPrometheus(): for each family (sorted by name), merge the children of every shard
//   (counters and histograms summed, gauges summed or max'ed), evaluate callback families,
//   and write the text exposition format 0.0.4.
//
// Hot path: a worker resolves each labelled child ONCE (Shard::counter(...) takes the shard's
// mutex) and keeps the returned handle. Incrementing through a handle is a relaxed atomic load
// plus a relaxed atomic store by the single owning thread: no lock and no read-modify-write.
// The scraper reads the same slots with relaxed loads, so it never sees a torn value and never
// blocks the writer. A histogram's buckets and sum are separate slots, so a scrape that races an
// observation may see the bucket counted before the sum moves; `_count` is derived from the
// buckets, so `_count` always equals the `+Inf` bucket.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace slotwise::proxy::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// How a gauge's per-shard values are combined at scrape time.
enum class GaugeMerge { kSum, kMax };

// Label values of one child, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

namespace detail {

struct Family;
struct ShardReader;  // scrape-side access to a shard's children (metrics.cc)

struct CounterCell {
  std::atomic<uint64_t> value{0};
};

struct GaugeCell {
  std::atomic<double> value{0.0};
};

struct HistogramCell {
  // `bounds` is owned by the family and outlives the cell.
  explicit HistogramCell(const std::vector<double>* family_bounds);

  const std::vector<double>* bounds;
  // bounds->size() + 1 slots; slot i counts observations in (bounds[i-1], bounds[i]], the last
  // slot counts those above every bound (+Inf). Not cumulative: rendering accumulates.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets;
  std::atomic<double> sum{0.0};
};

// Single-writer increment: relaxed load + relaxed store, never a read-modify-write.
template <typename T>
inline void addRelaxed(std::atomic<T>& slot, T delta) {
  slot.store(slot.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace detail

// Handle to one counter child in one shard. Cheap to copy.
// REQUIRES for the mutators: called only on the shard's owning thread, on a bound handle.
// Valid until the Registry that created the shard is destroyed.
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

// Family handles returned by registration; pass them to Shard to resolve children. Cheap to
// copy; valid for the Registry's lifetime. Only use them with shards of the same Registry.
class CounterFamily {
 public:
  CounterFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class Registry;
  friend class Shard;
  explicit CounterFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

class GaugeFamily {
 public:
  GaugeFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class Registry;
  friend class Shard;
  explicit GaugeFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

class HistogramFamily {
 public:
  HistogramFamily() = default;
  bool bound() const { return family_ != nullptr; }

 private:
  friend class Registry;
  friend class Shard;
  explicit HistogramFamily(const detail::Family* f) : family_(f) {}
  const detail::Family* family_ = nullptr;
};

// One thread's private set of metric slots. Created by Registry::addShard and owned by the
// Registry. Resolving a child takes the shard's mutex (rare: once per label combination per
// thread); using the returned handle never does.
class Shard {
 public:
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Returns the handle of the child with `label_values` (created at zero on first use).
  // REQUIRES: label_values.size() equals the family's label count and `family` is bound and
  // from this shard's Registry; a mismatch is a programming error and aborts with a message.
  // Any thread may resolve; only the owning thread may then mutate through the handle.
  Counter counter(CounterFamily family, const LabelValues& label_values = {});
  Gauge gauge(GaugeFamily family, const LabelValues& label_values = {});
  Histogram histogram(HistogramFamily family, const LabelValues& label_values = {});

  // The name given at creation (for diagnostics only; it is not rendered as a label).
  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  friend struct detail::ShardReader;
  template <typename Cell>
  using Children = std::map<const detail::Family*, std::map<LabelValues, std::unique_ptr<Cell>>>;

  explicit Shard(std::string name) : name_(std::move(name)) {}

  const std::string name_;
  mutable std::mutex mu_;
  Children<detail::CounterCell> counters_;      // GUARDED_BY(mu_)
  Children<detail::GaugeCell> gauges_;          // GUARDED_BY(mu_)
  Children<detail::HistogramCell> histograms_;  // GUARDED_BY(mu_)
};

// One sample produced by a callback family at scrape time.
struct Sample {
  LabelValues label_values;
  double value = 0.0;
};

// Evaluated on the scraping thread (a civetweb thread): must only read thread-safe state and
// must not call back into the Registry.
using CollectFn = std::function<std::vector<Sample>()>;

// Owns the metric families and the shards. Registration and addShard are thread-safe (mutex);
// renderPrometheus may run concurrently with increments on any shard.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a counter family. The rendered name always ends in `_total`: it is appended when
  // `name` lacks it. Errors: invalid metric/label name ([a-zA-Z_:][a-zA-Z0-9_:]*, labels
  // [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"), duplicate label, or a name already taken.
  Result<CounterFamily> addCounter(std::string name, std::string help,
                                   std::vector<std::string> label_names = {});
  // Registers a gauge family whose per-shard values are combined by `merge` at scrape time.
  // Errors as for addCounter.
  Result<GaugeFamily> addGauge(std::string name, std::string help,
                               std::vector<std::string> label_names = {},
                               GaugeMerge merge = GaugeMerge::kSum);
  // Registers a histogram family with fixed upper bounds (base units, e.g. seconds). Errors as
  // for addCounter, plus: empty or non-increasing or non-finite bounds, or a label named "le".
  Result<HistogramFamily> addHistogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds);

  // Registers a family (kCounter or kGauge only) whose samples come from `collect` at scrape
  // time. Counter names get `_total` as in addCounter. Samples whose label count does not match
  // are dropped; if two samples share label values the last one wins.
  Status addCallback(std::string name, std::string help, MetricType type,
                     std::vector<std::string> label_names, CollectFn collect);
  // Unlabelled shorthands for addCallback: one sample with the value `read()` returns.
  Status addCallbackGauge(std::string name, std::string help, std::function<double()> read);
  Status addCallbackCounter(std::string name, std::string help, std::function<double()> read);

  // Creates a new shard owned by this Registry; the reference stays valid for its lifetime.
  // Create one per worker thread plus one for the control thread.
  Shard& addShard(std::string name);

  // Merges every shard and callback and returns the text exposition format 0.0.4: families
  // sorted by name, each with `# HELP` and `# TYPE`, children sorted by label values. An
  // unlabelled counter/gauge/histogram is rendered at zero before anything touched it.
  std::string renderPrometheus() const;

 private:
  Status insertFamily(std::unique_ptr<detail::Family> family);
  std::vector<const detail::Family*> familySnapshot() const;
  std::vector<const Shard*> shardSnapshot() const;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<detail::Family>> families_;  // GUARDED_BY(mu_)
  std::deque<std::unique_ptr<Shard>> shards_;                        // GUARDED_BY(mu_)
};

// Registers the standard process collectors, read from /proc on each scrape:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds.
// Errors: a name already registered. A value that cannot be read at scrape time is omitted.
Status addProcessMetrics(Registry& registry);

// `count` bounds start, start*factor, start*factor^2, ... REQUIRES: start > 0, factor > 1.
std::vector<double> exponentialBuckets(double start, double factor, size_t count);

// Latency bounds in seconds for a Redis proxy: 50us .. ~6.5s in powers of 2 (18 buckets).
std::vector<double> latencyBucketsSeconds();

}  // namespace slotwise::proxy::metrics
