#include "proxy/local/proxy_info.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <climits>

#include "common/ascii.h"
#include "common/lines.h"
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

// ---- INFO of the masters (mergeNodeInfo) ----

struct SectionName {
  std::string_view name;
  uint32_t bit;
};
// Redis's output order; the proxy's own sections sit before Keyspace.
constexpr SectionName kSectionNames[] = {
    {"server", kInfoServer},
    {"clients", kInfoClients},
    {"memory", kInfoMemory},
    {"persistence", kInfoPersistence},
    {"stats", kInfoStats},
    {"replication", kInfoReplication},
    {"cpu", kInfoCpu},
    {"modules", kInfoModules},
    {"commandstats", kInfoCommandstats},
    {"errorstats", kInfoErrorstats},
    {"latencystats", kInfoLatencystats},
    {"cluster", kInfoCluster},
    {"proxy", kInfoProxy},
    {"migration", kInfoMigration},
    {"keyspace", kInfoKeyspace},
};

// One key of a node section: its value on each master that has it (views into the node texts).
struct NodeField {
  std::string_view key;
  std::vector<std::string_view> values;
};
struct NodeSection {
  std::string_view name;
  std::vector<NodeField> fields;  // in the first master's order
};

void collectNodeInfo(std::string_view text, std::vector<NodeSection>* sections) {
  NodeSection* current = nullptr;
  forEachLine(text, [&](std::string_view line) {
    if (line.starts_with("# ")) {
      const std::string_view name = line.substr(2);
      auto it = std::find_if(sections->begin(), sections->end(),
                             [&](const NodeSection& s) { return s.name == name; });
      current = it != sections->end() ? &*it : &sections->emplace_back(NodeSection{name, {}});
      return;
    }
    const size_t colon = line.find(':');
    if (current == nullptr || colon == std::string_view::npos) return;
    const std::string_view key = line.substr(0, colon);
    auto it = std::find_if(current->fields.begin(), current->fields.end(),
                           [&](const NodeField& f) { return f.key == key; });
    if (it == current->fields.end()) it = current->fields.insert(it, NodeField{key, {}});
    it->values.push_back(line.substr(colon + 1));
  });
}

bool parseInteger(std::string_view s, int64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool parseDecimal(std::string_view s, double* out, int* decimals) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return false;
  const size_t dot = s.find('.');
  *decimals = dot == std::string_view::npos ? 0 : static_cast<int>(s.size() - dot - 1);
  return true;
}

// Integers where summing means nothing: the largest (flags, durations, host facts). Peaks are
// summed: the sum bounds the cluster's peak and never falls below the summed current value.
bool takesLargest(std::string_view key) {
  for (std::string_view part : {"in_progress", "scheduled", "enabled"}) {
    if (key.find(part) != std::string_view::npos) return true;
  }
  return key.ends_with("_sec") || key.ends_with("_usec") || key == "total_system_memory";
}

// Redis's bytesToHuman (util.c): B, then K M G T P with two decimals.
std::string bytesToHuman(uint64_t n) {
  static constexpr std::string_view kUnits = "KMGTP";
  if (n < 1024) return fmt::format("{}B", n);
  double d = static_cast<double>(n) / 1024;
  for (char unit : kUnits) {
    if (d < 1024 || unit == 'P') return fmt::format("{:.2f}{}", d, unit);
    d /= 1024;
  }
  return fmt::format("{}B", n);
}

// "calls=3,usec=10,usec_per_call=3.33" lists (commandstats, errorstats, latencystats), field by
// field over the masters.
std::string aggregateList(const std::vector<std::string_view>& values) {
  struct Item {
    std::string_view name;
    double sum = 0, max = 0;
    int decimals = 0;
  };
  std::vector<Item> items;
  for (std::string_view v : values) {
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      if (comma == std::string_view::npos) comma = v.size();
      const std::string_view field = v.substr(pos, comma - pos);
      pos = comma + 1;
      const size_t eq = field.find('=');
      double x = 0;
      int decimals = 0;
      if (eq == std::string_view::npos || !parseDecimal(field.substr(eq + 1), &x, &decimals)) {
        return std::string(values.front());  // not a list of numbers: keep the first
      }
      const std::string_view name = field.substr(0, eq);
      auto it =
          std::find_if(items.begin(), items.end(), [&](const Item& i) { return i.name == name; });
      if (it == items.end()) it = items.insert(it, Item{name, 0, x, decimals});
      it->sum += x;
      it->max = std::max(it->max, x);
    }
  }
  auto sumOf = [&](std::string_view name) {
    auto it =
        std::find_if(items.begin(), items.end(), [&](const Item& i) { return i.name == name; });
    return it == items.end() ? 0.0 : it->sum;
  };
  std::string out;
  for (const Item& i : items) {
    double x = i.sum;
    if (i.name == "usec_per_call") x = sumOf("calls") > 0 ? sumOf("usec") / sumOf("calls") : 0;
    else if (i.name.size() > 1 && i.name[0] == 'p' &&
             std::isdigit(static_cast<unsigned char>(i.name[1])))
      x = i.max;
    if (!out.empty()) out += ',';
    fmt::format_to(std::back_inserter(out), "{}={:.{}f}", i.name, x, i.decimals);
  }
  return out;
}

