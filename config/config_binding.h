// Building blocks of the YAML binding tables (config_fields.cc): key paths and error messages,
// scalar parsing with units, and the Field binder with its leaf kinds (count, millis, bytes,
// choice, address, secret, lists, sections). Internal to the config module: only
// config_fields.cc and config_loader.cc include it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/str_cat.h"
#include "config/config_loader.h"

namespace slotwise::config::binding {

using Errors = std::vector<std::string>;

inline constexpr uint64_t kKb = 1024;
inline constexpr uint64_t kMb = 1024 * kKb;
inline constexpr uint64_t kGb = 1024 * kMb;
inline constexpr uint64_t kTb = 1024 * kGb;
inline constexpr uint64_t kSecondMs = 1000;
inline constexpr uint64_t kMinuteMs = 60 * kSecondMs;
inline constexpr uint64_t kHourMs = 60 * kMinuteMs;
inline constexpr uint64_t kDayMs = 24 * kHourMs;
inline constexpr std::string_view kRootLabel = "(root)";

// ---------------------------------------------------------------------------------------------
// Enum spellings.

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
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

inline std::string childPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

inline std::string indexPath(const std::string& parent, size_t index) {
  return strCat(parent, "[", index, "]");
}

inline void addError(Errors& errors, const std::string& path, std::string_view message) {
  errors.push_back(strCat(path.empty() ? kRootLabel : path, ": ", message));
}

inline std::string_view kindOf(const YAML::Node& node) {
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
inline bool pathsOverlap(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (a == kRootLabel || a == b) return true;
  return b.starts_with(a) && (b[a.size()] == '.' || b[a.size()] == '[');
}

inline std::string_view errorPath(std::string_view error) { return error.substr(0, error.find(": ")); }

inline std::string formatBytes(uint64_t n) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"tb", kTb}, {"gb", kGb}, {"mb", kMb}, {"kb", kKb}};
  for (const auto& [unit, size] : kUnits) {
    if (n >= size && n % size == 0) return strCat(n / size, unit);
  }
  return std::to_string(n);
}

// ---------------------------------------------------------------------------------------------
// Scalars.

inline Result<uint64_t> parseUnsigned(std::string_view text) {
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
inline uint64_t unitMultiplier(std::string_view unit) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},     {"b", 1},   {"k", kKb},  {"kb", kKb}, {"m", kMb},
      {"mb", kMb}, {"g", kGb}, {"gb", kGb}, {"t", kTb},  {"tb", kTb}};
  for (const auto& [name, multiplier] : kUnits) {
    if (name == unit) return multiplier;
  }
  return 0;
}

