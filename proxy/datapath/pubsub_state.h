// Per-client Pub/Sub state (see client_session_pubsub.cc). Allocated only for clients that
// subscribe, so ordinary sessions stay small.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::proxy {

class BackendConn;

struct PubSubState {
  struct Sub {
    BackendConn* conn = nullptr;
    bool shard = false;
    int64_t count = 0;     // subscriptions the node reported for this connection
    uint32_t swallow = 0;  // confirmations of a re-subscription, not shown to the client
  };
  std::vector<Sub> subs;
  std::vector<std::string> channels, patterns, shard_channels;  // what the client asked for
  std::string backlog;  // frames waiting for earlier replies
  bool resubscribe = false;

  Sub* find(BackendConn* c) {
    for (Sub& s : subs) {
      if (s.conn == c) return &s;
    }
    return nullptr;
  }
  static void add(std::vector<std::string>* set, std::string_view name) {
    if (std::find(set->begin(), set->end(), name) == set->end()) set->emplace_back(name);
  }
  static void remove(std::vector<std::string>* set, std::string_view name) {
    set->erase(std::remove(set->begin(), set->end(), name), set->end());
  }
};

}  // namespace slotwise::proxy
