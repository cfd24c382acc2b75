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

// Which INFO sections a request asks for, as a bit set. No section names (or "default", "all",
// "everything") select every section the proxy knows; unknown names select nothing, as in Redis.
enum InfoSection : uint32_t {
  kInfoServer = 1u << 0,
  kInfoClients = 1u << 1,
  kInfoPersistence = 1u << 2,
  kInfoStats = 1u << 3,
  kInfoReplication = 1u << 4,
  kInfoCluster = 1u << 5,
  kInfoProxy = 1u << 6,
  kInfoKeyspace = 1u << 7,   // summed from the masters (buildInfoFanOut), not by infoText
  kInfoMigration = 1u << 8,  // only while a migration runs (ProxyFacts::migration)
  kInfoEverySection = (1u << 9) - 1,
};
// Parses one section name (case-insensitive). @return its bit, kInfoEverySection for
// "default"/"all"/"everything", or 0 when the proxy has no such section (e.g. "modules").
uint32_t infoSectionBit(std::string_view name);

// The sections an INFO command asks for (every section when it names none); 0 when `cmd` is not
// INFO or names only unknown sections.
uint32_t infoSections(const resp::Command& cmd);

// The INFO text (not RESP-framed) of the selected sections in Redis's format: "# Name\r\n" then
// "key:value\r\n" lines, sections separated by one empty line. Empty when `sections` is 0.
// kInfoKeyspace adds the "# Keyspace" header last; its lines come from the masters (mergeKeyspaces).
std::string infoText(uint32_t sections, const ProxyFacts& facts);

// Seconds since the process started (static initialisation of this module).
uint64_t uptimeSeconds();

}  // namespace slotwise::proxy
