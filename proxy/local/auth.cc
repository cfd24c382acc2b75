#include "proxy/local/auth.h"

#include "common/ascii.h"

namespace slotwise::proxy {
namespace {

// Compares without an early exit on the first differing byte.
bool sameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

Credentials credentialsIn(const resp::Command& cmd, std::string_view name) {
  Credentials c;
  if (name == "auth" && (cmd.argc() == 2 || cmd.argc() == 3)) {
    c.present = true;
    c.user = cmd.argc() == 3 ? cmd.arg(1) : std::string_view("default");
    c.password = cmd.arg(cmd.argc() - 1);
  } else if (name == "hello") {
    for (size_t i = 2; i + 2 < cmd.argc(); ++i) {
      if (equalsIgnoreCase(cmd.arg(i), "auth")) {
        c.present = true;
        c.user = cmd.arg(i + 1);
        c.password = cmd.arg(i + 2);
        break;
      }
    }
  }
  return c;
}

bool checkCredentials(const config::AuthConfig& auth, std::string_view user,
                      std::string_view password, const config::UserConfig** named) {
  if (user == "default" && !auth.password.empty()) return sameSecret(password, auth.password);
  for (const config::UserConfig& u : auth.users) {
    if (u.name == user && sameSecret(password, u.password)) {
      *named = &u;
      return true;
    }
  }
  return false;
}

}  // namespace slotwise::proxy
