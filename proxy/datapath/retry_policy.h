// Retry policy: what happens to a request after a node's reply, a failed connection, or when no
// node can take it. Pure decisions over the request's own retry state (redirect and TRYAGAIN
// budgets, deadline, target); no I/O. The Dispatcher applies the decisions.
//
// Outcomes of decideOnReply(), by reply:
//   -MOVED slot host:port   kForward to that address (req.target = kAddress), moved = true (the
//                           map is stale: the dispatcher asks for a refresh). Past
//                           backend.max_redirects, or an unparsable redirect: kDeliver (the client
//                           sees the cluster's own error).
//   -ASK slot host:port     kForward with req.asking (ASKING + command on the importing node);
//                           the map is kept. Same budget as MOVED.
//   -TRYAGAIN               kRetryLater after backend.tryagain_backoff_ms << attempt; kDeliver
//                           once backend.tryagain_retries are spent.
//   -CLUSTERDOWN, -READONLY node_failure = true; kRetryLater every kClusterDownRetryMs until the
//                           retry deadline, then kDeliver. READONLY comes from a master that a
//                           failover demoted (Sentinel): the write was refused, so it is safe to
//                           send again once the topology names the new master.
//   -NOSCRIPT (EVALSHA)     kReloadScript (SCRIPT LOAD + the request again on the same
//                           connection) while the redirect budget lasts; kDeliver otherwise or
//                           when the proxy does not know the script (the dispatcher checks).
//   anything else           kDeliver.
// Pinned requests (inside MULTI, or blocking commands) never move connection: a transaction's
// MOVED/ASK gives kFail(kTransactionMoved) with abort_transaction; its TRYAGAIN, CLUSTERDOWN or
// NOSCRIPT are delivered. A blocking command follows redirects and TRYAGAIN on a new dedicated
// connection.
//
// Outcomes of decideOnConnFailure(), for a request a connection will not answer:
//   never sent                        kPark (retried until the deadline), pinned: kFail(lost)
//   sent, connection lost, read-only  kPark (ran nowhere that matters: safe to send again)
//   sent, connection lost             kFail(kConnectionLost): may or may not have been applied
//   sent, timeout                     kFail(kTimeout): never retried (would wait on the same hung
//                                     node again)
//
// Outcomes of decideOnUnroutable(), for a request no node can take right now (no map, node down,
// slot not served): kPark with the deadline set (backend.retry_deadline_ms after the first park),
// then at the deadline kFail with kNoTopology, kSlotNotServed or kBackendUnreachable.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/proxy_config.h"
#include "proxy/datapath/backend_conn.h"
#include "proxy/datapath/request.h"
#include "resp/reply_scanner.h"

namespace slotwise::proxy {

inline constexpr uint64_t kClusterDownRetryMs = 100;  // between retries of a -CLUSTERDOWN request

// The budgets of the policy, from backend.* of the config in effect.
struct RetryLimits {
  uint32_t max_redirects = 5;
  uint32_t tryagain_retries = 5;
  uint64_t tryagain_backoff_ms = 10;
  uint64_t retry_deadline_ms = 3000;
  static RetryLimits of(const config::BackendConfig& backend);
};

enum class Next : uint8_t {
  kDeliver,       // complete the request with the node's reply bytes
  kForward,       // send now to req's updated target (MOVED/ASK followed)
  kRetryLater,    // park until req.not_before_ms (TRYAGAIN backoff, CLUSTERDOWN)
  kReloadScript,  // NOSCRIPT: SCRIPT LOAD, then the request again, on the same connection
  kPark,          // wait for a map or a reachable node until req.deadline_ms
  kFail,          // complete with Decision::error
};

struct Decision {
  Next next = Next::kDeliver;
  std::string_view error;          // kFail: the message (errors.h), without '-' and CRLF
  bool moved = false;              // a MOVED was followed: the slot map is stale
  bool node_failure = false;       // count it against the node (CLUSTERDOWN)
  bool abort_transaction = false;  // tell the client its transaction is aborted
};

// The reply `bytes` (framed; `info` from the scanner) came for `req` from a node whose host is
// `node_host` (for "MOVED slot :port" forms). Updates req's retry state (budgets, target,
// asking, not_before_ms, deadline_ms). `now` is uv_now().
Decision decideOnReply(Request& req, const resp::ReplyInfo& info, std::string_view bytes,
                       std::string_view node_host, const RetryLimits& limits, uint64_t now);

// A connection will not answer `req`; `sent`: it reached the socket.
Decision decideOnConnFailure(const Request& req, ConnFailure why, bool sent);

// No node can take `req` now. `has_map`: a topology is known; `slot_served`: req's slot has a
// master in it (true for requests without a slot). Sets req.deadline_ms on the first call and
// sends an address-targeted request back to routing by slot.
Decision decideOnUnroutable(Request& req, bool has_map, bool slot_served, const RetryLimits& limits,
                            uint64_t now);

// A request redirected to an address goes back to being routed by its slot (the next map).
void rerouteBySlot(Request& req);

}  // namespace slotwise::proxy
