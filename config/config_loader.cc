// YAML -> ProxyConfig through small binding tables: one line per key.
//
//   YAML::Node --parseMapping(table)--> struct fields   (syntax, types, ranges, unknown keys)
//                                           |
//                  validateConfig(table) <--+            (ranges again, seeds, cross-field rules)
//
// Each table entry (Field) knows its key, how to parse a node into its member, how to check the
// member of an already-built struct, how to list its key paths and how to print itself. The range
// of a number is written once, in the table, and used by both the parser and validateConfig. To add
// a key, add one line to the table of its section; to add a section, add a struct member, a table
// function and one `section(...)` line in rootFields().
#include "config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <span>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/str_cat.h"

namespace slotwise::config {
namespace {

using Errors = std::vector<std::string>;

constexpr uint64_t kKb = 1024;
constexpr uint64_t kMb = 1024 * kKb;
constexpr uint64_t kGb = 1024 * kMb;
constexpr uint64_t kTb = 1024 * kGb;
constexpr uint64_t kSecondMs = 1000;
constexpr uint64_t kMinuteMs = 60 * kSecondMs;
constexpr uint64_t kHourMs = 60 * kMinuteMs;
constexpr uint64_t kDayMs = 24 * kHourMs;
constexpr std::string_view kRootLabel = "(root)";

// ---------------------------------------------------------------------------------------------
// Enum spellings.

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

constexpr EnumName<LogLevel> kLogLevels[] = {
    {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"off", LogLevel::kOff},
};
constexpr EnumName<ReadFrom> kReadFroms[] = {
    {"master", ReadFrom::kMaster},
    {"prefer-replica", ReadFrom::kPreferReplica},
    {"replica", ReadFrom::kReplica},
};
constexpr EnumName<bool> kBools[] = {{"false", false}, {"true", true}};
constexpr EnumName<AcceptMode> kAcceptModes[] = {
    {"handoff", AcceptMode::kHandoff},
    {"reuseport", AcceptMode::kReuseport},
};

template <typename E>
std::string_view nameOf(std::span<const EnumName<E>> table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

template <typename E>
std::optional<E> valueOf(std::span<const EnumName<E>> table, std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <typename E>
std::string choicesOf(std::span<const EnumName<E>> table) {
  std::string out;
  for (const auto& entry : table) out += (out.empty() ? "" : ", ") + std::string(entry.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Paths and messages.

std::string childPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string indexPath(const std::string& parent, size_t index) {
  return strCat(parent, "[", index, "]");
}

void addError(Errors& errors, const std::string& path, std::string_view message) {
  errors.push_back(strCat(path.empty() ? kRootLabel : path, ": ", message));
}

std::string_view kindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

// True when one error's key path is the other's or an ancestor of it ("(root)" is the ancestor
// of all). Used to drop validation errors about a value whose parsing already failed.
bool pathsOverlap(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (a == kRootLabel || a == b) return true;
  return b.starts_with(a) && (b[a.size()] == '.' || b[a.size()] == '[');
}

std::string_view errorPath(std::string_view error) { return error.substr(0, error.find(": ")); }

std::string formatBytes(uint64_t n) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"tb", kTb}, {"gb", kGb}, {"mb", kMb}, {"kb", kKb}};
  for (const auto& [unit, size] : kUnits) {
    if (n >= size && n % size == 0) return strCat(n / size, unit);
  }
  return std::to_string(n);
}

// ---------------------------------------------------------------------------------------------
// Scalars.

Result<uint64_t> parseUnsigned(std::string_view text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) {
    return Result<uint64_t>::error(strCat("value '", text, "' is too large"));
  }
  if (text.empty() || ec != std::errc() || ptr != end) {
    return Result<uint64_t>::error(strCat("expected a non-negative integer, got '", text, "'"));
  }
  return value;
}

// @return the multiplier of a lowercase unit suffix, or 0 if the suffix is unknown.
uint64_t unitMultiplier(std::string_view unit) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},     {"b", 1},   {"k", kKb},  {"kb", kKb}, {"m", kMb},
      {"mb", kMb}, {"g", kGb}, {"gb", kGb}, {"t", kTb},  {"tb", kTb}};
  for (const auto& [name, multiplier] : kUnits) {
    if (name == unit) return multiplier;
  }
  return 0;
}

