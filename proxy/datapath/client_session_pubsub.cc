// ClientSession: Pub/Sub.
//
//   SUBSCRIBE / PSUBSCRIBE  ──► one subscriber connection to a master (messages are cluster-wide)
//   SSUBSCRIBE ch           ──► one subscriber connection per shard (the master of ch's slot)
//   push frames (confirmations, messages) ──► client, behind any reply still pending
//
// The session remembers what the client subscribed to. When a subscriber connection dies
// (failover) or the node drops shard channels because their slot moved (an unrequested
// "sunsubscribe"), the proxy subscribes again on the right node and swallows the confirmations,
// so the client keeps receiving messages without noticing.
#include <spdlog/spdlog.h>

#include <charconv>

#include <algorithm>

#include "common/ascii.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/worker.h"
#include "resp/encoder.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

void appendSubscribeCommand(std::string* out, std::string_view verb,
                            const std::vector<std::string>& names) {
  std::vector<std::string_view> args{verb};
  args.insert(args.end(), names.begin(), names.end());
  resp::appendCommand(*out, std::span<const std::string_view>(args));
}

}  // namespace

bool ClientSession::subscribed() const { return pubsub_ != nullptr && !pubsub_->subs.empty(); }

void ClientSession::handlePubSub(const resp::Command& cmd, const router::RouteDecision& d) {
  std::string_view name = d.info->name;
  if (name.rfind("pubsub|", 0) == 0) {
    startFanOut(cmd, d);  // PUBSUB CHANNELS / NUMSUB / ...: merged over the masters
    return;
  }
  if (!pubsub_) pubsub_ = std::make_unique<PubSubState>();
  std::string frame;
  if (cmd.is_inline) resp::appendCommandFrom(frame, cmd);
  else frame.assign(cmd.base, cmd.frame_len);
  bool shard = name == "ssubscribe" || name == "sunsubscribe";
  bool unsub = name.find("unsubscribe") != std::string_view::npos;
  std::vector<std::string>* wanted = name == "subscribe" || name == "unsubscribe" ? &pubsub_->channels
                                     : shard                                     ? &pubsub_->shard_channels
                                                                                 : &pubsub_->patterns;
  for (size_t i = 1; i < cmd.argc(); ++i) {
    if (unsub) PubSubState::remove(wanted, cmd.arg(i));
    else PubSubState::add(wanted, cmd.arg(i));
  }
  if (unsub && cmd.argc() == 1) wanted->clear();
  if (!shard) {
    BackendConn* conn = subscriberConn(-1, true);
    if (conn == nullptr) return;
    conn->sendRaw(frame);
    return;
  }
  if (unsub && cmd.argc() == 1) {  // every shard connection
    for (auto& s : pubsub_->subs) {
      if (s.shard && s.conn != nullptr) s.conn->sendRaw(frame);
    }
    if (pubsub_->subs.empty()) pushToClient("*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
    return;
  }
  int32_t slot = router::keysSlot(*d.info, cmd, &worker_.scratchKeys());
  if (slot < 0) {
    replyError("CROSSSLOT Keys in request don't hash to the same slot");
    return;
  }
  BackendConn* conn = subscriberConn(slot, true);
  if (conn != nullptr) conn->sendRaw(frame);
}

// The subscriber connection for classic channels (slot -1) or for the shard of `slot`, opened
// on first use. @return nullptr if the node cannot be reached (reported to the client if `report`).
BackendConn* ClientSession::subscriberConn(int32_t slot, bool report) {
  Request probe;
  probe.affinity = id_;
  probe.identity = identity_;
  probe.proto = local_.proto;
  probe.slot = slot;
  probe.target = slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  const bool shard = slot >= 0;
  std::string address = shard ? worker_.targetAddress(&probe) : std::string();
  for (auto& s : pubsub_->subs) {
    if (s.shard == shard && s.conn != nullptr && (!shard || s.conn->address() == address)) {
      return s.conn;
    }
  }
  std::string_view error;
  BackendConn* conn = worker_.acquireDedicated(&probe, this, &error);
  if (conn == nullptr) {
    if (report) replyError(error);
    return nullptr;
  }
  conn->setPushMode();
  pubsub_->subs.push_back({conn, shard, 0, 0});
  return conn;
}

// A frame from a subscriber connection.
void ClientSession::onPush(BackendConn* conn, std::string_view frame, const resp::ReplyInfo& info) {
  PubSubState::Sub* sub = pubsub_ ? pubsub_->find(conn) : nullptr;
  if (sub == nullptr) return;
  std::vector<std::string_view> elems;
  if (info.type == '-') {  // e.g. MOVED for SSUBSCRIBE during a slot move: subscribe again later
    if (info.error == resp::ErrorKind::kMoved || info.error == resp::ErrorKind::kAsk) {
      worker_.reportFailure(std::string(conn->address()));
      scheduleResubscribe();
      if (sub->swallow > 0) --sub->swallow;
      return;
    }
    pushToClient(frame);
    return;
  }
  if (!arrayElements(frame, &elems) || elems.size() < 3) {
    pushToClient(frame);
    return;
  }
  std::string_view kind = stringContent(elems[0]);
  bool confirmation = kind.find("subscribe") != std::string_view::npos;
  if (confirmation) {
    int64_t count = 0;
    std::string_view c = stringContent(elems[2]);
    std::from_chars(c.data(), c.data() + c.size(), count);
    sub->count = count;
    if (kind == "sunsubscribe" && std::find(pubsub_->shard_channels.begin(), pubsub_->shard_channels.end(),
                                            stringContent(elems[1])) != pubsub_->shard_channels.end()) {
      scheduleResubscribe();  // the node dropped it (slot moved): not the client's wish
      return;
    }
    if (sub->swallow > 0) {
      --sub->swallow;
      return;
    }
  }
  pushToClient(frame);
  if (confirmation) maybeLeaveSubscribedMode();
}

void ClientSession::pushToClient(std::string_view frame) {
  if (!pending_.empty()) {
    pubsub_->backlog.append(frame);
    return;
  }
  out_.buffer().append(frame);
  worker_.markClientDirty(this);
  if (out_.pendingBytes() > worker_.config().limits.max_output_bytes) {
    spdlog::warn("client {}: subscriber output above limits.max_output_bytes; disconnecting", id_);
    close();
  }
}

// After the last unsubscribe the connections carry nothing: back to normal mode.
void ClientSession::maybeLeaveSubscribedMode() {
  if (!pubsub_->channels.empty() || !pubsub_->patterns.empty() || !pubsub_->shard_channels.empty()) return;
  for (const auto& s : pubsub_->subs) {
    if (s.count != 0 || s.swallow != 0) return;
  }
  for (auto& s : pubsub_->subs) {
    if (s.conn != nullptr) worker_.releaseDedicated(s.conn, false);
  }
  pubsub_->subs.clear();
}

void ClientSession::scheduleResubscribe() {
  if (pubsub_->resubscribe) return;
  pubsub_->resubscribe = true;
  worker_.scheduleResubscribe(this);
}

// Subscribes again to everything the client wants, on the nodes the current map names.
void ClientSession::resubscribe() {
  if (!pubsub_ || closing_) return;
  pubsub_->resubscribe = false;
  for (auto& s : pubsub_->subs) {
    if (s.conn != nullptr) worker_.releaseDedicated(s.conn, false);
  }
  pubsub_->subs.clear();
  std::vector<std::string> channels = pubsub_->channels, patterns = pubsub_->patterns;
  if (!channels.empty() || !patterns.empty()) {
    BackendConn* conn = subscriberConn(-1, false);
    if (conn == nullptr) {
      scheduleResubscribe();
      return;
    }
    std::string bytes;
    if (!channels.empty()) appendSubscribeCommand(&bytes, "SUBSCRIBE", channels);
    if (!patterns.empty()) appendSubscribeCommand(&bytes, "PSUBSCRIBE", patterns);
    pubsub_->find(conn)->swallow += static_cast<uint32_t>(channels.size() + patterns.size());
    conn->sendRaw(bytes);
  }
  for (const std::string& ch : pubsub_->shard_channels) {
    BackendConn* conn = subscriberConn(router::keyHashSlot(ch), false);
    if (conn == nullptr) {
      scheduleResubscribe();
      return;
    }
    std::string bytes;
    appendSubscribeCommand(&bytes, "SSUBSCRIBE", {ch});
    pubsub_->find(conn)->swallow += 1;
    conn->sendRaw(bytes);
  }
}

// Commands allowed while subscribed (RESP2 rules).
bool ClientSession::allowedWhileSubscribed(const resp::Command& cmd) {
  static constexpr std::string_view kAllowed[] = {"subscribe",  "psubscribe",  "ssubscribe",
                                                  "unsubscribe", "punsubscribe", "sunsubscribe",
                                                  "ping",        "quit",         "reset"};
  for (std::string_view a : kAllowed) {
    if (equalsIgnoreCase(cmd.arg(0), a)) return true;
  }
  return false;
}

void ClientSession::pingWhileSubscribed(const resp::Command& cmd) {
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, "pong");
  resp::appendBulk(out, cmd.argc() > 1 ? cmd.arg(1) : std::string_view());
  pushToClient(out);
}

void ClientSession::releasePubSub() {
  if (!pubsub_) return;
  for (auto& s : pubsub_->subs) {
    if (s.conn != nullptr) worker_.releaseDedicated(s.conn, false);
  }
  pubsub_.reset();
}

void ClientSession::onPubSubConnClosed(BackendConn* conn) {
  if (!pubsub_) return;
  for (auto& s : pubsub_->subs) {
    if (s.conn == conn) s.conn = nullptr;
  }
  if (!closing_) scheduleResubscribe();
}

void ClientSession::flushPushBacklog() {
  if (pubsub_ && !pubsub_->backlog.empty() && pending_.empty()) {
    out_.buffer().append(pubsub_->backlog);
    pubsub_->backlog.clear();
    worker_.markClientDirty(this);
  }
}

}  // namespace slotwise::proxy
