// Plain configuration structs. yaml-cpp types never escape config_loader.cc.
// Every field has a safe default; deploy/examples/slotwise.yaml documents each key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/host_port.h"
#include "router/hash_ring.h"

namespace slotwise::config {

using Millis = std::chrono::milliseconds;

// A configured address. toString() gives "host:port", or "[v6addr]:port" when the host is an IPv6
// literal, so the result parses back (see common/host_port.h).
using HostPort = ::slotwise::HostPort;

enum class AcceptMode { kHandoff, kReuseport };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };
// Where read-only commands go: the slot's master, a replica when one is up (else the master), or
// a replica only (an error when none is up).
enum class ReadFrom { kMaster, kPreferReplica, kReplica };
enum class TlsVersion { kTls12, kTls13 };

struct ClusterConfig {                                  // YAML key: cluster
  std::vector<HostPort> seeds;                          // seeds (required, >= 1)
  Millis refresh_interval{10000};                       // refresh_interval_ms: periodic CLUSTER SLOTS
  Millis min_refresh_interval{200};                     // min_refresh_interval_ms: between triggered refreshes
  uint32_t redirect_refresh_threshold = 1;              // redirect_refresh_threshold: MOVED seen before a refresh
  uint32_t failure_refresh_threshold = 1;               // failure_refresh_threshold: backend failures before a refresh
  Millis query_timeout{2000};                           // query_timeout_ms: one CLUSTER SLOTS query
  bool operator==(const ClusterConfig&) const = default;
};

// Key placement over servers (or Sentinel groups), twemproxy-compatible (router/hash_ring.h).
struct PlacementConfig {
  router::HashKind hash = router::HashKind::kFnv1a_64;  // hash: twemproxy's names
  router::Distribution distribution =
      router::Distribution::kKetama;  // distribution: ketama|modula|random
  std::string hash_tag;               // hash_tag: "" or two characters, e.g. "{}"
  bool operator==(const PlacementConfig&) const = default;
};

// One server of a static pool: twemproxy's "host:port:weight [name]".
struct StaticServer {
  HostPort address;
  uint32_t weight = 1;
  std::string name;  // "" = twemproxy's default (router::ringName)
  bool operator==(const StaticServer&) const = default;
};

struct StaticConfig {                  // YAML key: static (twemproxy-style sharding)
  PlacementConfig placement;           // hash, distribution, hash_tag (flattened)
  std::vector<StaticServer> servers;   // servers: "host:port:weight [name]" (>= 1)
  bool auto_eject_hosts = false;       // auto_eject_hosts: take failing servers out of the ring
  Millis server_retry_timeout{30000};  // server_retry_timeout_ms: an ejected server's time out
  uint32_t server_failure_limit = 2;   // server_failure_limit: failures in a row that eject
  bool enabled() const { return !servers.empty(); }
  bool operator==(const StaticConfig&) const = default;
};

struct SentinelConfig {              // YAML key: sentinel (Sentinel-managed groups)
  std::vector<HostPort> sentinels;   // sentinels: "host:port" of the sentinels (>= 1)
  std::vector<std::string> masters;  // masters: master names; several = groups sharded by placement
  std::string username;              // username: ACL user for the sentinels ("" = default)
  std::string password;              // password: the sentinels' password ("" = none)
  PlacementConfig placement;         // hash, distribution, hash_tag over the groups (flattened)
  Millis poll_interval{1000};        // poll_interval_ms: sentinels asked at least this often
  Millis query_timeout{1000};        // query_timeout_ms: one sentinel or ROLE query
  Millis failover_pause{5000};       // failover_pause_ms: writes held while a replica is promoted
  bool enabled() const { return !sentinels.empty(); }
  bool operator==(const SentinelConfig&) const = default;
};

// One named pool of `pools:` (several deployments behind one endpoint, routed by key prefix):
// exactly one of cluster, static, sentinel, with the same keys as the top-level sections.
struct PoolConfig {                    // YAML: pools: { <name>: { cluster|static|sentinel: ... } }
  std::string name;                    // the map key; [A-Za-z0-9_.-]+, unique
  ClusterConfig cluster;               // cluster: (seeds, refresh intervals, ...)
  StaticConfig static_servers;         // static: (twemproxy server lines, hash, ...)
  SentinelConfig sentinel;             // sentinel: (sentinels, masters, ...)
  bool operator==(const PoolConfig&) const = default;
};

// routes: [{prefix: "user:", pool: legacy}, ...]: a key goes to the pool of the longest prefix
// it starts with (byte-wise, case-sensitive), else to default_pool.
struct RouteConfig {
  std::string prefix;  // prefix: not empty, unique among the routes
  std::string pool;    // pool: a name under pools
  bool operator==(const RouteConfig&) const = default;
};

