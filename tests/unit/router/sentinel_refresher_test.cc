#include "router/sentinel_refresher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "router/clock.h"

namespace slotwise::router {
namespace {

using resp::RespValue;
using std::chrono::milliseconds;
using Outcome = Result<RespValue>;
using Groups = std::vector<ShardGroup>;

// A NodeQuery whose answers come from a handler, consulted when the reply is delivered: at
// once (default) or, in deferred mode, when the test completes the held query, so the test can
// change the simulated world in between and deliver replies in any order.
class ScriptedQuery : public NodeQuery {
 public:
  using Handler =
      std::function<Outcome(const std::string& address, const std::vector<std::string>& args)>;
  struct Call {
    std::string address;
    std::vector<std::string> args;
  };

  explicit ScriptedQuery(Handler handler) : handler_(std::move(handler)) {}

  void query(const std::string& address, std::vector<std::string> args,
             Callback callback) override {
    calls_.push_back(Call{address, args});
    if (!deferred_) {
      callback(handler_(address, args));
      return;
    }
    held_.push_back(Held{Call{address, std::move(args)}, std::move(callback)});
  }

  void setDeferred(bool deferred) { deferred_ = deferred; }
  size_t heldCount() const { return held_.size(); }
  const Call& held(size_t index) const { return held_[index].call; }
  // Delivers held query `index` (0 = oldest) with `outcome`, or the handler's answer now.
  void complete(size_t index) { completeWith(index, std::nullopt); }
  void completeWith(size_t index, std::optional<Outcome> outcome) {
    Held held = std::move(held_[index]);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
    held.callback(outcome ? std::move(*outcome) : handler_(held.call.address, held.call.args));
  }
  size_t completeAll() {
    size_t count = 0;
    for (; !held_.empty(); ++count) complete(0);
    return count;
  }

  const std::vector<Call>& calls() const { return calls_; }
  std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (const Call& call : calls_) out.push_back(call.address);
    return out;
  }
  // Calls whose arguments contain `word` (a subcommand or a master name).
  size_t countWith(const std::string& word) const {
    return static_cast<size_t>(std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) {
      return std::find(c.args.begin(), c.args.end(), word) != c.args.end();
    }));
  }
  void clearCalls() { calls_.clear(); }

 private:
  struct Held {
    Call call;
    Callback callback;
  };

  Handler handler_;
  bool deferred_ = false;
  std::deque<Held> held_;
  std::vector<Call> calls_;
};

// ---- RESP builders ----

RespValue masterAddr(const std::string& host, int port) {
  return RespValue::array({RespValue::bulk(host), RespValue::bulk(std::to_string(port))});
}

struct Replica {
  std::string host;
  int port;
  std::string flags = "slave";
  std::string link = "ok";  // "" = field absent
};

RespValue replicaEntry(const Replica& r) {
  std::vector<RespValue> fields;
  const auto add = [&](const std::string& key, const std::string& value) {
    fields.push_back(RespValue::bulk(key));
    fields.push_back(RespValue::bulk(value));
  };
  add("name", r.host + ":" + std::to_string(r.port));
  add("ip", r.host);
  add("port", std::to_string(r.port));
  add("runid", "0123456789abcdef");
  add("flags", r.flags);
  add("link-pending-commands", "0");
  if (!r.link.empty()) add("master-link-status", r.link);
  add("master-host", "10.1.0.1");
  add("master-port", "6379");
  add("slave-priority", "100");
  return RespValue::array(std::move(fields));
}

RespValue replicasReply(const std::vector<Replica>& replicas) {
  std::vector<RespValue> entries;
  for (const Replica& r : replicas) entries.push_back(replicaEntry(r));
  return RespValue::array(std::move(entries));
}

RespValue roleMaster() {
  return RespValue::array(
      {RespValue::bulk("master"), RespValue::integerValue(3129659), RespValue::array({})});
}

RespValue roleReplica(const std::string& host, int port) {
  return RespValue::array({RespValue::bulk("slave"), RespValue::bulk(host),
                           RespValue::integerValue(port), RespValue::bulk("connected"),
                           RespValue::integerValue(3167038)});
}

// ---- the simulated deployment ----

const std::string kS1 = "10.0.0.1:26379";
const std::string kS2 = "10.0.0.2:26379";
const std::string kS3 = "10.0.0.3:26379";
const std::string kM1 = "10.1.0.1:6379";  // alpha's master
const std::string kR1 = "10.1.0.2:6379";  // alpha's replicas
const std::string kR2 = "10.1.0.3:6379";
const std::string kB1 = "10.2.0.1:6379";  // beta's master
const std::string kBR = "10.2.0.2:6379";  // beta's replica

struct SentinelSim {
  bool down = false;
  std::map<std::string, RespValue> masters;   // name -> get-master-addr-by-name reply
  std::map<std::string, RespValue> replicas;  // name -> SENTINEL replicas reply
};

