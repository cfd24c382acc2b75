#include "proxy/fanout.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "proxy/errors.h"
#include "proxy/worker.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

using Merge = FanOut::Merge;

// SCAN cursor layout: | node cursor (40 bits) | topology fingerprint (10) | slot of the node (14) |
// The slot names the node by a slot it owns, so the cursor survives proxy restarts and works on
// any Slotwise instance that sees the same topology. A cursor minted under another topology
// restarts the scan from the first node (keys may repeat, none present throughout is skipped).
constexpr int kSlotBits = 14;
constexpr int kFingerprintBits = 10;
constexpr int kNodeCursorShift = kSlotBits + kFingerprintBits;
constexpr uint64_t kMaxNodeCursor = (uint64_t{1} << (64 - kNodeCursorShift)) - 1;

uint64_t encodeCursor(uint64_t node_cursor, uint64_t fingerprint, uint16_t slot) {
  return (node_cursor << kNodeCursorShift) |
         ((fingerprint & ((1u << kFingerprintBits) - 1)) << kSlotBits) | slot;
}

bool parseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool is(std::string_view name, std::string_view lower) { return name == lower; }

Request* newPart(Worker& w, Request* parent, uint32_t index, int32_t slot) {
  Request* part = w.requests().acquire();
  part->parent = parent;
  part->part = index;
  part->affinity = parent->affinity;
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
  const bool mset = is(info.name, "mset");
  const uint32_t unit = mset ? 2 : 1;
  Merge merge = is(info.name, "mget") ? Merge::kMget : mset ? Merge::kAllOk : Merge::kSum;
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

bool buildScan(Worker& w, Request* parent, const resp::Command& cmd, std::vector<Request*>* parts,
               std::string* error) {
  uint64_t cursor = 0;
  if (!parseU64(cmd.arg(1), &cursor)) {
    *error = "ERR invalid cursor";
    return false;
  }
  const std::vector<uint16_t>& master_slots = w.masterSlots();
  uint64_t fp = w.topologyFingerprint() & ((1u << kFingerprintBits) - 1);
  uint16_t slot = master_slots.front();
  uint64_t node_cursor = 0;
  if (cursor != 0) {
    uint16_t s = static_cast<uint16_t>(cursor & ((1u << kSlotBits) - 1));
    uint64_t cfp = (cursor >> kSlotBits) & ((1u << kFingerprintBits) - 1);
    if (cfp == fp && std::binary_search(master_slots.begin(), master_slots.end(), s)) {
      slot = s;
      node_cursor = cursor >> kNodeCursorShift;
    }
  }
  initParent(parent, Merge::kScan, 1);
  parent->fanout->scan_fingerprint = fp;
  parent->fanout->scan_slot = slot;
  std::string node_cursor_text = std::to_string(node_cursor);
  std::vector<std::string_view> args;
  for (size_t i = 0; i < cmd.argc(); ++i) args.push_back(i == 1 ? node_cursor_text : cmd.arg(i));
  Request* part = newPart(w, parent, 0, slot);
  resp::appendCommand(part->payload, std::span<const std::string_view>(args));
  parts->push_back(part);
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

std::string mergeConcat(const FanOut& f) {
  std::vector<std::string_view> all, elems;
  for (const std::string& p : f.parts) {
    if (!arrayElements(p, &elems)) return protocolMismatch();
    all.insert(all.end(), elems.begin(), elems.end());
  }
  std::string out;
  resp::appendArrayHeader(out, all.size());
  for (std::string_view e : all) out.append(e);
  return out;
}

std::string mergeConcatUnique(const FanOut& f) {
  std::vector<std::string_view> all, elems;
  for (const std::string& p : f.parts) {
    if (!arrayElements(p, &elems)) return protocolMismatch();
    for (std::string_view e : elems) {
      if (std::find(all.begin(), all.end(), e) == all.end()) all.push_back(e);
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

std::string mergeScan(const FanOut& f, Worker& w) {
  std::vector<std::string_view> elems;
  uint64_t node_cursor = 0;
  if (!arrayElements(f.parts[0], &elems) || elems.size() != 2 || elems[0].size() < 4 ||
      elems[0][0] != '$') {
    return protocolMismatch();
  }
  std::string_view c = elems[0];
  c = c.substr(c.find("\r\n") + 2);
  c.remove_suffix(2);
  if (!parseU64(c, &node_cursor) || node_cursor > kMaxNodeCursor) return protocolMismatch();
  uint64_t cursor = 0;
  if (node_cursor != 0) {
    cursor = encodeCursor(node_cursor, f.scan_fingerprint, f.scan_slot);
  } else {
    const std::vector<uint16_t>& slots = w.masterSlots();
    auto next = std::upper_bound(slots.begin(), slots.end(), f.scan_slot);
    if (next != slots.end()) cursor = encodeCursor(0, f.scan_fingerprint, *next);
  }
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, std::to_string(cursor));
  out.append(elems[1]);
  return out;
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

std::string_view stringContent(std::string_view frame) {
  if (frame.size() < 3) return {};
  if (frame[0] == '+' || frame[0] == '-' || frame[0] == ':') return frame.substr(1, frame.size() - 3);
  if (frame[0] != '$') return {};
  size_t eol = frame.find("\r\n");
  if (eol == std::string_view::npos || frame.size() < eol + 4) return {};
  return frame.substr(eol + 2, frame.size() - eol - 4);
}

WholeClusterRule wholeClusterRule(const router::CommandInfo& info) {
  using M = WholeClusterMode;
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
       {M::kReject, Merge::kAllOk, "ERR slotwise: CONFIG SET through the proxy is disabled"}},
      {"config|resetstat",
       {M::kReject, Merge::kAllOk, "ERR slotwise: CONFIG RESETSTAT through the proxy is disabled"}},
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
  WholeClusterRule rule = wholeClusterRule(*decision.info);
  if (rule.mode == WholeClusterMode::kScan) return buildScan(worker, parent, cmd, parts, error);
  return buildBroadcast(worker, parent, cmd, rule.merge, parts);
}

std::string mergeFanOut(const Request& parent, Worker& worker) {
  const FanOut& f = *parent.fanout;
  const std::string* err = f.merge == Merge::kAnyOk ? nullptr : firstError(f);
  if (err != nullptr) return *err;
  switch (f.merge) {
    case Merge::kMget: return mergeMget(f);
    case Merge::kSum: return mergeIntegers(f, true);
    case Merge::kMin: return mergeIntegers(f, false);
    case Merge::kConcat: return mergeConcat(f);
    case Merge::kConcatUnique: return mergeConcatUnique(f);
    case Merge::kSumPairs: return mergeSumPairs(f);
    case Merge::kAndArrays: return mergeAndArrays(f);
    case Merge::kScan: return mergeScan(f, worker);
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