// @return the scalar text of `node`, or nullopt after recording "expected <what>, got <kind>".
inline std::optional<std::string> scalarText(const YAML::Node& node, const std::string& path,
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

inline void listLeaf(const std::string& path, std::vector<std::string>& out) { out.push_back(path); }

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
inline std::string quotedAddress(const HostPort& address) {
  return strCat("\"", address.toString(), "\"");  // not operator+: GCC 12 -Wrestrict false positive
}

inline void checkAddress(const HostPort& address, const std::string& path, Errors& errors) {
  if (address.host.empty()) addError(errors, path, "missing host");
  if (address.port == 0) addError(errors, path, "invalid port '0' (must be between 1 and 65535)");
}

inline std::optional<HostPort> parseAddressNode(const YAML::Node& node, const std::string& path,
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

inline std::string quotedString(std::string_view text) {
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

inline void checkAddressList(const std::vector<HostPort>& list, size_t min_count, const std::string& path,
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

// `item` as one YAML flow mapping, "{key: value, ...}", so that it fits on the line of its parent
// key. REQUIRES: every field of `fields` is a leaf (a nested section would print a block).
template <typename Sub>
std::string flowMapping(const Fields<Sub>& fields, const Sub& item) {
  std::string entry;
  for (const auto& field : fields) field.emit(item, 0, entry);
  std::string flow;
  for (size_t start = 0; start < entry.size();) {
    const size_t end = entry.find('\n', start);
    flow += (flow.empty() ? "" : ", ") + entry.substr(start, end - start);
    start = end + 1;
  }
  return "{" + flow + "}";
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
      out += (out.empty() ? "" : ", ") + flowMapping(fields(), item);
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

// A nested YAML mapping whose keys are fields of `Cfg` itself rather than of a sub-struct: e.g.
// `migration.source` holds MigrationConfig::static_servers, ::sentinel and ::servers.
template <typename Cfg>
Field<Cfg> group(std::string_view key, const Fields<Cfg>& (*fields)()) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    parseMapping(node, path, fields(), cfg, errors);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    checkFields(fields(), cfg, path, errors);
  };
  auto list = [=](const std::string& path, std::vector<std::string>& out) {
    for (const auto& field : fields()) field.list(childPath(path, field.key), out);
  };
  auto emit = [=](const Cfg& cfg, size_t indent, std::string& out) {
    out += strCat(std::string(indent, ' '), key, ":\n");
    for (const auto& field : fields()) field.emit(cfg, indent + 2, out);
  };
  return {key, parse, check, list, emit};
}

// The fields of sub-struct `member` as if they were `Cfg`'s own (no nested YAML mapping): e.g.
// static.hash and sentinel.hash are both PlacementConfig::hash.
template <typename Cfg, typename Sub>
Fields<Cfg> flattened(Sub Cfg::*member, const Fields<Sub>& sub) {
  Fields<Cfg> out;
  for (const Field<Sub>& f : sub) {
    out.push_back({f.key,
                   [f, member](const YAML::Node& node, const std::string& path, Cfg& cfg,
                               Errors& errors) { f.parse(node, path, cfg.*member, errors); },
                   [f, member](const Cfg& cfg, const std::string& path, Errors& errors) {
                     f.check(cfg.*member, path, errors);
                   },
                   f.list,
                   [f, member](const Cfg& cfg, size_t indent, std::string& text) {
                     f.emit(cfg.*member, indent, text);
                   }});
  }
  return out;
}

template <typename Cfg>
Fields<Cfg> concat(Fields<Cfg> a, const Fields<Cfg>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// An enum whose names belong to another module: `parse` and `name` are its own functions,
// `choices` lists the names for the error message.
template <typename Cfg, typename E>
Field<Cfg> named(std::string_view key, E Cfg::*member,
                 std::optional<E> (*parse_name)(std::string_view), std::string_view (*name)(E),
                 std::string_view choices) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    auto text = scalarText(node, path, "a string", errors);
    if (!text) return;
    if (auto value = parse_name(*text)) {
      cfg.*member = *value;
    } else {
      addError(errors, path, strCat("invalid value '", *text, "' (expected one of ", choices, ")"));
    }
  };
  auto check = [](const Cfg&, const std::string&, Errors&) {};
  auto show = [=](const Cfg& cfg) { return std::string(name(cfg.*member)); };
  return leaf<Cfg>(key, parse, check, show);
}

// A sequence of non-empty strings without duplicates (e.g. sentinel.masters).
template <typename Cfg>
Field<Cfg> nameList(std::string_view key, std::vector<std::string> Cfg::*member) {
  auto parse = [=](const YAML::Node& node, const std::string& path, Cfg& cfg, Errors& errors) {
    if (!node.IsSequence()) {
      return addError(errors, path, strCat("expected a sequence of strings, got ", kindOf(node)));
    }
    std::vector<std::string> list;
    const size_t errors_before = errors.size();
    for (size_t i = 0; i < node.size(); ++i) {
      if (auto text = scalarText(node[i], indexPath(path, i), "a string", errors)) {
        list.emplace_back(*text);
      }
    }
    if (errors.size() == errors_before) cfg.*member = std::move(list);
  };
  auto check = [=](const Cfg& cfg, const std::string& path, Errors& errors) {
    const auto& list = cfg.*member;
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].empty()) addError(errors, indexPath(path, i), "must not be empty");
      const auto first =
          std::find(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(i), list[i]);
      if (first != list.begin() + static_cast<std::ptrdiff_t>(i)) {
        addError(errors, indexPath(path, i),
                 strCat("duplicate of ", indexPath(path, first - list.begin())));
      }
    }
  };
  auto show = [=](const Cfg& cfg) {
    std::string out;
    for (const std::string& s : cfg.*member) out += (out.empty() ? "" : ", ") + quotedString(s);
    return "[" + out + "]";
  };
  return leaf<Cfg>(key, parse, check, show);
}

}  // namespace slotwise::config::binding