std::pair<std::string, int> split(const std::string& address) {
  const size_t colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

class SentinelRefresherTest : public ::testing::Test {
 protected:
  SentinelRefresherTest() {
    options_.poll_interval = milliseconds(1000);
    options_.min_interval = milliseconds(100);
  }

  void make(std::vector<std::string> names = {"alpha"},
            std::vector<std::string> sentinels = {kS1, kS2, kS3}) {
    refresher_ = std::make_unique<SentinelRefresher>(sentinel_net_, node_net_, clock_, options_,
                                                     std::move(sentinels), std::move(names),
                                                     [this](const Groups& groups) {
                                                       published_.push_back(groups);
                                                       if (on_publish_) on_publish_();
                                                     });
  }

  // Every sentinel in `which` names `master` for `name`, with `replicas`.
  void sentinelsSay(const std::string& name, const std::string& master,
                    const std::vector<Replica>& replicas,
                    const std::vector<std::string>& which = {kS1, kS2, kS3}) {
    const auto [host, port] = split(master);
    for (const std::string& s : which) {
      sentinels_[s].masters[name] = masterAddr(host, port);
      sentinels_[s].replicas[name] = replicasReply(replicas);
    }
  }
  void sentinelsForget(const std::string& name, const std::vector<std::string>& which) {
    for (const std::string& s : which) {
      sentinels_[s].masters.erase(name);
      sentinels_[s].replicas.erase(name);
    }
  }
  void isMaster(const std::string& address) { roles_[address] = roleMaster(); }
  void isReplicaOf(const std::string& address, const std::string& master) {
    const auto [host, port] = split(master);
    roles_[address] = roleReplica(host, port);
  }

  // A healthy alpha: kM1 with replicas kR1 and kR2, known to all three sentinels.
  void healthyAlpha() {
    sentinelsSay("alpha", kM1, {{"10.1.0.3", 6379}, {"10.1.0.2", 6379}});
    isMaster(kM1);
    isReplicaOf(kR1, kM1);
    isReplicaOf(kR2, kM1);
  }
  void healthyBeta() {
    sentinelsSay("beta", kB1, {{"10.2.0.2", 6379}});
    isMaster(kB1);
    isReplicaOf(kBR, kB1);
  }

  // First refresh of a healthy alpha; forgets its calls.
  void bootstrap() {
    make();
    healthyAlpha();
    refresher_->tick();
    ASSERT_EQ(published_.size(), 1u) << refresher_->lastError();
    clearCalls();
  }

  void clearCalls() {
    sentinel_net_.clearCalls();
    node_net_.clearCalls();
  }
  size_t callCount() const { return sentinel_net_.calls().size() + node_net_.calls().size(); }

  Outcome sentinelAnswer(const std::string& address, const std::vector<std::string>& args) {
    const auto it = sentinels_.find(address);
    if (it == sentinels_.end() || it->second.down) return Outcome::error("connection refused");
    if (args.size() != 3 || args[0] != "SENTINEL") return RespValue::error("ERR unknown command");
    if (args[1] == "get-master-addr-by-name") {
      const auto found = it->second.masters.find(args[2]);
      return found == it->second.masters.end() ? RespValue::null() : found->second;
    }
    if (args[1] == "replicas") {
      const auto found = it->second.replicas.find(args[2]);
      if (found == it->second.replicas.end()) {
        return RespValue::error("ERR No such master with that name");
      }
      return found->second;
    }
    return RespValue::error("ERR unknown subcommand");
  }
  Outcome nodeAnswer(const std::string& address, const std::vector<std::string>& args) {
    const auto it = roles_.find(address);
    if (it == roles_.end()) return Outcome::error("connection refused");
    if (args != std::vector<std::string>{"ROLE"}) return RespValue::error("ERR unexpected");
    return it->second;
  }

  const Groups& last() const { return published_.back(); }

  std::map<std::string, SentinelSim> sentinels_;
  std::map<std::string, RespValue> roles_;  // data node -> ROLE reply; absent = unreachable
  ScriptedQuery sentinel_net_{[this](const std::string& a, const std::vector<std::string>& args) {
    return sentinelAnswer(a, args);
  }};
  ScriptedQuery node_net_{[this](const std::string& a, const std::vector<std::string>& args) {
    return nodeAnswer(a, args);
  }};
  ManualClock clock_;
  SentinelRefresher::Options options_;
  std::vector<Groups> published_;
  std::function<void()> on_publish_;
  std::unique_ptr<SentinelRefresher> refresher_;
};

// ---- reply parsers ----

TEST(SentinelRepliesTest, MasterAddrParsesNullErrorsAndMalformed) {
  const auto ok = parseSentinelMasterAddr(masterAddr("10.1.0.1", 6379));
  ASSERT_TRUE(ok);
  EXPECT_EQ(**ok, kM1);
  const auto v6 = parseSentinelMasterAddr(masterAddr("::1", 6380));
  ASSERT_TRUE(v6);
  EXPECT_EQ(**v6, "::1:6380");  // node address spelling, no brackets
  const auto unknown = parseSentinelMasterAddr(RespValue::null());
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->has_value());
  const auto error = parseSentinelMasterAddr(RespValue::error("NOAUTH Authentication required."));
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error(), "NOAUTH Authentication required.");
  EXPECT_FALSE(parseSentinelMasterAddr(RespValue::array({RespValue::bulk("10.1.0.1")})));
  EXPECT_FALSE(parseSentinelMasterAddr(masterAddr("10.1.0.1", 0)));
  EXPECT_FALSE(parseSentinelMasterAddr(masterAddr("", 6379)));
  EXPECT_FALSE(parseSentinelMasterAddr(RespValue::bulk("10.1.0.1:6379")));
}

