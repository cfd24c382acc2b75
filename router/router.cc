#include "router/router.h"

#include <algorithm>
#include <cctype>

#include "router/hash_slot.h"

namespace slotwise::router {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

RouteDecision reject(std::string error) {
  RouteDecision d;
  d.kind = RouteDecision::Kind::kReject;
  d.error = std::move(error);
  return d;
}

// Redis's own wording (server.c, processCommand): the name and the first arguments, each cut so
// that the list stays near 128 bytes; line breaks become spaces, as in every Redis error.
std::string unknownCommandError(const resp::Command& cmd) {
  std::string args;
  for (size_t i = 1; i < cmd.argc() && args.size() < 128; ++i) {
    const size_t room = 128 - args.size();
    args += '\'';
    args += cmd.arg(i).substr(0, room);
    args += "' ";
  }
  std::string error = "ERR unknown command '" + std::string(cmd.arg(0).substr(0, 128)) +
                      "', with args beginning with: " + args;
  std::replace_if(
      error.begin(), error.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return error;
}

// Multi-database commands a Redis Cluster node refuses, in the node's own words (the proxy serves
// database 0 only, as a cluster does; SELECT is answered by the proxy itself).
std::string_view clusterModeRefusal(std::string_view name) {
  if (name == "move") return "ERR MOVE is not allowed in cluster mode";
  if (name == "swapdb") return "ERR SWAPDB is not allowed in cluster mode";
  return {};
}

// Why a kUnsupported command is refused, by family; empty for the generic refusal.
std::string_view unsupportedReason(std::string_view name) {
  struct Family {
    std::string_view prefix;
    std::string_view reason;
  };
  static constexpr Family kFamilies[] = {
      {"memory|", "per-node diagnostics: ask a node directly (MEMORY USAGE works)"},
      {"latency|",
       "per-node diagnostics: ask a node directly (the proxy's own latency is in "
       "INFO and /metrics)"},
      {"module|", "modules are loaded on the nodes"},
      {"cluster|", "cluster administration runs on the nodes"},
      {"replicaof", "replication is managed on the nodes"},
      {"slaveof", "replication is managed on the nodes"},
      {"failover", "replication is managed on the nodes"},
      {"shutdown", "the proxy does not shut nodes down"},
      {"debug", "per-node diagnostics: ask a node directly"},
      {"config|rewrite", "each node rewrites its own configuration file"},
  };
  for (const Family& f : kFamilies) {
    if (name.starts_with(f.prefix)) return f.reason;
  }
  return {};
}

RouteDecision unknownCommand(const resp::Command& cmd, const CommandInfo* container) {
  if (container != nullptr && cmd.argc() >= 2) {
    return reject("ERR unknown subcommand '" + std::string(cmd.arg(1)) + "'. Try " +
                  upper(cmd.arg(0)) + " HELP.");
  }
  if (container != nullptr) {
    return reject("ERR wrong number of arguments for '" + lower(cmd.arg(0)) + "' command");
  }
  return reject(unknownCommandError(cmd));
}

RouteDecision routeKeyed(const resp::Command& cmd, const CommandInfo* info,
                         std::vector<uint32_t>* keys, const KeyPlacement& placement) {
  RouteDecision d;
  d.info = info;
  int32_t slot = keysSlot(*info, cmd, keys, placement);
  if (slot == kNoKeys) {
    d.kind = RouteDecision::Kind::kAnyMaster;
  } else if (slot != kCrossSlot) {
    d.kind = RouteDecision::Kind::kSlot;
    d.slot = slot;
  } else if (splittable(*info)) {
    d.kind = RouteDecision::Kind::kMultiSlot;
  } else {
    return reject("CROSSSLOT Keys in request don't hash to the same slot");
  }
  return d;
}

// CLUSTER COUNTKEYSINSLOT <slot> / GETKEYSINSLOT <slot> <count>: the keys are the slot master's.
// A slot argument that is not Redis's integer form in 0..16383 goes to any master, which answers
// with the cluster node's own error. Sentinel groups, static servers and pools have no cluster
// slots to ask about (a ring's "slots" are servers, and they run without cluster support).
RouteDecision routeSlotArgument(const resp::Command& cmd, const CommandInfo* info,
                                const KeyPlacement& placement) {
  if (placement.ring() != nullptr || placement.routes() != nullptr) {
    return reject("ERR slotwise: CLUSTER " + upper(cmd.arg(1)) +
                  " needs a Redis Cluster backend (the servers behind this proxy have no slots)");
  }
  RouteDecision d;
  d.info = info;
  d.kind = RouteDecision::Kind::kAnyMaster;
  const std::string_view arg = cmd.arg(2);
  const bool digits =
      !arg.empty() && arg.size() <= 5 && (arg[0] != '0' || arg.size() == 1) &&
      std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    int32_t slot = 0;
    for (char c : arg) slot = slot * 10 + (c - '0');
    if (slot < static_cast<int32_t>(kHashSlotCount)) {
      d.kind = RouteDecision::Kind::kSlot;
      d.slot = slot;
    }
  }
  return d;
}

}  // namespace

