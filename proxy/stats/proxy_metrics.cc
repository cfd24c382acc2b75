#include "proxy/stats/proxy_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "proxy/stats/key_watch.h"
#include "proxy/stats/slowlog.h"

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

std::string_view toString(BackendEvent event) {
  switch (event) {
    case BackendEvent::kConnected: return "connected";
    case BackendEvent::kClosed: return "closed";
    case BackendEvent::kLost: return "connection lost";
    case BackendEvent::kConnectFailed: return "connect failed";
    case BackendEvent::kProbeOk: return "probe ok";
    case BackendEvent::kProbeFailed: return "probe failed";
  }
  return "?";
}

// Shared by the workers' family and ControlMetrics, which collectAll merges into one.
constexpr const char* kRejectedName = "slotwise_client_connections_rejected_total";
constexpr const char* kRejectedHelp =
    "Client connections refused or closed by the proxy, by reason (max_clients, auth, "
    "output_limit, input_limit).";

std::string labelOf(const router::CommandInfo* info) {
  return info != nullptr ? std::string(info->name) : std::string("unknown");
}

// "worker-3" -> "3": the shard name of a worker, as the value of the `worker` label.
std::string workerLabel(const std::string& shard_name) {
  constexpr std::string_view kPrefix = "worker-";
  if (shard_name.rfind(kPrefix, 0) == 0) return shard_name.substr(kPrefix.size());
  return shard_name;
}

void registerClientFamilies(metrics::ShardedCollector& r, ProxyMetricFamilies& f) {
  f.accepted = must(r.addCounter("slotwise_client_connections_accepted_total",
                                 "Client connections accepted."));
  f.rejected = must(r.addCounter(kRejectedName, kRejectedHelp, {"reason"}));
  f.tls_handshakes = must(r.addCounter(
      "slotwise_tls_handshakes_total",
      "TLS handshakes. side: client (the TLS port) or backend (nodes, sentinels); result: full, "
      "resumed (session resumption), ok (backend) or failed.",
      {"side", "result"}));
  f.clients = must(r.addGauge("slotwise_client_connections", "Open client connections."));
  f.blocked_clients = must(r.addGauge(
      "slotwise_blocked_clients", "Clients waiting for the reply of a blocking command."));
  f.pubsub_clients = must(r.addGauge(
      "slotwise_pubsub_clients", "Clients in pub/sub mode (at least one subscription)."));
  f.client_bytes_in = must(r.addCounter("slotwise_client_bytes_received_total",
                                        "Bytes read from client connections."));
  f.client_bytes_out = must(r.addCounter("slotwise_client_bytes_sent_total",
                                         "Bytes written to client connections."));
}

void registerBackendFamilies(metrics::ShardedCollector& r, ProxyMetricFamilies& f) {
  f.backend_failures = must(r.addCounter("slotwise_backend_failures_total",
                                         "Backend connections that failed or timed out."));
  f.backend_latency = must(r.addHistogram(
      "slotwise_backend_request_duration_seconds",
      "Time from writing a request to a backend node until its reply is framed, by node.",
      {"node"}, metrics::latencyBucketsSeconds()));
  f.backend_connections = must(r.addGauge(
      "slotwise_backend_connections",
      "Backend connections by node and state (connecting, connected), dedicated ones included.",
      {"node", "state"}));
  f.backend_in_flight = must(r.addGauge(
      "slotwise_backend_in_flight_requests",
      "Requests sent or queued to a node and not answered yet, by node (sampled every 100 ms).",
      {"node"}));
  f.dedicated_in_use = must(r.addGauge(
      "slotwise_backend_dedicated_connections_in_use",
      "Dedicated backend connections owned by a client (transactions, blocking, pub/sub)."));
  f.connect_failures = must(r.addCounter("slotwise_backend_connect_failures_total",
                                         "Backend connection attempts that failed, by node.",
                                         {"node"}));
  f.backend_bytes_in = must(r.addCounter("slotwise_backend_bytes_received_total",
                                         "Bytes read from backend nodes, by node.", {"node"}));
  f.backend_bytes_out = must(r.addCounter("slotwise_backend_bytes_sent_total",
                                          "Bytes queued for backend nodes, by node.", {"node"}));
}

}  // namespace

