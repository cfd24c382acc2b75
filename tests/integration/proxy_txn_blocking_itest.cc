// Transactions pinned to one node and blocking commands on dedicated connections.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/proxy_fixture.h"

namespace slotwise::test {
namespace {

using namespace std::chrono_literals;
using resp::ValueType;

class ProxyTxnTest : public ProxyClusterTest {};

TEST_F(ProxyTxnTest, TransactionOnTaggedKeysRunsAtomicallyOnTheSlotOwner) {
  startAll();
  auto c = proxyClient();
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"SET", "{acct}a", "10"})), "QUEUED");
  EXPECT_EQ(str(c->command({"INCRBY", "{acct}a", "5"})), "QUEUED");
  EXPECT_EQ(str(c->command({"LPUSH", "{acct}log", "x"})), "QUEUED");
  auto r = c->command({"EXEC"});
  ASSERT_EQ(r.type, ValueType::kArray) << str(r);
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(str(r.elements[0]), "OK");
  EXPECT_EQ(r.elements[1].integer, 15);
  EXPECT_EQ(r.elements[2].integer, 1);
  EXPECT_EQ(str(ownerOf("{acct}a").command({"GET", "{acct}a"})), "15");
  // Keyless commands before the first key are queued too.
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"PING"})), "QUEUED");
  EXPECT_EQ(str(c->command({"GET", "{acct}a"})), "QUEUED");
  r = c->command({"EXEC"});
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(str(r.elements[0]), "PONG");
  EXPECT_EQ(str(r.elements[1]), "15");
  EXPECT_EQ(str(c->command({"DISCARD"})), "ERR DISCARD without MULTI");
}

TEST_F(ProxyTxnTest, KeysInTwoSlotsAbortTheWholeTransaction) {
  startAll();
  auto c = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "{x}k", "before"})), "OK");
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"SET", "{x}k", "after"})), "QUEUED");
  auto err = c->command({"SET", "{y}k", "other"});
  EXPECT_TRUE(err.isError());
  EXPECT_EQ(str(err).rfind("CROSSSLOT", 0), 0u) << str(err);
  EXPECT_EQ(str(c->command({"EXEC"})), "EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(str(c->command({"GET", "{x}k"})), "before");  // nothing of it ran
  EXPECT_EQ(str(c->command({"GET", "{y}k"})), "<null>");
  // The connection is usable afterwards, and DISCARD works.
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"SET", "{x}k", "discarded"})), "QUEUED");
  EXPECT_EQ(str(c->command({"DISCARD"})), "OK");
  EXPECT_EQ(str(c->command({"GET", "{x}k"})), "before");
}

TEST_F(ProxyTxnTest, WatchDetectsAnotherClientsWrite) {
  startAll();
  auto c = proxyClient();
  auto other = proxyClient();
  ASSERT_EQ(str(c->command({"SET", "{w}k", "1"})), "OK");
  EXPECT_EQ(str(c->command({"WATCH", "{w}k"})), "OK");
  EXPECT_EQ(str(other->command({"SET", "{w}k", "2"})), "OK");
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"SET", "{w}k", "3"})), "QUEUED");
  auto r = c->command({"EXEC"});
  EXPECT_EQ(r.type, ValueType::kNull) << str(r);  // aborted by WATCH
  EXPECT_EQ(str(c->command({"GET", "{w}k"})), "2");
  // Unchanged watched key: EXEC runs.
  EXPECT_EQ(str(c->command({"WATCH", "{w}k"})), "OK");
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  EXPECT_EQ(str(c->command({"INCR", "{w}k"})), "QUEUED");
  r = c->command({"EXEC"});
  ASSERT_EQ(r.elements.size(), 1u);
  EXPECT_EQ(r.elements[0].integer, 3);
  EXPECT_EQ(str(c->command({"WATCH", "{w}k", "{v}k"})).rfind("CROSSSLOT", 0), 0u);
}

