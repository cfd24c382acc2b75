// ClientSession: one downstream client connection on a worker.
//
//   client bytes ──► in_ (or the worker's shared read buffer) ──► RequestParser ──► route()
//                                                                                     │
//        ┌──────────────────────── pending_ FIFO (request order) ◄────────────────────┤
//        │  head ... tail                                                             ▼
//        │                                       Worker::forward ──► BackendConn in-flight FIFO
//        │                                              ▲                  │ reply (raw bytes)
//        │                        MOVED/ASK/TRYAGAIN ───┘ (re-enters here) │
//        ▼                                                                 ▼
//   out_ ◄── head's reply, then every completed successor ◄── onReply(req, bytes)
//
// Replies leave in request order: a reply for the FIFO head goes straight to out_; a reply for a
// later request is stored in the Request until everything ahead of it has been written.
// Backpressure: reading stops while pending requests or buffered output exceed the limits and
// resumes below half of them.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/io/byte_buffer.h"
#include "proxy/local/local_commands.h"
#include "proxy/datapath/pubsub_state.h"
#include "proxy/datapath/request.h"
#include "proxy/io/writer.h"
#include "resp/reply_scanner.h"
#include "resp/request_parser.h"
#include "router/router.h"

namespace slotwise::proxy {

class BackendConn;
class Worker;

class ClientSession {
 public:
  ClientSession(Worker& worker, uint32_t id);
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Adopts the accepted socket and starts reading. On failure returns a libuv error; the caller
  // then calls close(), which also releases the socket.
  int open(int fd);
  // Same, accepting the next connection of a listening stream on this loop (reuseport mode).
  int accept(uv_stream_t* server);
  // Delivers the reply of one of this client's requests (called by Worker::complete).
  void onReply(Request* req, std::string_view bytes);
  // Writes buffered output and resumes reading when below the low-water marks; called by the
  // worker once per loop turn while the session is dirty.
  void flush();
  // Closes at once. Requests still on the network side become orphans. The session deletes itself
  // after libuv's close callback.
  void close();
  // Shutdown: stop reading, close once every pending reply has been written.
  void drain();
  // Answers `message` as an error and closes (e.g. max clients reached).
  void rejectAndClose(std::string_view message);

  // A dedicated connection of this client is closing (its requests fail right after).
  void onDedicatedClosed(BackendConn* conn);
  // A request of the open transaction got MOVED/ASK: the transaction is aborted.
  void onTransactionRedirect();
  // The blocking command now waits on `conn` (first send or after a redirect).
  void useBlockingConn(BackendConn* conn);
  // A frame from one of this client's subscriber connections (client_session_pubsub.cc).
  void onPush(BackendConn* conn, std::string_view frame, const resp::ReplyInfo& info);
  // Subscribes again on the current map's nodes (after a failover or a moved shard channel).
  void resubscribe();

  uint32_t id() const { return id_; }
  // True when the client has sent nothing for `timeout_ms` and waits for no reply.
  bool idleSince(uint64_t now, uint64_t timeout_ms) const {
    return pending_.empty() && now - last_active_ms_ >= timeout_ms;
  }
  // Observability gauges: waiting for a blocking command's reply; in pub/sub mode.
  bool blocked() const { return blocked_req_ != nullptr; }
  bool inPubSub() const { return subscribed(); }
  bool dirty = false;       // in the worker's flush list
  size_t index = 0;         // position in the worker's session list

 private:
  int startReading();
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onWriteDone(void* owner, int status);
  static void onClosed(uv_handle_t* h);

