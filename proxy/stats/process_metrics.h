// The standard Prometheus process collectors, read from /proc on each scrape. Part of the
// metrics module (see metrics.h).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <optional>
#include <vector>

namespace slotwise::proxy::metrics {

// Reports process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds for the calling process. Stateless apart from the start time, which
// is read once at construction. Collect() runs on the scraping thread; it reads /proc and
// getrlimit only, so it is safe from any thread. A value that cannot be read at scrape time is
// omitted (its family is reported without a metric).
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::optional<double> start_time_seconds_;
};

}  // namespace slotwise::proxy::metrics
