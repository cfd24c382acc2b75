#include "proxy/control/server.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "common/host_port.h"
#include "config/config_loader.h"
#include "config/config_reload.h"
#include "proxy/admin/admin_json.h"
#include "proxy/admin/dashboard.h"
#include "proxy/control/logging.h"
#include "proxy/datapath/errors.h"
#include "proxy/io/net_util.h"
#include "router/pool_set.h"
#include "router/sentinel_source.h"
#include "router/static_shards.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kTickMs = 50;
constexpr uint64_t kDrainMs = 5000;
constexpr uint64_t kProbeEveryTicks = 20;  // reachability probes once a second
constexpr uint64_t kNodeSettingsEveryTicks = 100;  // CONFIG GET of kept node settings every 5 s
constexpr uint64_t kRefreshErrorLogMs = 10000;  // a failing refresh's reason, at most this often

// The AUTH command a control-plane query sends first; empty without a password.
std::vector<std::string> authArgs(const std::string& username, const std::string& password) {
  if (password.empty()) return {};
  if (username.empty()) return {"AUTH", password};
  return {"AUTH", username, password};
}

template <typename T>
Server* serverOf(T* handle) {
  return static_cast<Server*>(reinterpret_cast<uv_handle_t*>(handle)->data);
}
}  // namespace

