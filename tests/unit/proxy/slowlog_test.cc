// The proxy's slow log: per-worker rings, the merged newest-first view, argument capture rules
// and the SLOWLOG command's replies, byte for byte.
#include "proxy/stats/slowlog.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/local/local_commands.h"
#include "resp/encoder.h"
#include "tests/support/resp_builders.h"

namespace slotwise::proxy {
namespace {

using test::makeCommand;

std::string frameOf(const std::vector<std::string>& args) {
  std::string out;
  resp::appendArrayHeader(out, args.size());
  for (const auto& a : args) resp::appendBulk(out, a);
  return out;
}

config::SlowlogConfig configOf(uint64_t threshold_us, uint32_t max_len, bool log_args) {
  config::SlowlogConfig c;
  c.threshold_us = threshold_us;
  c.max_len = max_len;
  c.log_args = log_args;
  return c;
}

SlowlogEntry entryFor(std::string command, uint64_t duration_us) {
  SlowlogEntry e;
  e.command = std::move(command);
  e.duration_us = duration_us;
  e.slot = 12182;
  e.node = "127.0.0.1:7000";
  e.client_addr = "127.0.0.1:50000";
  e.client_name = "app";
  return e;
}

std::string runSlowlog(const std::vector<std::string>& args, SlowlogBook* book) {
  std::string storage, reply;
  runSlowlogCommand(makeCommand(args, &storage), book, &reply);
  return reply;
}

TEST(SlowlogShardTest, WantsComparesWithTheThresholdAndIsOffWithZeroLength) {
  SlowlogBook book(configOf(10000, 4, false));
  SlowlogShard& shard = book.addShard();
  EXPECT_FALSE(shard.wants(9'999'999));
  EXPECT_TRUE(shard.wants(10'000'000));
  SlowlogBook off(configOf(0, 0, false));
  EXPECT_FALSE(off.addShard().wants(1'000'000'000));
  SlowlogBook all(configOf(0, 1, false));
  EXPECT_TRUE(all.addShard().wants(0));
}

TEST(SlowlogShardTest, RingKeepsTheNewestMaxLenEntries) {
  SlowlogBook book(configOf(0, 3, false));
  SlowlogShard& shard = book.addShard();
  for (int i = 0; i < 5; ++i) shard.record(entryFor("get", 100 + i), "");
  EXPECT_EQ(shard.size(), 3u);
  std::vector<SlowlogEntry> entries;
  shard.appendTo(&entries);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].id, 2u);  // ids 0 and 1 were dropped, oldest first
  EXPECT_EQ(entries[2].id, 4u);
  EXPECT_EQ(entries[2].duration_us, 104u);
  EXPECT_GT(entries[2].unix_time_s, 1600000000);
}

TEST(SlowlogShardTest, WithoutLogArgsOnlyTheCommandNameIsKept) {
  SlowlogBook book(configOf(0, 8, false));
  SlowlogShard& shard = book.addShard();
  shard.record(entryFor("set", 1), frameOf({"SET", "secret-key", "secret-value"}));
  shard.record(entryFor("config|get", 1), frameOf({"CONFIG", "GET", "maxmemory"}));
  std::vector<SlowlogEntry> e = book.newest(10);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].args, (std::vector<std::string>{"config", "get"}));
  EXPECT_EQ(e[1].args, (std::vector<std::string>{"set"}));
}

TEST(SlowlogShardTest, WithLogArgsTheClientArgumentsAreKept) {
  SlowlogBook book(configOf(0, 8, true));
  book.addShard().record(entryFor("set", 1), frameOf({"SET", "k", "v"}));
  std::vector<SlowlogEntry> e = book.newest(1);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].args, (std::vector<std::string>{"SET", "k", "v"}));
}

TEST(SlowlogBookTest, MergesShardsNewestFirstAndResets) {
  SlowlogBook book(configOf(0, 8, false));
  SlowlogShard& a = book.addShard();
  SlowlogShard& b = book.addShard();
  a.record(entryFor("get", 1), "");  // id 0
  b.record(entryFor("set", 2), "");  // id 1
  a.record(entryFor("del", 3), "");  // id 2
  EXPECT_EQ(book.length(), 3u);
  std::vector<SlowlogEntry> e = book.newest(2);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].command, "del");
  EXPECT_EQ(e[1].command, "set");
  book.reset();
  EXPECT_EQ(book.length(), 0u);
  EXPECT_TRUE(book.newest(10).empty());
  a.record(entryFor("get", 1), "");
  EXPECT_EQ(book.newest(1).at(0).id, 3u);  // ids keep increasing after a reset
}

