#include "router/shard_map.h"

#include <set>

#include "common/host_port.h"
#include "common/str_cat.h"

namespace slotwise::router {

Result<SlotMapPtr> buildShardMap(const std::vector<Shard>& shards, KeyPlacement placement,
                                 uint64_t version) {
  if (shards.size() > KeyPlacement::kMaxServers) {
    return Result<SlotMapPtr>::error(strCat("too many shards: ", shards.size()));
  }
  SlotMapBuilder builder;
  builder.setPlacement(std::move(placement));
  builder.setClusterNodes(false);
  std::set<std::string, std::less<>> masters;
  for (size_t i = 0; i < shards.size(); ++i) {
    const Shard& shard = shards[i];
    if (shard.master.empty()) continue;
    const std::optional<HostPort> master_address = HostPort::parse(shard.master);
    if (!master_address)
      return Result<SlotMapPtr>::error(strCat("bad address '", shard.master, "'"));
    if (!masters.insert(shard.master).second) {
      return Result<SlotMapPtr>::error(strCat(shard.master, " serves two shards"));
    }
    auto master = builder.addMaster(master_address->host, master_address->port);
    if (!master) return Result<SlotMapPtr>::error(master.error());
    const auto slot = static_cast<uint16_t>(i);
    if (Status s = builder.assignRange(slot, slot, *master); !s) {
      return Result<SlotMapPtr>::error(s.message());
    }
    for (const std::string& r : shard.replicas) {
      const std::optional<HostPort> replica_address = HostPort::parse(r);
      if (!replica_address) return Result<SlotMapPtr>::error(strCat("bad address '", r, "'"));
      auto replica = builder.addReplica(*master, replica_address->host, replica_address->port);
      if (!replica) return Result<SlotMapPtr>::error(replica.error());
    }
  }
  return builder.build(version);
}

}  // namespace slotwise::router
