#include "router/router.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "router/hash_slot.h"

namespace slotwise::router {
namespace {

using Kind = RouteDecision::Kind;

// Builds a multibulk-style Command whose args live in `storage`.
resp::Command makeCommand(const std::vector<std::string>& args, std::string* storage) {
  resp::Command cmd;
  storage->clear();
  for (const auto& a : args) storage->append(a);
  uint32_t off = 0;
  for (const auto& a : args) {
    cmd.args.push_back({off, static_cast<uint32_t>(a.size())});
    off += static_cast<uint32_t>(a.size());
  }
  cmd.base = storage->data();
  return cmd;
}

RouteDecision routeOf(const std::vector<std::string>& args) {
  std::string storage;
  std::vector<uint32_t> keys;
  resp::Command cmd = makeCommand(args, &storage);
  return route(cmd, &keys);
}

TEST(RouterTest, SingleKeyCommandsGoToTheKeySlot) {
  auto d = routeOf({"GET", "foo"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 12182);
  d = routeOf({"hset", "{user1000}.h", "f", "v"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, keyHashSlot("user1000"));
  d = routeOf({"OBJECT", "ENCODING", "bar"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 5061);
}

TEST(RouterTest, SameSlotMultiKeyIsRoutedCrossSlotIsSplitOrRejected) {
  auto d = routeOf({"MSET", "{a}1", "x", "{a}2", "y"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, keyHashSlot("a"));
  EXPECT_EQ(routeOf({"MGET", "foo", "bar"}).kind, Kind::kMultiSlot);
  EXPECT_EQ(routeOf({"DEL", "foo", "bar"}).kind, Kind::kMultiSlot);
  d = routeOf({"RENAME", "foo", "bar"});
  EXPECT_EQ(d.kind, Kind::kReject);
  EXPECT_EQ(d.error, "CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(routeOf({"MSETNX", "foo", "1", "bar", "2"}).kind, Kind::kReject);
  EXPECT_EQ(routeOf({"ZUNIONSTORE", "{z}d", "2", "{z}a", "{z}b"}).kind, Kind::kSlot);
  EXPECT_EQ(routeOf({"ZUNIONSTORE", "{z}d", "2", "{z}a", "other"}).kind, Kind::kReject);
}

TEST(RouterTest, ScriptsRouteByDeclaredKeysAndNumkeysZeroGoesToAnyMaster) {
  auto d = routeOf({"EVAL", "return 1", "1", "foo"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 12182);
  EXPECT_EQ(routeOf({"EVAL", "return 1", "0"}).kind, Kind::kAnyMaster);
  // Malformed numkeys: a master must answer with Redis's own error.
  EXPECT_EQ(routeOf({"EVAL", "return 1", "9", "a"}).kind, Kind::kAnyMaster);
}

TEST(RouterTest, ShardChannelsRouteByChannelSlot) {
  auto d = routeOf({"SPUBLISH", "foo", "msg"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 12182);
}

TEST(RouterTest, ErrorsUseRedisWording) {
  EXPECT_EQ(routeOf({"nosuch"}).error, "ERR unknown command 'nosuch', with args beginning with: ");
  EXPECT_EQ(routeOf({"nosuch", "a", "b\r\nc"}).error,
            "ERR unknown command 'nosuch', with args beginning with: 'a' 'b  c' ");
  EXPECT_EQ(routeOf({"GET"}).error, "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(routeOf({"object", "nope"}).error, "ERR unknown subcommand 'nope'. Try OBJECT HELP.");
  EXPECT_EQ(routeOf({"SHUTDOWN"}).kind, Kind::kReject);
  EXPECT_EQ(routeOf({"MOVE", "k", "1"}).error, "ERR MOVE is not allowed in cluster mode");
  EXPECT_EQ(routeOf({"swapdb", "0", "1"}).error, "ERR SWAPDB is not allowed in cluster mode");
  EXPECT_EQ(routeOf({"SWAPDB", "0"}).error, "ERR wrong number of arguments for 'swapdb' command");
}

TEST(RouterTest, ProxyClassesMapToKinds) {
  EXPECT_EQ(routeOf({"PING"}).kind, Kind::kLocal);
  EXPECT_EQ(routeOf({"quit"}).kind, Kind::kLocal);
  EXPECT_EQ(routeOf({"KEYS", "*"}).kind, Kind::kAllMasters);
  EXPECT_EQ(routeOf({"DBSIZE"}).kind, Kind::kAllMasters);
  EXPECT_EQ(routeOf({"MULTI"}).kind, Kind::kTransaction);
  EXPECT_EQ(routeOf({"SUBSCRIBE", "c"}).kind, Kind::kPubSub);
  EXPECT_EQ(routeOf({"PUBLISH", "c", "m"}).kind, Kind::kAnyMaster);
  EXPECT_EQ(routeOf({"COMMAND", "COUNT"}).kind, Kind::kAnyMaster);
  EXPECT_EQ(routeOf({"SLOWLOG", "GET"}).kind, Kind::kLocal);  // the proxy's own slow log
  // CLIENT SETINFO is newer than the 7.0 table; the proxy answers it (with Redis's arity).
  EXPECT_EQ(routeOf({"client", "SetInfo", "lib-name", "x"}).kind, Kind::kLocal);
  EXPECT_EQ(routeOf({"CLIENT", "SETINFO", "lib-name"}).error,
            "ERR wrong number of arguments for 'client|setinfo' command");
}

// CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT go to the master of their slot argument; a slot that
// is not Redis's integer in 0..16383 goes to any master for the node's own error.
TEST(RouterTest, SlotArgumentCommandsGoToThatSlot) {
  auto d = routeOf({"CLUSTER", "COUNTKEYSINSLOT", "12182"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 12182);
  d = routeOf({"cluster", "getkeysinslot", "0", "10"});
  EXPECT_EQ(d.kind, Kind::kSlot);
  EXPECT_EQ(d.slot, 0);
  EXPECT_EQ(routeOf({"CLUSTER", "COUNTKEYSINSLOT", "16383"}).slot, 16383);
  for (const char* bad : {"16384", "-1", "x", "", "007", "+5", "99999999999"}) {
    EXPECT_EQ(routeOf({"CLUSTER", "COUNTKEYSINSLOT", bad}).kind, Kind::kAnyMaster) << bad;
  }
  EXPECT_EQ(routeOf({"CLUSTER", "GETKEYSINSLOT", "1"}).error,
            "ERR wrong number of arguments for 'cluster|getkeysinslot' command");
  // Behind a ring (Sentinel groups, static servers) there are no cluster slots.
  std::vector<RingServer> servers = {{"a", 1, true}, {"b", 1, true}};
  KeyPlacement ring(
      std::make_shared<const HashRing>(HashKind::kMd5, Distribution::kKetama, "{}", servers));
  std::string storage;
  std::vector<uint32_t> keys;
  d = route(makeCommand({"CLUSTER", "COUNTKEYSINSLOT", "1"}, &storage), &keys, ring);
  EXPECT_EQ(d.kind, Kind::kReject);
  EXPECT_NE(d.error.find("needs a Redis Cluster backend"), std::string::npos) << d.error;
  EXPECT_EQ(routeOf({"CLUSTER", "LINKS"}).kind, Kind::kLocal);
  EXPECT_EQ(routeOf({"CLUSTER", "REPLICAS", "id"}).kind, Kind::kLocal);
}

// Per-node families are refused with the reason; others with the generic refusal.
TEST(RouterTest, UnsupportedFamiliesSayWhy) {
  EXPECT_EQ(routeOf({"memory", "stats"}).error,
            "ERR slotwise: 'MEMORY STATS' is not supported through the proxy (per-node "
            "diagnostics: ask a node directly (MEMORY USAGE works))");
  EXPECT_NE(routeOf({"LATENCY", "LATEST"}).error.find("per-node diagnostics"), std::string::npos);
  EXPECT_NE(routeOf({"CLUSTER", "MEET", "h", "1"}).error.find("cluster administration"),
            std::string::npos);
  EXPECT_EQ(routeOf({"SYNC"}).error, "ERR unknown or unsupported command 'SYNC'");
  EXPECT_EQ(routeOf({"ROLE"}).kind, Kind::kLocal);
  EXPECT_EQ(routeOf({"BGSAVE"}).kind, Kind::kAllMasters);
  EXPECT_EQ(routeOf({"MEMORY", "USAGE", "foo"}).slot, 12182);
}

// Callers read the key positions after every decision (the migration gate does): a command
// without keys must not leave the previous command's positions behind.
TEST(RouterTest, KeyPositionsNeverOutliveTheirCommand) {
  std::string storage;
  std::vector<uint32_t> keys;
  resp::Command mget = makeCommand({"MGET", "a", "b", "c", "d"}, &storage);
  EXPECT_EQ(route(mget, &keys).kind, Kind::kMultiSlot);
  EXPECT_EQ(keys.size(), 4U);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"EXEC"}, {"DBSIZE"}, {"PUBLISH", "c", "m"}, {"PING"}, {"SUBSCRIBE", "c"}, {"NOSUCH"}}) {
    keys = {1, 2, 3, 4};
    std::string other_storage;
    route(makeCommand(args, &other_storage), &keys);
    EXPECT_TRUE(keys.empty()) << args[0];
  }
}

}  // namespace
}  // namespace slotwise::router
