#include "proxy/local/proxy_info.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>

#include "common/ascii.h"
#include "resp/encoder.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kStarted = Clock::now();

// The emulated node owns every slot under one configuration epoch.
constexpr uint64_t kEpoch = 1;
constexpr uint16_t kLastSlot = router::SlotMap::kNumSlots - 1;

// FNV-1a, then the splitmix64 finaliser so that nearby addresses give unrelated ids.
uint64_t hash64(std::string_view text, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void appendNodeEntry(const config::HostPort& a, const std::string& id, std::string* reply) {
  resp::appendArrayHeader(*reply, 4);
  resp::appendBulk(*reply, a.host);
  resp::appendInteger(*reply, a.port);
  resp::appendBulk(*reply, id);
  resp::appendArrayHeader(*reply, 0);  // networking metadata: no hostname announced
}

// [[0, 16383, [host, port, id, []]]]
void clusterSlots(const config::HostPort& a, std::string* reply) {
  resp::appendArrayHeader(*reply, 1);
  resp::appendArrayHeader(*reply, 3);
  resp::appendInteger(*reply, 0);
  resp::appendInteger(*reply, kLastSlot);
  appendNodeEntry(a, emulatedNodeId(a), reply);
}

void appendField(std::string_view key, std::string_view value, std::string* reply) {
  resp::appendBulk(*reply, key);
  resp::appendBulk(*reply, value);
}

// [[slots, [0, 16383], nodes, [[id, .., port, .., ip, .., endpoint, .., role, master,
//   replication-offset, 0, health, online]]]]: the 7.0 field order without a hostname.
void clusterShards(const config::HostPort& a, std::string* reply) {
  resp::appendArrayHeader(*reply, 1);
  resp::appendArrayHeader(*reply, 4);
  resp::appendBulk(*reply, "slots");
  resp::appendArrayHeader(*reply, 2);
  resp::appendInteger(*reply, 0);
  resp::appendInteger(*reply, kLastSlot);
  resp::appendBulk(*reply, "nodes");
  resp::appendArrayHeader(*reply, 1);
  resp::appendArrayHeader(*reply, 14);
  appendField("id", emulatedNodeId(a), reply);
  resp::appendBulk(*reply, "port");
  resp::appendInteger(*reply, a.port);
  appendField("ip", a.host, reply);
  appendField("endpoint", a.host, reply);
  appendField("role", "master", reply);
  resp::appendBulk(*reply, "replication-offset");
  resp::appendInteger(*reply, 0);
  appendField("health", "online", reply);
}

// One line, "\n"-terminated; the cluster bus port is reported as 0 (the proxy has none).
std::string clusterNodesText(const config::HostPort& a) {
  return fmt::format("{} {}@0 myself,master - 0 0 {} connected 0-{}\n", emulatedNodeId(a),
                     a.toNodeAddress(), kEpoch, kLastSlot);
}

std::string clusterInfoText(const router::SlotMap* map) {
  const size_t ok = map == nullptr ? 0 : map->coveredSlots();
  const bool full = ok == router::SlotMap::kNumSlots;
  return fmt::format(
      "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n"
      "cluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:1\r\n"
      "cluster_size:1\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n"
      "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
      "total_cluster_links_buffer_limit_exceeded:0\r\n",
      full ? "ok" : "fail", router::SlotMap::kNumSlots, ok, router::SlotMap::kNumSlots - ok,
      kEpoch, kEpoch);
}

// ---- INFO ----

void line(std::string& out, std::string_view key, const auto& value) {
  fmt::format_to(std::back_inserter(out), "{}:{}\r\n", key, value);
}

std::string runId() {
  const auto pid = static_cast<uint64_t>(::getpid());
  const auto t0 = static_cast<uint64_t>(kStarted.time_since_epoch().count());
  std::string seed = fmt::format("{}:{}", pid, t0);
  return fmt::format("{:016x}{:016x}{:08x}", hash64(seed, 11), hash64(seed, 12),
                     static_cast<uint32_t>(hash64(seed, 13)));
}

void serverSection(std::string& out, const ProxyFacts& f) {
  static const std::string kRunId = runId();
  struct utsname u {};
  ::uname(&u);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  out += "# Server\r\n";
  line(out, "redis_version", "7.0.15");
  line(out, "redis_git_sha1", "00000000");
  line(out, "redis_git_dirty", 0);
  line(out, "redis_mode", "standalone");
  line(out, "os", fmt::format("{} {} {}", u.sysname, u.release, u.machine));
  line(out, "arch_bits", sizeof(void*) * 8);
  line(out, "multiplexing_api", "libuv");
  line(out, "process_id", ::getpid());
  line(out, "run_id", kRunId);
  line(out, "tcp_port", f.advertised.port);
  line(out, "server_time_usec", now_us.count());
  line(out, "uptime_in_seconds", uptimeSeconds());
  line(out, "uptime_in_days", uptimeSeconds() / 86400);
}

void clientsSection(std::string& out, const ProxyFacts& f) {
  out += "# Clients\r\n";
  line(out, "connected_clients", f.connected_clients);
  line(out, "cluster_connections", 0);
  line(out, "maxclients", f.max_clients);
  line(out, "blocked_clients", f.blocked_clients);
  line(out, "tracking_clients", 0);
}

void persistenceSection(std::string& out) {
  out += "# Persistence\r\n";
  line(out, "loading", 0);
  line(out, "async_loading", 0);
}

void statsSection(std::string& out, const ProxyFacts& f) {
  out += "# Stats\r\n";
  line(out, "total_connections_received", f.connections_received);
  line(out, "total_commands_processed", f.commands_processed);
  line(out, "total_error_replies", f.errors_sent);
}

void replicationSection(std::string& out) {
  out += "# Replication\r\n";
  line(out, "role", "master");
  line(out, "connected_slaves", 0);
}

void clusterSection(std::string& out) {
  out += "# Cluster\r\n";
  line(out, "cluster_enabled", 1);  // redis-py RedisCluster refuses a node without it
}

void proxySection(std::string& out, const ProxyFacts& f) {
  out += "# Proxy\r\n";
  line(out, "slotwise_version", SLOTWISE_VERSION);
  line(out, "advertised_address", f.advertised.toString());
  line(out, "workers", f.workers);
  line(out, "worker_id", f.worker_id);
  line(out, "uptime_in_seconds", uptimeSeconds());
  line(out, "slot_map_version", f.map == nullptr ? 0 : f.map->version());
  line(out, "covered_slots", f.map == nullptr ? 0 : f.map->coveredSlots());
  line(out, "masters", f.map == nullptr ? 0 : f.map->masters().size());
  line(out, "nodes", f.map == nullptr ? 0 : f.map->nodes().size());
  line(out, "worker_moved_redirects", f.moved);
  line(out, "worker_ask_redirects", f.ask);
  line(out, "worker_backend_failures", f.backend_failures);
}

void migrationSection(std::string& out, const ProxyFacts& f) {
  const ProxyFacts::Migration& m = f.migration;
  out += "# Migration\r\n";
  line(out, "migration_done", m.done ? 1 : 0);
  line(out, "migration_keys_initial", m.keys_initial);
  line(out, "migration_keys_left", m.keys_left);
  line(out, "migration_keys_moved_by_mover", m.moved_by_mover);
  line(out, "migration_keys_moved_by_commands", m.moved_by_commands);
  line(out, "migration_busy_resolved", m.busy_resolved);
  line(out, "migration_errors", m.errors);
  line(out, "migration_commands_refused", m.commands_refused);
  line(out, "migration_passes", m.passes);
  line(out, "migration_rate_keys_per_sec", fmt::format("{:.1f}", m.rate_keys_per_s));
  line(out, "migration_eta_seconds", m.eta_s);
}

}  // namespace

