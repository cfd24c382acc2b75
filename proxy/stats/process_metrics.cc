#include "proxy/stats/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace slotwise::proxy::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

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

// An unlabelled family with one metric holding `value`, or none when it is unknown.
MetricFamily family(const char* name, const char* help, MetricType type,
                    std::optional<double> value) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  if (value) {
    ClientMetric m;
    if (type == MetricType::Counter) {
      m.counter.value = *value;
    } else {
      m.gauge.value = *value;
    }
    f.metric.push_back(std::move(m));
  }
  return f;
}

}  // namespace

ProcessCollector::ProcessCollector() : start_time_seconds_(startTimeSeconds()) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  out.push_back(family("process_cpu_seconds_total",
                       "Total user and system CPU time spent in seconds.", MetricType::Counter,
                       cpuSeconds()));
  out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                       MetricType::Gauge, statmBytes(1)));
  out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                       MetricType::Gauge, statmBytes(0)));
  out.push_back(
      family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, openFds()));
  out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                       MetricType::Gauge, maxFds()));
  out.push_back(family("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                       start_time_seconds_));
  return out;
}

}  // namespace slotwise::proxy::metrics
