// Turns a CLUSTER SLOTS reply into a validated SlotMap.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "resp/value.h"
#include "router/slot_map.h"

namespace slotwise::router {

// Builds a SlotMap from a Redis (3.0 .. 7.x) CLUSTER SLOTS reply:
//   [[start, end, [ip, port, id?, metadata?...], replica nodes...], ...]
// Node entries need ip and port; the id and any later elements (7.0 metadata) are optional.
// An empty, "?" or null ip means "the host this reply came from" and becomes `queried_host`.
// A node listed in several ranges becomes one node. Partial coverage is allowed (see
// SlotMap::coveredSlots()).
// Errors (message names the offending range/node): reply is a Redis error or not an array,
// no ranges at all, wrong element types, start > end, a slot outside 0..16383, overlapping
// ranges, port outside 1..65535, a node listed both as master and replica.
// The returned map does not reference `reply`.
Result<SlotMapPtr> buildFromClusterSlots(const resp::RespValue& reply,
                                         std::string_view queried_host, uint64_t version);

}  // namespace slotwise::router
