// MigrationMover: the background mover of an online migration. It empties source Redis servers
// (standalone, twemproxy shards, sentinel masters) into a Redis Cluster with MIGRATE, while the
// proxy keeps serving the keyspace. Pure logic on the control loop: time comes from a Clock, the
// network is a NodeQuery, the cluster's key -> master mapping is the caller's target_of().
//
// Invariant of the migration: every key lives in exactly one place. The mover writes to a
// source only with MIGRATE (atomic copy + delete, TTL kept) and with `DEL key` after that key's
// own MIGRATE was refused with BUSYKEY (the target already holds the key, and the target's copy
// is the newer one). No other reply, error or timeout ever leads to a DEL.
//
// Per source, one query in flight at a time, so a source is blocked by at most one MIGRATE:
//
//   DBSIZE (initial count)
//     |
//     v
//   SCAN cursor COUNT batch_keys --keys--> work queue --group by target_of(key)-->
//     ^                                       |   one MIGRATE host port "" 0 timeout [AUTH..]
//     |                                       |   KEYS k1..kn per group, n <= batch size
//     |                                       v
//     |            +OK / +NOKEY ............ moved / already_gone
//     |            error, n > 1 ............ every key again alone (per-key fallback)
//     |            BUSYKEY (alone) ......... DEL key on the source -> busy_resolved
//     |            MOVED/ASK (alone) ....... on_refresh(); retried at the redirect address
//     |            IOERR, other error ...... errors++, back off 100 ms .. 2 s, retry
//     |            target_of() == "" ....... on_refresh(); key retried 100 ms later
//     +-- cursor != 0, queue empty
//   cursor 0, queue empty --> DBSIZE: 0 --> source finished (DBSIZE re-checked every second;
//                                           a non-zero count starts a new pass)
//                                     >0 --> new SCAN pass
// Back-off is per source, doubling after each failure in a row, kept apart for DBSIZE/SCAN and
// for MIGRATE/DEL so that the periodic DBSIZE succeeding does not cut short the back-off of a
// target that keeps failing. done: every source finished. The work queue holds one SCAN page: the
// next SCAN is sent only when every key of the page is settled, so memory stays bounded and a key
// that cannot be routed holds its source back rather than piling up.
//
// Big keys. A key always moves in one MIGRATE, which is atomic: the source is blocked while it
// serialises the key, sends it and waits for the target's RESTORE (DUMP/RESTORE of a big key is
// O(size) on both sides). The mover times every MIGRATE and adapts the number of keys per
// MIGRATE between 1 and batch_keys so that one MIGRATE takes about max_block_ms: halved when a
// MIGRATE was slower, grown by a quarter when one full batch took less than half of it, halved
// after an IOERR (a batch that outgrows migrate_timeout_ms). That keeps small keys under
// max_block_ms, but it cannot split a key: a single big key blocks its source (and the target
// node) for its own transfer time, proportional to its size, for instance about a second for a
// few hundred MB on a local network. A key larger than the network can carry within
// migrate_timeout_ms fails with IOERR on every retry and stays on the source (errors and
// last_error show it); raise migrate_timeout_ms, or move that key by hand.
//
// Rate limit: a token bucket of rate_keys_per_s tokens per second, holding up to a tenth of a
// second of tokens (at least 1, at most batch_keys). A MIGRATE of n keys takes n tokens when it
// is sent, whatever its outcome. It is shared by all sources.
//
// Counting: `moved` adds every key of a MIGRATE answered +OK (Redis does not say which of them
// still existed), `already_gone` the keys of a +NOKEY. Keys moved by a multi-key MIGRATE that
// then failed on another key are counted as already_gone by their per-key retry. keys_left is
// each source's last DBSIZE (asked once a second) minus the keys the mover cleared since.
//
// The NodeQuery's own timeout must be longer than migrate_timeout_ms, or slow MIGRATEs are
// reported as transport errors (the keys are then retried; nothing is lost).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "resp/value.h"
#include "router/clock.h"
#include "router/node_query.h"

