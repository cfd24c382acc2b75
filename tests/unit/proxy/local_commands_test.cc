// Exact reply bytes of the commands the proxy answers itself: cluster emulation, INFO and
// CLIENT INFO/LIST, driven through runLocalCommand with a fake environment.
#include "proxy/local/local_commands.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "tests/support/resp_builders.h"
#include "router/hash_slot.h"
#include "router/slot_map.h"

namespace slotwise::proxy {
namespace {

using test::makeCommand;

class FakeEnvironment : public LocalEnvironment {
 public:
  config::HostPort advertised{"10.1.2.3", 7777};
  router::SlotMapPtr map;
  ProxyFacts proxy_facts;
  std::vector<ClientRow> rows;  // rows[0] is the caller

  config::HostPort advertisedAddress() const override { return advertised; }
  const router::SlotMap* slotMap() const override { return map.get(); }
  ProxyFacts facts() const override {
    ProxyFacts f = proxy_facts;
    f.advertised = advertised;
    f.map = map.get();
    return f;
  }
  ClientRow self() const override { return rows.at(0); }
  void listClients(std::vector<ClientRow>* out) const override {
    out->insert(out->end(), rows.begin(), rows.end());
  }
};

class LocalCommandsTest : public ::testing::Test {
 protected:
  std::string run(const std::vector<std::string>& args) {
    std::string storage;
    std::string reply;
    runLocalCommand(makeCommand(args, &storage), state, env, &reply);
    return reply;
  }
  static router::SlotMapPtr mapCovering(uint16_t last_slot) {
    router::SlotMapBuilder b;
    auto m = b.addMaster("127.0.0.1", 7000, "a");
    EXPECT_TRUE(m.isOk());
    EXPECT_TRUE(b.assignRange(0, last_slot, *m).isOk());
    return b.build(42);
  }
  // A bulk string's payload (the test fails if `reply` is not one).
  static std::string bulkPayload(const std::string& reply) {
    size_t eol = reply.find("\r\n");
    EXPECT_EQ(reply[0], '$');
    size_t len = std::stoul(reply.substr(1, eol - 1));
    EXPECT_EQ(reply.size(), eol + 2 + len + 2);
    return reply.substr(eol + 2, len);
  }