// @return the scalar text of `node`, or nullopt after recording "expected <what>, got <kind>".
std::optional<std::string> scalarText(const YAML::Node& node, const std::string& path,
                                      std::string_view what, Errors& errors) {
  if (node.IsScalar()) return node.Scalar();
  addError(errors, path, strCat("expected ", what, ", got ", kindOf(node)));
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The field binder.

template <typename Cfg>
struct Field {
  std::string_view key;
  // Parses `node` into its member of `cfg`; on error appends to `errors`, member untouched.
  std::function<void(const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors)>
      parse;
  // Appends an error for each problem of the member of an already-built `cfg`.
  std::function<void(const Cfg& cfg, const std::string& path, Errors& errors)> check;
  // Appends the leaf key paths under `path` (just `path` for a leaf).
  std::function<void(const std::string& path, std::vector<std::string>& out)> list;
  // Appends "<indent>key: value\n" (or the nested block of a section) for the member of `cfg`.
  std::function<void(const Cfg& cfg, size_t indent, std::string& out)> emit;
};

template <typename Cfg>
using Fields = std::vector<Field<Cfg>>;

void listLeaf(const std::string& path, std::vector<std::string>& out) { out.push_back(path); }

// A leaf field: `show` renders the member as a YAML value that `parse` reads back.
template <typename Cfg, typename Parse, typename Check, typename Show>
Field<Cfg> leaf(std::string_view key, Parse parse, Check check, Show show) {
  auto emit = [key, show](const Cfg& cfg, size_t indent, std::string& out) {
    out += strCat(std::string(indent, ' '), key, ": ", show(cfg), "\n");
  };
  return {key, parse, check, listLeaf, emit};
}

template <typename Cfg>
const Field<Cfg>* findField(const Fields<Cfg>& fields, std::string_view key) {
  auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.key == key; });
  return it == fields.end() ? nullptr : &*it;
}

// Binds every entry of mapping `node` through `fields`. A null node (a section whose keys are
// all commented out) leaves every default in place.
template <typename Cfg>
void parseMapping(const YAML::Node& node, const std::string& path, const Fields<Cfg>& fields,
                  Cfg& cfg, Errors& errors) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    return addError(errors, path, strCat("expected a mapping, got ", kindOf(node)));
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      addError(errors, path, "mapping keys must be plain strings");
      continue;
    }
    const std::string& key = entry.first.Scalar();
    const std::string key_path = childPath(path, key);
    const Field<Cfg>* field = findField(fields, key);
    if (!seen.insert(key).second) {
      addError(errors, key_path, "duplicate key");
    } else if (field == nullptr) {
      addError(errors, key_path, "unknown key");
    } else {
      field->parse(entry.second, key_path, cfg, errors);
    }
  }
}

template <typename Cfg>
void checkFields(const Fields<Cfg>& fields, const Cfg& cfg, const std::string& path,
                 Errors& errors) {
  for (const auto& field : fields) field.check(cfg, childPath(path, field.key), errors);
}

// Numbers: counts, milliseconds and byte sizes, each with an inclusive range.

struct Range {
  uint64_t lo;
  uint64_t hi;
  bool bytes = false;  // print bounds as "64kb" rather than 65536
  bool contains(uint64_t v) const { return v >= lo && v <= hi; }
  std::string message() const {
    auto show = [&](uint64_t v) { return bytes ? formatBytes(v) : std::to_string(v); };
    return strCat("must be between ", show(lo), " and ", show(hi));
  }
};

template <typename T>
bool memberInRange(const T& value, const Range& range) {
  if constexpr (std::is_same_v<T, Millis>) {
    return value.count() >= 0 && range.contains(static_cast<uint64_t>(value.count()));
  } else {
    return range.contains(value);
  }
}

// REQUIRES: raw fits T (guaranteed by the table's range).
template <typename T>
T memberFromRaw(uint64_t raw) {
  if constexpr (std::is_same_v<T, Millis>) {
    return Millis(static_cast<Millis::rep>(raw));
  } else {
    return static_cast<T>(raw);
  }
}

template <typename T>
uint64_t memberToRaw(const T& value) {
  if constexpr (std::is_same_v<T, Millis>) {
    return static_cast<uint64_t>(value.count());
  } else {
    return value;
  }
}

using NumberParser = Result<uint64_t> (*)(std::string_view);

