#include "router/migration_mover.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "router/clock.h"
#include "router/hash_slot.h"
#include "tests/support/fake_node_query.h"

namespace slotwise::router {
namespace {

using resp::RespValue;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeNodeQuery;
using Outcome = Result<RespValue>;
using Call = FakeNodeQuery::Call;

const std::string kSrc1 = "10.0.0.1:6379";
const std::string kSrc2 = "10.0.0.2:6379";
const std::string kNodeA = "10.1.0.1:7000";  // slots 0..5460
const std::string kNodeB = "10.1.0.2:7000";  // slots 5461..10922
const std::string kNodeC = "10.1.0.3:7000";  // slots 10923..16383

std::string ownerBySlot(std::string_view key) {
  const uint16_t slot = keyHashSlot(key);
  if (slot <= 5460) return kNodeA;
  if (slot <= 10922) return kNodeB;
  return kNodeC;
}

// The first key "<prefix><n>" whose slot `node` owns.
std::string keyOwnedBy(const std::string& node, const std::string& prefix) {
  for (int n = 0;; ++n) {
    std::string key = prefix + std::to_string(n);
    if (ownerBySlot(key) == node) return key;
  }
}

// A few simulated Redis 7 servers (sources and cluster masters, by address) answering DBSIZE,
// SCAN, MIGRATE and DEL, with failure knobs. MIGRATE moves keys between the nodes as Redis does:
// +NOKEY when none of the keys exists; otherwise each existing key is restored on the target
// unless the target refuses it (MOVED/ASK when it does not accept the key's slot, BUSYKEY when
// it holds the key), refused keys stay on the source, the others are deleted from it, and the
// first refusal is relayed as "ERR Target instance replied with error: ...".
class World {
 public:
  using Keys = std::map<std::string, std::string>;

  explicit World(ManualClock& clock) : clock_(clock) {}

  void add(const std::string& node, const std::string& key, const std::string& value) {
    nodes_[node][key] = value;
    std::vector<std::string>& order = scan_order_[node];
    if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
  }
  const Keys& keys(const std::string& node) { return nodes_[node]; }
  // How many nodes hold `key`: the migration's invariant wants 1.
  int copies(const std::string& key) const {
    int count = 0;
    for (const auto& [address, keys] : nodes_) count += keys.count(key) ? 1 : 0;
    return count;
  }

  // The node that accepts a key (the cluster's real slot owner).
  std::function<std::string(std::string_view)> owner = ownerBySlot;
  // Keys whose slot is being imported by another node: the owner answers ASK to it, and it
  // accepts them (MIGRATE sends RESTORE-ASKING).
  std::map<std::string, std::string> ask_to;
  // Keys deleted from their source when a MIGRATE naming them arrives (expired meanwhile).
  std::set<std::string> vanish;
  // Replies forced on the next commands of that name ("MIGRATE", "SCAN"...), without effect.
  std::map<std::string, std::deque<Outcome>> forced;
  // Simulated MIGRATE duration per key moved (advances the clock).
  milliseconds cost_per_key{0};

  std::optional<Outcome> handle(const std::string& address, const std::vector<std::string>& args) {
    const std::string& command = args.at(0);
    std::deque<Outcome>& queue = forced[command];
    if (!queue.empty()) {
      Outcome outcome = std::move(queue.front());
      queue.pop_front();
      return outcome;
    }
    if (command == "DBSIZE") {
      return Outcome(RespValue::integerValue(static_cast<int64_t>(nodes_[address].size())));
    }
    if (command == "SCAN") return scan(address, args);
    if (command == "MIGRATE") return migrate(address, args);
    if (command == "DEL") {
      int64_t count = 0;
      for (size_t i = 1; i < args.size(); ++i) count += nodes_[address].erase(args[i]) ? 1 : 0;
      return Outcome(RespValue::integerValue(count));
    }
    return Outcome(RespValue::error("ERR unknown command '" + command + "'"));
  }

 private:
  // The cursor is a position in the order keys were added (never reused), so every key present
  // for the whole pass is returned, as SCAN guarantees.
  Outcome scan(const std::string& address, const std::vector<std::string>& args) {
    const std::vector<std::string>& order = scan_order_[address];
    const size_t start = std::stoul(args.at(1));
    const size_t count = std::stoul(args.at(3));
    std::vector<RespValue> keys;
    const Keys& present = nodes_[address];
    for (size_t i = start; i < std::min(order.size(), start + count); ++i) {
      if (present.count(order[i])) keys.push_back(RespValue::bulk(order[i]));
    }
    const size_t next = start + count >= order.size() ? 0 : start + count;
    return Outcome(RespValue::array(
        {RespValue::bulk(std::to_string(next)), RespValue::array(std::move(keys))}));
  }

