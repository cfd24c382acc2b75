// The YAML binding tables of ProxyConfig: one line per key (see config_loader.cc for how they are
// used) and the enum spellings.
#include "config/config_fields.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/str_cat.h"

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
      millis("script_timeout_ms", &C::script_timeout, 0, kHourMs),
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

const Fields<ObserveConfig>& observeFields() {
  using C = ObserveConfig;
  static const Fields<C> kFields = {
      choice("hot_keys", &C::hot_keys, kBools),
      count("hot_key_capacity", &C::hot_key_capacity, 16, 65536),
      count("hot_key_sample", &C::hot_key_sample, 1, 1024),
      count("hot_key_threshold_per_s", &C::hot_key_threshold_per_s, 0, 1000000000),
      count("hot_key_metric_top_n", &C::hot_key_metric_top_n, 0, 100),
      count("big_value_bytes", &C::big_value_bytes, 0, 1ull << 40),
      count("big_keys", &C::big_keys, 1, 1000),
      count("max_key_bytes", &C::max_key_bytes, 16, 4096),
      choice("redact_keys", &C::redact_keys, kBools),
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

}  // namespace

using namespace binding;

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
      section("observe", &C::observe, observeFields),
      section("log", &C::log, logFields),
  };
  return kFields;
}

// A pool's backend kind is given by its address list, as at the top level (checkBackendKind).
int backendKinds(const PoolConfig& pool) {
  return static_cast<int>(!pool.cluster.seeds.empty()) +
         static_cast<int>(pool.static_servers.enabled()) +
         static_cast<int>(pool.sentinel.enabled());
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

}  // namespace slotwise::config
