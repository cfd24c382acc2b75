#include "proxy/datapath/fanout.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <unordered_map>

#include "common/ascii.h"
#include "common/lines.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout_internal.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

using Merge = FanOut::Merge;
using namespace fanout_detail;

Request* newPart(FanOutContext& w, Request* parent, uint32_t index, int32_t slot) {
  Request* part = w.requests.acquire();
  part->parent = parent;
  part->part = index;
  part->affinity = parent->affinity;
  part->identity = parent->identity;
  part->replica_ok = parent->replica_ok;
  part->prefer_replica = parent->prefer_replica;
  part->proto = parent->proto;
  part->target = Request::Target::kSlot;
  part->slot = slot;
  return part;
}

void initParent(Request* parent, Merge merge, size_t nparts) {
  if (!parent->fanout) parent->fanout = std::make_unique<FanOut>();
  parent->fanout->reset();
  parent->fanout->merge = merge;
  parent->fanout->parts.resize(nparts);
  parent->fanout->outstanding = static_cast<uint32_t>(nparts);
  parent->is_fanout = true;
}

// One part per slot; each part repeats the command name with the slot's keys (and, for MSET,
// their values) in the client's order.
bool buildMultiKey(FanOutContext& w, Request* parent, const resp::Command& cmd,
                   const router::CommandInfo& info, const std::vector<uint32_t>& keys,
                   std::vector<Request*>* parts) {
  const bool mset = info.name == "mset";
  const uint32_t unit = mset ? 2 : 1;
  Merge merge = info.name == "mget" ? Merge::kMget : mset ? Merge::kAllOk : Merge::kSum;
  std::unordered_map<uint16_t, uint32_t>& by_slot = w.slot_index;
  by_slot.clear();
  std::vector<std::vector<uint32_t>> groups;
  std::vector<uint16_t> slots;
  initParent(parent, merge, 0);
  FanOut& f = *parent->fanout;
  for (uint32_t k : keys) {
    uint16_t slot = w.topology.placement().slotOf(cmd.arg(k));
    auto [it, fresh] = by_slot.try_emplace(slot, static_cast<uint32_t>(groups.size()));
    if (fresh) {
      groups.emplace_back();
      slots.push_back(slot);
    }
    if (merge == Merge::kMget) {
      f.key_part.push_back(it->second);
      f.key_index.push_back(static_cast<uint32_t>(groups[it->second].size()));
    }
    groups[it->second].push_back(k);
  }
  f.parts.resize(groups.size());
  f.outstanding = static_cast<uint32_t>(groups.size());
  std::vector<std::string_view> args;
  for (uint32_t g = 0; g < groups.size(); ++g) {
    args.clear();
    args.push_back(cmd.arg(0));
    for (uint32_t k : groups[g]) {
      for (uint32_t j = 0; j < unit && k + j < cmd.argc(); ++j) args.push_back(cmd.arg(k + j));
    }
    Request* part = newPart(w, parent, g, slots[g]);
    resp::appendCommand(part->payload, std::span<const std::string_view>(args));
    parts->push_back(part);
  }
  return true;
}

void copyFrame(const resp::Command& cmd, std::string* out) {
  if (cmd.is_inline) resp::appendCommandFrom(*out, cmd);
  else out->assign(cmd.base, cmd.frame_len);
}

bool buildBroadcast(FanOutContext& w, Request* parent, const resp::Command& cmd, Merge merge,
                    std::vector<Request*>* parts) {
  const std::vector<uint16_t>& master_slots = w.topology.masterSlots();
  initParent(parent, merge, master_slots.size());
  // SCRIPT KILL / FUNCTION KILL must not wait behind the script they stop (BackendPool).
  const bool kill = parent->info != nullptr &&
                    (parent->info->name == "script|kill" || parent->info->name == "function|kill");
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    part->out_of_band = kill;
    copyFrame(cmd, &part->payload);
    parts->push_back(part);
  }
  return true;
}

// RANDOMKEY and DBSIZE on every master, in one round: each master's RANDOMKEY is uniform over its
// own keys, so drawing the master by its key count makes the answer uniform over the whole
// keyspace (mergeFanOut, Merge::kRandomKey).
bool buildRandomKey(FanOutContext& w, Request* parent, std::vector<Request*>* parts) {
  const std::vector<uint16_t>& master_slots = w.topology.masterSlots();
  const uint32_t n = static_cast<uint32_t>(master_slots.size());
  initParent(parent, Merge::kRandomKey, 2 * n);
  for (uint32_t i = 0; i < 2 * n; ++i) {
    Request* part = newPart(w, parent, i, master_slots[i % n]);
    resp::appendCommand(part->payload, {i < n ? "RANDOMKEY" : "DBSIZE"});
    parts->push_back(part);
  }
  return true;
}

