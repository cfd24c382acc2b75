// The slot map of a sharded deployment that is not a Redis Cluster (static servers, Sentinel
// groups): shard i serves slot i, and the map's KeyPlacement (a HashRing over the shards) sends a
// key to its shard's slot. The data path then routes, splits multi-key commands and checks
// CROSSSLOT per shard exactly as it does per slot in a cluster (see key_placement.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "router/key_placement.h"
#include "router/slot_map.h"

namespace slotwise::router {

struct Shard {
  std::string master;                 // "host:port"; "" = no master known (its slot is not served)
  std::vector<std::string> replicas;  // "host:port" of replicas that may serve reads
  bool operator==(const Shard&) const = default;
};

// Builds the map: shard i's master owns slot i (shards.size() <= KeyPlacement::kMaxServers), its
// replicas are its replicas. Node ids are left empty. An error for an unparsable address or an
// address used twice (two shards on one server would merge their slots).
Result<SlotMapPtr> buildShardMap(const std::vector<Shard>& shards, KeyPlacement placement,
                                 uint64_t version);

}  // namespace slotwise::router
