#include "proxy/control/sentinel_watch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <sstream>

#include "proxy/io/net_util.h"
#include "proxy/io/uv_handle.h"
#include "proxy/io/writer.h"
#include "resp/encoder.h"
#include "resp/value.h"
#include "resp/value_decoder.h"

namespace slotwise::proxy {
namespace {

void appendArgs(std::string& out, const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  resp::appendCommand(out, std::span<const std::string_view>(views));
}

// A pub/sub reply or message: a RESP2 array or RESP3 push whose first element names its kind.
bool isPubSubFrame(const resp::RespValue& v) {
  return (v.type == resp::ValueType::kArray || v.type == resp::ValueType::kPush) &&
         !v.elements.empty() && v.elements[0].isString();
}

}  // namespace

// One Sentinel: its address, the timer (reconnect delay, handshake deadline or PING period,
// depending on the state) and the current connection attempt, if any.
struct SentinelWatch::Link {
  SentinelWatch* watch = nullptr;
  HostPort target;
  std::string address;
  UvOwned<uv_timer_t> timer;
  Conn* conn = nullptr;     // owned by itself (DeferredDelete); detached by stop()
  bool subscribed = false;  // conn has confirmed every subscription
  bool failing = false;     // the last attempt failed (later failures log at debug level)
};

// One TCP connection to a Sentinel. Deletes itself once its handle has closed and every libuv
// callback it expects (connect, writes) has run; until then `link_` tells whether it still
// belongs to a started SentinelWatch.
class SentinelWatch::Conn {
 public:
  Conn(SentinelWatch* watch, Link* link)
      : watch_(watch), link_(link), out_(this, &Conn::onWriteDone) {
    tcp_.data = this;
  }

  void start() {
    uv_tcp_init(watch_->loop_, &tcp_);
    lifetime_.expect();
    connectTcp(watch_->loop_, &tcp_, link_->target.host, link_->target.port, [this](int status) {
      if (!lifetime_.arrived()) onConnect(status);
    });
  }

  // Closes without telling the link (stop()).
  void detach() {
    link_ = nullptr;
    close();
  }

  // Closes and tells the link (which schedules the next attempt).
  void fail(const std::string& reason) {
    if (closed_) return;
    close();
    if (link_ != nullptr) watch_->onConnClosed(*link_, reason, connected_);
  }

  bool subscribed() const { return subscribed_; }

  bool pingOutstanding() const { return ping_outstanding_; }
  void ping() {
    ping_outstanding_ = true;
    std::string out;
    resp::appendCommand(out, {"PING"});
    write(std::move(out));
  }

 private:
  void close() {
    if (closed_) return;
    closed_ = true;
    lifetime_.close(reinterpret_cast<uv_handle_t*>(&tcp_));
    lifetime_.release();  // deleted once the close and pending callbacks have run
  }

