// JSON bodies of the admin API endpoints, pure functions of a snapshot:
//   GET /api/slots     renderSlotsJson(map)
//   GET /api/backends  renderBackendsJson(map)
//   GET /api/clients   renderClientsJson(connected)
//   GET /api/config    renderConfigJson(config)
// They are called on civetweb threads with state the caller already owns (a SlotMapPtr copy, a
// config copy), so nothing here locks or touches libuv.
//
// Every document is built with nlohmann::json, never by string concatenation: strings are
// escaped per RFC 8259 whatever they hold (node addresses and IDs come from the backends), and
// bytes that are not valid UTF-8 are replaced by U+FFFD instead of yielding an invalid
// document. Output is compact (no whitespace) with keys in the order documented below; the
// dashboard page (assets/dashboard.html) and the tests read these shapes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/proxy_config.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

// What a redacted secret is replaced with in /api/config.
inline constexpr std::string_view kRedacted = "<redacted>";

// Body of /api/slots: every slot range of `map` (map order) with its master and replicas, as
//   {"version":7,"ranges":[{"first":0,"last":5460,"master":"127.0.0.1:7000","id":"...",
//     "replicas":["127.0.0.1:7003"]}, ...]}
// "master" and "replicas" are node addresses (router::NodeInfo::address, never bracketed); "id"
// is the master's cluster node ID ("" when the backend did not report one). A null `map` (no
// topology yet) gives version 0 and an empty range list.
std::string renderSlotsJson(const router::SlotMap* map);

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

// Body of /api/clients: {"connected":12}, the number of client connections now open.
std::string renderClientsJson(int64_t connected);

// @return a copy of `config` with every secret (backend.password, auth.password, each
// auth.users[i].password and .backend_password, admin.token) replaced by kRedacted when it is
// non-empty; empty secrets stay empty so that "no password"
// remains visible. Usernames are not secrets and are kept.
config::ProxyConfig redactSecrets(config::ProxyConfig config);

// Body of /api/config: {"redacted":["admin.token",...],"yaml":"<formatConfig of the redacted
// config>"}. "redacted" lists the key paths whose value was replaced (empty array when no
// secret was set). The YAML text is the same block YAML `--print-config` style output, so it can be
// copied into a config file (after putting the secrets back).
std::string renderConfigJson(const config::ProxyConfig& config);

}  // namespace slotwise::proxy
