#include "proxy/datapath/fanout.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <unordered_map>

#include "common/lines.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/worker.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

using Merge = FanOut::Merge;

// SCAN cursor layout:
//   | node cursor (33 bits) | tainted (1) | ownership fingerprint (16) | slot of the node (14) |
// The slot names the node by a slot it owns, so the cursor survives proxy restarts and works on
// any Slotwise instance that sees the same topology. The fingerprint (never 0, so no cursor but
// the last one is 0) is that of the slot ownership the pass runs under; "tainted" records that a
// node of this pass was migrating or importing a slot.
//
// Guarantee: a key present in the cluster from the first to the last call of a pass is returned.
// Each SCAN part is followed, on the same connection, by CLUSTER NODES: the pass restarts from
// the first node (keys may repeat, none is skipped) whenever a node's view of slot ownership
// differs from the pass's (a slot moved, a failover, a node added: keys may have moved to a node
// already scanned; the proxy's own map is refreshed too when it is the one behind), and a pass
// during which a node was migrating a slot ends with one more pass instead of cursor 0.
constexpr int kSlotBits = 14;
constexpr int kFingerprintBits = 16;
constexpr int kTaintShift = kSlotBits + kFingerprintBits;
constexpr int kNodeCursorShift = kTaintShift + 1;
constexpr uint64_t kMaxNodeCursor = (uint64_t{1} << (64 - kNodeCursorShift)) - 1;
constexpr uint64_t kFingerprintMask = (uint64_t{1} << kFingerprintBits) - 1;

// The cursor's fingerprint field for a full ownership fingerprint: 1..kFingerprintMask.
uint64_t cursorFingerprint(uint64_t fingerprint) { return fingerprint % kFingerprintMask + 1; }

uint64_t encodeCursor(uint64_t node_cursor, bool tainted, uint64_t fingerprint, uint16_t slot) {
  return (node_cursor << kNodeCursorShift) | (uint64_t{tainted} << kTaintShift) |
         (fingerprint << kSlotBits) | slot;
}

bool parseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

