#include "proxy/stats/metrics.h"

#include <fmt/format.h>
#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

namespace slotwise::proxy::metrics {

namespace detail {

struct Family {
  std::string name;
  std::string help;
  prometheus::MetricType type = prometheus::MetricType::Counter;
  std::vector<std::string> label_names;
  GaugeMerge merge = GaugeMerge::kSum;
  std::vector<double> bounds;  // histograms only
};

HistogramCell::HistogramCell(const std::vector<double>* family_bounds)
    : bounds(family_bounds),
      buckets(std::make_unique<std::atomic<uint64_t>[]>(family_bounds->size() + 1)) {
  for (size_t i = 0; i <= bounds->size(); ++i) buckets[i].store(0, std::memory_order_relaxed);
}

}  // namespace detail

namespace {

using detail::Family;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::string_view kTotalSuffix = "_total";

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

Status validateLabels(const Family& f) {
  std::set<std::string> seen;
  for (const std::string& label : f.label_names) {
    if (!prometheus::CheckLabelName(label)) {
      return Status::error(fmt::format("metric {}: invalid label name '{}'", f.name, label));
    }
    if (f.type == MetricType::Histogram && label == "le") {
      return Status::error(fmt::format("metric {}: histogram label 'le' is reserved", f.name));
    }
    if (!seen.insert(label).second) {
      return Status::error(fmt::format("metric {}: duplicate label '{}'", f.name, label));
    }
  }
  return Status::ok();
}

Status validateBounds(const Family& f) {
  if (f.bounds.empty()) return Status::error(fmt::format("metric {}: no buckets", f.name));
  for (size_t i = 0; i < f.bounds.size(); ++i) {
    bool increasing = i == 0 || f.bounds[i] > f.bounds[i - 1];
    if (!std::isfinite(f.bounds[i]) || !increasing) {
      return Status::error(
          fmt::format("metric {}: bucket bounds must be finite and increasing", f.name));
    }
  }
  return Status::ok();
}

Status validateFamily(const Family& f) {
  if (!prometheus::CheckMetricName(f.name)) {
    return Status::error(fmt::format("invalid metric name '{}'", f.name));
  }
  Status labels = validateLabels(f);
  if (!labels) return labels;
  if (f.type == MetricType::Histogram) return validateBounds(f);
  return Status::ok();
}

[[noreturn]] void fatalLabelMismatch(const Family& f, size_t got) {
  std::fprintf(stderr, "metrics: family %s has %zu labels, child resolved with %zu values\n",
               f.name.c_str(), f.label_names.size(), got);
  std::abort();
}

void checkChild(const Family* f, MetricType type, size_t values) {
  if (f == nullptr || f->type != type) {
    std::fprintf(stderr, "metrics: child resolved on an unbound or mistyped family\n");
    std::abort();
  }
  if (f->label_names.size() != values) fatalLabelMismatch(*f, values);
}

// Finds or creates the cell of (family, values) in `children`. REQUIRES: the shard's mutex.
template <typename Cell, typename Make>
Cell* findOrCreate(std::map<const Family*, std::map<LabelValues, std::unique_ptr<Cell>>>& children,
                   const Family* family, const LabelValues& values, Make make) {
  auto& by_labels = children[family];
  auto it = by_labels.find(values);
  if (it == by_labels.end()) it = by_labels.emplace(values, make()).first;
  return it->second.get();
}

std::unique_ptr<Family> makeFamily(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names) {
  auto f = std::make_unique<Family>();
  if (type == MetricType::Counter && !endsWith(name, kTotalSuffix)) name += kTotalSuffix;
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = type;
  f->label_names = std::move(label_names);
  return f;
}

}  // namespace

// ---- Shard --------------------------------------------------------------------------------

Counter Shard::counter(CounterFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::Counter, label_values.size());
  std::lock_guard<std::mutex> lock(mu_);
  return Counter(findOrCreate(counters_, family.family_, label_values,
                              [] { return std::make_unique<detail::CounterCell>(); }));
}