Server::Server(config::ProxyConfig config, std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      config_json_(renderConfigJson(config_)),
      families_(ProxyMetricFamilies::registerAll(shards_)),
      control_metrics_(control_registry_),
      slowlog_(config_.slowlog),
      keywatch_(config_.observe) {
  families_.health = &health_;
  families_.slowlog = &slowlog_;
  families_.monitor = &monitor_;
  if (config_.observe.hot_keys || config_.observe.big_value_bytes != 0) {
    families_.keywatch = &keywatch_;
  }
  if (config_.observe.hot_keys && config_.observe.hot_key_metric_top_n > 0) {
    hot_key_metric_ = makeHotKeyCollector(keywatch_);
  }
}

Server::~Server() {
  admin_.stop();
  for (auto& w : workers_) w->join();
}

router::RefreshPolicy::Options Server::refreshOptions(const config::ClusterConfig& cluster) {
  router::RefreshPolicy::Options opts;
  opts.interval = cluster.refresh_interval;
  opts.min_interval = cluster.min_refresh_interval;
  opts.redirect_threshold = cluster.redirect_refresh_threshold;
  opts.failure_threshold = cluster.failure_refresh_threshold;
  return opts;
}

void Server::reload() {
  auto loaded = config::loadConfigFile(config_path_);
  if (!loaded) {
    spdlog::error("SIGHUP: {} is invalid; the running configuration stays in effect:\n{}",
                  config_path_, loaded.error());
    return;
  }
  config::ReloadPlan plan = config::planReload(config_, *loaded);
  for (const std::string& key : plan.refused) {
    spdlog::warn("SIGHUP: {} cannot change without a restart; keeping the running value", key);
  }
  // Certificate files are reread on every SIGHUP: rotation replaces their contents, not paths.
  if (!loadTls(plan.config, false)) {
    plan.config.tls = config_.tls;
    plan.config.backend.tls = config_.backend.tls;
    std::erase_if(plan.changed, [](const std::string& k) {
      return k.starts_with("tls") || k.starts_with("backend.tls");
    });
  }
  if (plan.changed.empty()) {
    spdlog::info("SIGHUP: {} reloaded; nothing that can change live has changed", config_path_);
    return;
  }
  if (migration_ && config_.migration.enabled() && !plan.config.migration.enabled()) {
    if (migration_->state().drained.load()) {
      spdlog::info("SIGHUP: migration block removed; the source is empty, the migration is over");
      migration_->stop();
    } else {
      spdlog::warn(
          "SIGHUP: migration block removed while the source still holds {} keys; the "
          "migration keeps running until it is empty",
          migration_->state().keys_left.load());
    }
  } else if (migration_ &&
             plan.config.migration.rate_keys_per_s != config_.migration.rate_keys_per_s) {
    migration_->setRate(plan.config.migration.rate_keys_per_s);
  }
  config_ = std::move(plan.config);
  live_ = std::make_shared<const config::ProxyConfig>(config_);
  for (auto& w : workers_) w->setConfig(live_);
  if (cluster_refresher_ != nullptr) {
    cluster_refresher_->setPolicyOptions(refreshOptions(clusterConfig()));
  }
  {
    std::lock_guard lock(config_json_mu_);
    config_json_ = renderConfigJson(config_);
  }
  spdlog::info("SIGHUP: {} reloaded; now in effect: {}", config_path_,
               fmt::join(plan.changed, ", "));
  setupLogging(config_.log.level);
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop_);
  mailbox_.init(&loop_);
  uint32_t n = config_.workers != 0 ? config_.workers : std::max(1u, std::thread::hardware_concurrency());
  live_ = std::make_shared<const config::ProxyConfig>(config_);
  if (!loadTls(config_, true)) return 1;
  if (config_.migration.enabled()) {  // before the workers: their gates share its state
    migration_ = std::make_unique<MigrationControl>(
        &loop_, config_, [this] { return adminMap(); },
        [this] {
          if (source_) source_->reportRedirect();
        },
        control_registry_, backendTls());
  }
  // The topology source comes before the workers: they route with its key placement until the
  // first map arrives (its publications run on this loop, once it runs).
  node_query_ = std::make_unique<NodeQueryImpl>(
      &loop_, clusterConfig().query_timeout,
      authArgs(config_.backend.username, config_.backend.password), backendTls());
  node_settings_ = std::make_unique<router::NodeSettings>(
      *node_query_,
      [](const std::string& address, const std::string& name, const std::string& had) {
        spdlog::info(
            "node {}: {} set again to the value clients set through the proxy (it had "
            "'{}': a node that joined or restarted since)",
            address, name, had);
      });
  std::string backends;
  source_ = makeSource(&backends);
  if (source_ == nullptr) return 1;  // the process exits
  const router::KeyPlacement placement = source_->placement();
  for (uint32_t i = 0; i < n; ++i) {
    metrics::Shard& shard = shards_.addShard("worker-" + std::to_string(i));
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), live_, *this, total_clients_,
                                                shard, families_));
    workers_.back()->setInitialPlacement(placement);
    monitor_.setWorker(
        static_cast<int>(i),
        [w = workers_.back().get()](std::function<void()> task) { w->post(std::move(task)); });
    if (!workers_.back()->start()) {
      spdlog::critical("cannot start worker {}", i);
      return 1;
    }
  }
  // The admin listener comes up before the data port, so that anything that sees the data port
  // open (a load balancer, a test) also finds /healthz and /readyz.
  if ((config_.admin.enabled() && !startAdmin()) || !startListening()) {
    for (auto& w : workers_) w->stop(0);
    for (auto& w : workers_) w->join();
    return 1;
  }

  source_->requestRefresh();
  source_->tick();
  if (migration_) migration_->start();

  tick_.data = sigterm_.data = sigint_.data = sighup_.data = this;
  uv_timer_init(&loop_, &tick_);
  uv_timer_start(&tick_, [](uv_timer_t* t) {
    Server* self = serverOf(t);
    self->source_->tick();
    if (++self->ticks_ % kProbeEveryTicks == 0) {
      self->probeNodes();
      self->probeReplicas();
    }
    if (self->ticks_ % kNodeSettingsEveryTicks == 0 && !self->stopping_) {
      if (const router::SlotMapPtr map = self->adminMap()) self->node_settings_->check(*map);
    }
    const router::RefreshStats& stats = self->source_->stats();
    self->control_metrics_.refreshTotals(stats.ok, stats.failed);
    self->logRefreshFailures(stats.failed);
    self->logHotKeys();
    if (self->ticks_ % (TrafficHistory::kIntervalMs / kTickMs) == 0) self->sampleHistory();
  }, kTickMs, kTickMs);
  auto on_stop = [](uv_signal_t* s, int signum) {
    spdlog::info("signal {}: draining and stopping", signum);
    serverOf(s)->shutdown();
  };
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_start(&sigterm_, on_stop, SIGTERM);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_start(&sigint_, on_stop, SIGINT);
  uv_signal_init(&loop_, &sighup_);
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) { serverOf(s)->reload(); }, SIGHUP);

  std::string ports = config_.listen.port != 0 ? config_.listen.toString() : "";
  if (config_.tls.enabled()) {
    ports += (ports.empty() ? "" : " and ") + config_.tls.listen.toString() + " (TLS)";
  }
  spdlog::info(
      "slotwise {} listening on {} with {} workers ({} accept), {}", SLOTWISE_VERSION, ports, n,
      config_.accept_mode == config::AcceptMode::kHandoff ? "handoff" : "reuseport", backends);
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->join();
  uv_loop_close(&loop_);
  spdlog::info("stopped");
  return 0;
}

