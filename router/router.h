// Router: decides where one parsed client command goes. Pure logic (no I/O, no slot map): the
// worker maps the decided slot to a node with its current SlotMap snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resp/command.h"
#include "router/command_table.h"
#include "router/key_placement.h"

namespace slotwise::router {

struct RouteDecision {
  enum class Kind : uint8_t {
    kSlot,        // every key hashes to `slot`: send to the slot's master
    kAnyMaster,   // no keys (or keys Redis itself must judge): any master answers the same
    kLocal,       // the proxy answers (PING, ECHO, QUIT, SELECT, ...)
    kAllMasters,  // whole-cluster command (KEYS, DBSIZE, FLUSHALL, SCAN, ...)
    kMultiSlot,   // a splittable multi-key command (MGET, MSET, DEL, ...) whose keys span slots
    kTransaction, // MULTI/EXEC/DISCARD/WATCH/UNWATCH
    kPubSub,      // subscriber-mode commands
    kReject,      // answer `error` (without the leading '-')
  };
  Kind kind = Kind::kReject;
  int32_t slot = -1;
  const CommandInfo* info = nullptr;  // nullptr only for kReject of an unknown command
  std::string error;                  // kReject only
};

// Routes `cmd` (argc >= 1). Outcomes, in the order they are checked:
//   - unknown command                      -> kReject "ERR unknown command 'x', with args beginning
//                                             with: 'a' 'b' " (Redis's wording)
//   - container with unknown subcommand    -> kReject "ERR unknown subcommand 'x'. Try C HELP."
//   - wrong argument count                 -> kReject "ERR wrong number of arguments for 'x'
//   command"
//   - ProxyClass kUnsupported              -> kReject "ERR unknown or unsupported command 'x'";
//                                             MOVE and SWAPDB get a cluster node's own refusal,
//                                             "ERR MOVE is not allowed in cluster mode"; per-node
//                                             families (MEMORY, LATENCY, MODULE, CLUSTER admin,
//                                             replication, DEBUG ...) "ERR slotwise: 'X Y' is not
//                                             supported through the proxy (<reason>)"
//   - ProxyClass kLocal / kAllMasters / kTransaction / kPubSub -> the matching kind
//   - CLUSTER COUNTKEYSINSLOT/GETKEYSINSLOT -> kSlot of their slot argument when it is an
//     integer in 0..16383 (else kAnyMaster: the node's own error); kReject for a placement that
//     is not a Redis Cluster (rings, pools)
//   - ProxyClass kKeyless                  -> kAnyMaster
//   - keyed, keys not extractable (bad numkeys and the like) -> kAnyMaster, so that a master
//     answers with Redis's own error for the malformed command
//   - keyed, no keys (EVAL with numkeys 0) -> kAnyMaster
//   - keyed, all keys in one slot          -> kSlot
//   - keyed, keys in several slots         -> kMultiSlot when the command can be split
//                                             (`splittable`), else kReject CROSSSLOT
// `keys` is scratch space reused across calls (no allocation in the steady state). Slots are
// `placement`'s (CRC16 for a cluster; a server index for Sentinel groups and static servers, so
// that CROSSSLOT there means "keys on different servers").
RouteDecision route(const resp::Command& cmd, std::vector<uint32_t>* keys,
                    const KeyPlacement& placement = KeyPlacement{});

// The slot every key of `cmd` hashes to; kNoKeys when it has none (or they cannot be
// extracted), kCrossSlot when they span slots. `keys` receives the key argument indexes.
inline constexpr int32_t kNoKeys = -1;
inline constexpr int32_t kCrossSlot = -2;
int32_t keysSlot(const CommandInfo& info, const resp::Command& cmd, std::vector<uint32_t>* keys,
                 const KeyPlacement& placement = KeyPlacement{});

// True for the multi-key commands whose per-slot parts can run separately and be merged
// (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH).
bool splittable(const CommandInfo& info);

}  // namespace slotwise::router
