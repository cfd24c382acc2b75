// PoolSet: composing the maps of several pools into one (cluster slots first, ring pools after),
// longest-prefix routing, and node events reaching the pool that has the node.
#include "router/pool_set.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "router/hash_slot.h"
#include "router/shard_map.h"

namespace slotwise::router {
namespace {

// A pool's source the test drives by hand: publish() hands a map to PoolSet; the node events it
// receives are recorded.
class FakeSource final : public TopologySource {
 public:
  explicit FakeSource(PublishCallback publish) : publish_(std::move(publish)) {}
  void publish(SlotMapPtr map) {
    current_ = map;
    publish_(std::move(map));
  }
  void tick() override { ++ticks; }
  void requestRefresh() override { ++refreshes; }
  void reportRedirect() override { ++redirects; }
  void reportFailure(std::string_view address) override { failures.emplace_back(address); }
  void reportReachable(std::string_view address) override { reachable.emplace_back(address); }
  SlotMapPtr current() const override { return current_; }
  const RefreshStats& stats() const override { return stats_; }

  int ticks = 0;
  int refreshes = 0;
  int redirects = 0;
  std::vector<std::string> failures;
  std::vector<std::string> reachable;
  RefreshStats stats_;

 private:
  PublishCallback publish_;
  SlotMapPtr current_;
};

std::shared_ptr<const HashRing> ringOf(std::vector<std::string> names) {
  std::vector<RingServer> servers;
  for (std::string& n : names) servers.push_back({std::move(n), 1, true});
  return std::make_shared<const HashRing>(HashKind::kFnv1a_64, Distribution::kKetama, "{}",
                                          std::move(servers));
}

// A two-master cluster with one replica: 7000 owns 0..8191, 7001 owns 8192..16383.
SlotMapPtr clusterMap() {
  SlotMapBuilder b;
  const uint16_t a = *b.addMaster("127.0.0.1", 7000, "id-a");
  const uint16_t c = *b.addMaster("127.0.0.1", 7001, "id-b");
  EXPECT_TRUE(b.addReplica(a, "127.0.0.1", 7100, "id-ar"));
  EXPECT_TRUE(b.assignRange(0, 8191, a));
  EXPECT_TRUE(b.assignRange(8192, 16383, c));
  return b.build(1);
}

class PoolSetTest : public ::testing::Test {
 protected:
  // Pools: 0 = "main" (cluster), 1 = "legacy" (static, 2 servers), 2 = "sessions" (1 group).
  void create(std::vector<std::pair<std::string, size_t>> routes, size_t default_pool = 0) {
    std::vector<PoolSet::Pool> pools;
    const std::vector<std::pair<std::string, uint32_t>> specs = {
        {"main", 0}, {"legacy", 2}, {"sessions", 1}};
    for (size_t i = 0; i < specs.size(); ++i) {
      PoolSet::Pool p;
      p.name = specs[i].first;
      p.cluster = specs[i].second == 0;
      p.slots = specs[i].second;
      p.make = [this, i](TopologySource::PublishCallback publish) {
        auto source = std::make_unique<FakeSource>(std::move(publish));
        fakes_[i] = source.get();
        return source;
      };
      pools.push_back(std::move(p));
    }
    auto set = PoolSet::create(std::move(pools), std::move(routes), default_pool,
                               [this](SlotMapPtr m) { maps_.push_back(std::move(m)); });
    ASSERT_TRUE(set) << set.error();
    set_ = std::move(*set);
  }

  void publishAll() {
    fakes_[0]->publish(clusterMap());
    fakes_[1]->publish(*buildShardMap({{"127.0.0.1:7201", {}}, {"127.0.0.1:7202", {}}},
                                      KeyPlacement(ringOf({"s1", "s2"})), 1));
    fakes_[2]->publish(*buildShardMap({{"127.0.0.1:7301", {"127.0.0.1:7302"}}},
                                      KeyPlacement(ringOf({"mymaster"})), 1));
  }

  std::string ownerOf(std::string_view key) const {
    const SlotMap& m = *maps_.back();
    const uint16_t master = m.masterIndex(m.placement().slotOf(key));
    return master == SlotMap::kNoNode ? std::string("-") : m.nodes()[master].address;
  }

