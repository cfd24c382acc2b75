#include "router/static_shards.h"

#include <utility>

#include "router/shard_map.h"

namespace slotwise::router {

StaticShards::StaticShards(const Clock& clock, Options opts, std::vector<Server> servers,
                           PublishCallback publish)
    : clock_(clock),
      opts_(std::move(opts)),
      servers_(std::move(servers)),
      state_(servers_.size()),
      publish_(std::move(publish)) {}

int StaticShards::indexOf(std::string_view address) const {
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i].address == address) return static_cast<int>(i);
  }
  return -1;
}

void StaticShards::tick() {
  const Clock::TimePoint now = clock_.now();
  for (State& s : state_) {
    if (s.ejected && now >= s.retry_at) {
      s.ejected = false;
      s.failures = 0;
      dirty_ = true;
    }
  }
  if (dirty_) publish();
}

void StaticShards::reportFailure(std::string_view address) {
  const int i = indexOf(address);
  if (i < 0 || !opts_.auto_eject) return;
  State& s = state_[static_cast<size_t>(i)];
  if (s.ejected || ++s.failures < opts_.failure_limit) return;
  s.ejected = true;
  s.failures = 0;
  s.retry_at = clock_.now() + opts_.retry_timeout;
  dirty_ = true;
}

void StaticShards::reportReachable(std::string_view address) {
  const int i = indexOf(address);
  if (i >= 0) state_[static_cast<size_t>(i)].failures = 0;
}

// The ring over the servers that are not ejected.
KeyPlacement StaticShards::placement() const {
  std::vector<RingServer> ring;
  for (size_t i = 0; i < servers_.size(); ++i) {
    ring.push_back({servers_[i].name, servers_[i].weight, !state_[i].ejected});
  }
  return KeyPlacement(std::make_shared<const HashRing>(opts_.hash, opts_.distribution,
                                                       opts_.hash_tag, std::move(ring)));
}

void StaticShards::publish() {
  dirty_ = false;
  std::vector<Shard> shards;
  for (const auto& server : servers_) shards.push_back({server.address, {}});
  Result<SlotMapPtr> map = buildShardMap(shards, placement(), stats_.published + 1);
  if (!map) {  // the configuration was validated: only a bug gets here
    ++stats_.failed;
    return;
  }
  ++stats_.ok;
  ++stats_.published;
  current_ = *map;
  publish_(current_);
}

}  // namespace slotwise::router