namespace slotwise::router {

struct MoverOptions {
  std::vector<std::string> sources;    // source servers "host:port"
  uint32_t batch_keys = 100;           // SCAN COUNT and max keys per MIGRATE (0 acts as 1)
  uint32_t rate_keys_per_s = 0;        // 0 = unlimited
  uint64_t migrate_timeout_ms = 5000;  // MIGRATE's timeout argument
  uint64_t max_block_ms = 50;          // adapt the batch so one MIGRATE takes about this long
                                       // (0 = no adaptation: always batch_keys)
  std::string target_username, target_password;  // MIGRATE AUTH/AUTH2 for the cluster nodes
                                                 // ("" = none; a username needs a password)
};

struct MoverStats {
  uint64_t moved = 0;          // keys moved by this mover
  uint64_t already_gone = 0;   // keys SCAN returned that were gone by MIGRATE time (NOKEY)
  uint64_t busy_resolved = 0;  // BUSYKEY: source copy deleted (target newer)
  uint64_t errors = 0;         // failed MIGRATE/SCAN/DBSIZE/DEL attempts (retried)
  uint64_t keys_left = 0;      // sum of the sources' last DBSIZE, minus keys cleared since
  uint64_t initial_keys = 0;   // sum of the sources' first DBSIZE (0 until all answered)
  uint64_t passes = 0;         // completed SCAN passes over all sources
  double rate_keys_per_s = 0;  // keys cleared (moved + busy_resolved) per second, smoothed
  bool done = false;           // every source reported DBSIZE 0 after a full pass
  std::string last_error;      // "<source>: <what>: <why>", "" if none yet
};

// How one MIGRATE reply (or its transport failure) is read.
struct MigrateVerdict {
  enum Kind {
    kOk,       // +OK: every key that existed was moved
    kNoKey,    // +NOKEY: none of the keys existed
    kBusyKey,  // "ERR Target instance replied with error: BUSYKEY ...": the target holds a key
    kMoved,    // the target redirected (MOVED) to `redirect`: the slot map is stale
    kAsk,      // the target redirected (ASK) to `redirect`: the slot is being migrated
    kIoError,  // -IOERR or a transport failure: the keys are (still) on the source
    kError,    // any other error or unexpected reply
  };
  Kind kind = kError;
  std::string redirect;  // kMoved/kAsk: "host:port" (HostPort::nodeAddress spelling)
  std::string message;   // the error text, for last_error
};
// Reads `reply` to a MIGRATE sent to a target whose host is `target_host` (substituted for an
// empty host in a redirect). BUSYKEY is recognised only as the target's error as MIGRATE relays
// it, so no other text can lead to a DEL.
MigrateVerdict classifyMigrateReply(const Result<resp::RespValue>& reply,
                                    std::string_view target_host);

// One SCAN reply: the next cursor ("0" = pass complete) and the keys.
struct ScanPage {
  std::string cursor;
  std::vector<std::string> keys;
};
// @return the page, or an error for an error reply or a reply not shaped [cursor, [keys...]].
Result<ScanPage> parseScanReply(const resp::RespValue& reply);

class MigrationMover {
 public:
  // "host:port" of the cluster master owning the key's slot, "" when unknown.
  using TargetOf = std::function<std::string(std::string_view key)>;
  using ProgressCallback = std::function<void(const MoverStats&)>;

  // `query` and `clock` must outlive the mover; `query` carries the sources' own AUTH, if any.
  // target_of(key) may be called several times per key. on_refresh(): ask for a cluster slot
  // map refresh (after MOVED/ASK, or a key without a target); called at most every 100 ms.
  // Neither callback may destroy the mover. Nothing is sent before the first tick().
  MigrationMover(NodeQuery& query, const Clock& clock, MoverOptions options, TargetOf target_of,
                 std::function<void()> on_refresh);
  // Replies that arrive after destruction are ignored.
  ~MigrationMover();

  MigrationMover(const MigrationMover&) = delete;
  MigrationMover& operator=(const MigrationMover&) = delete;

  // Call every ~10 ms from the control loop: refills the rate limiter, updates the rate, and
  // sends each idle source's next query. Replies send the next query themselves, so a source is
  // not limited to one query per tick; with a synchronous NodeQuery, at most kMaxStepsPerPump
  // queries per source run inside one call.
  void tick();
  // Counters since construction. The reference lives as long as the mover.
  const MoverStats& stats() const { return stats_; }
  // New rate limit in keys per second (0 = unlimited); applies to the next MIGRATE.
  void setRate(uint32_t keys_per_s);
  // `callback` runs at the end of a tick() or of a reply's handling (the mover's state and stats
  // settled, no query being sent) each time the keys cleared cross another tenth of
  // initial_keys, and once when done becomes true. It may call setRate() and read stats().
  // Replaces any earlier callback; nullptr disables.
  void setOnProgress(ProgressCallback callback);
  // Estimated seconds until keys_left reaches 0 at the current rate (rounded up); 0 when
  // nothing is left or the rate is not known yet.
  uint64_t etaSeconds() const;
  // Current keys-per-MIGRATE limit of source `index` (configuration order); for tests and
  // admin output. REQUIRES: index < options.sources.size().
  uint32_t batchSize(size_t index) const { return sources_[index].batch; }

  // With a synchronous NodeQuery, a pump sends at most this many queries per source: bounds
  // the work (about kMaxStepsPerPump * batch_keys keys) done in one tick() or one reply.
  static constexpr uint32_t kMaxStepsPerPump = 32;