// A failing topology refresh is logged when its reason changes, and at most every 10 s while it
// stays the same (a wrong password, a certificate that does not verify, nodes that are down).
void Server::logRefreshFailures(uint64_t failed) {
  if (failed == refresh_failures_logged_) return;
  refresh_failures_logged_ = failed;
  const std::string error = source_->lastError();
  const uint64_t now = uv_now(&loop_);
  if (error == last_refresh_error_ && now - last_refresh_error_ms_ < kRefreshErrorLogMs) return;
  last_refresh_error_ = error;
  last_refresh_error_ms_ = now;
  spdlog::warn("topology refresh failed: {}", error.empty() ? "no node answered" : error);
}

const config::ClusterConfig& Server::clusterConfig() const {
  for (const config::PoolConfig& pool : config_.pools) {
    if (!pool.cluster.seeds.empty()) return pool.cluster;
  }
  return config_.cluster;
}

// One pool of the composed topology: a `pools:` entry, the top-level deployment, or the
// migration source.
struct Server::PoolSpec {
  std::string name;
  const config::ClusterConfig* cluster;
  const config::StaticConfig* fixed;
  const config::SentinelConfig* sentinel;
};

std::unique_ptr<router::TopologySource> Server::makeSource(std::string* described) {
  auto publish_map = [this](const router::SlotMapPtr& m) { publish(m); };
  const config::MigrationConfig& migration = config_.migration;
  if (config_.pools.empty() && !migration.enabled()) {
    return makeBackend(config_.cluster, config_.static_servers, config_.sentinel, publish_map,
                       described);
  }
  std::vector<PoolSpec> specs;
  for (const config::PoolConfig& pc : config_.pools) {
    specs.push_back({pc.name, &pc.cluster, &pc.static_servers, &pc.sentinel});
  }
  std::string default_pool = config_.default_pool;
  if (config_.pools.empty()) {  // migration into the top-level cluster
    specs.push_back({"cluster", &config_.cluster, &config_.static_servers, &config_.sentinel});
    default_pool = "cluster";
  }
  // The migration source: a pool no route leads to. Keys always go to the cluster; the source
  // only answers the gates' MIGRATEs and the whole-keyspace commands (DBSIZE, KEYS, SCAN, ...),
  // which see the union while keys move.
  static const config::ClusterConfig kNoCluster;
  static const config::SentinelConfig kNoSentinel;
  static const config::StaticConfig kNoStatic;
  config::StaticConfig standalone;  // migration.source.servers, as a static set
  if (migration.enabled()) {
    const config::StaticConfig* fixed = &migration.static_servers;
    if (!migration.servers.empty()) {
      for (const config::HostPort& hp : migration.servers)
        standalone.servers.push_back({hp, 1, ""});
      standalone.placement.distribution = router::Distribution::kModula;
      fixed = &standalone;
    }
    specs.push_back({std::string(router::kMigrationSourcePool), &kNoCluster,
                     fixed->enabled() ? fixed : &kNoStatic, &migration.sentinel});
  }
  std::vector<router::PoolSet::Pool> pools;
  std::vector<std::string> descriptions;
  for (const PoolSpec& spec : specs) {
    router::PoolSet::Pool pool;
    pool.name = spec.name;
    pool.cluster = !spec.cluster->seeds.empty();
    pool.slots = static_cast<uint32_t>(spec.fixed->enabled() ? spec.fixed->servers.size()
                                                             : spec.sentinel->masters.size());
    // Called inside PoolSet::create, while `spec` is alive.
    pool.make = [this, &spec, &descriptions](router::TopologySource::PublishCallback publish) {
      std::string what;
      auto source =
          makeBackend(*spec.cluster, *spec.fixed, *spec.sentinel, std::move(publish), &what);
      descriptions.push_back(fmt::format("pool {}: {}", spec.name, what));
      return source;
    };
    pools.push_back(std::move(pool));
  }
  auto pool_index = [&specs](const std::string& name) {
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].name == name) return i;
    }
    return specs.size();  // refused by PoolSet::create (the loader checks names first)
  };
  std::vector<std::pair<std::string, size_t>> routes;
  std::vector<std::string> route_text;
  for (const config::RouteConfig& r : config_.routes) {
    routes.emplace_back(r.prefix, pool_index(r.pool));
    route_text.push_back(fmt::format("'{}' -> {}", r.prefix, r.pool));
  }
  auto set = router::PoolSet::create(std::move(pools), std::move(routes), pool_index(default_pool),
                                     publish_map);
  if (!set) {
    spdlog::critical("pools: {}", set.error());
    return nullptr;
  }
  (*set)->setOnWarning([](const std::string& what) { spdlog::error("pools: {}", what); });
  *described =
      fmt::format("{}; routes: {}{}default -> {}", fmt::join(descriptions, "; "),
                  fmt::join(route_text, ", "), route_text.empty() ? "" : ", ", default_pool);
  return std::move(*set);
}

