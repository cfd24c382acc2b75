// ClientSession: one downstream client connection on a worker.
//
//   client bytes ──► in_ (or the worker's shared read buffer) ──► RequestParser ──► route()
//                                                                                     │
//        ┌──────────────────────── pending_ FIFO (request order) ◄────────────────────┤
//        │  head ... tail                                                             ▼
//        │                                   Dispatcher::forward ──► BackendConn in-flight FIFO
//        │                                              ▲                  │ reply (raw bytes)
//        │                 MOVED/ASK/TRYAGAIN (policy) ─┘ (re-enters here) │
//        ▼                                                                 ▼
//   out_ ◄── head's reply, then every completed successor ◄── onReply(req, bytes)
//
// Replies leave in request order: a reply for the FIFO head goes straight to out_; a reply for a
// later request is stored in the Request until everything ahead of it has been written.
// Backpressure: reading stops while pending requests or buffered output exceed the limits and
// resumes below half of them. Commands that need a connection of their own keep their state in
// objects the session owns: Transaction (MULTI/WATCH), BlockingCall (BLPOP & co.) and
// PubSubSession (subscriber mode). Files: client_session.cc (I/O, FIFO), session_commands.cc
// (local commands, AUTH, fan-out, blocking), transaction.cc, pubsub_session.cc.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/migration_gate.h"
#include "proxy/datapath/pubsub_session.h"
#include "proxy/datapath/request.h"
#include "proxy/datapath/session_host.h"
#include "proxy/datapath/transaction.h"
#include "proxy/io/byte_buffer.h"
#include "proxy/io/tls.h"
#include "proxy/io/uv_handle.h"
#include "proxy/io/writer.h"
#include "proxy/local/local_commands.h"
#include "resp/request_parser.h"
#include "router/router.h"

namespace slotwise::proxy {

class ClientSession final : public RequestOwner, public ConnOwner {
 public:
  // `services` (the worker's) outlives the session.
  ClientSession(SessionServices& services, uint32_t id);
  ~ClientSession() override;
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // Adopts the accepted socket and starts reading. On failure returns a libuv error; the caller
  // then calls close(), which also releases the socket. With `tls` the client speaks TLS (the
  // server side of the handshake runs on the first reads).
  int open(int fd, const TlsContextPtr& tls = nullptr);
  // Same, accepting the next connection of a listening stream on this loop (reuseport mode).
  int accept(uv_stream_t* server, const TlsContextPtr& tls = nullptr);
  // Writes buffered output and resumes reading when below the low-water marks; called by the
  // worker once per loop turn while the session is dirty.
  void flush();
  // Closes at once. Requests still on the network side become orphans. The session deletes itself
  // after libuv's close callback (DeferredDelete).
  void close();
  // Shutdown: stop reading, close once every pending reply has been written.
  void drain() { closeWhenDone(); }
  // Answers `message` as an error and closes (e.g. max clients reached).
  void rejectAndClose(std::string_view message);
  // Subscribes again on the current topology's nodes (after a failover or a moved shard channel).
  void resubscribe();
  // CLIENT PAUSE ended: the command that waited is parsed again on the next flush.
  void resumeAfterPause();
  // The slot map changed: subscriptions that follow slots (keyspace notifications) move.
  void onTopologyChanged() {
    if (pubsub_ && !closing_) pubsub_->onTopologyChanged();
  }

  // RequestOwner
  void onReply(Request* req, std::string_view bytes) override;
  void onTransactionRedirect() override { txn_.onRedirect(); }
  void useBlockingConn(BackendConn* conn) override;
  ConnOwner* connOwner() override { return this; }
  // ConnOwner
  void onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info) override;
  void onOwnedConnClosed(BackendConn& conn) override;

