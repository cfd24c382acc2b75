#include "proxy/datapath/retry_policy.h"

#include <algorithm>
#include <optional>

#include "proxy/datapath/errors.h"
#include "router/command_table.h"
#include "router/redirect.h"

namespace slotwise::proxy {
namespace {

Decision deliver() { return Decision{}; }

Decision fail(std::string_view error) {
  Decision d;
  d.next = Next::kFail;
  d.error = error;
  return d;
}

Decision followRedirect(Request& req, std::string_view bytes, std::string_view node_host,
                        const RetryLimits& limits) {
  if (req.pinned && !req.blocking) {  // inside a transaction: never run it elsewhere
    Decision d = fail(errors::kTransactionMoved);
    d.abort_transaction = true;
    return d;
  }
  const std::string_view text = bytes.substr(1, bytes.size() - 3);  // strip '-' and CRLF
  std::optional<router::Redirect> r = router::parseRedirect(text, node_host);
  if (!r || req.redirects >= limits.max_redirects) return deliver();
  ++req.redirects;
  req.target = Request::Target::kAddress;
  req.address = std::move(r->address);
  req.asking = r->kind == router::Redirect::kAsk;
  Decision d;
  d.next = Next::kForward;
  d.moved = r->kind == router::Redirect::kMoved;
  return d;
}

Decision tryAgain(Request& req, const RetryLimits& limits, uint64_t now) {
  if (req.tryagains >= limits.tryagain_retries || (req.pinned && !req.blocking)) return deliver();
  const uint64_t backoff = limits.tryagain_backoff_ms << req.tryagains;
  ++req.tryagains;
  req.not_before_ms = now + std::max<uint64_t>(backoff, 1);
  if (req.deadline_ms == 0 || req.deadline_ms < req.not_before_ms) {
    req.deadline_ms = req.not_before_ms + limits.retry_deadline_ms;
  }
  Decision d;
  d.next = Next::kRetryLater;
  return d;
}

Decision clusterDown(Request& req, const RetryLimits& limits, uint64_t now) {
  if (req.deadline_ms == 0) req.deadline_ms = now + limits.retry_deadline_ms;
  Decision d;
  d.node_failure = true;
  if (req.pinned || now >= req.deadline_ms) return d;  // kDeliver
  req.not_before_ms = now + kClusterDownRetryMs;
  rerouteBySlot(req);
  d.next = Next::kRetryLater;
  return d;
}

Decision noScript(Request& req, const RetryLimits& limits) {
  if (req.pinned || req.redirects >= limits.max_redirects) return deliver();
  if (req.info == nullptr || !req.info->name.starts_with("evalsha")) return deliver();
  Decision d;
  d.next = Next::kReloadScript;
  return d;
}

// A read-only command (or a part of one, e.g. of MGET) changes nothing where it ran: when the
// connection was lost after it was sent, it may be sent again.
bool resendable(const Request& req) {
  const router::CommandInfo* info = req.info != nullptr     ? req.info
                                    : req.parent != nullptr ? req.parent->info
                                                            : nullptr;
  return info != nullptr && info->hasFlag(router::kReadonly);
}

}  // namespace

RetryLimits RetryLimits::of(const config::BackendConfig& backend) {
  RetryLimits l;
  l.max_redirects = backend.max_redirects;
  l.tryagain_retries = backend.tryagain_retries;
  l.tryagain_backoff_ms = static_cast<uint64_t>(backend.tryagain_backoff.count());
  l.retry_deadline_ms = static_cast<uint64_t>(backend.retry_deadline.count());
  return l;
}

Decision decideOnReply(Request& req, const resp::ReplyInfo& info, std::string_view bytes,
                       std::string_view node_host, const RetryLimits& limits, uint64_t now) {
  switch (info.error) {
    case resp::ErrorKind::kMoved:
    case resp::ErrorKind::kAsk:
      return followRedirect(req, bytes, node_host, limits);
    case resp::ErrorKind::kTryAgain:
      return tryAgain(req, limits, now);
    case resp::ErrorKind::kClusterDown:
    case resp::ErrorKind::kReadOnly:  // a demoted master refused it: same as a node that is down
      return clusterDown(req, limits, now);
    default:
      if (info.type == '-' && bytes.starts_with("-NOSCRIPT")) return noScript(req, limits);
      return deliver();
  }
}

Decision decideOnConnFailure(const Request& req, ConnFailure why, bool sent) {
  if (req.pinned) return fail(why == ConnFailure::kTimeout ? errors::kTimeout : errors::kConnectionLost);
  if (sent && !(why == ConnFailure::kLost && resendable(req))) {
    return fail(why == ConnFailure::kTimeout ? errors::kTimeout : errors::kConnectionLost);
  }
  Decision d;
  d.next = Next::kPark;
  return d;
}

Decision decideOnUnroutable(Request& req, bool has_map, bool slot_served,
                            const RetryLimits& limits, uint64_t now) {
  if (req.deadline_ms == 0) req.deadline_ms = now + limits.retry_deadline_ms;
  if (now >= req.deadline_ms) {
    if (!has_map) return fail(errors::kNoTopology);
    if (!slot_served) return fail(errors::kSlotNotServed);
    return fail(errors::kBackendUnreachable);
  }
  rerouteBySlot(req);
  Decision d;
  d.next = Next::kPark;
  return d;
}

void rerouteBySlot(Request& req) {
  if (req.target != Request::Target::kAddress) return;
  req.target = req.slot >= 0 ? Request::Target::kSlot : Request::Target::kAnyMaster;
  req.asking = false;
}

}  // namespace slotwise::proxy
