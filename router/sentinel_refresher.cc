#include "router/sentinel_refresher.h"

#include <algorithm>
#include <utility>

#include "common/host_port.h"
#include "common/str_cat.h"

namespace slotwise::router {
namespace {

using resp::RespValue;
using resp::ValueType;

// Text of a string or integer value (ports may come either way); nullopt otherwise.
std::optional<std::string> textOf(const RespValue& value) {
  if (value.isString()) return value.str;
  if (value.type == ValueType::kInteger) return std::to_string(value.integer);
  return std::nullopt;
}

std::optional<std::string> addressOf(const RespValue& host, const RespValue& port) {
  const std::optional<std::string> host_text = textOf(host);
  const std::optional<std::string> port_text = textOf(port);
  if (!host_text || host_text->empty() || !port_text) return std::nullopt;
  const Result<uint16_t> number = HostPort::parsePort(*port_text);
  if (!number) return std::nullopt;
  return HostPort::nodeAddress(*host_text, *number);
}

std::vector<std::string_view> splitWords(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// One entry of SENTINEL replicas: the address if the replica is healthy.
std::optional<std::string> healthyReplica(const RespValue& entry) {
  if (entry.type != ValueType::kArray && entry.type != ValueType::kMap) return std::nullopt;
  const RespValue* ip = nullptr;
  const RespValue* port = nullptr;
  const RespValue* flags = nullptr;
  const RespValue* link = nullptr;
  for (size_t i = 0; i + 1 < entry.elements.size(); i += 2) {
    const RespValue& key = entry.elements[i];
    if (!key.isString()) continue;
    const RespValue* value = &entry.elements[i + 1];
    if (key.str == "ip") ip = value;
    else if (key.str == "port") port = value;
    else if (key.str == "flags") flags = value;
    else if (key.str == "master-link-status") link = value;
  }
  if (!ip || !port) return std::nullopt;
  if (flags && flags->isString()) {
    for (std::string_view flag : splitWords(flags->str, ',')) {
      if (flag == "s_down" || flag == "o_down" || flag == "disconnected") return std::nullopt;
    }
  }
  if (link && !(link->isString() && link->str == "ok")) return std::nullopt;
  return addressOf(*ip, *port);
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += out.empty() ? part : "; " + part;
  return out;
}

}  // namespace

Result<std::optional<std::string>> parseSentinelMasterAddr(const RespValue& reply) {
  using R = Result<std::optional<std::string>>;
  if (reply.type == ValueType::kNull) return std::optional<std::string>();
  if (reply.isError()) return R::error(reply.str);
  if (reply.type != ValueType::kArray || reply.elements.size() != 2) {
    return R::error("malformed get-master-addr-by-name reply");
  }
  std::optional<std::string> address = addressOf(reply.elements[0], reply.elements[1]);
  if (!address) return R::error("malformed get-master-addr-by-name reply");
  return address;
}

Result<std::vector<std::string>> parseSentinelReplicas(const RespValue& reply) {
  using R = Result<std::vector<std::string>>;
  if (reply.isError()) return R::error(reply.str);
  if (reply.type != ValueType::kArray && reply.type != ValueType::kSet) {
    return R::error("malformed SENTINEL replicas reply");
  }
  std::vector<std::string> out;
  for (const RespValue& entry : reply.elements) {
    if (std::optional<std::string> address = healthyReplica(entry)) out.push_back(*address);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

RoleVerdict parseRole(const RespValue& reply) {
  if (reply.isError()) return {RoleVerdict::kUnknown, "ROLE failed: " + reply.str};
  if (reply.type != ValueType::kArray || reply.elements.empty() || !reply.elements[0].isString()) {
    return {RoleVerdict::kUnknown, "unexpected ROLE reply"};
  }
  const std::vector<RespValue>& e = reply.elements;
  const std::string& role = e[0].str;
  if (role == "master") return {RoleVerdict::kMaster, "is a master"};
  if (role == "slave" || role == "replica") {
    std::optional<std::string> of = e.size() >= 3 ? addressOf(e[1], e[2]) : std::nullopt;
    return {RoleVerdict::kNotMaster, of ? "is a replica of " + *of : "is a replica"};
  }
  if (role == "sentinel") return {RoleVerdict::kNotMaster, "is a sentinel"};
  return {RoleVerdict::kNotMaster, "has role '" + role + "'"};
}

SentinelRefresher::SentinelRefresher(NodeQuery& sentinels_query, NodeQuery& nodes_query,
                                     const Clock& clock, Options opts,
                                     std::vector<std::string> sentinel_addresses,
                                     std::vector<std::string> master_names, PublishCallback publish)
    : sentinels_query_(sentinels_query),
      nodes_query_(nodes_query),
      clock_(clock),
      options_(opts),
      policy_(RefreshPolicy::Options{opts.poll_interval, opts.min_interval,
                                     /*redirect_threshold=*/0, /*failure_threshold=*/1}),
      sentinels_(std::move(sentinel_addresses)),
      names_(std::move(master_names)),
      publish_(std::move(publish)),
      stale_(names_.size(), true),
      switch_target_(names_.size()),
      runs_(names_.size()) {}

SentinelRefresher::~SentinelRefresher() = default;

void SentinelRefresher::tick() {
  const TimePoint now = clock_.now();
  bool expired = false;
  for (size_t group = 0; group < paused_.size(); ++group) {
    if (!paused_[group]) continue;
    if (now >= paused_[group]->until) {
      paused_[group].reset();
      expired = true;
    } else {
      stale_[group] = true;
      policy_.requestRefresh();
    }
  }
  if (expired) publishMasked();
  if (policy_.inFlight()) return;
  const bool switched = std::any_of(switch_target_.begin(), switch_target_.end(),
                                    [](const std::string& target) { return !target.empty(); });
  if (switched || policy_.shouldStart(now)) startRefresh(now);
}

void SentinelRefresher::requestRefresh() {
  std::fill(stale_.begin(), stale_.end(), true);
  policy_.requestRefresh();
}

void SentinelRefresher::reportFailure(std::string_view address) {
  const std::vector<size_t> groups = groupsHolding(address);
  if (groups.empty()) std::fill(stale_.begin(), stale_.end(), true);
  for (size_t group : groups) stale_[group] = true;
  policy_.onFailure();
}

void SentinelRefresher::onSentinelEvent(std::string_view channel, std::string_view payload) {
  const std::vector<std::string_view> words = splitWords(payload, ' ');
  if (channel == "+switch-master") {
    // "<name> <old-ip> <old-port> <new-ip> <new-port>"
    if (words.size() < 5) return;
    const Result<uint16_t> port = HostPort::parsePort(words[4]);
    if (!port) return;
    const std::string target = HostPort::nodeAddress(words[3], *port);
    bool any = false;
    for (size_t group = 0; group < names_.size(); ++group) {
      if (names_[group] != words[0]) continue;
      if (current_ && (*current_)[group].master == target) continue;  // already switched
      switch_target_[group] = target;
      stale_[group] = true;
      any = true;
    }
    if (any && !policy_.inFlight()) startRefresh(clock_.now());
    return;
  }
  // "<type> <name> <ip> <port>" for a master, "... @ <master> <ip> <port>" for other instances.
  if (words.size() < 2 || words[0] == "sentinel") return;
  std::string_view master;
  const auto at = std::find(words.begin(), words.end(), "@");
  if (at != words.end()) {
    if (at + 1 == words.end()) return;
    master = *(at + 1);
  } else if (words[0] == "master") {
    master = words[1];
  } else {
    return;
  }
  std::vector<size_t> groups;
  for (size_t group = 0; group < names_.size(); ++group) {
    if (names_[group] != master) continue;
    stale_[group] = true;
    groups.push_back(group);
  }
  if (groups.empty()) return;
  policy_.requestRefresh();
  onFailoverEvent(channel, groups);
}

void SentinelRefresher::onFailoverEvent(std::string_view channel,
                                        const std::vector<size_t>& groups) {
  const bool begins = channel == "+failover-state-send-slaveof-noone";
  // Not +failover-end: the sentinels may still name the old master for a moment, and it still
  // accepts writes; the pause ends when a refresh confirms the new one.
  const bool ends = channel.starts_with("-failover-abort");
  if (channel == "+promoted-slave") {  // the new master is up: look now, not at min_interval
    if (!policy_.inFlight()) startRefresh(clock_.now());
    return;
  }
  if (!begins && !ends) return;
  for (size_t group : groups) {
    if (ends) {
      paused_[group].reset();
    } else if (current_ && !(*current_)[group].master.empty() &&
               options_.failover_pause.count() > 0) {
      paused_[group] = Pause{(*current_)[group].master, clock_.now() + options_.failover_pause};
    }
  }
  publishMasked();
}

void SentinelRefresher::publishMasked() {
  if (!current_) return;
  std::vector<ShardGroup> masked = *current_;
  for (size_t group = 0; group < masked.size(); ++group) {
    if (paused_[group] && masked[group].master == paused_[group]->master) {
      masked[group].master.clear();
    }
  }
  if (published_ && masked == *published_) return;
  published_ = std::move(masked);
  ++stats_.published;
  publish_(*published_);  // last: the callback may re-enter tick()/requestRefresh()
}

std::vector<size_t> SentinelRefresher::groupsHolding(std::string_view address) const {
  std::vector<size_t> out;
  if (!current_) return out;
  const std::optional<HostPort> parsed = HostPort::parse(address);
  const std::string key = parsed ? parsed->toNodeAddress() : std::string(address);
  for (size_t group = 0; group < current_->size(); ++group) {
    const ShardGroup& g = (*current_)[group];
    if (g.master == key ||
        std::find(g.replicas.begin(), g.replicas.end(), key) != g.replicas.end()) {
      out.push_back(group);
    }
  }
  return out;
}

const ShardGroup* SentinelRefresher::previous(size_t group) const {
  return current_ ? &(*current_)[group] : nullptr;
}

std::string SentinelRefresher::failureText(size_t group, std::string_view what) const {
  return strCat("master '", names_[group], "': ", what);
}

void SentinelRefresher::startRefresh(TimePoint now) {
  policy_.onStarted(now);
  const bool any_stale = std::find(stale_.begin(), stale_.end(), true) != stale_.end();
  const bool poll_due = options_.poll_interval.count() > 0 &&
                        (!last_full_start_ || now - *last_full_start_ >= options_.poll_interval);
  const bool full = !any_stale || poll_due;
  if (full) last_full_start_ = now;

  order_.clear();
  if (preferred_sentinel_ < sentinels_.size()) order_.push_back(preferred_sentinel_);
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    if (i != preferred_sentinel_) order_.push_back(i);
  }
  for (size_t group = 0; group < runs_.size(); ++group) {
    runs_[group] = GroupRun{};
    if (!full && !stale_[group]) continue;
    runs_[group].phase = Phase::kAsking;
    runs_[group].votes.resize(order_.size());
    stale_[group] = false;
    switch_target_[group].clear();
  }
  drive();
}

// Advances every group until none can make progress without a reply, then finishes the
// refresh if every group is done. Synchronous replies arriving meanwhile only set redrive_, so
// state changes never nest.
void SentinelRefresher::drive() {
  if (driving_) {
    redrive_ = true;
    return;
  }
  driving_ = true;
  bool progressed = false;
  do {
    redrive_ = false;
    progressed = false;
    for (size_t group = 0; group < runs_.size(); ++group) {
      if (advance(group)) progressed = true;
    }
  } while (progressed || redrive_);
  driving_ = false;
  if (!policy_.inFlight()) return;
  for (const GroupRun& run : runs_) {
    if (run.phase != Phase::kIdle && run.phase != Phase::kDone) return;
  }
  finishRefresh();
}

bool SentinelRefresher::decided(const GroupRun& run) const {
  for (size_t i = 0; i < run.votes.size(); ++i) {
    if (run.votes[i].address.empty()) continue;
    size_t count = 0;
    for (const Vote& vote : run.votes) count += vote.address == run.votes[i].address ? 1 : 0;
    if (2 * count > sentinels_.size()) return true;
  }
  return false;
}

// The untried address with the most votes; ties go to the one named by the earlier sentinel.
std::optional<std::string> SentinelRefresher::nextCandidate(const GroupRun& run) const {
  const std::string* best = nullptr;
  size_t best_count = 0;
  for (size_t i = 0; i < run.votes.size(); ++i) {
    const std::string& address = run.votes[i].address;
    if (address.empty()) continue;
    const bool tried = std::any_of(run.tried.begin(), run.tried.end(),
                                   [&](const Tried& t) { return t.address == address; });
    if (tried) continue;
    size_t count = 0;
    for (const Vote& vote : run.votes) count += vote.address == address ? 1 : 0;
    if (count > best_count) {
      best = &address;
      best_count = count;
    }
  }
  if (!best) return std::nullopt;
  return *best;
}

bool SentinelRefresher::askNextSentinel(size_t group) {
  GroupRun& run = runs_[group];
  for (size_t pos = 0; pos < run.votes.size(); ++pos) {
    Vote& vote = run.votes[pos];
    if (vote.asked) continue;
    vote.asked = true;
    vote.awaited = ++last_query_id_;
    send(sentinels_query_, sentinels_[order_[pos]],
         {"SENTINEL", "get-master-addr-by-name", names_[group]}, ReplyKind::kMasterAddr, group, pos,
         vote.awaited);
    return true;
  }
  return false;
}

void SentinelRefresher::sendRole(size_t group, const std::string& address) {
  GroupRun& run = runs_[group];
  run.tried.push_back(Tried{address, false});
  run.step_awaited = ++last_query_id_;
  send(nodes_query_, address, {"ROLE"}, ReplyKind::kRole, group, 0, run.step_awaited);
}

bool SentinelRefresher::advance(size_t group) {
  GroupRun& run = runs_[group];
  const auto pending = [&run] {
    return std::any_of(run.votes.begin(), run.votes.end(),
                       [](const Vote& v) { return v.asked && !v.answered; });
  };
  switch (run.phase) {
    case Phase::kIdle:
    case Phase::kDone: return false;
    case Phase::kAsking: {
      if (decided(run)) {
        run.phase = Phase::kVerifying;
        return true;
      }
      if (askNextSentinel(group)) return true;
      if (pending()) return false;
      const bool any_vote = std::any_of(run.votes.begin(), run.votes.end(),
                                        [](const Vote& v) { return !v.address.empty(); });
      if (any_vote) {
        run.phase = Phase::kVerifying;
        return true;
      }
      run.keep_old = true;
      run.phase = Phase::kDone;
      last_error_ = failureText(group, sentinels_.empty()
                                           ? std::string("no sentinels configured")
                                           : "no sentinel knows it (" + joined(run.reasons) + ")");
      return true;
    }
    case Phase::kVerifying: {
      if (run.step_awaited != 0) return false;
      if (std::optional<std::string> candidate = nextCandidate(run)) {
        sendRole(group, *candidate);
        return true;
      }
      // Every candidate failed ROLE: a sentinel not heard yet may name another.
      if (askNextSentinel(group)) return true;
      if (pending()) return false;
      finishUnconfirmed(group);
      return true;
    }
    case Phase::kReplicas: {
      if (run.step_awaited != 0) return false;
      while (run.next_replica_source < run.votes.size()) {
        const size_t pos = run.next_replica_source++;
        if (run.votes[pos].address != run.master) continue;
        run.step_awaited = ++last_query_id_;
        send(sentinels_query_, sentinels_[order_[pos]], {"SENTINEL", "replicas", names_[group]},
             ReplyKind::kReplicas, group, pos, run.step_awaited);
        return true;
      }
      finishReplicasUnknown(group);
      return true;
    }
  }
  return false;
}

// No candidate named by the sentinels is a master: keep the published master unless ROLE says
// it is not one (checking it first if it was not a candidate).
void SentinelRefresher::finishUnconfirmed(size_t group) {
  GroupRun& run = runs_[group];
  const ShardGroup* prev = previous(group);
  const std::string why = "no master confirmed (" + joined(run.reasons) + ")";
  run.master.clear();
  run.replicas.clear();
  if (prev && !prev->master.empty()) {
    const auto tried = std::find_if(run.tried.begin(), run.tried.end(),
                                    [&](const Tried& t) { return t.address == prev->master; });
    if (tried == run.tried.end()) {
      run.checking_previous = true;
      sendRole(group, prev->master);  // onReply() ends the group
      return;
    }
    if (!tried->not_master) {
      run.master = prev->master;
      run.replicas = prev->replicas;
    }
  }
  run.phase = Phase::kDone;
  last_error_ = failureText(group, why);
}

// The master is confirmed but no sentinel that named it listed its replicas.
void SentinelRefresher::finishReplicasUnknown(size_t group) {
  GroupRun& run = runs_[group];
  const ShardGroup* prev = previous(group);
  run.replicas.clear();
  if (prev && prev->master == run.master) run.replicas = prev->replicas;
  run.phase = Phase::kDone;
  last_error_ = failureText(group, "replicas unknown (" + joined(run.reasons) + ")");
}

void SentinelRefresher::send(NodeQuery& query, const std::string& address,
                             std::vector<std::string> args, ReplyKind kind, size_t group,
                             size_t pos, uint64_t id) {
  ++stats_.queries;
  std::weak_ptr<bool> alive = alive_;
  query.query(address, std::move(args),
              [this, alive, kind, group, pos, id](Result<resp::RespValue> reply) {
                if (alive.expired()) return;
                onReply(kind, group, pos, id, std::move(reply));
              });
}

void SentinelRefresher::onReply(ReplyKind kind, size_t group, size_t pos, uint64_t id,
                                Result<resp::RespValue> reply) {
  if (group >= runs_.size()) return;
  GroupRun& run = runs_[group];
  switch (kind) {
    case ReplyKind::kMasterAddr: {
      if (run.phase != Phase::kAsking && run.phase != Phase::kVerifying) return;
      if (pos >= run.votes.size() || run.votes[pos].awaited != id) return;
      Vote& vote = run.votes[pos];
      vote.answered = true;
      vote.awaited = 0;
      const std::string& sentinel = sentinels_[order_[pos]];
      Result<std::optional<std::string>> parsed =
          reply ? parseSentinelMasterAddr(*reply)
                : Result<std::optional<std::string>>::error(reply.error());
      if (!parsed) {
        run.reasons.push_back(sentinel + ": " + parsed.error());
      } else if (!*parsed) {
        run.reasons.push_back(sentinel + ": unknown master name");
      } else {
        vote.address = std::move(**parsed);
      }
      break;
    }
    case ReplyKind::kRole: {
      if (run.phase != Phase::kVerifying || run.step_awaited != id || run.tried.empty()) return;
      run.step_awaited = 0;
      Tried& tried = run.tried.back();
      const RoleVerdict verdict =
          reply ? parseRole(*reply) : RoleVerdict{RoleVerdict::kUnknown, reply.error()};
      if (verdict.kind != RoleVerdict::kMaster) {
        tried.not_master = verdict.kind == RoleVerdict::kNotMaster;
        run.reasons.push_back(tried.address + ": " + verdict.detail);
      }
      if (run.checking_previous) {  // finishUnconfirmed() checked the published master
        const ShardGroup* prev = previous(group);
        if (!tried.not_master && prev) {
          run.master = prev->master;
          run.replicas = prev->replicas;
        }
        run.phase = Phase::kDone;
        last_error_ = failureText(group, "no master confirmed (" + joined(run.reasons) + ")");
        break;
      }
      if (verdict.kind == RoleVerdict::kMaster) {
        run.master = tried.address;
        run.phase = Phase::kReplicas;
        run.next_replica_source = 0;
      }
      break;
    }
    case ReplyKind::kReplicas: {
      if (run.phase != Phase::kReplicas || run.step_awaited != id) return;
      run.step_awaited = 0;
      const std::string& sentinel = sentinels_[order_[pos]];
      Result<std::vector<std::string>> replicas =
          reply ? parseSentinelReplicas(*reply)
                : Result<std::vector<std::string>>::error(reply.error());
      if (!replicas) {
        run.reasons.push_back(sentinel + " (replicas): " + replicas.error());
        break;
      }
      run.replicas = std::move(replicas).value();
      std::erase(run.replicas, run.master);
      run.resolved = true;
      run.phase = Phase::kDone;
      preferred_sentinel_ = order_[pos];
      break;
    }
  }
  drive();
}

void SentinelRefresher::finishRefresh() {
  std::vector<ShardGroup> groups;
  if (current_) {
    groups = *current_;
  } else {
    for (const std::string& name : names_) groups.push_back(ShardGroup{name, "", {}});
  }
  bool all_resolved = true;
  for (size_t group = 0; group < runs_.size(); ++group) {
    GroupRun& run = runs_[group];
    if (run.phase == Phase::kIdle) continue;
    if (!run.resolved) {
      all_resolved = false;
      stale_[group] = true;
    }
    if (!run.keep_old) {
      groups[group].master = std::move(run.master);
      groups[group].replicas = std::move(run.replicas);
    }
    run = GroupRun{};
  }
  order_.clear();
  policy_.onFinished(clock_.now(), all_resolved);
  if (all_resolved) {
    ++stats_.ok;
  } else {
    ++stats_.failed;
  }
  for (size_t group = 0; group < groups.size(); ++group) {
    if (groups[group].master == switch_target_[group]) switch_target_[group].clear();
  }
  const bool first =
      !current_ &&
      (groups.empty() || std::any_of(groups.begin(), groups.end(),
                                     [](const ShardGroup& g) { return !g.master.empty(); }));
  if (!current_ && !first) return;
  current_ = std::move(groups);
  for (size_t group = 0; group < current_->size(); ++group) {
    const std::string& master = (*current_)[group].master;
    if (paused_[group] && !master.empty() && master != paused_[group]->master) {
      paused_[group].reset();  // the new master is confirmed
    }
  }
  publishMasked();
}

}  // namespace slotwise::router
