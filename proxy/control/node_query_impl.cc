#include "proxy/control/node_query_impl.h"

#include <memory>
#include <optional>
#include <string_view>

#include "common/host_port.h"
#include "proxy/io/net_util.h"
#include "proxy/io/uv_handle.h"
#include "proxy/io/writer.h"
#include "resp/encoder.h"
#include "resp/value_decoder.h"

namespace slotwise::proxy {
namespace {

// One query: connect, write, read one reply, close. Deletes itself after both handles closed.
class QueryOp {
 public:
  QueryOp(uv_loop_t* loop, std::string address, router::NodeQuery::Callback cb, TlsSettings tls)
      : loop_(loop),
        address_(std::move(address)),
        cb_(std::move(cb)),
        tls_settings_(std::move(tls)),
        out_(this, &QueryOp::onWriteDone) {
    tcp_.data = timer_.data = this;
  }

  void start(const std::vector<std::string>& auth, const std::vector<std::string>& args,
             uint64_t timeout_ms) {
    if (!auth.empty()) {
      std::vector<std::string_view> views(auth.begin(), auth.end());
      resp::appendCommand(request_, std::span<const std::string_view>(views));
      skip_replies_ = 1;
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    resp::appendCommand(request_, std::span<const std::string_view>(views));
    uv_tcp_init(loop_, &tcp_);
    uv_timer_init(loop_, &timer_);
    uv_timer_start(&timer_, [](uv_timer_t* t) {
      static_cast<QueryOp*>(t->data)->finish(Result<resp::RespValue>::error("timed out"));
    }, timeout_ms, 0);
    const std::optional<HostPort> target = HostPort::parse(address_);
    if (!target) {
      finish(Result<resp::RespValue>::error("bad address '" + address_ + "'"));
      return;
    }
    lifetime_.expect();
    connectTcp(loop_, &tcp_, target->host, target->port, [this](int status) {
      if (!lifetime_.arrived()) onConnect(status);
    });
  }

 private:
  void onConnect(int status) {
    if (done_) return;
    if (status < 0) {
      finish(Result<resp::RespValue>::error(std::string("connect: ") + uv_strerror(status)));
      return;
    }
    if (tls_settings_.ctx) {
      tls_ = std::make_unique<TlsSession>(tls_settings_.ctx, TlsSession::Role::kClient,
                                          tls_settings_.server_name);
      if (!tls_->valid()) {
        finish(Result<resp::RespValue>::error(tls_->error()));
        return;
      }
      out_.setTls(tls_.get());
    }
    out_.buffer() = std::move(request_);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_),
                  [](uv_handle_t* h, size_t suggested, uv_buf_t* b) {
                    auto* self = static_cast<QueryOp*>(h->data);
                    size_t size = suggested;
                    char* p = nullptr;
                    if (self->tls_) {
                      p = TlsSession::readBuffer(&size);
                    } else {
                      self->chunk_.resize(suggested);
                      p = self->chunk_.data();
                    }
                    *b = uv_buf_init(p, static_cast<unsigned>(size));
                  },
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                    static_cast<QueryOp*>(s->data)->onRead(n, b);
                  });
    flush();
  }

  // Writes the request (after the TLS handshake, whose records go out the same way).
  void flush() {
    if (done_) return;
    const int rc = out_.flush(reinterpret_cast<uv_stream_t*>(&tcp_));
    if (rc < 0) writeFailed(rc);
  }

  void writeFailed(int rc) {
    finish(Result<resp::RespValue>::error("write: " + out_.describe(rc)));
  }

  static void onWriteDone(void* owner, int status) {
    auto* self = static_cast<QueryOp*>(owner);
    if (status < 0) self->writeFailed(status);
    else self->flush();
  }

  void onRead(ssize_t n, const uv_buf_t* b) {
    if (done_) return;
    if (n < 0) {
      finish(Result<resp::RespValue>::error(std::string("read: ") + uv_strerror(static_cast<int>(n))));
      return;
    }
    if (tls_) {
      if (!decrypt(b->base, static_cast<size_t>(n))) return;
      flush();
    } else {
      reply_.append(b->base, static_cast<size_t>(n));
    }
    while (!done_) {
      resp::RespValue value;
      size_t consumed = 0;
      resp::ScanStatus st = decoder_.decode(reply_, &value, &consumed);
      if (st == resp::ScanStatus::kNeedMore) return;
      if (st == resp::ScanStatus::kError) {
        finish(Result<resp::RespValue>::error("bad reply: " + decoder_.error()));
        return;
      }
      reply_.erase(0, consumed);
      if (skip_replies_ == 0) {
        finish(std::move(value));
      } else if (value.isError()) {  // the AUTH before the query failed
        finish(Result<resp::RespValue>::error("AUTH failed: " + value.str));
      } else {
        --skip_replies_;
      }
    }
  }

  // Appends what the TLS session can decrypt to reply_. False when the query failed.
  bool decrypt(const char* data, size_t n) {
    tls_->feed(data, n);
    char plain[16 * 1024];
    for (;;) {
      const long got = tls_->read(plain, sizeof(plain));
      if (got > 0) {
        reply_.append(plain, static_cast<size_t>(got));
        continue;
      }
      if (got == TlsSession::kNeedMore) return true;
      finish(Result<resp::RespValue>::error(got == TlsSession::kClosed
                                                ? std::string("TLS: closed by the node")
                                                : "TLS: " + tls_->error()));
      return false;
    }
  }

  void finish(Result<resp::RespValue> result) {
    if (done_) return;
    done_ = true;
    auto cb = std::move(cb_);
    lifetime_.close(reinterpret_cast<uv_handle_t*>(&timer_));
    lifetime_.close(reinterpret_cast<uv_handle_t*>(&tcp_));
    lifetime_.release();  // deleted once both handles closed and the connect callback ran
    cb(std::move(result));
  }

  uv_loop_t* loop_;
  std::string address_;
  router::NodeQuery::Callback cb_;
  TlsSettings tls_settings_;
  std::unique_ptr<TlsSession> tls_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  Writer out_;
  std::string request_;
  std::string reply_;
  resp::ValueDecoder decoder_;
  std::string chunk_;
  int skip_replies_ = 0;  // replies of commands sent before the query (AUTH)
  bool done_ = false;
  DeferredDelete lifetime_{this};
};

}  // namespace

void NodeQueryImpl::query(const std::string& address, std::vector<std::string> args,
                          Callback callback) {
  auto* op = new QueryOp(loop_, address, std::move(callback),
                         tls_ != nullptr ? tls_->get() : TlsSettings{});
  op->start(auth_args_, args, static_cast<uint64_t>(timeout_.count()));
}

}  // namespace slotwise::proxy
