// YAML -> ProxyConfig through small binding tables (config_fields.cc): one line per key.
//
//   YAML::Node --parseMapping(table)--> struct fields   (syntax, types, ranges, unknown keys)
//                                           |
//                  validateConfig(table) <--+            (ranges again, seeds, cross-field rules)
//
// Each table entry (Field) knows its key, how to parse a node into its member, how to check the
// member of an already-built struct, how to list its key paths and how to print itself. The range
// of a number is written once, in the table, and used by both the parser and validateConfig. To add
// a key, add one line to the table of its section; to add a section, add a struct member, a table
// function and one `section(...)` line in rootFields().
#include "config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/str_cat.h"
#include "config/config_binding.h"
#include "config/config_fields.h"

namespace slotwise::config {
namespace {

using namespace binding;

// ---------------------------------------------------------------------------------------------
// Cross-field rules, checked after every field is in range.

void checkNotAbove(uint64_t value, uint64_t bound, const std::string& path,
                   std::string_view bound_path, Errors& errors) {
  if (value > bound) addError(errors, path, strCat("must not exceed ", bound_path));
}

// User names are unique; "default" is auth.password's user when that is set.
void checkUsers(const AuthConfig& auth, Errors& errors) {
  for (size_t i = 0; i < auth.users.size(); ++i) {
    const std::string path = indexPath("auth.users", i) + ".name";
    const std::string& name = auth.users[i].name;
    for (size_t j = 0; j < i; ++j) {
      if (auth.users[j].name == name) addError(errors, path, strCat("duplicate of auth.users[", j, "]"));
    }
    if (name == "default" && !auth.password.empty()) {
      addError(errors, path, "'default' is auth.password's user; set one or the other");
    }
  }
}

// `path`: "cluster", or a pool's "pools.<name>.cluster".
void checkRefreshIntervals(const ClusterConfig& cluster, const std::string& path, Errors& errors) {
  checkNotAbove(cluster.min_refresh_interval.count(), cluster.refresh_interval.count(),
                childPath(path, "min_refresh_interval_ms"), childPath(path, "refresh_interval_ms"),
                errors);
}

// `path`: "sentinel", or a pool's "pools.<name>.sentinel".
void checkSentinelMasters(const SentinelConfig& sentinel, const std::string& path, Errors& errors) {
  const std::string masters = childPath(path, "masters");
  if (sentinel.enabled() && sentinel.masters.empty()) {
    addError(errors, masters, "must name at least 1 master");
  }
  if (sentinel.masters.size() > kMaxStaticServers) {
    addError(errors, masters, strCat("at most ", kMaxStaticServers, " masters"));
  }
}

// Without pools: exactly one backend kind, cluster.seeds, static.servers or sentinel.sentinels.
void checkBackendKind(const ProxyConfig& config, Errors& errors) {
  const bool cluster = !config.cluster.seeds.empty();
  const bool fixed = config.static_servers.enabled();
  const bool sentinel = config.sentinel.enabled();
  if (!cluster && !fixed && !sentinel) {
    addError(errors, "cluster.seeds",
             "must list at least 1 host:port address (or use static.servers or "
             "sentinel.sentinels instead of a cluster)");
  }
  if (static_cast<int>(cluster) + static_cast<int>(fixed) + static_cast<int>(sentinel) > 1) {
    addError(errors, "",
             "cluster.seeds, static.servers and sentinel.sentinels exclude each other: "
             "configure one kind of backend");
  }
  checkSentinelMasters(config.sentinel, "sentinel", errors);
}

bool shareAnAddress(const std::vector<HostPort>& a, const std::vector<HostPort>& b) {
  return std::any_of(a.begin(), a.end(), [&](const HostPort& x) {
    return std::find(b.begin(), b.end(), x) != b.end();
  });
}

// A sentinel master name in two pools whose sentinels overlap is one group of servers in both.
// Sentinels themselves may be shared: one sentinel set commonly watches several masters.
void checkSharedSentinelMasters(const std::vector<PoolConfig>& pools, size_t i, Errors& errors) {
  const SentinelConfig& sentinel = pools[i].sentinel;
  const std::string masters_path = childPath(childPath("pools", pools[i].name), "sentinel.masters");
  for (size_t k = 0; k < sentinel.masters.size(); ++k) {
    for (size_t j = 0; j < i; ++j) {
      const SentinelConfig& other = pools[j].sentinel;
      if (!shareAnAddress(sentinel.sentinels, other.sentinels)) continue;
      const auto same = std::find(other.masters.begin(), other.masters.end(), sentinel.masters[k]);
      if (same == other.masters.end()) continue;
      addError(errors, indexPath(masters_path, k),
               strCat("duplicate of ",
                      indexPath(childPath(childPath("pools", pools[j].name), "sentinel.masters"),
                                static_cast<size_t>(same - other.masters.begin())),
                      " (the pools share a sentinel)"));
      break;
    }
  }
}

// With pools, the pools are the backends. Every data node (static server, cluster seed) belongs
// to one pool, and at most one pool is a Redis Cluster: the data path maps its 16384 slots once.
void checkPools(const ProxyConfig& config, Errors& errors) {
  if (!(config.cluster == ClusterConfig{}) || !(config.static_servers == StaticConfig{}) ||
      !(config.sentinel == SentinelConfig{})) {
    addError(errors, "pools", "pools excludes the top-level cluster, static and sentinel sections");
  }
  std::map<std::string, std::string> node_paths;  // "host:port" -> its first key path
  bool have_cluster = false;
  for (size_t i = 0; i < config.pools.size(); ++i) {
    const PoolConfig& pool = config.pools[i];
    const std::string path = childPath("pools", pool.name);
    if (backendKinds(pool) != 1) addError(errors, path, kOnePoolKind);
    if (!pool.cluster.seeds.empty()) {
      if (have_cluster) {
        addError(errors, childPath(path, "cluster"), "at most one pool can be a Redis Cluster");
      }
      have_cluster = true;
    }
    checkRefreshIntervals(pool.cluster, childPath(path, "cluster"), errors);
    checkSentinelMasters(pool.sentinel, childPath(path, "sentinel"), errors);
    checkSharedSentinelMasters(config.pools, i, errors);

    std::vector<std::pair<std::string, std::string>> nodes;  // this pool's "host:port", key path
    const std::string seeds_path = childPath(path, "cluster.seeds");
    for (size_t k = 0; k < pool.cluster.seeds.size(); ++k) {
      nodes.emplace_back(pool.cluster.seeds[k].toString(), indexPath(seeds_path, k));
    }
    const std::string servers_path = childPath(path, "static.servers");
    for (size_t k = 0; k < pool.static_servers.servers.size(); ++k) {
      nodes.emplace_back(pool.static_servers.servers[k].address.toString(),
                         indexPath(servers_path, k));
    }
    // Duplicates inside the pool are the section's own errors; only earlier pools count here.
    for (const auto& [address, node_path] : nodes) {
      if (auto it = node_paths.find(address); it != node_paths.end()) {
        addError(errors, node_path, strCat("duplicate address of ", it->second));
      }
    }
    for (auto& [address, node_path] : nodes) node_paths.emplace(address, std::move(node_path));
  }
}

// The target of a migration: the top-level cluster, or with pools the cluster pool that takes the
// keys no route takes (a second cluster pool is checkPools' error).
bool hasClusterTarget(const ProxyConfig& config) {
  if (config.pools.empty()) return !config.cluster.seeds.empty();
  const auto target = std::find_if(config.pools.begin(), config.pools.end(),
                                   [&](const auto& p) { return p.name == config.default_pool; });
  return target != config.pools.end() && !target->cluster.seeds.empty();
}

// No source address is a data node of the proxy (a cluster seed or a static server, top-level or
// in a pool): its keys would be moved onto the deployment they are served from. Checked by
// address as written; a name and an IP of one host are not matched.
void checkSourceAddresses(const ProxyConfig& config, Errors& errors) {
  std::vector<std::pair<const HostPort*, std::string>> backends;  // address, key path
  auto add_seeds = [&](const ClusterConfig& cluster, const std::string& path) {
    for (size_t i = 0; i < cluster.seeds.size(); ++i) {
      backends.emplace_back(&cluster.seeds[i], indexPath(childPath(path, "seeds"), i));
    }
  };
  auto add_servers = [&](const StaticConfig& fixed, const std::string& path) {
    for (size_t i = 0; i < fixed.servers.size(); ++i) {
      backends.emplace_back(&fixed.servers[i].address, indexPath(childPath(path, "servers"), i));
    }
  };
  add_seeds(config.cluster, "cluster");
  add_servers(config.static_servers, "static");
  for (const PoolConfig& pool : config.pools) {
    add_seeds(pool.cluster, childPath(childPath("pools", pool.name), "cluster"));
    add_servers(pool.static_servers, childPath(childPath("pools", pool.name), "static"));
  }
  auto check = [&](const HostPort& address, const std::string& path) {
    const auto same = std::find_if(backends.begin(), backends.end(),
                                   [&](const auto& backend) { return *backend.first == address; });
    if (same == backends.end()) return;
    addError(errors, path,
             strCat(address.toString(), " is also ", same->second,
                    "; the source cannot be a backend of the proxy"));
  };
  const MigrationConfig& m = config.migration;
  for (size_t i = 0; i < m.static_servers.servers.size(); ++i) {
    check(m.static_servers.servers[i].address, indexPath("migration.source.static.servers", i));
  }
  for (size_t i = 0; i < m.sentinel.sentinels.size(); ++i) {
    check(m.sentinel.sentinels[i], indexPath("migration.source.sentinel.sentinels", i));
  }
  for (size_t i = 0; i < m.servers.size(); ++i) {
    check(m.servers[i], indexPath("migration.source.servers", i));
  }
}

// A source master name on sentinels shared with a Sentinel backend of the proxy (top-level or a
// pool) is a group the proxy serves: the same rule as checkSharedSentinelMasters.
void checkSourceMasters(const ProxyConfig& config, Errors& errors) {
  const SentinelConfig& source = config.migration.sentinel;
  std::vector<std::pair<const SentinelConfig*, std::string>> backends = {
      {&config.sentinel, "sentinel.masters"}};
  for (const PoolConfig& pool : config.pools) {
    backends.emplace_back(&pool.sentinel,
                          childPath(childPath("pools", pool.name), "sentinel.masters"));
  }
  for (size_t k = 0; k < source.masters.size(); ++k) {
    for (const auto& [backend, path] : backends) {
      if (!shareAnAddress(source.sentinels, backend->sentinels)) continue;
      const auto same =
          std::find(backend->masters.begin(), backend->masters.end(), source.masters[k]);
      if (same == backend->masters.end()) continue;
      addError(errors, indexPath("migration.source.sentinel.masters", k),
               strCat("'", *same, "' is also ",
                      indexPath(path, static_cast<size_t>(same - backend->masters.begin())),
                      " (they share a sentinel); the source cannot be a backend of the proxy"));
      break;
    }
  }
}

// migration: none while every field is at its default. Otherwise the source is exactly one kind,
// a kind being a source section that differs from its defaults (so `static: {hash: murmur}`
// beside `servers:` is refused rather than ignored), and the target is a Redis Cluster.
void checkMigration(const ProxyConfig& config, Errors& errors) {
  const MigrationConfig& m = config.migration;
  if (m == MigrationConfig{}) return;
  const bool fixed = !(m.static_servers == StaticConfig{});
  const bool sentinel = !(m.sentinel == SentinelConfig{});
  const int kinds =
      static_cast<int>(fixed) + static_cast<int>(sentinel) + static_cast<int>(!m.servers.empty());
  if (kinds == 0) {
    addError(errors, "migration.source", "missing: set exactly one of static, sentinel, servers");
  } else if (kinds > 1) {
    addError(errors, "migration.source", "exactly one of static, sentinel, servers");
  } else if (fixed && !m.static_servers.enabled()) {
    addError(errors, "migration.source.static.servers",
             "must list at least 1 \"host:port:weight [name]\" server");
  } else if (sentinel && !m.sentinel.enabled()) {
    addError(errors, "migration.source.sentinel.sentinels",
             "must list at least 1 host:port address");
  }
  checkSentinelMasters(m.sentinel, "migration.source.sentinel", errors);
  if (!hasClusterTarget(config)) {
    addError(errors, "migration",
             "the target must be a Redis Cluster (cluster: or a cluster pool as default_pool)");
  }
  checkSourceAddresses(config, errors);
  checkSourceMasters(config, errors);
}

// Routes name pools; a key prefix has one route.
void checkRoutes(const ProxyConfig& config, Errors& errors) {
  if (config.pools.empty()) {
    if (!config.routes.empty()) addError(errors, "routes", "needs pools");
    if (!config.default_pool.empty()) addError(errors, "default_pool", "needs pools");
    return;
  }
  std::set<std::string_view> pools;
  for (const PoolConfig& pool : config.pools) pools.insert(pool.name);
  if (config.routes.size() > kMaxRoutes) {
    addError(errors, "routes", strCat("at most ", kMaxRoutes, " routes"));
  }
  std::map<std::string_view, size_t> first_with_prefix;
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    const std::string path = indexPath("routes", i);
    if (auto [first, added] = first_with_prefix.emplace(route.prefix, i); !added) {
      addError(errors, path + ".prefix",
               strCat("duplicate of ", indexPath("routes", first->second)));
    }
    if (!pools.contains(route.pool)) {
      addError(errors, path + ".pool", strCat("unknown pool '", route.pool, "'"));
    }
  }
  if (config.default_pool.empty()) {
    addError(errors, "default_pool", "must name the pool of the keys no route takes");
  } else if (!pools.contains(config.default_pool)) {
    addError(errors, "default_pool", strCat("unknown pool '", config.default_pool, "'"));
  }
}

// A TLS listener needs its certificate and key; some port must serve clients.
void checkTls(const ProxyConfig& config, Errors& errors) {
  const TlsListenConfig& tls = config.tls;
  if (tls.enabled()) {
    if (tls.files.cert_file.empty()) addError(errors, "tls.cert_file", "required with tls.listen");
    if (tls.files.key_file.empty()) addError(errors, "tls.key_file", "required with tls.listen");
  } else if (config.listen == HostPort{}) {
    addError(errors, "listen", "required unless tls.listen is set");
  }
  if (tls.enabled() && tls.listen == config.listen) {
    addError(errors, "tls.listen", "must differ from listen");
  }
  const BackendTlsConfig& backend = config.backend.tls;
  if (backend.files.cert_file.empty() != backend.files.key_file.empty()) {
    addError(errors, "backend.tls.cert_file", "cert_file and key_file go together");
  }
  if (backend.enabled && backend.verify && backend.files.ca_file.empty()) {
    addError(errors, "backend.tls.ca_file",
             "required to verify the nodes' certificates (or set backend.tls.verify: false)");
  }
}

void checkCrossField(const ProxyConfig& config, Errors& errors) {
  checkTls(config, errors);
  const uint32_t sample = config.observe.hot_key_sample;
  if ((sample & (sample - 1)) != 0) {
    addError(errors, "observe.hot_key_sample", "must be a power of two (1, 2, 4, ... 1024)");
  }
  if (config.pools.empty()) {
    checkBackendKind(config, errors);
  } else {
    checkPools(config, errors);
  }
  checkRoutes(config, errors);
  checkMigration(config, errors);
  checkRefreshIntervals(config.cluster, "cluster", errors);
  const LimitsConfig& l = config.limits;
  checkNotAbove(l.max_bulk_length, l.max_request_bytes, "limits.max_bulk_length",
                "limits.max_request_bytes", errors);
  checkNotAbove(l.max_inline_length, l.max_request_bytes, "limits.max_inline_length",
                "limits.max_request_bytes", errors);
  checkNotAbove(l.max_request_bytes, l.max_pipelined_bytes, "limits.max_request_bytes",
                "limits.max_pipelined_bytes", errors);
  checkUsers(config.auth, errors);
}

// ---------------------------------------------------------------------------------------------
// Documents.

std::string yamlError(std::string_view source, const YAML::Exception& e) {
  if (e.mark.is_null()) return strCat(source, ": YAML syntax error: ", e.msg);
  return strCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": YAML syntax error: ", e.msg);
}