std::unique_ptr<router::TopologySource> Server::makeBackend(
    const config::ClusterConfig& cluster, const config::StaticConfig& fixed,
    const config::SentinelConfig& sentinel, router::TopologySource::PublishCallback publish_map,
    std::string* described) {
  // Creation order is the pool order of PrefixRoutes (PoolSet::create makes the pools in order).
  backend_kinds_.emplace_back(fixed.enabled()      ? "static"
                              : sentinel.enabled() ? "sentinel"
                                                   : "cluster");
  if (fixed.enabled()) {
    std::vector<router::StaticShards::Server> servers;
    std::vector<std::string> names;
    for (const config::StaticServer& s : fixed.servers) {
      const std::string name =
          s.name.empty() ? router::ringName(s.address.host, s.address.port) : s.name;
      servers.push_back({s.address.toNodeAddress(), name, s.weight});
      names.push_back(fmt::format("{}:{} {}", s.address.toString(), s.weight, name));
    }
    router::StaticShards::Options opts;
    opts.hash = fixed.placement.hash;
    opts.distribution = fixed.placement.distribution;
    opts.hash_tag = fixed.placement.hash_tag;
    opts.auto_eject = fixed.auto_eject_hosts;
    opts.retry_timeout = fixed.server_retry_timeout;
    opts.failure_limit = fixed.server_failure_limit;
    *described = fmt::format("static servers ({} x {}{}): {}", router::hashKindName(opts.hash),
                             router::distributionName(opts.distribution),
                             opts.auto_eject ? ", auto-eject" : "", fmt::join(names, ", "));
    return std::make_unique<router::StaticShards>(clock_, std::move(opts), std::move(servers),
                                                  std::move(publish_map));
  }
  if (sentinel.enabled()) {
    std::vector<std::string> sentinels;
    for (const auto& s : sentinel.sentinels) sentinels.push_back(s.toNodeAddress());
    const std::vector<std::string> auth = authArgs(sentinel.username, sentinel.password);
    sentinel_queries_.push_back(
        std::make_unique<NodeQueryImpl>(&loop_, sentinel.query_timeout, auth, backendTls()));
    router::SentinelRefresher::Options opts;
    opts.poll_interval = sentinel.poll_interval;
    opts.failover_pause = sentinel.failover_pause;
    const router::SentinelSource::Placement placement{
        sentinel.placement.hash, sentinel.placement.distribution, sentinel.placement.hash_tag};
    auto source = std::make_unique<router::SentinelSource>(
        *sentinel_queries_.back(), *node_query_, clock_, opts, sentinels, sentinel.masters,
        placement, std::move(publish_map));
    router::SentinelSource* raw = source.get();
    SentinelWatch::Options watch_options;
    watch_options.tls = backendTls();
    auto& watch = sentinel_watches_.emplace_back(std::make_unique<SentinelWatch>(
        &loop_, sentinels, auth,
        [raw](std::string_view channel, std::string_view payload) {
          raw->onSentinelEvent(channel, payload);
        },
        watch_options));
    // Events missed while a sentinel was unreachable: look again once it is back.
    watch->setOnSubscribed([raw] { raw->requestRefresh(); });
    watch->start();
    *described =
        fmt::format("sentinel masters [{}] ({} x {}) via sentinels {}",
                    fmt::join(sentinel.masters, ", "), router::hashKindName(placement.hash),
                    router::distributionName(placement.distribution), fmt::join(sentinels, ", "));
    return source;
  }
  std::vector<std::string> seeds;
  for (const auto& s : cluster.seeds) seeds.push_back(s.toString());
  *described = fmt::format("cluster seeds: {}", fmt::join(seeds, ", "));
  auto refresher = std::make_unique<router::TopologyRefresher>(
      *node_query_, clock_, refreshOptions(cluster), seeds, std::move(publish_map));
  cluster_refresher_ = refresher.get();
  return refresher;
}

void Server::publish(const router::SlotMapPtr& map) {
  spdlog::info("slot map version {}: {} nodes, {} masters, {}/{} slots covered", map->version(),
               map->nodes().size(), map->masters().size(), map->coveredSlots(),
               map->placement().slotCount());
  control_metrics_.slotMapPublished(map->version(), map->coveredSlots());
  {
    std::lock_guard<std::mutex> lock(map_mu_);
    admin_map_ = map;
  }
  for (auto& w : workers_) w->setSlotMap(map);
}



