// Topology: which backend node serves a request, as one worker sees it. The data path asks it
// "which node for this request (slot's master, a replica for a read, any master)" and "which
// masters are there" and never reads a slot map itself. SlotMapTopology (slot_map_topology.h)
// serves all three backend kinds: a Redis Cluster's slot map, and the slot maps the control
// thread builds for Sentinel groups and static servers (slot i = server i, keys placed by a
// twemproxy-compatible ring: router/key_placement.h). Owned by the worker; loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/datapath/request.h"
#include "router/key_placement.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

// Which nodes may take requests right now (implemented by BackendPool: a node whose last connect
// failed is skipped for a short while).
class NodeAvailability {
 public:
  virtual ~NodeAvailability() = default;
  // `node` indexes Topology::nodes().
  virtual bool available(size_t node) const = 0;
};

class Topology {
 public:
  static constexpr int kNoNode = -1;
  virtual ~Topology() = default;

  // True once a topology is known (before that, requests wait).
  virtual bool ready() const = 0;
  // Every node of the current topology; indexes are stable until the next change.
  virtual const std::vector<router::NodeInfo>& nodes() const = 0;
  // The node for `req` (Target::kSlot or kAnyMaster; kAddress is resolved by the pool):
  //   kSlot       the slot's master, or for a replica_ok request a replica chosen by
  //               backend.read_from (prefer-replica for a prefer_replica request: the client
  //               sent READONLY) among those `availability` allows;
  //   kAnyMaster  a master chosen by req.affinity.
  // @return an index into nodes(), or kNoNode when there is none (no topology, slot not served,
  //         no replica for read_from: replica).
  virtual int select(const Request& req, const NodeAvailability& availability) const = 0;
  // True when `slot` has a master (false before the first topology).
  virtual bool slotServed(int32_t slot) const = 0;
  // One routing slot per master, ascending: fan-out addresses each master by one of its slots so
  // that a part follows its master through a failover. Empty without a topology.
  virtual const std::vector<uint16_t>& masterSlots() const = 0;
  // Hash of the slot -> master assignment; equal on every proxy that sees the same topology.
  virtual uint64_t fingerprint() const = 0;
  // How keys map to slots (router::route, multi-key split, shard channels). CRC16 before the first
  // topology and for a cluster; a server index for Sentinel groups and static servers.
  virtual const router::KeyPlacement& placement() const = 0;
  // The slot map in effect, or null (none yet).
  virtual const router::SlotMap* slotMap() const = 0;
};

}  // namespace slotwise::proxy
