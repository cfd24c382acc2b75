// KeyPlacement: the function from a key to the routing slot the data path uses.
//
//   Redis Cluster (no ring)   slot = CRC16 of the key or its {hash tag}, 0..16383 (keyHashSlot)
//   Sentinel groups, static   slot = index of the server (or group) a twemproxy-compatible
//   servers (a HashRing)      HashRing places the key on, 0..n-1; the slot map of such a
//                             deployment has slot i served by server i (see shard_map.h)
//   several pools (routes)    the pool of the longest key prefix that matches (else the default
//                             pool) places the key with its own rule; each pool owns a span of
//                             slots: a cluster pool 0..16383, ring pools after it (pool_set.h)
//
// Everything downstream (multi-key split and merge, CROSSSLOT checks, transactions pinned to one
// slot, fan-out to one slot per master) works on slots, so in the sharded deployments it works
// per server without knowing about rings: "same slot" means "same server". Copyable and cheap
// (shared_ptrs); immutable, so one placement can be read by every worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "router/hash_ring.h"
#include "router/hash_slot.h"

namespace slotwise::router {

class PrefixRoutes;

// The slots one placement rule owns: [offset, offset + slots). `ring` is null for a cluster.
struct PlacementSpan {
  const HashRing* ring = nullptr;
  uint32_t offset = 0;
  uint32_t slots = kHashSlotCount;
};

class KeyPlacement {
 public:
  // No map ever serves this slot (maps hold at most kMaxSlots slots), so a key that no live
  // server takes gets the data path's clear "not served" error.
  static constexpr uint16_t kUnplaced = 0xFFFF;
  // Slots of one map: 0..kMaxSlots-1 (slot numbers are uint16_t; kUnplaced is reserved).
  static constexpr uint32_t kMaxSlots = 0xFFFE;
  static constexpr size_t kMaxServers = kHashSlotCount - 1;  // servers of one ring

  KeyPlacement() = default;  // Redis Cluster
  explicit KeyPlacement(std::shared_ptr<const HashRing> ring) : ring_(std::move(ring)) {}
  explicit KeyPlacement(std::shared_ptr<const PrefixRoutes> routes) : routes_(std::move(routes)) {}

  uint16_t slotOf(std::string_view key) const {
    if (routes_ != nullptr) return routedSlotOf(key);
    if (ring_ == nullptr) return keyHashSlot(key);
    const int server = ring_->serverFor(key);
    return server < 0 ? kUnplaced : static_cast<uint16_t>(server);
  }
  // The ring of a single sharded deployment; null for Redis Cluster and for routed pools.
  const HashRing* ring() const { return ring_.get(); }
  // The prefix routes of several pools; null otherwise.
  const PrefixRoutes* routes() const { return routes_.get(); }
  // How many slots must be served for every key to have a home: 16384 for a cluster, the number
  // of servers (or groups) for a ring, the sum over the pools for routes.
  size_t slotCount() const;
  // True when `slot` belongs to a Redis Cluster (its owner can change: MOVED, resharding).
  bool clusterSlot(uint16_t slot) const;
  // True when some slots belong to a Redis Cluster.
  bool hasCluster() const;
  // Where keyless commands (PUBLISH, RANDOMKEY, ...) go: the whole map, or the default pool.
  PlacementSpan keylessSpan() const;
  // Same rule, same ring, same routes (pointer identity: placements are immutable).
  bool operator==(const KeyPlacement& other) const {
    return ring_ == other.ring_ && routes_ == other.routes_;
  }

 private:
  uint16_t routedSlotOf(std::string_view key) const;

  std::shared_ptr<const HashRing> ring_;
  std::shared_ptr<const PrefixRoutes> routes_;
};

// The pool name of an online migration's source (`migration:`): a pool no key routes to, whose
// servers only the migration's moves and the whole-keyspace commands (SCAN, KEYS, DBSIZE) use.
inline constexpr std::string_view kMigrationSourcePool = "migration-source";

// Several pools behind one endpoint: a key goes to the pool of the longest prefix it starts
// with (bytewise, case-sensitive, as Envoy's prefix routes), else to the default pool, and that
// pool's own placement picks a slot in the pool's span. Immutable once built.
class PrefixRoutes {
 public:
  struct Pool {
    std::string name;
    KeyPlacement placement;  // a cluster's (default) or a ring's; never routes
    uint32_t offset = 0;     // first slot of the pool's span
    uint32_t slots = 0;      // 16384 for a cluster, the ring's server count otherwise
  };

  // `routes`: prefix -> index into `pools`; `default_pool` an index into `pools`. The caller
  // (PoolSet) guarantees non-overlapping spans inside kMaxSlots and valid indexes.
  PrefixRoutes(std::vector<Pool> pools, const std::vector<std::pair<std::string, size_t>>& routes,
               size_t default_pool);

  // Index into pools() of the pool `key` belongs to.
  size_t poolOf(std::string_view key) const;
  uint16_t slotOf(std::string_view key) const;
  const std::vector<Pool>& pools() const { return pools_; }
  size_t defaultPool() const { return default_pool_; }
  // Index of the pool owning `slot`, or -1.
  int poolOfSlot(uint16_t slot) const;
  size_t slotCount() const { return slot_count_; }

 private:
  std::vector<Pool> pools_;
  // Prefix lengths that occur, longest first; for each, the prefixes of that length.
  std::vector<size_t> lengths_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> by_prefix_;
  size_t default_pool_ = 0;
  size_t slot_count_ = 0;
};

}  // namespace slotwise::router
