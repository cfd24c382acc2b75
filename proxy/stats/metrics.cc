#include "proxy/stats/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

namespace slotwise::proxy::metrics {

namespace detail {

struct Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  GaugeMerge merge = GaugeMerge::kSum;
  std::vector<double> bounds;  // histograms only
  CollectFn collect;           // set for callback families only
};

HistogramCell::HistogramCell(const std::vector<double>* family_bounds)
    : bounds(family_bounds),
      buckets(std::make_unique<std::atomic<uint64_t>[]>(family_bounds->size() + 1)) {
  for (size_t i = 0; i <= bounds->size(); ++i) buckets[i].store(0, std::memory_order_relaxed);
}

}  // namespace detail

namespace {

using detail::Family;

constexpr std::string_view kTotalSuffix = "_total";

bool isNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool isValidName(const std::string& name, bool allow_colon) {
  if (name.empty() || !isNameStart(name[0], allow_colon)) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return isNameStart(c, allow_colon) || (c >= '0' && c <= '9'); });
}

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

std::string counterName(std::string name) {
  if (!endsWith(name, kTotalSuffix)) name += kTotalSuffix;
  return name;
}

Status validateLabels(const Family& f) {
  std::set<std::string> seen;
  for (const std::string& label : f.label_names) {
    if (!isValidName(label, false) || label.rfind("__", 0) == 0) {
      return Status::error(fmt::format("metric {}: invalid label name '{}'", f.name, label));
    }
    if (f.type == MetricType::kHistogram && label == "le") {
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
  if (!isValidName(f.name, true)) {
    return Status::error(fmt::format("invalid metric name '{}'", f.name));
  }
  Status labels = validateLabels(f);
  if (!labels) return labels;
  if (f.type == MetricType::kHistogram) return validateBounds(f);
  return Status::ok();
}

[[noreturn]] void fatalLabelMismatch(const Family& f, size_t got) {
  std::fprintf(stderr, "metrics: family %s has %zu labels, child resolved with %zu values\n",
               f.name.c_str(), f.label_names.size(), got);
  std::abort();
}

void checkChild(const Family* f, MetricType type, size_t values) {
  if (f == nullptr || f->type != type || f->collect) {
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

// ---- Text exposition ----------------------------------------------------------------------

std::string escape(std::string_view in, bool quotes) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// `{a="x",b="y"}`, plus an optional trailing `le` pair; empty string when there are no pairs.
std::string labelBlock(const Family& f, const LabelValues& values, const std::string* le) {
  if (values.empty() && le == nullptr) return "";
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("{}=\"{}\"", f.label_names[i], escape(values[i], true));
  }
  if (le != nullptr) out += fmt::format("{}le=\"{}\"", values.empty() ? "" : ",", *le);
  return out + "}";
}

void writeHeader(std::string& out, const Family& f) {
  static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  out += fmt::format("# HELP {} {}\n", f.name, escape(f.help, false));
  out += fmt::format("# TYPE {} {}\n", f.name, kTypeNames[static_cast<int>(f.type)]);
}

struct MergedHistogram {
  std::vector<uint64_t> buckets;
  double sum = 0.0;
};

}  // namespace

// ---- Scrape-side access to shards ---------------------------------------------------------

namespace detail {

// Walks one shard's children of one family under the shard's mutex. The cells are read with
// relaxed loads, so the owning thread keeps writing while this runs.
struct ShardReader {
  template <typename Cell, typename Fn>
  static void forEach(const Shard& shard, const Shard::Children<Cell>& children,
                      const Family* family, Fn fn) {
    std::lock_guard<std::mutex> lock(shard.mu_);
    auto it = children.find(family);
    if (it == children.end()) return;
    for (const auto& [values, cell] : it->second) fn(values, *cell);
  }

  static std::map<LabelValues, uint64_t> counters(const Family& f,
                                                  const std::vector<const Shard*>& shards) {
    std::map<LabelValues, uint64_t> merged;
    for (const Shard* s : shards) {
      forEach(*s, s->counters_, &f, [&](const LabelValues& v, const CounterCell& c) {
        merged[v] += c.value.load(std::memory_order_relaxed);
      });
    }
    return merged;
  }

  static std::map<LabelValues, double> gauges(const Family& f,
                                              const std::vector<const Shard*>& shards) {
    std::map<LabelValues, double> merged;
    for (const Shard* s : shards) {
      forEach(*s, s->gauges_, &f, [&](const LabelValues& v, const GaugeCell& c) {
        double value = c.value.load(std::memory_order_relaxed);
        auto [it, inserted] = merged.emplace(v, value);
        if (inserted) return;
        it->second = f.merge == GaugeMerge::kSum ? it->second + value : std::max(it->second, value);
      });
    }
    return merged;
  }

  static std::map<LabelValues, MergedHistogram> histograms(
      const Family& f, const std::vector<const Shard*>& shards) {
    std::map<LabelValues, MergedHistogram> merged;
    for (const Shard* s : shards) {
      forEach(*s, s->histograms_, &f, [&](const LabelValues& v, const HistogramCell& c) {
        MergedHistogram& m = merged[v];
        m.buckets.resize(f.bounds.size() + 1, 0);
        for (size_t i = 0; i < m.buckets.size(); ++i) {
          m.buckets[i] += c.buckets[i].load(std::memory_order_relaxed);
        }
        m.sum += c.sum.load(std::memory_order_relaxed);
      });
    }
    return merged;
  }
};

}  // namespace detail

// ---- Shard --------------------------------------------------------------------------------

Counter Shard::counter(CounterFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::kCounter, label_values.size());
  std::lock_guard<std::mutex> lock(mu_);
  return Counter(findOrCreate(counters_, family.family_, label_values,
                              [] { return std::make_unique<detail::CounterCell>(); }));
}

Gauge Shard::gauge(GaugeFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::kGauge, label_values.size());
  std::lock_guard<std::mutex> lock(mu_);
  return Gauge(findOrCreate(gauges_, family.family_, label_values,
                            [] { return std::make_unique<detail::GaugeCell>(); }));
}

