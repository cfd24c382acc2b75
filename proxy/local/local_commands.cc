#include "proxy/local/local_commands.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string_view>

#include "common/ascii.h"
#include "proxy/local/acl.h"
#include "proxy/local/client_filter.h"
#include "proxy/stats/slowlog.h"
#include "resp/encoder.h"
#include "router/command_table.h"

namespace slotwise::proxy {
namespace {

void wrongArgs(std::string_view name, std::string* reply) {
  resp::appendError(*reply, "ERR wrong number of arguments for '" + std::string(name) + "' command");
}

void ping(const resp::Command& cmd, std::string* reply) {
  if (cmd.argc() == 1) resp::appendSimpleString(*reply, "PONG");
  else if (cmd.argc() == 2) resp::appendBulk(*reply, cmd.arg(1));
  else wrongArgs("ping", reply);
}

// Redis's string2ll rules: an optional '-', then digits without a leading zero (or "0" alone),
// within int64.
bool redisInteger(std::string_view s, int64_t* out) {
  if (s == "0") {
    *out = 0;
    return true;
  }
  const size_t first = !s.empty() && s[0] == '-' ? 1 : 0;
  if (s.size() <= first || s[first] < '1' || s[first] > '9') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// As a cluster node answers (selectCommand: the integer and its int range first, then cluster
// mode).
void select(const resp::Command& cmd, std::string* reply) {
  int64_t db = 0;
  if (!redisInteger(cmd.arg(1), &db)) {
    resp::appendError(*reply, "ERR value is not an integer or out of range");
  } else if (db < INT32_MIN || db > INT32_MAX) {
    resp::appendError(*reply,
                      "ERR value is out of range, value must between -2147483648 and 2147483647");
  } else if (db != 0) {
    resp::appendError(*reply, "ERR SELECT is not allowed in cluster mode");
  } else {
    resp::appendSimpleString(*reply, "OK");
  }
}

// HELLO [protover [AUTH user pass] [SETNAME name]]: switches the client to RESP2 or RESP3.
void hello(const resp::Command& cmd, LocalClientState& client, std::string* reply) {
  size_t i = 1;
  uint8_t proto = client.proto;
  if (cmd.argc() >= 2) {
    std::string_view ver = cmd.arg(1);
    if (ver != "2" && ver != "3") {
      if (!ver.empty() && ver.find_first_not_of("0123456789") == std::string_view::npos) {
        resp::appendError(*reply, "NOPROTO unsupported protocol version");
      } else {
        resp::appendError(*reply, "ERR Protocol version is not an integer or out of range");
      }
      return;
    }
    proto = ver == "3" ? 3 : 2;
    i = 2;
  }
  for (; i < cmd.argc(); ++i) {
    if (equalsIgnoreCase(cmd.arg(i), "setname") && i + 1 < cmd.argc()) {
      client.name.assign(cmd.arg(++i));
    } else if (equalsIgnoreCase(cmd.arg(i), "auth") && i + 2 < cmd.argc()) {
      i += 2;  // credentials were checked by the session before this runs (ClientSession::handleAuth)
    } else {
      resp::appendError(*reply, "ERR Syntax error in HELLO option '" + std::string(cmd.arg(i)) + "'");
      return;
    }
  }
  client.proto = proto;
  if (proto == 3) reply->append("%7\r\n");  // RESP3 map of 7 fields
  else resp::appendArrayHeader(*reply, 14);
  resp::appendBulk(*reply, "server");
  resp::appendBulk(*reply, "redis");
  resp::appendBulk(*reply, "version");
  resp::appendBulk(*reply, "7.0.15");
  resp::appendBulk(*reply, "proto");
  resp::appendInteger(*reply, proto);
  resp::appendBulk(*reply, "id");
  resp::appendInteger(*reply, client.id);
  resp::appendBulk(*reply, "mode");
  resp::appendBulk(*reply, "standalone");
  resp::appendBulk(*reply, "role");
  resp::appendBulk(*reply, "master");
  resp::appendBulk(*reply, "modules");
  resp::appendArrayHeader(*reply, 0);
}

// Redis's rule for client names and library info: printable ASCII without spaces.
bool printableWord(std::string_view text) {
  for (char c : text) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2; a 7.0 command table rejects it before here).
void setInfo(const resp::Command& cmd, LocalClientState& state, std::string* reply) {
  std::string_view attr = cmd.arg(2);
  std::string_view value = cmd.arg(3);
  std::string* field = equalsIgnoreCase(attr, "lib-name") ? &state.lib_name
                       : equalsIgnoreCase(attr, "lib-ver") ? &state.lib_ver
                                             : nullptr;
  if (field == nullptr) {
    resp::appendError(*reply, "ERR Unrecognized option '" + std::string(attr) + "'");
  } else if (!printableWord(value)) {
    resp::appendError(*reply, "ERR " + std::string(attr) +
                                  " cannot contain spaces, newlines or special characters.");
  } else {
    field->assign(value);
    resp::appendSimpleString(*reply, "OK");
  }
}

// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]] over `env`'s clients.
void clientList(const resp::Command& cmd, const LocalClientState& state,
                const LocalEnvironment& env, std::string* reply) {
  ClientFilter filter;
  if (std::string error = parseClientListFilter(cmd, &filter); !error.empty()) {
    resp::appendError(*reply, error);
    return;
  }
  std::vector<ClientRow> rows;
  env.listClients(&rows);
  std::string text;
  const uint64_t now = localNowMs();
  for (const ClientRow& row : rows) {
    if (filter.matches(row)) text += clientLine(row, now);
  }
  resp::appendText(*reply, text, state.proto);  // a verbatim string in RESP3, as Redis
}

// INFO [section ...]
void info(const resp::Command& cmd, const LocalClientState& state, const LocalEnvironment& env,
          std::string* reply) {
  const uint32_t sections = infoSections(cmd);
  resp::appendText(*reply, sections == 0 ? std::string() : infoText(sections, env.facts()),
                   state.proto);
}

// CLIENT PAUSE timeout [WRITE|ALL] (Redis's checks and errors): every client of the proxy.
void clientPause(const resp::Command& cmd, const LocalEnvironment& env, std::string* reply) {
  if (cmd.argc() > 4) {
    resp::appendError(*reply, "ERR unknown subcommand or wrong number of arguments for '" +
                                  std::string(cmd.arg(1)) + "'. Try CLIENT HELP.");
    return;
  }
  int64_t timeout = 0;
  const std::string_view t = cmd.arg(2);
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), timeout);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    resp::appendError(*reply, "ERR timeout is not an integer or out of range");
    return;
  }
  if (timeout < 0) {
    resp::appendError(*reply, "ERR timeout is negative");
    return;
  }
  bool all = true;
  if (cmd.argc() == 4) {
    if (equalsIgnoreCase(cmd.arg(3), "write")) {
      all = false;
    } else if (!equalsIgnoreCase(cmd.arg(3), "all")) {
      resp::appendError(*reply, "ERR CLIENT PAUSE mode must be WRITE or ALL");
      return;
    }
  }
  env.pauseClients(localNowMs() + static_cast<uint64_t>(timeout), all);
  resp::appendSimpleString(*reply, "OK");
}

