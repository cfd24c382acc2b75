#include "proxy/admin/admin_json.h"

#include <gtest/gtest.h>

namespace slotwise::proxy {
namespace {

TEST(RedactSecretsTest, EverySecretIncludingNamedUsersIsReplaced) {
  config::ProxyConfig c;
  c.cluster.seeds = {{"127.0.0.1", 7000}};
  c.backend.password = "b-secret";
  c.auth.password = "a-secret";
  c.auth.users = {{"app", "u-secret", "acl", "ub-secret"}, {"ro", "r-secret", "", ""}};
  c.admin.token = "t-secret";
  const std::string json = renderConfigJson(c);
  for (const char* secret : {"b-secret", "a-secret", "u-secret", "ub-secret", "r-secret", "t-secret"}) {
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

}  // namespace
}  // namespace slotwise::proxy
