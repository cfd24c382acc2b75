// What the proxy says about itself: the emulated one-node cluster (CLUSTER SLOTS/SHARDS/NODES/
// INFO/MYID) that cluster-aware clients see, and the text of INFO. Pure functions of their
// arguments (no libuv, no threads), so every reply byte is unit-tested.
//
// Cluster emulation: the proxy presents itself as a single master at its advertised address that
// owns all 16384 slots, so a cluster client keeps one connection pool (to the proxy) and the
// proxy does the real routing. The node id is a stable function of the advertised address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/proxy_config.h"
#include "resp/command.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

// Facts INFO reports. Counters marked "worker" are those of the worker that serves the calling
// client (workers do not share counters on the data path).
struct ProxyFacts {
  config::HostPort advertised;      // the proxy's own address as clients should use it
  const router::SlotMap* map = nullptr;  // the worker's current slot map; null before the first
  uint32_t workers = 0;             // configured worker threads
  uint32_t worker_id = 0;           // worker serving the calling client
  uint64_t connected_clients = 0;   // every worker
  uint64_t max_clients = 0;         // limits.max_clients
  uint64_t blocked_clients = 0;     // worker: clients waiting on a blocking command
  uint64_t connections_received = 0;  // worker
  uint64_t commands_processed = 0;    // worker
  uint64_t errors_sent = 0;           // worker
  uint64_t moved = 0;                 // worker: MOVED replies followed
  uint64_t ask = 0;                   // worker: ASK replies followed
  uint64_t backend_failures = 0;      // worker
  // An online migration's figures (INFO migration); `running` false when there is none.
  struct Migration {
    bool running = false;
    bool done = false;
    uint64_t keys_initial = 0, keys_left = 0, moved_by_mover = 0, moved_by_commands = 0;
    uint64_t busy_resolved = 0, errors = 0, commands_refused = 0, passes = 0, eta_s = 0;
    double rate_keys_per_s = 0;
  } migration;
};

// 40 lowercase hex digits derived only from `advertised` (host and port): the same address always
// gives the same id, in every process and on every run.
std::string emulatedNodeId(const config::HostPort& advertised);

// Appends the RESP2 reply of `cmd` (CLUSTER <sub> ...) for the emulated cluster to `*reply`.
// Handles SLOTS, SHARDS, NODES, INFO, MYID and KEYSLOT (router::keyHashSlot); any other
// subcommand gets an error reply. `map` (nullable) decides only what CLUSTER INFO reports:
// cluster_state "ok" when it covers every slot, else "fail", and the slot counts.
// REQUIRES: cmd.argc() >= 2 and the arity already checked by the router; `reply` not null.
void appendClusterReply(const resp::Command& cmd, const config::HostPort& advertised,
                        const router::SlotMap* map, std::string* reply);

// Which INFO sections a request asks for, as a bit set, in Redis's output order. Sections marked
// "nodes" are (also) held by the masters: a fan-out fetches them and mergeNodeInfo adds their
// lines to the proxy's own (see mergeNodeInfo for the rules).
enum InfoSection : uint32_t {
  kInfoServer = 1u << 0,
  kInfoClients = 1u << 1,
  kInfoMemory = 1u << 2,       // nodes
  kInfoPersistence = 1u << 3,  // proxy: loading, async_loading; nodes: the rest
  kInfoStats = 1u << 4,        // proxy: connections, commands, error replies; nodes: the rest
  kInfoReplication = 1u << 5,
  kInfoCpu = 1u << 6,            // nodes
  kInfoModules = 1u << 7,        // always empty, as on a node without modules
  kInfoCommandstats = 1u << 8,   // nodes
  kInfoErrorstats = 1u << 9,     // nodes
  kInfoLatencystats = 1u << 10,  // nodes
  kInfoCluster = 1u << 11,
  kInfoProxy = 1u << 12,
  kInfoMigration = 1u << 13,           // only while a migration runs (ProxyFacts::migration)
  kInfoKeyspace = 1u << 14,            // nodes, summed by mergeKeyspaces (fanout.h)
  kInfoEverySection = (1u << 15) - 1,  // "all" and "everything"
  // INFO without arguments and "default": Redis leaves out commandstats and latencystats.
  kInfoDefault = kInfoEverySection & ~(kInfoCommandstats | kInfoLatencystats),
  kInfoFromNodes = kInfoMemory | kInfoPersistence | kInfoStats | kInfoCpu | kInfoCommandstats |
                   kInfoErrorstats | kInfoLatencystats | kInfoKeyspace,
};
// Parses one section name (case-insensitive). @return its bit, kInfoDefault for "default",
// kInfoEverySection for "all"/"everything", or 0 when there is no such section.
uint32_t infoSectionBit(std::string_view name);

// The sections an INFO command asks for (kInfoDefault when it names none); 0 when `cmd` is not
// INFO or names only unknown sections (Redis then answers an empty string).
uint32_t infoSections(const resp::Command& cmd);

// The section names to ask every master for ("memory", "keyspace", ...), for `sections`.
std::vector<std::string_view> infoNodeSectionNames(uint32_t sections);

// The INFO text (not RESP-framed) of the selected sections in Redis's format: "# Name\r\n" then
// "key:value\r\n" lines, sections separated by one empty line. Empty when `sections` is 0.
// Sections held by the nodes get their header (and the proxy's own lines, if any) only; the
// "# Keyspace" header comes last and its lines from the masters (mergeKeyspaces).
std::string infoText(uint32_t sections, const ProxyFacts& facts);

// Adds the masters' INFO lines (`node_texts`, one INFO reply text per master) to `proxy_text`
// (infoText's output), section by section, for every key the proxy did not write itself. The
// Keyspace section is left alone (mergeKeyspaces). Rules, per key over the masters that have it:
//   - integers: summed (counters and sizes: keyspace_hits, expired_keys, used_memory,
//     rdb_changes_since_last_save, and peaks: the sum bounds the cluster's peak); the largest for
//     flags, durations and host facts (names with "in_progress", "scheduled", "enabled", ending
//     in "_sec"/"_usec", total_system_memory); the smallest for rdb_last_save_time (as LASTSAVE)
//   - decimals: summed (used_cpu_*, instantaneous_*_kbps); the largest for ratios and
//     percentages ("_ratio", "_perc", values ending in '%')
//   - "*_human": recomputed from the summed byte count, as Redis writes it
//   - "a=1,b=2" lists (commandstats, errorstats, latencystats): each field summed, usec_per_call
//     recomputed from the sums, percentiles (p50, p99.9 ...) the largest
//   - other text: the common value, or the masters' values joined by ',' when they differ
std::string mergeNodeInfo(std::string_view proxy_text,
                          const std::vector<std::string_view>& node_texts);

// Seconds since the process started (static initialisation of this module).
uint64_t uptimeSeconds();

}  // namespace slotwise::proxy
