// Real-Redis test harness: launches redis-server processes (single nodes or a whole cluster) and
// the built proxy binary on loopback ports, and talks to them with a small blocking client.
// Integration tests only; unit tests use the fakes next to this file.
//
// Process hygiene: every child is started with fork+exec, recorded in a process-wide registry
// and stopped by PID by its owner's destructor. The registry also SIGKILLs survivors at exit()
// and on fatal signals (SIGSEGV, SIGABRT, SIGTERM, SIGINT, ...). Children spawned from the main
// thread additionally get PR_SET_PDEATHSIG=SIGKILL, so even a SIGKILLed test binary leaves no
// redis-server behind. Environment: SLOTWISE_KEEP_TMP=1 keeps temporary directories (logs,
// nodes.conf) for debugging; SLOTWISE_BINARY overrides the proxy binary path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resp/value.h"
#include "resp/value_decoder.h"

struct ssl_st;

namespace slotwise::test {

using namespace std::chrono_literals;

// @return true if /usr/bin/redis-server exists and is executable. Tests that need it call
// GTEST_SKIP() with a clear message when this is false.
bool redisServerAvailable();

// @return a loopback port P in [20000, 29999] such that both P and P+10000 (the cluster bus
// port) could be bound at the time of the call. Never returns the same port twice within one
// process. Starts at a random point so parallel test processes rarely collide. Aborts the test
// binary (it cannot work anyway) if no port is free after scanning the whole range.
uint16_t pickFreePort();

// A fresh directory /tmp/<prefix>XXXXXX created with mkdtemp, removed recursively by the
// destructor (kept if SLOTWISE_KEEP_TMP is set). Not copyable.
class TempDir {
 public:
  explicit TempDir(std::string prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute path without a trailing slash; empty if mkdtemp failed. Valid for the object's life.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Blocking RESP client for tests. One TCP connection; replies (RESP2 or RESP3) are decoded with
// resp::ValueDecoder (incremental, so large replies cost O(n)). Not thread-safe. Any I/O error,
// protocol error or timeout closes the connection (the stream position is unknown afterwards)
// and connected() then returns false; the one exception is a readReply() timeout before any
// byte of the reply arrived.
class SyncRedisClient {
 public:
  // TLS settings of a client connection (files in PEM).
  struct TlsOptions {
    std::string ca_file;    // verify the server against it ("" = no verification)
    std::string cert_file;  // client certificate ("" = none)
    std::string key_file;
  };

  SyncRedisClient();  // TLS with testCerts()' client certificate in tlsMode(), else plain
  ~SyncRedisClient();
  SyncRedisClient(const SyncRedisClient&) = delete;
  SyncRedisClient& operator=(const SyncRedisClient&) = delete;

  // Connects (closing any previous connection). @return false on failure or timeout; the reason
  // is in lastError().
  bool connect(const std::string& host, uint16_t port,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  bool connected() const { return fd_ >= 0; }
  // TLS for the next connect() calls (nullopt: plain TCP). A failed handshake fails connect().
  void setTls(std::optional<TlsOptions> tls) { tls_ = std::move(tls); }
  bool usesTls() const { return tls_.has_value(); }

  // Sends one command and reads one reply (waiting up to commandTimeout()). On I/O error,
  // timeout or a protocol error, returns RespValue::error("IOERR <reason>"), which a real server
  // never sends. Redis errors come back as ordinary kError values.
  resp::RespValue command(const std::vector<std::string>& args);

  // Writes bytes verbatim (blocking until all are written or an error). @return false on error.
  bool sendRaw(std::string_view bytes);

  // Reads one reply, first from bytes already buffered. @return nullopt on timeout, connection
  // close or protocol error (see lastError()). RESP3 push messages are returned like replies.
  // A timeout with no partial reply buffered keeps the connection usable.
  std::optional<resp::RespValue> readReply(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

  // Encodes all commands into one buffer, sends it with one write, then reads cmds.size()
  // replies in order. Missing replies (I/O error, timeout) are filled with IOERR errors.
  std::vector<resp::RespValue> pipeline(const std::vector<std::vector<std::string>>& cmds);

  // Waits up to `wait` for the peer to close the connection. Bytes that arrive meanwhile are
  // buffered for readReply. @return true if the peer closed (EOF or reset) within `wait`.
  bool isClosedByPeer(std::chrono::milliseconds wait);

  // Closes the connection and drops buffered bytes. Idempotent.
  void close();

  void setCommandTimeout(std::chrono::milliseconds timeout) { command_timeout_ = timeout; }
  std::chrono::milliseconds commandTimeout() const { return command_timeout_; }
  // Reason of the last failure; valid until the next call on this client.
  const std::string& lastError() const { return last_error_; }

 private:
  // Reads more bytes into rbuf_ until `deadline`. @return 1 on data, 0 on EOF or reset, -1 on
  // another error, -2 on timeout (last_error_ set for -1 and -2). Does not close.
  int fill(std::chrono::steady_clock::time_point deadline);
  void fail(std::string reason);

  // The TLS handshake on the connected fd_ until `deadline`. @return false (last_error_ set).
  bool handshake(std::chrono::steady_clock::time_point deadline);
  // Waits for what the TLS session wants after `ssl_error`. @return false on timeout or failure.
  bool waitTls(int ssl_error, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::optional<TlsOptions> tls_;
  ssl_st* ssl_ = nullptr;  // SSL*, while connected over TLS
  std::string rbuf_;  // received bytes not yet decoded; starts at a reply boundary
  resp::ValueDecoder decoder_;
  std::chrono::milliseconds command_timeout_{5000};
  std::string last_error_;
};

// One redis-server child process (--daemonize no). The destructor stops it (see stop()).
class RedisServerProcess {
 public:
  RedisServerProcess() = default;
  ~RedisServerProcess();
  RedisServerProcess(const RedisServerProcess&) = delete;
  RedisServerProcess& operator=(const RedisServerProcess&) = delete;

  // Starts `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --dir <dir>
  // --daemonize no --logfile <dir>/redis-P.log <extra_args...>` (stdout/stderr go to
  // <dir>/redis-P.out) and waits up to 5s until PING answers PONG. @return false (reason in
  // error(), log tail on stderr) if it exits early or never answers; the child is then stopped.
  // Fails at once if this object's process is still running. `dir` must exist.
  bool start(uint16_t port, const std::string& dir,
             const std::vector<std::string>& extra_args = {});

  // Optional launch settings for later start() calls (a restart keeps them). Defaults: none.
  struct Launch {
    std::string program;            // run instead of /usr/bin/redis-server (e.g. redis-sentinel)
    std::string config_file;        // passed first, before the options above: Redis reads a config
                                    // file only there, and Sentinel needs a writable one
    std::vector<std::string> auth;  // command sent before the readiness PING (AUTH [user] pass)
  };
  void setLaunch(Launch launch) { launch_ = std::move(launch); }

  // SIGTERM, then SIGKILL after 3s; reaps the child. No-op if not running.
  void stop();
  // Sends `sig` to the child (by PID). SIGKILL/SIGTERM/SIGINT also wait (up to 5s) and reap it.
  // Other signals (e.g. SIGSTOP/SIGCONT) only send. No-op if not running.
  void kill(int sig);
  // Reaps the child if it has exited. @return true while the process exists (stopped counts).
  bool running();
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }
  // Path of the redis log file of the last start().
  std::string logPath() const;

 private:
  // Polls PING until PONG (true), the child exits, or the timeout (false, error_ set).
  bool waitForPing(std::chrono::milliseconds timeout);
  // True if the server behind `client` reports our child's pid (not a squatter on the port).
  bool answeredByChild(SyncRedisClient& client);

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
  std::string error_;
  Launch launch_;
};

// A real Redis Cluster of redis-server children in its own TempDir (/tmp/slotwise-it-XXXXXX).
class RedisClusterHarness {
 public:
  struct Options {
    int masters = 3;
    int replicas_per_master = 0;
    int node_timeout_ms = 3000;
    std::vector<std::string> extra_args;  // appended to every node's command line
  };
  struct Node {
    uint16_t port = 0;
    std::string id;
    bool master = false;
    pid_t pid = -1;
    bool running = false;
  };

  RedisClusterHarness();
  ~RedisClusterHarness();  // stops every node by PID, removes the temp dir
  RedisClusterHarness(const RedisClusterHarness&) = delete;
  RedisClusterHarness& operator=(const RedisClusterHarness&) = delete;

  // Starts masters*(1+replicas_per_master) nodes (cluster-enabled, nodes-P.conf, bus port
  // P+10000), CLUSTER MEET, ADDSLOTSRANGE split evenly over the masters, CLUSTER REPLICATE, then
  // polls until every node reports cluster_state:ok, all CLUSTER SLOTS views are identical and
  // every replica's link is up and listed by CLUSTER SLOTS. @return false (message with each
  // node's state in error() and on stderr) on failure, within ~30s. Call once per harness.
  bool start(const Options& options);
  bool start() { return start(Options{}); }
  const std::string& error() const { return error_; }

  // Every started node, in start order, with role/id from CLUSTER NODES of the first live node
  // that answers (ports it does not list keep their last known role) and pid/running from the
  // process table.
  std::vector<Node> nodes();
  // "127.0.0.1:P" for every started node, in start order.
  std::vector<std::string> seedAddresses() const;
  // Port of the slot's owner per CLUSTER SLOTS of the first live master that answers; 0 if none.
  uint16_t masterPortForSlot(uint16_t slot);
  // CRC16 (XMODEM) of the key or of its first non-empty {hashtag}, mod 16384.
  static uint16_t keySlot(std::string_view key);

  // Slot migration building blocks (real ASK/MOVED). Each returns false/-1 on any error reply
  // or unknown port; the reason is in error().
  // CLUSTER SETSLOT <slot> IMPORTING <from-id> on `to`, then MIGRATING <to-id> on `from`.
  bool beginMigration(uint16_t slot, uint16_t from_port, uint16_t to_port);
  // CLUSTER GETKEYSINSLOT <slot> <max_keys> on `from`, then one MIGRATE ... REPLACE KEYS ...
  // @return the number of keys moved (0 when the slot is empty on `from`) or -1.
  int migrateKeys(uint16_t slot, uint16_t from_port, uint16_t to_port, int max_keys);
  // CLUSTER SETSLOT <slot> NODE <to-id> on `to`, `from`, then every other live master. Does not
  // wait for replicas to learn it: call waitForConsistent() when that matters.
  bool finishMigration(uint16_t slot, uint16_t from_port, uint16_t to_port);
  // beginMigration + migrateKeys in batches of 100 until the slot is empty + finishMigration.
  bool moveSlot(uint16_t slot, uint16_t from_port, uint16_t to_port);

  // Sends `sig` to the node (see RedisServerProcess::kill) and drops its cached client.
  // @return false if the port is unknown or the node is not running.
  bool killNode(uint16_t port, int sig = SIGKILL);
  // Starts a stopped node again on the same port with the same nodes-P.conf and waits for PING.
  // Does not wait for the cluster to agree: use waitForConsistent().
  bool restartNode(uint16_t port);
  // CLUSTER FAILOVER [FORCE] on the replica, then waits (up to 20s) until it reports itself as
  // master in ROLE and in its own CLUSTER NODES.
  bool failover(uint16_t replica_port, bool force = false);

  // Calls cond() every 20ms until it returns true or `timeout` passes. @return the last result.
  bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
  // Waits until every running node reports cluster_state:ok and identical CLUSTER SLOTS.
  bool waitForConsistent(std::chrono::milliseconds timeout);

  // A cached connection to the node, reconnected if it was closed. If the connection cannot be
  // made the returned client answers IOERR. The reference is valid for the harness's life.
  // REQUIRES: port is one of this harness's nodes (else a disconnected dummy client is returned).
  SyncRedisClient& client(uint16_t port);
  // The harness's temporary directory (logs, nodes-P.conf).
  const std::string& dir() const;

 private:
  struct NodeProc;
  bool startNode(NodeProc& node);
  bool meetAll();
  bool assignSlots();
  bool attachReplicas();
  bool replicasLinked();
  std::string nodeId(uint16_t port);
  NodeProc* find(uint16_t port);
  // Normalized CLUSTER SLOTS of one node ("start-end:master,replica... "); empty on error.
  std::string slotsView(uint16_t port);
  // One line per node (state, role, link, slots) for failure messages.
  std::string describeState();
  bool allStateOk();
  bool ok(const resp::RespValue& reply, const std::string& what);

  Options options_;
  std::unique_ptr<TempDir> dir_;
  std::vector<std::unique_ptr<NodeProc>> nodes_;
  std::map<uint16_t, std::unique_ptr<SyncRedisClient>> clients_;
  SyncRedisClient dummy_client_;
  std::string error_;
};

// The built proxy binary (SLOTWISE_BINARY) as a child process in its own TempDir.
class ProxyProcess {
 public:
  ProxyProcess();
  ~ProxyProcess();  // stop(SIGTERM), then SIGKILL if still alive after 3s
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Writes `yaml_config` to <tmp>/slotwise.yaml, execs `SLOTWISE_BINARY --config <file>` with
  // stdout/stderr to <tmp>/slotwise.log and waits (<= 10s) until the port in the yaml's
  // `listen: "host:port"` line accepts TCP connections. @return false (reason in error(), log on
  // stderr) if the yaml has no listen port, the binary exits early or never listens.
  bool start(const std::string& yaml_config);
  // Sends `sig` by PID; does not wait (see waitExit). No-op if not started or already reaped.
  void stop(int sig = SIGTERM);
  // Waits up to `timeout` for the child to exit and reaps it. @return its exit code, 128+signal
  // if killed by a signal, or -1 on timeout / never started.
  int waitExit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }
  uint16_t listenPort() const { return listen_port_; }
  // Full contents of slotwise.log (empty if absent).
  std::string log() const;
  // utime+stime of the running child from /proc/<pid>/stat, in seconds; -1 if unavailable.
  double cpuSeconds() const;
  // VmRSS of the running child from /proc/<pid>/status, in KiB; -1 if unavailable.
  long rssKiB() const;
  const std::string& error() const { return error_; }
  const std::string& dir() const;

 private:
  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  uint16_t listen_port_ = 0;
  std::string error_;
};

}  // namespace slotwise::test
