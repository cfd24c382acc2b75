// PubSubSession: one client's Pub/Sub state, owned by its ClientSession and allocated only for
// clients that subscribe, so ordinary sessions stay small.
//
//   SUBSCRIBE ch / PSUBSCRIBE p ──► Redis Cluster: the master of the name's hash slot (the node a
//                                   PUBLISH ch is sent to, so that its count includes us); every
//                                   node sees every message (PUBLISH travels the cluster bus).
//                                   Rings and pools: one connection to the keyless server.
//   SSUBSCRIBE ch               ──► the master of ch's slot (shard)
//   keyspace notifications      ──► __keyspace@0__:<key>: the master of <key>'s slot (the node
//                                   that emits it); __keyevent@0__:<event> and patterns that
//                                   start with "__key": every master (targetSlots)
//   one subscriber connection per node, shared by the three kinds of names
//
// The proxy keeps the client's three sets (channels, patterns, shard channels) and answers every
// (un)subscribe command itself, with Redis's own replies and counts (one reply per name; for a
// bare UNSUBSCRIBE without subscriptions one reply with a nil name). A SUBSCRIBE's replies wait
// in the client's FIFO until every node involved confirmed, so a message published after the
// client saw the confirmation is delivered; UNSUBSCRIBE is answered at once and messages of names
// the client left are dropped. Node confirmations are matched against what was sent on each
// connection and never reach the client.
//
// When a subscriber connection dies (failover) or the node drops shard channels because their
// slot moved (an unrequested "sunsubscribe"), it subscribes again on the right node, so the client
// keeps receiving messages without noticing. Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"
#include "resp/reply_scanner.h"
#include "router/key_placement.h"
#include "router/router.h"

namespace slotwise::proxy {

class BackendConn;
class ClientSession;
struct Request;

class PubSubSession {
 public:
  explicit PubSubSession(ClientSession& session) : session_(session) {}
  PubSubSession(const PubSubSession&) = delete;
  PubSubSession& operator=(const PubSubSession&) = delete;

  // The client is in subscriber mode: it holds at least one channel, pattern or shard channel
  // (Redis's rule, decided when the command is handled, not when the node confirms).
  bool subscribed() const { return !names_[0].empty() || !names_[1].empty() || !names_[2].empty(); }
  // How many channels, patterns and shard channels the client holds (CLIENT LIST sub= psub=
  // ssub=).
  size_t channels() const { return names_[kChannels].size(); }
  size_t patterns() const { return names_[kPatterns].size(); }
  size_t shardChannels() const { return names_[kShardChannels].size(); }
  // (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE (router kind kPubSub, PUBSUB subcommands excluded).
  void handle(const resp::Command& cmd, const router::RouteDecision& d);
  // A frame from one of the client's subscriber connections.
  void onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info);
  // Subscribes again on the nodes the current topology names.
  void resubscribe();
  // The slot map changed: names subscribed per key slot or on every master (keyspace
  // notifications) are subscribed again on the next housekeeping tick.
  void onTopologyChanged();
  // PING in RESP2 subscriber mode: ["pong", message].
  void ping(const resp::Command& cmd);
  // A subscriber connection is closing: subscribe again on the next housekeeping tick.
  void onConnClosed(BackendConn* conn);
  // Pushes held behind pending replies go out once nothing is pending.
  void flushBacklog();
  // Closes every subscriber connection and forgets the subscriptions. Replies still waiting for a
  // node's confirmation are completed (`closing`: only marked done, the session recycles them).
  void release(bool closing);
  // Commands allowed while subscribed (RESP2 rules).
  static bool allowedWhileSubscribed(const resp::Command& cmd);
  // The slot whose master takes SUBSCRIBE/PSUBSCRIBE/PUBLISH of `name` when `placement` is a
  // Redis Cluster alone; -1 otherwise (rings and pools share nothing between servers, so there
  // classic pub/sub stays on the one keyless server).
  static int32_t classicSlot(std::string_view name, const router::KeyPlacement& placement);

 private:
  enum Space : uint8_t { kChannels = 0, kPatterns = 1, kShardChannels = 2 };
  struct Name {
    std::string name;
    // Where it is subscribed (several nodes for keyspace-notification names, see targetSlots);
    // empty while a resubscription is due.
    std::vector<BackendConn*> conns;
  };
  // A confirmation a node owes for a command sent on its connection. `waiters` are client
  // replies held until it arrives (nobody when a reply was already given, e.g. UNSUBSCRIBE).
  struct Expect {
    Space space;
    bool unsub = false;
    std::string name;
    uint64_t batch = 0;  // one command sent: a node error answers the whole batch
    std::vector<Request*> waiters;
  };
  struct Sub {
    BackendConn* conn = nullptr;
    std::deque<Expect> expected;
  };
  // A client reply held in the client's FIFO until `awaiting` node confirmations arrived.
  struct Waiting {
    Request* req = nullptr;
    uint32_t awaiting = 0;
  };

  Sub* find(const BackendConn* conn);
  BackendConn* subscriberConn(int32_t slot, bool report);
  // The slots whose masters take `name`: one slot, except for keyspace notifications, which
  // each node emits for its own keys only: a "__keyspace@<db>__:<key>" channel goes to the master
  // of <key>'s slot, "__keyevent@..." channels and patterns starting with "__key" to every master.
  std::vector<int32_t> targetSlots(Space space, std::string_view name) const;
  // The subscriber connections for `name` (deduplicated); false when a node cannot be reached.
  bool connsFor(Space space, std::string_view name, bool report, std::vector<BackendConn*>* out);
  // Sends `verb names...` on `conn`, expecting one confirmation per name; the last one releases
  // `waiter` (a held client reply) when not null.
  void sendBatch(BackendConn* conn, Space space, bool unsub, const std::vector<std::string>& names,
                 Request* waiter);
  void collectReady(const Expect& e, std::vector<Request*>* ready);
  void complete(const std::vector<Request*>& ready);
  void subscribe(Space space, const resp::Command& cmd);
  void unsubscribe(Space space, const resp::Command& cmd);
  size_t count(Space space) const;
  std::string confirmation(Space space, bool unsub, const std::string* name) const;
  bool wants(Space space, std::string_view name) const;
  // @return false when the session closed (output limit).
  bool pushToClient(std::string_view frame);
  void maybeLeaveSubscribedMode();
  void scheduleResubscribe();
  void closeSubs();

  ClientSession& session_;
  std::vector<Sub> subs_;
  std::vector<Name> names_[3];    // what the client asked for, in the order it asked
  std::vector<Waiting> waiting_;  // replies held until nodes confirm
  std::string backlog_;           // frames waiting for earlier replies
  uint64_t next_batch_ = 1;
  bool resubscribe_ = false;
  bool released_ = false;
};

}  // namespace slotwise::proxy
