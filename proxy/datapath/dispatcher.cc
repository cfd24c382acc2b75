#include "proxy/datapath/dispatcher.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <optional>

#include "proxy/datapath/errors.h"
#include "proxy/datapath/fanout.h"
#include "proxy/datapath/retry_policy.h"
#include "proxy/datapath/script_cache.h"
#include "resp/encoder.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kRetryTickMs = 10;
constexpr uint64_t kReportThrottleMs = 100;

// The second argument of a RESP multibulk request (EVALSHA's sha), or empty.
std::string_view secondArgument(std::string_view payload) {
  size_t pos = payload.find("\r\n");
  for (int i = 0; i < 2 && pos != std::string_view::npos; ++i) {
    const size_t header = pos + 2;
    pos = payload.find("\r\n", header);
    if (pos == std::string_view::npos || header >= payload.size() || payload[header] != '$') break;
    size_t len = 0;
    auto [end, ec] = std::from_chars(payload.data() + header + 1, payload.data() + pos, len);
    if (ec != std::errc() || end != payload.data() + pos || pos + 2 + len > payload.size()) break;
    if (i == 1) return payload.substr(pos + 2, len);
    pos += 2 + len;
  }
  return {};
}

bool throttled(uint64_t now, uint64_t* last) {
  if (*last != 0 && now - *last < kReportThrottleMs) return true;
  *last = now;
  return false;
}
}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, const std::shared_ptr<const config::ProxyConfig>& config,
                       const Topology& topology, RequestPool& requests, WorkerStats& stats,
                       ControlSink& control)
    : loop_(loop),
      config_(config),
      topology_(topology),
      requests_(requests),
      stats_(stats),
      control_(control) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::init() {
  uv_timer_init(loop_, &retry_timer_);
  retry_timer_.data = this;
}

void Dispatcher::forward(Request* req) {
  if (req->pinned) {
    // A blocking command redirected or retried gets a fresh dedicated connection; a transaction's
    // command never moves to another connection (the policy fails those already).
    if (req->blocking) forwardBlocking(req);
    else fail(req, errors::kTransactionMoved);
    return;
  }
  BackendConn* conn = pool_->sharedConnFor(*req);
  if (conn == nullptr) park(req);
  else conn->enqueue(req);
}

void Dispatcher::forwardBlocking(Request* req) {
  if (req->orphan()) {
    requests_.recycle(req);
    return;
  }
  std::string_view error;
  BackendConn* conn = pool_->acquireDedicated(*req, req->client->connOwner(), &error);
  if (conn == nullptr && error != errors::kTooManyDedicated) {
    park(req);  // no map yet, or the node is down: wait for a map or node until the deadline
    return;
  }
  if (conn == nullptr) {
    fail(req, error);
    return;
  }
  req->client->useBlockingConn(conn);
  conn->enqueue(req);
}

void Dispatcher::complete(Request* req, std::string_view reply_bytes) {
  if (req->parent != nullptr) {
    Request* parent = req->parent;
    FanOut& f = *parent->fanout;
    f.parts[req->part].assign(reply_bytes);
    requests_.recycle(req);
    if (--f.outstanding == 0) {
      bool drift = false;
      std::string merged = mergeFanOut(*parent, topology_, &drift);
      if (drift) reportTopologyDrift();
      if (!f.node_settings.empty() && merged == "+OK\r\n") {
        for (const auto& [name, value] : f.node_settings)
          control_.onNodeSettingApplied(name, value);
      }
      complete(parent, merged);
    }
    return;
  }
  if (req->client != nullptr) req->client->onReply(req, reply_bytes);
  else requests_.recycle(req);
}

void Dispatcher::fail(Request* req, std::string_view message) {
  stats_.errors_sent.inc();
  std::string bytes;
  resp::appendError(bytes, message);
  complete(req, bytes);
}

// ---- outcomes -------------------------------------------------------------------------------

void Dispatcher::countReply(const resp::ReplyInfo& info, const BackendConn& conn) {
  switch (info.error) {
    case resp::ErrorKind::kTryAgain: stats_.tryagain.inc(); break;
    case resp::ErrorKind::kClusterDown:
      stats_.clusterdown.inc();
      reportFailure(conn.address());
      break;
    case resp::ErrorKind::kReadOnly: reportFailure(conn.address()); break;
    default: break;
  }
}

