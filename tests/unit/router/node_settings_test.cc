// NodeSettings: a setting clients set through the proxy is set again on nodes that lack it.
#include "router/node_settings.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "router/slot_map.h"
#include "tests/support/fake_node_query.h"

namespace slotwise::router {
namespace {

using resp::RespValue;

class NodeSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SlotMapBuilder b;
    auto a = b.addMaster("127.0.0.1", 7000, "a");
    auto c = b.addMaster("127.0.0.1", 7001, "c");
    ASSERT_TRUE(a.isOk() && c.isOk());
    ASSERT_TRUE(b.addReplica(*a, "127.0.0.1", 7002).isOk());
    ASSERT_TRUE(b.assignRange(0, 8000, *a).isOk());
    ASSERT_TRUE(b.assignRange(8001, 16383, *c).isOk());
    map_ = b.build(1);
    // Every node answers CONFIG GET with its value in `values`; CONFIG SET stores it.
    query_.setHandler([this](const std::string& address, const std::vector<std::string>& args)
                          -> std::optional<test::FakeNodeQuery::Outcome> {
      if (args.at(1) == "GET") {
        return test::FakeNodeQuery::Outcome(
            RespValue::array({RespValue::bulk(args.at(2)), RespValue::bulk(values[address])}));
      }
      values[address] = args.at(3) == "KEA" ? "AKE" : args.at(3);  // Redis's own spelling
      return test::FakeNodeQuery::Outcome(RespValue::simple("OK"));
    });
  }
  size_t sets() const {
    size_t n = 0;
    for (const auto& call : query_.calls()) n += call.args.at(1) == "SET";
    return n;
  }

  test::FakeNodeQuery query_;
  std::map<std::string, std::string> values{
      {"127.0.0.1:7000", "AKE"}, {"127.0.0.1:7001", "AKE"}, {"127.0.0.1:7002", "AKE"}};
  std::vector<std::string> fixed;
  NodeSettings settings_{
      query_, [this](const std::string& address, const std::string& name, const std::string& had) {
        fixed.push_back(address + " " + name + " '" + had + "'");
      }};
  SlotMapPtr map_;
};

TEST_F(NodeSettingsTest, NothingIsCheckedBeforeAClientSetsSomething) {
  settings_.check(*map_);
  EXPECT_TRUE(query_.calls().empty());
}

TEST_F(NodeSettingsTest, ANodeThatLostTheSettingGetsItAgainInTheNodesSpelling) {
  settings_.applied("notify-keyspace-events", "KEA");
  settings_.check(*map_);  // learns "AKE" from the first master
  ASSERT_EQ(query_.calls().size(), 1u);
  EXPECT_EQ(query_.calls()[0].address, "127.0.0.1:7000");
  settings_.check(*map_);  // everyone agrees: nothing set
  EXPECT_EQ(sets(), 0u);
  values["127.0.0.1:7002"] = "";  // the replica restarted
  settings_.check(*map_);
  EXPECT_EQ(sets(), 1u);
  EXPECT_EQ(values["127.0.0.1:7002"], "AKE");
  EXPECT_EQ(fixed, std::vector<std::string>{"127.0.0.1:7002 notify-keyspace-events ''"});
  settings_.check(*map_);
  EXPECT_EQ(sets(), 1u);
  EXPECT_EQ(settings_.enforced(),
            (std::map<std::string, std::string>{{"notify-keyspace-events", "KEA"}}));
}

TEST_F(NodeSettingsTest, AnswersOfAnOlderValueAreIgnoredAndRoundsDoNotOverlap) {
  settings_.applied("notify-keyspace-events", "KEA");
  settings_.check(*map_);
  query_.setDeferred(true);
  values["127.0.0.1:7001"] = "x";  // the answers held below say "x" for 7001...
  settings_.check(*map_);          // three CONFIG GETs held
  settings_.check(*map_);          // skipped: the round is still running
  EXPECT_EQ(query_.pendingCount(), 3u);
  settings_.applied("notify-keyspace-events", "");  // ...but the clients switched it off meanwhile
  query_.completeAll();
  EXPECT_EQ(sets(), 0u);
  EXPECT_TRUE(fixed.empty());
}

TEST_F(NodeSettingsTest, AnUnreachableNodeIsRetriedNextRound) {
  settings_.applied("notify-keyspace-events", "KEA");
  settings_.check(*map_);
  values["127.0.0.1:7001"] = "";
  query_.pushError("127.0.0.1:7001", "connection refused");
  settings_.check(*map_);
  EXPECT_EQ(sets(), 0u);
  settings_.check(*map_);
  EXPECT_EQ(sets(), 1u);
}

}  // namespace
}  // namespace slotwise::router