TEST(SentinelRepliesTest, ReplicasKeepOnlyHealthyOnesSortedAndUnique) {
  const RespValue reply = replicasReply({
      {"10.1.0.9", 6379},                        // healthy
      {"10.1.0.2", 6379, "slave", ""},           // no master-link-status: healthy
      {"10.1.0.3", 6379, "s_down,slave"},        // subjectively down
      {"10.1.0.4", 6379, "slave,o_down"},        // objectively down
      {"10.1.0.5", 6379, "slave,disconnected"},  // disconnected
      {"10.1.0.6", 6379, "slave", "err"},        // replication link down
      {"10.1.0.9", 6379},                        // duplicate
      {"10.1.0.7", 6379, "slave,promoted"},      // other flags are fine
  });
  const auto replicas = parseSentinelReplicas(reply);
  ASSERT_TRUE(replicas);
  EXPECT_EQ(*replicas,
            (std::vector<std::string>{"10.1.0.2:6379", "10.1.0.7:6379", "10.1.0.9:6379"}));
}

TEST(SentinelRepliesTest, ReplicasAcceptResp3MapsAndSkipUnusableEntries) {
  RespValue map_entry;
  map_entry.type = resp::ValueType::kMap;
  map_entry.elements = {RespValue::bulk("ip"),    RespValue::bulk("10.1.0.2"),
                        RespValue::bulk("port"),  RespValue::integerValue(6380),
                        RespValue::bulk("flags"), RespValue::bulk("slave")};
  const RespValue no_port = RespValue::array({RespValue::bulk("ip"), RespValue::bulk("10.1.0.3")});
  const RespValue bad_port = RespValue::array({RespValue::bulk("ip"), RespValue::bulk("10.1.0.4"),
                                               RespValue::bulk("port"), RespValue::bulk("x")});
  const auto replicas =
      parseSentinelReplicas(RespValue::array({map_entry, no_port, bad_port, RespValue::bulk("?")}));
  ASSERT_TRUE(replicas);
  EXPECT_EQ(*replicas, (std::vector<std::string>{"10.1.0.2:6380"}));

  EXPECT_TRUE(parseSentinelReplicas(RespValue::array({})));
  const auto error = parseSentinelReplicas(RespValue::error("ERR No such master with that name"));
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error(), "ERR No such master with that name");
  EXPECT_FALSE(parseSentinelReplicas(RespValue::null()));
}

TEST(SentinelRepliesTest, RoleVerdicts) {
  EXPECT_EQ(parseRole(roleMaster()).kind, RoleVerdict::kMaster);
  const RoleVerdict replica = parseRole(roleReplica("10.1.0.1", 6379));
  EXPECT_EQ(replica.kind, RoleVerdict::kNotMaster);
  EXPECT_EQ(replica.detail, "is a replica of 10.1.0.1:6379");
  const RoleVerdict sentinel = parseRole(RespValue::array(
      {RespValue::bulk("sentinel"), RespValue::array({RespValue::bulk("alpha")})}));
  EXPECT_EQ(sentinel.kind, RoleVerdict::kNotMaster);
  EXPECT_EQ(sentinel.detail, "is a sentinel");
  const RoleVerdict loading = parseRole(RespValue::error("LOADING Redis is loading"));
  EXPECT_EQ(loading.kind, RoleVerdict::kUnknown);  // not proof that it is not a master
  EXPECT_NE(loading.detail.find("LOADING"), std::string::npos);
  EXPECT_EQ(parseRole(RespValue::array({})).kind, RoleVerdict::kUnknown);
  EXPECT_EQ(parseRole(RespValue::bulk("master")).kind, RoleVerdict::kUnknown);
}

// ---- discovery ----

TEST_F(SentinelRefresherTest, NothingBeforeFirstTick) {
  make();
  healthyAlpha();
  EXPECT_EQ(refresher_->current(), nullptr);
  EXPECT_EQ(callCount(), 0u);
  EXPECT_FALSE(refresher_->refreshInFlight());
  EXPECT_EQ(refresher_->lastError(), "");
}

