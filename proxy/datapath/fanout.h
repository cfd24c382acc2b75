// Fan-out: requests that the proxy turns into several backend requests (parts) and whose replies
// it merges into the one reply the client expects.
//
//   MGET/MSET/DEL/UNLINK/EXISTS/TOUCH across slots  -> one part per slot, merged in key order
//   whole-cluster commands (DBSIZE, KEYS, FLUSHALL, SCRIPT LOAD, ...) -> one part per master
//   SCAN -> one part on the node the cursor names; the node's cursor is rewritten
//
// Parts are ordinary Requests (own slot, own redirects and retries) whose `parent` is the
// client-visible request; Dispatcher::complete() stores each part's reply and calls mergeFanOut()
// when the last one arrives.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/datapath/request.h"
#include "proxy/datapath/topology.h"
#include "resp/command.h"
#include "router/router.h"

namespace slotwise::proxy {

// What building a fan-out needs of the worker. References outlive the call.
struct FanOutContext {
  RequestPool& requests;
  const Topology& topology;
  std::unordered_map<uint16_t, uint32_t>& slot_index;  // scratch space (multi-key grouping)
  uint64_t request_timeout_ms;                          // backend.request_timeout_ms (WAIT cap)
  bool allow_admin_commands;
};

// How a kAllMasters command is handled: sent to every master (kBroadcast), to every node, masters
// and replicas (kEveryNode: CONFIG SET/RESETSTAT when `allow_admin_commands`, and CONFIG SET of
// the per-application parameters configSetAllowedByDefault accepts), to one master
// (kSingle), to the node a SCAN cursor names (kScan), or answered with an error (kReject).
enum class WholeClusterMode : uint8_t { kBroadcast, kEveryNode, kSingle, kScan, kReject };
struct WholeClusterRule {
  WholeClusterMode mode;
  FanOut::Merge merge;
  const char* reject_message;  // kReject only
};
WholeClusterRule wholeClusterRule(const router::CommandInfo& info, const resp::Command& cmd,
                                  bool allow_admin_commands);
// CONFIG SET whose every parameter is on the allow-list of per-application settings that are
// safe to send to every node without allow_admin_commands: notify-keyspace-events (keyspace
// notifications are emitted by the node that holds the key, so every node needs the flags).
bool configSetAllowedByDefault(const resp::Command& cmd);

// WAIT: the client's writes went over its affinity connection to each node, so WAIT goes over the
// same connections to every master and the reply is the smallest count. A backend connection is
// shared by clients, so each node counts replicas that acknowledged the connection's latest write,
// which is at least as recent as this client's. The timeout is capped below
// backend.request_timeout_ms (0 = forever becomes that cap), so WAIT never looks like a dead node.
// @return the timeout in milliseconds to send for a client's `requested` (its WAIT argument).
uint64_t waitTimeoutMs(uint64_t requested, uint64_t request_timeout_ms);

// Prepares `parent` for INFO: one "INFO <node_sections...>" part per master; the merged reply is
// `proxy_text` (infoText: the proxy's own sections, in order) with the masters' lines of each
// node-held section added (mergeNodeInfo) and their databases summed under "# Keyspace"
// (mergeKeyspaces); a bulk string, or a verbatim string for a RESP3 parent. Parts are returned in
// *parts, not yet forwarded (as buildFanOut). REQUIRES: w.topology.masterSlots() is not empty.
void buildInfoFanOut(FanOutContext& w, Request* parent, std::string proxy_text,
                     const std::vector<std::string_view>& node_sections,
                     std::vector<Request*>* parts);

// Prepares `parent` (already acquired, with client and affinity set) and creates its parts for
// `cmd`, which the router classified as kMultiSlot (`keys` = its key argument indexes) or
// kAllMasters with a broadcast or scan rule. On success the parts are returned in *parts, not yet
// forwarded: the caller queues the parent in its FIFO first and then forwards every part.
// @return false with *error set (nothing allocated is left behind) when it cannot be done, e.g.
//         no slot map yet or an invalid SCAN cursor.
bool buildFanOut(FanOutContext& w, Request* parent, const resp::Command& cmd,
                 const router::RouteDecision& decision, const std::vector<uint32_t>& keys,
                 std::vector<Request*>* parts, std::string* error);

// Sums "# Keyspace" sections (INFO text, not RESP-framed): keys and expires add up per database,
// avg_ttl is the keys-weighted mean. @return one "dbN:keys=..,expires=..,avg_ttl=..\r\n" line per
// database, in database order (no section header).
std::string mergeKeyspaces(const std::vector<std::string_view>& infos);

// Splits an array reply into its element frames (views into `reply`). False if `reply` is not a
// well-formed array (a null array gives true and no elements).
bool arrayElements(std::string_view reply, std::vector<std::string_view>* out);
// The text of a simple string, error, integer or bulk string frame; empty for anything else.
std::string_view stringContent(std::string_view frame);

// A range of slots and the master that owns it, named by node id (or address when the id is
// unknown), as the proxy's map or a node's CLUSTER NODES says.
struct OwnedRange {
  uint16_t first;
  uint16_t last;  // inclusive
  std::string owner;
};
// A hash of who owns which slot: equal for equal ownership however the ranges are split or
// ordered (adjacent ranges of one owner are merged first).
uint64_t ownershipFingerprint(std::vector<OwnedRange> ranges);

// What one node's CLUSTER NODES text says: the ownership fingerprint of its view and whether the
// node itself is migrating or importing a slot right now ("[slot->-id]" / "[slot-<-id]").
struct NodeView {
  uint64_t fingerprint = 0;
  bool migrating = false;
};
// @return false when `text` has no line marked "myself" (not a CLUSTER NODES text).
bool parseClusterNodes(std::string_view text, NodeView* view);

// The merged reply of a fan-out whose parts have all replied. *drift is set when a SCAN part saw a
// node whose view of slot ownership differs from `topology` (the caller asks for a refresh).
std::string mergeFanOut(const Request& parent, const Topology& topology, bool* drift);

}  // namespace slotwise::proxy
