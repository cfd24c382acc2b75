#include "proxy/admin/admin_json.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "config/config_loader.h"

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

Json nodeJson(const router::SlotMap& map, const router::NodeInfo& node, size_t slots) {
  return Json{{"address", node.address},
              {"id", node.id},
              {"role", node.is_master ? "master" : "replica"},
              {"master", map.nodes()[node.master_index].address},
              {"slots", slots},
              {"health", "unknown"}};
}

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

std::string renderBackendsJson(const router::SlotMap* map) {
  Json nodes = Json::array();
  if (map != nullptr) {
    const std::vector<size_t> counts = slotCounts(*map);
    for (size_t i = 0; i < map->nodes().size(); ++i) {
      nodes.push_back(nodeJson(*map, map->nodes()[i], counts[i]));
    }
  }
  return dump(Json{{"version", map != nullptr ? map->version() : 0},
                   {"health_tracked", false},
                   {"nodes", std::move(nodes)}});
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
