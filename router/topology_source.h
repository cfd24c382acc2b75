// TopologySource: where the control thread's slot maps come from. One implementation per backend
// kind, all driven the same way from the control loop (tick() about every 50 ms, events from the
// workers in between) and all publishing immutable SlotMaps that the workers install:
//
//   Redis Cluster   TopologyRefresher (topology_refresher.h): CLUSTER SLOTS from the nodes
//   static servers  StaticShards (static_shards.h): a fixed map; twemproxy's auto-eject
//   Sentinel groups SentinelSource (sentinel_source.h): masters and replicas from the sentinels
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "router/key_placement.h"
#include "router/slot_map.h"

namespace slotwise::router {

struct RefreshStats {
  uint64_t ok = 0;         // refreshes that got a valid topology
  uint64_t failed = 0;     // refreshes where every source failed
  uint64_t published = 0;  // maps handed to the publish callback
  uint64_t queries = 0;    // queries sent (CLUSTER SLOTS, SENTINEL ..., ROLE)
};

class TopologySource {
 public:
  // Receives each new map (never null), on the thread that drives the source.
  using PublishCallback = std::function<void(SlotMapPtr)>;

  virtual ~TopologySource() = default;
  // Call every ~50-100 ms from the control loop.
  virtual void tick() = 0;
  // Look again as soon as allowed (startup, a worker's hint that the topology changed).
  virtual void requestRefresh() = 0;
  // A worker saw MOVED (cluster only).
  virtual void reportRedirect() {}
  // A worker's connection to `address` failed, or the node answered as if demoted.
  virtual void reportFailure(std::string_view address) = 0;
  // `address` answered (a probe, or workers hold a live connection to it).
  virtual void reportReachable(std::string_view /*address*/) {}
  // Last published map, or nullptr before the first.
  virtual SlotMapPtr current() const = 0;
  virtual const RefreshStats& stats() const = 0;
  // Why the latest failed query failed, prefixed with the address ("" before any failure); the
  // control loop logs it when refreshes fail.
  virtual std::string lastError() const { return {}; }
  // How keys map to slots, known from the configuration before the first map: workers route
  // with it until a map arrives (a cluster's CRC16 by default), so that requests parked while
  // the first map is fetched wait for the right server of a ring.
  virtual KeyPlacement placement() const { return {}; }
};

}  // namespace slotwise::router