template <typename Cfg, typename T>
Field<Cfg> number(std::string_view key, T Cfg::*member, Range range, NumberParser parser,
                  std::string_view what) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    auto text = scalarText(node, path, what, errors);
    if (!text) return;
    auto value = parser(*text);
    if (!value) return addError(errors, path, value.error());
    if (!range.contains(*value)) return addError(errors, path, range.message());
    cfg.*member = memberFromRaw<T>(*value);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    if (!memberInRange(cfg.*member, range)) addError(errors, path, range.message());
  };
  auto show = [=](const Cfg& cfg) {
    const uint64_t raw = memberToRaw(cfg.*member);
    return range.bytes ? formatBytes(raw) : std::to_string(raw);
  };
  return leaf<Cfg>(key, parse, check, show);
}

template <typename Cfg, typename T>
Field<Cfg> count(std::string_view key, T Cfg::*member, uint64_t lo, uint64_t hi) {
  return number(key, member, Range{lo, hi}, parseUnsigned, "a non-negative integer");
}

template <typename Cfg>
Field<Cfg> millis(std::string_view key, Millis Cfg::*member, uint64_t lo, uint64_t hi) {
  return number(key, member, Range{lo, hi}, parseUnsigned, "an integer (milliseconds)");
}

template <typename Cfg, typename T>
Field<Cfg> bytes(std::string_view key, T Cfg::*member, uint64_t lo, uint64_t hi) {
  return number(key, member, Range{lo, hi, true}, parseByteSize, "a byte size");
}

// Enums spelled by a table of names.
template <typename Cfg, typename E, size_t N>
Field<Cfg> choice(std::string_view key, E Cfg::*member, const EnumName<E> (&names)[N]) {
  std::span<const EnumName<E>> table(names);
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    auto text = scalarText(node, path, "a string", errors);
    if (!text) return;
    if (auto value = valueOf(table, *text)) {
      cfg.*member = *value;
    } else {
      addError(errors, path,
               strCat("invalid value '", *text, "' (expected one of ", choicesOf(table), ")"));
    }
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    if (!valueOf(table, nameOf(table, cfg.*member))) {
      addError(errors, path, strCat("invalid value ", static_cast<int>(cfg.*member)));
    }
  };
  auto show = [=](const Cfg& cfg) { return std::string(nameOf(table, cfg.*member)); };
  return leaf<Cfg>(key, parse, check, show);
}

// Addresses: one "host:port", or a sequence of them.

// Quoted, because an unquoted "[::1]:7000" would be read as a YAML flow sequence.
std::string quotedAddress(const HostPort& address) { return "\"" + address.toString() + "\""; }

void checkAddress(const HostPort& address, const std::string& path, Errors& errors) {
  if (address.host.empty()) addError(errors, path, "missing host");
  if (address.port == 0) addError(errors, path, "invalid port '0' (must be between 1 and 65535)");
}

std::optional<HostPort> parseAddressNode(const YAML::Node& node, const std::string& path,
                                         Errors& errors) {
  auto text = scalarText(node, path, "a \"host:port\" string", errors);
  if (!text) return std::nullopt;
  auto address = parseHostPort(*text);
  if (!address) {
    addError(errors, path, address.error());
    return std::nullopt;
  }
  return std::move(address).value();
}

template <typename Cfg>
Field<Cfg> address(std::string_view key, HostPort Cfg::*member) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (auto value = parseAddressNode(node, path, errors)) cfg.*member = std::move(*value);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    checkAddress(cfg.*member, path, errors);
  };
  auto show = [=](const Cfg& cfg) { return quotedAddress(cfg.*member); };
  return leaf<Cfg>(key, parse, check, show);
}

// An address that may be left empty ("" = off), e.g. admin.listen.
template <typename Cfg>
Field<Cfg> optionalAddress(std::string_view key, HostPort Cfg::*member) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (node.IsScalar() && node.Scalar().empty()) {
      cfg.*member = HostPort{};
      return;
    }
    if (auto value = parseAddressNode(node, path, errors)) cfg.*member = std::move(*value);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    if (!(cfg.*member == HostPort{})) checkAddress(cfg.*member, path, errors);
  };
  auto show = [=](const Cfg& cfg) {
    return cfg.*member == HostPort{} ? std::string("\"\"") : quotedAddress(cfg.*member);
  };
  return leaf<Cfg>(key, parse, check, show);
}