// ---- BackendHealth ------------------------------------------------------------------------

void BackendHealth::record(const std::string& address, BackendEvent event, std::string_view error) {
  std::lock_guard<std::mutex> lock(mu_);
  NodeView& n = nodes_[address];
  n.tried = true;
  const bool failure = event == BackendEvent::kLost || event == BackendEvent::kConnectFailed ||
                       event == BackendEvent::kProbeFailed;
  if (failure) {
    n.last_error = error.empty() ? std::string(toString(event)) : std::string(error);
    n.last_error_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  }
  switch (event) {
    case BackendEvent::kConnected:
      ++n.established;
      n.last_failed = false;
      break;
    case BackendEvent::kClosed:
      if (n.established > 0) --n.established;
      break;
    case BackendEvent::kLost:
      if (n.established > 0) --n.established;
      n.last_failed = true;
      break;
    case BackendEvent::kConnectFailed:
    case BackendEvent::kProbeFailed:
      n.last_failed = true;
      break;
    case BackendEvent::kProbeOk:
      n.last_failed = false;
      break;
  }
}

bool BackendHealth::reachable(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(address);
  return it == nodes_.end() || it->second.established > 0 || !it->second.last_failed;
}

BackendHealth::NodeView BackendHealth::view(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(address);
  return it == nodes_.end() ? NodeView{} : it->second;
}

bool BackendHealth::connected(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(address);
  return it != nodes_.end() && it->second.established > 0;
}

// ---- Families -----------------------------------------------------------------------------

ProxyMetricFamilies ProxyMetricFamilies::registerAll(metrics::ShardedCollector& r) {
  ProxyMetricFamilies f;
  f.commands = must(r.addCounter(
      "slotwise_commands_total",
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
  f.redirects = must(r.addCounter(
      "slotwise_redirects_total",
      "Cluster redirections followed (moved, ask), retried (tryagain) or cluster-down replies "
      "seen (clusterdown), by kind.",
      {"kind"}));
  f.loop_lag = must(r.addGauge(
      "slotwise_event_loop_lag_seconds",
      "Delay of the worker's 100 ms housekeeping timer behind its schedule, last measurement.",
      {"worker"}, metrics::GaugeMerge::kMax));
  f.slowlog_entries = must(r.addCounter("slotwise_slowlog_entries_total",
                                        "Requests recorded in the slow log."));
  f.big_values = must(r.addCounter(
      "slotwise_big_values_total",
      "Requests and replies of at least observe.big_value_bytes, by command and direction.",
      {"command", "direction"}));
  registerClientFamilies(r, f);
  registerBackendFamilies(r, f);
  return f;
}

// ---- ControlMetrics -----------------------------------------------------------------------

namespace {

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help,
                             const prometheus::Labels& labels = {}) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add(labels);
}

// Raises `c` to `total`; only the control thread writes, so the read and the add do not race
// with another writer.
void advanceTo(prometheus::Counter& c, uint64_t total) {
  const double delta = static_cast<double>(total) - c.Value();
  if (delta > 0) c.Increment(delta);
}

}  // namespace

ControlMetrics::ControlMetrics(prometheus::Registry& r)
    : slot_map_version(gauge(r, "slotwise_slot_map_version",
                             "Version of the slot map in use (increments on change).")),
      slot_map_covered_slots(gauge(r, "slotwise_slot_map_covered_slots",
                                   "Hash slots (of 16384) the slot map assigns a master.")),
      refreshes(counter(r, "slotwise_slot_map_refreshes_total",
                        "Topology refreshes that produced a valid slot map.")),
      refresh_failures(counter(r, "slotwise_slot_map_refresh_failures_total",
                               "Topology refreshes where no node answered with a valid map.")),
      rejected_max_clients(counter(r, kRejectedName, kRejectedHelp, {{"reason", "max_clients"}})) {
}

void ControlMetrics::slotMapPublished(uint64_t version, uint64_t covered_slots) {
  slot_map_version.Set(static_cast<double>(version));
  slot_map_covered_slots.Set(static_cast<double>(covered_slots));
}

