#include "proxy/proxy_metrics.h"

#include <cstdio>
#include <cstdlib>

namespace slotwise::proxy {
namespace {

template <typename T>
T must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "metrics registration failed: %s\n", r.error().c_str());
    std::abort();
  }
  return std::move(r).value();
}

std::string labelOf(const router::CommandInfo* info) {
  return info != nullptr ? std::string(info->name) : std::string("unknown");
}

}  // namespace

ProxyMetricFamilies ProxyMetricFamilies::registerAll(metrics::Registry& r) {
  ProxyMetricFamilies f;
  f.commands = must(r.addCounter("slotwise_commands_total",
                                 "Client commands parsed, including those rejected before routing."));
  f.error_replies = must(r.addCounter("slotwise_error_replies_total",
                                      "Error replies produced by the proxy itself."));
  f.requests = must(r.addCounter("slotwise_requests_total",
                                 "Client commands sent to the cluster, by command name.",
                                 {"command"}));
  f.errors = must(r.addCounter("slotwise_request_errors_total",
                               "Client commands answered with an error reply, by command name.",
                               {"command"}));
  f.latency = must(r.addHistogram("slotwise_request_duration_seconds",
                                  "Time from parsing a client command to its reply being queued.",
                                  {}, metrics::latencyBucketsSeconds()));
  f.redirects = must(r.addCounter("slotwise_redirects_total",
                                  "Cluster redirections followed (moved, ask) or retried (tryagain).",
                                  {"kind"}));
  f.backend_failures = must(r.addCounter("slotwise_backend_failures_total",
                                         "Backend connections that failed or timed out."));
  f.accepted = must(r.addCounter("slotwise_client_connections_accepted_total",
                                 "Client connections accepted."));
  f.clients = must(r.addGauge("slotwise_client_connections", "Open client connections."));
  return f;
}

WorkerStats::WorkerStats(metrics::Shard& s, const ProxyMetricFamilies& f)
    : shard(s),
      families(f),
      commands(s.counter(f.commands)),
      errors_sent(s.counter(f.error_replies)),
      moved(s.counter(f.redirects, {"moved"})),
      ask(s.counter(f.redirects, {"ask"})),
      tryagain(s.counter(f.redirects, {"tryagain"})),
      backend_failures(s.counter(f.backend_failures)),
      clients_accepted(s.counter(f.accepted)),
      clients(s.gauge(f.clients)),
      latency(s.histogram(f.latency)) {}

metrics::Counter& WorkerStats::requestsOf(const router::CommandInfo* info) {
  auto it = requests_.find(info);
  if (it == requests_.end()) it = requests_.emplace(info, shard.counter(families.requests, {labelOf(info)})).first;
  return it->second;
}

metrics::Counter& WorkerStats::errorsOf(const router::CommandInfo* info) {
  auto it = errors_.find(info);
  if (it == errors_.end()) it = errors_.emplace(info, shard.counter(families.errors, {labelOf(info)})).first;
  return it->second;
}

}  // namespace slotwise::proxy
