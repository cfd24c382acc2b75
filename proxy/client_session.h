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
#include <string_view>

#include "proxy/byte_buffer.h"
#include "proxy/local_commands.h"
#include "proxy/request.h"
#include "proxy/writer.h"
#include "resp/request_parser.h"
#include "router/router.h"

namespace slotwise::proxy {

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

  uint32_t id() const { return id_; }
  // True when the client has sent nothing for `timeout_ms` and waits for no reply.
  bool idleSince(uint64_t now, uint64_t timeout_ms) const {
    return pending_.empty() && now - last_active_ms_ >= timeout_ms;
  }
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
  void replyNow(std::string_view bytes);
  void replyError(std::string_view message);
  void handleLocal(const resp::Command& cmd);
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
  const uint32_t id_;
  uint64_t last_active_ms_ = 0;  // uv_now() of the last read
  bool open_ = false;
  bool reading_ = false;        // uv_read_start is active
  bool paused_ = false;         // backpressure: stop parsing and reading
  bool close_after_flush_ = false;  // QUIT, protocol error, EOF, drain
  bool closing_ = false;
};

}  // namespace slotwise::proxy
