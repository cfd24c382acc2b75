// SlotMap: an immutable snapshot of which node owns each slot: the 16384 hash slots of a Redis
// Cluster, one slot per server of a ring, or the spans of several pools (see key_placement.h).
// Built once (by SlotMapBuilder), then shared read-only between threads as
// std::shared_ptr<const SlotMap>; a topology change publishes a whole new map.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "router/key_placement.h"

namespace slotwise::router {

struct NodeInfo {
  std::string address;  // HostPort::nodeAddress(host, port), the key used by findNode() and by
                        // redirects: "host:port", never bracketed, even for IPv6
  std::string host;
  uint16_t port = 0;
  std::string id;  // cluster node id; may be empty if the source did not report it
  bool cluster = true;  // a Redis Cluster node (READONLY, CLUSTER commands); false for static
                        // servers and Sentinel groups
  bool is_master = false;
  uint16_t master_index = 0;  // index into SlotMap::nodes(); a master points to itself
};

struct SlotRange {
  uint16_t first = 0;
  uint16_t last = 0;  // inclusive
  uint16_t master_index = 0;
  bool operator==(const SlotRange&) const = default;
};

class SlotMap {
 public:
  static constexpr uint16_t kNumSlots = 16384;  // a Redis Cluster's slots
  static constexpr uint16_t kNoNode = 0xFFFF;

  // Monotonic version assigned by whoever built the map (the refresher counts from 1).
  uint64_t version() const { return version_; }

  // Every known node, masters and replicas. The reference lives as long as the map.
  const std::vector<NodeInfo>& nodes() const { return nodes_; }

  // Index into nodes() of the master owning `slot`, or kNoNode if the slot is uncovered or
  // beyond the map's slots.
  uint16_t masterIndex(uint16_t slot) const {
    return slot < owners_.size() ? owners_[slot] : kNoNode;
  }
  // Number of slots (owned or not): 16384, or more for pools after a cluster (at most
  // KeyPlacement::kMaxSlots).
  size_t slotCount() const { return owners_.size(); }

  // Indexes (ascending) of the masters that own at least one slot. Lives as long as the map.
  const std::vector<uint16_t>& masters() const { return masters_; }

  // Indexes of the replicas of `master_index`, in the order they were added. Empty for an
  // unknown index or a replica index. The reference lives as long as the map.
  const std::vector<uint16_t>& replicasOf(uint16_t master_index) const;

  // Index of the node whose address is exactly `address` ("host:port"), or -1 if unknown.
  int findNode(std::string_view address) const;

  // Number of slots that have an owner, and whether that is all 16384 of them.
  size_t coveredSlots() const { return covered_; }
  bool fullyCovered() const { return covered_ == kNumSlots; }

  // Maximal runs of consecutive slots with the same owner, ascending; uncovered slots are
  // left out. Allocates; meant for admin/debug output and tests, not the data path.
  std::vector<SlotRange> ranges() const;

  // How keys map to slots: CRC16 for a Redis Cluster, a twemproxy-compatible ring for Sentinel
  // groups and static servers (slot i = server i; see key_placement.h).
  const KeyPlacement& placement() const { return placement_; }
  // True when every key has a home: all 16384 slots for a cluster, every server's slot for a ring.
  bool complete() const { return covered_ == placement_.slotCount(); }

  // True if both maps have the same nodes (address, id, role, master address), every slot
  // has the same owner address and the same placement ring. Node order and version() are ignored.
  bool sameTopology(const SlotMap& other) const;

 private:
  friend class SlotMapBuilder;
  SlotMap() = default;

  bool sameNodes(const SlotMap& other, std::vector<uint16_t>* to_other) const;

  uint64_t version_ = 0;
  std::vector<NodeInfo> nodes_;
  std::vector<uint16_t> owners_;
  std::vector<uint16_t> masters_;
  std::vector<std::vector<uint16_t>> replicas_;  // indexed like nodes_
  std::map<std::string, uint16_t, std::less<>> by_address_;
  size_t covered_ = 0;
  KeyPlacement placement_;
};

using SlotMapPtr = std::shared_ptr<const SlotMap>;

// Assembles a SlotMap. Nodes are deduplicated by address: adding a known address returns its
// existing index (if the role matches). Not thread-safe. build() copies the state, so the
// builder may keep growing after a build() without affecting maps already built.
class SlotMapBuilder {
 public:
  // Slots 0..slot_count-1 (at most KeyPlacement::kMaxSlots) can be assigned.
  explicit SlotMapBuilder(size_t slot_count = SlotMap::kNumSlots);

  // Adds (or finds) a master at host:port. Returns its index, or an error if the address is
  // already a replica, the port is 0, or the node limit (0xFFFE nodes) is reached.
  Result<uint16_t> addMaster(std::string host, uint16_t port, std::string id = {});

  // Adds (or finds) a replica of `master_index`. Returns its index, or an error if
  // `master_index` is not a master, the address is already a master or a replica of another
  // master, the port is 0, or the node limit is reached.
  Result<uint16_t> addReplica(uint16_t master_index, std::string host, uint16_t port,
                              std::string id = {});

  // Assigns slots first..last (inclusive) to `master_index`. Errors (state unchanged) if
  // first > last, last >= the slot count, the index is not a master, or any slot is already
  // assigned.
  Status assignRange(uint16_t first, uint16_t last, uint16_t master_index);

  // The key placement of the maps built from now on (default: Redis Cluster's CRC16).
  void setPlacement(KeyPlacement placement) { placement_ = std::move(placement); }
  // Whether nodes added from now on are Redis Cluster nodes (default: true).
  void setClusterNodes(bool cluster) { cluster_nodes_ = cluster; }

  // Snapshot of everything added so far, stamped with `version`. Never null.
  SlotMapPtr build(uint64_t version) const;

 private:
  Result<uint16_t> addNode(std::string host, uint16_t port, std::string id, bool is_master,
                           uint16_t master_index);

  std::vector<NodeInfo> nodes_;
  std::vector<uint16_t> owners_;
  KeyPlacement placement_;
  bool cluster_nodes_ = true;
};

}  // namespace slotwise::router