// CONFIG SET / RESETSTAT: every node, masters and replicas, so a promoted replica has the same
// settings. Parts go by address; one that cannot reach its node is re-routed to a master.
bool buildEveryNode(FanOutContext& w, Request* parent, const resp::Command& cmd,
                    std::vector<Request*>* parts) {
  const std::vector<router::NodeInfo>& nodes = w.topology.nodes();
  initParent(parent, Merge::kAllOk, nodes.size());
  if (parent->info != nullptr && parent->info->name == "config|set" &&
      configSetAllowedByDefault(cmd)) {
    for (size_t i = 2; i + 1 < cmd.argc(); i += 2) {
      std::string name(cmd.arg(i));
      for (char& c : name) c = toLowerAscii(c);
      parent->fanout->node_settings.emplace_back(std::move(name), std::string(cmd.arg(i + 1)));
    }
  }
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    Request* part = newPart(w, parent, i, -1);
    part->target = Request::Target::kAddress;
    part->address = nodes[i].address;
    copyFrame(cmd, &part->payload);
    parts->push_back(part);
  }
  return true;
}

// WAIT numreplicas timeout, with the timeout capped (waitTimeoutMs).
bool buildWait(FanOutContext& w, Request* parent, const resp::Command& cmd, std::vector<Request*>* parts,
               std::string* error) {
  uint64_t requested = 0;
  uint64_t replicas = 0;
  if (cmd.argc() != 3 || !parseU64(cmd.arg(1), &replicas) || !parseU64(cmd.arg(2), &requested)) {
    *error = cmd.argc() != 3 ? "ERR wrong number of arguments for 'wait' command"
                             : "ERR value is not an integer or out of range";
    return false;
  }
  const uint64_t cap = w.request_timeout_ms;
  const std::string timeout = std::to_string(waitTimeoutMs(requested, cap));
  const std::vector<uint16_t>& master_slots = w.topology.masterSlots();
  initParent(parent, Merge::kMin, master_slots.size());
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    resp::appendCommand(part->payload, {"WAIT", cmd.arg(1), timeout});
    parts->push_back(part);
  }
  return true;
}

bool buildScan(FanOutContext& w, Request* parent, const resp::Command& cmd, std::vector<Request*>* parts,
               std::string* error) {
  uint64_t cursor = 0;
  if (!parseU64(cmd.arg(1), &cursor)) {
    *error = "ERR invalid cursor";
    return false;
  }
  const std::vector<uint16_t>& master_slots = w.topology.masterSlots();
  const uint64_t fp = cursorFingerprint(w.topology.fingerprint());
  uint16_t slot = scanFirstSlot(w.topology);
  uint64_t node_cursor = 0;
  bool tainted = false;
  if (cursor != 0) {
    const auto s = static_cast<uint16_t>(cursor & ((1u << kSlotBits) - 1));
    const uint64_t cfp = (cursor >> kSlotBits) & kFingerprintMask;
    if (cfp == fp && std::binary_search(master_slots.begin(), master_slots.end(), s)) {
      slot = s;
      node_cursor = cursor >> kNodeCursorShift;
      tainted = ((cursor >> kTaintShift) & 1) != 0;
    }
  }
  // A cluster's slots can move during a pass, so CLUSTER NODES rides along to detect it; the
  // servers of a ring (static, Sentinel) own their slot for good.
  const bool check_ownership = w.topology.placement().clusterSlot(slot);
  // Scan-ahead: a node's first page goes out with the first pages of the next masters, so a
  // small keyspace comes back in one call with cursor 0, as from one server. Not during an
  // online migration, whose pass order (source first) must be kept call by call.
  std::vector<uint16_t> slots{slot};
  if (node_cursor == 0 && !scanHasMigrationSource(w.topology)) {
    for (int next = scanNextSlot(w.topology, slot); next >= 0 && slots.size() < kScanAheadNodes;
         next = scanNextSlot(w.topology, next)) {
      slots.push_back(static_cast<uint16_t>(next));
    }
  }
  const size_t per_node = check_ownership ? 2 : 1;
  initParent(parent, Merge::kScan, slots.size() * per_node);
  parent->fanout->scan_fingerprint = fp;
  parent->fanout->scan_slots = slots;
  parent->fanout->scan_tainted = tainted;
  std::string node_cursor_text = std::to_string(node_cursor);
  std::vector<std::string_view> args;
  for (size_t i = 0; i < cmd.argc(); ++i) args.push_back(i == 1 ? node_cursor_text : cmd.arg(i));
  for (size_t n = 0; n < slots.size(); ++n) {
    Request* scan = newPart(w, parent, static_cast<uint32_t>(n * per_node), slots[n]);
    resp::appendCommand(scan->payload, std::span<const std::string_view>(args));
    parts->push_back(scan);
    if (check_ownership) {
      Request* view = newPart(w, parent, static_cast<uint32_t>(n * per_node + 1), slots[n]);
      resp::appendCommand(view->payload, {"CLUSTER", "NODES"});  // same connection, right after
      parts->push_back(view);
    }
  }
  return true;
}

}  // namespace