TEST_F(SentinelRefresherTest, FirstDiscoveryPublishesMasterAndSortedReplicas) {
  make();
  healthyAlpha();
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u) << refresher_->lastError();
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR1, kR2}}}));
  ASSERT_NE(refresher_->current(), nullptr);
  EXPECT_EQ(*refresher_->current(), last());
  // Two agreeing sentinels are a majority of three: the third is not asked.
  using Args = std::vector<std::string>;
  ASSERT_EQ(sentinel_net_.calls().size(), 3u);
  EXPECT_EQ(sentinel_net_.calls()[0].address, kS1);
  EXPECT_EQ(sentinel_net_.calls()[0].args, (Args{"SENTINEL", "get-master-addr-by-name", "alpha"}));
  EXPECT_EQ(sentinel_net_.calls()[1].address, kS2);
  EXPECT_EQ(sentinel_net_.calls()[2].address, kS1);
  EXPECT_EQ(sentinel_net_.calls()[2].args, (Args{"SENTINEL", "replicas", "alpha"}));
  ASSERT_EQ(node_net_.calls().size(), 1u);
  EXPECT_EQ(node_net_.calls()[0].address, kM1);
  EXPECT_EQ(node_net_.calls()[0].args, (Args{"ROLE"}));
  const auto& stats = refresher_->stats();
  EXPECT_EQ(stats.ok, 1u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.published, 1u);
  EXPECT_EQ(stats.queries, 4u);
  EXPECT_FALSE(refresher_->refreshInFlight());
}

TEST_F(SentinelRefresherTest, SingleSentinelIsItsOwnMajority) {
  make({"alpha"}, {kS1});
  healthyAlpha();
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].master, kM1);
  EXPECT_EQ(refresher_->stats().queries, 3u);
}

TEST_F(SentinelRefresherTest, UnknownNameOnFirstSentinelAsksTheNext) {
  make();
  healthyAlpha();
  sentinelsForget("alpha", {kS1});
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].master, kM1);
  EXPECT_EQ(sentinel_net_.countWith("get-master-addr-by-name"), 3u);
  // The replicas come from a sentinel that named the master.
  EXPECT_EQ(sentinel_net_.calls().back().address, kS2);
  EXPECT_EQ(refresher_->stats().ok, 1u);
}

TEST_F(SentinelRefresherTest, SentinelThatAnsweredLastIsAskedFirst) {
  make();
  healthyAlpha();
  sentinels_[kS1].down = true;
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  clearCalls();
  sentinels_[kS1].down = false;
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  ASSERT_GE(sentinel_net_.calls().size(), 2u);
  EXPECT_EQ(sentinel_net_.calls()[0].address, kS2);
  EXPECT_EQ(sentinel_net_.calls()[1].address, kS1);
}

TEST_F(SentinelRefresherTest, AllSentinelsDownBeforeFirstPublishIsAFailure) {
  make();
  healthyAlpha();
  for (auto& [address, sim] : sentinels_) sim.down = true;
  refresher_->tick();
  EXPECT_TRUE(published_.empty());
  EXPECT_EQ(refresher_->current(), nullptr);
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_EQ(refresher_->stats().ok, 0u);
  EXPECT_EQ(refresher_->stats().queries, 3u);
  const std::string& error = refresher_->lastError();
  EXPECT_NE(error.find("'alpha'"), std::string::npos) << error;
  EXPECT_NE(error.find("no sentinel knows it"), std::string::npos) << error;
  EXPECT_NE(error.find(kS3 + ": connection refused"), std::string::npos) << error;
}

TEST_F(SentinelRefresherTest, AllSentinelsDownKeepsThePublishedGroupsAndRetries) {
  bootstrap();
  const Groups before = last();
  for (auto& [address, sim] : sentinels_) sim.down = true;
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(*refresher_->current(), before);
  EXPECT_TRUE(node_net_.calls().empty());  // no sentinel answer: nothing to verify

  // Retried after min_interval, not before.
  clearCalls();
  clock_.advance(milliseconds(99));
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
  clock_.advance(milliseconds(1));
  for (auto& [address, sim] : sentinels_) sim.down = false;
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
  EXPECT_EQ(published_.size(), 1u);  // nothing changed meanwhile
}

TEST_F(SentinelRefresherTest, ErrorRepliesFromSentinelsAreNotVotes) {
  make();
  healthyAlpha();
  sentinels_[kS1].masters["alpha"] = RespValue::error("NOAUTH Authentication required.");
  sentinels_[kS2].masters["alpha"] = RespValue::bulk("garbage");
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);  // kS3 alone, after everyone was heard
  EXPECT_EQ(last()[0].master, kM1);
  EXPECT_EQ(sentinel_net_.calls().back().address, kS3);  // replicas from the voter
}

// ---- verification with ROLE ----

TEST_F(SentinelRefresherTest, MasterThatIsAReplicaIsNotPublishedAndIsRetried) {
  make();
  healthyAlpha();
  isReplicaOf(kM1, kR1);  // the sentinels are behind: kM1 was demoted
  refresher_->tick();
  EXPECT_TRUE(published_.empty());
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_NE(refresher_->lastError().find("is a replica of " + kR1), std::string::npos)
      << refresher_->lastError();

  clearCalls();
  isMaster(kM1);
  clock_.advance(milliseconds(99));
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
  clock_.advance(milliseconds(1));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].master, kM1);
}

TEST_F(SentinelRefresherTest, UnconfirmedNewMasterKeepsThePreviousOne) {
  bootstrap();
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  // kR1 is named but still a replica; kM1 still says master.
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(*refresher_->current(), (Groups{{"alpha", kM1, {kR1, kR2}}}));
  EXPECT_EQ(refresher_->stats().failed, 1u);
  // kR1 was tried, then the previous master was checked.
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kR1, kM1}));

  // Promotion completes: the retry publishes the switch.
  isMaster(kR1);
  isReplicaOf(kM1, kR1);
  clock_.advance(milliseconds(100));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kR1, {kR2}}}));
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

