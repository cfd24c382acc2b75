// The proxy's metric families (names and labels follow Prometheus conventions, prefix slotwise_)
// and the per-worker handles the data path increments. The data path's families live in one
// metrics::ShardedCollector owned by the Server; every worker gets its own shard, merged when
// /metrics is scraped. What the control thread records (ControlMetrics) lives in a
// prometheus::Registry with prometheus-cpp's own types, also owned by the Server.
//
// Besides the metrics, this header holds BackendHealth: the per-node reachability that /readyz
// reads. It is shared by every worker and updated only on connection events (connect, close,
// probe), never per request.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/stats/metrics.h"
#include "router/command_table.h"

// prometheus-cpp types used by ControlMetrics; declared here so that the data path, which
// includes this header, does not pull in prometheus-cpp's registry, counter and gauge headers.
namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace slotwise::proxy {

class KeyWatchBook;
class KeyWatchShard;
class MonitorHub;
class SlowlogBook;
class SlowlogShard;

// What happened to a backend connection (or a control-thread probe) of one node.
enum class BackendEvent : uint8_t {
  kConnected,      // a connection was established
  kClosed,         // an established connection closed without a failure (release, shutdown)
  kLost,           // an established connection failed (EOF, reset, timeout, protocol error)
  kConnectFailed,  // a connection attempt failed or timed out
  kProbeOk,        // the control thread's PING was answered
  kProbeFailed,    // the control thread's PING failed
};

// Per-node reachability across all workers. Thread-safe (one mutex, taken on connection events
// and by readers such as /readyz; never on the request path).
//
// Rule: a node is reachable when some worker holds an established connection to it, or else
// when the most recent connection attempt or probe to it did not fail. A node never tried is
// reachable (nothing is known against it); the control thread probes every master without an
// established connection, so an unknown or failed node is settled within about a second.
class BackendHealth {
 public:
  // What /api/backends shows of one node.
  struct NodeView {
    int64_t established = 0;   // established connections, all workers
    bool tried = false;        // a connection or probe was attempted
    bool last_failed = false;  // the latest attempt, probe or connection failed
    std::string last_error;    // why the latest failure happened ("" if none yet)
    int64_t last_error_unix_ms = 0;
  };
  // Records `event` for `address` ("host:port"); `error` says why for a failure. Any thread.
  void record(const std::string& address, BackendEvent event, std::string_view error = {});
  // The node's state (a default NodeView for a node never seen). Any thread.
  NodeView view(const std::string& address) const;
  // True when `address` is reachable under the rule above. Any thread.
  bool reachable(const std::string& address) const;
  // True when some worker holds an established connection to `address`. Any thread.
  bool connected(const std::string& address) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, NodeView> nodes_;  // GUARDED_BY(mu_)
};

struct ProxyMetricFamilies {
  metrics::CounterFamily commands;          // slotwise_commands_total (every parsed command)
  metrics::CounterFamily error_replies;     // slotwise_error_replies_total (proxy-made errors)
  metrics::CounterFamily requests;          // slotwise_requests_total{command}
  metrics::CounterFamily errors;            // slotwise_request_errors_total{command}
  metrics::HistogramFamily latency;         // slotwise_request_duration_seconds
  metrics::CounterFamily redirects;         // slotwise_redirects_total{kind}
  metrics::CounterFamily backend_failures;  // slotwise_backend_failures_total
  metrics::CounterFamily accepted;          // slotwise_client_connections_accepted_total
  metrics::CounterFamily rejected;          // slotwise_client_connections_rejected_total{reason}
  metrics::CounterFamily tls_handshakes;    // slotwise_tls_handshakes_total{side,result}
  metrics::GaugeFamily clients;             // slotwise_client_connections
  metrics::GaugeFamily blocked_clients;     // slotwise_blocked_clients
  metrics::GaugeFamily pubsub_clients;      // slotwise_pubsub_clients
  metrics::CounterFamily client_bytes_in;   // slotwise_client_bytes_received_total
  metrics::CounterFamily client_bytes_out;  // slotwise_client_bytes_sent_total
  metrics::HistogramFamily backend_latency;   // slotwise_backend_request_duration_seconds{node}
  metrics::GaugeFamily backend_connections;   // slotwise_backend_connections{node,state}
  metrics::GaugeFamily backend_in_flight;     // slotwise_backend_in_flight_requests{node}
  metrics::GaugeFamily dedicated_in_use;      // slotwise_backend_dedicated_connections_in_use
  metrics::CounterFamily connect_failures;    // slotwise_backend_connect_failures_total{node}
  metrics::CounterFamily backend_bytes_in;    // slotwise_backend_bytes_received_total{node}
  metrics::CounterFamily backend_bytes_out;   // slotwise_backend_bytes_sent_total{node}
  metrics::GaugeFamily loop_lag;              // slotwise_event_loop_lag_seconds{worker}
  metrics::CounterFamily slowlog_entries;     // slotwise_slowlog_entries_total
  metrics::CounterFamily big_values;          // slotwise_big_values_total{command,direction}

  // Shared state the workers report into besides the metrics. Owned by the Server, which sets
  // these before creating the workers; null in tests that run workers without a Server (the
  // reports are then dropped and SLOWLOG answers an error).
  BackendHealth* health = nullptr;
  SlowlogBook* slowlog = nullptr;
  KeyWatchBook* keywatch = nullptr;  // hot and big keys (observe:)
  MonitorHub* monitor = nullptr;     // MONITOR clients of every worker

  // Registers every family of the data path in `collector`. Aborts on a registration error
  // (names are constants: a failure is a programming error).
  static ProxyMetricFamilies registerAll(metrics::ShardedCollector& collector);
};

// The control thread's metrics: prometheus-cpp families in a prometheus::Registry. Their updates
// are prometheus-cpp's atomic read-modify-writes, which is fine at the control thread's rate (a
// slot map, a refresh tick, a refused hand-off accept); the data path never touches them.
// slotwise_client_connections_rejected_total{reason="max_clients"} here and the workers' family
// of the same name are summed by metrics::collectAll at scrape time.
// The references stay valid for the registry's lifetime. Thread-safe (prometheus-cpp); in the
// proxy only the control thread updates them.
struct ControlMetrics {
  // Registers the families in `registry` (which must outlive this object). Throws
  // std::invalid_argument (from prometheus-cpp) only on a programming error in the names.
  explicit ControlMetrics(prometheus::Registry& registry);

  // Records the slot map now in use.
  void slotMapPublished(uint64_t version, uint64_t covered_slots);
  // Advances the refresh counters to the refresher's cumulative totals; a total below the
  // counter's value is ignored (counters never go back).
  void refreshTotals(uint64_t ok, uint64_t failed);

  prometheus::Gauge& slot_map_version;        // slotwise_slot_map_version
  prometheus::Gauge& slot_map_covered_slots;  // slotwise_slot_map_covered_slots
  prometheus::Counter& refreshes;             // slotwise_slot_map_refreshes_total
  prometheus::Counter& refresh_failures;      // slotwise_slot_map_refresh_failures_total
  // slotwise_client_connections_rejected_total{reason="max_clients"}: hand-off accepts refused
  // by the control thread.
  prometheus::Counter& rejected_max_clients;
};

// One backend node's handles in one worker's shard. Owned by WorkerStats; the address of a
// NodeStats never changes once created (BackendConn keeps a pointer to it).
struct NodeStats {
  metrics::Histogram latency;  // write to the node -> reply framed
  metrics::Gauge in_flight;    // requests sent or queued, sampled every housekeeping tick
  metrics::Gauge connected;
  metrics::Gauge connecting;
  metrics::Counter connect_failures;
  metrics::Counter bytes_in;
  metrics::Counter bytes_out;
};

// One worker's handles. Only the worker's thread increments them.
struct WorkerStats {
  WorkerStats(metrics::Shard& shard, const ProxyMetricFamilies& families);

  // Per-command counters, resolved on first use of each command.
  metrics::Counter& requestsOf(const router::CommandInfo* info);
  metrics::Counter& errorsOf(const router::CommandInfo* info);
  // The handles of node `address` ("host:port"), resolved on first use (takes the shard mutex
  // once per node). The reference stays valid for the WorkerStats' lifetime.
  NodeStats& node(const std::string& address);
  // Forwards a connection event to families.health (dropped when there is none).
  void backendEvent(const std::string& address, BackendEvent event,
                    std::string_view error = {}) const;
  // Counts a request (`reply` false) or reply of at least observe.big_value_bytes. Rare: resolves
  // the child each time.
  void bigValue(const router::CommandInfo* info, bool reply);
  // Records the event-loop lag of this worker measured against a timer's schedule.
  void setLoopLag(double seconds) const { loop_lag.set(seconds < 0 ? 0 : seconds); }

  metrics::Shard& shard;
  const ProxyMetricFamilies& families;
  metrics::Counter commands;  // all commands, also those rejected before routing
  metrics::Counter errors_sent;
  metrics::Counter moved, ask, tryagain, clusterdown;
  metrics::Counter backend_failures;
  metrics::Counter clients_accepted;
  metrics::Counter rejected_max_clients, rejected_auth;
  metrics::Counter rejected_output_limit, rejected_input_limit;
  // TLS handshakes of clients (full, resumed, failed) and of node connections (ok, failed).
  metrics::Counter tls_client_full, tls_client_resumed, tls_handshake_failures;
  metrics::Counter tls_backend_ok, tls_backend_failures;
  metrics::Gauge clients;
  metrics::Gauge blocked_clients;
  metrics::Gauge pubsub_clients;
  metrics::Counter client_bytes_in, client_bytes_out;
  metrics::Gauge dedicated_in_use;
  metrics::Gauge loop_lag;
  metrics::Counter slowlog_entries;
  metrics::Histogram latency;
  // This worker's slow log ring (a shard of families.slowlog), or null without one.
  SlowlogShard* slowlog = nullptr;
  // This worker's hot/big key state (a shard of families.keywatch), or null without one.
  KeyWatchShard* keywatch = nullptr;

 private:
  std::unordered_map<const router::CommandInfo*, metrics::Counter> requests_, errors_;
  std::unordered_map<std::string, NodeStats> nodes_;
};

}  // namespace slotwise::proxy
