// StaticShards: the TopologySource of twemproxy-style static sharding. The map is fixed (server i
// serves slot i, keys placed by a twemproxy-compatible HashRing); what changes is which servers
// are in the ring when auto_eject_hosts is on, with twemproxy's rules:
//
//   a failure reported for server s    failures[s] += 1; at server_failure_limit: s is ejected
//                                      until now + server_retry_timeout (its keys go to the
//                                      other servers, as the ring without s places them)
//   s reported reachable               failures[s] = 0
//   tick() after s's retry time        s is back in the ring (ejected again if it still fails)
//   every server ejected               no key has a server: requests get a clear error
//
// Each change publishes a new map with a new ring (the node list and slot ownership stay, so
// requests already routed to an ejected server finish or fail there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "router/clock.h"
#include "router/hash_ring.h"
#include "router/topology_source.h"

namespace slotwise::router {

class StaticShards final : public TopologySource {
 public:
  struct Server {
    std::string address;  // "host:port"
    std::string name;     // ring name (already defaulted: see router::ringName)
    uint32_t weight = 1;
  };
  struct Options {
    HashKind hash = HashKind::kFnv1a_64;
    Distribution distribution = Distribution::kKetama;
    std::string hash_tag;
    bool auto_eject = false;
    Clock::Duration retry_timeout = std::chrono::seconds(30);
    uint32_t failure_limit = 2;
  };

  // Publishes the first map on the first tick().
  StaticShards(const Clock& clock, Options opts, std::vector<Server> servers,
               PublishCallback publish);

  void tick() override;
  void requestRefresh() override {}
  void reportFailure(std::string_view address) override;
  void reportReachable(std::string_view address) override;
  SlotMapPtr current() const override { return current_; }
  const RefreshStats& stats() const override { return stats_; }
  KeyPlacement placement() const override;

  // Whether server i is out of the ring right now.
  bool ejected(size_t i) const { return state_[i].ejected; }

 private:
  struct State {
    uint32_t failures = 0;
    bool ejected = false;
    Clock::TimePoint retry_at{};
  };
  int indexOf(std::string_view address) const;
  void publish();

  const Clock& clock_;
  Options opts_;
  std::vector<Server> servers_;
  std::vector<State> state_;
  PublishCallback publish_;
  SlotMapPtr current_;
  RefreshStats stats_;
  bool dirty_ = true;  // the ring must be rebuilt and published on the next tick
};

}  // namespace slotwise::router
