// YAML configuration -> ProxyConfig. yaml-cpp is an implementation detail of config_loader.cc;
// nothing here names a yaml-cpp type.
//
// Error philosophy: startup errors are fatal, so the loader reports EVERY problem it finds in
// one pass, one per line, each as "<key.path>: <message>", for example
//   cluster.seeds[1]: invalid port 'x'
//   limits.max_clients: must be between 1 and 1000000
//   backend.foo: unknown key
// YAML syntax errors are reported as "<source>:<line>:<column>: YAML syntax error: <detail>"
// (1-based line and column). Unknown keys, duplicate keys and wrong types are errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/proxy_config.h"

namespace slotwise::config {

// Parses a YAML document and validates it (validateConfig). Keys absent from the document keep
// their ProxyConfig defaults. `source_name` only prefixes syntax errors ("<string>:3:5: ...").
// @return the config, or an error whose message holds every problem found, joined by '\n'.
Result<ProxyConfig> loadConfigString(const std::string& yaml,
                                     std::string_view source_name = "<string>");

// Reads `path` and behaves like loadConfigString with `path` as the source name.
// @return the config, or the error list; an unreadable file gives "<path>: cannot read ...".
Result<ProxyConfig> loadConfigFile(const std::string& path);

// Semantic checks on an already-built config (ranges of every number, seeds present and valid,
// cross-field limits). Usable on configs built in code, e.g. by tests or a reload path.
// @return one "<key.path>: <message>" entry per problem; empty when the config is valid.
std::vector<std::string> validateConfig(const ProxyConfig& config);

// Parses "host:port", "[ipv6]:port" or "name:port" as written in configuration files: the
// syntax of HostPort::parse (common/host_port.h) with stricter hosts, i.e. non-empty, an IPv6
// literal only in brackets (the bare "::1:7000" Redis writes in MOVED is refused), a name or IPv4
// address only of [A-Za-z0-9._-]. The returned host never has brackets. Port must be 1..65535.
// Does not resolve names.
// @return the address, or an error message without a key path (e.g. "invalid port 'x'").
Result<HostPort> parseHostPort(std::string_view text);

// Parses a byte size: a plain integer, or an integer followed by a unit b|kb|mb|gb|tb (also
// k|m|g|t), case-insensitive, 1024-based, optionally separated by spaces ("64kb", "1 GB").
// @return the number of bytes, or an error message on bad syntax or overflow.
Result<uint64_t> parseByteSize(std::string_view text);

// @return the YAML spelling of `level` ("trace", "debug", "info", "warn", "error", "off"), a
// view of a static string; "unknown" for a value outside the enum.
std::string_view logLevelName(LogLevel level);

// @return the level spelled `name` (exact lowercase YAML spelling), or nullopt if none matches.
std::optional<LogLevel> parseLogLevel(std::string_view name);

// @return "handoff" or "reuseport" (static string); "unknown" for a value outside the enum.
std::string_view acceptModeName(AcceptMode mode);

// Renders every key of `config` as block YAML, sections in table order, byte sizes with units
// ("512mb"), addresses quoted. loadConfigString(formatConfig(c)) yields c for any config whose
// fields are in range. Used for --print-config style output and test diagnostics.
std::string formatConfig(const ProxyConfig& config);

// @return every leaf key path the loader accepts ("listen", "cluster.seeds", ...) in the order
// of the binding tables. Used to check that documentation lists every key.
std::vector<std::string> knownKeyPaths();

}  // namespace slotwise::config