  uint32_t id() const { return id_; }
  // True when the client has sent nothing for `timeout_ms` and waits for no reply.
  bool idleSince(uint64_t now, uint64_t timeout_ms) const {
    return pending_.empty() && now - last_active_ms_ >= timeout_ms;
  }
  // True for a TLS client whose handshake has not finished `timeout_ms` after it connected.
  bool handshakeOverdue(uint64_t now, uint64_t timeout_ms) const {
    return tls_ && !tls_->handshakeDone() && now - opened_ms_ >= timeout_ms;
  }
  // Observability gauges: waiting for a blocking command's reply; in pub/sub mode.
  bool blocked() const { return blocking_.req != nullptr; }
  bool inPubSub() const { return pubsub_ != nullptr && pubsub_->subscribed(); }
  // CLIENT UNBLOCK of this client (client_unblock.cc): asks the node of its blocking command to
  // unblock it; `done` gets the node's reply (:1 / :0, or an error). False, and `done` is not
  // called, when no blocking command is known to wait on the node.
  bool unblockOnNode(bool error, std::function<void(std::string)> done);
  // This client's CLIENT LIST / CLIENT INFO row (session_commands.cc).
  ClientRow row() const;
  // CLIENT KILL: closes at once, or after the pending replies when the client killed itself
  // (`self`), as Redis does.
  void kill(bool self) {
    if (self) closeWhenDone();
    else close();
  }
  bool dirty = false;  // in the worker's flush list
  size_t index = 0;    // position in the worker's session list

 private:
  friend class Transaction;
  friend class PubSubSession;

  // A blocking command in flight on its own connection: later input is buffered (reading goes
  // on, to notice a disconnect) but not parsed until it ends.
  struct BlockingCall {
    Request* req = nullptr;
    BackendConn* conn = nullptr;
    bool unblock_sent = false;  // CLIENT UNBLOCK asked its node: the connection is not reused
  };

  int startReading(const TlsContextPtr& tls);
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  // Parses `n` plaintext bytes at `data`: the worker's shared read buffer (`scratch`), whose
  // unparsed tail is copied into in_, or in_'s own tail.
  void onInput(char* data, size_t n, bool scratch);
  // The input ended (EOF, or an error when `error`).
  void onInputEnd(bool error);
  // TLS: decrypts what the socket delivered and parses it.
  void onCipherInput(const char* data, size_t n);
  static void onWriteDone(void* owner, int status);
  size_t consume(std::string_view data);
  // Runs `cmd`; false when it must wait for its keys to leave the migration source (the frame is
  // then left unconsumed and parsed again once the moves are done).
  bool dispatch(const resp::Command& cmd);
  // Online migration: true when `cmd` may run now; else its keys' moves were started.
  bool keysInPlace(const resp::Command& cmd, const router::RouteDecision& d);
  void onKeysMoved(std::string error);
  // Subscriber mode (RESP2): only (un)subscribe commands, PING, QUIT and RESET. @return true when
  // `cmd` was answered here.
  bool refusedWhileSubscribed(const resp::Command& cmd, const router::RouteDecision& d);
  Request* newRequest(const resp::Command& cmd, const router::RouteDecision& d);
  // Appends `req` to the client's reply FIFO (silent while CLIENT REPLY drops replies).
  void enqueue(Request* req) {
    req->silent = silent_;
    pending_.push(req);
  }
  // WATCH, UNWATCH and EXEC go on the transaction's own connection: the client's next commands,
  // which go on the shared ones, are parsed once `req` was answered, so they cannot overtake it
  // (a write after EXEC seen before the transaction, a GET that misses it). Null: no hold.
  void holdInputUntilReply(Request* req) { txn_end_ = req; }
  // CLIENT REPLY ON|OFF|SKIP (client_admin.cc).
  void clientReply(const resp::Command& cmd);
  void forwardToCluster(const resp::Command& cmd, const router::RouteDecision& d);
  void replyNow(std::string_view bytes);
  void replyError(std::string_view message);
  void resumeInput();
  void protocolError(std::string_view message);
  void stopReading();
  bool overHighWater() const;
  bool belowLowWater() const;
  void closeWhenDone();
  void releaseDedicatedConns();