  std::unique_ptr<PoolSet> set_;
  FakeSource* fakes_[3] = {nullptr, nullptr, nullptr};
  std::vector<SlotMapPtr> maps_;
};

TEST_F(PoolSetTest, ComposesClusterSlotsFirstThenRingPoolsInOrder) {
  create({{"legacy:", 1}, {"sess:", 2}});
  EXPECT_TRUE(maps_.empty());
  publishAll();
  ASSERT_EQ(maps_.size(), 3u);
  const SlotMap& m = *maps_.back();
  EXPECT_EQ(m.version(), 3u);
  EXPECT_TRUE(m.complete());
  EXPECT_EQ(m.placement().slotCount(), 16384u + 3u);
  EXPECT_EQ(m.coveredSlots(), 16384u + 3u);
  EXPECT_EQ(set_->offset(0), 0u);
  EXPECT_EQ(set_->offset(1), 16384u);
  EXPECT_EQ(set_->offset(2), 16386u);

  // Keys without a route: the cluster's own CRC16 slot, same slot number as in the cluster.
  EXPECT_EQ(m.placement().slotOf("foo"), keyHashSlot("foo"));
  EXPECT_EQ(ownerOf("foo"), keyHashSlot("foo") < 8192 ? "127.0.0.1:7000" : "127.0.0.1:7001");
  // Routed keys: the pool's ring, shifted into the pool's span.
  const HashRing ring(HashKind::kFnv1a_64, Distribution::kKetama, "{}",
                      {{"s1", 1, true}, {"s2", 1, true}});
  for (int i = 0; i < 50; ++i) {
    const std::string key = "legacy:" + std::to_string(i);
    EXPECT_EQ(m.placement().slotOf(key), 16384 + ring.serverFor(key)) << key;
    EXPECT_NE(ownerOf(key).find("127.0.0.1:720"), std::string::npos) << key;
  }
  EXPECT_EQ(ownerOf("sess:abc"), "127.0.0.1:7301");
  EXPECT_EQ(m.replicasOf(m.masterIndex(16386)).size(), 1u);
  EXPECT_EQ(m.replicasOf(m.masterIndex(0)).size(), 1u);

  // Which slots are a cluster's, which nodes are cluster nodes, where keyless commands go.
  EXPECT_TRUE(m.placement().hasCluster());
  EXPECT_TRUE(m.placement().clusterSlot(16383));
  EXPECT_FALSE(m.placement().clusterSlot(16384));
  EXPECT_FALSE(m.placement().clusterSlot(16386));
  EXPECT_TRUE(m.nodes()[m.findNode("127.0.0.1:7100")].cluster);
  EXPECT_FALSE(m.nodes()[m.findNode("127.0.0.1:7201")].cluster);
  EXPECT_FALSE(m.nodes()[m.findNode("127.0.0.1:7302")].cluster);
  const PlacementSpan keyless = m.placement().keylessSpan();
  EXPECT_EQ(keyless.ring, nullptr);
  EXPECT_EQ(keyless.offset, 0u);
  EXPECT_EQ(keyless.slots, 16384u);
  EXPECT_EQ(m.masters().size(), 5u);
}

TEST_F(PoolSetTest, LongestPrefixWinsAndTheDefaultPoolTakesTheRest) {
  create({{"a:", 1}, {"a:b:", 2}, {"a:b:c", 1}}, /*default_pool=*/2);
  publishAll();
  EXPECT_EQ(ownerOf("a:b:x"), "127.0.0.1:7301");
  EXPECT_NE(ownerOf("a:x").find("127.0.0.1:720"), std::string::npos);
  EXPECT_NE(ownerOf("a:b:cd").find("127.0.0.1:720"), std::string::npos);
  EXPECT_EQ(ownerOf("a"), "127.0.0.1:7301");      // shorter than every prefix
  EXPECT_EQ(ownerOf(""), "127.0.0.1:7301");       // the default pool
  EXPECT_EQ(ownerOf("A:b:x"), "127.0.0.1:7301");  // case-sensitive
  const PrefixRoutes* routes = maps_.back()->placement().routes();
  ASSERT_NE(routes, nullptr);
  EXPECT_EQ(routes->poolOf("a:b:"), 2u);
  EXPECT_EQ(routes->poolOf("a:b"), 1u);
  // A ring default pool: keyless commands go to its span.
  const PlacementSpan keyless = maps_.back()->placement().keylessSpan();
  ASSERT_NE(keyless.ring, nullptr);
  EXPECT_EQ(keyless.offset, 16386u);
  EXPECT_EQ(keyless.slots, 1u);
}

TEST_F(PoolSetTest, APoolWithoutAMapLeavesOnlyItsKeysUnserved) {
  create({{"legacy:", 1}, {"sess:", 2}});
  fakes_[0]->publish(clusterMap());
  ASSERT_EQ(maps_.size(), 1u);
  EXPECT_FALSE(maps_.back()->complete());
  EXPECT_EQ(maps_.back()->coveredSlots(), 16384u);
  EXPECT_NE(ownerOf("foo"), "-");
  EXPECT_EQ(ownerOf("legacy:1"), "-");
  // Its keys are placed by its source's placement (known before any map), on slots no node
  // serves yet: requests wait for the pool's first map instead of going to the wrong server.
  EXPECT_NE(maps_.back()->placement().slotOf("sess:1"), KeyPlacement::kUnplaced);
  EXPECT_EQ(ownerOf("sess:1"), "-");
}

TEST_F(PoolSetTest, NodeEventsReachThePoolThatHasTheNode) {
  create({{"legacy:", 1}, {"sess:", 2}});
  publishAll();
  set_->reportFailure("127.0.0.1:7202");
  set_->reportFailure("127.0.0.1:7302");
  set_->reportFailure("127.0.0.1:7999");  // unknown: a redirect target, so the cluster's
  set_->reportReachable("127.0.0.1:7000");
  set_->reportRedirect();
  set_->requestRefresh();
  set_->tick();
  EXPECT_EQ(fakes_[0]->failures, std::vector<std::string>{"127.0.0.1:7999"});
  EXPECT_EQ(fakes_[1]->failures, std::vector<std::string>{"127.0.0.1:7202"});
  EXPECT_EQ(fakes_[2]->failures, std::vector<std::string>{"127.0.0.1:7302"});
  EXPECT_EQ(fakes_[0]->reachable, std::vector<std::string>{"127.0.0.1:7000"});
  EXPECT_TRUE(fakes_[1]->reachable.empty());
  EXPECT_EQ(fakes_[0]->redirects, 1);
  EXPECT_EQ(fakes_[1]->redirects + fakes_[2]->redirects, 0);
  for (FakeSource* f : fakes_) {
    EXPECT_EQ(f->refreshes, 1);
    EXPECT_EQ(f->ticks, 1);
  }
  fakes_[0]->stats_.ok = 4;
  fakes_[2]->stats_.ok = 2;
  fakes_[1]->stats_.failed = 1;
  EXPECT_EQ(set_->stats().ok, 6u);
  EXPECT_EQ(set_->stats().failed, 1u);
  EXPECT_EQ(set_->stats().published, 3u);
}

TEST_F(PoolSetTest, ANodeInTwoPoolsIsLeftOutOfTheSecond) {
  create({{"legacy:", 1}});
  std::vector<std::string> warnings;
  set_->setOnWarning([&](const std::string& w) { warnings.push_back(w); });
  fakes_[0]->publish(clusterMap());
  // The static pool's second server is a cluster node: its slot stays unserved.
  fakes_[1]->publish(*buildShardMap({{"127.0.0.1:7201", {}}, {"127.0.0.1:7001", {}}},
                                    KeyPlacement(ringOf({"s1", "s2"})), 1));
  const SlotMap& m = *maps_.back();
  EXPECT_EQ(m.coveredSlots(), 16384u + 1u);
  EXPECT_NE(m.masterIndex(16384), SlotMap::kNoNode);
  EXPECT_EQ(m.masterIndex(16385), SlotMap::kNoNode);
  EXPECT_TRUE(m.nodes()[m.findNode("127.0.0.1:7001")].cluster);
  fakes_[2]->publish(*buildShardMap({{"127.0.0.1:7301", {}}}, KeyPlacement(ringOf({"g"})), 1));
  EXPECT_EQ(warnings, std::vector<std::string>{
                          "node 127.0.0.1:7001 of pool 'legacy' is also in pool 'main': left out "
                          "of 'legacy'"});  // once, not again for the next map
}

TEST(PoolSetCreateTest, RefusesWhatCannotBeCombined) {
  auto make = [](TopologySource::PublishCallback publish) -> std::unique_ptr<TopologySource> {
    return std::make_unique<FakeSource>(std::move(publish));
  };
  auto pool = [&](std::string name, bool cluster, uint32_t slots) {
    return PoolSet::Pool{std::move(name), cluster, slots, make};
  };
  auto error = [](std::vector<PoolSet::Pool> pools,
                  std::vector<std::pair<std::string, size_t>> routes, size_t def) {
    auto r = PoolSet::create(std::move(pools), std::move(routes), def, [](SlotMapPtr) {});
    return r ? std::string() : r.error();
  };
  EXPECT_EQ(error({}, {}, 0), "no pool");
  EXPECT_EQ(error({pool("a", true, 0), pool("b", true, 0)}, {}, 0),
            "at most one pool can be a Redis Cluster");
  EXPECT_EQ(error({pool("a", true, 0)}, {}, 1), "the default pool is not a pool");
  EXPECT_EQ(error({pool("a", true, 0)}, {{"", 0}}, 0), "a route has an empty prefix");
  EXPECT_EQ(error({pool("a", true, 0)}, {{"x", 0}, {"x", 0}}, 0), "duplicate route 'x'");
  EXPECT_EQ(error({pool("a", true, 0)}, {{"x", 3}}, 0), "route 'x' names no pool");
  EXPECT_EQ(error({pool("a", false, 0)}, {}, 0), "pool 'a' has no server");
  EXPECT_EQ(error({pool("a", true, 0), pool("b", false, 40000), pool("c", false, 9200)}, {}, 0),
            "the pools have more than 65534 servers and groups in all");
  EXPECT_EQ(error({pool("a", true, 0), pool("b", false, 40000), pool("c", false, 9100)}, {}, 0),
            "");
}

}  // namespace
}  // namespace slotwise::router