// True when validation error path `checked` only repeats what parse error path `parsed` says. A
// static, sentinel or pools section that failed to parse also covers "no backend configured", a
// pools mapping that failed as a whole covers "needs pools" and the unknown pools of routes, and
// a failed cluster.seeds, pools or default_pool covers "the migration target must be a cluster".
bool coveredBy(std::string_view parsed, std::string_view checked) {
  if (pathsOverlap(parsed, checked)) return true;
  if (checked == "cluster.seeds" &&
      (parsed.starts_with("static.") || parsed.starts_with("sentinel.") ||
       pathsOverlap(parsed, "pools"))) {
    return true;
  }
  // The migration target is found through cluster.seeds, pools and default_pool.
  if (checked == "migration" &&
      (pathsOverlap(parsed, "cluster.seeds") || pathsOverlap(parsed, "pools") ||
       pathsOverlap(parsed, "default_pool"))) {
    return true;
  }
  return parsed == "pools" && (pathsOverlap("routes", checked) || checked == "default_pool");
}

// Appends to `errors` each validation error whose key path no existing error already covers.
void appendValidation(const ProxyConfig& config, Errors& errors) {
  const Errors parse_errors = errors;
  for (std::string& error : validateConfig(config)) {
    bool covered = std::any_of(parse_errors.begin(), parse_errors.end(), [&](const auto& p) {
      return coveredBy(errorPath(p), errorPath(error));
    });
    if (!covered) errors.push_back(std::move(error));
  }
}