// CLIENT TRACKINGINFO of a client without tracking (the proxy relays no invalidations):
// flags [off], redirect -1, prefixes [] (a map and a set in RESP3, as Redis).
void trackingInfo(int proto, std::string* reply) {
  reply->append(proto == 3 ? "%3\r\n" : "*6\r\n");
  resp::appendBulk(*reply, "flags");
  reply->append(proto == 3 ? "~1\r\n" : "*1\r\n");
  resp::appendBulk(*reply, "off");
  resp::appendBulk(*reply, "redirect");
  resp::appendInteger(*reply, -1);
  resp::appendBulk(*reply, "prefixes");
  resp::appendArrayHeader(*reply, 0);
}

// The CLIENT subcommands about eviction, pauses and client-side caching. False if `sub` is none.
bool clientControl(const resp::Command& cmd, const LocalClientState& state,
                   const LocalEnvironment& env, std::string* reply) {
  std::string_view sub = cmd.arg(1);
  if (equalsIgnoreCase(sub, "pause")) {
    clientPause(cmd, env, reply);
  } else if (equalsIgnoreCase(sub, "unpause")) {
    env.pauseClients(0, false);
    resp::appendSimpleString(*reply, "OK");
  } else if (equalsIgnoreCase(sub, "no-evict")) {
    // The proxy's clients are not the nodes' (no client eviction applies): accepted, no effect.
    if (equalsIgnoreCase(cmd.arg(2), "on") || equalsIgnoreCase(cmd.arg(2), "off")) {
      resp::appendSimpleString(*reply, "OK");
    } else {
      resp::appendError(*reply, "ERR syntax error");
    }
  } else if (equalsIgnoreCase(sub, "getredir")) {
    resp::appendInteger(*reply, -1);
  } else if (equalsIgnoreCase(sub, "trackinginfo")) {
    trackingInfo(state.proto, reply);
  } else if (equalsIgnoreCase(sub, "tracking")) {
    if (equalsIgnoreCase(cmd.arg(2), "off")) {
      resp::appendSimpleString(*reply, "OK");
    } else if (equalsIgnoreCase(cmd.arg(2), "on")) {
      resp::appendError(
          *reply,
          "ERR slotwise: CLIENT TRACKING is not supported through the proxy (client-side "
          "caching needs the nodes' invalidation messages, which the proxy does not "
          "relay)");
    } else {
      resp::appendError(*reply, "ERR syntax error");
    }
  } else if (equalsIgnoreCase(sub, "caching")) {
    resp::appendError(*reply,
                      "ERR CLIENT CACHING can be called only when the client is in tracking mode "
                      "with OPTIN or OPTOUT mode enabled");
  } else {
    return false;
  }
  return true;
}

