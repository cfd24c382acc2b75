// Commands the proxy answers itself (router ProxyClass kLocal): connection state (PING ECHO QUIT
// SELECT HELLO AUTH RESET CLIENT ...), INFO, and the emulated one-node cluster (CLUSTER SLOTS/
// SHARDS/NODES/INFO/MYID/KEYSLOT, see proxy_info.h). Everything here is synchronous and
// allocation-light; what a command needs to know beyond the calling client comes from a
// LocalEnvironment, asked only by the commands that need it (PING asks nothing).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/local/proxy_info.h"
#include "resp/command.h"

namespace slotwise::proxy {

class SlowlogBook;

// Monotonic milliseconds (steady clock); the time base of LocalClientState::created_ms.
uint64_t localNowMs();

// Numeric host and port of an IPv4 or IPv6 socket address; {"", 0} for any other family.
config::HostPort hostPortOf(const sockaddr_storage& address);

// Per-client state that local commands read or change. Owned by the client's session.
struct LocalClientState {
  uint32_t id = 0;
  uint8_t proto = 2;           // RESP protocol chosen with HELLO (2 or 3)
  std::string name;            // CLIENT SETNAME / HELLO SETNAME
  std::string user = "default";  // the user logged in with AUTH / HELLO AUTH
  std::string lib_name;        // CLIENT SETINFO LIB-NAME
  std::string lib_ver;         // CLIENT SETINFO LIB-VER
  std::string last_command;    // "cmd=" of CLIENT LIST: the last command answered locally
  bool readonly = false;       // READONLY (until READWRITE or RESET): reads prefer replicas
  uint64_t created_ms = localNowMs();
};

// One line of CLIENT LIST / CLIENT INFO. Only `state` and the fields below vary; every other
// field Redis prints is reported with a constant (db=0, zero buffers...).
struct ClientRow {
  const LocalClientState* state = nullptr;  // not null; valid while the row is used
  std::string addr;    // peer "ip:port" ("" if unknown)
  std::string laddr;   // local "ip:port" the client connected to ("" if unknown)
  int64_t fd = -1;
  uint64_t idle_s = 0;  // seconds since the client last sent anything
  bool blocked = false;  // waits for a blocking command's reply (flags=b)
  bool monitor = false;  // MONITOR (flags=O)
  bool pubsub = false;   // in subscriber mode (flags=P, type pubsub)
  int64_t multi = -1;    // commands queued since MULTI (flags=x), -1 outside MULTI
  size_t sub = 0, psub = 0, ssub = 0;  // channels, patterns, shard channels subscribed
};

// What local commands see of the proxy beyond the calling client. Implemented by the session
// (ClientSession::handleLocal) and by fakes in tests. Methods are called synchronously, only
// during runLocalCommand, and only by the commands that need them.
class LocalEnvironment {
 public:
  virtual ~LocalEnvironment() = default;
  // The address the proxy advertises as its own node in CLUSTER replies and INFO.
  virtual config::HostPort advertisedAddress() const = 0;
  // INFO facts; `facts.map` must stay valid until runLocalCommand returns.
  virtual ProxyFacts facts() const = 0;
  // CLUSTER INFO's coverage source: the worker's slot map, or nullptr before the first one.
  virtual const router::SlotMap* slotMap() const = 0;
  // The calling client's row.
  virtual ClientRow self() const = 0;
  // Appends a row per client of the calling client's worker (the caller included) to `*out`
  // (the session answers CLIENT LIST and CLIENT KILL for every worker itself, client_admin.cc).
  virtual void listClients(std::vector<ClientRow>* out) const = 0;
  // The proxy's slow log (all workers) for SLOWLOG, or nullptr when there is none. The book
  // outlives the call; it is thread-safe.
  virtual SlowlogBook* slowlog() const { return nullptr; }
  // The proxy's client users (ACL USERS/LIST/GETUSER), or nullptr: no auth configured.
  virtual const config::AuthConfig* auth() const { return nullptr; }
  // CLIENT PAUSE until `until_ms` (localNowMs() clock; ALL when `all`, else WRITE) of every
  // client of the proxy; CLIENT UNPAUSE when `until_ms` is 0.
  virtual void pauseClients(uint64_t until_ms, bool all) const { (void)until_ms, (void)all; }
};

enum class LocalOutcome { kReply, kCloseAfterReply };

// Appends the RESP reply of `cmd` to `*reply`. The command name has already been validated
// (known, kLocal, arity ok). Unsupported local subcommands get a clear error reply. Records the
// command's table name in state.last_command. `env` is only used during the call.
LocalOutcome runLocalCommand(const resp::Command& cmd, LocalClientState& state,
                             const LocalEnvironment& env, std::string* reply);

// The CLIENT LIST / CLIENT INFO text of one client, "\n"-terminated, with Redis 7.0's field
// order plus lib-name/lib-ver. `now_ms` is localNowMs() at the time of the request.
std::string clientLine(const ClientRow& row, uint64_t now_ms);

}  // namespace slotwise::proxy
