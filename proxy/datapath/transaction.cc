#include "proxy/datapath/transaction.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include "common/ascii.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {

// Local commands that, queued on the node, would change the borrowed connection itself (its
// protocol, user, reply mode, name or tracking) or act on the node's clients instead of the
// proxy's, and the proxy's own client state would not change as Redis would change it.
bool changesTheConnection(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "hello",          "auth",         "client|reply",   "client|tracking", "client|caching",
      "client|kill",    "client|pause", "client|unpause", "client|no-evict", "client|setname",
      "client|setinfo", "monitor",      "readonly",       "readwrite"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace

// ---- transactions ---------------------------------------------------------------------------
// Interactive clients wait for MULTI's +OK and each command's +QUEUED before sending the next, so
// before the slot is known the proxy answers those itself and keeps the commands; once a key
// pins the connection it sends MULTI and the kept commands first (their replies are dropped:
// the node's EXEC reply covers them).

void Transaction::handle(const resp::Command& cmd, const router::RouteDecision& d) {
  std::string_view name = d.info->name;
  if (name == "multi") {
    if (in_multi_) {
      session_.replyError("ERR MULTI calls can not be nested");
      return;
    }
    in_multi_ = true;
    aborted_ = false;
    queued_ = 0;
    if (pinned_) sendInternal("*1\r\n$5\r\nMULTI\r\n");
    session_.replyNow("+OK\r\n");
  } else if (name == "watch") {
    if (in_multi_) {
      session_.replyError("ERR WATCH inside MULTI is not allowed");
      return;
    }
    int32_t slot = router::keysSlot(*d.info, cmd, &session_.services_.scratch.keys,
                                    session_.services_.topology.placement());
    if (slot < 0 || (pinned_ && slot_ != slot)) {
      session_.replyError(errors::kTxnCrossSlot);
      return;
    }
    if (!pin(slot)) return;
    watching_ = true;
    session_.holdInputUntilReply(sendPinned(cmd, d));
  } else if (name == "unwatch") {
    if (in_multi_) {
      sendPinned(cmd, d);
    } else if (!pinned_ || conn_ == nullptr) {  // nothing watched, or its connection is gone
      session_.replyNow("+OK\r\n");
      end(false);
    } else {
      session_.holdInputUntilReply(sendPinned(cmd, d));
      end(true);
    }
  } else {  // exec, discard
    bool exec = name == "exec";
    if (!in_multi_) {
      session_.replyError(exec ? "ERR EXEC without MULTI" : "ERR DISCARD without MULTI");
      return;
    }
    if (aborted_ || !exec) {
      if (pinned_) sendInternal("*1\r\n$7\r\nDISCARD\r\n");
      if (exec) session_.replyError(errors::kExecAbort);
      else session_.replyNow("+OK\r\n");
      end(true);
      return;
    }
    if (!pinned_ && !pin(-1)) return;  // no key at all: any master
    session_.holdInputUntilReply(sendPinned(cmd, d));
    end(true);
  }
}

// A command between MULTI and EXEC: queued on the pinned connection, or refused (and the
// transaction marked aborted, as Redis does for a command it cannot queue).
void Transaction::handleInMulti(const resp::Command& cmd, const router::RouteDecision& d) {
  using Kind = router::RouteDecision::Kind;
  switch (d.kind) {
    case Kind::kSlot:
      if (pinned_ && slot_ >= 0 && d.slot != slot_) {
        aborted_ = true;
        session_.replyError(errors::kTxnCrossSlot);
        return;
      }
      if (!pinned_ && !pin(d.slot)) return;
      if (slot_ < 0) slot_ = d.slot;
      ++queued_;
      sendPinned(cmd, d);
      return;
    case Kind::kAnyMaster:
    case Kind::kLocal:
      if (d.kind == Kind::kLocal && equalsIgnoreCase(cmd.arg(0), "quit")) {
        session_.handleLocal(cmd);
        return;
      }
      if (d.kind == Kind::kLocal && changesTheConnection(d.info->name)) {
        aborted_ = true;  // a queueing error: EXEC answers EXECABORT
        session_.replyError("ERR slotwise: '" + std::string(d.info->name) +
                            "' cannot be queued inside MULTI through the proxy (it would run on "
                            "the node connection the transaction borrows)");
        return;
      }
      ++queued_;
      sendPinned(cmd, d);
      return;
    case Kind::kReject:
      aborted_ = true;
      session_.replyError(d.error);
      return;
    case Kind::kMultiSlot:
      aborted_ = true;
      session_.replyError(errors::kTxnCrossSlot);
      return;
    case Kind::kAllMasters:
      if (wholeClusterRule(*d.info, cmd, session_.services_.config->allow_admin_commands).mode ==
          WholeClusterMode::kSingle) {
        ++queued_;
        sendPinned(cmd, d);  // any master answers the same (CONFIG GET, FUNCTION LIST ...)
        return;
      }
      aborted_ = true;  // a queueing error: EXEC answers EXECABORT, as Redis does
      session_.replyError("ERR slotwise: '" + std::string(d.info->name) +
                          "' runs on every master and cannot be queued inside MULTI (a "
                          "transaction runs on one node)");
      return;
    default:
      aborted_ = true;
      session_.replyError("ERR slotwise: '" + std::string(d.info->name) +
                 "' cannot be used inside MULTI through the proxy");
      return;
  }
}

// Sends `cmd` on the transaction's connection, or (in MULTI, slot not known yet) keeps it and
// answers +QUEUED as the node would.
Request* Transaction::sendPinned(const resp::Command& cmd, const router::RouteDecision& d) {
  if (!pinned_) {
    std::string payload;
    if (cmd.is_inline) resp::appendCommandFrom(payload, cmd);
    else payload.assign(cmd.base, cmd.frame_len);
    held_.push_back(std::move(payload));
    session_.replyNow("+QUEUED\r\n");
    return nullptr;
  }
  Request* req = session_.newRequest(cmd, d);
  req->pinned = true;
  if (conn_ != nullptr) conn_->enqueue(req);
  else session_.services_.dispatcher.fail(req, errors::kBackendUnreachable);
  return req;
}

// Opens the transaction's connection to the master of `slot` (-1: any master); inside MULTI it
// then sends MULTI and the kept commands. On failure the transaction is aborted and false returned.
bool Transaction::pin(int32_t slot) {
  if (pinned_) return true;
  Request probe;
  probe.slot = slot;
  probe.affinity = session_.id_;
  probe.identity = session_.identity_;
  probe.proto = session_.local_.proto;
  probe.target = slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  std::string_view error;
  conn_ = session_.services_.pool.acquireDedicated(probe, &session_, &error);
  pinned_ = true;
  slot_ = slot;
  std::vector<std::string> held;
  held.swap(held_);
  if (conn_ == nullptr) {
    aborted_ = in_multi_;
    session_.replyError(error);
    if (!in_multi_) end(false);
    return false;
  }
  if (in_multi_) sendInternal("*1\r\n$5\r\nMULTI\r\n");
  for (const std::string& payload : held) sendInternal(payload);
  return true;
}

// A command on the transaction's connection whose reply is dropped (RESP `payload`).
void Transaction::sendInternal(std::string_view payload) {
  if (conn_ == nullptr) return;
  Request* req = session_.services_.requests.acquire();
  req->internal = true;
  req->payload.assign(payload);
  conn_->enqueue(req);
}

void Transaction::end(bool reusable) {
  if (conn_ != nullptr) session_.services_.pool.releaseDedicated(conn_, reusable);
  conn_ = nullptr;
  held_.clear();
  pinned_ = false;
  slot_ = -1;
  in_multi_ = watching_ = aborted_ = false;
}

void Transaction::onConnClosed(BackendConn* conn) {
  if (conn != conn_) return;
  conn_ = nullptr;  // stays pinned: later commands fail, EXEC reports the abort
  aborted_ = in_multi_;
}

}  // namespace slotwise::proxy
