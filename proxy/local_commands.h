// Commands the proxy answers itself (router ProxyClass kLocal).
#pragma once

#include <cstdint>
#include <string>

#include "resp/command.h"

namespace slotwise::proxy {

// Per-client state that local commands read or change.
struct LocalClientState {
  uint32_t id = 0;
  std::string name;  // CLIENT SETNAME
};

enum class LocalOutcome { kReply, kCloseAfterReply };

// Appends the RESP reply of `cmd` to `*reply`. The command name has already been validated
// (known, kLocal, arity ok). Unsupported local subcommands get a clear error reply.
LocalOutcome runLocalCommand(const resp::Command& cmd, LocalClientState& client, std::string* reply);

}  // namespace slotwise::proxy