Histogram Shard::histogram(HistogramFamily family, const LabelValues& label_values) {
  checkChild(family.family_, MetricType::kHistogram, label_values.size());
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

// ---- Rendering ----------------------------------------------------------------------------

namespace {

using detail::ShardReader;

// An unlabelled family has exactly one child; show it at zero before anything touched it.
template <typename Merged>
void addImplicitZero(const Family& f, std::map<LabelValues, Merged>& merged) {
  if (merged.empty() && f.label_names.empty()) merged.emplace(LabelValues{}, Merged{});
}

void writeSample(std::string& out, const std::string& name, const std::string& labels,
                 const std::string& value) {
  out += name;
  out += labels;
  out += ' ';
  out += value;
  out += '\n';
}

void renderCounter(std::string& out, const Family& f, const std::vector<const Shard*>& shards) {
  auto merged = ShardReader::counters(f, shards);
  addImplicitZero(f, merged);
  for (const auto& [values, v] : merged) {
    writeSample(out, f.name, labelBlock(f, values, nullptr), fmt::format("{}", v));
  }
}

void renderGauge(std::string& out, const Family& f, const std::vector<const Shard*>& shards) {
  auto merged = ShardReader::gauges(f, shards);
  addImplicitZero(f, merged);
  for (const auto& [values, v] : merged) {
    writeSample(out, f.name, labelBlock(f, values, nullptr), formatValue(v));
  }
}

void renderOneHistogram(std::string& out, const Family& f, const LabelValues& values,
                        const MergedHistogram& h) {
  const std::string bucket_name = f.name + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= f.bounds.size(); ++i) {
    cumulative += i < h.buckets.size() ? h.buckets[i] : 0;
    std::string le = i < f.bounds.size() ? formatValue(f.bounds[i]) : "+Inf";
    writeSample(out, bucket_name, labelBlock(f, values, &le), fmt::format("{}", cumulative));
  }
  std::string labels = labelBlock(f, values, nullptr);
  writeSample(out, f.name + "_sum", labels, formatValue(h.sum));
  writeSample(out, f.name + "_count", labels, fmt::format("{}", cumulative));
}

void renderHistogram(std::string& out, const Family& f, const std::vector<const Shard*>& shards) {
  auto merged = ShardReader::histograms(f, shards);
  addImplicitZero(f, merged);
  for (const auto& [values, h] : merged) renderOneHistogram(out, f, values, h);
}

void renderCallback(std::string& out, const Family& f) {
  std::map<LabelValues, double> samples;
  for (Sample& s : f.collect()) {
    if (s.label_values.size() == f.label_names.size()) {
      samples[std::move(s.label_values)] = s.value;
    }
  }
  for (const auto& [values, v] : samples) {
    writeSample(out, f.name, labelBlock(f, values, nullptr), formatValue(v));
  }
}

void renderFamily(std::string& out, const Family& f, const std::vector<const Shard*>& shards) {
  writeHeader(out, f);
  if (f.collect) {
    renderCallback(out, f);
    return;
  }
  switch (f.type) {
    case MetricType::kCounter:
      renderCounter(out, f, shards);
      break;
    case MetricType::kGauge:
      renderGauge(out, f, shards);
      break;
    case MetricType::kHistogram:
      renderHistogram(out, f, shards);
      break;
  }
}

std::unique_ptr<Family> makeFamily(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names) {
  auto f = std::make_unique<Family>();
  f->name = type == MetricType::kCounter ? counterName(std::move(name)) : std::move(name);
  f->help = std::move(help);
  f->type = type;
  f->label_names = std::move(label_names);
  return f;
}

}  // namespace