router::SlotMapPtr Server::adminMap() const {
  std::lock_guard<std::mutex> lock(map_mu_);
  return admin_map_;
}

void Server::probeNodes() {
  const router::SlotMapPtr map = adminMap();
  if (!map || !node_query_ || stopping_) return;
  for (const router::NodeInfo& node : map->nodes()) {
    const std::string address = node.address;
    const bool master = node.is_master;
    if (master && health_.connected(address)) source_->reportReachable(address);
    if (health_.connected(address) || !probing_.insert(address).second) continue;
    // The callback may run before query() returns; `probing_` already holds the address.
    node_query_->query(
        address, {"PING"}, [this, address, master](const Result<resp::RespValue>& reply) {
          probing_.erase(address);
          health_.record(address, reply ? BackendEvent::kProbeOk : BackendEvent::kProbeFailed,
                         reply ? std::string_view() : std::string_view(reply.error()));
          if (master && reply && !stopping_) source_->reportReachable(address);
        });
  }
}

void Server::probeReplicas() {
  if (config_.backend.read_from == config::ReadFrom::kMaster || replica_round_) return;
  const router::SlotMapPtr map = adminMap();
  if (!map || !node_query_ || stopping_ || map->masters().empty()) return;
  struct Round {
    size_t pending = 0;
    std::set<std::string> unfit;  // every replica until its master lists it as fit
  };
  auto round = std::make_shared<Round>();
  for (const router::NodeInfo& n : map->nodes()) {
    if (!n.is_master) round->unfit.insert(n.address);
  }
  round->pending = map->masters().size();
  replica_round_ = true;
  const uint64_t max_lag_ms = static_cast<uint64_t>(config_.backend.replica_max_lag.count());
  for (uint16_t m : map->masters()) {
    node_query_->query(map->nodes()[m].address, {"INFO", "replication"},
                       [this, round, map, m, max_lag_ms](Result<resp::RespValue> reply) {
      const std::vector<uint16_t>& replicas = map->replicasOf(m);
      if (!reply || reply->type == resp::ValueType::kError) {
        // The master cannot say: its replicas keep serving reads (they may be all there is).
        for (uint16_t r : replicas) round->unfit.erase(map->nodes()[r].address);
      } else {
        const std::set<std::string> fit = router::fitReplicasOf(reply->str, max_lag_ms);
        for (uint16_t r : replicas) {
          if (fit.count(map->nodes()[r].address) != 0) round->unfit.erase(map->nodes()[r].address);
        }
      }
      if (--round->pending == 0) {
        replica_round_ = false;
        publishUnfitReplicas(std::move(round->unfit));
      }
    });
  }
}

void Server::publishUnfitReplicas(std::set<std::string> unfit) {
  if (unfit == unfit_replicas_) return;
  for (const std::string& a : unfit) {
    if (unfit_replicas_.count(a) == 0) spdlog::warn("replica {} serves no reads: lagging or offline", a);
  }
  for (const std::string& a : unfit_replicas_) {
    if (unfit.count(a) == 0) spdlog::info("replica {} serves reads again", a);
  }
  unfit_replicas_ = std::move(unfit);
  auto shared = std::make_shared<const std::set<std::string>>(unfit_replicas_);
  for (auto& w : workers_) w->setUnfitReplicas(shared);
}

void Server::onRedirectSeen() {
  mailbox_.post([this] {
    if (source_) source_->reportRedirect();
  });
}

void Server::onNodeSettingApplied(const std::string& name, const std::string& value) {
  mailbox_.post([this, name, value] {
    if (node_settings_) node_settings_->applied(name, value);
  });
}

void Server::onBackendFailure(const std::string& address) {
  mailbox_.post([this, address] {
    if (source_) source_->reportFailure(address);
  });
}

void Server::pauseClients(const ClientPause& pause) {
  mailbox_.post([this, pause] {
    for (auto& w : workers_) w->setClientPause(pause);
  });
}

void Server::onEveryWorker(const std::function<void(Worker&)>& task) {
  mailbox_.post([this, task] {
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->post([worker, task] { task(*worker); });
    }
  });
}

void Server::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& a : acceptors_) {
    uv_poll_stop(&a->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&a->poll), nullptr);
    ::close(a->fd);
    a->fd = -1;
  }
  for (auto& w : workers_) w->stop(kDrainMs);
  admin_.stop();
  for (auto& watch : sentinel_watches_) watch->stop();
  if (migration_) migration_->stop();
  auto close = [](auto* h) { uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr); };
  close(&tick_);
  close(&sigterm_);
  close(&sigint_);
  close(&sighup_);
  mailbox_.close();
}

}  // namespace slotwise::proxy