std::string joinLines(const Errors& errors) {
  std::string out;
  for (const auto& error : errors) out += (out.empty() ? "" : "\n") + error;
  return out;
}

}  // namespace

Result<ProxyConfig> loadConfigString(const std::string& yaml, std::string_view source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    return Result<ProxyConfig>::error(yamlError(source_name, e));
  }
  ProxyConfig config;
  Errors errors;
  if (documents.size() > 1) {
    addError(errors, "", strCat("expected one YAML document, got ", documents.size()));
  } else if (!documents.empty()) {
    parseMapping(documents.front(), "", rootFields(), config, errors);
    // `listen` left out beside tls.listen: TLS only (like Redis's port 0 with a tls-port).
    const YAML::Node& root = documents.front();
    if (config.tls.enabled() && root.IsMap() && !root["listen"].IsDefined()) {
      config.listen = HostPort{};
    }
  }
  appendValidation(config, errors);
  if (!errors.empty()) return Result<ProxyConfig>::error(joinLines(errors));
  return config;
}

Result<ProxyConfig> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Result<ProxyConfig>::error(strCat(path, ": cannot read config file: is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Result<ProxyConfig>::error(
        strCat(path, ": cannot read config file: ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return Result<ProxyConfig>::error(strCat(path, ": cannot read config file: I/O error"));
  }
  return loadConfigString(content.str(), path);
}

std::vector<std::string> validateConfig(const ProxyConfig& config) {
  Errors errors;
  checkFields(rootFields(), config, "", errors);
  if (errors.empty()) checkCrossField(config, errors);
  return errors;
}

namespace {

bool isHostnameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Hex groups, ':' and '.' (embedded IPv4), optionally followed by "%zone".
bool isIpv6Literal(std::string_view host) {
  std::string_view addr = host.substr(0, host.find('%'));
  std::string_view zone = addr.size() < host.size() ? host.substr(addr.size() + 1) : "";
  auto is_addr_char = [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  };
  if (addr.find(':') == std::string_view::npos) return false;
  if (!std::all_of(addr.begin(), addr.end(), is_addr_char)) return false;
  if (addr.size() < host.size() && zone.empty()) return false;
  return std::all_of(zone.begin(), zone.end(), isHostnameChar);
}

}  // namespace

Result<HostPort> parseHostPort(std::string_view text) {
  auto split = HostPort::split(text);
  if (!split) return Result<HostPort>::error(split.error());
  const auto [host, port_text, bracketed] = *split;
  if (!bracketed && host.find(':') != std::string_view::npos) {
    return Result<HostPort>::error(strCat("IPv6 address must be in brackets: '", text, "'"));
  }
  if (host.empty()) return Result<HostPort>::error(strCat("missing host in '", text, "'"));
  if (bracketed ? !isIpv6Literal(host) : !std::all_of(host.begin(), host.end(), isHostnameChar)) {
    return Result<HostPort>::error(strCat("invalid host '", host, "'"));
  }
  auto port = HostPort::parsePort(port_text);
  if (!port) return Result<HostPort>::error(port.error());
  return HostPort{std::string(host), *port};
}

Result<uint64_t> parseByteSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit(text.substr(digits));
  unit.erase(0, unit.find_first_not_of(' '));
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const uint64_t multiplier = unitMultiplier(unit);
  if (digits == 0 || multiplier == 0) {
    return Result<uint64_t>::error(
        strCat("invalid byte size '", text,
            "' (expected an integer with optional unit b, kb, mb, gb, tb)"));
  }
  auto number = parseUnsigned(text.substr(0, digits));
  if (!number || *number > std::numeric_limits<uint64_t>::max() / multiplier) {
    return Result<uint64_t>::error(strCat("byte size '", text, "' is too large"));
  }
  return *number * multiplier;
}

std::string formatConfig(const ProxyConfig& config) {
  std::string out;
  for (const auto& field : rootFields()) field.emit(config, 0, out);
  return out;
}

std::vector<std::string> knownKeyPaths() {
  std::vector<std::string> out;
  for (const auto& field : rootFields()) field.list(std::string(field.key), out);
  return out;
}

}  // namespace slotwise::config
