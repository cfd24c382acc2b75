// What a configuration reload (SIGHUP) may change in a running proxy.
//
// Live: log level, limits, client auth (password, users, max_failures), the cluster refresh
// policy (intervals, thresholds), backend timeouts, retries and read_from, advertise and
// allow_admin_commands. Restart-only: the listener (listen, workers, accept_mode, tcp_backlog),
// cluster seeds and query timeout, the static and sentinel sections, pools, routes and
// default_pool (each pool whole, its cluster refresh policy included), the backend connection
// identity and pool sizes (username, password, connections_per_node, max_dedicated_connections),
// the admin listener and the slow log. The migration block is restart-only except that its
// rate_keys_per_s changes live and removing the whole block is applied (it ends the migration);
// adding one to a proxy that runs without is refused. Limits that are fixed when a client
// connects (request parser limits) apply to clients that connect after the reload.
#pragma once

#include <string>
#include <vector>

#include "config/proxy_config.h"

namespace slotwise::config {

struct ReloadPlan {
  ProxyConfig config;                // `loaded` with every restart-only key kept from `running`
  std::vector<std::string> changed;  // key paths whose new value takes effect, e.g. "log.level"
  std::vector<std::string> refused;  // key paths that differ but need a restart (kept as running)
};

// Pure: compares two valid configurations key by key.
ReloadPlan planReload(const ProxyConfig& running, const ProxyConfig& loaded);

}  // namespace slotwise::config