// ---- Registry -----------------------------------------------------------------------------

Registry::Registry() = default;
Registry::~Registry() = default;

Status Registry::insertFamily(std::unique_ptr<Family> family) {
  Status valid = validateFamily(*family);
  if (!valid) return valid;
  std::lock_guard<std::mutex> lock(mu_);
  std::string name = family->name;
  if (!families_.emplace(name, std::move(family)).second) {
    return Status::error(fmt::format("metric {} is already registered", name));
  }
  return Status::ok();
}

Result<CounterFamily> Registry::addCounter(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  auto f =
      makeFamily(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names));
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<CounterFamily>::error(s.message());
  return CounterFamily(raw);
}

Result<GaugeFamily> Registry::addGauge(std::string name, std::string help,
                                       std::vector<std::string> label_names, GaugeMerge merge) {
  auto f = makeFamily(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names));
  f->merge = merge;
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<GaugeFamily>::error(s.message());
  return GaugeFamily(raw);
}

Result<HistogramFamily> Registry::addHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> bounds) {
  auto f =
      makeFamily(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names));
  f->bounds = std::move(bounds);
  const Family* raw = f.get();
  Status s = insertFamily(std::move(f));
  if (!s) return Result<HistogramFamily>::error(s.message());
  return HistogramFamily(raw);
}

Status Registry::addCallback(std::string name, std::string help, MetricType type,
                             std::vector<std::string> label_names, CollectFn collect) {
  if (type == MetricType::kHistogram || !collect) {
    return Status::error(fmt::format("metric {}: callbacks must be counter or gauge", name));
  }
  auto f = makeFamily(std::move(name), std::move(help), type, std::move(label_names));
  f->collect = std::move(collect);
  return insertFamily(std::move(f));
}

Status Registry::addCallbackGauge(std::string name, std::string help,
                                  std::function<double()> read) {
  return addCallback(std::move(name), std::move(help), MetricType::kGauge, {},
                     [read = std::move(read)] {
                       return std::vector<Sample>{{{}, read()}};
                     });
}