std::string quotedString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// A free-form string. formatConfig shows it as is: redact it before showing a config to anyone.
template <typename Cfg>
Field<Cfg> secret(std::string_view key, std::string Cfg::*member) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (auto text = scalarText(node, path, "a string", errors)) cfg.*member = std::string(*text);
  };
  auto check = [](const Cfg&, const std::string&, Errors&) {};
  auto show = [=](const Cfg& cfg) { return quotedString(cfg.*member); };
  return leaf<Cfg>(key, parse, check, show);
}

void checkAddressList(const std::vector<HostPort>& list, size_t min_count, const std::string& path,
                      Errors& errors) {
  if (list.size() < min_count) {
    addError(
        errors, path,
        strCat("must list at least ", min_count, " host:port address", min_count == 1 ? "" : "es"));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    checkAddress(list[i], indexPath(path, i), errors);
    const auto current = list.begin() + static_cast<std::ptrdiff_t>(i);
    auto first = std::find(list.begin(), current, list[i]);
    if (first != current) {
      addError(errors, indexPath(path, i),
               strCat("duplicate of ", indexPath(path, first - list.begin())));
    }
  }
}

// The list is replaced only when every element parses, so that validation messages that name
// an index ("duplicate of seeds[0]") always refer to the indices of the document.
template <typename Cfg>
Field<Cfg> addressList(std::string_view key, std::vector<HostPort> Cfg::*member, size_t min_count) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (!node.IsSequence()) {
      return addError(errors, path,
                      strCat("expected a sequence of \"host:port\" strings, got ", kindOf(node)));
    }
    std::vector<HostPort> list;
    const size_t errors_before = errors.size();
    for (size_t i = 0; i < node.size(); ++i) {
      if (auto value = parseAddressNode(node[i], indexPath(path, i), errors)) {
        list.push_back(std::move(*value));
      }
    }
    if (errors.size() == errors_before) cfg.*member = std::move(list);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    checkAddressList(cfg.*member, min_count, path, errors);
  };
  auto show = [=](const Cfg& cfg) {
    std::string out;
    for (const HostPort& a : cfg.*member) out += (out.empty() ? "" : ", ") + quotedAddress(a);
    return "[" + out + "]";
  };
  return leaf<Cfg>(key, parse, check, show);
}

// A sequence of mappings, each bound through `fields` (e.g. auth.users). Listed as one leaf key;
// shown as a flow sequence of flow mappings so that the output parses back.
template <typename Cfg, typename Sub>
Field<Cfg> mappingList(std::string_view key, std::vector<Sub> Cfg::*member,
                       const Fields<Sub>& (*fields)()) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      return addError(errors, path, strCat("expected a sequence of mappings, got ", kindOf(node)));
    }
    std::vector<Sub> list(node.size());
    for (size_t i = 0; i < node.size(); ++i) {
      parseMapping(node[i], indexPath(path, i), fields(), list[i], errors);
    }
    cfg.*member = std::move(list);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    const auto& list = cfg.*member;
    for (size_t i = 0; i < list.size(); ++i) checkFields(fields(), list[i], indexPath(path, i), errors);
  };
  auto show = [=](const Cfg& cfg) {
    std::string out;
    for (const Sub& item : cfg.*member) {
      std::string entry;
      for (const auto& field : fields()) field.emit(item, 0, entry);
      std::string flow;
      for (size_t start = 0; start < entry.size();) {
        const size_t end = entry.find('\n', start);
        flow += (flow.empty() ? "" : ", ") + entry.substr(start, end - start);
        start = end + 1;
      }
      out += (out.empty() ? "{" : ", {") + flow + "}";
    }
    return "[" + out + "]";
  };
  return leaf<Cfg>(key, parse, check, show);
}

// Nested sections.
template <typename Cfg, typename Sub>
Field<Cfg> section(std::string_view key, Sub Cfg::*member, const Fields<Sub>& (*fields)()) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    parseMapping(node, path, fields(), cfg.*member, errors);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    checkFields(fields(), cfg.*member, path, errors);
  };
  auto list = [=](const std::string& path, std::vector<std::string>& out) {
    for (const auto& field : fields()) field.list(childPath(path, field.key), out);
  };
  auto emit = [=](const Cfg& cfg, size_t indent, std::string& out) {
    out += strCat(std::string(indent, ' '), key, ":\n");
    for (const auto& field : fields()) field.emit(cfg.*member, indent + 2, out);
  };
  return {key, parse, check, list, emit};
}

