#include "router/command_table.h"

#include <array>
#include <iterator>

#include "common/ascii.h"

namespace slotwise::router {
namespace {

// The generated data: kSpecs_* arrays, kSub_* subcommand arrays and kCommands (sorted by name).
#include "router/command_table_data.inc"


// ---- name index: open addressing over kCommands, built at compile time ------------------------

constexpr uint32_t hashName(std::string_view lower) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : lower) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h;
}

constexpr size_t kIndexSize = 512;  // power of two, at least twice the command count
constexpr size_t kIndexMask = kIndexSize - 1;
static_assert(std::size(kCommands) * 2 <= kIndexSize, "grow kIndexSize");

constexpr std::array<int16_t, kIndexSize> buildIndex() {
  std::array<int16_t, kIndexSize> slots{};
  for (auto& slot : slots) slot = -1;
  for (size_t i = 0; i < std::size(kCommands); ++i) {
    size_t probe = hashName(kCommands[i].name) & kIndexMask;
    while (slots[probe] >= 0) probe = (probe + 1) & kIndexMask;
    slots[probe] = static_cast<int16_t>(i);
  }
  return slots;
}
constexpr std::array<int16_t, kIndexSize> kIndex = buildIndex();

constexpr size_t maxNameLength() {
  size_t longest = 0;
  for (const CommandInfo& info : kCommands) {
    if (info.name.size() > longest) longest = info.name.size();
  }
  return longest;
}
constexpr size_t kMaxNameLength = maxNameLength();

constexpr bool sortedByName() {
  for (size_t i = 1; i < std::size(kCommands); ++i) {
    if (!(kCommands[i - 1].name < kCommands[i].name)) return false;
  }
  return true;
}
static_assert(sortedByName(), "allCommands() promises name order");

// Top-level lookup: lowercase into a stack buffer, hash, probe. No allocation.
const CommandInfo* lookupTopLevel(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return nullptr;
  char buf[kMaxNameLength];
  for (size_t i = 0; i < name.size(); ++i) buf[i] = toLowerAscii(name[i]);
  const std::string_view lower(buf, name.size());
  for (size_t probe = hashName(lower) & kIndexMask;; probe = (probe + 1) & kIndexMask) {
    const int16_t idx = kIndex[probe];
    if (idx < 0) return nullptr;  // the table is at most half full: an empty slot always exists
    if (kCommands[idx].name == lower) return &kCommands[idx];
  }
}

// ---- key specs ---------------------------------------------------------------------------------

enum class SpecResult : uint8_t { kOk, kIncomplete, kMalformed };

// Parses numkeys the way Redis accepts it (string2ll) restricted to values >= 0: "0" or a digit
// string without sign, spaces or leading zeros. Larger than any argument count is still parsed.
bool parseCount(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 12 || (s[0] == '0' && s.size() > 1)) return false;
  int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

// Index of the first key of a keyword spec, or 0 when the keyword is absent. As in Redis, a
// forward search stops before the last argument, and a backward search (startfrom <= 0) starts
// at argc + startfrom and stops before index 1.
int64_t keywordStart(const BeginSearch& bs, const resp::Command& cmd) {
  const int64_t argc = static_cast<int64_t>(cmd.argc());
  if (bs.startfrom > 0) {
    for (int64_t i = bs.startfrom; i < argc - 1; ++i) {
      if (equalsIgnoreCase(cmd.arg(i), bs.keyword)) return i + 1;
    }
    return 0;
  }
  for (int64_t i = argc + bs.startfrom; i > 1 && i < argc; --i) {
    if (equalsIgnoreCase(cmd.arg(i), bs.keyword)) return i + 1;
  }
  return 0;
}

int64_t rangeLast(const FindKeys& fk, int64_t first, int64_t argc) {
  if (fk.lastkey >= 0) return first + fk.lastkey;
  if (fk.limit == 0) return argc + fk.lastkey;
  return first + ((argc - first) / fk.limit + fk.lastkey);
}

