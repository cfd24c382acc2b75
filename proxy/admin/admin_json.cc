#include "proxy/admin/admin_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/config_loader.h"
#include "router/hash_ring.h"
#include "router/key_placement.h"

namespace slotwise::proxy {
namespace {

// ordered_json keeps keys in insertion order, i.e. the order documented in admin_json.h.
using Json = nlohmann::ordered_json;

// Compact text of `doc`. Invalid UTF-8 in a string becomes U+FFFD instead of throwing.
std::string dump(const Json& doc) {
  return doc.dump(/*indent=*/-1, /*indent_char=*/' ', /*ensure_ascii=*/false,
                  Json::error_handler_t::replace);
}

// Slots owned by each node of `map`, indexed like map.nodes() (replicas stay 0).
std::vector<size_t> slotCounts(const router::SlotMap& map) {
  std::vector<size_t> counts(map.nodes().size(), 0);
  for (const router::SlotRange& r : map.ranges()) {
    counts[r.master_index] += static_cast<size_t>(r.last - r.first) + 1;
  }
  return counts;
}

Json rangeJson(const router::SlotMap& map, const router::SlotRange& range) {
  const router::NodeInfo& master = map.nodes()[range.master_index];
  Json replicas = Json::array();
  for (uint16_t replica : map.replicasOf(range.master_index)) {
    replicas.push_back(map.nodes()[replica].address);
  }
  return Json{{"first", range.first},
              {"last", range.last},
              {"master", master.address},
              {"id", master.id},
              {"replicas", std::move(replicas)}};
}

// Three decimals; a negative value ("not measured") is null.
Json rounded(double v) { return v < 0 ? Json(nullptr) : Json(std::round(v * 1000) / 1000); }

Json nodeJson(const router::SlotMap& map, const router::NodeInfo& node, size_t slots,
              const NodeHealth& h) {
  return Json{{"address", node.address},
              {"id", node.id},
              {"role", node.is_master ? "master" : "replica"},
              {"master", map.nodes()[node.master_index].address},
              {"slots", slots},
              {"health", h.state},
              {"connections", h.connections},
              {"connecting", h.connecting},
              {"connect_failures", h.connect_failures},
              {"in_flight", h.in_flight},
              {"requests", h.requests},
              {"p50_ms", rounded(h.p50_ms)},
              {"p99_ms", rounded(h.p99_ms)},
              {"last_error", h.last_error},
              {"last_error_unix_ms", h.last_error_unix_ms}};
}

}  // namespace

std::string renderHotKeysJson(const HotKeyReport& report, bool enabled) {
  Json keys = Json::array();
  for (const HotKey& h : report.keys) {
    const double per_s = report.window_s > 0 ? static_cast<double>(h.count) / report.window_s : 0;
    const double share =
        report.total > 0 ? static_cast<double>(h.count) / static_cast<double>(report.total) : 0;
    keys.push_back(Json{{"key", h.key},
                        {"count", h.count},
                        {"error", h.error},
                        {"per_s", per_s},
                        {"share", share}});
  }
  return dump(Json{{"enabled", enabled},
                   {"window_s", report.window_s},
                   {"sample", report.sample},
                   {"total", report.total},
                   {"keys", std::move(keys)}});
}

std::string renderBigKeysJson(const std::vector<BigKey>& keys, uint64_t threshold_bytes) {
  Json list = Json::array();
  for (const BigKey& b : keys) {
    list.push_back(Json{{"key", b.key},
                        {"command", b.command},
                        {"direction", b.direction},
                        {"bytes", b.bytes},
                        {"unix_ms", b.unix_ms}});
  }
  return dump(Json{{"threshold_bytes", threshold_bytes}, {"keys", std::move(list)}});
}

namespace {

// Calls visit(key path, value) for every secret of `config`. A new secret field must be added here.
template <typename Visit>
void forEachSecret(config::ProxyConfig& config, Visit visit) {
  visit("backend.password", config.backend.password);
  visit("auth.password", config.auth.password);
  for (size_t i = 0; i < config.auth.users.size(); ++i) {
    const std::string user = fmt::format("auth.users[{}].", i);
    visit(user + "password", config.auth.users[i].password);
    visit(user + "backend_password", config.auth.users[i].backend_password);
  }
  visit("admin.token", config.admin.token);
}

}  // namespace

std::string renderSlotsJson(const router::SlotMap* map) {
  Json ranges = Json::array();
  if (map != nullptr) {
    for (const router::SlotRange& r : map->ranges()) ranges.push_back(rangeJson(*map, r));
  }
  return dump(Json{{"version", map != nullptr ? map->version() : 0},
                   {"ranges", std::move(ranges)}});
}

std::string renderBackendsJson(const router::SlotMap* map,
                               const std::function<NodeHealth(const std::string&)>& health) {
  Json nodes = Json::array();
  if (map != nullptr) {
    const std::vector<size_t> counts = slotCounts(*map);
    for (size_t i = 0; i < map->nodes().size(); ++i) {
      const router::NodeInfo& node = map->nodes()[i];
      nodes.push_back(nodeJson(*map, node, counts[i], health(node.address)));
    }
  }
  return dump(Json{{"version", map != nullptr ? map->version() : 0},
                   {"health_tracked", true},
                   {"nodes", std::move(nodes)}});
}

namespace {

// One pool's document: slots [offset, offset + slots) of `map`, placed by `ring` (null: cluster).
Json poolJson(const router::SlotMap& map, std::string name, std::string kind, uint32_t offset,
              uint32_t slots, const router::HashRing* ring) {
  Json pool{{"name", std::move(name)},
            {"kind", std::move(kind)},
            {"first_slot", offset},
            {"slots", slots}};
  size_t covered = 0;
  for (uint32_t s = offset; s < offset + slots; ++s) {
    covered += map.masterIndex(static_cast<uint16_t>(s)) != router::SlotMap::kNoNode;
  }
  pool["covered"] = covered;
  const auto replicas = [&map](uint16_t master) {
    Json list = Json::array();
    for (uint16_t r : map.replicasOf(master)) list.push_back(map.nodes()[r].address);
    return list;
  };
  if (ring == nullptr) {
    std::vector<std::pair<uint16_t, size_t>> masters;  // index, slots; in slot order
    for (uint32_t s = offset; s < offset + slots; ++s) {
      const uint16_t m = map.masterIndex(static_cast<uint16_t>(s));
      if (m == router::SlotMap::kNoNode) continue;
      auto it =
          std::find_if(masters.begin(), masters.end(), [m](const auto& e) { return e.first == m; });
      if (it == masters.end()) masters.emplace_back(m, 1);
      else ++it->second;
    }
    Json list = Json::array();
    for (const auto& [m, n] : masters) {
      list.push_back(
          Json{{"address", map.nodes()[m].address}, {"slots", n}, {"replicas", replicas(m)}});
    }
    pool["masters"] = std::move(list);
    return pool;
  }
  pool["hash"] = router::hashKindName(ring->hash());
  pool["distribution"] = router::distributionName(ring->distribution());
  Json servers = Json::array();
  for (size_t i = 0; i < ring->servers().size() && i < slots; ++i) {
    const router::RingServer& rs = ring->servers()[i];
    const uint16_t m = map.masterIndex(static_cast<uint16_t>(offset + i));
    const bool served = m != router::SlotMap::kNoNode;
    servers.push_back(Json{{"name", rs.name},
                           {"weight", rs.weight},
                           {"live", rs.live},
                           {"address", served ? map.nodes()[m].address : std::string()},
                           {"replicas", served ? replicas(m) : Json::array()}});
  }
  pool["servers"] = std::move(servers);
  return pool;
}

}  // namespace

std::string renderPoolsJson(const router::SlotMap* map, const std::vector<std::string>& kinds) {
  Json pools = Json::array();
  if (map != nullptr) {
    const router::KeyPlacement& placement = map->placement();
    const auto kindOf = [&](size_t i, const router::HashRing* ring) {
      return i < kinds.size() ? kinds[i] : std::string(ring != nullptr ? "static" : "cluster");
    };
    if (const router::PrefixRoutes* routes = placement.routes(); routes != nullptr) {
      for (size_t i = 0; i < routes->pools().size(); ++i) {
        const router::PrefixRoutes::Pool& p = routes->pools()[i];
        pools.push_back(poolJson(*map, p.name, kindOf(i, p.placement.ring()), p.offset, p.slots,
                                 p.placement.ring()));
      }
    } else {
      pools.push_back(poolJson(*map, "default", kindOf(0, placement.ring()), 0,
                               static_cast<uint32_t>(placement.slotCount()), placement.ring()));
    }
  }
  return dump(Json{{"version", map != nullptr ? map->version() : 0}, {"pools", std::move(pools)}});
}

std::string renderHistoryJson(const std::vector<HistoryPoint>& points, int interval_ms) {
  Json list = Json::array();
  for (const HistoryPoint& p : points) {
    list.push_back(Json{{"t", p.unix_ms},
                        {"ops", rounded(p.ops)},
                        {"errors", rounded(p.errors)},
                        {"redirects", rounded(p.redirects)},
                        {"p99_ms", rounded(p.p99_ms)}});
  }
  return dump(Json{{"interval_ms", interval_ms}, {"points", std::move(list)}});
}

std::string renderClientsJson(int64_t connected) {
  return dump(Json{{"connected", connected}});
}

config::ProxyConfig redactSecrets(config::ProxyConfig config) {
  forEachSecret(config, [](const std::string&, std::string& value) {
    if (!value.empty()) value = std::string(kRedacted);
  });
  return config;
}

std::string renderConfigJson(const config::ProxyConfig& config) {
  config::ProxyConfig copy = config;
  Json redacted = Json::array();
  forEachSecret(copy, [&](const std::string& path, std::string& value) {
    if (!value.empty()) redacted.push_back(path);
  });
  return dump(Json{{"redacted", std::move(redacted)},
                   {"yaml", config::formatConfig(redactSecrets(std::move(copy)))}});
}

}  // namespace slotwise::proxy
