// YAML -> ProxyConfig through small binding tables: one line per key.
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

namespace slotwise::config {
namespace {

using namespace binding;

constexpr EnumName<LogLevel> kLogLevels[] = {
    {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"off", LogLevel::kOff},
};
constexpr EnumName<ReadFrom> kReadFroms[] = {
    {"master", ReadFrom::kMaster},
    {"prefer-replica", ReadFrom::kPreferReplica},
    {"replica", ReadFrom::kReplica},
};
constexpr uint64_t kMaxServerWeight = 10000;
constexpr size_t kMaxStaticServers = 4096;  // well below router::KeyPlacement::kMaxServers
constexpr size_t kMaxRoutes = 1024;
constexpr std::string_view kOnePoolKind = "needs exactly one of cluster, static, sentinel";

constexpr EnumName<bool> kBools[] = {{"false", false}, {"true", true}};
constexpr EnumName<AcceptMode> kAcceptModes[] = {
    {"handoff", AcceptMode::kHandoff},
    {"reuseport", AcceptMode::kReuseport},
};

// ---------------------------------------------------------------------------------------------
// The tables. YAML keys and ranges; defaults live in proxy_config.h.

const Fields<ClusterConfig>& clusterFields() {
  using C = ClusterConfig;
  static const Fields<C> kFields = {
      addressList("seeds", &C::seeds, 0),  // required unless static or sentinel is used
      millis("refresh_interval_ms", &C::refresh_interval, 100, kDayMs),
      millis("min_refresh_interval_ms", &C::min_refresh_interval, 0, kHourMs),
      count("redirect_refresh_threshold", &C::redirect_refresh_threshold, 1, 1000000),
      count("failure_refresh_threshold", &C::failure_refresh_threshold, 1, 1000000),
      millis("query_timeout_ms", &C::query_timeout, 10, kMinuteMs),
  };
  return kFields;
}

// twemproxy's hash_tag: "" or exactly two characters.
Field<PlacementConfig> hashTag() {
  Field<PlacementConfig> field = secret("hash_tag", &PlacementConfig::hash_tag);
  field.check = [](const PlacementConfig& cfg, const std::string& path, Errors& errors) {
    if (!cfg.hash_tag.empty() && cfg.hash_tag.size() != 2) {
      addError(errors, path, "must be empty or two characters, e.g. \"{}\"");
    }
  };
  return field;
}

const Fields<PlacementConfig>& placementFields() {
  using C = PlacementConfig;
  static const Fields<C> kFields = {
      named("hash", &C::hash, router::parseHashKind, router::hashKindName,
            "one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, "
            "hsieh, murmur, jenkins"),
      named("distribution", &C::distribution, router::parseDistribution, router::distributionName,
            "ketama, modula, random"),
      hashTag(),
  };
  return kFields;
}

// twemproxy's server line, parsed from the end as twemproxy does: "host:port:weight [name]".
Result<StaticServer> parseStaticServer(std::string_view text) {
  StaticServer server;
  std::string_view rest = text;
  if (const size_t space = rest.rfind(' '); space != std::string_view::npos) {
    server.name = std::string(rest.substr(space + 1));
    rest = rest.substr(0, space);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    if (server.name.empty())
      return Result<StaticServer>::error(strCat("empty name in '", text, "'"));
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    return Result<StaticServer>::error(
        strCat("expected \"host:port:weight [name]\", got '", text, "'"));
  }
  if (rest.substr(0, colon).find(':') == std::string_view::npos) {
    return Result<StaticServer>::error(
        strCat("missing weight: expected \"host:port:weight [name]\" (twemproxy's format), got '",
               text, "'"));
  }
  auto weight = parseUnsigned(rest.substr(colon + 1));
  if (!weight || *weight == 0 || *weight > kMaxServerWeight) {
    return Result<StaticServer>::error(strCat("invalid weight '", rest.substr(colon + 1), "' in '",
                                              text, "' (1..", kMaxServerWeight, ")"));
  }
  server.weight = static_cast<uint32_t>(*weight);
  auto address = parseHostPort(rest.substr(0, colon));
  if (!address) return Result<StaticServer>::error(strCat(address.error(), " in '", text, "'"));
  server.address = std::move(address).value();
  return server;
}

std::string formatStaticServer(const StaticServer& s) {
  return strCat(s.address.toString(), ":", s.weight, s.name.empty() ? "" : " ", s.name);
}

void checkStaticServers(const std::vector<StaticServer>& servers, const std::string& path,
                        Errors& errors) {
  if (servers.size() > kMaxStaticServers) {
    addError(errors, path, strCat("at most ", kMaxStaticServers, " servers"));
  }
  for (size_t i = 0; i < servers.size(); ++i) {
    const StaticServer& s = servers[i];
    checkAddress(s.address, indexPath(path, i), errors);
    for (size_t j = 0; j < i; ++j) {
      if (servers[j].address == s.address) {
        addError(errors, indexPath(path, i), strCat("duplicate address of ", indexPath(path, j)));
      }
      if (!s.name.empty() && servers[j].name == s.name) {
        addError(errors, indexPath(path, i), strCat("duplicate name of ", indexPath(path, j)));
      }
    }
  }
}

Field<StaticConfig> staticServers() {
  using C = StaticConfig;
  auto parse = [](const YAML::Node& node, const std::string& path, C& cfg, Errors& errors) {
    if (!node.IsSequence()) {
      return addError(
          errors, path,
          strCat("expected a sequence of \"host:port:weight [name]\" strings, got ", kindOf(node)));
    }
    std::vector<StaticServer> list;
    const size_t errors_before = errors.size();
    for (size_t i = 0; i < node.size(); ++i) {
      auto text = scalarText(node[i], indexPath(path, i), "a string", errors);
      if (!text) continue;
      auto server = parseStaticServer(*text);
      if (server) {
        list.push_back(std::move(server).value());
      } else {
        addError(errors, indexPath(path, i), server.error());
      }
    }
    if (errors.size() == errors_before) cfg.servers = std::move(list);
  };
  auto check = [](const C& cfg, const std::string& path, Errors& errors) {
    checkStaticServers(cfg.servers, path, errors);
  };
  auto show = [](const C& cfg) {
    std::string out;
    for (const StaticServer& s : cfg.servers) {
      out += (out.empty() ? "" : ", ") + quotedString(formatStaticServer(s));
    }
    return "[" + out + "]";
  };
  return leaf<C>("servers", parse, check, show);
}

const Fields<StaticConfig>& staticFields() {
  using C = StaticConfig;
  static const Fields<C> kFields =
      concat(flattened(&C::placement, placementFields()),
             {
                 staticServers(),
                 choice("auto_eject_hosts", &C::auto_eject_hosts, kBools),
                 millis("server_retry_timeout_ms", &C::server_retry_timeout, 1, kDayMs),
                 count("server_failure_limit", &C::server_failure_limit, 1, 1000000),
             });
  return kFields;
}

const Fields<SentinelConfig>& sentinelFields() {
  using C = SentinelConfig;
  static const Fields<C> kFields = concat(
      Fields<C>{
          addressList("sentinels", &C::sentinels, 0),
          nameList("masters", &C::masters),
          secret("username", &C::username),
          secret("password", &C::password),
      },
      concat(flattened(&C::placement, placementFields()),
             {
                 millis("poll_interval_ms", &C::poll_interval, 10, kHourMs),
                 millis("query_timeout_ms", &C::query_timeout, 10, kMinuteMs),
                 millis("failover_pause_ms", &C::failover_pause, 0, kMinuteMs),
             }));
  return kFields;
}

// One entry of `pools:`. Its name is the mapping key, not a field (poolsField).
const Fields<PoolConfig>& poolFields() {
  using C = PoolConfig;
  static const Fields<C> kFields = {
      section("cluster", &C::cluster, clusterFields),
      section("static", &C::static_servers, staticFields),
      section("sentinel", &C::sentinel, sentinelFields),
  };
  return kFields;
}

// A pool's backend kind is given by its address list, as at the top level (checkBackendKind).
int backendKinds(const PoolConfig& pool) {
  return static_cast<int>(!pool.cluster.seeds.empty()) +
         static_cast<int>(pool.static_servers.enabled()) +
         static_cast<int>(pool.sentinel.enabled());
}

bool isPoolNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// The address list that makes a section of a pool its backend kind.
struct KindList {
  std::string_view kind;
  std::string_view list;
  std::string_view missing;
};
constexpr KindList kKindLists[] = {
    {"cluster", "seeds", "must list at least 1 host:port address"},
    {"static", "servers", "must list at least 1 \"host:port:weight [name]\" server"},
    {"sentinel", "sentinels", "must list at least 1 host:port address"},
};

// The kind of a pool is the one section written under it, counted by key rather than by content:
// a second section that sets no address (`static: {hash: murmur}` beside `cluster:`) would
// otherwise be ignored without a word. `parsed`: the pool had no parse error, so an empty list
// is really missing (not a list whose elements were refused).
void checkPoolKindKeys(const YAML::Node& node, const PoolConfig& pool, const std::string& path,
                       bool parsed, Errors& errors) {
  std::vector<const KindList*> present;
  for (const KindList& kind : kKindLists) {
    if (node.IsMap() && node[std::string(kind.kind)].IsDefined()) present.push_back(&kind);
  }
  if (present.size() != 1) return addError(errors, path, kOnePoolKind);
  if (parsed && backendKinds(pool) == 0) {
    addError(errors, childPath(childPath(path, present[0]->kind), present[0]->list),
             present[0]->missing);
  }
}

// pools: {<name>: {cluster|static|sentinel: ...}, ...}, kept in file order. One leaf key: the
// sections of a pool are those of the top level, documented (and listed) there.
Field<ProxyConfig> poolsField() {
  using C = ProxyConfig;
  auto parse = [](const YAML::Node& node, const std::string& path, C& cfg, Errors& errors) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      return addError(errors, path,
                      strCat("expected a mapping of pool names to pools, got ", kindOf(node)));
    }
    std::vector<PoolConfig> pools;
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        addError(errors, path, "mapping keys must be plain strings");
        continue;
      }
      PoolConfig pool;
      pool.name = entry.first.Scalar();
      const std::string pool_path = childPath(path, pool.name);
      if (!seen.insert(pool.name).second) {
        addError(errors, pool_path, "duplicate key");
        continue;
      }
      const size_t errors_before = errors.size();
      parseMapping(entry.second, pool_path, poolFields(), pool, errors);
      if (entry.second.IsMap() || entry.second.IsNull()) {
        checkPoolKindKeys(entry.second, pool, pool_path, errors.size() == errors_before, errors);
      }
      pools.push_back(std::move(pool));
    }
    cfg.pools = std::move(pools);
  };
  auto check = [](const C& cfg, const std::string& path, Errors& errors) {
    for (size_t i = 0; i < cfg.pools.size(); ++i) {
      const PoolConfig& pool = cfg.pools[i];
      const std::string pool_path = childPath(path, pool.name);
      if (pool.name.empty() || !std::all_of(pool.name.begin(), pool.name.end(), isPoolNameChar)) {
        addError(errors, pool_path, "invalid pool name (expected [A-Za-z0-9_.-]+)");
      }
      const auto current = cfg.pools.begin() + static_cast<std::ptrdiff_t>(i);
      if (std::any_of(cfg.pools.begin(), current,
                      [&](const PoolConfig& p) { return p.name == pool.name; })) {
        addError(errors, pool_path, "duplicate pool name");
      }
      checkFields(poolFields(), pool, pool_path, errors);
    }
  };
  // A pool prints each section that differs from its defaults: a config the loader built has
  // exactly one (its kind), and any other config reads back as an error, never as another config.
  auto show = [](const C& cfg) {
    std::string out;
    for (const PoolConfig& pool : cfg.pools) {
      std::string sections;
      auto add = [&sections](std::string_view key, const std::string& flow) {
        sections += strCat(sections.empty() ? "" : ", ", key, ": ", flow);
      };
      if (!(pool.cluster == ClusterConfig{})) {
        add("cluster", flowMapping(clusterFields(), pool.cluster));
      }
      if (!(pool.static_servers == StaticConfig{})) {
        add("static", flowMapping(staticFields(), pool.static_servers));
      }
      if (!(pool.sentinel == SentinelConfig{})) {
        add("sentinel", flowMapping(sentinelFields(), pool.sentinel));
      }
      out += strCat(out.empty() ? "" : ", ", quotedString(pool.name), ": {", sections, "}");
    }
    return "{" + out + "}";
  };
  return leaf<C>("pools", parse, check, show);
}