namespace fanout_detail {
namespace {
// The first slot of the migration source's span, or 0 when there is none.
uint32_t sourceOffset(const Topology& topology) {
  const router::PrefixRoutes* routes = topology.placement().routes();
  if (routes == nullptr) return 0;
  for (const router::PrefixRoutes::Pool& pool : routes->pools()) {
    if (pool.name == router::kMigrationSourcePool) return pool.offset;
  }
  return 0;
}
}  // namespace

uint16_t scanFirstSlot(const Topology& topology) {
  const std::vector<uint16_t>& slots = topology.masterSlots();
  auto first = std::lower_bound(slots.begin(), slots.end(), sourceOffset(topology));
  return first != slots.end() ? *first : slots.front();
}

bool scanHasMigrationSource(const Topology& topology) { return sourceOffset(topology) != 0; }

int scanNextSlot(const Topology& topology, uint16_t slot) {
  const std::vector<uint16_t>& slots = topology.masterSlots();
  const uint16_t first = scanFirstSlot(topology);
  auto next = std::upper_bound(slots.begin(), slots.end(), slot);
  if (next == slots.end()) next = slots.begin();  // wrap: the slots before the source's
  return *next == first ? -1 : *next;
}
}  // namespace fanout_detail

uint64_t waitTimeoutMs(uint64_t requested, uint64_t request_timeout_ms) {
  if (request_timeout_ms == 0) return requested;
  const uint64_t cap = std::max<uint64_t>(request_timeout_ms * 3 / 4, 1);
  return requested == 0 ? cap : std::min(requested, cap);
}

bool configSetAllowedByDefault(const resp::Command& cmd) {
  static constexpr std::string_view kAllowed[] = {"notify-keyspace-events"};
  if (cmd.argc() < 4 || cmd.argc() % 2 != 0) return false;  // CONFIG SET (name value)+
  for (size_t i = 2; i < cmd.argc(); i += 2) {
    if (std::none_of(std::begin(kAllowed), std::end(kAllowed),
                     [&](std::string_view a) { return equalsIgnoreCase(cmd.arg(i), a); })) {
      return false;
    }
  }
  return true;
}