Request* newPart(Worker& w, Request* parent, uint32_t index, int32_t slot) {
  Request* part = w.requests().acquire();
  part->parent = parent;
  part->part = index;
  part->affinity = parent->affinity;
  part->identity = parent->identity;
  part->replica_ok = parent->replica_ok;
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
bool buildMultiKey(Worker& w, Request* parent, const resp::Command& cmd,
                   const router::CommandInfo& info, const std::vector<uint32_t>& keys,
                   std::vector<Request*>* parts) {
  const bool mset = info.name == "mset";
  const uint32_t unit = mset ? 2 : 1;
  Merge merge = info.name == "mget" ? Merge::kMget : mset ? Merge::kAllOk : Merge::kSum;
  std::unordered_map<uint16_t, uint32_t>& by_slot = w.scratchSlotIndex();
  by_slot.clear();
  std::vector<std::vector<uint32_t>> groups;
  std::vector<uint16_t> slots;
  initParent(parent, merge, 0);
  FanOut& f = *parent->fanout;
  for (uint32_t k : keys) {
    uint16_t slot = router::keyHashSlot(cmd.arg(k));
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

bool buildBroadcast(Worker& w, Request* parent, const resp::Command& cmd, Merge merge,
                    std::vector<Request*>* parts) {
  const std::vector<uint16_t>& master_slots = w.masterSlots();
  initParent(parent, merge, master_slots.size());
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    copyFrame(cmd, &part->payload);
    parts->push_back(part);
  }
  return true;
}

// CONFIG SET / RESETSTAT: every node, masters and replicas, so a promoted replica has the same
// settings. Parts go by address; one that cannot reach its node is re-routed to a master.
bool buildEveryNode(Worker& w, Request* parent, const resp::Command& cmd,
                    std::vector<Request*>* parts) {
  const router::SlotMap& map = *w.slotMap();
  initParent(parent, Merge::kAllOk, map.nodes().size());
  for (uint32_t i = 0; i < map.nodes().size(); ++i) {
    Request* part = newPart(w, parent, i, -1);
    part->target = Request::Target::kAddress;
    part->address = map.nodes()[i].address;
    copyFrame(cmd, &part->payload);
    parts->push_back(part);
  }
  return true;
}

// WAIT numreplicas timeout, with the timeout capped (waitTimeoutMs).
bool buildWait(Worker& w, Request* parent, const resp::Command& cmd, std::vector<Request*>* parts,
               std::string* error) {
  uint64_t requested = 0;
  uint64_t replicas = 0;
  if (cmd.argc() != 3 || !parseU64(cmd.arg(1), &replicas) || !parseU64(cmd.arg(2), &requested)) {
    *error = cmd.argc() != 3 ? "ERR wrong number of arguments for 'wait' command"
                             : "ERR value is not an integer or out of range";
    return false;
  }
  const auto cap = static_cast<uint64_t>(w.config().backend.request_timeout.count());
  const std::string timeout = std::to_string(waitTimeoutMs(requested, cap));
  const std::vector<uint16_t>& master_slots = w.masterSlots();
  initParent(parent, Merge::kMin, master_slots.size());
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    resp::appendCommand(part->payload, {"WAIT", cmd.arg(1), timeout});
    parts->push_back(part);
  }
  return true;
}

bool buildScan(Worker& w, Request* parent, const resp::Command& cmd, std::vector<Request*>* parts,
               std::string* error) {
  uint64_t cursor = 0;
  if (!parseU64(cmd.arg(1), &cursor)) {
    *error = "ERR invalid cursor";
    return false;
  }
  const std::vector<uint16_t>& master_slots = w.masterSlots();
  const uint64_t fp = cursorFingerprint(w.topologyFingerprint());
  uint16_t slot = master_slots.front();
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
  initParent(parent, Merge::kScan, 2);
  parent->fanout->scan_fingerprint = fp;
  parent->fanout->scan_slot = slot;
  parent->fanout->scan_tainted = tainted;
  std::string node_cursor_text = std::to_string(node_cursor);
  std::vector<std::string_view> args;
  for (size_t i = 0; i < cmd.argc(); ++i) args.push_back(i == 1 ? node_cursor_text : cmd.arg(i));
  Request* scan = newPart(w, parent, 0, slot);
  resp::appendCommand(scan->payload, std::span<const std::string_view>(args));
  Request* view = newPart(w, parent, 1, slot);  // same connection, right after the SCAN
  resp::appendCommand(view->payload, {"CLUSTER", "NODES"});
  parts->push_back(scan);
  parts->push_back(view);
  return true;
}

// ---- merging --------------------------------------------------------------------------------

bool integerOf(std::string_view reply, int64_t* out) {
  if (reply.size() < 4 || reply[0] != ':') return false;
  auto [p, ec] = std::from_chars(reply.data() + 1, reply.data() + reply.size() - 2, *out);
  return ec == std::errc();
}

const std::string* firstError(const FanOut& f) {
  for (const std::string& p : f.parts) {
    if (!p.empty() && (p[0] == '-' || p[0] == '!')) return &p;
  }
  return nullptr;
}

// The text of a RESP3 verbatim string frame ("=len\r\ntxt:...\r\n"), without its format prefix.
std::string_view verbatimContent(std::string_view frame) {
  const size_t eol = frame.find("\r\n");
  if (eol == std::string_view::npos || frame.size() < eol + 8) return {};
  return frame.substr(eol + 6, frame.size() - eol - 8);
}

std::string protocolMismatch() {
  std::string out;
  resp::appendError(out, "ERR slotwise: unexpected reply type from a cluster node");
  return out;
}

std::string mergeMget(const FanOut& f) {
  std::vector<std::vector<std::string_view>> elems(f.parts.size());
  for (size_t i = 0; i < f.parts.size(); ++i) {
    if (!arrayElements(f.parts[i], &elems[i])) return protocolMismatch();
  }
  std::string out;
  resp::appendArrayHeader(out, f.key_part.size());
  for (size_t k = 0; k < f.key_part.size(); ++k) {
    const auto& e = elems[f.key_part[k]];
    if (f.key_index[k] >= e.size()) return protocolMismatch();
    out.append(e[f.key_index[k]]);
  }
  return out;
}

std::string mergeIntegers(const FanOut& f, bool sum) {
  int64_t acc = 0;
  for (size_t i = 0; i < f.parts.size(); ++i) {
    int64_t v = 0;
    if (!integerOf(f.parts[i], &v)) return protocolMismatch();
    acc = sum ? acc + v : (i == 0 ? v : std::min(acc, v));
  }
  std::string out;
  resp::appendInteger(out, acc);
  return out;
}

// Every part's array elements in one array (KEYS); `unique` drops repeats (PUBSUB CHANNELS).
std::string mergeConcat(const FanOut& f, bool unique) {
  std::vector<std::string_view> all, elems;
  for (const std::string& p : f.parts) {
    if (!arrayElements(p, &elems)) return protocolMismatch();
    for (std::string_view e : elems) {
      if (!unique || std::find(all.begin(), all.end(), e) == all.end()) all.push_back(e);
    }
  }
  std::string out;
  resp::appendArrayHeader(out, all.size());
  for (std::string_view e : all) out.append(e);
  return out;
}

// [name, n, name, n, ...] from every part: the counts added up per position.
std::string mergeSumPairs(const FanOut& f) {
  std::vector<std::string_view> first, elems;
  std::vector<int64_t> sums;
  for (size_t i = 0; i < f.parts.size(); ++i) {
    if (!arrayElements(f.parts[i], i == 0 ? &first : &elems)) return protocolMismatch();
    const auto& e = i == 0 ? first : elems;
    if (i == 0) sums.assign(e.size() / 2, 0);
    if (e.size() != sums.size() * 2) return protocolMismatch();
    for (size_t j = 0; j < sums.size(); ++j) {
      int64_t v = 0;
      if (!integerOf(e[2 * j + 1], &v)) return protocolMismatch();
      sums[j] += v;
    }
  }
  std::string out;
  if (!f.parts.empty() && f.parts[0][0] == '%') out = "%" + std::to_string(sums.size()) + "\r\n";
  else resp::appendArrayHeader(out, first.size());
  for (size_t j = 0; j < sums.size(); ++j) {
    out.append(first[2 * j]);
    resp::appendInteger(out, sums[j]);
  }
  return out;
}

std::string mergeAndArrays(const FanOut& f) {
  std::vector<int64_t> acc;
  std::vector<std::string_view> elems;
  for (size_t i = 0; i < f.parts.size(); ++i) {
    if (!arrayElements(f.parts[i], &elems)) return protocolMismatch();
    if (i == 0) acc.assign(elems.size(), 1);
    if (elems.size() != acc.size()) return protocolMismatch();
    for (size_t j = 0; j < elems.size(); ++j) {
      int64_t v = 0;
      if (!integerOf(elems[j], &v)) return protocolMismatch();
      acc[j] = acc[j] && v;
    }
  }
  std::string out;
  resp::appendArrayHeader(out, acc.size());
  for (int64_t v : acc) resp::appendInteger(out, v);
  return out;
}

std::string scanReply(uint64_t cursor, std::string_view keys) {
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, std::to_string(cursor));
  out.append(keys);
  return out;
}

