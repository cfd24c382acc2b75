// Which replicas may serve reads (backend.read_from): a replica is fit when its master's
// INFO replication lists it as "state=online" with a "lag" (seconds since its last ACK) within
// backend.replica_max_lag_ms. A replica its master does not list (link down, still syncing) is
// unfit. The control thread asks every master once a second and publishes the unfit set to the
// workers, which then route read-only commands away from those replicas.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace slotwise::router {

// Addresses ("ip:port") of replicas that must not serve reads.
using UnfitReplicas = std::shared_ptr<const std::set<std::string>>;

// The node address (HostPort::nodeAddress(ip, port), the SlotMap key) of every replica that
// `info` (a master's INFO replication text) lists as online with lag <= max_lag_ms. Lines that
// do not parse (a port outside 1..65535 included) are ignored.
std::set<std::string> fitReplicasOf(std::string_view info, uint64_t max_lag_ms);

}  // namespace slotwise::router
