// PoolSet: several deployments behind one endpoint, routed by key prefix (Envoy's prefix
// routes). Each pool keeps its own TopologySource (a Redis Cluster's TopologyRefresher, a static
// set's StaticShards, Sentinel groups' SentinelSource); whenever one of them publishes, PoolSet
// composes one slot map for the data path:
//
//   slots 0..16383               the cluster pool, if any (at most one: MOVED/ASK name these
//                                slots, so the cluster's slot numbers are kept as they are)
//   then, in configuration order the ring pools, one slot per server or group
//   placement                    PrefixRoutes: longest matching prefix -> pool -> its own rule
//
// so the data path's split/merge, CROSSSLOT, transactions and fan-out work across pools without
// knowing about them (a multi-key command over two pools is split like one over two slots; a
// transaction over two pools is CROSSSLOT). Node events go to the pool that has the node.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "router/key_placement.h"
#include "router/topology_source.h"

namespace slotwise::router {

class PoolSet final : public TopologySource {
 public:
  struct Pool {
    std::string name;
    bool cluster = false;  // a Redis Cluster: 16384 slots
    uint32_t slots = 0;    // a ring's server (or group) count; ignored for a cluster
    // Builds the pool's source, which must publish its maps through `publish`.
    std::function<std::unique_ptr<TopologySource>(PublishCallback publish)> make;
  };

  // `routes`: (prefix, index into pools); `default_pool`: index into pools. Errors: no pool, two
  // cluster pools, a ring pool without slots, more slots than KeyPlacement::kMaxSlots, a bad
  // index, an empty or duplicate prefix.
  static Result<std::unique_ptr<PoolSet>> create(std::vector<Pool> pools,
                                                 std::vector<std::pair<std::string, size_t>> routes,
                                                 size_t default_pool, PublishCallback publish);

  void tick() override;
  void requestRefresh() override;
  void reportRedirect() override;
  void reportFailure(std::string_view address) override;
  void reportReachable(std::string_view address) override;
  SlotMapPtr current() const override { return current_; }
  // Sums over the pools; `published` counts composed maps.
  const RefreshStats& stats() const override;
  // The pools' last errors, "; "-joined.
  std::string lastError() const override;
  // Prefix routes over the pools' placements (their maps', or their sources' before a map).
  KeyPlacement placement() const override;

  // Called with a description when a composed map has to leave out a node that two pools list
  // (a misconfiguration the config loader cannot see: nodes a cluster or the sentinels reported);
  // once per new description.
  void setOnWarning(std::function<void(const std::string&)> warn) { on_warning_ = std::move(warn); }
  size_t poolCount() const { return pools_.size(); }
  TopologySource& source(size_t pool) { return *pools_[pool].source; }
  // The first slot of a pool's span.
  uint32_t offset(size_t pool) const { return pools_[pool].offset; }

 private:
  struct Member {
    std::string name;
    bool cluster = false;
    uint32_t offset = 0;
    uint32_t slots = 0;
    std::unique_ptr<TopologySource> source;
    SlotMapPtr map;  // the pool's last map
  };
  PoolSet(PublishCallback publish, std::vector<std::pair<std::string, size_t>> routes,
          size_t default_pool)
      : publish_(std::move(publish)), routes_(std::move(routes)), default_pool_(default_pool) {}

  void onPoolMap(size_t pool, SlotMapPtr map);
  void compose();
  // The pools holding `address` in their current map.
  std::vector<size_t> poolsWith(std::string_view address) const;

  PublishCallback publish_;
  std::vector<std::pair<std::string, size_t>> routes_;
  size_t default_pool_ = 0;
  size_t total_slots_ = 0;
  std::vector<Member> pools_;
  SlotMapPtr current_;
  uint64_t version_ = 0;
  mutable RefreshStats stats_;
  std::function<void(const std::string&)> on_warning_;
  std::string conflicts_;  // of the last composed map
  bool building_ = true;   // pools still being created: maps are composed once all exist
};

}  // namespace slotwise::router
