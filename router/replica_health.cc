#include "router/replica_health.h"

#include <charconv>

#include "common/host_port.h"
#include "common/lines.h"

namespace slotwise::router {
namespace {

// The value of `key=` in a comma-separated "k=v,k=v" list, or empty.
std::string_view field(std::string_view list, std::string_view key) {
  size_t at = 0;
  while (at < list.size()) {
    size_t end = list.find(',', at);
    if (end == std::string_view::npos) end = list.size();
    std::string_view kv = list.substr(at, end - at);
    if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=') {
      return kv.substr(key.size() + 1);
    }
    at = end + 1;
  }
  return {};
}

}  // namespace

std::set<std::string> fitReplicasOf(std::string_view info, uint64_t max_lag_ms) {
  std::set<std::string> fit;
  forEachLine(info, [&](std::string_view line) {
    // slave0:ip=127.0.0.1,port=7003,state=online,offset=1234,lag=0
    const size_t colon = line.find(':');
    if (!line.starts_with("slave") || colon == std::string_view::npos) return;
    std::string_view list = line.substr(colon + 1);
    std::string_view ip = field(list, "ip"), port = field(list, "port"), lag = field(list, "lag");
    uint64_t lag_s = 0;
    auto [end, ec] = std::from_chars(lag.data(), lag.data() + lag.size(), lag_s);
    if (ip.empty() || port.empty() || ec != std::errc() || end != lag.data() + lag.size()) return;
    if (field(list, "state") != "online" || lag_s * 1000 > max_lag_ms) return;
    const Result<uint16_t> port_number = HostPort::parsePort(port);
    if (port_number) fit.insert(HostPort::nodeAddress(ip, *port_number));
  });
  return fit;
}

}  // namespace slotwise::router