Status Registry::addCallbackCounter(std::string name, std::string help,
                                    std::function<double()> read) {
  return addCallback(std::move(name), std::move(help), MetricType::kCounter, {},
                     [read = std::move(read)] {
                       return std::vector<Sample>{{{}, read()}};
                     });
}

Shard& Registry::addShard(std::string name) {
  std::lock_guard<std::mutex> lock(mu_);
  shards_.push_back(std::unique_ptr<Shard>(new Shard(std::move(name))));
  return *shards_.back();
}

std::vector<const Family*> Registry::familySnapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const Family*> out;
  out.reserve(families_.size());
  for (const auto& [name, f] : families_) out.push_back(f.get());
  return out;
}

std::vector<const Shard*> Registry::shardSnapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const Shard*> out;
  out.reserve(shards_.size());
  for (const auto& s : shards_) out.push_back(s.get());
  return out;
}

std::string Registry::renderPrometheus() const {
  // Families and shards are never removed, so the snapshots stay valid without the lock;
  // callbacks therefore run unlocked and may take their own locks.
  std::vector<const Family*> families = familySnapshot();
  std::vector<const Shard*> shards = shardSnapshot();
  std::string out;
  for (const Family* f : families) renderFamily(out, *f, shards);
  return out;
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

// ---- Process metrics (/proc) --------------------------------------------------------------

namespace {

// Fields of /proc/self/stat after the parenthesised command name; index 0 is field 3 (state).
std::optional<std::vector<std::string>> readStatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  if (fields.size() < 22) return std::nullopt;
  return fields;
}

// Field numbers as in proc(5).
double statField(const std::vector<std::string>& fields, int number) {
  return std::strtod(fields[static_cast<size_t>(number - 3)].c_str(), nullptr);
}

double clockTicks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }

std::vector<Sample> one(std::optional<double> v) {
  if (!v) return {};
  return {Sample{{}, *v}};
}

std::optional<double> cpuSeconds() {
  auto fields = readStatFields();
  if (!fields) return std::nullopt;
  return (statField(*fields, 14) + statField(*fields, 15)) / clockTicks();
}

// statm field 0 is the virtual size, field 1 the resident set, both in pages.
std::optional<double> statmBytes(int index) {
  std::ifstream in("/proc/self/statm");
  double pages[2] = {0, 0};
  if (!(in >> pages[0] >> pages[1])) return std::nullopt;
  return pages[index] * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Counts /proc/self/fd entries, excluding the descriptor used to read the directory itself.
std::optional<double> openFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const std::string own = std::to_string(dirfd(dir));
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.' && own != entry->d_name) ++count;
  }
  closedir(dir);
  return count;
}

std::optional<double> maxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  return static_cast<double>(limit.rlim_cur);
}

// Boot time (/proc/stat btime) plus the process start offset (stat field 22, in ticks).
std::optional<double> startTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::optional<double> boot;
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = 0;
      if (in >> v) boot = v;
      break;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  auto fields = readStatFields();
  if (!boot || !fields) return std::nullopt;
  return *boot + statField(*fields, 22) / clockTicks();
}

}  // namespace

Status addProcessMetrics(Registry& registry) {
  const std::optional<double> start = startTimeSeconds();  // constant: read once
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    CollectFn collect;
  };
  const Def defs[] = {
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
       MetricType::kCounter, [] { return one(cpuSeconds()); }},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::kGauge,
       [] { return one(statmBytes(1)); }},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::kGauge,
       [] { return one(statmBytes(0)); }},
      {"process_open_fds", "Number of open file descriptors.", MetricType::kGauge,
       [] { return one(openFds()); }},
      {"process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge,
       [] { return one(maxFds()); }},
      {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
       MetricType::kGauge, [start] { return one(start); }},
  };
  for (const Def& d : defs) {
    Status s = registry.addCallback(d.name, d.help, d.type, {}, d.collect);
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace slotwise::proxy::metrics