std::string mergeScan(const FanOut& f, Worker& w) {
  std::vector<std::string_view> elems;
  uint64_t node_cursor = 0;
  if (!arrayElements(f.parts[0], &elems) || elems.size() != 2 || elems[0].size() < 4 ||
      elems[0][0] != '$') {
    return protocolMismatch();
  }
  if (!parseU64(stringContent(elems[0]), &node_cursor) || node_cursor > kMaxNodeCursor) {
    return protocolMismatch();
  }
  std::string_view nodes_text = stringContent(f.parts[1]);
  if (f.parts[1].starts_with("=")) nodes_text = verbatimContent(f.parts[1]);
  NodeView view;
  if (!parseClusterNodes(nodes_text, &view)) return protocolMismatch();
  const std::vector<uint16_t>& slots = w.masterSlots();
  const uint64_t proxy_fp = cursorFingerprint(w.topologyFingerprint());
  if (cursorFingerprint(view.fingerprint) != f.scan_fingerprint) {
    // Ownership changed since the pass began (or the proxy's map is behind the node's view):
    // start over under the proxy's current map; its next check catches a map still behind.
    if (cursorFingerprint(view.fingerprint) != proxy_fp) w.reportTopologyDrift();
    return scanReply(encodeCursor(0, false, proxy_fp, slots.front()), "*0\r\n");
  }
  const bool tainted = f.scan_tainted || view.migrating;
  uint64_t cursor = 0;
  if (node_cursor != 0) {
    cursor = encodeCursor(node_cursor, tainted, f.scan_fingerprint, f.scan_slot);
  } else {
    auto next = std::upper_bound(slots.begin(), slots.end(), f.scan_slot);
    if (next != slots.end()) cursor = encodeCursor(0, tainted, f.scan_fingerprint, *next);
    else if (tainted) cursor = encodeCursor(0, false, f.scan_fingerprint, slots.front());
  }
  return scanReply(cursor, elems[1]);
}

}  // namespace

