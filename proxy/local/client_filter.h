// The client selection of CLIENT LIST [TYPE t] [ID id ...] and CLIENT KILL (old form `addr`, new
// form ID/TYPE/USER/ADDR/LADDR/SKIPME), with Redis 7.0's syntax and error messages. Parsed on the
// caller's worker, then matched against the clients of every worker (ClientSession::row()).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/local/local_commands.h"
#include "resp/command.h"

namespace slotwise::proxy {

struct ClientFilter {
  enum class Type : uint8_t { kAny, kNormal, kPubSub, kNone };  // kNone: master/replica
  std::vector<uint64_t> ids;                                    // any of these ids (empty: any id)
  Type type = Type::kAny;
  std::string user;   // "" = any
  std::string addr;   // peer "ip:port" ("" = any)
  std::string laddr;  // local "ip:port" ("" = any)
  bool skip_self = false;
  uint32_t self_id = 0;   // the caller, skipped when skip_self
  bool old_kill = false;  // CLIENT KILL addr: +OK / "No such client" instead of a count

  bool matches(const ClientRow& row) const;
};

// CLIENT LIST's arguments (from argv[2]); "" on success, else the error reply's message.
std::string parseClientListFilter(const resp::Command& cmd, ClientFilter* filter);

// CLIENT KILL's arguments (from argv[2]) for a caller with id `self_id`. `auth` names the users
// that exist (only "default" without it). "" on success, else the error reply's message.
std::string parseClientKillFilter(const resp::Command& cmd, const config::AuthConfig* auth,
                                  uint32_t self_id, ClientFilter* filter);

// The reply of CLIENT KILL that closed `killed` clients.
std::string clientKillReply(const ClientFilter& filter, uint64_t killed);

}  // namespace slotwise::proxy