  Outcome migrate(const std::string& source, const std::vector<std::string>& args) {
    const std::string target = args.at(1) + ":" + args.at(2);
    const auto keys_at = std::find(args.begin(), args.end(), "KEYS");
    EXPECT_NE(keys_at, args.end());
    Keys& from = nodes_[source];
    Keys& to = nodes_[target];
    std::vector<std::string> existing;
    for (auto it = keys_at + 1; it < args.end(); ++it) {
      if (vanish.count(*it)) from.erase(*it);
      if (from.count(*it)) existing.push_back(*it);
    }
    if (existing.empty()) return Outcome(RespValue::simple("NOKEY"));
    std::string first_error;
    int moved = 0;
    for (const std::string& key : existing) {
      const std::string slot = std::to_string(keyHashSlot(key));
      const auto ask = ask_to.find(key);
      const std::string accepting = ask != ask_to.end() ? ask->second : owner(key);
      std::string error;
      if (target != accepting) {
        error = ask != ask_to.end() && target == owner(key) ? "ASK " + slot + " " + ask->second
                                                            : "MOVED " + slot + " " + owner(key);
      } else if (to.count(key)) {
        error = "BUSYKEY Target key name already exists.";
      }
      if (!error.empty()) {
        if (first_error.empty()) first_error = error;
        continue;
      }
      to[key] = from[key];
      from.erase(key);
      ++moved;
    }
    clock_.advance(cost_per_key * moved);
    if (!first_error.empty()) {
      return Outcome(RespValue::error("ERR Target instance replied with error: " + first_error));
    }
    return Outcome(RespValue::simple("OK"));
  }

  ManualClock& clock_;
  std::map<std::string, Keys> nodes_;
  std::map<std::string, std::vector<std::string>> scan_order_;
};

// One mover over a simulated world, driven by hand.
class Env {
 public:
  Env() {
    fake.setHandler([this](const std::string& address, const std::vector<std::string>& args) {
      return world.handle(address, args);
    });
  }

  static MoverOptions options(std::vector<std::string> sources) {
    MoverOptions o;
    o.sources = std::move(sources);
    return o;
  }
  void start(MoverOptions opts) {
    mover = std::make_unique<MigrationMover>(
        fake, clock, std::move(opts), [this](std::string_view key) { return target_of(key); },
        [this] {
          ++refreshes;
          if (on_refresh) on_refresh();
        });
  }
  // Ticks every 10 ms until the mover is done or `limit` has passed; returns whether done.
  bool runUntilDone(milliseconds limit = seconds(10)) {
    const Clock::TimePoint end = clock.now() + limit;
    while (clock.now() < end) {
      mover->tick();
      if (mover->stats().done) return true;
      clock.advance(milliseconds(10));
    }
    return mover->stats().done;
  }
  void runFor(milliseconds duration) {
    const Clock::TimePoint end = clock.now() + duration;
    while (clock.now() < end) {
      mover->tick();
      clock.advance(milliseconds(10));
    }
  }

  // The calls whose command is `command`, oldest first.
  std::vector<Call> callsOf(const std::string& command) const {
    std::vector<Call> out;
    for (const Call& call : fake.calls()) {
      if (call.args.at(0) == command) out.push_back(call);
    }
    return out;
  }
  static std::vector<std::string> migratedKeys(const Call& migrate) {
    const auto keys_at = std::find(migrate.args.begin(), migrate.args.end(), "KEYS");
    return {keys_at + 1, migrate.args.end()};
  }
  static std::string migrateTarget(const Call& migrate) {
    return migrate.args.at(1) + ":" + migrate.args.at(2);
  }