TEST(SlowlogArgsTest, CutsLongArgumentsAndTooManyArguments) {
  std::vector<std::string> args = slowlogArgs(frameOf({"SET", std::string(130, 'x')}), 32, 128);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[1], std::string(128, 'x') + "... (2 more bytes)");
  std::vector<std::string> many{"DEL"};
  for (int i = 0; i < 40; ++i) many.push_back("k" + std::to_string(i));
  args = slowlogArgs(frameOf(many), 32, 128);
  ASSERT_EQ(args.size(), 32u);
  EXPECT_EQ(args[30], "k29");
  EXPECT_EQ(args[31], "... (10 more arguments)");
  EXPECT_TRUE(slowlogArgs("*2\r\n$3\r\nGET\r\n", 32, 128).empty());  // truncated frame
  EXPECT_TRUE(slowlogArgs("PING\r\n", 32, 128).empty());
}

TEST(SlowlogCommandTest, GetReturnsEntriesInRedisFormat) {
  SlowlogBook book(configOf(0, 8, false));
  book.addShard().record(entryFor("get", 1500), frameOf({"GET", "k"}));
  std::string reply = runSlowlog({"SLOWLOG", "GET"}, &book);
  const std::string ts = std::to_string(book.newest(1).at(0).unix_time_s);
  EXPECT_EQ(reply, "*1\r\n*6\r\n:0\r\n:" + ts +
                       "\r\n:1500\r\n*1\r\n$3\r\nget\r\n$15\r\n127.0.0.1:50000\r\n$3\r\napp\r\n");
}

TEST(SlowlogCommandTest, GetCountLenResetAndErrors) {
  SlowlogBook book(configOf(0, 8, false));
  SlowlogShard& shard = book.addShard();
  for (int i = 0; i < 12; ++i) shard.record(entryFor("get", 1), "");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "LEN"}, &book), ":8\r\n");
  EXPECT_EQ(runSlowlog({"slowlog", "get"}, &book).substr(0, 4), "*8\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "GET", "2"}, &book).substr(0, 4), "*2\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "GET", "-1"}, &book).substr(0, 4), "*8\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "GET", "-2"}, &book),
            "-ERR count should be greater than or equal to -1\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "GET", "x"}, &book),
            "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "RESET"}, &book), "+OK\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "LEN"}, &book), ":0\r\n");
  EXPECT_EQ(runSlowlog({"SLOWLOG", "GET"}, &book), "*0\r\n");
}

TEST(SlowlogCommandTest, HelpWorksWithoutABookButOtherSubcommandsNeedOne) {
  std::string help = runSlowlog({"SLOWLOG", "HELP"}, nullptr);
  EXPECT_EQ(help[0], '*');
  EXPECT_NE(help.find("+RESET\r\n"), std::string::npos);
  EXPECT_EQ(runSlowlog({"SLOWLOG", "LEN"}, nullptr)[0], '-');
}

// runLocalCommand dispatches SLOWLOG to the environment's book.
class BookEnvironment : public LocalEnvironment {
 public:
  explicit BookEnvironment(SlowlogBook* book) : book_(book) {}
  config::HostPort advertisedAddress() const override { return {"127.0.0.1", 1}; }
  ProxyFacts facts() const override { return {}; }
  const router::SlotMap* slotMap() const override { return nullptr; }
  ClientRow self() const override { return {}; }
  void listClients(std::vector<ClientRow>*) const override {}
  SlowlogBook* slowlog() const override { return book_; }

 private:
  SlowlogBook* book_;
};

TEST(SlowlogCommandTest, LocalCommandDispatchUsesTheEnvironmentsBook) {
  SlowlogBook book(configOf(0, 8, false));
  book.addShard().record(entryFor("get", 1), "");
  std::string storage, reply;
  LocalClientState state;
  runLocalCommand(makeCommand({"SLOWLOG", "LEN"}, &storage), state, BookEnvironment(&book), &reply);
  EXPECT_EQ(reply, ":1\r\n");
}

}  // namespace
}  // namespace slotwise::proxy
