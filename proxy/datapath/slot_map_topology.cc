#include "proxy/datapath/slot_map_topology.h"

#include <algorithm>

#include "proxy/datapath/fanout.h"

namespace slotwise::proxy {

void SlotMapTopology::install(router::SlotMapPtr map) {
  map_ = std::move(map);
  placement_ = map_->placement();
  master_slots_.clear();
  keyless_masters_.clear();
  const router::PlacementSpan keyless = placement_.keylessSpan();
  // With a cluster among the slots, the fingerprint covers the cluster's ownership only: a SCAN
  // pass compares it with what a cluster node's CLUSTER NODES shows (fanout_merge.cc).
  const bool cluster_only = placement_.hasCluster();
  std::vector<OwnedRange> owned;
  std::vector<bool> seen(map_->nodes().size(), false);
  for (const router::SlotRange& r : map_->ranges()) {
    if (!seen[r.master_index]) {
      master_slots_.push_back(r.first);
      if (keyless.ring == nullptr && r.first >= keyless.offset &&
          r.first < keyless.offset + keyless.slots) {
        keyless_masters_.push_back(r.master_index);
      }
    }
    seen[r.master_index] = true;
    if (cluster_only && !placement_.clusterSlot(r.first)) continue;
    const router::NodeInfo& master = map_->nodes()[r.master_index];
    owned.push_back({r.first, r.last, master.id.empty() ? master.address : master.id});
  }
  std::sort(master_slots_.begin(), master_slots_.end());
  std::sort(keyless_masters_.begin(), keyless_masters_.end());
  fingerprint_ = ownershipFingerprint(std::move(owned));
}

const std::vector<router::NodeInfo>& SlotMapTopology::nodes() const {
  static const std::vector<router::NodeInfo> kNone;
  return map_ ? map_->nodes() : kNone;
}

bool SlotMapTopology::slotServed(int32_t slot) const {
  if (!map_) return false;
  return slot < 0 || map_->masterIndex(static_cast<uint16_t>(slot)) != router::SlotMap::kNoNode;
}

int SlotMapTopology::select(const Request& req, const NodeAvailability& availability) const {
  if (!map_) return kNoNode;
  if (req.target == Request::Target::kAnyMaster) {
    // Keyless commands go to the default pool (the whole map when there are no pools).
    const router::PlacementSpan span = placement_.keylessSpan();
    if (span.ring != nullptr) {
      // Servers of a ring share nothing (unlike a cluster, which forwards PUBLISH to every
      // node): keyless commands, and with them classic pub/sub, go to the first live server.
      for (size_t i = 0; i < span.ring->servers().size(); ++i) {
        const uint16_t master = map_->masterIndex(static_cast<uint16_t>(span.offset + i));
        if (span.ring->servers()[i].live && master != router::SlotMap::kNoNode) return master;
      }
      return kNoNode;
    }
    const auto& masters = keyless_masters_;
    return masters.empty() ? kNoNode : masters[req.affinity % masters.size()];
  }
  const uint16_t master = map_->masterIndex(static_cast<uint16_t>(req.slot));
  if (master == router::SlotMap::kNoNode) return kNoNode;
  // READONLY from the client: prefer-replica for its reads, whatever backend.read_from says.
  const config::ReadFrom read_from =
      req.prefer_replica ? config::ReadFrom::kPreferReplica : read_from_;
  if (!req.replica_ok || read_from == config::ReadFrom::kMaster) return master;
  return replicaFor(master, req, availability, read_from);
}

// A replica neither down nor unfit (lagging, offline), starting from the client's own (spreads
// clients, keeps one client's reads on one replica while it is up). prefer-replica falls back to
// the master; replica-only waits for one (its request is parked until the retry deadline).
int SlotMapTopology::replicaFor(uint16_t master, const Request& req,
                                const NodeAvailability& availability,
                                config::ReadFrom read_from) const {
  const std::vector<uint16_t>& replicas = map_->replicasOf(master);
  for (size_t i = 0; i < replicas.size(); ++i) {
    const uint16_t r = replicas[(req.affinity + i) % replicas.size()];
    const bool unfit = unfit_ && unfit_->count(map_->nodes()[r].address) != 0;
    if (availability.available(r) && !unfit) return r;
  }
  if (read_from == config::ReadFrom::kPreferReplica) return master;
  return replicas.empty() ? kNoNode : replicas[req.affinity % replicas.size()];
}

}  // namespace slotwise::proxy
