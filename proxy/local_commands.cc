#include "proxy/local_commands.h"

#include <strings.h>

#include <string_view>

#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

bool is(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void wrongArgs(std::string_view name, std::string* reply) {
  resp::appendError(*reply, "ERR wrong number of arguments for '" + std::string(name) + "' command");
}

void ping(const resp::Command& cmd, std::string* reply) {
  if (cmd.argc() == 1) resp::appendSimpleString(*reply, "PONG");
  else if (cmd.argc() == 2) resp::appendBulk(*reply, cmd.arg(1));
  else wrongArgs("ping", reply);
}

void select(const resp::Command& cmd, std::string* reply) {
  std::string_view db = cmd.arg(1);
  if (db == "0") resp::appendSimpleString(*reply, "OK");
  else if (db.empty() || db.find_first_not_of("-0123456789") != std::string_view::npos)
    resp::appendError(*reply, "ERR value is not an integer or out of range");
  else resp::appendError(*reply, "ERR SELECT is not allowed in cluster mode");
}

// HELLO [protover [AUTH user pass] [SETNAME name]]: RESP2 only in this version.
void hello(const resp::Command& cmd, LocalClientState& client, std::string* reply) {
  size_t i = 1;
  if (cmd.argc() >= 2) {
    std::string_view ver = cmd.arg(1);
    if (ver != "2") {
      if (ver == "3") resp::appendError(*reply, "NOPROTO sorry, this protocol version is not supported");
      else resp::appendError(*reply, "ERR Protocol version is not an integer or out of range");
      return;
    }
    i = 2;
  }
  for (; i < cmd.argc(); ++i) {
    if (is(cmd.arg(i), "setname") && i + 1 < cmd.argc()) {
      client.name.assign(cmd.arg(++i));
    } else if (is(cmd.arg(i), "auth") && i + 2 < cmd.argc()) {
      resp::appendError(*reply, "WRONGPASS invalid username-password pair or user is disabled.");
      return;
    } else {
      resp::appendError(*reply, "ERR Syntax error in HELLO option '" + std::string(cmd.arg(i)) + "'");
      return;
    }
  }
  resp::appendArrayHeader(*reply, 14);
  resp::appendBulk(*reply, "server");
  resp::appendBulk(*reply, "redis");
  resp::appendBulk(*reply, "version");
  resp::appendBulk(*reply, "7.0.15");
  resp::appendBulk(*reply, "proto");
  resp::appendInteger(*reply, 2);
  resp::appendBulk(*reply, "id");
  resp::appendInteger(*reply, client.id);
  resp::appendBulk(*reply, "mode");
  resp::appendBulk(*reply, "standalone");
  resp::appendBulk(*reply, "role");
  resp::appendBulk(*reply, "master");
  resp::appendBulk(*reply, "modules");
  resp::appendArrayHeader(*reply, 0);
}

void client(const resp::Command& cmd, LocalClientState& state, std::string* reply) {
  std::string_view sub = cmd.arg(1);
  if (is(sub, "id") && cmd.argc() == 2) {
    resp::appendInteger(*reply, state.id);
  } else if (is(sub, "getname") && cmd.argc() == 2) {
    if (state.name.empty()) resp::appendNullBulk(*reply);
    else resp::appendBulk(*reply, state.name);
  } else if (is(sub, "setname") && cmd.argc() == 3) {
    std::string_view name = cmd.arg(2);
    for (char c : name) {
      if (c < '!' || c > '~') {
        resp::appendError(*reply, "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
    }
    state.name.assign(name);
    resp::appendSimpleString(*reply, "OK");
  } else if (is(sub, "setinfo") && cmd.argc() == 4) {
    resp::appendSimpleString(*reply, "OK");
  } else {
    resp::appendError(*reply, "ERR slotwise does not support 'CLIENT " + std::string(sub) +
                                  "' through the proxy in this version");
  }
}

}  // namespace

LocalOutcome runLocalCommand(const resp::Command& cmd, LocalClientState& state, std::string* reply) {
  std::string_view name = cmd.arg(0);
  if (is(name, "ping")) {
    ping(cmd, reply);
  } else if (is(name, "echo")) {
    resp::appendBulk(*reply, cmd.arg(1));
  } else if (is(name, "quit")) {
    resp::appendSimpleString(*reply, "OK");
    return LocalOutcome::kCloseAfterReply;
  } else if (is(name, "select")) {
    select(cmd, reply);
  } else if (is(name, "hello")) {
    hello(cmd, state, reply);
  } else if (is(name, "client")) {
    client(cmd, state, reply);
  } else if (is(name, "reset")) {
    state.name.clear();
    resp::appendSimpleString(*reply, "RESET");
  } else if (is(name, "auth")) {
    resp::appendError(*reply,
                      "ERR AUTH <password> called without any password configured for the default "
                      "user. Are you sure your configuration is correct?");
  } else {
    resp::appendError(*reply, "ERR slotwise does not support '" + std::string(name) +
                                  "' through the proxy in this version");
  }
  return LocalOutcome::kReply;
}

}  // namespace slotwise::proxy
