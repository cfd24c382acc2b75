#include "proxy/datapath/pubsub_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/ascii.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/client_session.h"
#include "proxy/datapath/fanout.h"
#include "resp/encoder.h"
#include "router/hash_slot.h"

namespace slotwise::proxy {
namespace {

// [unsub][space]: the verb of the command and of its confirmations.
constexpr std::string_view kVerbs[2][3] = {{"subscribe", "psubscribe", "ssubscribe"},
                                           {"unsubscribe", "punsubscribe", "sunsubscribe"}};

void appendSubscribeCommand(std::string* out, std::string_view verb,
                            const std::vector<std::string>& names) {
  std::vector<std::string_view> args{verb};
  args.insert(args.end(), names.begin(), names.end());
  resp::appendCommand(*out, std::span<const std::string_view>(args));
}

// Names grouped by the subscriber connection they go to, in first-use order.
using Batches = std::vector<std::pair<BackendConn*, std::vector<std::string>>>;

void addToBatch(Batches* batches, BackendConn* conn, std::string name) {
  for (auto& [c, names] : *batches) {
    if (c == conn) {
      names.push_back(std::move(name));
      return;
    }
  }
  batches->push_back({conn, {std::move(name)}});
}

}  // namespace

int32_t PubSubSession::classicSlot(std::string_view name, const router::KeyPlacement& placement) {
  if (placement.ring() != nullptr || placement.routes() != nullptr) return -1;
  return router::keyHashSlot(name);
}

PubSubSession::Sub* PubSubSession::find(const BackendConn* conn) {
  for (Sub& s : subs_) {
    if (s.conn == conn) return &s;
  }
  return nullptr;
}

std::vector<int32_t> PubSubSession::targetSlots(Space space, std::string_view name) const {
  const Topology& topology = session_.services_.topology;
  const router::KeyPlacement& placement = topology.placement();
  if (space == kShardChannels) return {placement.slotOf(name)};
  constexpr std::string_view kKeyspace = "__keyspace@";
  if (space == kChannels && name.starts_with(kKeyspace)) {
    const size_t sep = name.find("__:", kKeyspace.size());
    if (sep != std::string_view::npos) return {placement.slotOf(name.substr(sep + 3))};
  }
  if (name.starts_with("__key") && !topology.masterSlots().empty()) {
    return {topology.masterSlots().begin(), topology.masterSlots().end()};
  }
  return {classicSlot(name, placement)};
}

bool PubSubSession::connsFor(Space space, std::string_view name, bool report,
                             std::vector<BackendConn*>* out) {
  out->clear();
  for (int32_t slot : targetSlots(space, name)) {
    BackendConn* conn = subscriberConn(slot, report);
    if (conn == nullptr) return false;
    if (std::find(out->begin(), out->end(), conn) == out->end()) out->push_back(conn);
  }
  return true;
}

size_t PubSubSession::count(Space space) const {
  // Redis counts channels and patterns together, shard channels apart.
  return space == kShardChannels ? names_[kShardChannels].size()
                                 : names_[kChannels].size() + names_[kPatterns].size();
}

bool PubSubSession::wants(Space space, std::string_view name) const {
  return std::any_of(names_[space].begin(), names_[space].end(),
                     [&](const Name& n) { return n.name == name; });
}

// One confirmation as Redis writes it: [verb, name or nil, count] (a push in RESP3).
std::string PubSubSession::confirmation(Space space, bool unsub, const std::string* name) const {
  const bool resp3 = session_.local_.proto == 3;
  std::string out = resp3 ? ">3\r\n" : "*3\r\n";
  resp::appendBulk(out, kVerbs[unsub][space]);
  if (name != nullptr) resp::appendBulk(out, *name);
  else out += resp3 ? "_\r\n" : "$-1\r\n";
  resp::appendInteger(out, static_cast<int64_t>(count(space)));
  return out;
}

void PubSubSession::handle(const resp::Command& cmd, const router::RouteDecision& d) {
  std::string_view verb = d.info->name;
  released_ = false;
  const bool unsub = verb.find("unsubscribe") != std::string_view::npos;
  Space space = kChannels;
  if (verb == "psubscribe" || verb == "punsubscribe") space = kPatterns;
  if (verb == "ssubscribe" || verb == "sunsubscribe") space = kShardChannels;
  if (space == kShardChannels && cmd.argc() > 1 &&
      router::keysSlot(*d.info, cmd, &session_.services_.scratch.keys,
                       session_.services_.topology.placement()) < 0) {
    session_.replyError("CROSSSLOT Keys in request don't hash to the same slot");
    return;
  }
  if (unsub) unsubscribe(space, cmd);
  else subscribe(space, cmd);
}

// New names are sent to their nodes; the replies (one per name, as Redis) wait in the client's
// FIFO until every node involved confirmed. Names already held are answered without a node.
void PubSubSession::subscribe(Space space, const resp::Command& cmd) {
  std::vector<std::vector<BackendConn*>> conns(cmd.argc());
  for (size_t i = 1; i < cmd.argc(); ++i) {  // every node first: an error changes nothing
    if (wants(space, cmd.arg(i))) continue;
    if (!connsFor(space, cmd.arg(i), true, &conns[i])) {
      maybeLeaveSubscribedMode();
      return;
    }
  }
  std::string reply;
  Batches batches;
  for (size_t i = 1; i < cmd.argc(); ++i) {
    std::string name(cmd.arg(i));
    if (!wants(space, name)) {
      for (BackendConn* conn : conns[i]) addToBatch(&batches, conn, name);
      names_[space].push_back({name, std::move(conns[i])});
    }
    reply += confirmation(space, false, &name);
  }
  if (batches.empty()) {
    session_.replyNow(reply);
    return;
  }
  Request* req = session_.services_.requests.acquire();
  req->client = &session_;
  req->reply = std::move(reply);
  session_.enqueue(req);
  waiting_.push_back({req, static_cast<uint32_t>(batches.size())});
  for (const auto& [conn, names] : batches) sendBatch(conn, space, false, names, req);
}

// Answered at once (Redis replies for names never subscribed too, and with a nil name when a bare
// UNSUBSCRIBE finds nothing); the nodes' confirmations are swallowed.
void PubSubSession::unsubscribe(Space space, const resp::Command& cmd) {
  std::vector<std::string> names;
  if (cmd.argc() == 1) {
    for (const Name& n : names_[space]) names.push_back(n.name);
  } else {
    for (size_t i = 1; i < cmd.argc(); ++i) names.emplace_back(cmd.arg(i));
  }
  std::string reply;
  if (names.empty()) reply = confirmation(space, true, nullptr);
  Batches batches;
  std::vector<Name>& held = names_[space];
  for (const std::string& name : names) {
    auto it = std::find_if(held.begin(), held.end(), [&](const Name& n) { return n.name == name; });
    if (it != held.end()) {
      for (BackendConn* conn : it->conns) addToBatch(&batches, conn, name);
      held.erase(it);
    }
    reply += confirmation(space, true, &name);
  }
  session_.replyNow(reply);
  for (const auto& [conn, batch] : batches) sendBatch(conn, space, true, batch, nullptr);
  maybeLeaveSubscribedMode();
}

void PubSubSession::sendBatch(BackendConn* conn, Space space, bool unsub,
                              const std::vector<std::string>& names, Request* waiter) {
  Sub* sub = find(conn);
  if (sub == nullptr || names.empty()) return;
  const uint64_t batch = next_batch_++;
  for (const std::string& name : names) sub->expected.push_back({space, unsub, name, batch, {}});
  if (waiter != nullptr) sub->expected.back().waiters.push_back(waiter);
  std::string bytes;
  appendSubscribeCommand(&bytes, kVerbs[unsub][space], names);
  conn->sendRaw(bytes);
}

// The subscriber connection to the master of `slot` (-1: the keyless server), opened on first
// use. @return nullptr if the node cannot be reached (reported to the client if `report`).
BackendConn* PubSubSession::subscriberConn(int32_t slot, bool report) {
  Request probe;
  probe.affinity = session_.id_;
  probe.identity = session_.identity_;
  probe.proto = session_.local_.proto;
  probe.slot = slot;
  probe.target = slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  const std::string address = session_.services_.pool.targetAddress(probe);
  for (const Sub& s : subs_) {
    if (s.conn != nullptr && !address.empty() && s.conn->address() == address) return s.conn;
  }
  std::string_view error;
  BackendConn* conn = session_.services_.pool.acquireDedicated(probe, &session_, &error);
  if (conn == nullptr) {
    if (report) session_.replyError(error);
    return nullptr;
  }
  conn->setPushMode();
  subs_.push_back({conn, {}});
  return conn;
}

// A frame from a subscriber connection: a node's confirmation (matched against what was sent on
// that connection, never shown), a message (shown if the client still holds its name) or an error.
void PubSubSession::onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info) {
  Sub* sub = find(&conn);
  if (sub == nullptr) return;
  if (info.type == '-') {  // answers the oldest command owed on this connection, whole
    std::vector<Request*> ready;
    const uint64_t batch = sub->expected.empty() ? 0 : sub->expected.front().batch;
    while (!sub->expected.empty() && sub->expected.front().batch == batch) {
      collectReady(sub->expected.front(), &ready);
      sub->expected.pop_front();
    }
    if (info.error == resp::ErrorKind::kMoved || info.error == resp::ErrorKind::kAsk) {
      // e.g. SSUBSCRIBE during a slot move: subscribe again on the new owner
      session_.services_.dispatcher.reportFailure(conn.address());
      scheduleResubscribe();
    } else {
      pushToClient(frame);
    }
    complete(ready);
    return;
  }
  std::vector<std::string_view> elems;
  if (!arrayElements(frame, &elems) || elems.size() < 3) {
    pushToClient(frame);
    return;
  }
  const std::string_view kind = stringContent(elems[0]);
  const std::string_view name = stringContent(elems[1]);
  if (kind.ends_with("subscribe")) {
    if (!sub->expected.empty() && sub->expected.front().name == name &&
        kVerbs[sub->expected.front().unsub][sub->expected.front().space] == kind) {
      std::vector<Request*> ready;
      collectReady(sub->expected.front(), &ready);
      sub->expected.pop_front();
      maybeLeaveSubscribedMode();
      complete(ready);
      return;
    }
    if (kind == "sunsubscribe" && wants(kShardChannels, name)) {
      scheduleResubscribe();  // the node dropped it (slot moved): not the client's wish
    }
    return;
  }
  if ((kind == "message" && !wants(kChannels, name)) ||
      (kind == "pmessage" && !wants(kPatterns, name)) ||
      (kind == "smessage" && !wants(kShardChannels, name))) {
    return;  // the client left it; the node's confirmation is still on its way
  }
  pushToClient(frame);
}

