// SlotMapTopology: the Topology of every backend kind, from the slot map the control thread
// publishes (an immutable snapshot shared by every worker: a cluster's CLUSTER SLOTS, or the map
// of Sentinel groups / static servers) plus the replicas judged unfit for reads.
#pragma once

#include "config/proxy_config.h"
#include "proxy/datapath/topology.h"
#include "router/replica_health.h"
#include "router/slot_map.h"

namespace slotwise::proxy {

class SlotMapTopology final : public Topology {
 public:
  // Takes the new snapshot; recomputes the master slots and the fingerprint.
  void install(router::SlotMapPtr map);
  // Replicas that must not serve reads (null: none judged yet).
  void setUnfitReplicas(router::UnfitReplicas unfit) { unfit_ = std::move(unfit); }
  // backend.read_from of the config in effect.
  void setReadFrom(config::ReadFrom read_from) { read_from_ = read_from; }
  const router::SlotMapPtr& map() const { return map_; }

  bool ready() const override { return map_ != nullptr; }
  const std::vector<router::NodeInfo>& nodes() const override;
  int select(const Request& req, const NodeAvailability& availability) const override;
  bool slotServed(int32_t slot) const override;
  const std::vector<uint16_t>& masterSlots() const override { return master_slots_; }
  uint64_t fingerprint() const override { return fingerprint_; }
  const router::SlotMap* slotMap() const override { return map_.get(); }
  const router::KeyPlacement& placement() const override { return placement_; }
  // The placement used before the first install() (the deployment's, from its configuration).
  void setInitialPlacement(router::KeyPlacement placement) {
    if (!map_) placement_ = std::move(placement);
  }

 private:
  int replicaFor(uint16_t master, const Request& req, const NodeAvailability& availability,
                 config::ReadFrom read_from) const;

  router::SlotMapPtr map_;
  router::KeyPlacement placement_;
  router::UnfitReplicas unfit_;
  config::ReadFrom read_from_ = config::ReadFrom::kMaster;
  std::vector<uint16_t> master_slots_;
  // Keyless commands on a cluster span: these masters, by the client's affinity. (A ring span:
  // its first live server; see select().)
  std::vector<uint16_t> keyless_masters_;
  uint64_t fingerprint_ = 0;
};

}  // namespace slotwise::proxy
