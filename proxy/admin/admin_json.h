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
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/stats/key_watch.h"
#include "proxy/stats/traffic_history.h"
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

// What the proxy knows of one node's health (server_admin.cc gathers it from BackendHealth and
// the per-node metric families).
struct NodeHealth {
  // "up": an established connection, or the latest connect/probe succeeded; "connecting": a
  // first connection is being made; "down": the latest connection, connect or probe failed and
  // no connection is established; "idle": never contacted yet (the control thread probes every
  // node about once a second, so this lasts at most that long).
  std::string state = "idle";
  int64_t connections = 0;        // established connections, all workers
  int64_t connecting = 0;         // connection attempts in progress
  uint64_t connect_failures = 0;  // since start
  int64_t in_flight = 0;          // requests sent or queued, not answered (sampled every 100 ms)
  uint64_t requests = 0;          // replies received since start
  double p50_ms = -1;             // latency percentiles of the last minute's requests; -1: none
  double p99_ms = -1;
  std::string last_error;  // why the latest failure happened; "" if none
  int64_t last_error_unix_ms = 0;
};

// Body of /api/backends: every node of `map` (masters and replicas, in map order) as
//   {"version":7,"health_tracked":true,"nodes":[
//     {"address":"127.0.0.1:7000","id":"...","role":"master","master":"127.0.0.1:7000",
//      "slots":5461,"health":"up","connections":2,"connecting":0,"connect_failures":0,
//      "in_flight":3,"requests":1000,"p50_ms":0.21,"p99_ms":1.3,"last_error":"",
//      "last_error_unix_ms":0}, ...]}
// "slots" is the number of hash slots a master owns (0 for a replica); "master" is the node's own
// address for a master and its master's address for a replica; "p50_ms"/"p99_ms" are null before
// the node answered a request. `health(address)` gives each node's NodeHealth. A null `map` (no
// topology yet) gives version 0 and an empty node list.
std::string renderBackendsJson(const router::SlotMap* map,
                               const std::function<NodeHealth(const std::string&)>& health);

// Body of /api/pools: each deployment the proxy fronts, in pool order:
//   {"version":7,"pools":[
//     {"name":"main","kind":"cluster","first_slot":0,"slots":16384,"covered":16384,
//      "masters":[{"address":"127.0.0.1:7000","slots":5461,"replicas":["127.0.0.1:7003"]}]},
//     {"name":"legacy","kind":"static","first_slot":16384,"slots":2,"covered":2,
//      "hash":"fnv1a_64","distribution":"ketama",
//      "servers":[{"name":"s1","weight":1,"live":true,"address":"127.0.0.1:6379",
//                  "replicas":[]}, ...]},
//     {"name":"sessions","kind":"sentinel", ... "servers":[{"name":"mymaster",...,
//      "address":"<current master>","replicas":[...]}]}]}
// A deployment without pools is one pool named "default". For a ring (static servers, Sentinel
// groups) server i serves slot first_slot + i; "live": false is an auto-ejected server;
// "address" is "" while no node serves it. `kinds` gives "cluster"/"static"/"sentinel" per pool.
std::string renderPoolsJson(const router::SlotMap* map, const std::vector<std::string>& kinds);

// Body of /api/history: the last 15 minutes, one point per interval, oldest first:
//   {"interval_ms":2000,"points":[{"t":1700000000000,"ops":1234.5,"errors":0.0,
//     "redirects":0.0,"p99_ms":0.42}, ...]}   ("p99_ms" null for an interval without requests)
std::string renderHistoryJson(const std::vector<HistoryPoint>& points, int interval_ms);

// Body of /api/clients: {"connected":12}, the number of client connections now open.
std::string renderClientsJson(int64_t connected);

// Body of /api/hotkeys: the hottest keys of the window, merged over the workers, as
//   {"enabled":true,"window_s":10,"sample":8,"total":123456,"keys":[{"key":"user:42",
//     "count":61000,"error":0,"per_s":6100.0,"share":0.494}, ...]}
// With "sample" 1 "count" is an upper bound (count - error a lower bound); with sample N > 1
// one key in N was counted and every figure is scaled by N (an estimate). "share" is count /
// total. With observe.hot_keys off: "enabled" false, window_s 0, total 0, no keys.
std::string renderHotKeysJson(const HotKeyReport& report, bool enabled);

// Body of /api/bigkeys: {"threshold_bytes":1048576,"keys":[{"key":"blob","command":"set",
//   "direction":"request","bytes":5242880,"unix_ms":1700000000000}, ...]}, largest first.
// threshold 0: big-key tracking is off (the list is empty).
std::string renderBigKeysJson(const std::vector<BigKey>& keys, uint64_t threshold_bytes);

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
