#include "router/pool_set.h"

#include <set>
#include <unordered_map>

#include "common/str_cat.h"
#include "router/hash_slot.h"

namespace slotwise::router {

Result<std::unique_ptr<PoolSet>> PoolSet::create(std::vector<Pool> pools,
                                                 std::vector<std::pair<std::string, size_t>> routes,
                                                 size_t default_pool, PublishCallback publish) {
  using R = Result<std::unique_ptr<PoolSet>>;
  if (pools.empty()) return R::error("no pool");
  if (default_pool >= pools.size()) return R::error("the default pool is not a pool");
  std::set<std::string, std::less<>> prefixes;
  for (const auto& [prefix, pool] : routes) {
    if (prefix.empty()) return R::error("a route has an empty prefix");
    if (pool >= pools.size()) return R::error(strCat("route '", prefix, "' names no pool"));
    if (!prefixes.insert(prefix).second) return R::error(strCat("duplicate route '", prefix, "'"));
  }
  std::unique_ptr<PoolSet> set(new PoolSet(std::move(publish), std::move(routes), default_pool));
  // The cluster keeps its own slot numbers (0..16383); ring pools follow in configuration order.
  uint32_t next = 0;
  size_t clusters = 0;
  for (const Pool& p : pools) {
    if (p.cluster) {
      ++clusters;
      next = kHashSlotCount;
    }
  }
  if (clusters > 1) return R::error("at most one pool can be a Redis Cluster");
  set->pools_.resize(pools.size());
  for (size_t i = 0; i < pools.size(); ++i) {
    Member& m = set->pools_[i];
    m.name = pools[i].name;
    m.cluster = pools[i].cluster;
    if (m.cluster) {
      m.slots = kHashSlotCount;
      continue;
    }
    if (pools[i].slots == 0) return R::error(strCat("pool '", m.name, "' has no server"));
    m.offset = next;
    m.slots = pools[i].slots;
    next += m.slots;
    if (next > KeyPlacement::kMaxSlots) {
      return R::error(strCat("the pools have more than ", KeyPlacement::kMaxSlots,
                             " servers and groups in all"));
    }
  }
  set->total_slots_ = next;
  PoolSet* raw = set.get();
  for (size_t i = 0; i < pools.size(); ++i) {
    set->pools_[i].source =
        pools[i].make([raw, i](SlotMapPtr map) { raw->onPoolMap(i, std::move(map)); });
  }
  set->building_ = false;
  for (const Member& m : set->pools_) {
    if (m.map) {  // a pool that published while the others were being created
      set->compose();
      break;
    }
  }
  return R(std::move(set));
}

void PoolSet::tick() {
  for (Member& m : pools_) m.source->tick();
}

void PoolSet::requestRefresh() {
  for (Member& m : pools_) m.source->requestRefresh();
}

void PoolSet::reportRedirect() {
  for (Member& m : pools_) {
    if (m.cluster) m.source->reportRedirect();
  }
}

std::vector<size_t> PoolSet::poolsWith(std::string_view address) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i].map && pools_[i].map->findNode(address) >= 0) out.push_back(i);
  }
  return out;
}

void PoolSet::reportFailure(std::string_view address) {
  std::vector<size_t> owners = poolsWith(address);
  if (owners.empty()) {
    // Not in any map yet: a node a MOVED or ASK pointed at belongs to the cluster.
    for (size_t i = 0; i < pools_.size(); ++i) {
      if (pools_[i].cluster) owners.push_back(i);
    }
  }
  for (const size_t i : owners) pools_[i].source->reportFailure(address);
}

void PoolSet::reportReachable(std::string_view address) {
  for (const size_t i : poolsWith(address)) pools_[i].source->reportReachable(address);
}

std::string PoolSet::lastError() const {
  std::string out;
  for (const Member& m : pools_) {
    const std::string error = m.source->lastError();
    if (!error.empty()) out += (out.empty() ? "" : "; ") + error;
  }
  return out;
}

const RefreshStats& PoolSet::stats() const {
  RefreshStats sum;
  for (const Member& m : pools_) {
    const RefreshStats& s = m.source->stats();
    sum.ok += s.ok;
    sum.failed += s.failed;
    sum.queries += s.queries;
  }
  sum.published = stats_.published;
  stats_ = sum;
  return stats_;
}

void PoolSet::onPoolMap(size_t pool, SlotMapPtr map) {
  pools_[pool].map = std::move(map);
  if (!building_) compose();
}

KeyPlacement PoolSet::placement() const {
  std::vector<PrefixRoutes::Pool> placements;
  for (const Member& m : pools_) {
    placements.push_back(
        {m.name, m.map ? m.map->placement() : m.source->placement(), m.offset, m.slots});
  }
  return KeyPlacement(
      std::make_shared<const PrefixRoutes>(std::move(placements), routes_, default_pool_));
}

void PoolSet::compose() {
  SlotMapBuilder builder(total_slots_);
  std::unordered_map<std::string, size_t> owner_pool;  // node address -> pool that added it
  std::string conflicts;
  for (size_t p = 0; p < pools_.size(); ++p) {
    const Member& m = pools_[p];
    if (!m.map) continue;  // no map yet: the pool's slots are not served
    const std::vector<NodeInfo>& nodes = m.map->nodes();
    std::vector<int> index(nodes.size(), -1);
    // Masters first (replicas name them), then replicas.
    for (const bool masters : {true, false}) {
      for (size_t n = 0; n < nodes.size(); ++n) {
        const NodeInfo& node = nodes[n];
        if (node.is_master != masters) continue;
        const auto [it, fresh] = owner_pool.emplace(node.address, p);
        if (!fresh && it->second != p) {
          conflicts += strCat(conflicts.empty() ? "" : "; ", "node ", node.address, " of pool '",
                              m.name, "' is also in pool '", pools_[it->second].name,
                              "': left out of '", m.name, "'");
          continue;
        }
        if (!masters && index[node.master_index] < 0) continue;
        builder.setClusterNodes(node.cluster);
        Result<uint16_t> added =
            masters ? builder.addMaster(node.host, node.port, node.id)
                    : builder.addReplica(static_cast<uint16_t>(index[node.master_index]), node.host,
                                         node.port, node.id);
        if (added) index[n] = *added;
      }
    }
    for (const SlotRange& r : m.map->ranges()) {
      if (r.first >= m.slots || index[r.master_index] < 0) continue;
      const uint32_t last = std::min<uint32_t>(r.last, m.slots - 1);
      (void)builder.assignRange(static_cast<uint16_t>(m.offset + r.first),
                                static_cast<uint16_t>(m.offset + last),
                                static_cast<uint16_t>(index[r.master_index]));
    }
  }
  builder.setPlacement(placement());
  if (conflicts != conflicts_ && on_warning_ && !conflicts.empty()) on_warning_(conflicts);
  conflicts_ = std::move(conflicts);
  current_ = builder.build(++version_);
  ++stats_.published;
  publish_(current_);
}

}  // namespace slotwise::router