TEST_F(SentinelRefresherTest, UnconfirmedMasterAndDemotedPreviousPublishEmptyMaster) {
  bootstrap();
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  isReplicaOf(kR1, kR2);
  isReplicaOf(kM1, kR2);
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", "", {}}}));
  EXPECT_EQ(refresher_->stats().failed, 1u);
}

TEST_F(SentinelRefresherTest, DemotedMasterStillNamedBySentinelsGivesEmptyMaster) {
  bootstrap();
  isReplicaOf(kM1, kR1);  // demoted; the sentinels have not noticed yet
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", "", {}}}));
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kM1}));  // not asked twice
}

TEST_F(SentinelRefresherTest, UnreachablePreviousMasterIsKept) {
  bootstrap();
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  isReplicaOf(kR1, kR2);
  roles_.erase(kM1);  // cannot tell what kM1 is
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->current()->at(0).master, kM1);
  EXPECT_EQ(refresher_->stats().failed, 1u);
}

TEST_F(SentinelRefresherTest, MajorityAnswerFailingRoleMakesTheRemainingSentinelsAsked) {
  const std::string fresh = "10.1.0.7:6379";
  make();
  healthyAlpha();
  isReplicaOf(kM1, fresh);  // kS1 and kS2 are stale
  sentinelsSay("alpha", fresh, {{"10.1.0.2", 6379}}, {kS3});
  isMaster(fresh);
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u) << refresher_->lastError();
  EXPECT_EQ(last(), (Groups{{"alpha", fresh, {kR1}}}));
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kM1, fresh}));
  EXPECT_EQ(sentinel_net_.calls().back().address, kS3);
  EXPECT_EQ(refresher_->stats().ok, 1u);
}

TEST_F(SentinelRefresherTest, MajorityBeatsThePreferredSentinelInASplitBrain) {
  const std::string stale = "10.1.0.7:6379";
  make();
  healthyAlpha();
  sentinelsSay("alpha", stale, {}, {kS1});  // kS1 is partitioned and names the old master
  isMaster(stale);                          // which still believes it is a master
  sentinel_net_.setDeferred(true);
  node_net_.setDeferred(true);
  refresher_->tick();
  ASSERT_EQ(sentinel_net_.heldCount(), 3u);  // asked in parallel
  sentinel_net_.complete(0);                 // kS1: stale
  EXPECT_EQ(node_net_.heldCount(), 0u);      // one vote of three decides nothing
  sentinel_net_.complete(0);                 // kS2: kM1
  sentinel_net_.complete(0);                 // kS3: kM1
  ASSERT_EQ(node_net_.heldCount(), 1u);
  EXPECT_EQ(node_net_.held(0).address, kM1);
  node_net_.completeAll();
  sentinel_net_.completeAll();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].master, kM1);
  EXPECT_EQ(sentinel_net_.calls().back().address, kS2);  // replicas from a majority voter
}

TEST_F(SentinelRefresherTest, TieGoesToTheSentinelAskedFirst) {
  const std::string other = "10.1.0.7:6379";
  make({"alpha"}, {kS1, kS2});
  healthyAlpha();
  sentinelsSay("alpha", other, {}, {kS2});
  isMaster(other);
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].master, kM1);
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kM1}));
}

TEST_F(SentinelRefresherTest, ReplicasFromTheNextVoterWhenTheFirstCannotList) {
  make();
  healthyAlpha();
  sentinels_[kS1].replicas.erase("alpha");
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last()[0].replicas, (std::vector<std::string>{kR1, kR2}));
  EXPECT_EQ(refresher_->stats().ok, 1u);
  EXPECT_EQ(sentinel_net_.countWith("replicas"), 2u);
}

TEST_F(SentinelRefresherTest, NoReplicaListPublishesTheMasterAndRetries) {
  make({"alpha"}, {kS1});
  healthyAlpha();
  sentinels_[kS1].replicas.erase("alpha");
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {}}}));
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_NE(refresher_->lastError().find("replicas unknown"), std::string::npos);
  healthyAlpha();
  clock_.advance(milliseconds(100));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR1, kR2}}}));
}

// ---- changes and publishing ----

TEST_F(SentinelRefresherTest, NoPublishWhenUnchanged) {
  bootstrap();
  // Same replicas in another order is the same set.
  sentinelsSay("alpha", kM1, {{"10.1.0.2", 6379}, {"10.1.0.3", 6379}});
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
  EXPECT_EQ(refresher_->stats().published, 1u);
  EXPECT_EQ(published_.size(), 1u);
}

TEST_F(SentinelRefresherTest, ReplicaGoingDownPublishes) {
  bootstrap();
  sentinelsSay("alpha", kM1, {{"10.1.0.2", 6379, "slave,s_down"}, {"10.1.0.3", 6379}});
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR2}}}));
}