TEST_F(ProxyTxnTest, WatchThenSlotMovedReportsAbortNotRunElsewhere) {
  startAll();
  auto c = proxyClient();
  std::string key = "{mv}k";
  uint16_t slot = RedisClusterHarness::keySlot(key);
  ASSERT_EQ(str(c->command({"SET", key, "1"})), "OK");
  EXPECT_EQ(str(c->command({"WATCH", key})), "OK");
  uint16_t from = cluster.masterPortForSlot(slot), to = 0;
  for (const auto& n : cluster.nodes()) {
    if (n.master && n.port != from) to = n.port;
  }
  ASSERT_TRUE(cluster.moveSlot(slot, from, to));
  EXPECT_EQ(str(c->command({"MULTI"})), "OK");
  auto queued = c->command({"SET", key, "2"});
  auto r = c->command({"EXEC"});
  EXPECT_TRUE(r.isError() || r.type == ValueType::kNull) << str(queued) << " / " << str(r);
  EXPECT_EQ(str(c->command({"GET", key})), "1");  // the transaction did not run anywhere
}

TEST_F(ProxyTxnTest, FiftyBlpopClientsWakeWhileOtherClientsStayFast) {
  backend_yaml = "  request_timeout_ms: 500\n";
  startAll();
  constexpr int kBlocked = 50;
  std::vector<std::unique_ptr<SyncRedisClient>> blocked;
  for (int i = 0; i < kBlocked; ++i) {
    blocked.push_back(proxyClient());
    ASSERT_TRUE(blocked.back()->sendRaw("*3\r\n$5\r\nBLPOP\r\n$" +
                                         std::to_string(std::string("queue:" + std::to_string(i)).size()) +
                                         "\r\nqueue:" + std::to_string(i) + "\r\n$1\r\n0\r\n"));
  }
  // Other clients are not delayed by the blocked ones.
  auto fast = proxyClient();
  auto worst = 0ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(str(fast->command({"SET", "fast:" + std::to_string(i), "v"})), "OK");
    worst = std::max(worst, std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - t0));
  }
  EXPECT_LT(worst, 200ms);
  // The proxy's request timeout does not cut a blocking call short: still blocked after it.
  std::this_thread::sleep_for(1200ms);  // > request_timeout_ms set below
  for (int i = 0; i < kBlocked; ++i) {
    ASSERT_EQ(fast->command({"RPUSH", "queue:" + std::to_string(i), "item" + std::to_string(i)}).integer, 1);
  }
  for (int i = 0; i < kBlocked; ++i) {
    auto r = blocked[i]->readReply(5000ms);
    ASSERT_TRUE(r.has_value()) << i;
    ASSERT_EQ(r->elements.size(), 2u) << str(*r);
    EXPECT_EQ(str(r->elements[0]), "queue:" + std::to_string(i));
    EXPECT_EQ(str(r->elements[1]), "item" + std::to_string(i));
  }
  // A blocked client that disconnects releases its backend connection: its BLPOP is gone.
  auto quitter = proxyClient();
  ASSERT_TRUE(quitter->sendRaw("*3\r\n$5\r\nBLPOP\r\n$5\r\ngone!\r\n$1\r\n0\r\n"));
  ASSERT_TRUE(cluster.waitFor([&] {
    return str(ownerOf("gone!").command({"INFO", "clients"})).find("blocked_clients:1") != std::string::npos;
  }, 3000ms));
  quitter->close();
  EXPECT_TRUE(cluster.waitFor([&] {
    return str(ownerOf("gone!").command({"INFO", "clients"})).find("blocked_clients:0") != std::string::npos;
  }, 3000ms));
  EXPECT_EQ(fast->command({"RPUSH", "gone!", "x"}).integer, 1);  // nobody popped it
  // Timeouts of the command itself still work.
  auto t = proxyClient();
  auto r = t->command({"BLPOP", "never", "0.3"});
  EXPECT_EQ(r.type, ValueType::kNull);
}