void Dispatcher::onReply(BackendConn& conn, Request* req, const resp::ReplyInfo& info,
                         std::string_view bytes) {
  if (info.type != '-' || req->move) {  // the common case: no decision to make
    complete(req, bytes);
    return;
  }
  countReply(info, conn);
  const Decision d = decideOnReply(*req, info, bytes, conn.host(),
                                   RetryLimits::of(config_->backend), uv_now(loop_));
  if (d.abort_transaction && req->client != nullptr) req->client->onTransactionRedirect();
  if (d.next == Next::kForward) {
    if (d.moved) stats_.moved.inc();
    else stats_.ask.inc();
  }
  if (d.moved) reportTopologyDrift();
  switch (d.next) {
    case Next::kDeliver: complete(req, bytes); return;
    case Next::kForward: forward(req); return;
    case Next::kRetryLater: addParked(req); return;
    case Next::kReloadScript: reloadScript(conn, req, bytes); return;
    case Next::kPark: park(req); return;
    case Next::kFail: fail(req, d.error); return;
  }
}

void Dispatcher::onRequestFailed(BackendConn&, Request* req, ConnFailure why, bool sent) {
  if (req->move) {  // its owner retries on its own terms
    fail(req, why == ConnFailure::kTimeout ? errors::kTimeout : errors::kConnectionLost);
    return;
  }
  const Decision d = decideOnConnFailure(*req, why, sent);
  if (d.next == Next::kFail) fail(req, d.error);
  else park(req);
}

void Dispatcher::onNodeFailure(BackendConn& conn) { reportFailure(conn.address()); }

// EVALSHA got -NOSCRIPT: when the script cache knows the body, SCRIPT LOAD and then the request
// again on the same connection (one redirect of the request's budget); else the node's error.
void Dispatcher::reloadScript(BackendConn& conn, Request* req, std::string_view bytes) {
  std::optional<std::string> body = ScriptCache::instance().find(secondArgument(req->payload));
  if (!body || !conn.usable()) {
    complete(req, bytes);
    return;
  }
  spdlog::info("backend {}: NOSCRIPT; loading the script and running EVALSHA again",
               conn.address());
  ++req->redirects;
  Request* load = requests_.acquire();
  load->internal = true;
  resp::appendCommand(load->payload, {"SCRIPT", "LOAD", *body});
  conn.enqueue(load);
  conn.enqueue(req);
}

// ---- parked requests ------------------------------------------------------------------------

void Dispatcher::park(Request* req) {
  if (req->orphan()) {
    requests_.recycle(req);
    return;
  }
  if (req->move) {  // never rerouted by slot: the owner retries
    fail(req, errors::kBackendUnreachable);
    return;
  }
  const Decision d =
      decideOnUnroutable(*req, topology_.ready(), topology_.slotServed(req->slot),
                         RetryLimits::of(config_->backend), uv_now(loop_));
  if (d.next == Next::kFail) fail(req, d.error);
  else addParked(req);
}

void Dispatcher::addParked(Request* req) {
  parked_.push(req);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_))) {
    uv_timer_start(&retry_timer_,
                   [](uv_timer_t* t) { static_cast<Dispatcher*>(t->data)->retryParked(); },
                   kRetryTickMs, kRetryTickMs);
  }
}

void Dispatcher::retryParked() {
  const uint64_t now = uv_now(loop_);
  Request* r = parked_.takeAll();
  while (r != nullptr) {
    Request* next = r->next_out;
    r->next_out = nullptr;
    if (r->orphan()) {
      requests_.recycle(r);
    } else if (r->not_before_ms > now && now < r->deadline_ms) {
      parked_.push(r);
    } else {
      r->not_before_ms = 0;
      forward(r);  // keeps a TRYAGAIN request's target (e.g. the ASK node)
    }
    r = next;
  }
  if (parked_.empty()) uv_timer_stop(&retry_timer_);
}

void Dispatcher::onTopologyChanged() {
  last_redirect_report_ms_ = 0;
  retryParked();
}

// Each parked request is completed, not just recycled: a fan-out part must reach its parent, or
// the parent (orphaned by its closed session) would never be freed.
void Dispatcher::close() {
  for (Request* r = parked_.takeAll(); r != nullptr;) {
    Request* next = r->next_out;
    r->next_out = nullptr;
    fail(r, errors::kShuttingDown);
    r = next;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
}

// ---- reports to the control thread ----------------------------------------------------------

void Dispatcher::reportTopologyDrift() {
  if (throttled(uv_now(loop_), &last_redirect_report_ms_)) return;
  control_.onRedirectSeen();
}

void Dispatcher::reportFailure(const std::string& address) {
  stats_.backend_failures.inc();
  if (throttled(uv_now(loop_), &last_failure_report_ms_)) return;
  control_.onBackendFailure(address);
}

}  // namespace slotwise::proxy