TEST_F(SentinelRefresherTest, PublishCallbackMayReenter) {
  make();
  healthyAlpha();
  on_publish_ = [this] {
    refresher_->requestRefresh();
    refresher_->tick();  // too early: min_interval
  };
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->stats().ok, 1u);
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

// ---- scheduling ----

TEST_F(SentinelRefresherTest, PollIntervalRefreshesEveryGroup) {
  bootstrap();
  for (int i = 0; i < 19; ++i) {
    clock_.advance(milliseconds(50));
    refresher_->tick();
  }
  EXPECT_EQ(callCount(), 0u);
  clock_.advance(milliseconds(50));
  refresher_->tick();
  EXPECT_EQ(sentinel_net_.countWith("get-master-addr-by-name"), 2u);
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

TEST_F(SentinelRefresherTest, RequestsAreRateLimitedByMinInterval) {
  bootstrap();
  refresher_->requestRefresh();
  refresher_->tick();
  clock_.advance(milliseconds(99));
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
  clock_.advance(milliseconds(1));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
  // Many requests in one interval make one refresh.
  clearCalls();
  for (int i = 0; i < 5; ++i) refresher_->requestRefresh();
  clock_.advance(milliseconds(100));
  refresher_->tick();
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 3u);
}

TEST_F(SentinelRefresherTest, ReportFailureRefreshesSoon) {
  bootstrap();
  refresher_->reportFailure("10.1.0.1:6379");
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

TEST_F(SentinelRefresherTest, NoSecondRefreshWhileOneIsInFlight) {
  bootstrap();
  sentinel_net_.setDeferred(true);
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_TRUE(refresher_->refreshInFlight());
  const size_t asked = sentinel_net_.calls().size();
  refresher_->requestRefresh();
  clock_.advance(milliseconds(5000));
  refresher_->tick();
  EXPECT_EQ(sentinel_net_.calls().size(), asked);
  sentinel_net_.completeAll();
  EXPECT_FALSE(refresher_->refreshInFlight());
  EXPECT_EQ(refresher_->stats().ok, 2u);
}

// ---- sentinel events ----

TEST_F(SentinelRefresherTest, SwitchMasterRefreshesAtOnceAndSwitches) {
  bootstrap();
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}, {"10.1.0.1", 6379}});
  isMaster(kR1);
  isReplicaOf(kM1, kR1);
  // No tick and no time passed (not even min_interval).
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 6379");
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kR1, {kM1, kR2}}}));
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kR1}));  // verified
  // The same event from the other sentinels changes nothing.
  clearCalls();
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 6379");
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 6379");
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
}

// The old master keeps accepting writes while a replica is promoted: the group is published
// without a master from the start of the promotion until the new master is confirmed.
TEST_F(SentinelRefresherTest, FailoverPausesTheGroupUntilTheNewMasterIsConfirmed) {
  bootstrap();
  refresher_->onSentinelEvent("+failover-state-send-slaveof-noone",
                              "slave 10.1.0.2:6379 10.1.0.2 6379 @ alpha 10.1.0.1 6379");
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last()[0].master, "");
  EXPECT_EQ(refresher_->current()->at(0).master, kM1);  // what the sentinels said
  // Promotion under way: the sentinels still name the old master, which still says master.
  clock_.advance(milliseconds(150));
  refresher_->tick();
  EXPECT_EQ(published_.size(), 2u);
  EXPECT_EQ(last()[0].master, "");
  // Promoted: refreshed at once, and the pause ends with the new master.
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  isMaster(kR1);
  refresher_->onSentinelEvent("+promoted-slave",
                              "slave 10.1.0.2:6379 10.1.0.2 6379 @ alpha 10.1.0.1 6379");
  ASSERT_EQ(published_.size(), 3u);
  EXPECT_EQ(last()[0].master, kR1);
}

TEST_F(SentinelRefresherTest, AbortedOrTimedOutFailoverEndsThePause) {
  bootstrap();
  const std::string payload = "slave 10.1.0.2:6379 10.1.0.2 6379 @ alpha 10.1.0.1 6379";
  refresher_->onSentinelEvent("+failover-state-send-slaveof-noone", payload);
  EXPECT_EQ(last()[0].master, "");
  refresher_->onSentinelEvent("-failover-abort-slave-timeout", "master alpha 10.1.0.1 6379");
  EXPECT_EQ(last()[0].master, kM1);
  // No end event: the pause ends after failover_pause.
  refresher_->onSentinelEvent("+failover-state-send-slaveof-noone", payload);
  EXPECT_EQ(last()[0].master, "");
  clock_.advance(options_.failover_pause - milliseconds(1));
  refresher_->tick();
  EXPECT_EQ(last()[0].master, "");
  clock_.advance(milliseconds(1));
  refresher_->tick();
  EXPECT_EQ(last()[0].master, kM1);
  // Another group's failover or an unknown name pauses nothing.
  const size_t count = published_.size();
  refresher_->onSentinelEvent("+failover-state-send-slaveof-noone",
                              "slave 10.9.0.2:6379 10.9.0.2 6379 @ other 10.9.0.1 6379");
  EXPECT_EQ(published_.size(), count);
}

