// NodeSettings: node settings that clients set through the proxy on every node (CONFIG SET
// notify-keyspace-events: applications switch keyspace notifications on at start-up) and that a
// node lacks when it joined or restarted later (CONFIG SET is not persisted). Each check() asks
// every node of the map for its value (CONFIG GET) and sets it again where it differs from what
// the nodes reported right after the client's CONFIG SET. Each proxy instance re-applies the last
// value set through it. Control thread only; callbacks may run inside query().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "router/node_query.h"
#include "router/slot_map.h"

namespace slotwise::router {

class NodeSettings {
 public:
  // `on_fix(address, name, old_value)` is told of every node set again (a log line).
  using FixCallback = std::function<void(const std::string& address, const std::string& name,
                                         const std::string& old_value)>;
  NodeSettings(NodeQuery& query, FixCallback on_fix) : query_(query), on_fix_(std::move(on_fix)) {}

  // A client's CONFIG SET `name` `value` was answered +OK by every node of the map.
  void applied(std::string name, std::string value);
  // One round over the nodes of `map` (skipped while the previous round is still running).
  void check(const SlotMap& map);
  // What is enforced: name -> value as set by the client.
  std::map<std::string, std::string> enforced() const;

 private:
  struct Setting {
    std::string value;                     // as the client set it
    std::optional<std::string> canonical;  // as CONFIG GET reports it (learned from a master)
    uint64_t generation = 0;               // bumped by applied(): late replies are ignored
  };
  void checkNode(const std::string& address, const std::string& name);

  NodeQuery& query_;
  FixCallback on_fix_;
  std::map<std::string, Setting> settings_;
  uint64_t generations_ = 0;
  size_t pending_ = 0;  // queries of the current round still out
};

}  // namespace slotwise::router
