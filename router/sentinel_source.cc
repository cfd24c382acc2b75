#include "router/sentinel_source.h"

#include <utility>

#include "router/shard_map.h"

namespace slotwise::router {

namespace {

KeyPlacement groupPlacement(const SentinelSource::Placement& p,
                            const std::vector<std::string>& masters) {
  std::vector<RingServer> ring;
  ring.reserve(masters.size());
  for (const std::string& name : masters) ring.push_back({name, 1, true});
  return KeyPlacement(
      std::make_shared<const HashRing>(p.hash, p.distribution, p.hash_tag, std::move(ring)));
}

}  // namespace

SentinelSource::SentinelSource(NodeQuery& sentinels_query, NodeQuery& nodes_query,
                               const Clock& clock, SentinelRefresher::Options opts,
                               std::vector<std::string> sentinels, std::vector<std::string> masters,
                               const Placement& placement, PublishCallback publish)
    : placement_(groupPlacement(placement, masters)),
      publish_(std::move(publish)),
      refresher_(sentinels_query, nodes_query, clock, opts, std::move(sentinels),
                 std::move(masters),
                 [this](const std::vector<ShardGroup>& groups) { onGroups(groups); }) {}

void SentinelSource::onGroups(const std::vector<ShardGroup>& groups) {
  std::vector<Shard> shards;
  shards.reserve(groups.size());
  for (const ShardGroup& g : groups) shards.push_back({g.master, g.replicas});
  // Two groups can name the same server for a moment (a sentinel's stale answer); the map would
  // merge their slots, so that list is skipped and the next refresh settles it.
  Result<SlotMapPtr> map = buildShardMap(shards, placement_, version_ + 1);
  if (!map) return;
  ++version_;
  current_ = *map;
  publish_(current_);
}

}  // namespace slotwise::router
