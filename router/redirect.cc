#include "router/redirect.h"

#include <charconv>

#include "common/host_port.h"
#include "router/slot_map.h"

namespace slotwise::router {
namespace {

// Parses all of `text` as an unsigned decimal no larger than `max`.
std::optional<uint32_t> parseDecimal(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// Splits `text` at the first single space; returns false if there is none.
bool splitWord(std::string_view text, std::string_view* word, std::string_view* rest) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return false;
  *word = text.substr(0, space);
  *rest = text.substr(space + 1);
  return true;
}

}  // namespace

std::optional<Redirect> parseRedirect(std::string_view error_text,
                                      std::string_view fallback_host) {
  std::string_view kind_word;
  std::string_view rest;
  std::string_view slot_word;
  std::string_view endpoint;
  if (!splitWord(error_text, &kind_word, &rest) || !splitWord(rest, &slot_word, &endpoint)) {
    return std::nullopt;
  }
  Redirect out;
  if (kind_word == "MOVED") {
    out.kind = Redirect::kMoved;
  } else if (kind_word == "ASK") {
    out.kind = Redirect::kAsk;
  } else {
    return std::nullopt;
  }
  const auto slot = parseDecimal(slot_word, SlotMap::kNumSlots - 1);
  // A space left in the endpoint is an extra field.
  if (!slot || endpoint.find(' ') != std::string_view::npos) return std::nullopt;
  std::optional<HostPort> target = HostPort::parse(endpoint);
  if (!target) return std::nullopt;
  if (target->host.empty()) target->host = std::string(fallback_host);
  out.slot = static_cast<uint16_t>(*slot);
  out.address = target->toNodeAddress();
  out.host = std::move(target->host);
  out.port = target->port;
  return out;
}

}  // namespace slotwise::router