std::string emulatedNodeId(const config::HostPort& advertised) {
  const std::string text = "slotwise-node:" + advertised.toString();
  return fmt::format("{:016x}{:016x}{:08x}", hash64(text, 1), hash64(text, 2),
                     static_cast<uint32_t>(hash64(text, 3)));
}

void appendClusterReply(const resp::Command& cmd, const config::HostPort& advertised,
                        const router::SlotMap* map, std::string* reply) {
  const std::string_view sub = cmd.arg(1);
  if (equalsIgnoreCase(sub, "slots")) {
    clusterSlots(advertised, reply);
  } else if (equalsIgnoreCase(sub, "shards")) {
    clusterShards(advertised, reply);
  } else if (equalsIgnoreCase(sub, "nodes")) {
    resp::appendBulk(*reply, clusterNodesText(advertised));
  } else if (equalsIgnoreCase(sub, "info")) {
    resp::appendBulk(*reply, clusterInfoText(map));
  } else if (equalsIgnoreCase(sub, "myid")) {
    resp::appendBulk(*reply, emulatedNodeId(advertised));
  } else if (equalsIgnoreCase(sub, "keyslot") && cmd.argc() == 3) {
    resp::appendInteger(*reply, router::keyHashSlot(cmd.arg(2)));
  } else {
    resp::appendError(*reply, "ERR slotwise does not support 'CLUSTER " + std::string(sub) +
                                  "' through the proxy in this version");
  }
}

uint32_t infoSectionBit(std::string_view name) {
  struct Entry {
    std::string_view name;
    uint32_t bit;
  };
  static constexpr Entry kSections[] = {
      {"server", kInfoServer},
      {"clients", kInfoClients},
      {"persistence", kInfoPersistence},
      {"stats", kInfoStats},
      {"replication", kInfoReplication},
      {"cluster", kInfoCluster},
      {"proxy", kInfoProxy},
      {"keyspace", kInfoKeyspace},
      {"migration", kInfoMigration},
      {"default", kInfoEverySection},
      {"all", kInfoEverySection},
      {"everything", kInfoEverySection},
  };
  for (const Entry& e : kSections) {
    if (equalsIgnoreCase(name, e.name)) return e.bit;
  }
  return 0;
}

uint32_t infoSections(const resp::Command& cmd) {
  if (cmd.argc() == 0 || !equalsIgnoreCase(cmd.arg(0), "info")) return 0;
  uint32_t sections = cmd.argc() == 1 ? uint32_t{kInfoEverySection} : 0u;
  for (size_t i = 1; i < cmd.argc(); ++i) sections |= infoSectionBit(cmd.arg(i));
  return sections;
}

std::string infoText(uint32_t sections, const ProxyFacts& facts) {
  std::string out;
  auto section = [&](uint32_t bit, const auto& write) {
    if ((sections & bit) == 0) return;
    if (!out.empty()) out += "\r\n";
    write();
  };
  section(kInfoServer, [&] { serverSection(out, facts); });
  section(kInfoClients, [&] { clientsSection(out, facts); });
  section(kInfoPersistence, [&] { persistenceSection(out); });
  section(kInfoStats, [&] { statsSection(out, facts); });
  section(kInfoReplication, [&] { replicationSection(out); });
  section(kInfoCluster, [&] { clusterSection(out); });
  section(kInfoProxy, [&] { proxySection(out, facts); });
  if (facts.migration.running) section(kInfoMigration, [&] { migrationSection(out, facts); });
  section(kInfoKeyspace, [&] { out += "# Keyspace\r\n"; });  // lines: mergeKeyspaces
  return out;
}

uint64_t uptimeSeconds() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - kStarted).count());
}

}  // namespace slotwise::proxy
