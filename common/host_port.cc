#include "common/host_port.h"

#include <charconv>

#include "common/str_cat.h"

namespace slotwise {

Result<HostPort::Parts> HostPort::split(std::string_view text) {
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Result<Parts>::error(strCat("missing ']' in '", text, "'"));
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Result<Parts>::error(strCat("missing port in '", text, "' (expected [host]:port)"));
    }
    return Parts{text.substr(1, close - 1), text.substr(close + 2), true};
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Result<Parts>::error(strCat("missing port in '", text, "' (expected host:port)"));
  }
  return Parts{text.substr(0, colon), text.substr(colon + 1), false};
}

Result<uint16_t> HostPort::parsePort(std::string_view text) {
  uint64_t value = 0;
  if (!text.empty()) {
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc() && ptr == end) {
      if (value >= 1 && value <= 65535) return static_cast<uint16_t>(value);
      return Result<uint16_t>::error(
          strCat("invalid port '", text, "' (must be between 1 and 65535)"));
    }
  }
  return Result<uint16_t>::error(strCat("invalid port '", text, "'"));
}

std::optional<HostPort> HostPort::parse(std::string_view text) {
  const Result<Parts> parts = split(text);
  if (!parts) return std::nullopt;
  const Result<uint16_t> port = parsePort(parts->port);
  if (!port) return std::nullopt;
  return HostPort{std::string(parts->host), *port};
}

std::string HostPort::toString() const {
  if (host.find(':') != std::string::npos) return strCat("[", host, "]:", int64_t{port});
  return nodeAddress(host, port);
}

std::string HostPort::nodeAddress(std::string_view host, uint16_t port) {
  return strCat(host, ":", int64_t{port});
}

}  // namespace slotwise
