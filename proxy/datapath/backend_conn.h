// BackendConn: one pipelined upstream connection from a worker to one backend node.
//
// Requests are appended to the write buffer and linked into the in-flight FIFO in send order;
// replies come back in the same order (Redis answers each connection in order), so the head of the
// FIFO owns the next framed reply. Replies are framed with resp::ReplyScanner and handed on as raw
// bytes; nothing is decoded here. What a reply or a failure means for the request (MOVED, ASK,
// TRYAGAIN, a lost connection...) is not this class's business: it reports through
// BackendCallbacks and the dispatcher applies the retry policy (retry_policy.h). This header
// includes neither the worker nor the client session.
#pragma once

#include <spdlog/common.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/datapath/request.h"
#include "proxy/io/byte_buffer.h"
#include "proxy/io/tls.h"
#include "proxy/io/uv_handle.h"
#include "proxy/io/writer.h"
#include "proxy/stats/proxy_metrics.h"
#include "resp/reply_scanner.h"

namespace slotwise::proxy {

class BackendConn;

// Why requests get no reply from a connection.
enum class ConnFailure : uint8_t {
  kLost,     // the connection closed (EOF, reset, write error, protocol error, connect failure)
  kTimeout,  // the node did not answer within backend.request_timeout_ms
};

// What happens to the requests of a connection (implemented by the Dispatcher, which applies the
// retry policy). Every call runs on the loop thread, from inside the connection's own callbacks:
// the callee may enqueue on `conn` or close it.
class BackendCallbacks {
 public:
  virtual ~BackendCallbacks() = default;
  // A framed reply for `req`. `req` was popped from the in-flight FIFO before this call, so the
  // callee owns it. `bytes` is valid during the call only.
  virtual void onReply(BackendConn& conn, Request* req, const resp::ReplyInfo& info,
                       std::string_view bytes) = 0;
  // `req` will get no reply from `conn`. `sent`: it had been handed to the socket (it may have
  // run on the node). The callee owns `req`.
  virtual void onRequestFailed(BackendConn& conn, Request* req, ConnFailure why, bool sent) = 0;
  // A failure worth counting against the node (refresh hint): connect refused or timed out, lost
  // connection, timeout.
  virtual void onNodeFailure(BackendConn& conn) = 0;
};

// What happens to the connection itself (implemented by the BackendPool that keeps it).
class ConnLifecycle {
 public:
  virtual ~ConnLifecycle() = default;
  // Bytes are queued: call conn.flush() once this loop turn (batches many clients' writes).
  virtual void onWritePending(BackendConn& conn) = 0;
  // `conn` is closing; called once, before its requests are failed. `connect_failed`: the node
  // never accepted this connection. The object deletes itself later (after uv_close).
  virtual void onClosing(BackendConn& conn, bool connect_failed) = 0;
  // A connection released with releaseWhenIdle() has received its last outstanding reply.
  virtual void onIdle(BackendConn& conn) = 0;
};

// What every connection of a worker shares. Owned by the BackendPool; outlives its connections.
struct BackendContext {
  uv_loop_t* loop = nullptr;
  BackendCallbacks* callbacks = nullptr;
  ConnLifecycle* lifecycle = nullptr;
  RequestPool* requests = nullptr;
  WorkerStats* stats = nullptr;
  const TlsContextSlot* tls = nullptr;  // backend.tls: every new connection uses TLS when set
};

// The client that holds a dedicated connection (transaction, blocking command, subscriber).
class ConnOwner {
 public:
  virtual ~ConnOwner() = default;
  // A frame pushed by the node on a subscriber connection (setPushMode).
  virtual void onPush(BackendConn& conn, std::string_view frame, const resp::ReplyInfo& info) = 0;
  // The owned connection is closing; its requests fail right after this call.
  virtual void onOwnedConnClosed(BackendConn& conn) = 0;
};

// How a connection introduces itself: protocol, credentials and READONLY, sent ahead of anything
// queued while connecting.
struct Handshake {
  uint8_t proto = 2;  // 3: HELLO 3 first (RESP3 connection for RESP3 clients)
  uint16_t identity = 0;  // index of the credentials (BackendPool::identityFor)
  std::string username;
  std::string password;
  bool readonly = false;  // send READONLY (backend.read_from allows replica reads)
};

class BackendConn {
 public:
  enum class State : uint8_t { kConnecting, kConnected, kClosing };

  // Loop-thread only. `context` outlives the connection. The object deletes itself after close()
  // completes (context.lifecycle->onClosing tells its owner first).
  BackendConn(const BackendContext& context, std::string host, uint16_t port, std::string address,
              Handshake handshake);
  BackendConn(const BackendConn&) = delete;
  BackendConn& operator=(const BackendConn&) = delete;