  void onConnect(int status) {
    if (closed_) return;
    if (status < 0) {
      fail(std::string("connect: ") + uv_strerror(status));
      return;
    }
    connected_ = true;
    ++watch_->stats_.connects;
    uv_tcp_nodelay(&tcp_, 1);
    if (watch_->options_.tls != nullptr) {
      if (TlsSettings tls = watch_->options_.tls->get(); tls.ctx) {
        tls_ = std::make_unique<TlsSession>(tls.ctx, TlsSession::Role::kClient, tls.server_name);
        if (!tls_->valid()) {
          fail(tls_->error());
          return;
        }
        out_.setTls(tls_.get());
      }
    }
    auth_pending_ = watch_->has_auth_;
    subscribe_pending_ = watch_->options_.channels.size();
    write(watch_->handshake_);
    if (closed_) return;
    const int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp_),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<Conn*>(h->data);
          size_t size = sizeof(self->chunk_);
          char* p = self->tls_ ? TlsSession::readBuffer(&size) : self->chunk_;
          *b = uv_buf_init(p, static_cast<unsigned>(size));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          static_cast<Conn*>(s->data)->onRead(n, b);
        });
    if (rc < 0) fail(std::string("read: ") + uv_strerror(rc));
  }

  void write(std::string_view data) {
    out_.buffer().append(data);
    flush();
  }

  // Hands queued bytes (and TLS handshake records) to the socket.
  void flush() {
    if (closed_) return;
    const int rc = out_.flush(reinterpret_cast<uv_stream_t*>(&tcp_));
    if (rc < 0) writeFailed(rc);
  }

  void writeFailed(int rc) { fail("write: " + out_.describe(rc)); }

  // Runs before the close callback when uv_close cancels the write (UV_ECANCELED).
  static void onWriteDone(void* owner, int status) {
    auto* self = static_cast<Conn*>(owner);
    if (self->closed_) return;
    if (status < 0) self->writeFailed(status);
    else self->flush();
  }

  // Appends what the TLS session can decrypt to in_. False when the connection failed.
  bool decrypt(const char* data, size_t n) {
    tls_->feed(data, n);
    for (;;) {
      const long got = tls_->read(chunk_, sizeof(chunk_));
      if (got > 0) {
        in_.append(chunk_, static_cast<size_t>(got));
        continue;
      }
      if (got == TlsSession::kNeedMore) break;
      fail(got == TlsSession::kClosed ? std::string("TLS connection closed by the sentinel")
                                      : "TLS: " + tls_->error());
      return false;
    }
    flush();  // handshake records, or the handshake's end releasing the queued commands
    return !closed_;
  }

  void onRead(ssize_t n, const uv_buf_t* b) {
    if (closed_) return;
    if (n < 0) {
      fail(n == UV_EOF ? std::string("connection closed by the sentinel")
                       : std::string("read: ") + uv_strerror(static_cast<int>(n)));
      return;
    }
    if (tls_) {
      if (!decrypt(b->base, static_cast<size_t>(n))) return;
    } else {
      in_.append(b->base, static_cast<size_t>(n));
    }
    size_t pos = 0;
    while (!closed_) {
      resp::RespValue value;
      size_t consumed = 0;
      const resp::ScanStatus st =
          decoder_.decode(std::string_view(in_).substr(pos), &value, &consumed);
      if (st == resp::ScanStatus::kNeedMore) break;
      if (st == resp::ScanStatus::kError) {
        fail("bad reply: " + decoder_.error());
        return;
      }
      pos += consumed;
      handle(value);  // may close this connection or stop the watch
    }
    if (!closed_) in_.erase(0, pos);
  }

  void handle(const resp::RespValue& v) {
    if (auth_pending_) {
      auth_pending_ = false;
      if (v.isError()) fail("AUTH failed: " + v.str);
      return;
    }
    if (v.isError()) {
      fail("error reply: " + v.str);
      return;
    }
    if (v.type == resp::ValueType::kSimpleString && v.str == "PONG") {  // outside pub/sub mode
      ping_outstanding_ = false;
      return;
    }
    if (!isPubSubFrame(v)) {
      fail("unexpected reply in subscribed mode");
      return;
    }
    const std::string& kind = v.elements[0].str;
    if (kind == "message" && v.elements.size() == 3) {
      // A message can precede the confirmations of later SUBSCRIBEs of the handshake; it is
      // on a channel already confirmed, so it counts.
      ++watch_->stats_.events;
      if (watch_->on_event_) watch_->on_event_(v.elements[1].str, v.elements[2].str);
    } else if (kind == "subscribe") {
      if (subscribe_pending_ > 0 && --subscribe_pending_ == 0) {
        subscribed_ = true;
        if (link_ != nullptr) watch_->onConnSubscribed(*link_);
      }
    } else if (kind == "pong") {
      ping_outstanding_ = false;
    }
  }

  SentinelWatch* watch_;
  Link* link_;
  uv_tcp_t tcp_{};
  std::unique_ptr<TlsSession> tls_;  // backend.tls
  Writer out_;
  char chunk_[16384];
  std::string in_;  // received bytes not yet decoded; starts at a frame boundary
  resp::ValueDecoder decoder_;
  bool auth_pending_ = false;
  size_t subscribe_pending_ = 0;
  bool connected_ = false;
  bool subscribed_ = false;
  bool ping_outstanding_ = false;
  bool closed_ = false;
  DeferredDelete lifetime_{this};
};

SentinelWatch::SentinelWatch(uv_loop_t* loop, std::vector<std::string> sentinel_addresses,
                             const std::vector<std::string>& auth_args, EventCallback on_event,
                             Options options)
    : loop_(loop),
      addresses_(std::move(sentinel_addresses)),
      has_auth_(!auth_args.empty()),
      on_event_(std::move(on_event)),
      options_(std::move(options)) {
  if (has_auth_) appendArgs(handshake_, auth_args);
  // Redis refuses a multibulk of more than 10 elements from a connection that is not yet
  // authenticated ("Protocol error: unauthenticated multibulk length"), so the channels go in
  // SUBSCRIBEs of at most 9: a sentinel whose password we lack then answers a plain NOAUTH.
  constexpr size_t kChannelsPerSubscribe = 9;
  for (size_t i = 0; i < options_.channels.size(); i += kChannelsPerSubscribe) {
    const size_t end = std::min(options_.channels.size(), i + kChannelsPerSubscribe);
    std::vector<std::string> subscribe = {"SUBSCRIBE"};
    subscribe.insert(subscribe.end(), options_.channels.begin() + static_cast<std::ptrdiff_t>(i),
                     options_.channels.begin() + static_cast<std::ptrdiff_t>(end));
    appendArgs(handshake_, subscribe);
  }
}