// Online migration of a live keyspace from a source deployment into the Redis Cluster the proxy
// serves (the target: `cluster`, or the cluster pool that is default_pool). The YAML `source:`
// mapping holds exactly one of static, sentinel, servers, with the keys of the top-level sections
// of the same names (servers: standalone "host:port"s, every key looked up in each). With no
// source set (every field at its default) there is no migration.
struct MigrationConfig {              // YAML key: migration
  StaticConfig static_servers;        // source.static: twemproxy-style shards (>= 1 server)
  SentinelConfig sentinel;            // source.sentinel: Sentinel-managed groups
  std::vector<HostPort> servers;      // source.servers: standalone "host:port"s
  uint32_t rate_keys_per_s = 0;       // rate_keys_per_s: background mover (0 = as fast as possible)
  uint32_t batch_keys = 100;          // batch_keys: keys per SCAN COUNT / per MIGRATE, 1..10000
  Millis max_block{50};               // max_block_ms: target time one MIGRATE may block the source
  Millis migrate_timeout{5000};       // migrate_timeout_ms: MIGRATE's timeout argument
  uint32_t moved_key_cache = 100000;  // moved_key_cache: keys remembered as moved, per worker
  std::string source_username;        // source_username: ACL user on the source ("" = default)
  std::string source_password;        // source_password: AUTH on the source ("" = none)
  bool enabled() const {
    return static_servers.enabled() || sentinel.enabled() || !servers.empty();
  }
  bool operator==(const MigrationConfig&) const = default;
};

// TLS settings shared by both sides (OpenSSL names; proxy/io/tls.h builds the SSL_CTX).
struct TlsCommon {
  std::string cert_file;                        // cert_file: PEM certificate (chain)
  std::string key_file;                         // key_file: PEM private key
  std::string ca_file;                          // ca_file: PEM CA bundle to verify the peer
  TlsVersion min_version = TlsVersion::kTls12;  // min_version: TLSv1.2|TLSv1.3
  std::string ciphers;       // ciphers: TLS 1.2 cipher list ("" = OpenSSL's default)
  std::string ciphersuites;  // ciphersuites: TLS 1.3 suites ("" = OpenSSL's default)
  bool operator==(const TlsCommon&) const = default;
};

// Client-facing TLS (YAML key: tls). With ca_file set, clients must present a certificate that
// verifies against it (mutual TLS).
struct TlsListenConfig {
  HostPort listen;                  // listen: TLS port for clients ("" = none)
  TlsCommon files;                  // cert_file, key_file (required), ca_file, ... (flattened)
  Millis handshake_timeout{10000};  // handshake_timeout_ms: a client that does not finish is closed
  bool enabled() const { return listen.port != 0; }
  bool operator==(const TlsListenConfig&) const = default;
};

// TLS on every connection to nodes and sentinels (YAML key: backend.tls).
struct BackendTlsConfig {
  bool enabled = false;  // enabled
  TlsCommon files;       // ca_file, cert_file/key_file (client certificate), ... (flattened)
  std::string
      server_name;     // server_name: SNI and the name the certificate must carry ("" = chain only)
  bool verify = true;  // verify: check the node's certificate chain against ca_file
  bool operator==(const BackendTlsConfig&) const = default;
};

struct BackendConfig {                                  // YAML key: backend
  uint32_t connections_per_node = 1;                    // connections_per_node (per worker), 1..64
  Millis connect_timeout{1000};                         // connect_timeout_ms
  Millis request_timeout{5000};                         // request_timeout_ms (0 = none)
  uint32_t max_redirects = 5;                           // max_redirects per request
  uint32_t tryagain_retries = 5;                        // tryagain_retries
  Millis tryagain_backoff{20};                          // tryagain_backoff_ms (doubles per retry)
  Millis retry_deadline{3000};                          // retry_deadline_ms: unsent requests retried until then
  uint32_t max_dedicated_connections = 1024;            // max_dedicated_connections (per worker): blocking commands, transactions
  std::string username;                                 // username: ACL user for AUTH on every node connection ("" = default user)
  std::string password;                                 // password: sent with AUTH on every node connection ("" = no AUTH)
  ReadFrom read_from = ReadFrom::kMaster;               // read_from: master|prefer-replica|replica (read-only commands)
  Millis replica_max_lag{10000};                        // replica_max_lag_ms: replicas whose last ACK is older serve no reads
  BackendTlsConfig tls;                                 // tls: TLS to the nodes and sentinels
  // script_timeout_ms: reply timeout of EVAL/EVALSHA/FCALL (0 = none). Scripts run on their own
  // connection per node, so a long script only delays other scripts.
  Millis script_timeout{60000};
  bool operator==(const BackendConfig&) const = default;
};

struct LimitsConfig {                                   // YAML key: limits
  uint32_t max_clients = 10000;                         // max_clients
  uint32_t max_args = 1024 * 1024;                      // max_args (per multibulk request)
  uint64_t max_bulk_length = 512ull * 1024 * 1024;      // max_bulk_length (bytes of one argument)
  uint32_t max_inline_length = 64 * 1024;               // max_inline_length (bytes of one inline command)
  uint64_t max_request_bytes = 512ull * 1024 * 1024;    // max_request_bytes (one whole request frame)
  uint64_t max_pipelined_bytes = 1024ull * 1024 * 1024; // max_pipelined_bytes (unparsed input per client)
  uint32_t max_pending_requests = 4096;                 // max_pending_requests: stop reading above, resume below half
  uint64_t max_output_bytes = 64ull * 1024 * 1024;      // max_output_bytes: stop reading above, resume below half
  Millis client_idle_timeout{0};                        // client_idle_timeout_ms (0 = never)
  bool operator==(const LimitsConfig&) const = default;
};

