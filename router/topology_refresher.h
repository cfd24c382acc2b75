// TopologyRefresher: keeps the cluster's slot map fresh by querying CLUSTER SLOTS.
// Runs on the control loop; RefreshPolicy decides when, NodeQuery does the I/O.
//
//   tick() --due?--> start: candidates = [masters of current map, their replicas (minus nodes
//                    that failed recently), seeds] (deduplicated)
//            query candidate i --reply ok + valid map--> finish(ok): publish if topology changed
//                              --error/invalid--------> mark node failed, query candidate i+1
//            no candidate left --> finish(failed); policy retries after min_interval
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/clock.h"
#include "router/node_query.h"
#include "router/refresh_policy.h"
#include "router/slot_map.h"
#include "router/topology_source.h"

namespace slotwise::router {

class TopologyRefresher final : public TopologySource {
 public:
  // Receives each new map (never null). Called on the thread that drives the refresher,
  // after the refresher's own state is updated, so it may call any method except the
  // destructor.
  using PublishCallback = TopologySource::PublishCallback;

  // `query` and `clock` must outlive the refresher. `seeds` are "host:port" addresses tried
  // after the known nodes. Nothing happens until the first tick().
  TopologyRefresher(NodeQuery& query, const Clock& clock, RefreshPolicy::Options opts,
                    std::vector<std::string> seeds, PublishCallback publish);
  // Replies that arrive after destruction are ignored.
  ~TopologyRefresher() override;

  TopologyRefresher(const TopologyRefresher&) = delete;
  TopologyRefresher& operator=(const TopologyRefresher&) = delete;

  // Call every ~50-100 ms from the control loop. Starts a refresh if the policy says one is
  // due; with a synchronous NodeQuery the whole refresh (and publish) may finish inside.
  void tick() override;

  // Events; they only take effect on a later tick().
  void requestRefresh()
      override;  // force a refresh as soon as min_interval allows (startup, admin)
  void reportRedirect() override;  // a worker saw MOVED
  // A worker's backend connection to `address` failed: counts towards the failure threshold
  // and skips that node as a refresh candidate for a while (see recentlyFailed()).
  void reportFailure(std::string_view address) override;
  // Replaces the refresh policy's intervals and thresholds (configuration reload).
  void setPolicyOptions(RefreshPolicy::Options opts) { policy_.setOptions(opts); }

  // Last published map, or nullptr before the first. Shared; never mutated.
  SlotMapPtr current() const override { return current_; }
  bool refreshInFlight() const { return policy_.inFlight(); }

  using Stats = RefreshStats;
  // Counters since construction. The reference lives as long as the refresher.
  const Stats& stats() const override { return stats_; }
  // Why the most recent candidate failed ("" if none failed yet); for logs and admin output.
  std::string lastError() const override { return last_error_; }

 private:
  using TimePoint = Clock::TimePoint;

  void startRefresh(TimePoint now);
  std::vector<std::string> buildCandidates(TimePoint now) const;
  void queryCandidates();
  void onReply(uint64_t query_id, const std::string& address, Result<resp::RespValue> reply);
  void finishRefresh(SlotMapPtr map);
  bool recentlyFailed(const std::string& address, TimePoint now) const;
  Clock::Duration failedNodeWindow() const;

  NodeQuery& query_;
  const Clock& clock_;
  RefreshPolicy policy_;
  std::vector<std::string> seeds_;
  PublishCallback publish_;

  SlotMapPtr current_;
  Stats stats_;
  std::string last_error_;

  // State of the refresh in flight.
  uint64_t refresh_id_ = 0;        // bumped per refresh; detects a nested refresh
  uint64_t last_query_id_ = 0;     // ids handed to query callbacks
  uint64_t awaited_query_id_ = 0;  // the one reply we accept; 0 = none
  std::vector<std::string> candidates_;
  size_t next_candidate_ = 0;
  bool issuing_ = false;  // inside query_.query(): a synchronous failure must not recurse
  bool advance_ = false;  // a synchronous failure asked for the next candidate

  std::map<std::string, TimePoint, std::less<>> failed_at_;  // address -> last failure
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // callbacks hold weak_ptrs
};

}  // namespace slotwise::router
