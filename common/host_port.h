// HostPort: the one parser and formatter of "host:port" endpoints (configuration, CLUSTER SLOTS
// and CLUSTER NODES, MOVED/ASK errors, slot map node keys, log lines).
//
// Two spellings exist, because Redis itself uses both:
//   toString()       "[::1]:7000"  IPv6 hosts in brackets; parses back unambiguously, is a valid
//                    URL authority, and is what Redis prints for client addresses (CLIENT LIST).
//                    Used for configured addresses (--print-config, /api/config), INFO and logs.
//   toNodeAddress()  "::1:7000"    never bracketed; what Redis prints in MOVED/ASK and CLUSTER
//                    NODES, and the key of a node in router::SlotMap.
// For IPv4 addresses and host names both spellings are the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace slotwise {

struct HostPort {
  std::string host;  // a name, an IPv4 literal or an IPv6 literal; never in brackets
  uint16_t port = 0;

  // The syntactic parts of a "host:port" text, views into that text.
  struct Parts {
    std::string_view host;  // brackets removed; may be empty
    std::string_view port;  // not yet checked
    bool bracketed = false;  // the text was "[host]:port"
  };

  // Splits `text` without checking the parts: "[host]:port" at the "]:" (brackets removed),
  // anything else at its last ':' (so a bare IPv6 "::1:7000" gives host "::1").
  // @return the parts, or an error message quoting `text`: "missing ']' in '[::1:7000'",
  // "missing port in '[::1]7000' (expected [host]:port)", "missing port in 'x' (expected
  // host:port)" when there is no ':' at all.
  static Result<Parts> split(std::string_view text);

  // Parses a port: plain decimal digits (no sign, no spaces; leading zeros allowed) of a value
  // in 1..65535.
  // @return the port, or "invalid port '<text>'" (not a number), or "invalid port '<text>' (must
  // be between 1 and 65535)" (a number out of range).
  static Result<uint16_t> parsePort(std::string_view text);

  // Parses every spelling found in the proxy's inputs: "name:port", "1.2.3.4:port",
  // "[v6]:port", and the bare "v6:port" Redis writes in MOVED/ASK and CLUSTER NODES (split at
  // the last ':'). That is split() followed by parsePort() on the port part. The host is not
  // validated and may be empty (":7000": Redis' "address unknown", the caller substitutes one);
  // config::parseHostPort adds the stricter rules of configuration files.
  // @return the endpoint, or nullopt when split() or parsePort() fails.
  static std::optional<HostPort> parse(std::string_view text);

  // @return "host:port", or "[host]:port" when the host contains ':' (IPv6). parse() and
  // config::parseHostPort read it back.
  std::string toString() const;

  // @return "host:port" without brackets even for IPv6 (see the file comment). parse() reads it
  // back, splitting at the last ':'.
  std::string toNodeAddress() const { return nodeAddress(host, port); }

  // Same as HostPort{host, port}.toNodeAddress(), without building a HostPort.
  static std::string nodeAddress(std::string_view host, uint16_t port);

  bool operator==(const HostPort&) const = default;
};

}  // namespace slotwise
