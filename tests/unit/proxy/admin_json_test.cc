#include "proxy/admin/admin_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config_loader.h"

namespace slotwise::proxy {
namespace {

using Json = nlohmann::ordered_json;

// Master A (127.0.0.1:7000, replica 127.0.0.1:7003) owns 0-99, master B (127.0.0.1:7001) the
// rest.
router::SlotMapPtr sampleMap() {
  router::SlotMapBuilder b;
  const uint16_t a = *b.addMaster("127.0.0.1", 7000, "ida");
  EXPECT_TRUE(b.addReplica(a, "127.0.0.1", 7003, "idr"));
  const uint16_t bb = *b.addMaster("127.0.0.1", 7001, "idb");
  EXPECT_TRUE(b.assignRange(0, 99, a));
  EXPECT_TRUE(b.assignRange(100, 16383, bb));
  return b.build(3);
}

// Parses `text`, failing the test (and returning null) when it is not valid JSON.
Json parsed(const std::string& text) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << "invalid JSON: " << text;
  return doc;
}

std::vector<std::string> keysOf(const Json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;
}

// The exact bytes the dashboard and the integration tests have always been served.
const std::function<NodeHealth(const std::string&)> kNoHealth = [](const std::string&) {
  return NodeHealth{};
};

TEST(AdminJsonTest, SlotsBodyIsUnchanged) {
  EXPECT_EQ(renderSlotsJson(sampleMap().get()),
            R"({"version":3,"ranges":[)"
            R"({"first":0,"last":99,"master":"127.0.0.1:7000","id":"ida",)"
            R"("replicas":["127.0.0.1:7003"]},)"
            R"({"first":100,"last":16383,"master":"127.0.0.1:7001","id":"idb","replicas":[]}]})");
  EXPECT_EQ(renderSlotsJson(nullptr), R"({"version":0,"ranges":[]})");
}

// Every node gets the health its address maps to; latency percentiles are null until a request.
TEST(AdminJsonTest, BackendsBodyCarriesEachNodesHealth) {
  const auto health = [](const std::string& address) {
    NodeHealth h;
    if (address == "127.0.0.1:7000") {
      h.state = "up";
      h.connections = 2;
      h.in_flight = 3;
      h.requests = 10;
      h.p50_ms = 0.25;
      h.p99_ms = 1.5;
    } else if (address == "127.0.0.1:7003") {
      h.state = "down";
      h.connect_failures = 4;
      h.last_error = "connect failed: connection refused";
      h.last_error_unix_ms = 1700000000000;
    }
    return h;
  };
  EXPECT_EQ(renderBackendsJson(sampleMap().get(), health),
            R"({"version":3,"health_tracked":true,"nodes":[)"
            R"({"address":"127.0.0.1:7000","id":"ida","role":"master","master":"127.0.0.1:7000",)"
            R"("slots":100,"health":"up","connections":2,"connecting":0,"connect_failures":0,)"
            R"("in_flight":3,"requests":10,"p50_ms":0.25,"p99_ms":1.5,"last_error":"",)"
            R"("last_error_unix_ms":0},)"
            R"({"address":"127.0.0.1:7003","id":"idr","role":"replica","master":"127.0.0.1:7000",)"
            R"("slots":0,"health":"down","connections":0,"connecting":0,"connect_failures":4,)"
            R"("in_flight":0,"requests":0,"p50_ms":null,"p99_ms":null,)"
            R"("last_error":"connect failed: connection refused",)"
            R"("last_error_unix_ms":1700000000000},)"
            R"({"address":"127.0.0.1:7001","id":"idb","role":"master","master":"127.0.0.1:7001",)"
            R"("slots":16284,"health":"idle","connections":0,"connecting":0,"connect_failures":0,)"
            R"("in_flight":0,"requests":0,"p50_ms":null,"p99_ms":null,"last_error":"",)"
            R"("last_error_unix_ms":0}]})");
  EXPECT_EQ(renderBackendsJson(nullptr, health),
            R"({"version":0,"health_tracked":true,"nodes":[]})");
}

TEST(AdminJsonTest, HotAndBigKeysBodies) {
  HotKeyReport r;
  r.window_s = 10;
  r.total = 200;
  r.keys = {{"hot", 100, 2}};
  EXPECT_EQ(renderHotKeysJson(r, true),
            R"({"enabled":true,"window_s":10,"sample":1,"total":200,"keys":[)"
            R"({"key":"hot","count":100,"error":2,"per_s":10.0,"share":0.5}]})");
  EXPECT_EQ(renderHotKeysJson(HotKeyReport{}, false),
            R"({"enabled":false,"window_s":0,"sample":1,"total":0,"keys":[]})");
  EXPECT_EQ(renderBigKeysJson({{"blob", "set", "request", 5000, 1700000000000}}, 1024),
            R"({"threshold_bytes":1024,"keys":[{"key":"blob","command":"set",)"
            R"("direction":"request","bytes":5000,"unix_ms":1700000000000}]})");
}

TEST(AdminJsonTest, ClientsBody) {
  EXPECT_EQ(renderClientsJson(0), R"({"connected":0})");
  EXPECT_EQ(renderClientsJson(12), R"({"connected":12})");
}

// Node addresses and IDs come from CLUSTER SLOTS replies, so they may hold anything. /api/slots
// used to paste them between quotes unescaped: a '"' or '\' in an ID broke the document.
TEST(AdminJsonTest, ValuesNeedingEscapesGiveValidJson) {
  const std::string id = "id \"quoted\" back\\slash \x01\x1f\t\n\r end";
  const std::string host = "h\"o\\st\x7f";
  router::SlotMapBuilder b;
  const uint16_t m = *b.addMaster(host, 7000, id);
  ASSERT_TRUE(b.addReplica(m, host, 7001, id));
  ASSERT_TRUE(b.assignRange(0, 16383, m));
  const router::SlotMapPtr map = b.build(1);
  const std::string address = map->nodes()[m].address;

  Json slots = parsed(renderSlotsJson(map.get()));
  ASSERT_EQ(slots["ranges"].size(), 1u);
  EXPECT_EQ(slots["ranges"][0]["id"], id);
  EXPECT_EQ(slots["ranges"][0]["master"], address);
  EXPECT_EQ(slots["ranges"][0]["replicas"][0], map->nodes()[1].address);

  Json backends = parsed(renderBackendsJson(map.get(), kNoHealth));
  ASSERT_EQ(backends["nodes"].size(), 2u);
  EXPECT_EQ(backends["nodes"][0]["id"], id);
  EXPECT_EQ(backends["nodes"][0]["address"], address);
  EXPECT_EQ(backends["nodes"][1]["master"], address);
}

// Bytes that are not UTF-8 cannot be put in a JSON string as they are: they become U+FFFD.
TEST(AdminJsonTest, InvalidUtf8IsReplacedNotPassedThrough) {
  router::SlotMapBuilder b;
  const uint16_t m = *b.addMaster("127.0.0.1", 7000, "bad\xff\xfe-id");
  ASSERT_TRUE(b.assignRange(0, 16383, m));
  Json slots = parsed(renderSlotsJson(b.build(1).get()));
  const std::string id = slots["ranges"][0]["id"];
  EXPECT_EQ(id.find('\xff'), std::string::npos);
  EXPECT_NE(id.find("\xEF\xBF\xBD"), std::string::npos) << id;  // U+FFFD
  EXPECT_EQ(id.rfind("bad", 0), 0u);
}

TEST(AdminJsonTest, ShapesKeepTheirKeysInOrder) {
  Json slots = parsed(renderSlotsJson(sampleMap().get()));
  EXPECT_EQ(keysOf(slots), (std::vector<std::string>{"version", "ranges"}));
  EXPECT_EQ(keysOf(slots["ranges"][0]),
            (std::vector<std::string>{"first", "last", "master", "id", "replicas"}));
  Json backends = parsed(renderBackendsJson(sampleMap().get(), kNoHealth));
  EXPECT_EQ(keysOf(backends), (std::vector<std::string>{"version", "health_tracked", "nodes"}));
  EXPECT_EQ(
      keysOf(backends["nodes"][0]),
      (std::vector<std::string>{"address", "id", "role", "master", "slots", "health", "connections",
                                "connecting", "connect_failures", "in_flight", "requests", "p50_ms",
                                "p99_ms", "last_error", "last_error_unix_ms"}));
  config::ProxyConfig c;
  c.cluster.seeds = {{"127.0.0.1", 7000}};
  Json config = parsed(renderConfigJson(c));
  EXPECT_EQ(keysOf(config), (std::vector<std::string>{"redacted", "yaml"}));
  EXPECT_TRUE(config["redacted"].is_array());
  EXPECT_TRUE(config["redacted"].empty());
  EXPECT_EQ(config["yaml"], config::formatConfig(c));
}

TEST(RedactSecretsTest, EverySecretIncludingNamedUsersIsReplaced) {
  config::ProxyConfig c;
  c.cluster.seeds = {{"127.0.0.1", 7000}};
  c.backend.password = "b-secret";
  c.auth.password = "a-secret";
  c.auth.users = {{"app", "u-secret", "acl", "ub-secret"}, {"ro", "r-secret", "", ""}};
  c.admin.token = "t-secret";
  const std::string json = renderConfigJson(c);
  for (const char* secret :
       {"b-secret", "a-secret", "u-secret", "ub-secret", "r-secret", "t-secret"}) {
    EXPECT_EQ(json.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(json.find("\"redacted\":[\"backend.password\",\"auth.password\","
                      "\"auth.users[0].password\",\"auth.users[0].backend_password\","
                      "\"auth.users[1].password\",\"admin.token\"]"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("name: \\\"app\\\""), std::string::npos) << json;  // names are not secret
  EXPECT_NE(json.find("backend_username: \\\"acl\\\""), std::string::npos) << json;
  const config::ProxyConfig redacted = redactSecrets(c);
  EXPECT_EQ(redacted.auth.users[1].backend_password, "");  // empty stays empty
  EXPECT_EQ(redacted.auth.users[0].password, kRedacted);
}

// Config strings with quotes, backslashes or control characters: the document stays valid and
// "yaml" is exactly the redacted --print-config text.
TEST(RedactSecretsTest, ConfigStringsNeedingEscapesGiveValidJson) {
  config::ProxyConfig c;
  c.cluster.seeds = {{"127.0.0.1", 7000}};
  c.backend.username = "we\"ird\\user\x01\t";
  c.backend.password = "p\"w\\d\n";
  c.auth.users = {{"n\"ame\\", "x", "", ""}};
  Json doc = parsed(renderConfigJson(c));
  EXPECT_EQ(doc["yaml"], config::formatConfig(redactSecrets(c)));
  EXPECT_EQ(doc["redacted"], Json({"backend.password", "auth.users[0].password"}));
  EXPECT_EQ(doc["yaml"].get<std::string>().find("p\"w"), std::string::npos);  // still redacted
}

}  // namespace
}  // namespace slotwise::proxy