// ---------------------------------------------------------------------------------------------
// The tables. YAML keys and ranges; defaults live in proxy_config.h.

const Fields<ClusterConfig>& clusterFields() {
  using C = ClusterConfig;
  static const Fields<C> kFields = {
      addressList("seeds", &C::seeds, 1),
      millis("refresh_interval_ms", &C::refresh_interval, 100, kDayMs),
      millis("min_refresh_interval_ms", &C::min_refresh_interval, 0, kHourMs),
      count("redirect_refresh_threshold", &C::redirect_refresh_threshold, 1, 1000000),
      count("failure_refresh_threshold", &C::failure_refresh_threshold, 1, 1000000),
      millis("query_timeout_ms", &C::query_timeout, 10, kMinuteMs),
  };
  return kFields;
}

const Fields<BackendConfig>& backendFields() {
  using C = BackendConfig;
  static const Fields<C> kFields = {
      count("connections_per_node", &C::connections_per_node, 1, 64),
      millis("connect_timeout_ms", &C::connect_timeout, 1, kMinuteMs),
      millis("request_timeout_ms", &C::request_timeout, 0, kHourMs),
      count("max_redirects", &C::max_redirects, 0, 16),
      count("tryagain_retries", &C::tryagain_retries, 0, 100),
      millis("tryagain_backoff_ms", &C::tryagain_backoff, 0, 10 * kSecondMs),
      millis("retry_deadline_ms", &C::retry_deadline, 0, 10 * kMinuteMs),
      count("max_dedicated_connections", &C::max_dedicated_connections, 1, 100000),
      secret("username", &C::username),
      secret("password", &C::password),
      choice("read_from", &C::read_from, kReadFroms),
      millis("replica_max_lag_ms", &C::replica_max_lag, 0, kHourMs),
  };
  return kFields;
}

const Fields<LimitsConfig>& limitsFields() {
  using C = LimitsConfig;
  static const Fields<C> kFields = {
      count("max_clients", &C::max_clients, 1, 1000000),
      count("max_args", &C::max_args, 1, kGb),
      bytes("max_bulk_length", &C::max_bulk_length, 1, 16 * kGb),
      bytes("max_inline_length", &C::max_inline_length, 1, 64 * kMb),
      bytes("max_request_bytes", &C::max_request_bytes, 1, 16 * kGb),
      bytes("max_pipelined_bytes", &C::max_pipelined_bytes, 1, 64 * kGb),
      count("max_pending_requests", &C::max_pending_requests, 1, 1000000),
      bytes("max_output_bytes", &C::max_output_bytes, 1, 64 * kGb),
      millis("client_idle_timeout_ms", &C::client_idle_timeout, 0, 30 * kDayMs),
  };
  return kFields;
}

// A string that must not be empty (user names, passwords of named users).
template <typename Cfg>
Field<Cfg> required(std::string_view key, std::string Cfg::*member) {
  Field<Cfg> field = secret(key, member);
  field.check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    if ((cfg.*member).empty()) addError(errors, path, "must not be empty");
  };
  return field;
}

const Fields<UserConfig>& userFields() {
  using C = UserConfig;
  static const Fields<C> kFields = {
      required("name", &C::name),
      required("password", &C::password),
      secret("backend_username", &C::backend_username),
      secret("backend_password", &C::backend_password),
  };
  return kFields;
}

const Fields<SlowlogConfig>& slowlogFields() {
  using C = SlowlogConfig;
  static const Fields<C> kFields = {
      count("threshold_us", &C::threshold_us, 0, 3600ull * 1000 * 1000),
      count("max_len", &C::max_len, 0, 100000),
      choice("log_args", &C::log_args, kBools),
  };
  return kFields;
}

const Fields<AuthConfig>& authFields() {
  static const Fields<AuthConfig> kFields = {
      secret("password", &AuthConfig::password),
      mappingList("users", &AuthConfig::users, userFields),
      count("max_failures", &AuthConfig::max_failures, 1, 1000),
  };
  return kFields;
}

const Fields<AdminConfig>& adminFields() {
  static const Fields<AdminConfig> kFields = {
      optionalAddress("listen", &AdminConfig::listen),
      secret("token", &AdminConfig::token),
  };
  return kFields;
}

const Fields<LogConfig>& logFields() {
  static const Fields<LogConfig> kFields = {
      choice("level", &LogConfig::level, kLogLevels),
  };
  return kFields;
}