// Appends the keys of one spec. A keyword spec whose keyword is absent yields no keys.
SpecResult appendSpecKeys(const CommandInfo& info, const KeySpec& spec, const resp::Command& cmd,
                          std::vector<uint32_t>* out) {
  const int64_t argc = static_cast<int64_t>(cmd.argc());
  int64_t first = 0;
  switch (spec.begin_search.type) {
    case BeginSearchType::kIndex: first = spec.begin_search.pos; break;
    case BeginSearchType::kKeyword:
      first = keywordStart(spec.begin_search, cmd);
      if (first == 0) return SpecResult::kOk;
      break;
    case BeginSearchType::kUnknown: return SpecResult::kIncomplete;
  }
  const FindKeys& fk = spec.find_keys;
  int64_t last = 0;
  switch (fk.type) {
    case FindKeysType::kRange: last = rangeLast(fk, first, argc); break;
    case FindKeysType::kKeynum: {
      int64_t numkeys = 0;
      if (first + fk.keynumidx >= argc || !parseCount(cmd.arg(first + fk.keynumidx), &numkeys)) {
        return SpecResult::kMalformed;
      }
      first += fk.firstkey;
      // Redis rejects numkeys 0 unless the command may run without keys (EVAL, FCALL).
      if (numkeys == 0) {
        return info.hasFlag(kNoMandatoryKeys) ? SpecResult::kOk : SpecResult::kMalformed;
      }
      last = first + numkeys - 1;
      break;
    }
    case FindKeysType::kUnknown: return SpecResult::kIncomplete;
  }
  if (fk.keystep <= 0 || first < 1 || first >= argc || last >= argc || last < first) {
    return SpecResult::kMalformed;
  }
  for (int64_t i = first; i <= last; i += fk.keystep) out->push_back(static_cast<uint32_t>(i));
  return (spec.flags & kKeyIncomplete) ? SpecResult::kIncomplete : SpecResult::kOk;
}

// ---- getkeys procedures (Redis db.c) for specs that cannot describe the command --------------

// SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC] [ALPHA] [STORE dst]: the sort key, then
// the destination of the last STORE. BY and GET patterns are not keys for routing purposes.
void sortKeys(const resp::Command& cmd, std::vector<uint32_t>* out) {
  out->push_back(1);
  uint32_t store = 0;
  for (size_t i = 2; i < cmd.argc(); ++i) {
    const std::string_view arg = cmd.arg(i);
    if (equalsIgnoreCase(arg, "limit")) {
      i += 2;
    } else if (equalsIgnoreCase(arg, "store") && i + 1 < cmd.argc()) {
      store = static_cast<uint32_t>(i + 1);  // the destination itself is examined next, as in Redis
    } else if (equalsIgnoreCase(arg, "get") || equalsIgnoreCase(arg, "by")) {
      i += 1;
    }
  }
  if (store != 0) out->push_back(store);
}

// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k ...]:
// the key argument, or every key after KEYS when the key argument is empty.
void migrateKeys(const resp::Command& cmd, std::vector<uint32_t>* out) {
  const size_t argc = cmd.argc();
  size_t first = 3;
  size_t num = 1;
  for (size_t i = 6; i < argc; ++i) {
    const std::string_view arg = cmd.arg(i);
    if (equalsIgnoreCase(arg, "keys")) {
      if (cmd.arg(3).empty()) {
        first = i + 1;
        num = argc - first;
      } else {
        num = 0;  // syntax error left to MIGRATE itself
      }
      break;
    }
    if (equalsIgnoreCase(arg, "auth")) {
      i += 1;
    } else if (equalsIgnoreCase(arg, "auth2")) {
      i += 2;
    }
  }
  for (size_t i = 0; i < num; ++i) out->push_back(static_cast<uint32_t>(first + i));
}

