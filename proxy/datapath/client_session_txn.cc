// ClientSession: blocking commands and transactions, the commands that need a backend connection
// of their own (a shared pipelined connection must never carry one client's MULTI state or sit
// blocked in BLPOP while other clients' requests queue behind it).
//
//   blocking:     BLPOP k 0 ──► dedicated conn (no request timeout) ──► reply ──► conn back to idle
//                 the client reads nothing more until the reply, as with Redis
//   transaction:  [WATCH k] MULTI cmd... EXEC|DISCARD ──► one dedicated conn pinned to the slot of
//                 the first key; commands before the first key wait in txn_held_; a key of another
//                 slot, or MOVED/ASK on the pinned conn, aborts (EXECABORT), never runs elsewhere

#include "common/ascii.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/errors.h"
#include "proxy/datapath/worker.h"
#include "resp/encoder.h"

namespace slotwise::proxy {

bool ClientSession::isBlocking(const resp::Command& cmd, const router::CommandInfo& info) {
  if (!info.hasFlag(router::kBlocking)) return false;
  if (info.name != "xread" && info.name != "xreadgroup") return true;
  for (size_t i = 1; i < cmd.argc(); ++i) {  // XREAD[GROUP] blocks only with BLOCK
    if (equalsIgnoreCase(cmd.arg(i), "streams")) return false;
    if (equalsIgnoreCase(cmd.arg(i), "block")) return true;
  }
  return false;
}

void ClientSession::forwardBlocking(const resp::Command& cmd, const router::RouteDecision& d) {
  Request* req = newRequest(cmd, d);
  req->pinned = true;
  req->blocking = true;
  blocked_req_ = req;
  worker_.forward(req);  // -> Worker::forwardBlocking -> useBlockingConn
}

void ClientSession::useBlockingConn(BackendConn* conn) {
  if (blocking_conn_ != nullptr && blocking_conn_ != conn) {
    worker_.releaseDedicated(blocking_conn_, false);  // it may still hold the old blocked call
  }
  blocking_conn_ = conn;
  conn->setRequestTimeout(false);
}

// ---- transactions ---------------------------------------------------------------------------
// Interactive clients wait for MULTI's +OK and each command's +QUEUED before sending the next, so
// before the slot is known the proxy answers those itself and keeps the commands; once a key
// pins the connection it sends MULTI and the kept commands first (their replies are dropped:
// the node's EXEC reply covers them).

void ClientSession::handleTransaction(const resp::Command& cmd, const router::RouteDecision& d) {
  std::string_view name = d.info->name;
  if (name == "multi") {
    if (in_multi_) {
      replyError("ERR MULTI calls can not be nested");
      return;
    }
    in_multi_ = true;
    txn_aborted_ = false;
    if (txn_pinned_) sendInternal("*1\r\n$5\r\nMULTI\r\n");
    replyNow("+OK\r\n");
  } else if (name == "watch") {
    if (in_multi_) {
      replyError("ERR WATCH inside MULTI is not allowed");
      return;
    }
    int32_t slot = router::keysSlot(*d.info, cmd, &worker_.scratchKeys());
    if (slot < 0 || (txn_pinned_ && txn_slot_ != slot)) {
      replyError(errors::kTxnCrossSlot);
      return;
    }
    if (!pinTransaction(slot)) return;
    watching_ = true;
    sendPinned(cmd, d);
  } else if (name == "unwatch") {
    if (in_multi_) {
      sendPinned(cmd, d);
    } else if (!txn_pinned_) {
      replyNow("+OK\r\n");
    } else {
      sendPinned(cmd, d);
      endTransaction(true);
    }
  } else {  // exec, discard
    bool exec = name == "exec";
    if (!in_multi_) {
      replyError(exec ? "ERR EXEC without MULTI" : "ERR DISCARD without MULTI");
      return;
    }
    if (txn_aborted_ || !exec) {
      if (txn_pinned_) sendInternal("*1\r\n$7\r\nDISCARD\r\n");
      if (exec) replyError(errors::kExecAbort);
      else replyNow("+OK\r\n");
      endTransaction(true);
      return;
    }
    if (!txn_pinned_ && !pinTransaction(-1)) return;  // no key at all: any master
    sendPinned(cmd, d);
    endTransaction(true);
  }
}

// A command between MULTI and EXEC: queued on the pinned connection, or refused (and the
// transaction marked aborted, as Redis does for a command it cannot queue).
void ClientSession::handleInMulti(const resp::Command& cmd, const router::RouteDecision& d) {
  using Kind = router::RouteDecision::Kind;
  switch (d.kind) {
    case Kind::kSlot:
      if (txn_pinned_ && txn_slot_ >= 0 && d.slot != txn_slot_) {
        txn_aborted_ = true;
        replyError(errors::kTxnCrossSlot);
        return;
      }
      if (!txn_pinned_ && !pinTransaction(d.slot)) return;
      if (txn_slot_ < 0) txn_slot_ = d.slot;
      sendPinned(cmd, d);
      return;
    case Kind::kAnyMaster:
    case Kind::kLocal:
      if (d.kind == Kind::kLocal && equalsIgnoreCase(cmd.arg(0), "quit")) {
        handleLocal(cmd);
        return;
      }
      sendPinned(cmd, d);
      return;
    case Kind::kReject:
      txn_aborted_ = true;
      replyError(d.error);
      return;
    case Kind::kMultiSlot:
      txn_aborted_ = true;
      replyError(errors::kTxnCrossSlot);
      return;
    default:
      txn_aborted_ = true;
      replyError("ERR slotwise: '" + std::string(d.info->name) +
                 "' cannot be used inside MULTI through the proxy");
      return;
  }
}

// Sends `cmd` on the transaction's connection, or (in MULTI, slot not known yet) keeps it and
// answers +QUEUED as the node would.
void ClientSession::sendPinned(const resp::Command& cmd, const router::RouteDecision& d) {
  if (!txn_pinned_) {
    std::string payload;
    if (cmd.is_inline) resp::appendCommandFrom(payload, cmd);
    else payload.assign(cmd.base, cmd.frame_len);
    txn_held_.push_back(std::move(payload));
    replyNow("+QUEUED\r\n");
    return;
  }
  Request* req = newRequest(cmd, d);
  req->pinned = true;
  if (txn_conn_ != nullptr) txn_conn_->enqueue(req);
  else worker_.fail(req, errors::kBackendUnreachable);
}

// Opens the transaction's connection to the master of `slot` (-1: any master); inside MULTI it
// then sends MULTI and the kept commands. On failure the transaction is aborted and false returned.
bool ClientSession::pinTransaction(int32_t slot) {
  if (txn_pinned_) return true;
  Request probe;
  probe.slot = slot;
  probe.affinity = id_;
  probe.identity = identity_;
  probe.proto = local_.proto;
  probe.target = slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  std::string_view error;
  txn_conn_ = worker_.acquireDedicated(&probe, this, &error);
  txn_pinned_ = true;
  txn_slot_ = slot;
  std::vector<std::string> held;
  held.swap(txn_held_);
  if (txn_conn_ == nullptr) {
    txn_aborted_ = in_multi_;
    replyError(error);
    if (!in_multi_) endTransaction(false);
    return false;
  }
  if (in_multi_) sendInternal("*1\r\n$5\r\nMULTI\r\n");
  for (const std::string& payload : held) sendInternal(payload);
  return true;
}

// A command on the transaction's connection whose reply is dropped (RESP `payload`).
void ClientSession::sendInternal(std::string_view payload) {
  if (txn_conn_ == nullptr) return;
  Request* req = worker_.requests().acquire();
  req->internal = true;
  req->payload.assign(payload);
  txn_conn_->enqueue(req);
}

void ClientSession::endTransaction(bool reusable) {
  if (txn_conn_ != nullptr) worker_.releaseDedicated(txn_conn_, reusable);
  txn_conn_ = nullptr;
  txn_held_.clear();
  txn_pinned_ = false;
  txn_slot_ = -1;
  in_multi_ = watching_ = txn_aborted_ = false;
}

void ClientSession::onDedicatedClosed(BackendConn* conn) {
  onPubSubConnClosed(conn);
  if (conn == blocking_conn_) blocking_conn_ = nullptr;
  if (conn == txn_conn_) {
    txn_conn_ = nullptr;  // stays pinned: later commands fail, EXEC reports the abort
    txn_aborted_ = in_multi_;
  }
}

void ClientSession::onTransactionRedirect() { txn_aborted_ = in_multi_ || watching_; }

void ClientSession::releaseDedicatedConns() {
  txn_held_.clear();
  if (txn_conn_ != nullptr) worker_.releaseDedicated(txn_conn_, false);
  if (blocking_conn_ != nullptr) worker_.releaseDedicated(blocking_conn_, false);
  txn_conn_ = blocking_conn_ = nullptr;
  releasePubSub();
}

}  // namespace slotwise::proxy