// INFO blocked_clients counts the blocked clients of every worker; CLIENT LIST shows flags=b.
TEST_F(ProxyTxnTest, BlockedClientsAreCountedProxyWideAndFlagged) {
  startAll();  // two workers: the clients below land on both
  auto blocked = proxyClient();
  const int64_t blocked_id = blocked->command({"CLIENT", "ID"}).integer;
  ASSERT_GT(blocked_id, 0);
  std::vector<std::unique_ptr<SyncRedisClient>> others;
  for (int i = 0; i < 4; ++i) others.push_back(proxyClient());
  auto countsOf = [&](int n) {
    const std::string want = "blocked_clients:" + std::to_string(n) + "\r\n";
    for (auto& o : others) {
      if (str(o->command({"INFO", "clients"})).find(want) == std::string::npos) return false;
    }
    return true;
  };
  EXPECT_TRUE(countsOf(0));
  ASSERT_TRUE(blocked->sendRaw("*3\r\n$5\r\nBLPOP\r\n$6\r\nbq:{1}\r\n$1\r\n0\r\n"));
  ASSERT_TRUE(cluster.waitFor([&] { return countsOf(1); }, 3000ms));
  // Every client lists it with flags=b, whichever worker holds it.
  const std::string id_field = "id=" + std::to_string(blocked_id) + " ";
  for (auto& o : others) {
    const std::string list = str(o->command({"CLIENT", "LIST"}));
    const size_t at = list.find(id_field);
    ASSERT_NE(at, std::string::npos) << list;
    const std::string line = list.substr(at, list.find('\n', at) - at);
    EXPECT_NE(line.find(" flags=b "), std::string::npos) << line;
  }
  EXPECT_NE(str(others[0]->command({"CLIENT", "INFO"})).find(" flags=N "), std::string::npos);
  // Timeout 0 blocks until data arrives; then the count drops and the client is usable.
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(blocked->readReply(10ms).has_value());
  ASSERT_EQ(others[0]->command({"RPUSH", "bq:{1}", "v"}).integer, 1);
  auto r = blocked->readReply(3000ms);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->elements.size(), 2u) << str(*r);
  EXPECT_EQ(str(r->elements[1]), "v");
  EXPECT_TRUE(countsOf(0));
  EXPECT_NE(str(blocked->command({"CLIENT", "INFO"})).find(" flags=N "), std::string::npos);
  // A blocked client that disconnects is no longer counted.
  ASSERT_TRUE(blocked->sendRaw("*3\r\n$5\r\nBLPOP\r\n$6\r\nbq:{1}\r\n$1\r\n0\r\n"));
  ASSERT_TRUE(cluster.waitFor([&] { return countsOf(1); }, 3000ms));
  blocked->close();
  EXPECT_TRUE(cluster.waitFor([&] { return countsOf(0); }, 3000ms));
}