void rememberCommand(const resp::Command& cmd, LocalClientState& state) {
  const router::CommandInfo* info = router::resolveCommand(cmd);
  if (info != nullptr) state.last_command.assign(info->name);
}

void client(const resp::Command& cmd, LocalClientState& state, const LocalEnvironment& env,
            std::string* reply) {
  std::string_view sub = cmd.arg(1);
  if (equalsIgnoreCase(sub, "id") && cmd.argc() == 2) {
    resp::appendInteger(*reply, state.id);
  } else if (equalsIgnoreCase(sub, "getname") && cmd.argc() == 2) {
    if (state.name.empty()) reply->append(state.proto == 3 ? "_\r\n" : "$-1\r\n");
    else resp::appendBulk(*reply, state.name);
  } else if (equalsIgnoreCase(sub, "setname") && cmd.argc() == 3) {
    std::string_view name = cmd.arg(2);
    if (!printableWord(name)) {
      resp::appendError(*reply, "ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    state.name.assign(name);
    resp::appendSimpleString(*reply, "OK");
  } else if (equalsIgnoreCase(sub, "setinfo") && cmd.argc() == 4) {
    setInfo(cmd, state, reply);
  } else if (equalsIgnoreCase(sub, "info") && cmd.argc() == 2) {
    resp::appendText(*reply, clientLine(env.self(), localNowMs()), state.proto);
  } else if (equalsIgnoreCase(sub, "list")) {
    clientList(cmd, state, env, reply);
  } else if (!clientControl(cmd, state, env, reply)) {
    resp::appendError(*reply, "ERR slotwise does not support 'CLIENT " + std::string(sub) +
                                  "' through the proxy in this version");
  }
}

}  // namespace

config::HostPort hostPortOf(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    return {text, ntohs(v4->sin_port)};
  }
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return {text, ntohs(v6->sin6_port)};
  }
  return {};
}