  ManualClock clock;
  FakeNodeQuery fake;
  World world{clock};
  std::function<std::string(std::string_view)> target_of = ownerBySlot;
  std::function<void()> on_refresh;
  int refreshes = 0;
  std::unique_ptr<MigrationMover> mover;
};

// ---- reply parsing ----

TEST(ClassifyMigrateReplyTest, ReadsEveryOutcome) {
  const auto kind = [](const Outcome& reply) { return classifyMigrateReply(reply, "h").kind; };
  EXPECT_EQ(kind(RespValue::simple("OK")), MigrateVerdict::kOk);
  EXPECT_EQ(kind(RespValue::bulk("OK")), MigrateVerdict::kOk);
  EXPECT_EQ(kind(RespValue::simple("NOKEY")), MigrateVerdict::kNoKey);
  EXPECT_EQ(kind(RespValue::error("IOERR error or timeout reading to target instance")),
            MigrateVerdict::kIoError);
  EXPECT_EQ(kind(Outcome::error("connection reset")), MigrateVerdict::kIoError);
  EXPECT_EQ(kind(RespValue::error(
                "ERR Target instance replied with error: BUSYKEY Target key name already exists.")),
            MigrateVerdict::kBusyKey);
  // BUSYKEY counts only as the target's refusal relayed by MIGRATE.
  EXPECT_EQ(kind(RespValue::error("BUSYKEY Target key name already exists.")),
            MigrateVerdict::kError);
  EXPECT_EQ(kind(RespValue::error("ERR something else mentions BUSYKEY")), MigrateVerdict::kError);
  EXPECT_EQ(kind(RespValue::error("ERR Target instance replied with error: NOAUTH Authentication "
                                  "required.")),
            MigrateVerdict::kError);
  EXPECT_EQ(kind(RespValue::simple("QUEUED")), MigrateVerdict::kError);
  EXPECT_EQ(kind(RespValue::integerValue(1)), MigrateVerdict::kError);

  const MigrateVerdict moved = classifyMigrateReply(
      RespValue::error("ERR Target instance replied with error: MOVED 3999 10.1.0.2:7000"), "h");
  EXPECT_EQ(moved.kind, MigrateVerdict::kMoved);
  EXPECT_EQ(moved.redirect, "10.1.0.2:7000");
  const MigrateVerdict ask = classifyMigrateReply(
      RespValue::error("ERR Target instance replied with error: ASK 3999 :7002"), "10.1.0.9");
  EXPECT_EQ(ask.kind, MigrateVerdict::kAsk);
  EXPECT_EQ(ask.redirect, "10.1.0.9:7002");  // empty host: the target's
}

TEST(ParseScanReplyTest, ReadsCursorAndKeys) {
  const Result<ScanPage> page = parseScanReply(RespValue::array(
      {RespValue::bulk("17"), RespValue::array({RespValue::bulk("a"), RespValue::bulk("b")})}));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->cursor, "17");
  EXPECT_EQ(page->keys, (std::vector<std::string>{"a", "b"}));

  EXPECT_FALSE(parseScanReply(RespValue::error("ERR invalid cursor")));
  EXPECT_FALSE(parseScanReply(RespValue::array({RespValue::bulk("0")})));
  EXPECT_FALSE(parseScanReply(
      RespValue::array({RespValue::bulk("0"), RespValue::array({RespValue::integerValue(1)})})));
  EXPECT_FALSE(parseScanReply(RespValue::array({RespValue::bulk(""), RespValue::array({})})));
}

// ---- moving ----

TEST(MigrationMoverTest, MovesEveryKeyInOneMigratePerTarget) {
  Env env;
  std::set<std::string> owners1;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "key:" + std::to_string(i);
    env.world.add(kSrc1, key, "v" + key);
    owners1.insert(ownerBySlot(key));
  }
  for (int i = 0; i < 20; ++i) env.world.add(kSrc2, "other:" + std::to_string(i), "w");
  ASSERT_EQ(owners1.size(), 3u);  // the test needs several groups
  env.start(Env::options({kSrc1, kSrc2}));

  ASSERT_TRUE(env.runUntilDone());

  for (int i = 0; i < 30; ++i) {
    const std::string key = "key:" + std::to_string(i);
    EXPECT_EQ(env.world.keys(ownerBySlot(key)).at(key), "v" + key);
    EXPECT_EQ(env.world.copies(key), 1);
  }
  EXPECT_TRUE(env.world.keys(kSrc1).empty());
  EXPECT_TRUE(env.world.keys(kSrc2).empty());
  const MoverStats& stats = env.mover->stats();
  EXPECT_EQ(stats.moved, 50u);
  EXPECT_EQ(stats.already_gone, 0u);
  EXPECT_EQ(stats.busy_resolved, 0u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.keys_left, 0u);
  EXPECT_EQ(stats.initial_keys, 50u);
  EXPECT_EQ(stats.passes, 1u);
  EXPECT_TRUE(stats.last_error.empty());

  // Every query goes to a source; one SCAN page of source 1 gives one MIGRATE per target.
  size_t from_src1 = 0;
  for (const Call& call : env.callsOf("MIGRATE")) {
    ASSERT_TRUE(call.address == kSrc1 || call.address == kSrc2) << call.address;
    EXPECT_EQ(call.args.at(3), "");
    EXPECT_EQ(call.args.at(4), "0");
    EXPECT_EQ(call.args.at(5), "5000");
    EXPECT_EQ(call.args.at(6), "KEYS");
    for (const std::string& key : Env::migratedKeys(call)) {
      EXPECT_EQ(ownerBySlot(key), Env::migrateTarget(call)) << key;
    }
    if (call.address == kSrc1) ++from_src1;
  }
  EXPECT_EQ(from_src1, owners1.size());
  EXPECT_EQ(env.callsOf("SCAN").at(0).args,
            (std::vector<std::string>{"SCAN", "0", "COUNT", "100"}));
  EXPECT_TRUE(env.callsOf("DEL").empty());
  EXPECT_EQ(env.refreshes, 0);
}