// The replies `e` held that need no other confirmation now; they leave waiting_.
void PubSubSession::collectReady(const Expect& e, std::vector<Request*>* ready) {
  for (Request* req : e.waiters) {
    auto it = std::find_if(waiting_.begin(), waiting_.end(),
                           [&](const Waiting& w) { return w.req == req; });
    if (it == waiting_.end()) continue;
    if (it->awaiting > 0) --it->awaiting;
    if (it->awaiting == 0) {
      ready->push_back(req);
      waiting_.erase(it);
    }
  }
}

// Hands finished replies to the client's FIFO. All but the FIFO head are only marked done; the
// head goes last through onReply, which writes it and every done successor. onReply may close
// the session, so nothing may touch this object's state after it.
void PubSubSession::complete(const std::vector<Request*>& ready) {
  Request* head = nullptr;
  for (Request* req : ready) {
    if (req == session_.pending_.front()) head = req;
    else req->done = true;
  }
  if (head == nullptr) return;
  std::string bytes = std::move(head->reply);
  head->reply.clear();
  session_.onReply(head, bytes);
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

// After the last unsubscribe, once the nodes confirmed, the connections carry nothing: closed.
void PubSubSession::maybeLeaveSubscribedMode() {
  if (subscribed() || !waiting_.empty()) return;
  for (const Sub& s : subs_) {
    if (!s.expected.empty()) return;
  }
  closeSubs();
}

void PubSubSession::closeSubs() {
  std::vector<Sub> subs;
  subs.swap(subs_);  // closing a connection calls back into onConnClosed, which then finds nothing
  for (auto& s : subs) {
    if (s.conn != nullptr) session_.services_.pool.releaseDedicated(s.conn, false);
  }
  for (auto& names : names_) {
    for (Name& n : names) n.conns.clear();
  }
}

void PubSubSession::scheduleResubscribe() {
  if (resubscribe_ || released_) return;
  resubscribe_ = true;
  session_.services_.host.scheduleResubscribe(&session_);
}

// Subscribes again to everything the client holds, on the nodes the current map names. Replies
// still waiting for a confirmation now wait for the new connections' confirmations.
void PubSubSession::resubscribe() {
  resubscribe_ = false;
  if (released_) return;
  closeSubs();
  for (Waiting& w : waiting_) w.awaiting = 0;
  std::vector<std::pair<Space, Batches>> plan;
  for (Space space : {kChannels, kPatterns, kShardChannels}) {
    Batches batches;
    for (Name& n : names_[space]) {
      if (!connsFor(space, n.name, false, &n.conns)) {
        scheduleResubscribe();
        return;
      }
      for (BackendConn* conn : n.conns) addToBatch(&batches, conn, n.name);
    }
    plan.emplace_back(space, std::move(batches));
  }
  for (const auto& [space, batches] : plan) {
    for (const auto& [conn, names] : batches) {
      sendBatch(conn, space, false, names, nullptr);
      Expect& last = find(conn)->expected.back();
      for (Waiting& w : waiting_) {
        last.waiters.push_back(w.req);
        ++w.awaiting;
      }
    }
  }
  std::vector<Request*> ready;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->awaiting == 0) {  // nothing left to subscribe to
      ready.push_back(it->req);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  maybeLeaveSubscribedMode();
  complete(ready);
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

// In request order, behind replies still waiting for a node.
void PubSubSession::ping(const resp::Command& cmd) {
  std::string out;
  resp::appendArrayHeader(out, 2);
  resp::appendBulk(out, "pong");
  resp::appendBulk(out, cmd.argc() > 1 ? cmd.arg(1) : std::string_view());
  session_.replyNow(out);
}

void PubSubSession::release(bool closing) {
  released_ = true;
  std::vector<Request*> ready;
  for (const Waiting& w : waiting_) ready.push_back(w.req);
  waiting_.clear();
  closeSubs();
  for (auto& names : names_) names.clear();
  backlog_.clear();
  if (closing) {
    for (Request* req : ready) req->done = true;  // the closing session recycles them
    return;
  }
  complete(ready);
}

void PubSubSession::onConnClosed(BackendConn* conn) {
  Sub* sub = find(conn);
  if (sub == nullptr) return;
  sub->conn = nullptr;
  for (auto& names : names_) {
    for (Name& n : names) std::erase(n.conns, conn);
  }
  scheduleResubscribe();
}

void PubSubSession::onTopologyChanged() {
  for (Space space : {kChannels, kPatterns}) {
    for (const Name& n : names_[space]) {
      if (n.name.starts_with("__key")) {
        scheduleResubscribe();
        return;
      }
    }
  }
}

void PubSubSession::flushBacklog() {
  if (backlog_.empty() || !session_.pending_.empty()) return;
  session_.out_.buffer().append(backlog_);
  backlog_.clear();
  session_.services_.host.markClientDirty(&session_);
}

}  // namespace slotwise::proxy