TEST_F(SentinelRefresherTest, SwitchMasterDuringARefreshRunsAnotherRightAfter) {
  bootstrap();
  sentinel_net_.setDeferred(true);
  clock_.advance(milliseconds(1000));
  refresher_->tick();  // periodic refresh, asking the sentinels before the failover
  sentinel_net_.complete(0);
  sentinel_net_.complete(0);  // both still name kM1
  // The failover happens now.
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  isMaster(kR1);
  isReplicaOf(kM1, kR1);
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 6379");
  EXPECT_TRUE(refresher_->refreshInFlight());
  sentinel_net_.completeAll();  // the old refresh ends with its pre-failover answer
  EXPECT_FALSE(refresher_->refreshInFlight());
  EXPECT_EQ(refresher_->current()->at(0).master, kM1);
  refresher_->tick();  // at once, without waiting for min_interval
  sentinel_net_.completeAll();
  ASSERT_GE(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kR1, {kR2}}}));
}

TEST_F(SentinelRefresherTest, SwitchMasterAlreadySeenByTheRefreshInFlightIsNotRepeated) {
  bootstrap();
  sentinel_net_.setDeferred(true);
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  // The failover completes before the sentinels answer this refresh.
  sentinelsSay("alpha", kR1, {{"10.1.0.3", 6379}});
  isMaster(kR1);
  isReplicaOf(kM1, kR1);
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 6379");
  sentinel_net_.completeAll();
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last()[0].master, kR1);
  clearCalls();
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
}

TEST_F(SentinelRefresherTest, SwitchMasterFromAStaleSentinelDoesNotSwitch) {
  // A restarted sentinel can replay an old +switch-master (redis/redis#12798).
  bootstrap();
  isReplicaOf(kR1, kM1);
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.2 6379 10.1.0.2 6379");
  EXPECT_EQ(refresher_->stats().ok, 2u);  // it did refresh at once
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->current()->at(0).master, kM1);
  // And it does not loop.
  clearCalls();
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
}

TEST_F(SentinelRefresherTest, EventsForOtherNamesAndMalformedEventsAreIgnored) {
  bootstrap();
  refresher_->onSentinelEvent("+switch-master", "other 10.9.0.1 6379 10.9.0.2 6379");
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379");
  refresher_->onSentinelEvent("+switch-master", "alpha 10.1.0.1 6379 10.1.0.2 notaport");
  refresher_->onSentinelEvent("+sdown", "master other 10.9.0.1 6379");
  refresher_->onSentinelEvent("+sdown", "slave 10.9.0.2:6379 10.9.0.2 6379 @ other 10.9.0.1 6379");
  refresher_->onSentinelEvent("+sdown",
                              "sentinel 10.0.0.2:26379 10.0.0.2 26379 @ alpha 10.1.0.1 6379");
  refresher_->onSentinelEvent("+tilt", "#tilt mode entered");
  refresher_->onSentinelEvent("+new-epoch", "7");
  refresher_->onSentinelEvent("+sdown", "");
  refresher_->onSentinelEvent("+sdown", "slave x @");
  clock_.advance(milliseconds(500));
  refresher_->tick();
  EXPECT_EQ(callCount(), 0u);
  EXPECT_EQ(refresher_->stats().ok, 1u);
}

TEST_F(SentinelRefresherTest, OtherEventsForAConfiguredNameRequestARefresh) {
  bootstrap();
  refresher_->onSentinelEvent("+sdown", "slave 10.1.0.2:6379 10.1.0.2 6379 @ alpha 10.1.0.1 6379");
  EXPECT_EQ(callCount(), 0u);  // not immediate
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 2u);
  refresher_->onSentinelEvent("+failover-end", "master alpha 10.1.0.1 6379");
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(refresher_->stats().ok, 3u);
}

// ---- several groups ----

TEST_F(SentinelRefresherTest, TwoGroupsArePublishedInConfigurationOrder) {
  make({"beta", "alpha"});
  healthyAlpha();
  healthyBeta();
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last(), (Groups{{"beta", kB1, {kBR}}, {"alpha", kM1, {kR1, kR2}}}));
  EXPECT_EQ(refresher_->stats().ok, 1u);
  EXPECT_EQ(refresher_->stats().queries, 8u);
}

TEST_F(SentinelRefresherTest, GroupWithoutMasterIsPublishedEmptyAndRetriedAlone) {
  make({"alpha", "beta"});
  healthyAlpha();  // nobody knows beta yet
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR1, kR2}}, {"beta", "", {}}}));
  EXPECT_EQ(refresher_->stats().failed, 1u);
  EXPECT_NE(refresher_->lastError().find("'beta'"), std::string::npos);

  // The retry asks only about beta.
  clearCalls();
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(sentinel_net_.countWith("alpha"), 0u);
  EXPECT_EQ(sentinel_net_.countWith("beta"), 3u);
  EXPECT_EQ(published_.size(), 1u);

  // Beta appears; once poll_interval passed every group is asked again.
  healthyBeta();
  clearCalls();
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_GT(sentinel_net_.countWith("alpha"), 0u);
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR1, kR2}}, {"beta", kB1, {kBR}}}));
  EXPECT_EQ(refresher_->stats().ok, 1u);
}