 private:
  using TimePoint = Clock::TimePoint;
  using Duration = Clock::Duration;

  // kCounting: initial DBSIZE. kMoving: SCAN pass and MIGRATEs. kClosing: DBSIZE after the
  // pass. kFinished: DBSIZE was 0; re-checked every second.
  enum class Phase { kCounting, kMoving, kClosing, kFinished };
  enum class Sent { kNone, kDbsize, kScan, kMigrate, kDel };
  // Back-off lanes: kSource for DBSIZE/SCAN (the source itself), kMove for MIGRATE/DEL (the
  // path to the target).
  enum class Lane : size_t { kSource = 0, kMove = 1 };

  struct Item {
    std::string key;
    std::string redirect;  // MOVED/ASK address to retry at, instead of target_of(key)
    uint32_t hops = 0;     // redirects followed in a row
    bool single = false;   // MIGRATE this key alone, to learn its own outcome
    bool del = false;      // its MIGRATE said BUSYKEY: DEL it on the source next
    TimePoint not_before{};
  };
  struct Source {
    std::string address;
    Phase phase = Phase::kCounting;
    std::string cursor = "0";
    bool scan_complete = false;  // SCAN returned cursor 0 in this pass
    std::deque<Item> work;       // keys of the current SCAN page not settled yet
    Sent sent = Sent::kNone;     // the query in flight
    std::vector<Item> sending;   // its items (MIGRATE, DEL)
    std::string sending_target;  // its target (MIGRATE)
    TimePoint sent_at{};
    TimePoint ready_at{};               // back-off: nothing is sent before
    std::array<Duration, 2> backoff{};  // per Lane; 0 after a success
    uint32_t batch = 1;                 // keys per MIGRATE, adapted
    bool counted = false;               // the initial DBSIZE arrived
    uint64_t initial = 0;               // first DBSIZE
    uint64_t dbsize = 0;                // last DBSIZE
    uint64_t cleared = 0;               // keys cleared since that DBSIZE
    TimePoint dbsize_at{};              // when it arrived
    uint64_t passes = 0;
  };

  void pump();
  bool step(size_t index, TimePoint now);
  bool sendWork(size_t index, TimePoint now);
  void sendDbsize(size_t index, TimePoint now);
  void sendScan(size_t index, TimePoint now);
  void sendMigrate(size_t index, TimePoint now, std::vector<Item> items, std::string target);
  void sendDel(size_t index, TimePoint now, Item item);
  void send(size_t index, Sent kind, std::vector<std::string> args, TimePoint now);
  void onReply(size_t index, const Result<resp::RespValue>& reply);
  void onDbsize(Source& source, const Result<resp::RespValue>& reply, TimePoint now);
  void onScan(Source& source, const Result<resp::RespValue>& reply, TimePoint now);
  void onMigrate(Source& source, const Result<resp::RespValue>& reply, TimePoint now);
  void onDel(Source& source, const Result<resp::RespValue>& reply, TimePoint now);
  void settleAlone(Source& source, Item item, std::string_view target,
                   const MigrateVerdict& verdict, TimePoint now);
  void adaptBatch(Source& source, size_t sent_keys, Duration took);
  void requeue(Source& source, std::vector<Item> items);
  void fail(Source& source, Lane lane, std::string_view what, std::string_view why, TimePoint now);
  void succeed(Source& source, Lane lane);
  void cleared(Source& source, uint64_t keys);
  void requestRefresh(TimePoint now);
  void refill(TimePoint now);
  double bucketCapacity() const;
  void updateRate(TimePoint now);
  void updateStats();
  void reportProgress();
  std::vector<std::string> migrateArgs(const std::string& target,
                                       const std::vector<Item>& items) const;

  NodeQuery& query_;
  const Clock& clock_;
  MoverOptions options_;
  TargetOf target_of_;
  std::function<void()> on_refresh_;
  ProgressCallback on_progress_;

  std::vector<Source> sources_;
  MoverStats stats_;

  double tokens_ = 0;  // rate limiter
  TimePoint refilled_at_{};
  bool have_refill_time_ = false;
  TimePoint rate_window_start_{};  // smoothed rate
  uint64_t rate_window_cleared_ = 0;
  bool rate_window_started_ = false;
  bool rate_known_ = false;
  TimePoint refresh_requested_at_{};
  bool refresh_requested_ = false;
  uint32_t reported_tenths_ = 0;  // progress deciles already reported
  bool reported_done_ = false;

  bool pumping_ = false;  // inside pump(): a synchronous reply only asks for another round
  bool repump_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // callbacks hold weak_ptrs
};

}  // namespace slotwise::router
