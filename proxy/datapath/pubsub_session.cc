#include "proxy/datapath/pubsub_session.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include <algorithm>

#include "common/ascii.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/fanout.h"
#include "resp/encoder.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

template <typename T>
void addUnique(std::vector<std::string>* set, T name) {
  if (std::find(set->begin(), set->end(), name) == set->end()) set->emplace_back(name);
}

template <typename T>
void removeValue(std::vector<std::string>* set, T name) {
  set->erase(std::remove(set->begin(), set->end(), name), set->end());
}

void appendSubscribeCommand(std::string* out, std::string_view verb,
                            const std::vector<std::string>& names) {
  std::vector<std::string_view> args{verb};
  args.insert(args.end(), names.begin(), names.end());
  resp::appendCommand(*out, std::span<const std::string_view>(args));
}

}  // namespace

PubSubSession::Sub* PubSubSession::find(const BackendConn* conn) {
  for (Sub& s : subs_) {
    if (s.conn == conn) return &s;
  }
  return nullptr;
}

void PubSubSession::handle(const resp::Command& cmd, const router::RouteDecision& d) {
  std::string_view name = d.info->name;
  released_ = false;
  std::string frame;
  if (cmd.is_inline) resp::appendCommandFrom(frame, cmd);
  else frame.assign(cmd.base, cmd.frame_len);
  bool shard = name == "ssubscribe" || name == "sunsubscribe";
  bool unsub = name.find("unsubscribe") != std::string_view::npos;
  std::vector<std::string>* wanted = name == "subscribe" || name == "unsubscribe" ? &channels_
                                     : shard                                     ? &shard_channels_
                                                                                 : &patterns_;
  for (size_t i = 1; i < cmd.argc(); ++i) {
    if (unsub) removeValue(wanted, cmd.arg(i));
    else addUnique(wanted, cmd.arg(i));
  }
  if (unsub && cmd.argc() == 1) wanted->clear();
  if (!shard) {
    BackendConn* conn = subscriberConn(-1, true);
    if (conn == nullptr) return;
    conn->sendRaw(frame);
    return;
  }
  if (unsub && cmd.argc() == 1) {  // every shard connection
    for (auto& s : subs_) {
      if (s.shard && s.conn != nullptr) s.conn->sendRaw(frame);
    }
    if (subs_.empty()) pushToClient("*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
    return;
  }
  int32_t slot = router::keysSlot(*d.info, cmd, &session_.services_.scratch.keys,
                                  session_.services_.topology.placement());
  if (slot < 0) {
    session_.replyError("CROSSSLOT Keys in request don't hash to the same slot");
    return;
  }
  BackendConn* conn = subscriberConn(slot, true);
  if (conn != nullptr) conn->sendRaw(frame);
}

// The subscriber connection for classic channels (slot -1) or for the shard of `slot`, opened
// on first use. @return nullptr if the node cannot be reached (reported to the client if `report`).
BackendConn* PubSubSession::subscriberConn(int32_t slot, bool report) {
  Request probe;
  probe.affinity = session_.id_;
  probe.identity = session_.identity_;
  probe.proto = session_.local_.proto;
  probe.slot = slot;
  probe.target = slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  const bool shard = slot >= 0;
  std::string address = shard ? session_.services_.pool.targetAddress(probe) : std::string();
  for (auto& s : subs_) {
    if (s.shard == shard && s.conn != nullptr && (!shard || s.conn->address() == address)) {
      return s.conn;
    }
  }
  std::string_view error;
  BackendConn* conn = session_.services_.pool.acquireDedicated(probe, &session_, &error);
  if (conn == nullptr) {
    if (report) session_.replyError(error);
    return nullptr;
  }
  conn->setPushMode();
  subs_.push_back({conn, shard, 0, 0});
  return conn;
}

// A frame from a subscriber connection.
void PubSubSession::onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info) {
  Sub* sub = find(&conn);
  if (sub == nullptr) return;
  std::vector<std::string_view> elems;
  if (info.type == '-') {  // e.g. MOVED for SSUBSCRIBE during a slot move: subscribe again later
    if (info.error == resp::ErrorKind::kMoved || info.error == resp::ErrorKind::kAsk) {
      session_.services_.dispatcher.reportFailure(conn.address());
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
    if (kind == "sunsubscribe" && std::find(shard_channels_.begin(), shard_channels_.end(),
                                            stringContent(elems[1])) != shard_channels_.end()) {
      scheduleResubscribe();  // the node dropped it (slot moved): not the client's wish
      return;
    }
    if (sub->swallow > 0) {
      --sub->swallow;
      return;
    }
  }
  if (pushToClient(frame) && confirmation) maybeLeaveSubscribedMode();
}

bool PubSubSession::pushToClient(std::string_view frame) {
  ClientSession& s = session_;
  if (!s.pending_.empty()) {
    backlog_.append(frame);
    return true;
  }
  s.out_.buffer().append(frame);
  s.services_.host.markClientDirty(&s);
  if (s.out_.pendingBytes() > s.services_.config->limits.max_output_bytes) {
    spdlog::warn("client {}: subscriber output above limits.max_output_bytes; disconnecting", s.id_);
    s.close();
    return false;
  }
  return true;
}

// After the last unsubscribe the connections carry nothing: back to normal mode.
void PubSubSession::maybeLeaveSubscribedMode() {
  if (!channels_.empty() || !patterns_.empty() || !shard_channels_.empty()) return;
  for (const auto& s : subs_) {
    if (s.count != 0 || s.swallow != 0) return;
  }
  closeSubs();
}

void PubSubSession::closeSubs() {
  std::vector<Sub> subs;
  subs.swap(subs_);  // closing a connection calls back into onConnClosed
  for (auto& s : subs) {
    if (s.conn != nullptr) session_.services_.pool.releaseDedicated(s.conn, false);
  }
}

void PubSubSession::scheduleResubscribe() {
  if (resubscribe_ || released_) return;
  resubscribe_ = true;
  session_.services_.host.scheduleResubscribe(&session_);
}

// Subscribes again to everything the client wants, on the nodes the current map names.
void PubSubSession::resubscribe() {
  resubscribe_ = false;
  if (released_) return;
  closeSubs();
  resubscribe_ = false;  // closing the old connections asked for this very resubscription
  std::vector<std::string> channels = channels_, patterns = patterns_;
  if (!channels.empty() || !patterns.empty()) {
    BackendConn* conn = subscriberConn(-1, false);
    if (conn == nullptr) {
      scheduleResubscribe();
      return;
    }
    std::string bytes;
    if (!channels.empty()) appendSubscribeCommand(&bytes, "SUBSCRIBE", channels);
    if (!patterns.empty()) appendSubscribeCommand(&bytes, "PSUBSCRIBE", patterns);
    find(conn)->swallow += static_cast<uint32_t>(channels.size() + patterns.size());
    conn->sendRaw(bytes);
  }
  for (const std::string& ch : shard_channels_) {
    BackendConn* conn = subscriberConn(session_.services_.topology.placement().slotOf(ch), false);
    if (conn == nullptr) {
      scheduleResubscribe();
      return;
    }
    std::string bytes;
    appendSubscribeCommand(&bytes, "SSUBSCRIBE", {ch});
    find(conn)->swallow += 1;
    conn->sendRaw(bytes);
  }
}

// Commands allowed while subscribed (RESP2 rules).
bool PubSubSession::allowedWhileSubscribed(const resp::Command& cmd) {
  static constexpr std::string_view kAllowed[] = {"subscribe",  "psubscribe",  "ssubscribe",
                                                  "unsubscribe", "punsubscribe", "sunsubscribe",
                                                  "ping",        "quit",         "reset"};
  for (std::string_view a : kAllowed) {
    if (equalsIgnoreCase(cmd.arg(0), a)) return true;
  }
  return false;
}

void PubSubSession::ping(const resp::Command& cmd) {
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, "pong");
  resp::appendBulk(out, cmd.argc() > 1 ? cmd.arg(1) : std::string_view());
  pushToClient(out);
}

void PubSubSession::release() {
  released_ = true;
  closeSubs();
  channels_.clear();
  patterns_.clear();
  shard_channels_.clear();
  backlog_.clear();
}

void PubSubSession::onConnClosed(BackendConn* conn) {
  for (auto& s : subs_) {
    if (s.conn == conn) s.conn = nullptr;
  }
  scheduleResubscribe();
}

void PubSubSession::flushBacklog() {
  if (backlog_.empty() || !session_.pending_.empty()) return;
  session_.out_.buffer().append(backlog_);
  backlog_.clear();
  session_.services_.host.markClientDirty(&session_);
}

}  // namespace slotwise::proxy