  // Starts connecting. A connect that fails synchronously closes the connection (and calls
  // onClosing) before this returns, so callers re-check their pointer.
  void connect();
  // Queues `req` (its payload, preceded by ASKING if req->asking) and takes it onto the network
  // side. REQUIRES: usable().
  void enqueue(Request* req);
  // Writes raw RESP bytes whose replies nobody waits for in the FIFO (subscriber connections).
  void sendRaw(std::string_view bytes);
  // Writes queued bytes; called once per loop turn for connections that reported onWritePending.
  void flush();
  // Fails the connection if a connect or a reply is overdue. `now` is uv_now(); timeouts in ms
  // (0 = none). While the oldest request in flight is a script (EVAL, FCALL...), which may run
  // long, script_timeout_ms applies instead of request_timeout_ms.
  void checkTimeouts(uint64_t now, uint64_t connect_timeout_ms, uint64_t request_timeout_ms,
                     uint64_t script_timeout_ms);
  // Closes the connection; every request in flight is reported through onRequestFailed.
  // `report_failure`: the close is a node failure (counted, reported through onNodeFailure).
  void close(bool report_failure);

  bool usable() const { return state_ != State::kClosing; }
  const std::string& address() const { return address_; }
  const std::string& host() const { return host_; }
  uint8_t proto() const { return handshake_.proto; }
  uint16_t identity() const { return handshake_.identity; }
  size_t inflight() const { return inflight_.size(); }

  // Dedicated use (transactions, blocking commands, pub/sub): the connection belongs to `owner`
  // (nullptr: to nobody), which is told before the connection closes. Keeps the
  // dedicated-connections-in-use gauge.
  void setOwner(ConnOwner* owner);
  ConnOwner* owner() const { return owner_; }
  // Blocking commands wait as long as the command says, not backend.request_timeout_ms.
  void setRequestTimeout(bool enabled) { timeout_enabled_ = enabled; }
  // Subscriber connection: every frame the node sends goes to the owner (onPush), unmatched.
  void setPushMode() {
    push_mode_ = true;
    timeout_enabled_ = false;
  }
  // Asks the node, once per connection, for this connection's client id (queued after what is
  // already queued): blocking commands use it for CLIENT UNBLOCK.
  void askClientId();
  // The node's CLIENT ID of this connection; 0 until its reply arrived.
  int64_t nodeClientId() const { return node_client_id_; }
  // Report onIdle once every in-flight reply has arrived.
  void releaseWhenIdle() { release_when_idle_ = true; }

  bool dedicated = false;  // outside the shared pool (BackendPool's bookkeeping)
  bool dirty = false;      // in the pool's flush list

 private:
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onWriteDone(void* owner, int status);
  void onConnect(int status);
  // TLS: decrypts what the socket delivered into in_. False when the connection was closed.
  bool decrypt(const char* data, size_t n);
  void processReplies();
  void recordLatency(const Request& req, uint64_t now_ns);
  void closeWith(ConnFailure why, bool report_failure);
  // Logs "backend <address>: <why>" at `level`, keeps `why` as the node's last error
  // (/api/backends) and closes the connection as failed.
  void failWith(spdlog::level::level_enum level, std::string why,
                ConnFailure kind = ConnFailure::kLost);
  void failAll(ConnFailure why);
  void sendHandshake();
  // Puts an internal request (reply dropped; logged when `auth` and an error) at the front.
  void prependInternal(std::initializer_list<std::string_view> args, bool auth);
  void noteClosed(State previous, bool failure);

  const BackendContext& ctx_;
  uv_tcp_t handle_{};
  std::string host_;
  uint16_t port_;
  std::string address_;
  Handshake handshake_;
  State state_ = State::kConnecting;
  std::unique_ptr<TlsSession> tls_;  // backend.tls
  bool tls_established_ = false;
  ByteBuffer in_;
  Writer out_;
  resp::ReplyScanner scanner_;
  OutQueue inflight_;
  std::string last_error_;         // why the connection failed (reported when it closes)
  size_t unsent_ = 0;              // requests at the tail of inflight_ not yet handed to the socket
  uint64_t last_progress_ms_ = 0;  // connect start, last reply, or first request after idle
  ConnOwner* owner_ = nullptr;
  bool timeout_enabled_ = true;
  bool release_when_idle_ = false;
  bool push_mode_ = false;
  bool client_id_asked_ = false;
  int64_t node_client_id_ = 0;
  DeferredDelete lifetime_{this};  // the socket's close and a pending connect
  // Metrics: this node's handles in the worker's shard. Backend latency is measured per write and
  // per read, not per request: each flush that hands requests to the socket records one batch
  // (how many requests, uv_hrtime() of the write), and every reply framed from one read is timed
  // against its request's batch with one clock reading.
  struct SentBatch {
    size_t count;
    uint64_t sent_ns;
  };
  NodeStats* node_stats_;
  std::deque<SentBatch> sent_batches_;
};

}  // namespace slotwise::proxy