// migration.source: the source deployment, exactly one of its three keys (checkMigration).
const Fields<MigrationConfig>& migrationSourceFields() {
  using C = MigrationConfig;
  static const Fields<C> kFields = {
      section("static", &C::static_servers, staticFields),
      section("sentinel", &C::sentinel, sentinelFields),
      addressList("servers", &C::servers, 0),
  };
  return kFields;
}

const Fields<MigrationConfig>& migrationFields() {
  using C = MigrationConfig;
  static const Fields<C> kFields = {
      group("source", migrationSourceFields),
      count("rate_keys_per_s", &C::rate_keys_per_s, 0, 10000000),
      count("batch_keys", &C::batch_keys, 1, 10000),
      millis("max_block_ms", &C::max_block, 1, kMinuteMs),
      millis("migrate_timeout_ms", &C::migrate_timeout, 100, kHourMs),
      count("moved_key_cache", &C::moved_key_cache, 0, 10000000),
      secret("source_username", &C::source_username),
      secret("source_password", &C::source_password),
  };
  return kFields;
}

// TLS protocol versions a config may name as the minimum.
constexpr EnumName<TlsVersion> kTlsVersions[] = {{"TLSv1.2", TlsVersion::kTls12},
                                                 {"TLSv1.3", TlsVersion::kTls13}};