TEST(MigrationMoverTest, SendsTargetCredentials) {
  for (const bool with_user : {false, true}) {
    Env env;
    env.world.add(kSrc1, "k", "v");
    MoverOptions opts = Env::options({kSrc1});
    opts.target_password = "secret";
    if (with_user) opts.target_username = "mover";
    opts.migrate_timeout_ms = 750;
    env.start(opts);
    ASSERT_TRUE(env.runUntilDone());
    const Call migrate = env.callsOf("MIGRATE").at(0);
    const std::string owner = ownerBySlot("k");
    std::vector<std::string> expected = {
        "MIGRATE", owner.substr(0, owner.find(':')), "7000", "", "0", "750"};
    if (with_user) {
      expected.insert(expected.end(), {"AUTH2", "mover", "secret"});
    } else {
      expected.insert(expected.end(), {"AUTH", "secret"});
    }
    expected.insert(expected.end(), {"KEYS", "k"});
    EXPECT_EQ(migrate.args, expected);
  }
}

TEST(MigrationMoverTest, CountsKeysGoneBeforeMigrate) {
  Env env;
  env.world.add(kSrc1, "expiring", "v");
  env.world.vanish.insert("expiring");
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  EXPECT_EQ(env.mover->stats().already_gone, 1u);
  EXPECT_EQ(env.mover->stats().moved, 0u);
  EXPECT_EQ(env.world.copies("expiring"), 0);
  EXPECT_TRUE(env.callsOf("DEL").empty());
}

