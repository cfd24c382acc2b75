// SentinelRefresher: discovers the master and the healthy replicas of N Sentinel-managed
// master/replica groups ("masters: [a, b]" in the configuration). Pure logic on the control
// loop: the sentinels are asked through one NodeQuery, the data nodes (ROLE) through another.
// It is driven like TopologyRefresher (tick(), requestRefresh(), reportFailure()) plus the
// sentinels' pub/sub events (onSentinelEvent()).
//
// One refresh, for every group it covers, in parallel:
//
//   ask     SENTINEL get-master-addr-by-name <name> to every sentinel at once, the one that
//           answered last time first. A null reply (the sentinel does not know the name), an
//           error reply or a transport error is no vote. The candidates are ranked as soon as
//           one address has the votes of a strict majority of the configured sentinels (with a
//           synchronous NodeQuery the others are then not asked at all), else once every
//           sentinel was heard. Votes arriving later still count if the ranking runs out.
//           Sentinels have no epoch in this reply; majority plus ROLE stands in for it.
//   verify  ROLE to the candidates: the addresses voted for, most votes first (ties: the one a
//           preferred sentinel named). The first that answers "master" is the group's master.
//           A candidate that is a replica (a stale or partitioned sentinel named a demoted
//           master, see redis/redis#12798) is skipped, and sentinels not asked yet are asked.
//   replicas SENTINEL replicas <name> to a sentinel that voted for the confirmed master; the
//           replicas kept are those not flagged s_down, o_down or disconnected whose
//           master-link-status (when reported) is "ok", sorted, without the master itself.
//
// Outcomes per group:
//   resolved      confirmed master + replica list from a sentinel that named it;
//   no sentinel   every sentinel failed or did not know the name: the group is kept as it
//                 was (old master and replicas; master "" if there never was one);
//   unconfirmed   sentinels answered but no candidate is a master: the previously published
//                 master is kept, with its replicas, unless ROLE says it is not a master
//                 either (then master "" and no replicas); a previous master that cannot be
//                 reached is kept, since that proves nothing.
// A refresh is "ok" when every group it covered was resolved; otherwise it is "failed",
// lastError() names the group and why, and the unresolved groups are asked again after
// min_interval (only those, plus all groups once poll_interval has passed since the last full
// refresh, so a misconfigured name does not multiply the load of the healthy groups).
//
// Publishing: the whole group list (configuration order) whenever a group's master or replica
// set changed, and on the first refresh that found at least one master. A group whose master
// is not known (yet) is published with master "": the proxy answers a clear error for its
// keys instead of guessing. Addresses are "host:port" (HostPort::nodeAddress: IPv6 hosts not
// bracketed, like SlotMap node keys).
//
// Events: +switch-master for a configured name starts a refresh at once (bypassing
// min_interval; queued until the refresh in flight ends) unless the published master already
// is the new address; it is a hint, the new master is still verified as above. Other events
// naming a configured master (+sdown, -odown, +failover-end, +slave, +convert-to-slave ...,
// "<type> <name> <ip> <port> [@ <master> <ip> <port>]") request a refresh of that group at
// min_interval. Events about sentinel instances or naming no configured master are ignored.
//
// Failover pause: a sentinel that starts promoting a replica (+failover-state-send-slaveof-noone)
// does not stop the old master, which accepts writes until it is converted, seconds later; those
// writes are lost. So from that event on, the group is published with master "" (requests wait,
// up to the proxy's retry deadline, instead of going to the old master) until a refresh confirms
// a different master, the failover is aborted or ends (-failover-abort-*, +failover-end), or
// failover_pause passes; meanwhile the group is asked again every min_interval. current() shows
// what the sentinels said; the pause only changes what is published.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "resp/value.h"
#include "router/clock.h"
#include "router/node_query.h"
#include "router/refresh_policy.h"
#include "router/topology_source.h"

namespace slotwise::router {

struct ShardGroup {
  std::string name;                   // master name as configured and known to the sentinels
  std::string master;                 // "host:port"; "" while no master is known
  std::vector<std::string> replicas;  // "host:port" of the healthy replicas, sorted
  bool operator==(const ShardGroup&) const = default;
};

// Reply parsers, exposed for tests.
// SENTINEL get-master-addr-by-name: the master's "host:port", nullopt for a null reply (the
// sentinel does not know the name), or an error (error reply, malformed reply).
Result<std::optional<std::string>> parseSentinelMasterAddr(const resp::RespValue& reply);
// SENTINEL replicas (array of flat field/value arrays, or RESP3 maps): the healthy replicas'
// "host:port", sorted and deduplicated; entries without a usable ip/port are skipped.
Result<std::vector<std::string>> parseSentinelReplicas(const resp::RespValue& reply);
// ROLE: whether the node is a master. kNotMaster only for a definite answer (the node
// replied with another role); an error reply or an unreadable reply is kUnknown.
struct RoleVerdict {
  enum Kind { kMaster, kNotMaster, kUnknown };
  Kind kind = kUnknown;
  std::string detail;  // "is a replica of host:port", "is a sentinel", "ROLE failed: ..."
};
RoleVerdict parseRole(const resp::RespValue& reply);

class SentinelRefresher {
 public:
  struct Options {
    // Every group is asked again this long after the last successful refresh; zero disables.
    std::chrono::milliseconds poll_interval{1000};
    // Minimum time between two refresh starts (except for +switch-master), and between a
    // failed refresh and its retry.
    std::chrono::milliseconds min_interval{100};
    // Longest write pause of a group whose failover began (see "Failover pause" above); zero
    // disables the pause.
    std::chrono::milliseconds failover_pause{5000};
  };
  // Receives every group, in configuration order. Called after the refresher's own state is
  // updated, so it may call any method except the destructor.
  using PublishCallback = std::function<void(const std::vector<ShardGroup>&)>;