SentinelWatch::~SentinelWatch() { stop(); }

void SentinelWatch::start() {
  if (!links_.empty()) return;
  for (const std::string& address : addresses_) {
    const std::optional<HostPort> target = HostPort::parse(address);
    if (!target || target->host.empty()) {
      last_error_ = "bad sentinel address '" + address + "'";
      spdlog::error("sentinel watch: {}", last_error_);
      continue;
    }
    auto link = std::make_unique<Link>();
    link->watch = this;
    link->target = *target;
    link->address = address;
    uv_timer_t* timer = link->timer.emplace();
    uv_timer_init(loop_, timer);
    timer->data = link.get();
    links_.push_back(std::move(link));
  }
  for (auto& link : links_) connect(*link);
}

void SentinelWatch::stop() {
  for (auto& link : links_) {
    if (link->conn != nullptr) link->conn->detach();
    link->conn = nullptr;
    link->timer.reset();
  }
  links_.clear();
}

size_t SentinelWatch::connectedCount() const {
  size_t n = 0;
  for (const auto& link : links_) n += link->subscribed ? 1 : 0;
  return n;
}

void SentinelWatch::armTimer(Link& link, std::chrono::milliseconds delay) {
  uv_timer_start(
      link.timer.get(),
      [](uv_timer_t* t) {
        Link* l = static_cast<Link*>(t->data);
        l->watch->onTimer(*l);
      },
      static_cast<uint64_t>(delay.count()), 0);
}

void SentinelWatch::connect(Link& link) {
  link.subscribed = false;
  link.conn = new Conn(this, &link);
  armTimer(link, options_.connect_timeout);
  link.conn->start();
}

void SentinelWatch::onTimer(Link& link) {
  if (link.conn == nullptr) {
    connect(link);
  } else if (!link.conn->subscribed()) {
    link.conn->fail("no subscription within " + std::to_string(options_.connect_timeout.count()) +
                    "ms");
  } else if (link.conn->pingOutstanding()) {
    link.conn->fail("no reply to PING within " + std::to_string(options_.ping_interval.count()) +
                    "ms");
  } else {
    armTimer(link, options_.ping_interval);
    link.conn->ping();  // a failed write re-arms the timer for a reconnect
  }
}

void SentinelWatch::onConnClosed(Link& link, const std::string& reason, bool established) {
  const bool was_subscribed = link.subscribed;
  link.conn = nullptr;
  link.subscribed = false;
  if (established) ++stats_.disconnects;
  last_error_ = link.address + ": " + reason;
  if (!link.failing || was_subscribed) {
    spdlog::warn("sentinel watch: {} (retrying every {}ms)", last_error_,
                 options_.reconnect_delay.count());
  } else {
    spdlog::debug("sentinel watch: {}", last_error_);
  }
  link.failing = true;
  armTimer(link, options_.reconnect_delay);
}

void SentinelWatch::onConnSubscribed(Link& link) {
  link.subscribed = true;
  if (link.failing) spdlog::info("sentinel watch: {} subscribed again", link.address);
  link.failing = false;
  if (options_.ping_interval.count() > 0) {
    armTimer(link, options_.ping_interval);
  } else {
    uv_timer_stop(link.timer.get());
  }
  if (on_subscribed_) on_subscribed_();
}

std::optional<SwitchMasterEvent> parseSwitchMaster(std::string_view payload) {
  std::istringstream in{std::string(payload)};
  std::string name, old_ip, old_port, new_ip, new_port, extra;
  if (!(in >> name >> old_ip >> old_port >> new_ip >> new_port) || (in >> extra)) {
    return std::nullopt;
  }
  const Result<uint16_t> op = HostPort::parsePort(old_port);
  const Result<uint16_t> np = HostPort::parsePort(new_port);
  if (!op || !np) return std::nullopt;
  return SwitchMasterEvent{name, HostPort{old_ip, *op}, HostPort{new_ip, *np}};
}

}  // namespace slotwise::proxy
