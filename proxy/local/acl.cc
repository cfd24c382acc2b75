#include "proxy/local/acl.h"

#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <vector>

#include "common/ascii.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

struct AclUser {
  bool on = true;
  bool nopass = false;
  std::vector<std::string> passwords;  // SHA-256 hex digests, as Redis shows them
};

std::string sha256Hex(std::string_view password) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

// The proxy's users by name (sorted, as Redis lists them). Without any auth configured every
// client is "default" without a password; with auth.users only, "default" cannot log in (off).
std::map<std::string, AclUser> proxyUsers(const config::AuthConfig& auth) {
  std::map<std::string, AclUser> users;
  AclUser& def = users["default"];
  if (!auth.required()) {
    def.nopass = true;
  } else if (!auth.password.empty()) {
    def.passwords.push_back(sha256Hex(auth.password));
  } else {
    def.on = false;
  }
  for (const config::UserConfig& u : auth.users) {
    AclUser& user = users[u.name];
    if (u.name == "default") user.on = true;
    const std::string hash = sha256Hex(u.password);
    if (std::find(user.passwords.begin(), user.passwords.end(), hash) == user.passwords.end()) {
      user.passwords.push_back(hash);
    }
  }
  return users;
}

std::string listLine(const std::string& name, const AclUser& u) {
  std::string line = "user " + name + (u.on ? " on" : " off");
  if (u.nopass) line += " nopass";
  for (const std::string& p : u.passwords) line += " #" + p;
  return line + " ~* &* +@all";
}

// [flags, [...], passwords, [...], commands, "+@all", keys, "~*", channels, "&*", selectors, []]
// (a map in RESP3), as Redis 7.0 answers ACL GETUSER.
void appendGetUser(const AclUser& u, int proto, std::string* reply) {
  if (proto == 3) reply->append("%6\r\n");
  else resp::appendArrayHeader(*reply, 12);
  resp::appendBulk(*reply, "flags");
  reply->append(proto == 3 ? "~" : "*");  // a set in RESP3
  reply->append(u.nopass ? "2\r\n" : "1\r\n");
  resp::appendBulk(*reply, u.on ? "on" : "off");
  if (u.nopass) resp::appendBulk(*reply, "nopass");
  resp::appendBulk(*reply, "passwords");
  resp::appendArrayHeader(*reply, u.passwords.size());
  for (const std::string& p : u.passwords) resp::appendBulk(*reply, p);
  for (std::string_view field : {"commands", "+@all", "keys", "~*", "channels", "&*"}) {
    resp::appendBulk(*reply, field);
  }
  resp::appendBulk(*reply, "selectors");
  resp::appendArrayHeader(*reply, 0);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool isInteger(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

void appendAclReply(const resp::Command& cmd, const config::AuthConfig& auth,
                    const std::string& user, int proto, std::string* reply) {
  const std::string_view sub = cmd.arg(1);
  if (equalsIgnoreCase(sub, "whoami")) {
    resp::appendBulk(*reply, user);
  } else if (equalsIgnoreCase(sub, "users") || equalsIgnoreCase(sub, "list")) {
    const auto users = proxyUsers(auth);
    resp::appendArrayHeader(*reply, users.size());
    for (const auto& [name, u] : users) {
      resp::appendBulk(*reply, equalsIgnoreCase(sub, "users") ? name : listLine(name, u));
    }
  } else if (equalsIgnoreCase(sub, "getuser")) {
    const auto users = proxyUsers(auth);
    auto it = users.find(std::string(cmd.arg(2)));
    if (it == users.end()) reply->append(proto == 3 ? "_\r\n" : "$-1\r\n");
    else appendGetUser(it->second, proto, reply);
  } else if (equalsIgnoreCase(sub, "log")) {
    if (cmd.argc() == 3 && equalsIgnoreCase(cmd.arg(2), "reset")) {
      resp::appendSimpleString(*reply, "OK");
    } else if (cmd.argc() == 3 && !isInteger(cmd.arg(2))) {
      resp::appendError(*reply, "ERR value is not an integer or out of range");
    } else {
      resp::appendArrayHeader(*reply, 0);  // failed AUTHs are in the proxy's own log
    }
  } else {
    resp::appendError(*reply, "ERR slotwise: ACL " + upper(sub) +
                                  " is not supported through the proxy: its users are the "
                                  "proxy's own, set in its configuration (auth.password, "
                                  "auth.users); the nodes' ACL users are managed on the nodes");
  }
}

}  // namespace slotwise::proxy