const Fields<TlsCommon>& tlsCommonFields() {
  using C = TlsCommon;
  static const Fields<C> kFields = {
      secret("cert_file", &C::cert_file), secret("key_file", &C::key_file),
      secret("ca_file", &C::ca_file),     choice("min_version", &C::min_version, kTlsVersions),
      secret("ciphers", &C::ciphers),     secret("ciphersuites", &C::ciphersuites),
  };
  return kFields;
}

const Fields<TlsListenConfig>& tlsListenFields() {
  using C = TlsListenConfig;
  static const Fields<C> kFields = concat(
      Fields<C>{
          optionalAddress("listen", &C::listen),
          millis("handshake_timeout_ms", &C::handshake_timeout, 1, 10 * kMinuteMs),
      },
      flattened(&C::files, tlsCommonFields()));
  return kFields;
}

const Fields<BackendTlsConfig>& backendTlsFields() {
  using C = BackendTlsConfig;
  static const Fields<C> kFields = concat(
      Fields<C>{
          choice("enabled", &C::enabled, kBools),
          secret("server_name", &C::server_name),
          choice("verify", &C::verify, kBools),
      },
      flattened(&C::files, tlsCommonFields()));
  return kFields;
}

const Fields<BackendConfig>& backendFields() {
  using C = BackendConfig;
  static const Fields<C> kFields = {
      count("connections_per_node", &C::connections_per_node, 1, 64),
      millis("connect_timeout_ms", &C::connect_timeout, 1, kMinuteMs),
      millis("request_timeout_ms", &C::request_timeout, 0, kHourMs),
      count("max_redirects", &C::max_redirects, 0, 16),
      count("tryagain_retries", &C::tryagain_retries, 0, 100),
      millis("tryagain_backoff_ms", &C::tryagain_backoff, 0, 10 * kSecondMs),
      millis("retry_deadline_ms", &C::retry_deadline, 0, 10 * kMinuteMs),
      count("max_dedicated_connections", &C::max_dedicated_connections, 1, 100000),
      secret("username", &C::username),
      secret("password", &C::password),
      choice("read_from", &C::read_from, kReadFroms),
      millis("replica_max_lag_ms", &C::replica_max_lag, 0, kHourMs),
      section("tls", &C::tls, backendTlsFields),
  };
  return kFields;
}

