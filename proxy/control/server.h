// Server: owns the control loop (accepting, signals, topology refresh) and the worker threads.
//
//   control thread: listener ─► least-loaded worker (fd through its mailbox)
//                   TopologySource (cluster, static, sentinel, or a PoolSet of them)
//                     ─► new SlotMap ─► every worker
//                   workers' MOVED / failure reports ─► control mailbox ─► RefreshPolicy
#pragma once

#include <prometheus/registry.h>
#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/admin/admin_http.h"
#include "proxy/control/migration_control.h"
#include "proxy/control/node_query_impl.h"
#include "proxy/control/sentinel_watch.h"
#include "proxy/datapath/monitor.h"
#include "proxy/datapath/worker.h"
#include "proxy/io/mailbox.h"
#include "proxy/stats/key_watch.h"
#include "proxy/stats/metrics.h"
#include "proxy/stats/process_metrics.h"
#include "proxy/stats/proxy_metrics.h"
#include "proxy/stats/slowlog.h"
#include "proxy/stats/traffic_history.h"
#include "router/clock.h"
#include "router/node_settings.h"
#include "router/topology_refresher.h"
#include "router/topology_source.h"

namespace slotwise::proxy {

class Server : public ControlSink {
 public:
  // `config_path` is the file SIGHUP reloads (config_reload.h says what can change live).
  Server(config::ProxyConfig config, std::string config_path);
  ~Server() override;

  // Binds, starts the workers and runs until SIGTERM/SIGINT. Returns the process exit code.
  int run();

  // ControlSink (called from worker threads).
  void onRedirectSeen() override;
  void onNodeSettingApplied(const std::string& name, const std::string& value) override;
  void onBackendFailure(const std::string& address) override;
  void pauseClients(const ClientPause& pause) override;
  void onEveryWorker(const std::function<void(Worker&)>& task) override;
  size_t workerCount() const override { return workers_.size(); }
  MigrationState* migrationState() override { return migration_ ? &migration_->state() : nullptr; }
  const TlsContextSlot* clientTls() override {
    return config_.tls.enabled() ? &client_tls_ : nullptr;
  }
  const TlsContextSlot* backendTls() override {
    return config_.backend.tls.enabled ? &backend_tls_ : nullptr;
  }

 private:
  // A listening socket of the hand-off accept mode: the plain port or the TLS port.
  struct Acceptor {
    Server* server = nullptr;
    uv_poll_t poll{};
    int fd = -1;
    bool tls = false;
  };

  bool startListening();
  void logRefreshFailures(uint64_t failed);
  bool listenOn(const config::HostPort& address, bool tls);
  // (Re)builds the TLS contexts of `config` from their files. At start-up a failure is fatal
  // (false); on SIGHUP it is logged and the running contexts stay (certificate rotation without
  // dropping connections: established ones keep the context they started with).
  bool loadTls(const config::ProxyConfig& config, bool startup);
  // SIGHUP: reloads config_path_; a file that does not load keeps the running configuration.
  void reload();
  static router::RefreshPolicy::Options refreshOptions(const config::ClusterConfig& cluster);
  void onAcceptable(Acceptor& acceptor);
  void shutdown();
  void publish(const router::SlotMapPtr& map);
  // The topology source of the configured backend kind, or a PoolSet over the configured pools
  // (nullptr if they cannot be combined); its log line names the backends.
  std::unique_ptr<router::TopologySource> makeSource(std::string* described);
  // One deployment: the section that is set among `cluster`, `fixed` and `sentinel`.
  struct PoolSpec;
  std::unique_ptr<router::TopologySource> makeBackend(
      const config::ClusterConfig& cluster, const config::StaticConfig& fixed,
      const config::SentinelConfig& sentinel, router::TopologySource::PublishCallback publish,
      std::string* described);
  // The cluster settings in effect: the cluster pool's, else the top-level cluster section.
  const config::ClusterConfig& clusterConfig() const;
  bool startAdmin();
  // Body of /api/slots for the current slot map (see renderSlotsJson). Any thread.
  std::string slotsJson() const;
  // /readyz: 200 when the slot map is complete (all 16384 slots of a cluster, every server or
  // group of the other kinds) and every master is reachable (see BackendHealth for the rule),
  // else 503 with the reason. Any thread.
  HttpResponse readiness() const;
  // Control thread, about once a second: PINGs every node (masters and replicas) of the current
  // map that no worker holds an established connection to, so that BackendHealth learns whether
  // it is reachable even without traffic (and learns it again once a failed node is back); a
  // master that answers is also reported reachable to the topology source.
  void probeNodes();
  // Control thread, about once a second when backend.read_from is not master: asks every master
  // for INFO replication and publishes the replicas unfit for reads to the workers.
  void probeReplicas();
  void publishUnfitReplicas(std::set<std::string> unfit);
  // Body of /api/backends for the current slot map (see renderBackendsJson). Any thread.
  std::string backendsJson() const;
  // Control thread, from the tick: logs keys over observe.hot_key_threshold_per_s.
  void logHotKeys();
  // Control thread, every TrafficHistory::kIntervalMs: one point of /api/history.
  void sampleHistory();
  // Sources of /metrics (the hot-key gauge only when configured).
  std::vector<const prometheus::Collectable*> metricSources() const;

