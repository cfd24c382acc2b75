// ACL through the proxy: the users are the proxy's own (auth.password is the "default" user,
// auth.users the named ones; proxy/local/auth.h), not the nodes'. Each may run every command as
// far as the proxy is concerned (the backend ACL user a named user maps to still applies on the
// nodes), so they are described as Redis describes such a user: "on", its passwords as SHA-256
// hex digests, "~* &* +@all". Users are configured in the proxy's configuration, so the commands
// that change or persist ACL state are refused with the reason.
#pragma once

#include <string>

#include "config/proxy_config.h"
#include "resp/command.h"

namespace slotwise::proxy {

// Answers ACL WHOAMI, USERS, LIST, GETUSER, LOG (always empty: the proxy logs failed AUTHs in its
// own log) and refuses SETUSER, DELUSER, SAVE, LOAD, DRYRUN. `user` is the calling client's user,
// `proto` its RESP version. REQUIRES: cmd is "ACL <sub> ..." with a valid arity.
void appendAclReply(const resp::Command& cmd, const config::AuthConfig& auth,
                    const std::string& user, int proto, std::string* reply);

}  // namespace slotwise::proxy