bool arrayElements(std::string_view reply, std::vector<std::string_view>* out) {
  out->clear();
  if (reply.empty()) return false;
  char type = reply[0];
  if (type != '*' && type != '~' && type != '>' && type != '%') return false;  // RESP2/3 aggregates
  size_t eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return false;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(reply.data() + 1, reply.data() + eol, n);
  if (ec != std::errc() || p != reply.data() + eol) return false;
  if (type == '%') n *= 2;  // a map: key and value frames
  size_t pos = eol + 2;
  resp::ReplyScanner scanner;
  for (int64_t i = 0; i < n; ++i) {
    resp::ReplyInfo info;
    if (scanner.scan(reply.substr(pos), &info) != resp::ScanStatus::kOk) return false;
    out->push_back(reply.substr(pos, info.frame_len));
    pos += info.frame_len;
  }
  return true;
}

uint64_t ownershipFingerprint(std::vector<OwnedRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const OwnedRange& a, const OwnedRange& b) { return a.first < b.first; });
  uint64_t fp = 1469598103934665603ull;  // FNV-1a over "first-last@owner;" of each merged range
  auto mix = [&fp](std::string_view bytes) {
    for (unsigned char c : bytes) fp = (fp ^ c) * 1099511628211ull;
  };
  for (size_t i = 0; i < ranges.size();) {
    size_t j = i;
    while (j + 1 < ranges.size() && ranges[j + 1].owner == ranges[i].owner &&
           ranges[j + 1].first == ranges[j].last + 1) {
      ++j;
    }
    mix(std::to_string(ranges[i].first) + "-" + std::to_string(ranges[j].last) + "@" +
        ranges[i].owner + ";");
    i = j + 1;
  }
  return fp;
}

bool parseClusterNodes(std::string_view text, NodeView* view) {
  std::vector<OwnedRange> owned;
  bool found_myself = false;
  bool migrating = false;
  std::vector<std::string_view> fields;
  forEachLine(text, [&](std::string_view line) {
    fields.clear();
    for (size_t at = 0; at < line.size();) {
      size_t sp = line.find(' ', at);
      if (sp == std::string_view::npos) sp = line.size();
      if (sp > at) fields.push_back(line.substr(at, sp - at));
      at = sp + 1;
    }
    if (fields.size() < 8) return;
    const bool myself = fields[2].find("myself") != std::string_view::npos;
    found_myself |= myself;
    if (fields[2].find("master") == std::string_view::npos) return;
    for (size_t i = 8; i < fields.size(); ++i) {
      std::string_view slots = fields[i];
      if (slots.starts_with("[")) {  // "[slot->-id]" or "[slot-<-id]": only in the myself line
        migrating |= myself;
        continue;
      }
      const size_t dash = slots.find('-');
      uint64_t first = 0, last = 0;
      if (!parseU64(slots.substr(0, dash), &first)) continue;
      if (dash == std::string_view::npos) last = first;
      else if (!parseU64(slots.substr(dash + 1), &last)) continue;
      owned.push_back({static_cast<uint16_t>(first), static_cast<uint16_t>(last),
                       std::string(fields[0])});
    }
  });
  if (!found_myself) return false;
  view->fingerprint = ownershipFingerprint(std::move(owned));
  view->migrating = migrating;
  return true;
}

