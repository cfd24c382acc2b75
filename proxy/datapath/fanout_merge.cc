// Fan-out merging: the one reply a client expects, built from every part's reply.
#include <algorithm>
#include <charconv>
#include <map>
#include <random>
#include <unordered_map>

#include "common/lines.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/fanout_internal.h"
#include "proxy/local/proxy_info.h"
#include "resp/encoder.h"
#include "resp/reply_scanner.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

using Merge = FanOut::Merge;
using namespace fanout_detail;

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

// A SCAN reply: `cursor` and `count` keys whose frames are `keys`.
std::string scanReply(uint64_t cursor, size_t count, std::string_view keys) {
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, std::to_string(cursor));
  resp::appendArrayHeader(out, count);
  out.append(keys);
  return out;
}

// One node's SCAN page: its cursor, how many keys and their frames. False for another shape.
bool scanPage(std::string_view reply, uint64_t* node_cursor, size_t* count,
              std::string_view* keys) {
  std::vector<std::string_view> elems;
  if (!arrayElements(reply, &elems) || elems.size() != 2 || elems[0].size() < 4 ||
      elems[0][0] != '$' || !parseU64(stringContent(elems[0]), node_cursor) ||
      *node_cursor > kMaxNodeCursor) {
    return false;
  }
  const std::string_view frame = elems[1];
  if (!arrayElements(frame, &elems)) return false;
  *count = elems.size();
  *keys = frame.substr(frame.find("\r\n") + 2);
  return true;
}

bool isErrorReply(std::string_view reply) {
  return reply.starts_with("-") || reply.starts_with("!");
}

// The pages of a SCAN call, node by node in pass order: each node's keys are taken until a node
// has more pages (the cursor then names it) or the pass ends; the pages after that node are
// dropped. A node whose view of slot ownership differs from the pass's restarts the pass (the
// call's first node) or ends the call before it (a later node: checked again when reached), as
// does a later node's error; the first node's error is the call's reply.
std::string mergeScan(const FanOut& f, const Topology& topology, bool* drift) {
  const size_t per_node = f.parts.size() / f.scan_slots.size();  // 2 with CLUSTER NODES
  bool tainted = f.scan_tainted;
  std::string keys;
  size_t count = 0;
  for (size_t n = 0; n < f.scan_slots.size(); ++n) {
    const uint16_t slot = f.scan_slots[n];
    const std::string& page = f.parts[n * per_node];
    const std::string* nodes = per_node > 1 ? &f.parts[n * per_node + 1] : nullptr;
    auto stopHere = [&] {
      return scanReply(encodeCursor(0, tainted, f.scan_fingerprint, slot), count, keys);
    };
    const std::string* failed = isErrorReply(page)                         ? &page
                                : nodes != nullptr && isErrorReply(*nodes) ? nodes
                                                                           : nullptr;
    if (failed != nullptr) return n > 0 ? stopHere() : *failed;
    uint64_t node_cursor = 0;
    size_t page_count = 0;
    std::string_view page_keys;
    if (!scanPage(page, &node_cursor, &page_count, &page_keys)) return protocolMismatch();
    if (nodes != nullptr) {  // a cluster node's CLUSTER NODES (see buildScan)
      const std::string_view text =
          nodes->starts_with("=") ? verbatimContent(*nodes) : stringContent(*nodes);
      NodeView view;
      if (!parseClusterNodes(text, &view)) return protocolMismatch();
      if (cursorFingerprint(view.fingerprint) != f.scan_fingerprint) {
        if (n > 0) return stopHere();
        // Ownership changed since the pass began (or the proxy's map is behind the node's
        // view): start over under the proxy's current map; its next check catches a map still
        // behind.
        const uint64_t proxy_fp = cursorFingerprint(topology.fingerprint());
        *drift = cursorFingerprint(view.fingerprint) != proxy_fp;
        return scanReply(encodeCursor(0, false, proxy_fp, scanFirstSlot(topology)), 0, "");
      }
      tainted = tainted || view.migrating;
    }
    keys.append(page_keys);
    count += page_count;
    if (node_cursor != 0) {
      return scanReply(encodeCursor(node_cursor, tainted, f.scan_fingerprint, slot), count, keys);
    }
    const int next = scanNextSlot(topology, slot);
    if (next < 0) {  // the pass ends: cursor 0, or one more pass when a node was migrating
      const uint64_t cursor =
          tainted ? encodeCursor(0, false, f.scan_fingerprint, scanFirstSlot(topology)) : 0;
      return scanReply(cursor, count, keys);
    }
    if (n + 1 == f.scan_slots.size() || f.scan_slots[n + 1] != next) {
      return scanReply(encodeCursor(0, tainted, f.scan_fingerprint, static_cast<uint16_t>(next)),
                       count, keys);
    }
  }
  return protocolMismatch();  // not reached: the last node's page returns above
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

// INFO: a node that failed to answer contributes nothing to the node-held sections (INFO stays
// usable).
std::string mergeInfo(const FanOut& f, int proto) {
  std::vector<std::string_view> infos;
  for (const std::string& p : f.parts) {
    if (!p.empty() && p[0] == '$') infos.push_back(stringContent(p));
  }
  std::string text = mergeNodeInfo(f.text, infos) + mergeKeyspaces(infos);
  std::string out;
  resp::appendText(out, text, proto);
  return out;
}

// Parts: RANDOMKEY of n masters, then their DBSIZE. A master is drawn with probability
// proportional to its DBSIZE and its key returned; nil only when every master answered nil. A
// drawn master that answered nil (its keys expired or were deleted in between) gives way to the
// first master that answered a key.
std::string mergeRandomKey(const FanOut& f) {
  const size_t n = f.parts.size() / 2;
  if (n == 0) return protocolMismatch();
  std::vector<uint64_t> weights(n, 0);
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t keys = 0;
    if (!integerOf(f.parts[n + i], &keys)) return protocolMismatch();
    const bool has_key = f.parts[i] != "$-1\r\n" && f.parts[i] != "_\r\n";
    weights[i] = has_key && keys > 0 ? static_cast<uint64_t>(keys) : 0;
    total += weights[i];
  }
  if (total > 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t draw = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng);
    for (size_t i = 0; i < n; ++i) {
      if (draw < weights[i]) return f.parts[i];
      draw -= weights[i];
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (f.parts[i] != "$-1\r\n" && f.parts[i] != "_\r\n") return f.parts[i];
  }
  return f.parts.front();
}

}  // namespace