uint64_t localNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string clientLine(const ClientRow& row, uint64_t now_ms) {
  const LocalClientState& s = *row.state;
  const uint64_t age_s = now_ms > s.created_ms ? (now_ms - s.created_ms) / 1000 : 0;
  std::string flags;  // in Redis's order
  if (row.monitor) flags += 'O';
  if (row.pubsub) flags += 'P';
  if (row.multi >= 0) flags += 'x';
  if (row.blocked) flags += 'b';
  if (s.readonly) flags += 'r';
  if (flags.empty()) flags = "N";
  return fmt::format(
      "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} "
      "multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
      "tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}\n",
      s.id, row.addr, row.laddr, row.fd, s.name, age_s, row.idle_s, flags, row.sub, row.psub,
      row.ssub, row.multi, s.last_command.empty() ? "NULL" : s.last_command, s.user, s.proto,
      s.lib_name, s.lib_ver);
}

LocalOutcome runLocalCommand(const resp::Command& cmd, LocalClientState& state,
                             const LocalEnvironment& env, std::string* reply) {
  rememberCommand(cmd, state);
  std::string_view name = cmd.arg(0);
  if (equalsIgnoreCase(name, "ping")) {
    ping(cmd, reply);
  } else if (equalsIgnoreCase(name, "echo")) {
    resp::appendBulk(*reply, cmd.arg(1));
  } else if (equalsIgnoreCase(name, "quit")) {
    resp::appendSimpleString(*reply, "OK");
    return LocalOutcome::kCloseAfterReply;
  } else if (equalsIgnoreCase(name, "select")) {
    select(cmd, reply);
  } else if (equalsIgnoreCase(name, "hello")) {
    hello(cmd, state, reply);
  } else if (equalsIgnoreCase(name, "client")) {
    client(cmd, state, env, reply);
  } else if (equalsIgnoreCase(name, "info")) {
    info(cmd, state, env, reply);
  } else if (equalsIgnoreCase(name, "cluster")) {
    appendClusterReply(cmd, env.advertisedAddress(), env.slotMap(), reply);
  } else if (equalsIgnoreCase(name, "slowlog")) {
    runSlowlogCommand(cmd, env.slowlog(), reply);
  } else if (equalsIgnoreCase(name, "acl")) {
    static const config::AuthConfig kOpen;
    const config::AuthConfig* auth = env.auth();
    appendAclReply(cmd, auth != nullptr ? *auth : kOpen, state.user, state.proto, reply);
  } else if (equalsIgnoreCase(name, "role")) {
    resp::appendArrayHeader(*reply, 3);  // a master without replicas, as the emulated node
    resp::appendBulk(*reply, "master");
    resp::appendInteger(*reply, 0);
    resp::appendArrayHeader(*reply, 0);
  } else if (equalsIgnoreCase(name, "asking")) {
    resp::appendSimpleString(*reply,
                             "OK");  // a cluster node's answer; the proxy follows ASK itself
  } else if (equalsIgnoreCase(name, "readonly") || equalsIgnoreCase(name, "readwrite")) {
    state.readonly = equalsIgnoreCase(name, "readonly");  // as a cluster node: reads may go to
    resp::appendSimpleString(*reply, "OK");               // replicas (ClientSession::newRequest)
  } else if (equalsIgnoreCase(name, "reset")) {
    state.readonly = false;  // RESET sets READWRITE mode, as in Redis
    state.name.clear();
    state.proto = 2;  // RESET returns to RESP2, as in Redis
    resp::appendSimpleString(*reply, "RESET");
  } else if (equalsIgnoreCase(name, "auth")) {
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
