#include "proxy/local/client_filter.h"

#include <algorithm>
#include <charconv>

#include "common/ascii.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

bool parseId(std::string_view text, uint64_t* id) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// TYPE's value; false (and `*error` set) for a name Redis does not know.
bool parseType(std::string_view name, ClientFilter::Type* type, std::string* error) {
  if (equalsIgnoreCase(name, "normal")) {
    *type = ClientFilter::Type::kNormal;
  } else if (equalsIgnoreCase(name, "pubsub")) {
    *type = ClientFilter::Type::kPubSub;
  } else if (equalsIgnoreCase(name, "master") || equalsIgnoreCase(name, "replica") ||
             equalsIgnoreCase(name, "slave")) {
    *type = ClientFilter::Type::kNone;  // the proxy has no replication clients
  } else {
    *error = "ERR Unknown client type '" + std::string(name) + "'";
    return false;
  }
  return true;
}

bool userExists(std::string_view name, const config::AuthConfig* auth) {
  if (name == "default") return true;
  if (auth == nullptr) return false;
  return std::any_of(auth->users.begin(), auth->users.end(),
                     [&](const config::UserConfig& u) { return u.name == name; });
}

}  // namespace

bool ClientFilter::matches(const ClientRow& row) const {
  const LocalClientState& s = *row.state;
  if (skip_self && s.id == self_id) return false;
  if (!ids.empty() && std::find(ids.begin(), ids.end(), s.id) == ids.end()) return false;
  switch (type) {
    case Type::kAny: break;
    case Type::kNormal:
      if (row.pubsub) return false;
      break;
    case Type::kPubSub:
      if (!row.pubsub) return false;
      break;
    case Type::kNone: return false;
  }
  if (!user.empty() && s.user != user) return false;
  if (!addr.empty() && row.addr != addr) return false;
  return laddr.empty() || row.laddr == laddr;
}

std::string parseClientListFilter(const resp::Command& cmd, ClientFilter* filter) {
  // Redis 7.0 takes TYPE or ID, not both; an id that matches no client (0, -1) is no error.
  if (cmd.argc() == 2) return "";
  std::string error;
  if (cmd.argc() == 4 && equalsIgnoreCase(cmd.arg(2), "type")) {
    return parseType(cmd.arg(3), &filter->type, &error) ? "" : error;
  }
  if (cmd.argc() <= 3 || !equalsIgnoreCase(cmd.arg(2), "id")) return "ERR syntax error";
  for (size_t i = 3; i < cmd.argc(); ++i) {
    int64_t id = 0;
    std::string_view text = cmd.arg(i);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return "ERR Invalid client ID";
    }
    filter->ids.push_back(id > 0 ? static_cast<uint64_t>(id) : 0);  // 0 matches no client
  }
  return "";
}

std::string parseClientKillFilter(const resp::Command& cmd, const config::AuthConfig* auth,
                                  uint32_t self_id, ClientFilter* filter) {
  filter->self_id = self_id;
  if (cmd.argc() == 3) {  // CLIENT KILL addr: the old form, which may kill the caller
    filter->addr = std::string(cmd.arg(2));
    filter->old_kill = true;
    return "";
  }
  filter->skip_self = true;
  if (cmd.argc() % 2 != 0) return "ERR syntax error";
  std::string error;
  for (size_t i = 2; i + 1 < cmd.argc(); i += 2) {
    std::string_view option = cmd.arg(i);
    std::string_view value = cmd.arg(i + 1);
    if (equalsIgnoreCase(option, "id")) {
      uint64_t id = 0;
      if (!parseId(value, &id) || id == 0) return "ERR client-id should be greater than 0";
      filter->ids.assign(1, id);
    } else if (equalsIgnoreCase(option, "type")) {
      if (!parseType(value, &filter->type, &error)) return error;
    } else if (equalsIgnoreCase(option, "addr")) {
      filter->addr = std::string(value);
    } else if (equalsIgnoreCase(option, "laddr")) {
      filter->laddr = std::string(value);
    } else if (equalsIgnoreCase(option, "user")) {
      if (!userExists(value, auth)) return "ERR No such user '" + std::string(value) + "'";
      filter->user = std::string(value);
    } else if (equalsIgnoreCase(option, "skipme")) {
      if (equalsIgnoreCase(value, "yes")) {
        filter->skip_self = true;
      } else if (equalsIgnoreCase(value, "no")) {
        filter->skip_self = false;
      } else {
        return "ERR syntax error";
      }
    } else {
      return "ERR syntax error";
    }
  }
  return "";
}

std::string clientKillReply(const ClientFilter& filter, uint64_t killed) {
  std::string reply;
  if (!filter.old_kill) {
    resp::appendInteger(reply, static_cast<int64_t>(killed));
  } else if (killed == 0) {
    resp::appendError(reply, "ERR No such client");
  } else {
    resp::appendSimpleString(reply, "OK");
  }
  return reply;
}

}  // namespace slotwise::proxy