TEST_F(SentinelRefresherTest, EventsAndFailuresRefreshOnlyTheirGroup) {
  make({"alpha", "beta"});
  healthyAlpha();
  healthyBeta();
  refresher_->tick();
  ASSERT_EQ(published_.size(), 1u);
  clearCalls();
  refresher_->reportFailure("10.2.0.2:6379");  // beta's replica
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_EQ(sentinel_net_.countWith("alpha"), 0u);
  EXPECT_GT(sentinel_net_.countWith("beta"), 0u);

  clearCalls();
  refresher_->onSentinelEvent("-odown", "master alpha 10.1.0.1 6379");
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_GT(sentinel_net_.countWith("alpha"), 0u);
  EXPECT_EQ(sentinel_net_.countWith("beta"), 0u);

  clearCalls();
  refresher_->reportFailure("10.9.9.9:6379");  // no group's node: everyone
  clock_.advance(milliseconds(100));
  refresher_->tick();
  EXPECT_GT(sentinel_net_.countWith("alpha"), 0u);
  EXPECT_GT(sentinel_net_.countWith("beta"), 0u);
}

TEST_F(SentinelRefresherTest, GroupsAreAskedInParallel) {
  make({"alpha", "beta"});
  healthyAlpha();
  healthyBeta();
  sentinel_net_.setDeferred(true);
  node_net_.setDeferred(true);
  refresher_->tick();
  EXPECT_EQ(sentinel_net_.heldCount(), 6u);  // 3 sentinels x 2 groups
  // beta's answers complete first; alpha waits.
  for (size_t i = sentinel_net_.heldCount(); i-- > 0;) {
    if (sentinel_net_.held(i).args[2] == "beta") sentinel_net_.complete(i);
  }
  ASSERT_EQ(node_net_.heldCount(), 1u);
  EXPECT_EQ(node_net_.held(0).address, kB1);
  sentinel_net_.completeAll();
  node_net_.completeAll();
  sentinel_net_.completeAll();
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(last(), (Groups{{"alpha", kM1, {kR1, kR2}}, {"beta", kB1, {kBR}}}));
}

// ---- late and out-of-order replies ----

TEST_F(SentinelRefresherTest, LateRepliesAfterDestructionAreIgnored) {
  make();
  healthyAlpha();
  sentinel_net_.setDeferred(true);
  refresher_->tick();
  ASSERT_EQ(sentinel_net_.heldCount(), 3u);
  refresher_.reset();
  EXPECT_EQ(sentinel_net_.completeAll(), 3u);
  EXPECT_TRUE(published_.empty());
  EXPECT_TRUE(node_net_.calls().empty());
}

TEST_F(SentinelRefresherTest, ReplyFromAnEarlierRefreshIsIgnored) {
  bootstrap();
  sentinel_net_.setDeferred(true);
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  ASSERT_EQ(sentinel_net_.heldCount(), 3u);
  // kS1 and kS2 answer; kS3 (slow) is held while the refresh completes without it.
  sentinel_net_.complete(0);
  sentinel_net_.complete(0);
  sentinel_net_.complete(1);  // the replicas query (kS3's vote is at 0)
  EXPECT_FALSE(refresher_->refreshInFlight());
  EXPECT_EQ(refresher_->stats().ok, 2u);
  ASSERT_EQ(sentinel_net_.heldCount(), 1u);

  // The next refresh starts; then the old kS3 reply arrives naming another master.
  clock_.advance(milliseconds(1000));
  refresher_->tick();
  EXPECT_TRUE(refresher_->refreshInFlight());
  isMaster("10.1.0.7:6379");
  sentinel_net_.completeWith(0, Outcome(masterAddr("10.1.0.7", 6379)));
  sentinel_net_.completeAll();
  EXPECT_FALSE(refresher_->refreshInFlight());
  EXPECT_EQ(refresher_->stats().ok, 3u);
  EXPECT_EQ(published_.size(), 1u);
  EXPECT_EQ(refresher_->current()->at(0).master, kM1);
}

TEST_F(SentinelRefresherTest, LateVoteSuppliesACandidateWhenTheMajorityIsWrong) {
  const std::string fresh = "10.1.0.7:6379";
  make();
  healthyAlpha();
  isReplicaOf(kM1, fresh);
  sentinelsSay("alpha", fresh, {{"10.1.0.2", 6379}}, {kS3});
  isMaster(fresh);
  sentinel_net_.setDeferred(true);
  refresher_->tick();
  sentinel_net_.complete(0);
  sentinel_net_.complete(0);  // majority for kM1, whose ROLE says replica
  EXPECT_EQ(node_net_.addresses(), (std::vector<std::string>{kM1}));
  EXPECT_TRUE(refresher_->refreshInFlight());  // waits for kS3 instead of giving up
  sentinel_net_.completeAll();
  ASSERT_EQ(published_.size(), 1u) << refresher_->lastError();
  EXPECT_EQ(last(), (Groups{{"alpha", fresh, {kR1}}}));
  EXPECT_EQ(refresher_->stats().ok, 1u);
}

}  // namespace
}  // namespace slotwise::router