const Fields<ProxyConfig>& rootFields() {
  using C = ProxyConfig;
  static const Fields<C> kFields = {
      address("listen", &C::listen),
      count("workers", &C::workers, 0, 256),
      choice("accept_mode", &C::accept_mode, kAcceptModes),
      count("tcp_backlog", &C::tcp_backlog, 1, 65535),
      optionalAddress("advertise", &C::advertise),
      choice("allow_admin_commands", &C::allow_admin_commands, kBools),
      section("cluster", &C::cluster, clusterFields),
      section("backend", &C::backend, backendFields),
      section("limits", &C::limits, limitsFields),
      section("auth", &C::auth, authFields),
      section("admin", &C::admin, adminFields),
      section("slowlog", &C::slowlog, slowlogFields),
      section("log", &C::log, logFields),
  };
  return kFields;
}

// ---------------------------------------------------------------------------------------------
// Cross-field rules, checked after every field is in range.

void checkNotAbove(uint64_t value, uint64_t bound, const std::string& path,
                   std::string_view bound_path, Errors& errors) {
  if (value > bound) addError(errors, path, strCat("must not exceed ", bound_path));
}

// User names are unique; "default" is auth.password's user when that is set.
void checkUsers(const AuthConfig& auth, Errors& errors) {
  for (size_t i = 0; i < auth.users.size(); ++i) {
    const std::string path = indexPath("auth.users", i) + ".name";
    const std::string& name = auth.users[i].name;
    for (size_t j = 0; j < i; ++j) {
      if (auth.users[j].name == name) addError(errors, path, strCat("duplicate of auth.users[", j, "]"));
    }
    if (name == "default" && !auth.password.empty()) {
      addError(errors, path, "'default' is auth.password's user; set one or the other");
    }
  }
}

void checkCrossField(const ProxyConfig& config, Errors& errors) {
  const ClusterConfig& c = config.cluster;
  checkNotAbove(c.min_refresh_interval.count(), c.refresh_interval.count(),
                "cluster.min_refresh_interval_ms", "cluster.refresh_interval_ms", errors);
  const LimitsConfig& l = config.limits;
  checkNotAbove(l.max_bulk_length, l.max_request_bytes, "limits.max_bulk_length",
                "limits.max_request_bytes", errors);
  checkNotAbove(l.max_inline_length, l.max_request_bytes, "limits.max_inline_length",
                "limits.max_request_bytes", errors);
  checkNotAbove(l.max_request_bytes, l.max_pipelined_bytes, "limits.max_request_bytes",
                "limits.max_pipelined_bytes", errors);
  checkUsers(config.auth, errors);
}

// ---------------------------------------------------------------------------------------------
// Documents.

std::string yamlError(std::string_view source, const YAML::Exception& e) {
  if (e.mark.is_null()) return strCat(source, ": YAML syntax error: ", e.msg);
  return strCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": YAML syntax error: ", e.msg);
}

// Appends to `errors` each validation error whose key path no existing error already covers.
void appendValidation(const ProxyConfig& config, Errors& errors) {
  const Errors parse_errors = errors;
  for (std::string& error : validateConfig(config)) {
    bool covered = std::any_of(parse_errors.begin(), parse_errors.end(), [&](const auto& p) {
      return pathsOverlap(errorPath(p), errorPath(error));
    });
    if (!covered) errors.push_back(std::move(error));
  }
}

std::string joinLines(const Errors& errors) {
  std::string out;
  for (const auto& error : errors) out += (out.empty() ? "" : "\n") + error;
  return out;
}

}  // namespace

Result<ProxyConfig> loadConfigString(const std::string& yaml, std::string_view source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    return Result<ProxyConfig>::error(yamlError(source_name, e));
  }
  ProxyConfig config;
  Errors errors;
  if (documents.size() > 1) {
    addError(errors, "", strCat("expected one YAML document, got ", documents.size()));
  } else if (!documents.empty()) {
    parseMapping(documents.front(), "", rootFields(), config, errors);
  }
  appendValidation(config, errors);
  if (!errors.empty()) return Result<ProxyConfig>::error(joinLines(errors));
  return config;
}

