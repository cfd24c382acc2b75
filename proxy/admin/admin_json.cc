#include "proxy/admin/admin_json.h"

#include <fmt/format.h>

#include <vector>

#include "config/config_loader.h"

namespace slotwise::proxy {
namespace {

// Slots owned by each node of `map`, indexed like map.nodes() (replicas stay 0).
std::vector<size_t> slotCounts(const router::SlotMap& map) {
  std::vector<size_t> counts(map.nodes().size(), 0);
  for (const router::SlotRange& r : map.ranges()) {
    counts[r.master_index] += static_cast<size_t>(r.last - r.first) + 1;
  }
  return counts;
}

std::string nodeJson(const router::SlotMap& map, const router::NodeInfo& node, size_t slots) {
  const router::NodeInfo& master = map.nodes()[node.master_index];
  return fmt::format(
      "{{\"address\":{},\"id\":{},\"role\":\"{}\",\"master\":{},\"slots\":{},"
      "\"health\":\"unknown\"}}",
      jsonQuote(node.address), jsonQuote(node.id), node.is_master ? "master" : "replica",
      jsonQuote(master.address), slots);
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

std::string jsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\u{:04x}", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string renderBackendsJson(const router::SlotMap* map) {
  std::string out = fmt::format("{{\"version\":{},\"health_tracked\":false,\"nodes\":[",
                                map != nullptr ? map->version() : 0);
  if (map != nullptr) {
    const std::vector<size_t> counts = slotCounts(*map);
    for (size_t i = 0; i < map->nodes().size(); ++i) {
      if (i > 0) out += ',';
      out += nodeJson(*map, map->nodes()[i], counts[i]);
    }
  }
  return out + "]}";
}

config::ProxyConfig redactSecrets(config::ProxyConfig config) {
  forEachSecret(config, [](const std::string&, std::string& value) {
    if (!value.empty()) value = std::string(kRedacted);
  });
  return config;
}

std::string renderConfigJson(const config::ProxyConfig& config) {
  config::ProxyConfig copy = config;
  std::string paths;
  forEachSecret(copy, [&](const std::string& path, std::string& value) {
    if (!value.empty()) paths += (paths.empty() ? "" : ",") + jsonQuote(path);
  });
  return fmt::format("{{\"redacted\":[{}],\"yaml\":{}}}", paths,
                     jsonQuote(config::formatConfig(redactSecrets(std::move(copy)))));
}

}  // namespace slotwise::proxy
