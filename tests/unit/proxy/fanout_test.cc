// Pure helpers of proxy/fanout: the SCAN consistency check, INFO keyspace sums, WAIT timeouts.
#include "proxy/datapath/fanout.h"

#include <gtest/gtest.h>

#include "proxy/datapath/script_cache.h"

namespace slotwise::proxy {
namespace {

TEST(OwnershipFingerprintTest, SplitAndOrderDoNotMatterOwnersDo) {
  const uint64_t whole = ownershipFingerprint({{0, 8191, "a"}, {8192, 16383, "b"}});
  EXPECT_EQ(ownershipFingerprint({{8192, 16383, "b"}, {0, 99, "a"}, {100, 8191, "a"}}), whole);
  EXPECT_NE(ownershipFingerprint({{0, 8190, "a"}, {8191, 16383, "b"}}), whole);
  EXPECT_NE(ownershipFingerprint({{0, 8191, "a"}, {8192, 16383, "c"}}), whole);
  // Not adjacent: a hole between two ranges of one owner is not merged away.
  EXPECT_NE(ownershipFingerprint({{0, 10, "a"}, {12, 20, "a"}}),
            ownershipFingerprint({{0, 20, "a"}}));
}

constexpr char kNodes[] =
    "07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected\n"
    "67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922\n"
    "292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383\n"
    "e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5459 5460\n";

TEST(ParseClusterNodesTest, FingerprintMatchesTheSameOwnership) {
  NodeView view;
  ASSERT_TRUE(parseClusterNodes(kNodes, &view));
  EXPECT_FALSE(view.migrating);
  EXPECT_EQ(view.fingerprint,
            ownershipFingerprint({{0, 5460, "e7d1"}, {5461, 10922, "67ed"}, {10923, 16383, "292f"}}));
}

TEST(ParseClusterNodesTest, MigrationMarkersOfMyselfAreSeenAndNotOwnership) {
  std::string text = kNodes;
  text.replace(text.find("5460\n"), 4, "5460 [5460->-67ed]");
  NodeView view;
  ASSERT_TRUE(parseClusterNodes(text, &view));
  EXPECT_TRUE(view.migrating);
  NodeView plain;
  ASSERT_TRUE(parseClusterNodes(kNodes, &plain));
  EXPECT_EQ(view.fingerprint, plain.fingerprint);
  // Not a CLUSTER NODES text: no myself line.
  EXPECT_FALSE(parseClusterNodes("ERR nope", &view));
  EXPECT_FALSE(parseClusterNodes("", &view));
}

TEST(MergeKeyspacesTest, SumsPerDatabaseAndWeighsTtl) {
  EXPECT_EQ(mergeKeyspaces({"# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=100\r\n",
                            "# Keyspace\r\ndb0:keys=30,expires=1,avg_ttl=0\r\n"
                            "db2:keys=1,expires=0,avg_ttl=0\r\n",
                            "# Keyspace\r\n"}),
            "db0:keys=40,expires=3,avg_ttl=25\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n");
  EXPECT_EQ(mergeKeyspaces({}), "");
  EXPECT_EQ(mergeKeyspaces({"garbage\r\ndbx:keys=1\r\n"}), "");
}

TEST(WaitTimeoutTest, CappedBelowTheRequestTimeout) {
  EXPECT_EQ(waitTimeoutMs(100, 5000), 100u);
  EXPECT_EQ(waitTimeoutMs(0, 5000), 3750u);      // "forever" becomes the cap
  EXPECT_EQ(waitTimeoutMs(60000, 5000), 3750u);
  EXPECT_EQ(waitTimeoutMs(0, 0), 0u);            // no request timeout: as asked
  EXPECT_EQ(waitTimeoutMs(1, 1), 1u);
}

TEST(ScriptCacheTest, FindsBodiesBySha1OfAnyCase) {
  EXPECT_EQ(ScriptCache::sha1Hex("return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  ScriptCache& cache = ScriptCache::instance();
  cache.remember("return 'unit'");
  const std::string sha = ScriptCache::sha1Hex("return 'unit'");
  EXPECT_EQ(cache.find(sha), "return 'unit'");
  std::string upper = sha;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(cache.find(upper), "return 'unit'");
  EXPECT_EQ(cache.find(std::string(40, '0')), std::nullopt);
}

}  // namespace
}  // namespace slotwise::proxy