  using Stats = RefreshStats;  // ok: every group covered was resolved; failed: one was not

  SentinelRefresher(NodeQuery& sentinels_query, NodeQuery& nodes_query, const Clock& clock,
                    Options opts, std::vector<std::string> sentinel_addresses,
                    std::vector<std::string> master_names, PublishCallback publish);
  // Replies that arrive after destruction are ignored.
  ~SentinelRefresher();

  SentinelRefresher(const SentinelRefresher&) = delete;
  SentinelRefresher& operator=(const SentinelRefresher&) = delete;

  // Call every ~50-100 ms from the control loop. Starts a refresh when one is due and none is
  // in flight; with synchronous NodeQuerys the whole refresh (and publish) finishes inside.
  void tick();
  // Refresh every group as soon as min_interval allows (startup, admin).
  void requestRefresh();
  // A worker's connection to a data node failed or the node answered -READONLY: refresh the
  // group(s) holding `address` (every group if none does) as soon as min_interval allows.
  void reportFailure(std::string_view address);
  // An event from the sentinels' pub/sub, channel and payload as published (see the top).
  void onSentinelEvent(std::string_view channel, std::string_view payload);

  // Last published groups, or nullptr before the first publish. Valid until the next publish.
  const std::vector<ShardGroup>* current() const { return current_ ? &*current_ : nullptr; }
  bool refreshInFlight() const { return policy_.inFlight(); }
  // Counters since construction. The reference lives as long as the refresher.
  const Stats& stats() const { return stats_; }
  // Why the most recent failure happened ("" if none yet), naming the group.
  const std::string& lastError() const { return last_error_; }

 private:
  using TimePoint = Clock::TimePoint;

  enum class Phase { kIdle, kAsking, kVerifying, kReplicas, kDone };
  enum class ReplyKind { kMasterAddr, kRole, kReplicas };

  struct Vote {  // one sentinel's answer for one group, indexed like order_
    bool asked = false;
    bool answered = false;
    uint64_t awaited = 0;  // query id while asked && !answered
    std::string address;   // "" = no vote
  };
  struct Tried {  // a ROLE check in this refresh
    std::string address;
    bool not_master = false;  // definite: the node answered and is not a master
  };
  struct GroupRun {  // one group's progress in the refresh in flight
    Phase phase = Phase::kIdle;
    std::vector<Vote> votes;
    std::vector<Tried> tried;
    uint64_t step_awaited = 0;  // ROLE or SENTINEL replicas query id; 0 = none
    bool checking_previous = false;
    size_t next_replica_source = 0;  // position in order_
    std::string master;
    std::vector<std::string> replicas;
    bool resolved = false;             // outcome "resolved"
    bool keep_old = false;             // outcome "no sentinel": leave the published group as it is
    std::vector<std::string> reasons;  // why candidates or sentinels failed
  };

  void startRefresh(TimePoint now);
  void drive();
  bool advance(size_t group);
  bool decided(const GroupRun& run) const;
  std::optional<std::string> nextCandidate(const GroupRun& run) const;
  bool askNextSentinel(size_t group);
  void sendRole(size_t group, const std::string& address);
  void finishUnconfirmed(size_t group);
  void finishReplicasUnknown(size_t group);
  void onReply(ReplyKind kind, size_t group, size_t pos, uint64_t id,
               Result<resp::RespValue> reply);
  void finishRefresh();
  void onFailoverEvent(std::string_view channel, const std::vector<size_t>& groups);
  void publishMasked();
  void send(NodeQuery& query, const std::string& address, std::vector<std::string> args,
            ReplyKind kind, size_t group, size_t pos, uint64_t id);
  const ShardGroup* previous(size_t group) const;
  std::vector<size_t> groupsHolding(std::string_view address) const;
  std::string failureText(size_t group, std::string_view what) const;

  NodeQuery& sentinels_query_;
  NodeQuery& nodes_query_;
  const Clock& clock_;
  Options options_;
  RefreshPolicy policy_;
  std::vector<std::string> sentinels_;
  std::vector<std::string> names_;
  PublishCallback publish_;

  std::optional<std::vector<ShardGroup>> current_;
  std::optional<std::vector<ShardGroup>> published_;  // current_ with paused masters hidden
  struct Pause {
    std::string master;  // the master being replaced
    TimePoint until;
  };
  std::vector<std::optional<Pause>> paused_{names_.size()};  // per group
  Stats stats_;
  std::string last_error_;

  std::vector<bool> stale_;                   // per group: must be asked in the next refresh
  std::vector<std::string> switch_target_;    // per group: +switch-master's new address, or ""
  size_t preferred_sentinel_ = 0;             // index into sentinels_: asked first
  std::optional<TimePoint> last_full_start_;  // last refresh that covered every group

  // The refresh in flight.
  std::vector<size_t> order_;   // sentinel indices, preferred first
  std::vector<GroupRun> runs_;  // per group; kIdle = not covered by this refresh
  uint64_t last_query_id_ = 0;
  bool driving_ = false;  // inside drive(): a synchronous reply only asks for another pass
  bool redrive_ = false;

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // callbacks hold weak_ptrs
};

}  // namespace slotwise::router
