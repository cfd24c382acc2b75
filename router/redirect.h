// Parsing of the MOVED / ASK cluster redirection errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slotwise::router {

struct Redirect {
  enum Kind { kMoved, kAsk };
  Kind kind = kMoved;
  uint16_t slot = 0;
  std::string host;
  uint16_t port = 0;
  std::string address;  // HostPort::nodeAddress(host, port), directly usable with SlotMap::findNode
};

// Parses `error_text`, an error reply without the leading '-' and trailing CRLF, such as
// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381". The endpoint is read by
// HostPort::parse: split at its last ':' so IPv6 ("::1:6381") and hostnames work, "[::1]:6381"
// also accepted; an empty host (":6381") becomes `fallback_host` (the host of the node that sent
// the error).
// Returns std::nullopt for anything else: another error kind, missing or extra fields,
// a slot that is not a decimal in 0..16383, or a port that is not a decimal in 1..65535.
// The result owns its strings.
std::optional<Redirect> parseRedirect(std::string_view error_text,
                                      std::string_view fallback_host);

}  // namespace slotwise::router