void ControlMetrics::refreshTotals(uint64_t ok, uint64_t failed) {
  advanceTo(refreshes, ok);
  advanceTo(refresh_failures, failed);
}

// ---- WorkerStats --------------------------------------------------------------------------

WorkerStats::WorkerStats(metrics::Shard& s, const ProxyMetricFamilies& f)
    : shard(s),
      families(f),
      commands(s.counter(f.commands)),
      errors_sent(s.counter(f.error_replies)),
      moved(s.counter(f.redirects, {"moved"})),
      ask(s.counter(f.redirects, {"ask"})),
      tryagain(s.counter(f.redirects, {"tryagain"})),
      clusterdown(s.counter(f.redirects, {"clusterdown"})),
      backend_failures(s.counter(f.backend_failures)),
      clients_accepted(s.counter(f.accepted)),
      rejected_max_clients(s.counter(f.rejected, {"max_clients"})),
      rejected_auth(s.counter(f.rejected, {"auth"})),
      rejected_output_limit(s.counter(f.rejected, {"output_limit"})),
      rejected_input_limit(s.counter(f.rejected, {"input_limit"})),
      tls_client_full(s.counter(f.tls_handshakes, {"client", "full"})),
      tls_client_resumed(s.counter(f.tls_handshakes, {"client", "resumed"})),
      tls_handshake_failures(s.counter(f.tls_handshakes, {"client", "failed"})),
      tls_backend_ok(s.counter(f.tls_handshakes, {"backend", "ok"})),
      tls_backend_failures(s.counter(f.tls_handshakes, {"backend", "failed"})),
      clients(s.gauge(f.clients)),
      blocked_clients(s.gauge(f.blocked_clients)),
      pubsub_clients(s.gauge(f.pubsub_clients)),
      client_bytes_in(s.counter(f.client_bytes_in)),
      client_bytes_out(s.counter(f.client_bytes_out)),
      dedicated_in_use(s.gauge(f.dedicated_in_use)),
      loop_lag(s.gauge(f.loop_lag, {workerLabel(s.name())})),
      slowlog_entries(s.counter(f.slowlog_entries)),
      latency(s.histogram(f.latency)),
      slowlog(f.slowlog != nullptr ? &f.slowlog->addShard() : nullptr),
      keywatch(f.keywatch != nullptr ? &f.keywatch->addShard() : nullptr) {}

void WorkerStats::bigValue(const router::CommandInfo* info, bool reply) {
  shard.counter(families.big_values, {labelOf(info), reply ? "reply" : "request"}).inc();
}

metrics::Counter& WorkerStats::requestsOf(const router::CommandInfo* info) {
  auto it = requests_.find(info);
  if (it == requests_.end()) {
    it = requests_.emplace(info, shard.counter(families.requests, {labelOf(info)})).first;
  }
  return it->second;
}

metrics::Counter& WorkerStats::errorsOf(const router::CommandInfo* info) {
  auto it = errors_.find(info);
  if (it == errors_.end()) {
    it = errors_.emplace(info, shard.counter(families.errors, {labelOf(info)})).first;
  }
  return it->second;
}

NodeStats& WorkerStats::node(const std::string& address) {
  auto it = nodes_.find(address);
  if (it != nodes_.end()) return it->second;
  NodeStats n;
  n.latency = shard.histogram(families.backend_latency, {address});
  n.connected = shard.gauge(families.backend_connections, {address, "connected"});
  n.connecting = shard.gauge(families.backend_connections, {address, "connecting"});
  n.in_flight = shard.gauge(families.backend_in_flight, {address});
  n.connect_failures = shard.counter(families.connect_failures, {address});
  n.bytes_in = shard.counter(families.backend_bytes_in, {address});
  n.bytes_out = shard.counter(families.backend_bytes_out, {address});
  return nodes_.emplace(address, n).first->second;
}

void WorkerStats::backendEvent(const std::string& address, BackendEvent event,
                               std::string_view error) const {
  if (families.health != nullptr) families.health->record(address, event, error);
}

}  // namespace slotwise::proxy
