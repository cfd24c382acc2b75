// PubSubSession: one client's Pub/Sub state, owned by its ClientSession and allocated only for
// clients that subscribe, so ordinary sessions stay small.
//
//   SUBSCRIBE / PSUBSCRIBE  ──► one subscriber connection to a master (messages are cluster-wide)
//   SSUBSCRIBE ch           ──► one subscriber connection per shard (the master of ch's slot)
//   push frames (confirmations, messages) ──► client, behind any reply still pending
//
// It remembers what the client subscribed to. When a subscriber connection dies (failover) or the
// node drops shard channels because their slot moved (an unrequested "sunsubscribe"), it
// subscribes again on the right node and swallows the confirmations, so the client keeps
// receiving messages without noticing. Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"
#include "resp/reply_scanner.h"
#include "router/router.h"

namespace slotwise::proxy {

class BackendConn;
class ClientSession;

class PubSubSession {
 public:
  explicit PubSubSession(ClientSession& session) : session_(session) {}
  PubSubSession(const PubSubSession&) = delete;
  PubSubSession& operator=(const PubSubSession&) = delete;

  // The client is in subscriber mode (some subscriber connection is open).
  bool subscribed() const { return !subs_.empty(); }
  // (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE (router kind kPubSub, PUBSUB subcommands excluded).
  void handle(const resp::Command& cmd, const router::RouteDecision& d);
  // A frame from one of the client's subscriber connections.
  void onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info);
  // Subscribes again on the nodes the current topology names.
  void resubscribe();
  // PING in RESP2 subscriber mode: ["pong", message].
  void ping(const resp::Command& cmd);
  // A subscriber connection is closing: subscribe again on the next housekeeping tick.
  void onConnClosed(BackendConn* conn);
  // Pushes held behind pending replies go out once nothing is pending.
  void flushBacklog();
  // Closes every subscriber connection and forgets the subscriptions.
  void release();
  // Commands allowed while subscribed (RESP2 rules).
  static bool allowedWhileSubscribed(const resp::Command& cmd);

 private:
  struct Sub {
    BackendConn* conn = nullptr;
    bool shard = false;
    int64_t count = 0;     // subscriptions the node reported for this connection
    uint32_t swallow = 0;  // confirmations of a re-subscription, not shown to the client
  };
  Sub* find(const BackendConn* conn);
  BackendConn* subscriberConn(int32_t slot, bool report);
  // @return false when the session closed (output limit).
  bool pushToClient(std::string_view frame);
  void maybeLeaveSubscribedMode();
  void scheduleResubscribe();
  void closeSubs();

  ClientSession& session_;
  std::vector<Sub> subs_;
  std::vector<std::string> channels_, patterns_, shard_channels_;  // what the client asked for
  std::string backlog_;  // frames waiting for earlier replies
  bool resubscribe_ = false;
  bool released_ = false;
};

}  // namespace slotwise::proxy