  config::ProxyConfig config_;  // control thread only
  const std::string config_path_;
  std::shared_ptr<const config::ProxyConfig> live_;  // what the workers run with
  mutable std::mutex config_json_mu_;  // /api/config body, read by civetweb threads
  std::string config_json_;
  // Observability, declared before the workers and the admin server so that it outlives both.
  // The /metrics body is metrics::renderText over the three sources (see metrics.h).
  metrics::ShardedCollector shards_;      // data-path families; one shard per worker
  prometheus::Registry control_registry_;  // what the control thread records
  metrics::ProcessCollector process_;     // process_* from /proc
  ProxyMetricFamilies families_;          // registered in shards_
  ControlMetrics control_metrics_;        // registered in control_registry_; control thread
  BackendHealth health_;
  SlowlogBook slowlog_;
  KeyWatchBook keywatch_;
  TrafficHistory history_;  // /api/history: sampled by the control thread every 2 s
  MonitorHub monitor_;
  std::unique_ptr<prometheus::Collectable> hot_key_metric_;  // observe.hot_key_metric_top_n > 0
  int64_t hot_key_check_s_ = 0;  // the second overThreshold() last ran (control thread)
  uv_loop_t loop_{};
  Mailbox mailbox_;
  uv_signal_t sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t tick_{};
  std::vector<std::unique_ptr<Acceptor>> acceptors_;  // hand-off accept mode
  TlsContextSlot client_tls_;                         // tls: the TLS port's server context
  TlsContextSlot backend_tls_;                        // backend.tls: nodes and sentinels
  std::atomic<int> total_clients_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<NodeQueryImpl> node_query_;      // the data nodes (backend credentials)
  // Sentinel deployments (one per sentinel pool): queries with the sentinels' credentials, and
  // their events.
  std::vector<std::unique_ptr<NodeQueryImpl>> sentinel_queries_;
  std::vector<std::unique_ptr<SentinelWatch>> sentinel_watches_;
  router::SteadyClock clock_;
  std::unique_ptr<router::TopologySource> source_;
  // "cluster", "static" or "sentinel" per deployment, in pool order; set while source_ is built
  // (before the admin listener starts), read-only afterwards.
  std::vector<std::string> backend_kinds_;
  router::TopologyRefresher* cluster_refresher_ = nullptr;  // the cluster's (pool's) source
  std::unique_ptr<MigrationControl> migration_;             // while a `migration:` runs
  bool stopping_ = false;

  bool replica_round_ = false;                // a probeReplicas() round is in flight
  std::set<std::string> unfit_replicas_;      // last published (control thread)
  std::set<std::string> probing_;          // masters with a probe in flight (control thread)
  std::unique_ptr<router::NodeSettings> node_settings_;  // CONFIG SET kept on every node
  uint64_t ticks_ = 0;
  uint64_t refresh_failures_logged_ = 0;  // stats().failed when last looked at
  std::string last_refresh_error_;
  uint64_t last_refresh_error_ms_ = 0;
  AdminServer admin_;
  // Control-plane state read by admin handlers on civetweb threads.
  mutable std::mutex map_mu_;
  router::SlotMapPtr admin_map_;  // GUARDED_BY(map_mu_)
  router::SlotMapPtr adminMap() const;  // admin_map_ read under map_mu_; any thread
};

}  // namespace slotwise::proxy
