// mergeNodeInfo: the masters' INFO lines added to the proxy's own sections, by the rules of
// proxy_info.h.
#include "proxy/local/proxy_info.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace slotwise::proxy {
namespace {

TEST(MergeNodeInfoTest, AddsEveryNodeKeyTheProxyDidNotWrite) {
  const std::string proxy =
      "# Persistence\r\nloading:0\r\n\r\n# Stats\r\ntotal_commands_processed:7\r\n";
  const std::vector<std::string_view> nodes = {
      "# Persistence\r\nloading:1\r\nrdb_changes_since_last_save:2\r\nrdb_last_save_time:200\r\n"
      "rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n"
      "# Stats\r\ntotal_commands_processed:100\r\nkeyspace_hits:5\r\nexpired_stale_perc:1.50\r\n"
      "instantaneous_input_kbps:0.10\r\n",
      "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:3\r\nrdb_last_save_time:100\r\n"
      "rdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:err\r\n"
      "# Stats\r\ntotal_commands_processed:100\r\nkeyspace_hits:6\r\nexpired_stale_perc:0.25\r\n"
      "instantaneous_input_kbps:0.05\r\nonly_here:9\r\n"};
  EXPECT_EQ(
      mergeNodeInfo(proxy, nodes),
      "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:5\r\n"
      "rdb_last_save_time:100\r\nrdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:ok,err\r\n"
      "\r\n# Stats\r\ntotal_commands_processed:7\r\nkeyspace_hits:11\r\n"
      "expired_stale_perc:1.50\r\ninstantaneous_input_kbps:0.15\r\nonly_here:9\r\n");
}

TEST(MergeNodeInfoTest, SizesAreSummedAndTheirHumanFormFollows) {
  const std::vector<std::string_view> nodes = {
      "# "
      "Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nused_memory_peak_perc:90.00%\r\n"
      "mem_fragmentation_ratio:1.20\r\nmaxmemory_policy:noeviction\r\ntotal_system_memory:100\r\n",
      "# "
      "Memory\r\nused_memory:2097152\r\nused_memory_human:2.00M\r\nused_memory_peak_perc:95.50%\r\n"
      "mem_fragmentation_ratio:3.40\r\nmaxmemory_policy:noeviction\r\ntotal_system_memory:100\r\n"};
  EXPECT_EQ(mergeNodeInfo("# Memory\r\n", nodes),
            "# Memory\r\nused_memory:3145728\r\nused_memory_human:3.00M\r\n"
            "used_memory_peak_perc:95.50%\r\nmem_fragmentation_ratio:3.40\r\n"
            "maxmemory_policy:noeviction\r\ntotal_system_memory:100\r\n");
}

TEST(MergeNodeInfoTest, StatListsAddUpFieldByField) {
  const std::vector<std::string_view> nodes = {
      "# Commandstats\r\ncmdstat_get:calls=3,usec=30,usec_per_call=10.00,rejected_calls=0,"
      "failed_calls=1\r\n# Errorstats\r\nerrorstat_ERR:count=2\r\n"
      "# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=9.007,p99.9=9.007\r\n",
      "# Commandstats\r\ncmdstat_get:calls=1,usec=2,usec_per_call=2.00,rejected_calls=1,"
      "failed_calls=0\r\ncmdstat_set:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,"
      "failed_calls=0\r\n# Errorstats\r\nerrorstat_ERR:count=1\r\nerrorstat_MOVED:count=4\r\n"
      "# Latencystats\r\nlatency_percentiles_usec_get:p50=2.001,p99=3.001,p99.9=20.479\r\n"};
  EXPECT_EQ(mergeNodeInfo("# Commandstats\r\n\r\n# Errorstats\r\n\r\n# Latencystats\r\n", nodes),
            "# Commandstats\r\n"
            "cmdstat_get:calls=4,usec=32,usec_per_call=8.00,rejected_calls=1,failed_calls=1\r\n"
            "cmdstat_set:calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n"
            "\r\n# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_MOVED:count=4\r\n"
            "\r\n# Latencystats\r\n"
            "latency_percentiles_usec_get:p50=2.001,p99=9.007,p99.9=20.479\r\n");
}

TEST(MergeNodeInfoTest, KeyspaceAndSectionsNotAskedForAreLeftAlone) {
  const std::vector<std::string_view> nodes = {
      "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
      "# CPU\r\nused_cpu_sys:1.5\r\n"};
  EXPECT_EQ(mergeNodeInfo("# Keyspace\r\n", nodes), "# Keyspace\r\n");
  EXPECT_EQ(mergeNodeInfo("", nodes), "");
}

TEST(InfoSectionsTest, DefaultAllEverythingAndUnknownNames) {
  EXPECT_EQ(infoSectionBit("DEFAULT"), uint32_t{kInfoDefault});
  EXPECT_EQ(infoSectionBit("all"), uint32_t{kInfoEverySection});
  EXPECT_EQ(infoSectionBit("everything"), uint32_t{kInfoEverySection});
  EXPECT_EQ(infoSectionBit("nosuch"), 0u);
  EXPECT_EQ(kInfoDefault & kInfoCommandstats, 0u);
  const std::vector<std::string_view> names =
      infoNodeSectionNames(kInfoServer | kInfoStats | kInfoKeyspace | kInfoMemory);
  EXPECT_EQ(names, (std::vector<std::string_view>{"memory", "stats", "keyspace"}));
}

}  // namespace
}  // namespace slotwise::proxy
