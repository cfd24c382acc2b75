#include "router/replica_health.h"

#include <gtest/gtest.h>

namespace slotwise::router {
namespace {

TEST(FitReplicasTest, OnlineAndRecentAckOnly) {
  const std::string info =
      "# Replication\r\nrole:master\r\nconnected_slaves:4\r\n"
      "slave0:ip=127.0.0.1,port=7003,state=online,offset=100,lag=0\r\n"
      "slave1:ip=127.0.0.1,port=7004,state=online,offset=90,lag=12\r\n"
      "slave2:ip=127.0.0.1,port=7005,state=wait_bgsave,offset=0,lag=0\r\n"
      "slave3:ip=::1,port=7006,state=online,offset=100,lag=1\r\n"
      "slave4:garbage\r\nmaster_repl_offset:100\r\n";
  EXPECT_EQ(fitReplicasOf(info, 5000), (std::set<std::string>{"127.0.0.1:7003", "::1:7006"}));
  EXPECT_EQ(fitReplicasOf(info, 20000),
            (std::set<std::string>{"127.0.0.1:7003", "127.0.0.1:7004", "::1:7006"}));
  EXPECT_EQ(fitReplicasOf(info, 0), (std::set<std::string>{"127.0.0.1:7003"}));
  EXPECT_TRUE(fitReplicasOf("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n", 5000).empty());
}

}  // namespace
}  // namespace slotwise::proxy