void runGetKeysProc(GetKeysProc proc, const resp::Command& cmd, std::vector<uint32_t>* out) {
  out->clear();
  switch (proc) {
    case GetKeysProc::kSort: sortKeys(cmd, out); break;
    case GetKeysProc::kSortRo: out->push_back(1); break;
    case GetKeysProc::kMigrate: migrateKeys(cmd, out); break;
    case GetKeysProc::kNone: break;
  }
}

}  // namespace

std::string_view toString(ProxyClass proxy_class) {
  switch (proxy_class) {
    case ProxyClass::kKeyed: return "keyed";
    case ProxyClass::kKeyless: return "keyless";
    case ProxyClass::kLocal: return "local";
    case ProxyClass::kAllMasters: return "all-masters";
    case ProxyClass::kTransaction: return "transaction";
    case ProxyClass::kPubSub: return "pubsub";
    case ProxyClass::kUnsupported: return "unsupported";
  }
  return "invalid";
}

const CommandInfo* lookupCommand(std::string_view name) {
  const size_t bar = name.find('|');
  if (bar == std::string_view::npos) return lookupTopLevel(name);
  const CommandInfo* container = lookupTopLevel(name.substr(0, bar));
  return container ? findSubcommand(*container, name.substr(bar + 1)) : nullptr;
}

// Subcommands newer than the 7.0 table that the proxy answers itself. CLIENT SETINFO (Redis 7.2)
// is sent on connect by current client libraries (redis-py 5, Lettuce 6.3, go-redis 9); the
// proxy keeps LIB-NAME/LIB-VER for CLIENT LIST. Not listed by COMMAND (that comes from a node).
constexpr CommandInfo kClientSetinfo = {"client|setinfo", 4, kNoscript | kLoading | kStale,
                                        0, 0, 0, {}, ProxyClass::kLocal, {}, GetKeysProc::kNone};

const CommandInfo* findSubcommand(const CommandInfo& container, std::string_view sub) {
  const size_t prefix = container.name.size() + 1;  // "container|"
  for (const CommandInfo& info : container.subcommands) {
    if (equalsIgnoreCase(info.name.substr(prefix), sub)) return &info;
  }
  if (container.name == "client" && equalsIgnoreCase(sub, "setinfo")) return &kClientSetinfo;
  return nullptr;
}

const CommandInfo* resolveCommand(const resp::Command& cmd, const CommandInfo** container) {
  if (container != nullptr) *container = nullptr;
  if (cmd.argc() == 0) return nullptr;
  const CommandInfo* info = lookupTopLevel(cmd.arg(0));
  if (info == nullptr || !info->isContainer()) return info;
  const CommandInfo* sub = cmd.argc() >= 2 ? findSubcommand(*info, cmd.arg(1)) : nullptr;
  if (sub == nullptr && container != nullptr) *container = info;
  return sub;
}

bool arityOk(const CommandInfo& info, size_t argc) {
  if (info.arity >= 0) return argc == static_cast<size_t>(info.arity);
  return argc >= static_cast<size_t>(-static_cast<int64_t>(info.arity));
}

bool extractKeys(const CommandInfo& info, const resp::Command& cmd, std::vector<uint32_t>* out,
                 KeyFilter filter) {
  out->clear();
  bool considered = false;
  for (const KeySpec& spec : info.key_specs) {
    if ((spec.flags & kKeyNotKey) && filter == KeyFilter::kKeysOnly) continue;
    considered = true;
    const SpecResult result = appendSpecKeys(info, spec, cmd, out);
    if (result == SpecResult::kMalformed) {
      out->clear();
      return false;
    }
    if (result == SpecResult::kIncomplete && info.getkeys != GetKeysProc::kNone) {
      runGetKeysProc(info.getkeys, cmd, out);  // Redis abandons the specs here, as we do
      break;
    }
  }
  // A command with key specs that found none would be rejected by Redis (e.g. XREAD without
  // STREAMS), unless it may run without keys (EVAL with numkeys 0).
  return !(considered && out->empty() && !info.hasFlag(kNoMandatoryKeys));
}

std::span<const CommandInfo> allCommands() { return kCommands; }

}  // namespace slotwise::router
