// Client authentication against the proxy's own users (auth.password is the "default" user,
// auth.users the named ones). Pure functions: the session keeps the state (logged-in user,
// failure count) and decides what to answer.
#pragma once

#include <string_view>

#include "config/proxy_config.h"
#include "resp/command.h"

namespace slotwise::proxy {

// The user name and password a command carries: AUTH [user] pass, HELLO ver ... AUTH user pass.
struct Credentials {
  bool present = false;  // false for any other command, and for AUTH with a wrong arity
  std::string_view user;  // "default" for AUTH pass
  std::string_view password;
};
// `name` is the command's table name ("auth", "hello", ...). Views point into `cmd`.
Credentials credentialsIn(const resp::Command& cmd, std::string_view name);

// True when `user`/`password` match "default" with auth.password, or a named user of auth.users
// (then *named points to its entry in `auth`). Passwords are compared without an early exit.
bool checkCredentials(const config::AuthConfig& auth, std::string_view user,
                      std::string_view password, const config::UserConfig** named);

}  // namespace slotwise::proxy