const Fields<LimitsConfig>& limitsFields() {
  using C = LimitsConfig;
  static const Fields<C> kFields = {
      count("max_clients", &C::max_clients, 1, 1000000),
      count("max_args", &C::max_args, 1, kGb),
      bytes("max_bulk_length", &C::max_bulk_length, 1, 16 * kGb),
      bytes("max_inline_length", &C::max_inline_length, 1, 64 * kMb),
      bytes("max_request_bytes", &C::max_request_bytes, 1, 16 * kGb),
      bytes("max_pipelined_bytes", &C::max_pipelined_bytes, 1, 64 * kGb),
      count("max_pending_requests", &C::max_pending_requests, 1, 1000000),
      bytes("max_output_bytes", &C::max_output_bytes, 1, 64 * kGb),
      millis("client_idle_timeout_ms", &C::client_idle_timeout, 0, 30 * kDayMs),
  };
  return kFields;
}

// A string that must not be empty (user names, passwords of named users).
template <typename Cfg>
Field<Cfg> required(std::string_view key, std::string Cfg::*member) {
  Field<Cfg> field = secret(key, member);
  field.check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    if ((cfg.*member).empty()) addError(errors, path, "must not be empty");
  };
  return field;
}

const Fields<UserConfig>& userFields() {
  using C = UserConfig;
  static const Fields<C> kFields = {
      required("name", &C::name),
      required("password", &C::password),
      secret("backend_username", &C::backend_username),
      secret("backend_password", &C::backend_password),
  };
  return kFields;
}

