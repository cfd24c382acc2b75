// ProcessCollector: the standard process_* families read from /proc.
#include "proxy/stats/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <optional>
#include <string>

#include "proxy/stats/metrics.h"

namespace slotwise::proxy::metrics {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

// The single value of the unlabelled family `name`, or nullopt when absent or empty.
std::optional<double> valueOf(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& f : families) {
    if (f.name != name || f.metric.size() != 1) continue;
    return f.type == MetricType::Counter ? f.metric[0].counter.value : f.metric[0].gauge.value;
  }
  return std::nullopt;
}

TEST(ProcessCollector, ReportsTheStandardFamiliesFromProc) {
  ProcessCollector collector;
  const std::vector<MetricFamily> families = collector.Collect();
  ASSERT_EQ(families.size(), 6u);
  for (const MetricFamily& f : families) {
    EXPECT_EQ(f.type,
              f.name == "process_cpu_seconds_total" ? MetricType::Counter : MetricType::Gauge)
        << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_GE(valueOf(families, "process_cpu_seconds_total").value_or(-1), 0);
  EXPECT_GT(valueOf(families, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(valueOf(families, "process_virtual_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(valueOf(families, "process_max_fds").value_or(0), 0);
  const double now = static_cast<double>(std::time(nullptr));
  const double start = valueOf(families, "process_start_time_seconds").value_or(0);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);  // the test binary started recently

  const double fds = valueOf(families, "process_open_fds").value_or(0);
  ASSERT_GT(fds, 0);
  int extra = open("/dev/null", O_RDONLY);
  ASSERT_GE(extra, 0);
  EXPECT_EQ(valueOf(collector.Collect(), "process_open_fds"), fds + 1);
  close(extra);
}

TEST(ProcessCollector, RendersThroughTheExposition) {
  ProcessCollector collector;
  const std::string text = renderText({&collector});
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nprocess_start_time_seconds "), std::string::npos) << text;
}

}  // namespace
}  // namespace slotwise::proxy::metrics
