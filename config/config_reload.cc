#include "config/config_reload.h"

#include <cstdint>
#include <string_view>

namespace slotwise::config {
namespace {

// Walks the keys of a reload: live keys are reported when they change, restart-only keys are
// reset to the running value (and reported as refused) when they differ.
class Walk {
 public:
  Walk(const ProxyConfig& running, ReloadPlan& plan) : running_(running), plan_(plan) {}

  template <typename T>
  void live(std::string_view path, T ProxyConfig::*member) {
    if (!(plan_.config.*member == running_.*member)) plan_.changed.emplace_back(path);
  }
  template <typename S, typename T>
  void live(std::string_view path, S ProxyConfig::*section, T S::*member) {
    if (!((plan_.config.*section).*member == (running_.*section).*member)) {
      plan_.changed.emplace_back(path);
    }
  }
  template <typename T>
  void restartOnly(std::string_view path, T ProxyConfig::*member) {
    if (plan_.config.*member == running_.*member) return;
    plan_.refused.emplace_back(path);
    plan_.config.*member = running_.*member;
  }
  template <typename S, typename T>
  void restartOnly(std::string_view path, S ProxyConfig::*section, T S::*member) {
    T& value = (plan_.config.*section).*member;
    if (value == (running_.*section).*member) return;
    plan_.refused.emplace_back(path);
    value = (running_.*section).*member;
  }

 private:
  const ProxyConfig& running_;
  ReloadPlan& plan_;
};

// migration is restart-only with two exceptions: rate_keys_per_s changes live, and removing the
// whole block is applied (it ends the migration: every key is served by the target from then on).
// Adding a migration to a running proxy without one is refused whole.
void planMigration(const MigrationConfig& running, ReloadPlan& plan) {
  MigrationConfig& next = plan.config.migration;
  if (next == running) return;
  if (next == MigrationConfig{}) {
    plan.changed.emplace_back("migration");
    return;
  }
  if (running == MigrationConfig{}) {
    plan.refused.emplace_back("migration");
    next = running;
    return;
  }
  const uint32_t rate = next.rate_keys_per_s;
  next.rate_keys_per_s = running.rate_keys_per_s;
  if (!(next == running)) {
    plan.refused.emplace_back("migration");
    next = running;
  }
  next.rate_keys_per_s = rate;
  if (rate != running.rate_keys_per_s) plan.changed.emplace_back("migration.rate_keys_per_s");
}

}  // namespace

ReloadPlan planReload(const ProxyConfig& running, const ProxyConfig& loaded) {
  using P = ProxyConfig;
  using C = ClusterConfig;
  using B = BackendConfig;
  ReloadPlan plan{loaded, {}, {}};
  Walk w(running, plan);
  w.restartOnly("listen", &P::listen);
  // TLS files, versions and ciphers apply to new connections (the server also rereads the files
  // on every SIGHUP, changed paths or not: certificate rotation); the listener is restart-only.
  w.restartOnly("tls.listen", &P::tls, &TlsListenConfig::listen);
  w.live("tls", &P::tls);
  w.restartOnly("workers", &P::workers);
  w.restartOnly("accept_mode", &P::accept_mode);
  w.restartOnly("tcp_backlog", &P::tcp_backlog);
  w.live("advertise", &P::advertise);
  w.live("allow_admin_commands", &P::allow_admin_commands);
  w.restartOnly("cluster.seeds", &P::cluster, &C::seeds);
  w.live("cluster.refresh_interval_ms", &P::cluster, &C::refresh_interval);
  w.live("cluster.min_refresh_interval_ms", &P::cluster, &C::min_refresh_interval);
  w.live("cluster.redirect_refresh_threshold", &P::cluster, &C::redirect_refresh_threshold);
  w.live("cluster.failure_refresh_threshold", &P::cluster, &C::failure_refresh_threshold);
  w.restartOnly("cluster.query_timeout_ms", &P::cluster, &C::query_timeout);
  w.restartOnly("static", &P::static_servers);
  w.restartOnly("sentinel", &P::sentinel);
  w.restartOnly("pools", &P::pools);
  w.restartOnly("routes", &P::routes);
  w.restartOnly("default_pool", &P::default_pool);
  planMigration(running.migration, plan);
  w.restartOnly("backend.connections_per_node", &P::backend, &B::connections_per_node);
  w.live("backend.connect_timeout_ms", &P::backend, &B::connect_timeout);
  w.live("backend.request_timeout_ms", &P::backend, &B::request_timeout);
  w.live("backend.script_timeout_ms", &P::backend, &B::script_timeout);
  w.live("backend.max_redirects", &P::backend, &B::max_redirects);
  w.live("backend.tryagain_retries", &P::backend, &B::tryagain_retries);
  w.live("backend.tryagain_backoff_ms", &P::backend, &B::tryagain_backoff);
  w.live("backend.retry_deadline_ms", &P::backend, &B::retry_deadline);
  w.restartOnly("backend.max_dedicated_connections", &P::backend, &B::max_dedicated_connections);
  w.restartOnly("backend.username", &P::backend, &B::username);
  w.restartOnly("backend.password", &P::backend, &B::password);
  w.live("backend.read_from", &P::backend, &B::read_from);
  w.live("backend.replica_max_lag_ms", &P::backend, &B::replica_max_lag);
  if (plan.config.backend.tls.enabled != running.backend.tls.enabled) {
    plan.refused.emplace_back("backend.tls.enabled");
    plan.config.backend.tls.enabled = running.backend.tls.enabled;
  }
  w.live("backend.tls", &P::backend, &B::tls);
  w.live("limits", &P::limits);
  w.live("auth", &P::auth);
  w.restartOnly("admin", &P::admin);
  w.restartOnly("slowlog", &P::slowlog);
  w.restartOnly("observe", &P::observe);
  w.live("log.level", &P::log, &LogConfig::level);
  return plan;
}

}  // namespace slotwise::config