  LocalClientState state;
  FakeEnvironment env;
};

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

TEST(EmulatedNodeIdTest, StableFortyHexDigitsPerAddress) {
  std::string a = emulatedNodeId({"127.0.0.1", 6380});
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a, emulatedNodeId({"127.0.0.1", 6380}));
  EXPECT_NE(a, emulatedNodeId({"127.0.0.1", 6381}));
  EXPECT_NE(a, emulatedNodeId({"127.0.0.2", 6380}));
}

TEST_F(LocalCommandsTest, ClusterSlotsIsOneMasterOwningEverySlot) {
  const std::string id = emulatedNodeId(env.advertised);
  EXPECT_EQ(run({"CLUSTER", "SLOTS"}),
            "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$8\r\n10.1.2.3\r\n:7777\r\n" + bulk(id) + "*0\r\n");
}

TEST_F(LocalCommandsTest, ClusterShardsHasRedis70FieldOrder) {
  const std::string id = emulatedNodeId(env.advertised);
  EXPECT_EQ(run({"cluster", "shards"}),
            "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*14\r\n"
            "$2\r\nid\r\n" + bulk(id) + "$4\r\nport\r\n:7777\r\n$2\r\nip\r\n$8\r\n10.1.2.3\r\n"
            "$8\r\nendpoint\r\n$8\r\n10.1.2.3\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            "$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n");
}

TEST_F(LocalCommandsTest, ClusterNodesAndMyid) {
  const std::string id = emulatedNodeId(env.advertised);
  EXPECT_EQ(run({"CLUSTER", "NODES"}),
            bulk(id + " 10.1.2.3:7777@0 myself,master - 0 0 1 connected 0-16383\n"));
  EXPECT_EQ(run({"CLUSTER", "MYID"}), bulk(id));
}

TEST_F(LocalCommandsTest, ClusterInfoFollowsSlotMapCoverage) {
  env.map = mapCovering(16383);
  const std::string tail =
      "cluster_known_nodes:1\r\ncluster_size:1\r\ncluster_current_epoch:1\r\n"
      "cluster_my_epoch:1\r\ncluster_stats_messages_sent:0\r\n"
      "cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n";
  EXPECT_EQ(run({"CLUSTER", "INFO"}),
            bulk("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n"
                 "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n" + tail));
  env.map = mapCovering(99);
  EXPECT_EQ(run({"CLUSTER", "INFO"}),
            bulk("cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:100\r\n"
                 "cluster_slots_pfail:0\r\ncluster_slots_fail:16284\r\n" + tail));
  env.map = nullptr;
  EXPECT_NE(run({"CLUSTER", "INFO"}).find("cluster_state:fail\r\n"), std::string::npos);
}

TEST_F(LocalCommandsTest, ClusterKeyslotUsesHashTags) {
  EXPECT_EQ(run({"CLUSTER", "KEYSLOT", "foo"}), ":12182\r\n");
  EXPECT_EQ(run({"CLUSTER", "KEYSLOT", "{foo}bar"}), ":12182\r\n");
  EXPECT_EQ(run({"CLUSTER", "KEYSLOT", "somekey"}),
            ":" + std::to_string(router::keyHashSlot("somekey")) + "\r\n");
}

TEST_F(LocalCommandsTest, OtherClusterSubcommandsAreRefused) {
  EXPECT_EQ(run({"CLUSTER", "MEET", "1.2.3.4", "1"}),
            "-ERR slotwise does not support 'CLUSTER MEET' through the proxy in this version\r\n");
}

TEST_F(LocalCommandsTest, InfoSelectsSectionsInCanonicalOrder) {
  env.proxy_facts.connected_clients = 3;
  env.proxy_facts.max_clients = 100;
  env.proxy_facts.blocked_clients = 1;
  std::string text = bulkPayload(run({"INFO", "replication", "CLIENTS"}));
  EXPECT_EQ(text,
            "# Clients\r\nconnected_clients:3\r\ncluster_connections:0\r\nmaxclients:100\r\n"
            "blocked_clients:1\r\ntracking_clients:0\r\n\r\n"
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
  // Without a slot map the keyspace section has no lines (they come from the masters).
  EXPECT_EQ(run({"INFO", "keyspace"}), "$12\r\n# Keyspace\r\n\r\n");
  EXPECT_EQ(run({"INFO", "nosuch"}), "$0\r\n\r\n");
}

TEST_F(LocalCommandsTest, InfoDefaultHasServerPersistenceAndProxySections) {
  env.map = mapCovering(16383);
  env.proxy_facts.workers = 4;
  env.proxy_facts.worker_id = 2;
  std::string text = bulkPayload(run({"INFO"}));
  for (const char* needle :
       {"# Server\r\nredis_version:7.0.15\r\n", "redis_mode:standalone\r\n", "tcp_port:7777\r\n",
        "\r\n\r\n# Persistence\r\nloading:0\r\n", "# Stats\r\n", "# Cluster\r\ncluster_enabled:1\r\n",
        "\r\n\r\n# Proxy\r\nslotwise_version:", "advertised_address:10.1.2.3:7777\r\n",
        "workers:4\r\nworker_id:2\r\n", "slot_map_version:42\r\ncovered_slots:16384\r\n"
        "masters:1\r\nnodes:1\r\n"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << " missing in\n" << text;
  }
  EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
  EXPECT_EQ(text.find("\r\n\r\n\r\n"), std::string::npos);
  EXPECT_NE(bulkPayload(run({"INFO", "everything"})).find("\r\n# Proxy\r\n"), std::string::npos);
}

TEST_F(LocalCommandsTest, ClientInfoShowsCallerWithNameLibraryAndLastCommand) {
  state.id = 7;
  state.created_ms = localNowMs() - 5500;
  env.rows.push_back({&state, "127.0.0.1:50000", "127.0.0.1:6380", 12, 3});
  EXPECT_EQ(run({"CLIENT", "SETNAME", "app"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "lib-ver", "4.3.4"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "lib-ver", "a b"}),
            "-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "color", "x"}), "-ERR Unrecognized option 'color'\r\n");
  EXPECT_EQ(run({"CLIENT", "INFO"}),
            bulk("id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:6380 fd=12 name=app age=5 idle=3 "
                 "flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 "
                 "multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|info "
                 "user=default redir=-1 resp=2 lib-name=redis-py lib-ver=4.3.4\n"));
}

TEST_F(LocalCommandsTest, ClientListFiltersByIdAndType) {
  LocalClientState other;
  other.id = 9;
  other.created_ms = localNowMs();
  state.id = 7;
  env.rows.push_back({&state, "a:1", "b:2", 5, 0});
  env.rows.push_back({&other, "c:3", "b:2", 6, 0});
  std::string all = bulkPayload(run({"CLIENT", "LIST"}));
  EXPECT_EQ(all.rfind("id=7 addr=a:1 ", 0), 0u) << all;
  EXPECT_NE(all.find("\nid=9 addr=c:3 laddr=b:2 fd=6 "), std::string::npos) << all;
  EXPECT_NE(all.find(" cmd=NULL "), std::string::npos) << "client 9 never ran a local command";
  std::string only9 = bulkPayload(run({"CLIENT", "LIST", "ID", "9"}));
  EXPECT_EQ(only9.rfind("id=9 ", 0), 0u);
  EXPECT_EQ(only9.find("id=7"), std::string::npos);
  EXPECT_EQ(run({"CLIENT", "LIST", "TYPE", "pubsub"}), "$0\r\n\r\n");
  EXPECT_EQ(bulkPayload(run({"CLIENT", "LIST", "TYPE", "normal"})).size(), all.size());
  EXPECT_EQ(run({"CLIENT", "LIST", "TYPE", "x"}), "-ERR Unknown client type 'x'\r\n");
  EXPECT_EQ(run({"CLIENT", "LIST", "ID", "0"}), "$0\r\n\r\n");  // as Redis: no match, no error
  EXPECT_EQ(run({"CLIENT", "LIST", "ID", "x"}), "-ERR Invalid client ID\r\n");
  EXPECT_EQ(run({"CLIENT", "LIST", "bogus"}), "-ERR syntax error\r\n");
}

TEST_F(LocalCommandsTest, ConnectionCommandsKeepTheirReplies) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"ECHO", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR SELECT is not allowed in cluster mode\r\n");
  EXPECT_EQ(state.last_command, "select");
}

TEST(HostPortOfTest, FormatsIpv4AndIpv6) {
  sockaddr_storage a{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(6380);
  inet_pton(AF_INET, "127.0.0.1", &v4->sin_addr);
  EXPECT_EQ(hostPortOf(a).toString(), "127.0.0.1:6380");
  sockaddr_storage b{};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&b);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(7000);
  inet_pton(AF_INET6, "::1", &v6->sin6_addr);
  EXPECT_EQ(hostPortOf(b).toString(), "[::1]:7000");
  sockaddr_storage c{};
  EXPECT_EQ(hostPortOf(c).host, "");
}

}  // namespace
}  // namespace slotwise::proxy
