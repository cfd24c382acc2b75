// MigrationGate: one worker's half of an online migration (`migration:` in the config) from a
// source deployment (standalone servers, a twemproxy-style static set, Sentinel groups) into the
// Redis Cluster pool. The invariant: every key lives in exactly one place at any instant, and
// nothing but a move ever writes to the source.
//
// Before a client command touches keys that may still be in the source, its session asks the
// gate to move them and stops parsing that client's input until the moves are done:
//
//   key ──► source server of the key (its pool's placement)
//           MIGRATE <cluster master of the key's slot> "" 0 <timeout> KEYS <key>
//              +OK      moved now (the source copied and deleted it in one step)
//              +NOKEY   not in the source: already moved, or never existed
//              BUSYKEY  the cluster already has the key: its copy is the newer one, so the
//                       source copy is deleted (DEL), never restored over it
//              MOVED/ASK, IOERR, timeout: retried (map refreshed) until the request deadline,
//                       then the command gets a clear error and the key stays where it is
//   then the command runs on the cluster as usual.
//
// Since the source runs commands one at a time, after MIGRATE answers the key is not in the
// source, whoever moved it (this proxy, another instance, the background mover). Keys known to be
// out of the source stay out, so each worker remembers up to `migration.moved_key_cache` of them
// and skips their MIGRATE; once the background mover reports the source empty (`drained`) the
// gate is off and costs one branch per command.
//
// Loop thread only, except MigrationState, which is shared with the control thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "proxy/datapath/request.h"
#include "proxy/local/proxy_info.h"

namespace slotwise::router {
class PrefixRoutes;
}  // namespace slotwise::router

namespace slotwise::proxy {

class Dispatcher;
class Topology;

// A running migration's state, shared by the workers (the gates write the on-demand counters)
// and the control thread (MigrationControl writes the mover's figures); read by INFO, the admin
// API and /metrics. Relaxed atomics: each figure is a statistic on its own.
struct MigrationState {
  std::atomic<bool> drained{false};           // the background mover found every source empty
  std::atomic<uint64_t> moved_on_demand{0};   // keys moved because a command touched them
  std::atomic<uint64_t> busy_resolved{0};     // source copies deleted: the cluster had the key
  std::atomic<uint64_t> move_errors{0};       // MIGRATE attempts that failed (retried)
  std::atomic<uint64_t> commands_refused{0};  // commands answered with an error: keys not moved
  // The background mover (control thread).
  std::atomic<uint64_t> mover_moved{0};   // keys the mover moved
  std::atomic<uint64_t> mover_errors{0};  // its failed attempts (retried)
  std::atomic<uint64_t> keys_initial{0};  // the sources' key count when it started
  std::atomic<uint64_t> keys_left{0};     // the sources' last DBSIZE sum
  std::atomic<uint64_t> passes{0};        // completed SCAN passes over every source
  std::atomic<uint64_t> rate_milli{0};    // keys moved per second x 1000 (smoothed)
  std::atomic<uint64_t> eta_s{0};         // seconds left at that rate (0 = unknown)
};

class MigrationGate {
 public:
  struct Options {
    uint64_t migrate_timeout_ms = 5000;
    size_t cache_keys = 100000;  // 0 = remember nothing
    bool lookup_all = false;     // standalone source servers: a key may be on any of them
    std::string target_username, target_password;  // MIGRATE's AUTH/AUTH2 for the cluster
    uint16_t source_identity = 0;  // credentials of the source connections (identityFor)
  };
  // Called once when every move of a command has finished: "" or the error for the client.
  using Done = std::function<void(std::string error)>;

  MigrationGate(uv_loop_t* loop, Dispatcher& dispatcher, RequestPool& requests,
                const Topology& topology, MigrationState& state, Options options);
  ~MigrationGate();
  MigrationGate(const MigrationGate&) = delete;
  MigrationGate& operator=(const MigrationGate&) = delete;

  // False once the source is drained (or before a topology with the source pool exists: then
  // commands wait in the dispatcher like any other).
  bool active() const { return !state_.drained.load(std::memory_order_relaxed); }
  // True when some of `keys` may still be in the source.
  bool needsMove(const std::vector<std::string_view>& keys);
  // Moves `keys` out of the source; `done` runs on this loop, never inside start(), when all
  // moves have finished. Returns a handle for cancel() (the session went away), or null when
  // every move finished during start(): then `done` never runs and `*error_now` is the outcome.
  class Batch;
  Batch* start(const std::vector<std::string_view>& keys, uint64_t deadline_ms, Done done,
               std::string* error_now);
  // The waiter is gone: `done` will not run; the moves still finish (they are safe on their own).
  static void cancel(Batch* batch);

  uint64_t cachedKeys() const { return known_.size(); }
  // The migration's figures for INFO migration.
  void describe(ProxyFacts::Migration* out) const;
  // Starts the retry timer's handle on the loop (once, before any command).
  void init();
  // Stops the retry timer (worker shutdown); batches still waiting are answered with an error.
  void close();

 private:
  friend class Batch;
  // The cluster master of `key`'s slot as "host port", or false when unknown.
  bool targetOf(std::string_view key, std::string* host, std::string* port) const;
  // Source servers that may hold `key` (addresses), empty when the topology has no source yet.
  void sourcesOf(std::string_view key, std::vector<std::string>* out);
  // One move of `key` out of `source` (MIGRATE, or the DEL that settles a BUSYKEY), now or after
  // a short delay (retries: the map may change meanwhile, so the source and target are looked
  // up again when it runs).
  struct Move {
    Batch* batch;
    std::string key;
    std::string source;
    bool del = false;
  };
  void send(Move move);
  void onMoveReply(Move move, std::string_view bytes);
  void sendLater(Move move);
  void onTimer();
  void remember(const std::string& key);

  uv_loop_t* loop_;
  uv_timer_t timer_{};
  struct Delayed {
    uint64_t due_ms;
    Move move;
  };
  std::vector<Delayed> delayed_;
  Dispatcher& dispatcher_;
  RequestPool& requests_;
  const Topology& topology_;
  MigrationState& state_;
  Options options_;
  std::unordered_set<std::string> known_;  // keys known to be out of the source
};

}  // namespace slotwise::proxy