std::string_view stringContent(std::string_view frame) {
  if (frame.size() < 3) return {};
  if (frame[0] == '+' || frame[0] == '-' || frame[0] == ':') return frame.substr(1, frame.size() - 3);
  if (frame[0] != '$') return {};
  size_t eol = frame.find("\r\n");
  if (eol == std::string_view::npos || frame.size() < eol + 4) return {};
  return frame.substr(eol + 2, frame.size() - eol - 4);
}

uint64_t waitTimeoutMs(uint64_t requested, uint64_t request_timeout_ms) {
  if (request_timeout_ms == 0) return requested;
  const uint64_t cap = std::max<uint64_t>(request_timeout_ms * 3 / 4, 1);
  return requested == 0 ? cap : std::min(requested, cap);
}

WholeClusterRule wholeClusterRule(const router::CommandInfo& info, bool allow_admin_commands) {
  using M = WholeClusterMode;
  if (allow_admin_commands && (info.name == "config|set" || info.name == "config|resetstat")) {
    return {M::kEveryNode, Merge::kAllOk, nullptr};
  }
  struct Entry {
    std::string_view name;
    WholeClusterRule rule;
  };
  static const Entry kRules[] = {
      {"dbsize", {M::kBroadcast, Merge::kSum, nullptr}},
      {"keys", {M::kBroadcast, Merge::kConcat, nullptr}},
      {"flushall", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"flushdb", {M::kBroadcast, Merge::kAllOk, nullptr}},
      {"randomkey", {M::kBroadcast, Merge::kFirstNonNull, nullptr}},
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
        "ERR slotwise: CONFIG SET through the proxy is disabled (allow_admin_commands: false)"}},
      {"config|resetstat",
       {M::kReject, Merge::kAllOk,
        "ERR slotwise: CONFIG RESETSTAT through the proxy is disabled (allow_admin_commands: "
        "false)"}},
  };
  for (const Entry& e : kRules) {
    if (e.name == info.name) return e.rule;
  }
  return {M::kReject, Merge::kAllOk, nullptr};
}

bool buildFanOut(Worker& worker, Request* parent, const resp::Command& cmd,
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
    return buildMultiKey(worker, parent, cmd, *decision.info, keys, parts);
  }
  if (worker.masterSlots().empty()) {
    *error = std::string(errors::kNoTopology);
    return false;
  }
  WholeClusterRule rule = wholeClusterRule(*decision.info, worker.config().allow_admin_commands);
  if (rule.mode == WholeClusterMode::kScan) return buildScan(worker, parent, cmd, parts, error);
  if (rule.mode == WholeClusterMode::kEveryNode) return buildEveryNode(worker, parent, cmd, parts);
  if (decision.info->name == "wait") return buildWait(worker, parent, cmd, parts, error);
  return buildBroadcast(worker, parent, cmd, rule.merge, parts);
}

void buildInfoFanOut(Worker& w, Request* parent, std::string proxy_text,
                     std::vector<Request*>* parts) {
  const std::vector<uint16_t>& master_slots = w.masterSlots();
  initParent(parent, Merge::kInfo, master_slots.size());
  parent->fanout->text = std::move(proxy_text);
  for (uint32_t i = 0; i < master_slots.size(); ++i) {
    Request* part = newPart(w, parent, i, master_slots[i]);
    part->proto = 2;  // a bulk string, not RESP3's verbatim string
    resp::appendCommand(part->payload, {"INFO", "keyspace"});
    parts->push_back(part);
  }
}

