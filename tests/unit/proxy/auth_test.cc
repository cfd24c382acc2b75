#include "proxy/local/auth.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/resp_builders.h"

namespace slotwise::proxy {
namespace {

using test::makeCommand;

TEST(AuthTest, CredentialsOfAuthAndHello) {
  std::string storage;
  Credentials c = credentialsIn(makeCommand({"AUTH", "pw"}, &storage), "auth");
  EXPECT_TRUE(c.present);
  EXPECT_EQ(c.user, "default");
  EXPECT_EQ(c.password, "pw");
  c = credentialsIn(makeCommand({"auth", "bob", "pw2"}, &storage), "auth");
  EXPECT_EQ(c.user, "bob");
  EXPECT_EQ(c.password, "pw2");
  EXPECT_FALSE(credentialsIn(makeCommand({"AUTH", "a", "b", "c"}, &storage), "auth").present);
  c = credentialsIn(makeCommand({"HELLO", "3", "SETNAME", "x", "aUtH", "u", "p"}, &storage), "hello");
  EXPECT_TRUE(c.present);
  EXPECT_EQ(c.user, "u");
  EXPECT_EQ(c.password, "p");
  EXPECT_FALSE(credentialsIn(makeCommand({"HELLO", "3", "AUTH", "u"}, &storage), "hello").present);
  EXPECT_FALSE(credentialsIn(makeCommand({"GET", "k"}, &storage), "get").present);
}

TEST(AuthTest, DefaultAndNamedUsers) {
  config::AuthConfig auth;
  auth.password = "secret";
  auth.users.push_back({"app", "apppw", "", ""});
  const config::UserConfig* named = nullptr;
  EXPECT_TRUE(checkCredentials(auth, "default", "secret", &named));
  EXPECT_EQ(named, nullptr);
  EXPECT_FALSE(checkCredentials(auth, "default", "secreT", &named));
  EXPECT_FALSE(checkCredentials(auth, "default", "secret2", &named));
  EXPECT_FALSE(checkCredentials(auth, "default", "", &named));
  EXPECT_TRUE(checkCredentials(auth, "app", "apppw", &named));
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->name, "app");
  named = nullptr;
  EXPECT_FALSE(checkCredentials(auth, "app", "secret", &named));
  EXPECT_FALSE(checkCredentials(auth, "nobody", "apppw", &named));
  EXPECT_EQ(named, nullptr);
  auth.password.clear();  // no default user
  EXPECT_FALSE(checkCredentials(auth, "default", "", &named));
}

}  // namespace
}  // namespace slotwise::proxy