Gauge Shard::gauge(GaugeFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::Gauge, label_values.size());
  std::lock_guard<std::mutex> lock(mu_);
  return Gauge(findOrCreate(gauges_, family.family_, label_values,
                            [] { return std::make_unique<detail::GaugeCell>(); }));
}

Histogram Shard::histogram(HistogramFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::Histogram, label_values.size());
  const std::vector<double>* bounds = &family.family_->bounds;
  std::lock_guard<std::mutex> lock(mu_);
  return Histogram(findOrCreate(histograms_, family.family_, label_values,
                                [&] { return std::make_unique<detail::HistogramCell>(bounds); }));
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= cell_->bounds->size(); ++i) {
    total += cell_->buckets[i].load(std::memory_order_relaxed);
  }
  return total;
}

// ---- ShardedCollector ---------------------------------------------------------------------

ShardedCollector::ShardedCollector() = default;
ShardedCollector::~ShardedCollector() = default;

Status ShardedCollector::insertFamily(std::unique_ptr<Family> family) {
  Status valid = validateFamily(*family);
  if (!valid) return valid;
  std::lock_guard<std::mutex> lock(mu_);
  std::string name = family->name;
  if (!families_.emplace(name, std::move(family)).second) {
    return Status::error(fmt::format("metric {} is already registered", name));
  }
  return Status::ok();
}

Result<CounterFamily> ShardedCollector::addCounter(std::string name, std::string help,
                                                   std::vector<std::string> label_names) {
  auto f =
      makeFamily(std::move(name), std::move(help), MetricType::Counter, std::move(label_names));
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<CounterFamily>::error(s.message());
  return CounterFamily(raw);
}

Result<GaugeFamily> ShardedCollector::addGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names,
                                               GaugeMerge merge) {
  auto f = makeFamily(std::move(name), std::move(help), MetricType::Gauge, std::move(label_names));
  f->merge = merge;
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<GaugeFamily>::error(s.message());
  return GaugeFamily(raw);
}

Result<HistogramFamily> ShardedCollector::addHistogram(std::string name, std::string help,
                                                       std::vector<std::string> label_names,
                                                       std::vector<double> bounds) {
  auto f =
      makeFamily(std::move(name), std::move(help), MetricType::Histogram, std::move(label_names));
  f->bounds = std::move(bounds);
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<HistogramFamily>::error(s.message());
  return HistogramFamily(raw);
}

Shard& ShardedCollector::addShard(std::string name) {
  std::lock_guard<std::mutex> lock(mu_);
  shards_.push_back(std::unique_ptr<Shard>(new Shard(std::move(name))));
  return *shards_.back();
}

namespace {

struct MergedHistogram {
  std::vector<uint64_t> buckets;  // per bucket, not cumulative; bounds.size() + 1 slots
  double sum = 0.0;
};

struct MergedGauge {
  double value = 0.0;
  bool seen = false;
};

// Every family's children summed over the shards, keyed by family then label values.
struct Merged {
  std::unordered_map<const Family*, std::map<LabelValues, uint64_t>> counters;
  std::unordered_map<const Family*, std::map<LabelValues, MergedGauge>> gauges;
  std::unordered_map<const Family*, std::map<LabelValues, MergedHistogram>> histograms;
};

ClientMetric::Label labelOf(const std::string& name, const std::string& value) {
  ClientMetric::Label label;
  label.name = name;
  label.value = value;
  return label;
}

std::vector<ClientMetric::Label> labelsOf(const Family& f, const LabelValues& values) {
  std::vector<ClientMetric::Label> labels;
  labels.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) labels.push_back(labelOf(f.label_names[i], values[i]));
  return labels;
}

// An unlabelled family has exactly one child; report it at zero before anything touched it.
template <typename Value>
void addImplicitZero(const Family& f, std::map<LabelValues, Value>& children) {
  if (children.empty() && f.label_names.empty()) children.emplace(LabelValues{}, Value{});
}