std::string mergeFanOut(const Request& parent, const Topology& topology, bool* drift) {
  *drift = false;
  const FanOut& f = *parent.fanout;
  if (f.merge == Merge::kInfo) return mergeInfo(f, parent.proto);
  const std::string* err =
      f.merge == Merge::kAnyOk || f.merge == Merge::kScan ? nullptr : firstError(f);
  if (err != nullptr) return *err;
  switch (f.merge) {
    case Merge::kMget: return mergeMget(f);
    case Merge::kSum: return mergeIntegers(f, true);
    case Merge::kMin: return mergeIntegers(f, false);
    case Merge::kConcat: return mergeConcat(f, false);
    case Merge::kConcatUnique: return mergeConcat(f, true);
    case Merge::kSumPairs: return mergeSumPairs(f);
    case Merge::kAndArrays: return mergeAndArrays(f);
    case Merge::kScan: return mergeScan(f, topology, drift);
    case Merge::kInfo: return mergeInfo(f, parent.proto);
    case Merge::kAllOk:
      for (const std::string& p : f.parts) {
        if (p != "+OK\r\n") return p;
      }
      return "+OK\r\n";
    case Merge::kAnyOk:  // SCRIPT KILL: OK from the busy master, else its -UNKILLABLE, else NOTBUSY
      for (const std::string& p : f.parts) {
        if (p == "+OK\r\n") return p;
      }
      for (const std::string& p : f.parts) {
        if (!p.starts_with("-NOTBUSY")) return p;
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
    case Merge::kRandomKey: return mergeRandomKey(f);
  }
  return protocolMismatch();
}

}  // namespace slotwise::proxy