  // session_commands.cc
  void dispatchWholeCluster(const resp::Command& cmd, const router::RouteDecision& d);
  void startFanOut(const resp::Command& cmd, const router::RouteDecision& d);
  // INFO with sections the masters hold: `proxy_text` plus the masters' `node_sections`
  // (buildInfoFanOut).
  void startInfoFanOut(std::string proxy_text, const std::vector<std::string_view>& node_sections);
  Request* newFanOutParent(const router::CommandInfo* info);
  void launchFanOut(Request* parent, std::vector<Request*>& parts);
  FanOutContext fanOutContext();
  void rememberScript(const resp::Command& cmd, const router::CommandInfo& info);
  static bool isBlocking(const resp::Command& cmd, const router::CommandInfo& info);
  void forwardBlocking(const resp::Command& cmd, const router::RouteDecision& d);
  void endBlocking();
  void handlePubSub(const resp::Command& cmd, const router::RouteDecision& d);
  void handleLocal(const resp::Command& cmd);
  // CLIENT UNBLOCK <id> [TIMEOUT|ERROR] (client_unblock.cc).
  void clientUnblock(const resp::Command& cmd, const router::RouteDecision& d);
  // CLIENT LIST / CLIENT KILL over the clients of every worker (client_admin.cc).
  void clientsOfProxy(const resp::Command& cmd, const router::RouteDecision& d);
  // CLIENT PAUSE: true when the command `d` must wait (reading stops until it ends).
  bool waitsForUnpause(const router::RouteDecision& d);
  // Adds `req`, which took `elapsed_ns` from parse to reply, to the worker's slow log.
  void recordSlow(Request* req, uint64_t elapsed_ns);
  static bool isScriptCall(const router::CommandInfo& info);
  void watchKeys(KeyWatchShard& watch, const resp::Command& cmd, const router::RouteDecision& d);
  void recordBigReply(KeyWatchShard& watch, const Request& req, size_t bytes);
  // MONITOR: feeds this command to the monitors; starts or stops this client's monitoring.
  void feedMonitors(MonitorHub& hub, const resp::Command& cmd, const router::RouteDecision& d);
  void startMonitor();
  void stopMonitor();
  // AUTH against auth.password / auth.users (and HELLO ... AUTH). Returns true if `cmd` was
  // handled here.
  bool handleAuth(const resp::Command& cmd, const router::RouteDecision& d);

  SessionServices& services_;
  uv_tcp_t handle_{};
  std::unique_ptr<TlsSession> tls_;  // TLS clients only
  ByteBuffer in_;
  Writer out_;
  resp::RequestParser parser_;
  PendingQueue pending_;
  LocalClientState local_;
  BlockingCall blocking_;
  Transaction txn_{*this};
  std::unique_ptr<PubSubSession> pubsub_;  // only for clients that ever subscribed
  bool authenticated_ = true;  // false until AUTH when auth.password or auth.users is set
  uint16_t identity_ = 0;      // backend credentials of the logged-in user (identityFor)
  uint32_t auth_failures_ = 0;
  const uint32_t id_;
  uint64_t last_active_ms_ = 0;  // uv_now() of the last read
  uint64_t opened_ms_ = 0;       // uv_now() when the connection was adopted
  // CLIENT REPLY: kSkipNext is SKIP's own command, kSkip the command after it (Redis's flags).
  enum class ReplyMode : uint8_t { kOn, kOff, kSkip, kSkipNext };
  ReplyMode reply_mode_ = ReplyMode::kOn;
  Request* txn_end_ = nullptr;   // holdInputUntilReply
  bool silent_ = false;          // the command being dispatched gets no reply (CLIENT REPLY)
  uint64_t monitor_id_ = 0;      // MonitorHub id while this client monitors (0: not)
  bool open_ = false;
  bool tls_established_ = false;    // TLS handshake finished (counted)
  bool reading_ = false;            // uv_read_start is active
  bool paused_ = false;             // backpressure: stop parsing and reading
  bool resume_parse_ = false;       // buffered input waits for the next flush() to be parsed
  bool close_after_flush_ = false;  // QUIT, protocol error, EOF, drain
  bool pause_wait_ = false;         // a command waits for CLIENT PAUSE to end
  bool closing_ = false;
  // Online migration: the moves the next command waits for; then the outcome for that command
  // (moved_: run it, even if some key was evicted from the gate's cache meanwhile; or the error).
  MigrationGate::Batch* moving_ = nullptr;
  bool moved_ = false;
  bool eof_while_moving_ = false;
  std::string move_error_;
  DeferredDelete lifetime_{this};  // deletes the session after its socket closed
};

}  // namespace slotwise::proxy
