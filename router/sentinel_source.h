// SentinelSource: the TopologySource of Sentinel-managed master/replica groups. It drives a
// SentinelRefresher (discovery, verification, events) and turns each group list it publishes
// into a slot map: group i's master serves slot i, its replicas are that slot's replicas, and a
// twemproxy-compatible HashRing over the group names places keys (one group: every key on it).
// A group whose master is not known yet leaves its slot unserved, so its keys get the data
// path's clear "not served" error rather than a guess.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/hash_ring.h"
#include "router/key_placement.h"
#include "router/sentinel_refresher.h"
#include "router/topology_source.h"

namespace slotwise::router {

class SentinelSource final : public TopologySource {
 public:
  struct Placement {
    HashKind hash = HashKind::kFnv1a_64;
    Distribution distribution = Distribution::kKetama;
    std::string hash_tag;
  };

  // `sentinels_query` reaches the sentinels (their credentials), `nodes_query` the data nodes
  // (ROLE, with the backend's credentials); both and `clock` must outlive the source.
  SentinelSource(NodeQuery& sentinels_query, NodeQuery& nodes_query, const Clock& clock,
                 SentinelRefresher::Options opts, std::vector<std::string> sentinels,
                 std::vector<std::string> masters, const Placement& placement,
                 PublishCallback publish);

  void tick() override { refresher_.tick(); }
  void requestRefresh() override { refresher_.requestRefresh(); }
  // A data node's connection failed or it answered -READONLY (a demoted master).
  void reportFailure(std::string_view address) override { refresher_.reportFailure(address); }
  // An event from the sentinels' pub/sub (SentinelWatch).
  void onSentinelEvent(std::string_view channel, std::string_view payload) {
    refresher_.onSentinelEvent(channel, payload);
  }
  SlotMapPtr current() const override { return current_; }
  const RefreshStats& stats() const override { return refresher_.stats(); }
  std::string lastError() const override { return refresher_.lastError(); }
  KeyPlacement placement() const override { return placement_; }

 private:
  void onGroups(const std::vector<ShardGroup>& groups);

  KeyPlacement placement_;
  PublishCallback publish_;
  SlotMapPtr current_;
  uint64_t version_ = 0;
  SentinelRefresher refresher_;  // last: its callback uses the members above
};

}  // namespace slotwise::router
