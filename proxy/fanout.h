// Fan-out: requests that the proxy turns into several backend requests (parts) and whose replies
// it merges into the one reply the client expects.
//
//   MGET/MSET/DEL/UNLINK/EXISTS/TOUCH across slots  -> one part per slot, merged in key order
//   whole-cluster commands (DBSIZE, KEYS, FLUSHALL, SCRIPT LOAD, ...) -> one part per master
//   SCAN -> one part on the node the cursor names; the node's cursor is rewritten
//
// Parts are ordinary Requests (own slot, own redirects and retries) whose `parent` is the
// client-visible request; Worker::complete() stores each part's reply and calls mergeFanOut()
// when the last one arrives.
#pragma once

#include <string>

#include "proxy/request.h"
#include "resp/command.h"
#include "router/router.h"

namespace slotwise::proxy {

class Worker;

// How a kAllMasters command is handled.
enum class WholeClusterMode : uint8_t { kBroadcast, kSingle, kScan, kReject };
struct WholeClusterRule {
  WholeClusterMode mode;
  FanOut::Merge merge;
  const char* reject_message;  // kReject only
};
WholeClusterRule wholeClusterRule(const router::CommandInfo& info);

// Prepares `parent` (already acquired, with client and affinity set) and creates its parts for
// `cmd`, which the router classified as kMultiSlot (`keys` = its key argument indexes) or
// kAllMasters with a broadcast or scan rule. On success the parts are returned in *parts, not yet
// forwarded: the caller queues the parent in its FIFO first and then forwards every part.
// @return false with *error set (nothing allocated is left behind) when it cannot be done, e.g.
//         no slot map yet or an invalid SCAN cursor.
bool buildFanOut(Worker& worker, Request* parent, const resp::Command& cmd,
                 const router::RouteDecision& decision, const std::vector<uint32_t>& keys,
                 std::vector<Request*>* parts, std::string* error);

// Splits an array reply into its element frames (views into `reply`). False if `reply` is not a
// well-formed array (a null array gives true and no elements).
bool arrayElements(std::string_view reply, std::vector<std::string_view>* out);
// The text of a simple string, error, integer or bulk string frame; empty for anything else.
std::string_view stringContent(std::string_view frame);

// The merged reply of a fan-out whose parts have all replied.
std::string mergeFanOut(const Request& parent, Worker& worker);

}  // namespace slotwise::proxy