std::string mergeKeyspaces(const std::vector<std::string_view>& infos) {
  struct Db {
    uint64_t keys = 0, expires = 0, ttl_weighted = 0;
  };
  std::map<uint64_t, Db> dbs;
  for (std::string_view text : infos) {
    forEachLine(text, [&](std::string_view line) {
      uint64_t db = 0, keys = 0, expires = 0, ttl = 0;
      const size_t colon = line.find(':');
      if (!line.starts_with("db") || colon == std::string_view::npos ||
          !parseU64(line.substr(2, colon - 2), &db)) {
        return;
      }
      for (std::string_view field : {"keys=", "expires=", "avg_ttl="}) {
        const size_t at = line.find(field, colon);
        if (at == std::string_view::npos) continue;
        std::string_view value = line.substr(at + field.size());
        value = value.substr(0, value.find(','));
        uint64_t* out = field == "keys=" ? &keys : field == "expires=" ? &expires : &ttl;
        parseU64(value, out);
      }
      Db& d = dbs[db];
      d.keys += keys;
      d.expires += expires;
      d.ttl_weighted += ttl * keys;
    });
  }
  std::string out;
  for (const auto& [db, d] : dbs) {
    out += "db" + std::to_string(db) + ":keys=" + std::to_string(d.keys) +
           ",expires=" + std::to_string(d.expires) +
           ",avg_ttl=" + std::to_string(d.keys == 0 ? 0 : d.ttl_weighted / d.keys) + "\r\n";
  }
  return out;
}

namespace {

// INFO: a node that failed to answer contributes nothing to # Keyspace (INFO stays usable).
std::string mergeInfo(const FanOut& f) {
  std::vector<std::string_view> infos;
  for (const std::string& p : f.parts) {
    if (!p.empty() && p[0] == '$') infos.push_back(stringContent(p));
  }
  std::string text = f.text + mergeKeyspaces(infos);
  std::string out;
  resp::appendBulk(out, text);
  return out;
}

}  // namespace

std::string mergeFanOut(const Request& parent, Worker& worker) {
  const FanOut& f = *parent.fanout;
  if (f.merge == Merge::kInfo) return mergeInfo(f);
  const std::string* err = f.merge == Merge::kAnyOk ? nullptr : firstError(f);
  if (err != nullptr) return *err;
  switch (f.merge) {
    case Merge::kMget: return mergeMget(f);
    case Merge::kSum: return mergeIntegers(f, true);
    case Merge::kMin: return mergeIntegers(f, false);
    case Merge::kConcat: return mergeConcat(f, false);
    case Merge::kConcatUnique: return mergeConcat(f, true);
    case Merge::kSumPairs: return mergeSumPairs(f);
    case Merge::kAndArrays: return mergeAndArrays(f);
    case Merge::kScan: return mergeScan(f, worker);
    case Merge::kInfo: return mergeInfo(f);
    case Merge::kAllOk:
      for (const std::string& p : f.parts) {
        if (p != "+OK\r\n") return p;
      }
      return "+OK\r\n";
    case Merge::kAnyOk:
      for (const std::string& p : f.parts) {
        if (p == "+OK\r\n") return p;
      }
      return f.parts.front();
    case Merge::kAllEqual:
      for (const std::string& p : f.parts) {
        if (p != f.parts.front()) {
          std::string out;
          resp::appendError(out, "ERR slotwise: cluster masters answered differently");
          return out;
        }
      }
      return f.parts.front();
    case Merge::kFirstNonNull:
      for (const std::string& p : f.parts) {
        if (p != "$-1\r\n" && p != "_\r\n") return p;
      }
      return f.parts.front();
  }
  return protocolMismatch();
}

}  // namespace slotwise::proxy