// One client identity of the proxy (YAML: an element of auth.users). A client that logs in as
// `name` has its commands sent over node connections authenticated as backend_username /
// backend_password; empty backend fields mean the backend section's username / password.
struct UserConfig {
  std::string name;                                     // name: the user name clients send in AUTH / HELLO AUTH
  std::string password;                                 // password
  std::string backend_username;                         // backend_username: ACL user on the nodes ("" = backend.username)
  std::string backend_password;                         // backend_password ("" = backend.password)
  bool operator==(const UserConfig&) const = default;
};

struct AuthConfig {                                     // YAML key: auth (clients of the proxy)
  std::string password;                                 // password: clients must AUTH with it first ("" = open)
  std::vector<UserConfig> users;                        // users: named users (AUTH name pass); with password, "default"
  uint32_t max_failures = 5;                            // max_failures: wrong AUTHs before the connection is closed
  bool required() const { return !password.empty() || !users.empty(); }
  bool operator==(const AuthConfig&) const = default;
};

struct AdminConfig {                                    // YAML key: admin (absent = no admin listener)
  HostPort listen;                                      // listen: "host:port" of /metrics, /healthz, /readyz, /api/*
  std::string token;                                    // token: bearer token for everything but /healthz, /readyz ("" = none)
  bool enabled() const { return listen.port != 0; }
  bool operator==(const AdminConfig&) const = default;
};

struct SlowlogConfig {                                  // YAML key: slowlog
  uint64_t threshold_us = 10000;                        // threshold_us: requests slower than this are logged
  uint32_t max_len = 128;                               // max_len: entries kept per worker (0 = slow log off)
  bool log_args = false;                                // log_args: keep arguments (keys, values) in entries
  bool operator==(const SlowlogConfig&) const = default;
};

// YAML key: observe (hot keys, big keys; proxy/stats/key_watch.h).
struct ObserveConfig {
  // hot_keys: count requests per key (Space-Saving top-K per worker).
  bool hot_keys = true;
  // hot_key_capacity: counters per worker, 16..65536 (the memory bound).
  uint32_t hot_key_capacity = 256;
  // hot_key_sample: count one key in N, drawn at random (a power of two, 1..1024; 1 = every
  // key); counts are scaled back by N.
  uint32_t hot_key_sample = 8;
  // hot_key_threshold_per_s: log a key requested more often than this per second (0 = never).
  uint64_t hot_key_threshold_per_s = 0;
  // hot_key_metric_top_n: export the top N keys as a gauge family (0 = off).
  uint32_t hot_key_metric_top_n = 0;
  // big_value_bytes: requests and replies this large are counted and listed (0 = off).
  uint64_t big_value_bytes = 1048576;
  // big_keys: largest keys kept per worker for /api/bigkeys.
  uint32_t big_keys = 32;
  // max_key_bytes: key names longer than this are cut in the tables.
  uint32_t max_key_bytes = 128;
  // redact_keys: show "sha256:<hex>" instead of key names.
  bool redact_keys = false;
  bool operator==(const ObserveConfig&) const = default;
};

struct LogConfig {                                      // YAML key: log
  LogLevel level = LogLevel::kInfo;                     // level: trace|debug|info|warn|error|off
  bool operator==(const LogConfig&) const = default;
};

struct ProxyConfig {
  HostPort listen{"127.0.0.1",
                  6380};  // listen: "host:port" (omitted or "" with tls.listen: TLS only)
  TlsListenConfig tls;    // tls: encrypted client connections
  uint32_t workers = 0;                                 // workers (0 = number of CPU cores), 0..256
  AcceptMode accept_mode = AcceptMode::kHandoff;        // accept_mode: handoff|reuseport
  uint32_t tcp_backlog = 511;                           // tcp_backlog
  HostPort advertise;                                   // advertise: address named in CLUSTER SLOTS/NODES ("" = listen)
  bool allow_admin_commands = false;                    // allow_admin_commands: CONFIG SET/RESETSTAT to every master
  ClusterConfig cluster;                                // exactly one of cluster, static, sentinel, pools
  StaticConfig static_servers;                          // YAML key: static
  SentinelConfig sentinel;
  std::vector<PoolConfig> pools;                        // pools: named deployments (in file order)
  std::vector<RouteConfig> routes;                      // routes: key prefix -> pool (with pools only)
  std::string default_pool;                             // default_pool: keys no route takes (required with pools)
  MigrationConfig migration;                            // migration: a source moved into the cluster
  BackendConfig backend;
  LimitsConfig limits;
  AuthConfig auth;
  AdminConfig admin;
  SlowlogConfig slowlog;
  ObserveConfig observe;
  LogConfig log;
  bool operator==(const ProxyConfig&) const = default;
};

}  // namespace slotwise::config