ClientMetric histogramMetric(const Family& f, const LabelValues& values, const MergedHistogram& h) {
  ClientMetric m;
  m.label = labelsOf(f, values);
  m.histogram.bucket.reserve(f.bounds.size() + 1);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= f.bounds.size(); ++i) {
    cumulative += i < h.buckets.size() ? h.buckets[i] : 0;
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < f.bounds.size() ? f.bounds[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum;
  return m;
}

MetricFamily familyOf(const Family& f, Merged& merged) {
  MetricFamily out;
  out.name = f.name;
  out.help = f.help;
  out.type = f.type;
  switch (f.type) {
    case MetricType::Counter: {
      auto& children = merged.counters[&f];
      addImplicitZero(f, children);
      for (const auto& [values, v] : children) {
        ClientMetric m;
        m.label = labelsOf(f, values);
        m.counter.value = static_cast<double>(v);
        out.metric.push_back(std::move(m));
      }
      break;
    }
    case MetricType::Gauge: {
      auto& children = merged.gauges[&f];
      addImplicitZero(f, children);
      for (const auto& [values, g] : children) {
        ClientMetric m;
        m.label = labelsOf(f, values);
        m.gauge.value = g.value;
        out.metric.push_back(std::move(m));
      }
      break;
    }
    case MetricType::Histogram: {
      auto& children = merged.histograms[&f];
      addImplicitZero(f, children);
      for (const auto& [values, h] : children) {
        out.metric.push_back(histogramMetric(f, values, h));
      }
      break;
    }
    default:
      break;
  }
  return out;
}

// Adds one shard's cells into `merged`. REQUIRES: the shard's mutex (the cells themselves are
// read with relaxed loads while their owner keeps writing).
template <typename Children>
void mergeCounters(const Children& children, Merged& merged) {
  for (const auto& [family, by_labels] : children) {
    auto& out = merged.counters[family];
    for (const auto& [values, cell] : by_labels) {
      out[values] += cell->value.load(std::memory_order_relaxed);
    }
  }
}

template <typename Children>
void mergeGauges(const Children& children, Merged& merged) {
  for (const auto& [family, by_labels] : children) {
    auto& out = merged.gauges[family];
    for (const auto& [values, cell] : by_labels) {
      const double v = cell->value.load(std::memory_order_relaxed);
      MergedGauge& g = out[values];
      if (!g.seen) {
        g.value = v;
      } else if (family->merge == GaugeMerge::kSum) {
        g.value += v;
      } else {
        g.value = std::max(g.value, v);
      }
      g.seen = true;
    }
  }
}

template <typename Children>
void mergeHistograms(const Children& children, Merged& merged) {
  for (const auto& [family, by_labels] : children) {
    auto& out = merged.histograms[family];
    for (const auto& [values, cell] : by_labels) {
      MergedHistogram& h = out[values];
      h.buckets.resize(family->bounds.size() + 1, 0);
      for (size_t i = 0; i < h.buckets.size(); ++i) {
        h.buckets[i] += cell->buckets[i].load(std::memory_order_relaxed);
      }
      h.sum += cell->sum.load(std::memory_order_relaxed);
    }
  }
}

}  // namespace

std::vector<MetricFamily> ShardedCollector::Collect() const {
  // Families and shards are never removed, so the pointers stay valid without the lock.
  std::vector<const Family*> families;
  std::vector<const Shard*> shards;
  {
    std::lock_guard<std::mutex> lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, f] : families_) families.push_back(f.get());
    for (const auto& s : shards_) shards.push_back(s.get());
  }
  Merged merged;
  for (const Shard* s : shards) {
    std::lock_guard<std::mutex> lock(s->mu_);
    mergeCounters(s->counters_, merged);
    mergeGauges(s->gauges_, merged);
    mergeHistograms(s->histograms_, merged);
  }
  std::vector<MetricFamily> out;
  out.reserve(families.size());
  for (const Family* f : families) out.push_back(familyOf(*f, merged));
  return out;
}

