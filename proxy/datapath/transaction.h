// Transaction: one client's WATCH / MULTI / EXEC / DISCARD state, owned by its ClientSession.
//
//   [WATCH k] MULTI cmd... EXEC|DISCARD ──► one dedicated connection pinned to the slot of the
//   first key; commands before the first key wait in held_ (answered +QUEUED by the proxy, sent
//   after MULTI once the slot is known); a key of another slot, or MOVED/ASK on the pinned
//   connection, aborts (EXECABORT), never runs elsewhere.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resp/command.h"
#include "router/router.h"

namespace slotwise::proxy {

class BackendConn;
class ClientSession;
struct Request;

class Transaction {
 public:
  explicit Transaction(ClientSession& session) : session_(session) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Between MULTI and EXEC/DISCARD: every other command goes to handleInMulti().
  bool inMulti() const { return in_multi_; }
  // Commands queued since MULTI (CLIENT LIST multi=), -1 outside MULTI.
  int64_t queued() const { return in_multi_ ? static_cast<int64_t>(queued_) : -1; }
  // Something is pinned or pending (a connection, MULTI or WATCH).
  bool active() const { return conn_ != nullptr || in_multi_ || watching_; }
  // MULTI, EXEC, DISCARD, WATCH, UNWATCH (router kind kTransaction).
  void handle(const resp::Command& cmd, const router::RouteDecision& d);
  // A command between MULTI and EXEC: queued on the pinned connection, or refused (and the
  // transaction marked aborted, as Redis does for a command it cannot queue).
  void handleInMulti(const resp::Command& cmd, const router::RouteDecision& d);
  // Ends the transaction; the connection goes back to the pool (`reusable`) or is closed.
  void end(bool reusable);
  // The pinned connection is closing: later commands fail and EXEC reports the abort.
  void onConnClosed(BackendConn* conn);
  // A pinned request got MOVED/ASK.
  void onRedirect() { aborted_ = in_multi_ || watching_; }

 private:
  // The request sent, or nullptr when the command was kept (slot not known yet).
  Request* sendPinned(const resp::Command& cmd, const router::RouteDecision& d);
  bool pin(int32_t slot);
  void sendInternal(std::string_view payload);

  ClientSession& session_;
  BackendConn* conn_ = nullptr;
  std::vector<std::string> held_;  // commands queued before the slot was known
  int32_t slot_ = -1;              // -1: any master (no key yet)
  bool in_multi_ = false;
  bool watching_ = false;
  bool aborted_ = false;
  bool pinned_ = false;
  size_t queued_ = 0;
};

}  // namespace slotwise::proxy