// CLIENT UNBLOCK <id> TIMEOUT|ERROR from a client of either worker: the node unblocks the
// dedicated connection, its reply reaches the blocked client; nothing is lost.
TEST_F(ProxyTxnTest, ClientUnblockWakesABlockedClientOfAnyWorker) {
  startAll();
  auto blocked = proxyClient();
  const int64_t id = blocked->command({"CLIENT", "ID"}).integer;
  ASSERT_GT(id, 0);
  std::vector<std::unique_ptr<SyncRedisClient>> others;  // spread over both workers
  for (int i = 0; i < 3; ++i) others.push_back(proxyClient());
  const std::string key = "ub:{1}";
  auto nodeBlocked = [&](int n) {
    return cluster.waitFor(
        [&] {
          return str(ownerOf(key).command({"INFO", "clients"}))
                     .find("blocked_clients:" + std::to_string(n) + "\r\n") != std::string::npos;
        },
        3000ms);
  };
  const std::string blpop = "*3\r\n$5\r\nBLPOP\r\n$6\r\nub:{1}\r\n$1\r\n0\r\n";
  for (const char* mode : {"TIMEOUT", "ERROR"}) {
    for (auto& u : others) {
      ASSERT_TRUE(blocked->sendRaw(blpop));
      ASSERT_TRUE(nodeBlocked(1)) << mode;
      EXPECT_EQ(u->command({"CLIENT", "UNBLOCK", std::to_string(id), mode}).integer, 1) << mode;
      auto r = blocked->readReply(3000ms);
      ASSERT_TRUE(r.has_value()) << mode;
      if (std::string(mode) == "TIMEOUT") {
        EXPECT_EQ(r->type, ValueType::kNull) << str(*r);
      } else {
        EXPECT_TRUE(r->isError());
        EXPECT_EQ(str(*r), "UNBLOCKED client unblocked via CLIENT UNBLOCK");
      }
      ASSERT_TRUE(nodeBlocked(0)) << mode;
    }
  }
  // Not blocked, unknown, bad arguments.
  EXPECT_EQ(others[0]->command({"CLIENT", "UNBLOCK", std::to_string(id)}).integer, 0);
  EXPECT_EQ(others[0]->command({"CLIENT", "UNBLOCK", "987654"}).integer, 0);
  EXPECT_EQ(str(others[0]->command({"CLIENT", "UNBLOCK", std::to_string(id), "LATER"})),
            "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
  EXPECT_EQ(str(others[0]->command({"CLIENT", "UNBLOCK", "x"})),
            "ERR value is not an integer or out of range");
  // The unblocked client still works, and nothing was lost.
  EXPECT_EQ(str(blocked->command({"SET", "ub:{1}s", "v"})), "OK");
  EXPECT_EQ(str(blocked->command({"GET", "ub:{1}s"})), "v");
  EXPECT_EQ(others[0]->command({"RPUSH", key, "a", "b"}).integer, 2);
  auto r = blocked->command({"BLPOP", key, "0"});
  ASSERT_EQ(r.elements.size(), 2u) << str(r);
  EXPECT_EQ(str(r.elements[1]), "a");
  EXPECT_EQ(str(others[1]->command({"LPOP", key})), "b");
  EXPECT_EQ(others[1]->command({"LLEN", key}).integer, 0);
}

// Blocked BLMOVE chains on keys of one slot wake as on one server: a push to the first list moves
// the element along the chain to a client blocked on the last one; a blocked self-move rotates.
TEST_F(ProxyTxnTest, BlockedBlmoveChainsWakeAsOnOneServer) {
  startAll();
  auto mover = proxyClient();
  auto popper = proxyClient();
  auto pusher = proxyClient();
  auto nodeBlocked = [&](int n) {
    return cluster.waitFor(
        [&] {
          return str(ownerOf("{c}a").command({"INFO", "clients"}))
                     .find("blocked_clients:" + std::to_string(n) + "\r\n") != std::string::npos;
        },
        3000ms);
  };
  auto send = [](SyncRedisClient& c, const std::vector<std::string>& args) {
    std::string bytes = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) bytes += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return c.sendRaw(bytes);
  };
  ASSERT_TRUE(send(*mover, {"BLMOVE", "{c}a", "{c}b", "LEFT", "RIGHT", "0"}));
  ASSERT_TRUE(nodeBlocked(1));
  ASSERT_TRUE(send(*popper, {"BLPOP", "{c}b", "0"}));
  ASSERT_TRUE(nodeBlocked(2));
  EXPECT_EQ(pusher->command({"RPUSH", "{c}a", "x"}).integer, 1);
  auto moved = mover->readReply(3000ms);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(str(*moved), "x");
  auto popped = popper->readReply(3000ms);
  ASSERT_TRUE(popped.has_value());
  ASSERT_EQ(popped->elements.size(), 2u) << str(*popped);
  EXPECT_EQ(str(popped->elements[0]), "{c}b");
  EXPECT_EQ(str(popped->elements[1]), "x");
  EXPECT_EQ(pusher->command({"EXISTS", "{c}a", "{c}b"}).integer, 0);
  // Self-reference: a blocked BLMOVE a a gets the pushed element, which stays in the list.
  ASSERT_TRUE(send(*mover, {"BLMOVE", "{c}a", "{c}a", "RIGHT", "LEFT", "0"}));
  ASSERT_TRUE(nodeBlocked(1));
  EXPECT_EQ(pusher->command({"RPUSH", "{c}a", "y"}).integer, 1);
  moved = mover->readReply(3000ms);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(str(*moved), "y");
  auto list = pusher->command({"LRANGE", "{c}a", "0", "-1"});
  ASSERT_EQ(list.elements.size(), 1u) << str(list);
  EXPECT_EQ(str(list.elements[0]), "y");
}

}  // namespace
}  // namespace slotwise::test
