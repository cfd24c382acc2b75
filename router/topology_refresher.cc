#include "router/topology_refresher.h"

#include <algorithm>
#include <utility>

#include "common/host_port.h"
#include "router/slot_map_builder.h"

namespace slotwise::router {
namespace {

// Host part of a node address or seed (HostPort::split: "[v6]:port" loses its brackets, a bare
// "v6:port" splits at the last ':'); the whole text when it has no port.
std::string_view hostOf(std::string_view address) {
  const Result<HostPort::Parts> parts = HostPort::split(address);
  return parts ? parts->host : address;
}

}  // namespace

TopologyRefresher::TopologyRefresher(NodeQuery& query, const Clock& clock,
                                     RefreshPolicy::Options opts, std::vector<std::string> seeds,
                                     PublishCallback publish)
    : query_(query),
      clock_(clock),
      policy_(opts),
      seeds_(std::move(seeds)),
      publish_(std::move(publish)) {}

TopologyRefresher::~TopologyRefresher() = default;

void TopologyRefresher::tick() {
  const TimePoint now = clock_.now();
  if (policy_.shouldStart(now)) startRefresh(now);
}

void TopologyRefresher::requestRefresh() { policy_.requestRefresh(); }

void TopologyRefresher::reportRedirect() { policy_.onRedirect(); }

void TopologyRefresher::reportFailure(std::string_view address) {
  policy_.onFailure();
  failed_at_.insert_or_assign(std::string(address), clock_.now());
}

// A node is skipped as a candidate for one periodic interval after it failed (min_interval
// when periodic refresh is off), so a dead master does not delay every refresh.
Clock::Duration TopologyRefresher::failedNodeWindow() const {
  const auto& opts = policy_.options();
  return std::max(opts.interval, opts.min_interval);
}

bool TopologyRefresher::recentlyFailed(const std::string& address, TimePoint now) const {
  const auto it = failed_at_.find(address);
  return it != failed_at_.end() && now - it->second < failedNodeWindow();
}

void TopologyRefresher::startRefresh(TimePoint now) {
  std::erase_if(failed_at_, [&](const auto& entry) { return !recentlyFailed(entry.first, now); });
  policy_.onStarted(now);
  ++refresh_id_;
  candidates_ = buildCandidates(now);
  next_candidate_ = 0;
  queryCandidates();
}

std::vector<std::string> TopologyRefresher::buildCandidates(TimePoint now) const {
  std::vector<std::string> out;
  const auto add = [&](const std::string& address, bool skip_if_failed) {
    if (std::find(out.begin(), out.end(), address) != out.end()) return;
    if (skip_if_failed && recentlyFailed(address, now)) return;
    out.push_back(address);
  };
  if (current_) {
    const auto& nodes = current_->nodes();
    for (uint16_t master : current_->masters()) add(nodes[master].address, true);
    for (uint16_t master : current_->masters()) {
      for (uint16_t replica : current_->replicasOf(master)) add(nodes[replica].address, true);
    }
  }
  for (const std::string& seed : seeds_) add(seed, false);
  return out;
}

// Queries candidates until one reply is pending or the refresh has ended. Iterates instead of
// recursing: with a synchronous NodeQuery each failed candidate would otherwise nest a frame.
void TopologyRefresher::queryCandidates() {
  const uint64_t refresh = refresh_id_;
  while (next_candidate_ < candidates_.size()) {
    const std::string address = candidates_[next_candidate_++];
    awaited_query_id_ = ++last_query_id_;
    advance_ = false;
    issuing_ = true;
    ++stats_.queries;
    std::weak_ptr<bool> alive = alive_;
    query_.query(address, {"CLUSTER", "SLOTS"},
                 [this, alive, id = awaited_query_id_, address](Result<resp::RespValue> reply) {
                   if (alive.expired()) return;
                   onReply(id, address, std::move(reply));
                 });
    issuing_ = false;
    // Done if the reply is still pending, the refresh finished, or publish started another.
    if (refresh_id_ != refresh || !advance_) return;
  }
  finishRefresh(nullptr);
}

void TopologyRefresher::onReply(uint64_t query_id, const std::string& address,
                                Result<resp::RespValue> reply) {
  if (query_id != awaited_query_id_) return;  // duplicate or stale callback
  awaited_query_id_ = 0;
  const uint64_t version = (current_ ? current_->version() : 0) + 1;
  Result<SlotMapPtr> map = reply ? buildFromClusterSlots(*reply, hostOf(address), version)
                                 : Result<SlotMapPtr>::error(reply.error());
  if (map) {
    failed_at_.erase(address);
    finishRefresh(std::move(map).value());
    return;
  }
  last_error_ = address + ": " + map.error();
  failed_at_.insert_or_assign(address, clock_.now());
  if (issuing_) {
    advance_ = true;  // queryCandidates() continues once query() returns
    return;
  }
  queryCandidates();
}

void TopologyRefresher::finishRefresh(SlotMapPtr map) {
  candidates_.clear();
  next_candidate_ = 0;
  policy_.onFinished(clock_.now(), map != nullptr);
  if (!map) {
    ++stats_.failed;
    return;
  }
  ++stats_.ok;
  if (current_ && current_->sameTopology(*map)) return;
  current_ = std::move(map);
  ++stats_.published;
  publish_(current_);  // last: the callback may re-enter tick()/requestRefresh()
}

}  // namespace slotwise::router
