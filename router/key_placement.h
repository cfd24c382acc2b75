// KeyPlacement: the function from a key to the routing slot the data path uses.
//
//   Redis Cluster (no ring)   slot = CRC16 of the key or its {hash tag}, 0..16383 (keyHashSlot)
//   Sentinel groups, static   slot = index of the server (or group) a twemproxy-compatible
//   servers (a HashRing)      HashRing places the key on, 0..n-1; the slot map of such a
//                             deployment has slot i served by server i (see shard_map.h)
//
// Everything downstream (multi-key split and merge, CROSSSLOT checks, transactions pinned to one
// slot, fan-out to one slot per master) works on slots, so in the sharded deployments it works
// per server without knowing about rings: "same slot" means "same server". Copyable and cheap
// (one shared_ptr); immutable, so one placement can be read by every worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "router/hash_ring.h"
#include "router/hash_slot.h"

namespace slotwise::router {

class KeyPlacement {
 public:
  // No slot is ever this one in a sharded deployment (servers are limited to kMaxServers), so
  // it is "not served": a key that no live server takes gets the data path's clear error.
  static constexpr uint16_t kUnplaced = kHashSlotCount - 1;
  static constexpr size_t kMaxServers = kHashSlotCount - 1;

  KeyPlacement() = default;  // Redis Cluster
  explicit KeyPlacement(std::shared_ptr<const HashRing> ring) : ring_(std::move(ring)) {}

  uint16_t slotOf(std::string_view key) const {
    if (ring_ == nullptr) return keyHashSlot(key);
    const int server = ring_->serverFor(key);
    return server < 0 ? kUnplaced : static_cast<uint16_t>(server);
  }
  // The ring of a sharded deployment; null for Redis Cluster.
  const HashRing* ring() const { return ring_.get(); }
  // How many slots must be served for every key to have a home: 16384 for a cluster, the number
  // of servers (or groups) for a ring.
  size_t slotCount() const { return ring_ == nullptr ? kHashSlotCount : ring_->servers().size(); }

 private:
  std::shared_ptr<const HashRing> ring_;
};

}  // namespace slotwise::router