TEST(MigrationMoverTest, BusyKeyFallsBackToSingleKeysAndDeletesOnlyTheBusyOne) {
  Env env;
  const std::string a = "{t}a", b = "{t}b", c = "{t}c";  // one slot: one batch
  const std::string owner = ownerBySlot(a);
  for (const std::string& key : {a, b, c}) env.world.add(kSrc1, key, "old");
  env.world.add(owner, b, "newer");  // written through the proxy during the migration
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  const std::vector<Call> migrates = env.callsOf("MIGRATE");
  ASSERT_EQ(migrates.size(), 4u);
  EXPECT_EQ(Env::migratedKeys(migrates[0]), (std::vector<std::string>{a, b, c}));
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(Env::migratedKeys(migrates[i]).size(), 1u);
  const std::vector<Call> dels = env.callsOf("DEL");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].address, kSrc1);
  EXPECT_EQ(dels[0].args, (std::vector<std::string>{"DEL", b}));

  EXPECT_EQ(env.world.keys(owner).at(b), "newer");
  EXPECT_EQ(env.world.keys(owner).at(a), "old");
  EXPECT_EQ(env.world.keys(owner).at(c), "old");
  EXPECT_TRUE(env.world.keys(kSrc1).empty());
  const MoverStats& stats = env.mover->stats();
  EXPECT_EQ(stats.busy_resolved, 1u);
  // a and c moved inside the refused batch: their own MIGRATE finds them gone.
  EXPECT_EQ(stats.already_gone, 2u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(MigrationMoverTest, FailedDelIsNotRetriedBlindly) {
  Env env;
  const std::string owner = ownerBySlot("k");
  env.world.add(kSrc1, "k", "old");
  env.world.add(owner, "k", "newer");
  env.world.forced["DEL"].push_back(Outcome::error("connection reset"));
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  // MIGRATE (BUSYKEY), DEL (fails), MIGRATE (BUSYKEY again), DEL.
  EXPECT_EQ(env.callsOf("MIGRATE").size(), 2u);
  EXPECT_EQ(env.callsOf("DEL").size(), 2u);
  EXPECT_EQ(env.world.keys(owner).at("k"), "newer");
  EXPECT_EQ(env.mover->stats().busy_resolved, 1u);
  EXPECT_EQ(env.mover->stats().errors, 1u);
}

TEST(MigrationMoverTest, MovedRequestsRefreshAndRetriesAtTheOwner) {
  Env env;
  // A stale slot map puts every key on node A until refreshed.
  bool stale = true;
  env.target_of = [&stale](std::string_view key) { return stale ? kNodeA : ownerBySlot(key); };
  env.on_refresh = [&stale] { stale = false; };
  std::vector<std::string> keys;
  for (const std::string& node : {kNodeA, kNodeB, kNodeC}) {
    keys.push_back(keyOwnedBy(node, "k"));
    env.world.add(kSrc1, keys.back(), "v");
  }
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  EXPECT_GE(env.refreshes, 1);
  for (const std::string& key : keys) {
    EXPECT_EQ(env.world.keys(ownerBySlot(key)).count(key), 1u) << key;
    EXPECT_EQ(env.world.copies(key), 1) << key;
  }
  EXPECT_TRUE(env.callsOf("DEL").empty());
  EXPECT_EQ(env.mover->stats().errors, 0u);
  const std::vector<Call> migrates = env.callsOf("MIGRATE");
  ASSERT_GE(migrates.size(), 2u);
  EXPECT_EQ(Env::migrateTarget(migrates.back()) == kNodeA, false);
}

TEST(MigrationMoverTest, MovedRetriesWhileTheMapStaysStale) {
  Env env;
  const std::string key = keyOwnedBy(kNodeB, "k");
  env.target_of = [](std::string_view) { return kNodeA; };  // never refreshed
  env.world.add(kSrc1, key, "v");
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  EXPECT_EQ(env.world.keys(kNodeB).count(key), 1u);  // the MOVED address was followed
  EXPECT_GE(env.refreshes, 1);
  EXPECT_EQ(env.mover->stats().moved, 1u);
}

TEST(MigrationMoverTest, AskIsRetriedAtTheImportingNode) {
  Env env;
  const std::string key = keyOwnedBy(kNodeA, "k");
  env.world.add(kSrc1, key, "v");
  env.world.ask_to[key] = kNodeC;
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  EXPECT_EQ(env.world.keys(kNodeC).count(key), 1u);
  EXPECT_EQ(env.world.copies(key), 1);
  EXPECT_GE(env.refreshes, 1);
  const std::vector<Call> migrates = env.callsOf("MIGRATE");
  ASSERT_EQ(migrates.size(), 2u);
  EXPECT_EQ(Env::migrateTarget(migrates[0]), kNodeA);
  EXPECT_EQ(Env::migrateTarget(migrates[1]), kNodeC);
}

TEST(MigrationMoverTest, IoErrorBacksOffAndRetries) {
  Env env;
  env.world.add(kSrc1, "k", "v");
  auto& forced = env.world.forced["MIGRATE"];
  forced.push_back(RespValue::error("IOERR error or timeout reading to target instance"));
  forced.push_back(Outcome::error("timed out"));  // the NodeQuery's own timeout
  forced.push_back(RespValue::error("IOERR error or timeout writing to target instance"));
  env.start(Env::options({kSrc1}));
  const auto migrates = [&env] { return env.callsOf("MIGRATE").size(); };

  env.mover->tick();  // t=0: DBSIZE, SCAN, MIGRATE -> IOERR, back off 100 ms
  EXPECT_EQ(migrates(), 1u);
  EXPECT_EQ(env.mover->stats().errors, 1u);
  EXPECT_NE(env.mover->stats().last_error.find("IOERR"), std::string::npos);
  EXPECT_NE(env.mover->stats().last_error.find(kSrc1), std::string::npos);
  EXPECT_EQ(env.mover->batchSize(0), 50u);  // halved: maybe too big for the timeout
  env.clock.advance(milliseconds(90));
  env.mover->tick();
  EXPECT_EQ(migrates(), 1u);
  env.clock.advance(milliseconds(10));  // t=100
  env.mover->tick();
  EXPECT_EQ(migrates(), 2u);  // -> transport error, back off 200 ms
  env.clock.advance(milliseconds(190));
  env.mover->tick();
  EXPECT_EQ(migrates(), 2u);
  env.clock.advance(milliseconds(10));  // t=300
  env.mover->tick();
  EXPECT_EQ(migrates(), 3u);  // -> IOERR, back off 400 ms
  EXPECT_EQ(env.mover->stats().errors, 3u);
  env.clock.advance(milliseconds(390));
  env.mover->tick();
  EXPECT_EQ(migrates(), 3u);
  env.clock.advance(milliseconds(10));  // t=700
  env.mover->tick();
  EXPECT_EQ(migrates(), 4u);
  EXPECT_EQ(env.mover->stats().moved, 1u);
  EXPECT_TRUE(env.mover->stats().done);
  EXPECT_TRUE(env.callsOf("DEL").empty());
}

TEST(MigrationMoverTest, BackoffIsCappedAtTwoSeconds) {
  Env env;
  env.world.add(kSrc1, "k", "v");
  for (int i = 0; i < 8; ++i) env.world.forced["MIGRATE"].push_back(Outcome::error("down"));
  env.start(Env::options({kSrc1}));
  std::vector<int64_t> sent_at_ms;
  for (int64_t t = 0; t < 10000 && !env.mover->stats().done; t += 10) {
    const size_t before = env.callsOf("MIGRATE").size();
    env.mover->tick();
    if (env.callsOf("MIGRATE").size() > before) sent_at_ms.push_back(t);
    env.clock.advance(milliseconds(10));
  }
  // Back-off 100, 200, 400, 800, 1600, then 2000 ms; the DBSIZEs sent every second meanwhile
  // succeed but do not reset the MIGRATE back-off.
  EXPECT_EQ(sent_at_ms, (std::vector<int64_t>{0, 100, 300, 700, 1500, 3100, 5100, 7100, 9100}));
  EXPECT_TRUE(env.mover->stats().done);
  EXPECT_EQ(env.mover->stats().errors, 8u);
}

// No reply other than a relayed BUSYKEY to a single-key MIGRATE may lead to a DEL.
TEST(MigrationMoverTest, NeverDeletesOnOtherErrors) {
  const std::vector<Outcome> failures = {
      RespValue::error("IOERR error or timeout reading to target instance"),
      Outcome::error("connection reset by peer"),
      RespValue::error("ERR Target instance replied with error: NOAUTH Authentication required."),
      RespValue::error("ERR Target instance replied with error: LOADING Redis is loading"),
      RespValue::error("ERR Target instance replied with error: CLUSTERDOWN The cluster is down"),
      RespValue::error("BUSYKEY Target key name already exists."),
      RespValue::error("ERR syntax error"),
      RespValue::error("NOPERM this user has no permissions to run the 'migrate' command"),
      RespValue::error("READONLY You can't write against a read only replica."),
      RespValue::simple("QUEUED"),
  };
  for (const Outcome& failure : failures) {
    SCOPED_TRACE(failure ? failure->str : failure.error());
    Env env;
    env.world.add(kSrc1, "{x}1", "v1");
    env.world.add(kSrc1, "{x}2", "v2");
    // Fails the batch, then each single key once.
    for (int i = 0; i < 3; ++i) env.world.forced["MIGRATE"].push_back(failure);
    env.start(Env::options({kSrc1}));

    ASSERT_TRUE(env.runUntilDone());

    EXPECT_TRUE(env.callsOf("DEL").empty());
    EXPECT_EQ(env.world.keys(ownerBySlot("{x}1")).size(), 2u);
    EXPECT_GE(env.mover->stats().errors, 1u);
    EXPECT_EQ(env.mover->stats().busy_resolved, 0u);
  }
}

TEST(MigrationMoverTest, ScanAndDbsizeFailuresAreRetried) {
  Env env;
  env.world.add(kSrc1, "k", "v");
  env.world.forced["DBSIZE"].push_back(RespValue::error("LOADING Redis is loading"));
  env.world.forced["SCAN"].push_back(Outcome::error("connection refused"));
  env.world.forced["SCAN"].push_back(RespValue::array({RespValue::bulk("0")}));  // malformed
  env.start(Env::options({kSrc1}));

  ASSERT_TRUE(env.runUntilDone());

  EXPECT_EQ(env.mover->stats().errors, 3u);
  EXPECT_EQ(env.mover->stats().moved, 1u);
  EXPECT_NE(env.mover->stats().last_error.find("SCAN"), std::string::npos);
}

TEST(MigrationMoverTest, KeysWithoutTargetWaitForTheSlotMap) {
  Env env;
  bool known = false;
  env.target_of = [&known](std::string_view key) { return known ? ownerBySlot(key) : ""; };
  MoverOptions opts = Env::options({kSrc1});
  opts.batch_keys = 2;  // several SCAN pages
  for (int i = 0; i < 6; ++i) env.world.add(kSrc1, "k" + std::to_string(i), "v");
  env.start(opts);

  env.runFor(milliseconds(300));
  EXPECT_TRUE(env.callsOf("MIGRATE").empty());
  EXPECT_EQ(env.callsOf("SCAN").size(), 1u);  // the page is not settled: no further SCAN
  EXPECT_GE(env.refreshes, 1);
  EXPECT_LE(env.refreshes, 3);  // at most every 100 ms
  EXPECT_FALSE(env.mover->stats().done);

  known = true;
  ASSERT_TRUE(env.runUntilDone());
  EXPECT_EQ(env.mover->stats().moved, 6u);
  EXPECT_TRUE(env.world.keys(kSrc1).empty());
}

// ---- completion ----

TEST(MigrationMoverTest, DoneOnlyAfterDbsizeZeroFollowingAFullPass) {
  Env env;
  env.fake.setDeferred(true);
  env.world.add(kSrc1, "{k}1", "v");
  env.world.add(kSrc1, "{k}2", "v");
  std::vector<MoverStats> reports;
  env.start(Env::options({kSrc1}));
  env.mover->setOnProgress([&reports](const MoverStats& stats) { reports.push_back(stats); });

  env.mover->tick();
  ASSERT_EQ(env.fake.pendingCount(), 1u);  // DBSIZE
  ASSERT_TRUE(env.fake.completeNext());    // -> SCAN
  EXPECT_EQ(env.mover->stats().initial_keys, 2u);
  ASSERT_TRUE(env.fake.completeNext());  // -> MIGRATE
  // The pass sees no key left, but DBSIZE says 1 (a key SCAN missed): another pass.
  env.world.forced["DBSIZE"].push_back(RespValue::integerValue(1));
  ASSERT_TRUE(env.fake.completeNext());  // -> DBSIZE
  EXPECT_EQ(env.mover->stats().passes, 1u);
  EXPECT_FALSE(env.mover->stats().done);
  ASSERT_TRUE(env.fake.completeNext());  // 1 -> SCAN again
  EXPECT_FALSE(env.mover->stats().done);
  ASSERT_TRUE(env.fake.completeNext());  // -> DBSIZE
  EXPECT_FALSE(env.mover->stats().done);
  ASSERT_TRUE(env.fake.completeNext());  // 0
  EXPECT_TRUE(env.mover->stats().done);
  EXPECT_EQ(env.mover->stats().passes, 2u);
  EXPECT_EQ(env.fake.pendingCount(), 0u);

  std::vector<std::string> commands;
  for (const Call& call : env.fake.calls()) commands.push_back(call.args.at(0));
  EXPECT_EQ(commands,
            (std::vector<std::string>{"DBSIZE", "SCAN", "MIGRATE", "DBSIZE", "SCAN", "DBSIZE"}));
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(reports.back().done);
  EXPECT_EQ(env.mover->etaSeconds(), 0u);

  // Done: only a DBSIZE every second.
  env.fake.setDeferred(false);
  env.fake.clearCalls();
  env.runFor(milliseconds(2500));
  EXPECT_EQ(env.fake.calls().size(), 2u);
  EXPECT_EQ(env.callsOf("DBSIZE").size(), 2u);
}

TEST(MigrationMoverTest, KeyAppearingAfterDoneStartsAnotherPass) {
  Env env;
  env.world.add(kSrc1, "a", "v");
  env.start(Env::options({kSrc1, kSrc2}));  // kSrc2 is empty
  ASSERT_TRUE(env.runUntilDone());
  EXPECT_EQ(env.mover->stats().passes, 1u);

  env.world.add(kSrc2, "late", "v");
  env.runFor(milliseconds(1100));  // the re-check finds it and moves it
  EXPECT_TRUE(env.mover->stats().done);
  EXPECT_EQ(env.mover->stats().moved, 2u);
  EXPECT_EQ(env.world.copies("late"), 1);
  EXPECT_TRUE(env.world.keys(kSrc2).empty());
}

TEST(MigrationMoverTest, NoSourcesIsDoneAtOnce) {
  Env env;
  env.start(Env::options({}));
  EXPECT_TRUE(env.runUntilDone(milliseconds(10)));
  EXPECT_TRUE(env.fake.calls().empty());
}

TEST(MigrationMoverTest, ReportsProgressEveryTenth) {
  Env env;
  env.fake.setDeferred(true);
  for (int i = 0; i < 100; ++i) env.world.add(kSrc1, "{p}" + std::to_string(i), "v");
  MoverOptions opts = Env::options({kSrc1});
  opts.batch_keys = 10;
  env.start(opts);
  std::vector<MoverStats> reports;
  env.mover->setOnProgress([&reports](const MoverStats& stats) { reports.push_back(stats); });

  env.mover->tick();
  while (env.fake.completeNext()) {
  }

  ASSERT_TRUE(env.mover->stats().done);
  ASSERT_EQ(reports.size(), 11u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(reports[i].keys_left, 90 - 10 * i);
    EXPECT_FALSE(reports[i].done);
  }
  EXPECT_TRUE(reports[10].done);
}

TEST(MigrationMoverTest, OneQueryInFlightPerSource) {
  Env env;
  env.fake.setDeferred(true);
  for (int i = 0; i < 50; ++i) {
    env.world.add(kSrc1, "a" + std::to_string(i), "v");
    env.world.add(kSrc2, "b" + std::to_string(i), "v");
  }
  MoverOptions opts = Env::options({kSrc1, kSrc2});
  opts.batch_keys = 7;
  env.start(opts);
  std::map<std::string, int> in_flight;
  size_t seen = 0;
  const auto track = [&] {
    const std::vector<Call>& calls = env.fake.calls();
    for (; seen < calls.size(); ++seen) {
      EXPECT_LE(++in_flight[calls[seen].address], 1) << calls[seen].address;
    }
  };
  env.mover->tick();
  track();
  env.mover->tick();  // a tick while both wait sends nothing
  track();
  EXPECT_EQ(env.fake.pendingCount(), 2u);
  // completeNext() answers the oldest query; its source is the oldest still counted.
  std::deque<std::string> order;
  for (const Call& call : env.fake.calls()) order.push_back(call.address);
  size_t answered = 0;
  while (env.fake.pendingCount() > 0) {
    const std::string address = order[answered++];
    --in_flight[address];
    ASSERT_TRUE(env.fake.completeNext());
    for (size_t i = order.size(); i < env.fake.calls().size(); ++i) {
      order.push_back(env.fake.calls()[i].address);
    }
    track();
    if (env.fake.pendingCount() == 0) {
      env.clock.advance(milliseconds(10));
      env.mover->tick();
      for (size_t i = order.size(); i < env.fake.calls().size(); ++i) {
        order.push_back(env.fake.calls()[i].address);
      }
      track();
    }
  }
  EXPECT_TRUE(env.mover->stats().done);
  EXPECT_EQ(env.mover->stats().moved, 100u);
}

// ---- pacing ----

TEST(MigrationMoverTest, RateLimitIsRespected) {
  Env env;
  for (int i = 0; i < 1000; ++i) env.world.add(kSrc1, "r" + std::to_string(i), "v");
  MoverOptions opts = Env::options({kSrc1});
  opts.rate_keys_per_s = 100;  // bucket of 10 keys
  env.start(opts);

  env.runFor(seconds(2));

  const uint64_t moved = env.mover->stats().moved;
  EXPECT_LE(moved, 10u + 200u);
  EXPECT_GE(moved, 180u);
  for (const Call& call : env.callsOf("MIGRATE")) {
    EXPECT_LE(Env::migratedKeys(call).size(), 10u);
  }
  // About 100 keys/s: the ETA is about (1000 - moved) / 100 s.
  const MoverStats& stats = env.mover->stats();
  EXPECT_NEAR(stats.rate_keys_per_s, 100.0, 15.0);
  EXPECT_EQ(stats.keys_left, 1000u - moved);
  EXPECT_EQ(env.mover->etaSeconds(),
            static_cast<uint64_t>(
                std::ceil(static_cast<double>(stats.keys_left) / stats.rate_keys_per_s)));

  env.mover->setRate(0);  // unlimited
  ASSERT_TRUE(env.runUntilDone(seconds(1)));
  EXPECT_EQ(env.mover->stats().moved, 1000u);
}

TEST(MigrationMoverTest, LoweringTheRateAppliesAtOnce) {
  Env env;
  for (int i = 0; i < 500; ++i) env.world.add(kSrc1, "r" + std::to_string(i), "v");
  env.start(Env::options({kSrc1}));
  env.mover->setRate(20);  // bucket of 2 keys
  env.runFor(seconds(1));
  EXPECT_LE(env.mover->stats().moved, 2u + 20u);
  EXPECT_GE(env.mover->stats().moved, 18u);
}

TEST(MigrationMoverTest, BatchShrinksWhenMigrateIsSlowAndGrowsBack) {
  Env env;
  env.world.owner = [](std::string_view) { return kNodeA; };
  env.target_of = [](std::string_view) { return kNodeA; };
  env.world.cost_per_key = milliseconds(2);
  for (int i = 0; i < 400; ++i) env.world.add(kSrc1, "s" + std::to_string(i), "v");
  MoverOptions opts = Env::options({kSrc1});
  opts.max_block_ms = 50;
  env.start(opts);

  ASSERT_TRUE(env.runUntilDone(seconds(30)));

  std::vector<size_t> sizes;
  for (const Call& call : env.callsOf("MIGRATE")) sizes.push_back(Env::migratedKeys(call).size());
  ASSERT_GE(sizes.size(), 4u);
  EXPECT_EQ(sizes[0], 100u);  // 200 ms: halved
  EXPECT_EQ(sizes[1], 50u);   // 100 ms: halved
  EXPECT_EQ(sizes[2], 25u);   // 50 ms: kept
  for (size_t i = 3; i < sizes.size(); ++i) EXPECT_LE(sizes[i], 25u);
  EXPECT_EQ(env.mover->batchSize(0), 25u);
  EXPECT_EQ(env.mover->stats().moved, 400u);

  // Fast again: full batches grow by a quarter up to batch_keys.
  env.world.cost_per_key = milliseconds(0);
  for (int i = 0; i < 1000; ++i) env.world.add(kSrc1, "f" + std::to_string(i), "v");
  env.runFor(seconds(3));
  EXPECT_EQ(env.world.keys(kSrc1).size(), 0u);
  EXPECT_EQ(env.mover->batchSize(0), 100u);
}

TEST(MigrationMoverTest, RepliesAfterDestructionAreIgnored) {
  Env env;
  env.fake.setDeferred(true);
  env.world.add(kSrc1, "k", "v");
  env.start(Env::options({kSrc1}));
  env.mover->tick();
  ASSERT_EQ(env.fake.pendingCount(), 1u);
  env.mover.reset();
  EXPECT_EQ(env.fake.completeAll(), 1u);
}

}  // namespace
}  // namespace slotwise::router