  size_t consume(std::string_view data);
  void dispatch(const resp::Command& cmd);
  void forwardToCluster(const resp::Command& cmd, const router::RouteDecision& d);
  void dispatchWholeCluster(const resp::Command& cmd, const router::RouteDecision& d);
  void startFanOut(const resp::Command& cmd, const router::RouteDecision& d);
  // INFO with the keyspace section: `proxy_text` plus the masters' keyspaces (buildInfoFanOut).
  void startInfoFanOut(std::string proxy_text);
  Request* newFanOutParent(const router::CommandInfo* info);
  void launchFanOut(Request* parent, std::vector<Request*>& parts);
  void rememberScript(const resp::Command& cmd, const router::CommandInfo& info);
  Request* newRequest(const resp::Command& cmd, const router::RouteDecision& d);
  // Blocking commands (client_session_txn.cc).
  static bool isBlocking(const resp::Command& cmd, const router::CommandInfo& info);
  void forwardBlocking(const resp::Command& cmd, const router::RouteDecision& d);
  // Transactions (client_session_txn.cc).
  void handleTransaction(const resp::Command& cmd, const router::RouteDecision& d);
  void handleInMulti(const resp::Command& cmd, const router::RouteDecision& d);
  void sendPinned(const resp::Command& cmd, const router::RouteDecision& d);
  bool pinTransaction(int32_t slot);
  void sendInternal(std::string_view payload);
  void endTransaction(bool reusable);
  void releaseDedicatedConns();
  void resumeInput();
  // Pub/Sub (client_session_pubsub.cc).
  bool subscribed() const;
  void handlePubSub(const resp::Command& cmd, const router::RouteDecision& d);
  BackendConn* subscriberConn(int32_t slot, bool report);
  void pushToClient(std::string_view frame);
  void maybeLeaveSubscribedMode();
  void scheduleResubscribe();
  static bool allowedWhileSubscribed(const resp::Command& cmd);
  void pingWhileSubscribed(const resp::Command& cmd);
  void releasePubSub();
  void onPubSubConnClosed(BackendConn* conn);
  void flushPushBacklog();
  void replyNow(std::string_view bytes);
  void replyError(std::string_view message);
  void handleLocal(const resp::Command& cmd);
  // Adds `req`, which took `elapsed_ns` from parse to reply, to the worker's slow log.
  void recordSlow(Request* req, uint64_t elapsed_ns);
  // AUTH against auth.password (and HELLO ... AUTH). Returns true if `cmd` was handled here.
  bool handleAuth(const resp::Command& cmd, const router::RouteDecision& d);
  void protocolError(std::string_view message);
  void stopReading();
  bool overHighWater() const;
  bool belowLowWater() const;
  void closeWhenDone();

  Worker& worker_;
  uv_tcp_t handle_{};
  ByteBuffer in_;
  Writer out_;
  resp::RequestParser parser_;
  PendingQueue pending_;
  LocalClientState local_;
  // Blocking command in flight on its own connection: later input is buffered (reading goes on, to
  // notice a disconnect) but not parsed until it ends.
  Request* blocked_req_ = nullptr;
  BackendConn* blocking_conn_ = nullptr;
  // Transaction: MULTI and later commands go to txn_conn_, pinned to txn_slot_ (-1 = any master)
  // once the first key decides it; until then they wait in txn_held_.
  BackendConn* txn_conn_ = nullptr;
  std::vector<std::string> txn_held_;  // commands queued before the slot was known
  int32_t txn_slot_ = -1;
  bool in_multi_ = false;
  bool watching_ = false;
  bool txn_aborted_ = false;
  bool txn_pinned_ = false;
  static bool checkCredentials(const config::AuthConfig& auth, std::string_view user,
                               std::string_view password, const config::UserConfig** named);
  bool authenticated_ = true;   // false until AUTH when auth.password or auth.users is set
  uint16_t identity_ = 0;       // backend credentials of the logged-in user (Worker::identityFor)
  uint32_t auth_failures_ = 0;
  std::unique_ptr<PubSubState> pubsub_;  // only for clients that ever subscribed
  const uint32_t id_;
  uint64_t last_active_ms_ = 0;  // uv_now() of the last read
  bool open_ = false;
  bool reading_ = false;        // uv_read_start is active
  bool paused_ = false;         // backpressure: stop parsing and reading
  bool resume_parse_ = false;   // buffered input waits for the next flush() to be parsed
  bool close_after_flush_ = false;  // QUIT, protocol error, EOF, drain
  bool closing_ = false;
};

}  // namespace slotwise::proxy
