// BackendConn: one pipelined upstream connection from a worker to one cluster node.
//
// Requests are appended to the write buffer and linked into the in-flight FIFO in send order;
// replies come back in the same order (Redis answers each connection in order), so the head of the
// FIFO owns the next framed reply. Replies are framed with resp::ReplyScanner and copied to the
// client as raw bytes; nothing is decoded on this path except MOVED/ASK/TRYAGAIN error lines.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <string>

#include "proxy/io/byte_buffer.h"
#include "proxy/stats/proxy_metrics.h"
#include "proxy/datapath/request.h"
#include "proxy/io/writer.h"
#include "resp/reply_scanner.h"

namespace slotwise::proxy {

class ClientSession;
class Worker;

class BackendConn {
 public:
  enum class State : uint8_t { kConnecting, kConnected, kClosing };

  // The object deletes itself after close() completes; the worker learns of it through
  // Worker::onBackendClosed before that.
  // `proto` 3 makes it a RESP3 connection (HELLO 3 first), for RESP3 clients. `identity` names
  // the credentials it authenticates with (Worker::credentialsOf).
  BackendConn(Worker& worker, std::string host, uint16_t port, std::string address,
              uint8_t proto = 2, uint16_t identity = 0);
  // Starts connecting. A connect that fails synchronously closes the connection (and calls
  // Worker::onBackendClosed) before this returns, so callers re-check their pointer.
  void connect();
  BackendConn(const BackendConn&) = delete;
  BackendConn& operator=(const BackendConn&) = delete;

  // Queues `req` (its payload, preceded by ASKING if req->asking) and takes it onto the network
  // side. REQUIRES: usable().
  void enqueue(Request* req);
  // Writes queued bytes; called by the worker once per loop turn for dirty connections.
  void flush();
  // Fails the connection if a connect or a reply is overdue. `now` is uv_now().
  void checkTimeouts(uint64_t now);
  // Closes the connection: unsent requests are parked for retry, sent ones fail.
  void close(bool report_failure);

  bool usable() const { return state_ != State::kClosing; }

  // Dedicated use (transactions, blocking commands): the connection is outside the shared pool and
  // belongs to one client; `owner` is told (onDedicatedClosed) before its requests fail.
  // Also keeps the worker's dedicated-connections-in-use gauge (owned ones) up to date.
  void setOwner(ClientSession* owner);
  // Blocking commands wait as long as the command says, not backend.request_timeout_ms.
  void setRequestTimeout(bool enabled) { timeout_enabled_ = enabled; }
  // Subscriber connection: every frame the node sends goes to the owner (onPush), unmatched.
  void setPushMode() {
    push_mode_ = true;
    timeout_enabled_ = false;
  }
  // Writes raw RESP bytes (push mode: SUBSCRIBE and friends, answered by push frames).
  void sendRaw(std::string_view bytes);
  // Hand back to the worker's idle list once every in-flight reply has arrived.
  void releaseWhenIdle() { release_when_idle_ = true; }
  bool dedicated = false;
  const std::string& address() const { return address_; }
  // Key of the worker's idle list of dedicated connections: the address, plus the protocol.
  std::string idleKey() const { return dedicatedKey(address_, proto_, identity_); }
  // The idle-pool key of a dedicated connection: node, protocol and credentials.
  static std::string dedicatedKey(const std::string& address, uint8_t proto, uint16_t identity) {
    std::string key = proto == 3 ? address + "#3" : address;
    return identity == 0 ? key : key + "@" + std::to_string(identity);
  }
  size_t inflight() const { return inflight_.size(); }
  bool dirty = false;  // in the worker's flush list

 private:
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onWriteDone(void* owner, int status);
  static void onClosed(uv_handle_t* h);
  void onConnect(int status);
  void processReplies();
  void handleReply(Request* req, const resp::ReplyInfo& info, std::string_view bytes);
  void failAll(std::string_view sent_error);
  void maybeDelete();
  void sendAuth();
  // Puts an internal request (reply dropped; logged when `auth` and an error) at the front.
  void prependInternal(std::initializer_list<std::string_view> args, bool auth);
  void noteClosed(State previous, bool failure);

  Worker& worker_;
  uv_tcp_t handle_{};
  std::string host_;
  uint16_t port_;
  std::string address_;
  State state_ = State::kConnecting;
  ByteBuffer in_;
  Writer out_;
  resp::ReplyScanner scanner_;
  OutQueue inflight_;
  size_t unsent_ = 0;        // requests at the tail of inflight_ not yet handed to the socket
  uint64_t last_progress_ms_ = 0;  // connect start, last reply, or first request after idle
  ClientSession* owner_ = nullptr;
  uint8_t proto_ = 2;
  uint16_t identity_ = 0;
  bool timeout_enabled_ = true;
  bool release_when_idle_ = false;
  bool push_mode_ = false;
  bool connect_pending_ = true;    // connectTcp's callback has not run yet
  bool handle_closed_ = false;     // uv_close completed
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
