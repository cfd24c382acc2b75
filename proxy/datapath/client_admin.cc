// The CLIENT subcommands that act on clients of any worker (LIST, KILL, UNBLOCK) or on the
// session's reply stream (REPLY).
//
// CLIENT LIST / CLIENT KILL: the caller's worker parses the filter (client_filter.h), every
// worker adds its matching clients (Worker::contributeClients: their rows, or closes them), and
// the last one has the caller's worker answer. KILL closes the clients at once, the caller itself
// (old form, SKIPME no) after its reply, as Redis does.
//
// CLIENT UNBLOCK <id> [TIMEOUT|ERROR] for a proxy client blocked on a blocking command, on any
// worker:
//
//   caller ──► every worker (Worker::tryUnblock) ──► the worker of client <id>:
//     CLIENT UNBLOCK <node-side id of its dedicated connection> on a shared connection to the node
//     ──► the node answers the blocked command (nil, or -UNBLOCKED) on the dedicated connection,
//         which reaches the client like any reply, and :1 / :0 to us ──► the caller.
//
// The node decides: if it already served the command (an element was popped), its reply reaches
// the client and CLIENT UNBLOCK answers :0; nothing is ever dropped or faked by the proxy. A client
// whose dedicated connection has not told its node-side id yet (still connecting) gets :0.
// Once asked, the dedicated connection is closed when the command ends (not reused): a CLIENT
// UNBLOCK that reaches the node late cannot hit another client's command (node ids never repeat).
#include <charconv>
#include <limits>
#include <string>

#include "common/ascii.h"
#include "proxy/datapath/client_session.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

// Owner of the internal CLIENT UNBLOCK sent to the node: hands its reply to `done`, then goes.
class UnblockRelay final : public RequestOwner {
 public:
  UnblockRelay(RequestPool& pool, std::function<void(std::string)> done)
      : pool_(pool), done_(std::move(done)) {}
  void onReply(Request* req, std::string_view bytes) override {
    done_(std::string(bytes));
    pool_.recycle(req);
    delete this;
  }
  void onTransactionRedirect() override {}
  void useBlockingConn(BackendConn* conn) override { (void)conn; }
  ConnOwner* connOwner() override { return nullptr; }

 private:
  RequestPool& pool_;
  std::function<void(std::string)> done_;
};

}  // namespace

void ClientSession::clientsOfProxy(const resp::Command& cmd, const router::RouteDecision& d) {
  local_.last_command = d.info->name;
  const bool kill = d.info->name == "client|kill";
  ClientFilter filter;
  std::string error = kill ? parseClientKillFilter(cmd, &services_.config->auth, id_, &filter)
                           : parseClientListFilter(cmd, &filter);
  if (!error.empty()) {
    replyError(error);
    return;
  }
  Request* req = newRequest(cmd, d);  // completed by this worker once every worker answered
  services_.host.queryClients(std::move(filter), kill, local_.proto, req);
}

// CLIENT REPLY ON|OFF|SKIP, as Redis: OFF and SKIP answer nothing; SKIP drops the reply of the
// next command only (and is ignored while OFF); ON answers +OK. Replies are dropped where they
// would be written, so the commands still run in order.
void ClientSession::clientReply(const resp::Command& cmd) {
  local_.last_command = "client|reply";
  const std::string_view mode = cmd.arg(2);
  if (equalsIgnoreCase(mode, "on")) {
    reply_mode_ = ReplyMode::kOn;
    silent_ = false;
    replyNow("+OK\r\n");
  } else if (equalsIgnoreCase(mode, "off")) {
    reply_mode_ = ReplyMode::kOff;
  } else if (equalsIgnoreCase(mode, "skip")) {
    if (reply_mode_ != ReplyMode::kOff) reply_mode_ = ReplyMode::kSkipNext;
  } else {
    replyError("ERR syntax error");
  }
}

void ClientSession::clientUnblock(const resp::Command& cmd, const router::RouteDecision& d) {
  if (cmd.argc() > 4) {  // Redis's syntax error, with the subcommand as typed
    replyError("ERR unknown subcommand or wrong number of arguments for '" +
               std::string(cmd.arg(1)) + "'. Try CLIENT HELP.");
    return;
  }
  bool error = false;
  if (cmd.argc() == 4) {
    error = equalsIgnoreCase(cmd.arg(3), "error");
    if (!error && !equalsIgnoreCase(cmd.arg(3), "timeout")) {
      replyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
      return;
    }
  }
  const std::string_view text = cmd.arg(2);
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) {
    replyError("ERR value is not an integer or out of range");
    return;
  }
  if (id <= 0 || id > std::numeric_limits<uint32_t>::max()) {
    replyNow(":0\r\n");
    return;
  }
  Request* req = newRequest(cmd, d);  // completed by this worker once the answer is known
  services_.host.unblockClient(static_cast<uint32_t>(id), error, req);
}

bool ClientSession::unblockOnNode(bool error, std::function<void(std::string)> done) {
  if (closing_ || blocking_.req == nullptr || blocking_.conn == nullptr ||
      blocking_.conn->nodeClientId() <= 0) {
    return false;
  }
  const BackendConn& conn = *blocking_.conn;
  blocking_.unblock_sent = true;
  Request* req = services_.requests.acquire();
  req->client = new UnblockRelay(services_.requests, std::move(done));
  req->target = Request::Target::kAddress;
  req->address = conn.address();
  req->identity = conn.identity();
  req->start_ns = uv_hrtime();
  const std::string node_id = std::to_string(conn.nodeClientId());
  resp::appendCommand(req->payload, {"CLIENT", "UNBLOCK", node_id, error ? "ERROR" : "TIMEOUT"});
  services_.dispatcher.forward(req);
  return true;
}

}  // namespace slotwise::proxy