Result<ProxyConfig> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Result<ProxyConfig>::error(strCat(path, ": cannot read config file: is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Result<ProxyConfig>::error(
        strCat(path, ": cannot read config file: ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return Result<ProxyConfig>::error(strCat(path, ": cannot read config file: I/O error"));
  }
  return loadConfigString(content.str(), path);
}

std::vector<std::string> validateConfig(const ProxyConfig& config) {
  Errors errors;
  checkFields(rootFields(), config, "", errors);
  if (errors.empty()) checkCrossField(config, errors);
  return errors;
}

namespace {

bool isHostnameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Hex groups, ':' and '.' (embedded IPv4), optionally followed by "%zone".
bool isIpv6Literal(std::string_view host) {
  std::string_view addr = host.substr(0, host.find('%'));
  std::string_view zone = addr.size() < host.size() ? host.substr(addr.size() + 1) : "";
  auto is_addr_char = [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  };
  if (addr.find(':') == std::string_view::npos) return false;
  if (!std::all_of(addr.begin(), addr.end(), is_addr_char)) return false;
  if (addr.size() < host.size() && zone.empty()) return false;
  return std::all_of(zone.begin(), zone.end(), isHostnameChar);
}

Result<uint16_t> parsePort(std::string_view text) {
  auto value = parseUnsigned(text);
  if (!value) {
    return Result<uint16_t>::error(strCat("invalid port '", text, "'"));
  }
  if (*value < 1 || *value > 65535) {
    return Result<uint16_t>::error(strCat("invalid port '", text, "' (must be between 1 and 65535)"));
  }
  return static_cast<uint16_t>(*value);
}

// Splits "[v6]:port" or "host:port" into host (brackets removed) and port text.
Result<std::pair<std::string_view, std::string_view>> splitHostPort(std::string_view text) {
  using Split = Result<std::pair<std::string_view, std::string_view>>;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Split::error(strCat("missing ']' in '", text, "'"));
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Split::error(strCat("missing port in '", text, "' (expected [host]:port)"));
    }
    return std::pair{text.substr(1, close - 1), text.substr(close + 2)};
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Split::error(strCat("missing port in '", text, "' (expected host:port)"));
  }
  if (text.substr(0, colon).find(':') != std::string_view::npos) {
    return Split::error(strCat("IPv6 address must be in brackets: '", text, "'"));
  }
  return std::pair{text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace

Result<HostPort> parseHostPort(std::string_view text) {
  auto split = splitHostPort(text);
  if (!split) return Result<HostPort>::error(split.error());
  const auto [host, port_text] = *split;
  const bool bracketed = text.starts_with('[');
  if (host.empty()) return Result<HostPort>::error(strCat("missing host in '", text, "'"));
  if (bracketed ? !isIpv6Literal(host) : !std::all_of(host.begin(), host.end(), isHostnameChar)) {
    return Result<HostPort>::error(strCat("invalid host '", host, "'"));
  }
  auto port = parsePort(port_text);
  if (!port) return Result<HostPort>::error(port.error());
  return HostPort{std::string(host), *port};
}

Result<uint64_t> parseByteSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit(text.substr(digits));
  unit.erase(0, unit.find_first_not_of(' '));
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const uint64_t multiplier = unitMultiplier(unit);
  if (digits == 0 || multiplier == 0) {
    return Result<uint64_t>::error(
        strCat("invalid byte size '", text,
            "' (expected an integer with optional unit b, kb, mb, gb, tb)"));
  }
  auto number = parseUnsigned(text.substr(0, digits));
  if (!number || *number > std::numeric_limits<uint64_t>::max() / multiplier) {
    return Result<uint64_t>::error(strCat("byte size '", text, "' is too large"));
  }
  return *number * multiplier;
}

std::string_view logLevelName(LogLevel level) {
  return nameOf(std::span<const EnumName<LogLevel>>(kLogLevels), level);
}

std::optional<LogLevel> parseLogLevel(std::string_view name) {
  return valueOf(std::span<const EnumName<LogLevel>>(kLogLevels), name);
}

std::string_view acceptModeName(AcceptMode mode) {
  return nameOf(std::span<const EnumName<AcceptMode>>(kAcceptModes), mode);
}

std::string formatConfig(const ProxyConfig& config) {
  std::string out;
  for (const auto& field : rootFields()) field.emit(config, 0, out);
  return out;
}

std::vector<std::string> knownKeyPaths() {
  std::vector<std::string> out;
  for (const auto& field : rootFields()) field.list(std::string(field.key), out);
  return out;
}

}  // namespace slotwise::config