WholeClusterRule wholeClusterRule(const router::CommandInfo& info, const resp::Command& cmd,
                                  bool allow_admin_commands) {
  using M = WholeClusterMode;
  if (allow_admin_commands && (info.name == "config|set" || info.name == "config|resetstat")) {
    return {M::kEveryNode, Merge::kAllOk, nullptr};
  }
  if (info.name == "config|set" && configSetAllowedByDefault(cmd)) {
    return {M::kEveryNode, Merge::kAllOk, nullptr};
  }
  if (allow_admin_commands && (info.name == "bgsave" || info.name == "bgrewriteaof")) {
    return {M::kBroadcast, Merge::kAllEqual, nullptr};  // "Background saving started" from each
  }
  if (allow_admin_commands && info.name == "save") return {M::kBroadcast, Merge::kAllOk, nullptr};
  struct Entry {
    std::string_view name;
    WholeClusterRule rule;
  };
  static const Entry kRules[] = {
      {"dbsize", {M::kBroadcast, Merge::kSum, nullptr}},
      {"keys", {M::kBroadcast, Merge::kConcat, nullptr}},
      {"flushall", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"flushdb", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"randomkey", {M::kBroadcast, Merge::kRandomKey, nullptr}},
      {"lastsave", {M::kBroadcast, Merge::kMin, nullptr}},
      {"wait", {M::kBroadcast, Merge::kMin, nullptr}},
      {"scan", {M::kScan, Merge::kScan, nullptr}},
      {"script|load", {M::kBroadcast, Merge::kAllEqual, nullptr}},
      {"script|exists", {M::kBroadcast, Merge::kAndArrays, nullptr}},
      {"script|flush", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"script|kill", {M::kBroadcast, Merge::kAnyOk, nullptr}},
      {"function|load", {M::kBroadcast, Merge::kAllEqual, nullptr}},
      {"function|delete", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"function|flush", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"function|restore", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"function|kill", {M::kBroadcast, Merge::kAnyOk, nullptr}},
      {"function|list", {M::kSingle, Merge::kAllOk, nullptr}},
      {"function|dump", {M::kSingle, Merge::kAllOk, nullptr}},
      {"function|stats", {M::kSingle, Merge::kAllOk, nullptr}},
      {"config|get", {M::kSingle, Merge::kAllOk, nullptr}},
      {"pubsub|channels", {M::kBroadcast, Merge::kConcatUnique, nullptr}},
      {"pubsub|shardchannels", {M::kBroadcast, Merge::kConcatUnique, nullptr}},
      {"pubsub|numpat", {M::kBroadcast, Merge::kSum, nullptr}},
      {"pubsub|numsub", {M::kBroadcast, Merge::kSumPairs, nullptr}},
      {"pubsub|shardnumsub", {M::kBroadcast, Merge::kSumPairs, nullptr}},
      {"config|set",
       {M::kReject, Merge::kAllOk,
        "ERR slotwise: CONFIG SET through the proxy is disabled (allow_admin_commands: false) "
        "except for notify-keyspace-events"}},
      {"config|resetstat",
       {M::kReject, Merge::kAllOk,
        "ERR slotwise: CONFIG RESETSTAT through the proxy is disabled (allow_admin_commands: "
        "false)"}},
  };
  for (const Entry& e : kRules) {
    if (e.name == info.name) return e.rule;
  }
  if (info.name == "save" || info.name == "bgsave" || info.name == "bgrewriteaof") {
    return {M::kReject, Merge::kAllOk,
            "ERR slotwise: persistence runs on each node; SAVE, BGSAVE and BGREWRITEAOF through "
            "the proxy (every master) need allow_admin_commands: true"};
  }
  return {M::kReject, Merge::kAllOk, nullptr};
}

bool buildFanOut(FanOutContext& w, Request* parent, const resp::Command& cmd,
                 const router::RouteDecision& decision, const std::vector<uint32_t>& keys,
                 std::vector<Request*>* parts, std::string* error) {
  parts->clear();
  if (decision.kind == router::RouteDecision::Kind::kMultiSlot) {
    // MSET takes key/value pairs: an odd count is Redis's arity error (and would read past the
    // last argument when splitting).
    if (decision.info->name == "mset" && cmd.argc() % 2 == 0) {
      *error = "ERR wrong number of arguments for 'mset' command";
      return false;
    }
    return buildMultiKey(w, parent, cmd, *decision.info, keys, parts);
  }
  if (w.topology.masterSlots().empty()) {
    *error = std::string(errors::kNoTopology);
    return false;
  }
  WholeClusterRule rule = wholeClusterRule(*decision.info, cmd, w.allow_admin_commands);
  if (rule.mode == WholeClusterMode::kScan) return buildScan(w, parent, cmd, parts, error);
  if (rule.mode == WholeClusterMode::kEveryNode) return buildEveryNode(w, parent, cmd, parts);
  if (decision.info->name == "wait") return buildWait(w, parent, cmd, parts, error);
  if (rule.merge == Merge::kRandomKey) return buildRandomKey(w, parent, parts);
  return buildBroadcast(w, parent, cmd, rule.merge, parts);
}

void buildInfoFanOut(FanOutContext& w, Request* parent, std::string proxy_text,
                     const std::vector<std::string_view>& node_sections,
                     std::vector<Request*>* parts) {
  const std::vector<uint16_t>& master_slots = w.topology.masterSlots();
  initParent(parent, Merge::kInfo, master_slots.size());
  parent->fanout->text = std::move(proxy_text);
  std::vector<std::string_view> args{"INFO"};
  args.insert(args.end(), node_sections.begin(), node_sections.end());
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    part->proto = 2;  // a bulk string, not RESP3's verbatim string
    resp::appendCommand(part->payload, std::span<const std::string_view>(args));
    parts->push_back(part);
  }
}

}  // namespace slotwise::proxy