// The value of `f` over the masters (rules: proxy_info.h, mergeNodeInfo).
std::string aggregateField(const NodeSection& section, const NodeField& f) {
  const std::vector<std::string_view>& values = f.values;
  if (values.size() == 1) return std::string(values.front());
  if (f.key.ends_with("_human")) {
    const std::string_view base = f.key.substr(0, f.key.size() - 6);
    for (const NodeField& b : section.fields) {
      int64_t n = 0;
      if (b.key == base && parseInteger(aggregateField(section, b), &n) && n >= 0) {
        return bytesToHuman(static_cast<uint64_t>(n));
      }
    }
  }
  bool integers = true, decimals = true, percents = true, lists = true;
  int64_t sum = 0, max = INT64_MIN, min = INT64_MAX;
  double dsum = 0, dmax = -1e300;
  int places = 0;
  for (std::string_view v : values) {
    int64_t n = 0;
    if (parseInteger(v, &n)) {
      sum += n;
      max = std::max(max, n);
      min = std::min(min, n);
    } else {
      integers = false;
    }
    double d = 0;
    int p = 0;
    const bool percent = v.ends_with('%') && parseDecimal(v.substr(0, v.size() - 1), &d, &p);
    if (percent || parseDecimal(v, &d, &p)) {
      dsum += d;
      dmax = std::max(dmax, d);
      places = std::max(places, p);
    } else {
      decimals = false;
    }
    percents = percents && percent;
    lists = lists && v.find('=') != std::string_view::npos;
  }
  if (integers) {
    if (f.key == "rdb_last_save_time") return std::to_string(min);
    return std::to_string(takesLargest(f.key) ? max : sum);
  }
  if (percents) return fmt::format("{:.{}f}%", dmax, places);
  if (decimals) {
    const bool ratio = f.key.ends_with("_ratio") || f.key.find("_perc") != std::string_view::npos;
    return fmt::format("{:.{}f}", ratio ? dmax : dsum, places);
  }
  if (lists) return aggregateList(values);
  std::string joined(values.front());
  for (std::string_view v : values) {
    if (v != values.front()) {  // the masters differ: each one's value
      joined.clear();
      for (std::string_view w : values) joined += (joined.empty() ? "" : ",") + std::string(w);
      break;
    }
  }
  return joined;
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
  } else if (equalsIgnoreCase(sub, "links")) {
    resp::appendArrayHeader(*reply, 0);  // a one-node cluster has no cluster-bus links
  } else if ((equalsIgnoreCase(sub, "replicas") || equalsIgnoreCase(sub, "slaves")) &&
             cmd.argc() == 3) {
    // The emulated node is a master without replicas (the backends' replicas serve reads
    // behind it, see backend.read_from); any other id is unknown, in a node's own words.
    if (cmd.arg(2) == emulatedNodeId(advertised)) resp::appendArrayHeader(*reply, 0);
    else resp::appendError(*reply, "ERR Unknown node " + std::string(cmd.arg(2)));
  } else {
    resp::appendError(*reply, "ERR slotwise does not support 'CLUSTER " + std::string(sub) +
                                  "' through the proxy in this version");
  }
}

uint32_t infoSectionBit(std::string_view name) {
  for (const SectionName& e : kSectionNames) {
    if (equalsIgnoreCase(name, e.name)) return e.bit;
  }
  if (equalsIgnoreCase(name, "default")) return kInfoDefault;
  if (equalsIgnoreCase(name, "all") || equalsIgnoreCase(name, "everything")) {
    return kInfoEverySection;
  }
  return 0;
}

uint32_t infoSections(const resp::Command& cmd) {
  if (cmd.argc() == 0 || !equalsIgnoreCase(cmd.arg(0), "info")) return 0;
  uint32_t sections = cmd.argc() == 1 ? uint32_t{kInfoDefault} : 0u;
  for (size_t i = 1; i < cmd.argc(); ++i) sections |= infoSectionBit(cmd.arg(i));
  return sections;
}

std::vector<std::string_view> infoNodeSectionNames(uint32_t sections) {
  std::vector<std::string_view> names;
  for (const SectionName& e : kSectionNames) {
    if ((e.bit & sections & kInfoFromNodes) != 0) names.push_back(e.name);
  }
  return names;
}

std::string mergeNodeInfo(std::string_view proxy_text,
                          const std::vector<std::string_view>& node_texts) {
  std::vector<NodeSection> nodes;
  for (std::string_view text : node_texts) collectNodeInfo(text, &nodes);
  std::string out;
  std::string_view name;
  std::vector<std::string_view> written;  // the proxy's own keys in the current section
  auto finishSection = [&] {
    if (name.empty() || name == "Keyspace") return;
    for (const NodeSection& ns : nodes) {
      if (ns.name != name) continue;
      for (const NodeField& f : ns.fields) {
        if (std::find(written.begin(), written.end(), f.key) != written.end()) continue;
        out += f.key;
        out += ':';
        out += aggregateField(ns, f);
        out += "\r\n";
      }
    }
  };
  forEachLine(proxy_text, [&](std::string_view line) {
    if (line.starts_with("# ")) {
      name = line.substr(2);
      written.clear();
    } else if (line.empty()) {
      finishSection();
      name = {};
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      written.push_back(line.substr(0, colon));
    }
    out += line;
    out += "\r\n";
  });
  finishSection();
  return out;
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
  section(kInfoMemory, [&] { out += "# Memory\r\n"; });  // lines: mergeNodeInfo
  section(kInfoPersistence, [&] { persistenceSection(out); });
  section(kInfoStats, [&] { statsSection(out, facts); });
  section(kInfoReplication, [&] { replicationSection(out); });
  section(kInfoCpu, [&] { out += "# CPU\r\n"; });
  section(kInfoModules, [&] { out += "# Modules\r\n"; });
  section(kInfoCommandstats, [&] { out += "# Commandstats\r\n"; });
  section(kInfoErrorstats, [&] { out += "# Errorstats\r\n"; });
  section(kInfoLatencystats, [&] { out += "# Latencystats\r\n"; });
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