int32_t keysSlot(const CommandInfo& info, const resp::Command& cmd, std::vector<uint32_t>* keys,
                 const KeyPlacement& placement) {
  keys->clear();
  // NOT_KEY positions count too: they carry the shard channel of SPUBLISH and friends.
  if (!extractKeys(info, cmd, keys, KeyFilter::kIncludeNotKeys) || keys->empty()) return kNoKeys;
  uint16_t slot = placement.slotOf(cmd.arg((*keys)[0]));
  for (size_t i = 1; i < keys->size(); ++i) {
    if (placement.slotOf(cmd.arg((*keys)[i])) != slot) return kCrossSlot;
  }
  return slot;
}

bool splittable(const CommandInfo& info) {
  static constexpr std::string_view kSplittable[] = {"mget",  "mset",   "del",
                                                     "unlink", "exists", "touch"};
  return std::find(std::begin(kSplittable), std::end(kSplittable), info.name) !=
         std::end(kSplittable);
}

RouteDecision route(const resp::Command& cmd, std::vector<uint32_t>* keys,
                    const KeyPlacement& placement) {
  keys->clear();  // callers read `keys` for every decision: never leave a previous command's
  const CommandInfo* container = nullptr;
  const CommandInfo* info = resolveCommand(cmd, &container);
  if (info == nullptr && container != nullptr && cmd.argc() == 1 && arityOk(*container, 1)) {
    info = container;  // a container that also runs bare (COMMAND): its own class decides
  }
  if (info == nullptr) return unknownCommand(cmd, container);
  if (!arityOk(*info, cmd.argc())) {
    return reject("ERR wrong number of arguments for '" + std::string(info->name) + "' command");
  }
  if (info->name == "cluster|countkeysinslot" || info->name == "cluster|getkeysinslot") {
    return routeSlotArgument(cmd, info, placement);
  }
  RouteDecision d;
  d.info = info;
  switch (info->proxy_class) {
    case ProxyClass::kUnsupported:
      if (std::string_view refusal = clusterModeRefusal(info->name); !refusal.empty()) {
        return reject(std::string(refusal));
      }
      if (std::string_view reason = unsupportedReason(info->name); !reason.empty()) {
        std::string shown = upper(cmd.arg(0));
        if (info->name.find('|') != std::string_view::npos) shown += " " + upper(cmd.arg(1));
        return reject("ERR slotwise: '" + shown + "' is not supported through the proxy (" +
                      std::string(reason) + ")");
      }
      return reject("ERR unknown or unsupported command '" + std::string(cmd.arg(0)) + "'");
    case ProxyClass::kLocal:
      d.kind = RouteDecision::Kind::kLocal;
      return d;
    case ProxyClass::kAllMasters:
      d.kind = RouteDecision::Kind::kAllMasters;
      return d;
    case ProxyClass::kTransaction:
      d.kind = RouteDecision::Kind::kTransaction;
      return d;
    case ProxyClass::kPubSub:
      d.kind = RouteDecision::Kind::kPubSub;
      return d;
    case ProxyClass::kKeyless:
      d.kind = RouteDecision::Kind::kAnyMaster;
      return d;
    case ProxyClass::kKeyed:
      break;
  }
  return routeKeyed(cmd, info, keys, placement);
}

}  // namespace slotwise::router