// ---- Exposition ---------------------------------------------------------------------------

namespace {

bool labelsLess(const ClientMetric& a, const ClientMetric& b) { return a.label < b.label; }

bool sameBounds(const ClientMetric::Histogram& a, const ClientMetric::Histogram& b) {
  if (a.bucket.size() != b.bucket.size()) return false;
  for (size_t i = 0; i < a.bucket.size(); ++i) {
    if (a.bucket[i].upper_bound != b.bucket[i].upper_bound) return false;
  }
  return true;
}

// Adds `from` into `into` (same family type, same labels). Returns false when they cannot be
// combined (histograms with different bounds); `into` is then left as it was.
bool addInto(MetricType type, ClientMetric& into, const ClientMetric& from) {
  switch (type) {
    case MetricType::Counter:
      into.counter.value += from.counter.value;
      return true;
    case MetricType::Gauge:
      into.gauge.value += from.gauge.value;
      return true;
    case MetricType::Untyped:
      into.untyped.value += from.untyped.value;
      return true;
    case MetricType::Histogram:
      if (!sameBounds(into.histogram, from.histogram)) return false;
      for (size_t i = 0; i < into.histogram.bucket.size(); ++i) {
        into.histogram.bucket[i].cumulative_count += from.histogram.bucket[i].cumulative_count;
      }
      into.histogram.sample_count += from.histogram.sample_count;
      into.histogram.sample_sum += from.histogram.sample_sum;
      return true;
    case MetricType::Summary:
      return false;  // quantiles do not add up
  }
  return false;
}

// Sorts the children by labels and folds together those with equal label sets.
void foldChildren(MetricFamily& family) {
  for (ClientMetric& m : family.metric) std::sort(m.label.begin(), m.label.end());
  std::stable_sort(family.metric.begin(), family.metric.end(), labelsLess);
  std::vector<ClientMetric> folded;
  folded.reserve(family.metric.size());
  for (ClientMetric& m : family.metric) {
    if (!folded.empty() && folded.back().label == m.label) {
      addInto(family.type, folded.back(), m);  // an uncombinable duplicate is dropped
      continue;
    }
    folded.push_back(std::move(m));
  }
  family.metric = std::move(folded);
}

std::string escapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::vector<MetricFamily> collectAll(const std::vector<const prometheus::Collectable*>& sources) {
  std::map<std::string, MetricFamily> by_name;
  for (const prometheus::Collectable* source : sources) {
    for (MetricFamily& f : source->Collect()) {
      auto it = by_name.find(f.name);
      if (it == by_name.end()) {
        std::string name = f.name;
        by_name.emplace(std::move(name), std::move(f));
        continue;
      }
      if (it->second.type != f.type) continue;  // would make the exposition invalid
      for (ClientMetric& m : f.metric) it->second.metric.push_back(std::move(m));
    }
  }
  std::vector<MetricFamily> out;
  out.reserve(by_name.size());
  for (auto& [name, f] : by_name) {
    foldChildren(f);
    out.push_back(std::move(f));
  }
  return out;
}

std::string serializeText(std::vector<MetricFamily> families) {
  for (MetricFamily& f : families) f.help = escapeHelp(f.help);
  // The string overload sets the stream's precision (16 significant digits) and locale; the
  // ostream overload would use the caller's stream settings (6 digits by default).
  return prometheus::TextSerializer().Serialize(families);
}

std::string renderText(const std::vector<const prometheus::Collectable*>& sources) {
  return serializeText(collectAll(sources));
}

// ---- Buckets ------------------------------------------------------------------------------

std::vector<double> exponentialBuckets(double start, double factor, size_t count) {
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (size_t i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::vector<double> latencyBucketsSeconds() { return exponentialBuckets(50e-6, 2.0, 18); }

}  // namespace slotwise::proxy::metrics
