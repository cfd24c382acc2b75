// The catalogue of error replies the proxy itself produces. Wording follows Redis where Redis has
// an equivalent (cluster.c, networking.c); proxy-only conditions say "slotwise" so that operators
// can tell them apart from errors the cluster returned.
#pragma once

#include <string_view>

namespace slotwise::proxy::errors {

inline constexpr std::string_view kCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot";
inline constexpr std::string_view kSlotNotServed = "CLUSTERDOWN Hash slot not served";
inline constexpr std::string_view kNoTopology =
    "CLUSTERDOWN slotwise has no cluster slot map yet (no seed node answered)";
inline constexpr std::string_view kBackendUnreachable =
    "CLUSTERDOWN slotwise could not reach the node serving this slot before the retry deadline";
inline constexpr std::string_view kConnectionLost =
    "ERR slotwise: connection to the cluster node was lost after the command was sent; "
    "it may or may not have been applied";
inline constexpr std::string_view kTimeout =
    "ERR slotwise: the cluster node did not answer within backend.request_timeout_ms; "
    "the command may or may not have been applied";
inline constexpr std::string_view kTooManyRedirects =
    "ERR slotwise: too many MOVED/ASK redirects for this command";
inline constexpr std::string_view kMaxClients = "ERR max number of clients reached";
inline constexpr std::string_view kSelectNonZero = "ERR SELECT is not allowed in cluster mode";
inline constexpr std::string_view kPipelineTooLarge =
    "ERR Protocol error: unparsed pipelined input exceeds limits.max_pipelined_bytes";
inline constexpr std::string_view kTooManyDedicated =
    "ERR slotwise: too many blocked or transaction clients on this worker "
    "(backend.max_dedicated_connections)";
inline constexpr std::string_view kTransactionMoved =
    "ERR slotwise: the slot moved to another node during the transaction; it was aborted";
inline constexpr std::string_view kExecAbort =
    "EXECABORT Transaction discarded because of previous errors.";
inline constexpr std::string_view kTxnCrossSlot =
    "CROSSSLOT Keys in request don't hash to the same slot (a transaction must stay in one slot)";
inline constexpr std::string_view kShuttingDown = "ERR slotwise is shutting down";

}  // namespace slotwise::proxy::errors
