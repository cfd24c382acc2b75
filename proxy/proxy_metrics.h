// The proxy's metric families (names and labels follow Prometheus conventions, prefix slotwise_)
// and the per-worker handles the data path increments. Families live in one metrics::Registry
// owned by the Server; every worker gets its own shard, merged when /metrics is scraped.
#pragma once

#include <string>
#include <unordered_map>

#include "proxy/metrics.h"
#include "router/command_table.h"

namespace slotwise::proxy {

struct ProxyMetricFamilies {
  metrics::CounterFamily commands;          // slotwise_commands_total (every parsed command)
  metrics::CounterFamily error_replies;     // slotwise_error_replies_total (proxy-made errors)
  metrics::CounterFamily requests;          // slotwise_requests_total{command}
  metrics::CounterFamily errors;            // slotwise_request_errors_total{command}
  metrics::HistogramFamily latency;         // slotwise_request_duration_seconds
  metrics::CounterFamily redirects;         // slotwise_redirects_total{kind}
  metrics::CounterFamily backend_failures;  // slotwise_backend_failures_total
  metrics::CounterFamily accepted;          // slotwise_client_connections_accepted_total
  metrics::GaugeFamily clients;             // slotwise_client_connections

  // Registers every family of the data path in `registry`. Aborts on a registration error
  // (names are constants: a failure is a programming error).
  static ProxyMetricFamilies registerAll(metrics::Registry& registry);
};

// One worker's handles. Only the worker's thread increments them.
struct WorkerStats {
  WorkerStats(metrics::Shard& shard, const ProxyMetricFamilies& families);

  // Per-command counters, resolved on first use of each command.
  metrics::Counter& requestsOf(const router::CommandInfo* info);
  metrics::Counter& errorsOf(const router::CommandInfo* info);

  metrics::Shard& shard;
  const ProxyMetricFamilies& families;
  metrics::Counter commands;  // all commands, also those rejected before routing
  metrics::Counter errors_sent;
  metrics::Counter moved, ask, tryagain;
  metrics::Counter backend_failures;
  metrics::Counter clients_accepted;
  metrics::Gauge clients;
  metrics::Histogram latency;

 private:
  std::unordered_map<const router::CommandInfo*, metrics::Counter> requests_, errors_;
};

}  // namespace slotwise::proxy