// A routes entry: exactly these two keys (anything else is an unknown key).
const Fields<RouteConfig>& routeFields() {
  static const Fields<RouteConfig> kFields = {
      required("prefix", &RouteConfig::prefix),
      required("pool", &RouteConfig::pool),
  };
  return kFields;
}

const Fields<SlowlogConfig>& slowlogFields() {
  using C = SlowlogConfig;
  static const Fields<C> kFields = {
      count("threshold_us", &C::threshold_us, 0, 3600ull * 1000 * 1000),
      count("max_len", &C::max_len, 0, 100000),
      choice("log_args", &C::log_args, kBools),
  };
  return kFields;
}

const Fields<AuthConfig>& authFields() {
  static const Fields<AuthConfig> kFields = {
      secret("password", &AuthConfig::password),
      mappingList("users", &AuthConfig::users, userFields),
      count("max_failures", &AuthConfig::max_failures, 1, 1000),
  };
  return kFields;
}

const Fields<AdminConfig>& adminFields() {
  static const Fields<AdminConfig> kFields = {
      optionalAddress("listen", &AdminConfig::listen),
      secret("token", &AdminConfig::token),
  };
  return kFields;
}

const Fields<LogConfig>& logFields() {
  static const Fields<LogConfig> kFields = {
      choice("level", &LogConfig::level, kLogLevels),
  };
  return kFields;
}

const Fields<ProxyConfig>& rootFields() {
  using C = ProxyConfig;
  static const Fields<C> kFields = {
      optionalAddress("listen", &C::listen),
      count("workers", &C::workers, 0, 256),
      choice("accept_mode", &C::accept_mode, kAcceptModes),
      count("tcp_backlog", &C::tcp_backlog, 1, 65535),
      optionalAddress("advertise", &C::advertise),
      choice("allow_admin_commands", &C::allow_admin_commands, kBools),
      section("cluster", &C::cluster, clusterFields),
      section("static", &C::static_servers, staticFields),
      section("sentinel", &C::sentinel, sentinelFields),
      poolsField(),
      mappingList("routes", &C::routes, routeFields),
      secret("default_pool", &C::default_pool),
      section("migration", &C::migration, migrationFields),
      section("backend", &C::backend, backendFields),
      section("limits", &C::limits, limitsFields),
      section("auth", &C::auth, authFields),
      section("tls", &C::tls, tlsListenFields),
      section("admin", &C::admin, adminFields),
      section("slowlog", &C::slowlog, slowlogFields),
      section("log", &C::log, logFields),
  };
  return kFields;
}

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

std::string_view logLevelName(LogLevel level) {
  return nameOf(std::span<const EnumName<LogLevel>>(kLogLevels), level);
}

std::optional<LogLevel> parseLogLevel(std::string_view name) {
  return valueOf(std::span<const EnumName<LogLevel>>(kLogLevels), name);
}

std::string_view acceptModeName(AcceptMode mode) {
  return nameOf(std::span<const EnumName<AcceptMode>>(kAcceptModes), mode);
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
