// JSON bodies of the admin API endpoints that are pure functions of a snapshot:
//   GET /api/backends  renderBackendsJson(map)
//   GET /api/config    renderConfigJson(config)
// Both are called on civetweb threads with state the caller already owns (a SlotMapPtr copy, a
// config copy), so nothing here locks or touches libuv.
#pragma once

#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

// What a redacted secret is replaced with in /api/config.
inline constexpr std::string_view kRedacted = "<redacted>";

// @return `text` as a JSON string literal, quotes included: `"`, `\` and control characters
// (< 0x20, and 0x7f) are escaped; other bytes (UTF-8 included) are copied unchanged.
std::string jsonQuote(std::string_view text);

// Body of /api/backends: every node of `map` (masters and replicas, in map order) as
//   {"version":7,"health_tracked":false,"nodes":[
//     {"address":"127.0.0.1:7000","id":"...","role":"master","master":"127.0.0.1:7000",
//      "slots":5461,"health":"unknown"}, ...]}
// "slots" is the number of hash slots a master owns (0 for a replica); "master" is the node's own
// address for a master and its master's address for a replica. The proxy keeps no per-node
// health state yet, so "health" is always "unknown" and "health_tracked" is false: consumers
// must not read a missing "down" as "up". A null `map` (no topology yet) gives version 0 and an
// empty node list.
std::string renderBackendsJson(const router::SlotMap* map);

// @return a copy of `config` with every secret (backend.password, auth.password, admin.token)
// replaced by kRedacted when it is non-empty; empty secrets stay empty so that "no password"
// remains visible. Usernames are not secrets and are kept.
config::ProxyConfig redactSecrets(config::ProxyConfig config);

// Body of /api/config: {"redacted":["admin.token",...],"yaml":"<formatConfig of the redacted
// config>"}. "redacted" lists the key paths whose value was replaced (empty array when no
// secret was set). The YAML text is the same block YAML `--print-config` style output, so it can be
// copied into a config file (after putting the secrets back).
std::string renderConfigJson(const config::ProxyConfig& config);

}  // namespace slotwise::proxy
