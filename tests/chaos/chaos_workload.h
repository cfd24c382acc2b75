// Client side of the chaos test: key layout, per-phase tallies, the rules that decide whether an
// acknowledged write was lost (and who lost it), and the client threads that drive INCR and
// MSET/MGET traffic through the proxy while the controller changes the cluster's topology.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/redis_harness.h"

namespace slotwise::test {

using ChaosClock = std::chrono::steady_clock;

constexpr int kClusterSlots = 16384;

// Phases of the chaos run, in order. Every operation is booked to the phase current when it
// started; kFinalCheck is the read-back sweep after traffic stopped.
enum class ChaosPhase : int {
  kBaseline,
  kReshard,
  kManualFailover,
  kKillMaster,
  kAddMaster,
  kRemoveNode,
  kFinalCheck,
};
constexpr int kChaosPhaseCount = 7;

// Display name of a phase ("baseline", "reshard", ...). Static storage.
const char* chaosPhaseName(ChaosPhase phase);

// Time covered by one failed operation (from sending it to its error or timeout).
struct ErrorSpan {
  ChaosClock::time_point start{};
  ChaosClock::time_point end{};
};

// Longest "error window" of a set of failed operations (any clients, any order): spans that
// overlap or are less than `gap` apart are joined into one window, so a shard that keeps failing
// while other requests succeed in between still shows as one long window. 0 when `spans` is
// empty. Sorts `spans`.
int64_t longestErrorWindowMs(std::vector<ErrorSpan>& spans, std::chrono::milliseconds gap);

// What one client saw during one phase. Plain value type; clients keep their own and the test
// merges them after every client thread has been joined.
struct PhaseStats {
  uint64_t ops = 0;                  // operations attempted (INCR, MSET, MGET, GET, connects)
  uint64_t errors = 0;               // error replies, I/O errors, timeouts, failed connects
  int64_t max_latency_ms = 0;        // slowest single operation (successful or not)
  uint64_t lost_replication = 0;     // acknowledged writes undone by a SIGKILL failover
  uint64_t lost_proxy = 0;           // every other acknowledged write that disappeared
  uint64_t duplicated = 0;           // writes applied more often than they were sent
  std::vector<ErrorSpan> error_spans;  // one per failed operation
  std::map<std::string, uint64_t> error_kinds;  // error text (first 160 bytes) → count
  std::string first_error;           // text of the first error, for the report
  std::string first_anomaly;         // description of the first loss or duplicate

  // Adds counts and spans, keeps maxima, and keeps this object's first texts when already set.
  void merge(const PhaseStats& other);
};

// Facts about the SIGKILLed master that loss classification needs. publish() is called once by
// the controller thread; every client thread may call mayHaveDiedWithMaster() concurrently.
class KillRecord {
 public:
  // `grace`: how long after the kill an acknowledgement can still have come from the dead master
  // (replies already in flight). Must stay below cluster-node-timeout, before which no replica
  // can have been promoted. `lag`: how long before the kill an acknowledged write may still have
  // been missing on the replica (asynchronous replication lag).
  KillRecord(std::chrono::milliseconds grace, std::chrono::milliseconds lag)
      : grace_(grace), lag_(lag) {}

  // Records the slots the master owned and the time it was confirmed dead. Call at most once;
  // `slots` must be final before the call (it is read without a lock afterwards).
  void publish(const std::bitset<kClusterSlots>& slots, ChaosClock::time_point killed_at);

  // True if a write on `slot` acknowledged at `acked_at` can have lived only on the killed master,
  // i.e. a loss of it is explained by Redis's asynchronous replication. False before publish().
  bool mayHaveDiedWithMaster(uint16_t slot, ChaosClock::time_point acked_at) const;

 private:
  std::chrono::milliseconds grace_;
  std::chrono::milliseconds lag_;
  std::bitset<kClusterSlots> slots_;
  std::atomic<int64_t> killed_at_ns_{0};  // steady_clock epoch nanoseconds; 0 = no kill yet
};

// Outcome of checking one observed value against what the client knows it wrote.
struct WriteCheck {
  enum class Kind { kOk, kLostReplication, kLostProxy, kDuplicated };
  Kind kind = Kind::kOk;
  int64_t count = 0;  // writes lost or duplicated (0 when kOk)
};

// What a client knows about one counter it alone increments.
struct CounterState {
  int64_t acked = 0;    // value returned by the last acknowledged INCR (or read back)
  int64_t unacked = 0;  // INCRs sent since then whose outcome is unknown (error or timeout)
  ChaosClock::time_point acked_at{};  // when that acknowledgement arrived
};

// Checks the value returned by an acknowledged INCR and makes it the new baseline. Accepted:
// acked+1 .. acked+1+unacked. Lower: acknowledged writes were lost (count = how many), classified
// by `kill`. Higher: some write was applied twice (kDuplicated).
WriteCheck checkIncrReply(CounterState& state, int64_t value, uint16_t slot,
                          ChaosClock::time_point now, const KillRecord& kill);

// Checks a counter read with GET (`value` nullopt for a missing key, read as 0). Accepted:
// acked .. acked+unacked. The read value becomes the new baseline.
WriteCheck checkCounterRead(CounterState& state, std::optional<int64_t> value, uint16_t slot,
                            ChaosClock::time_point now, const KillRecord& kill);

// What a client knows about one key it alone writes with MSET.
struct MsetKeyState {
  std::optional<std::string> acked;  // value of the last acknowledged MSET (nullopt: none yet)
  std::vector<std::string> pending;  // values of failed MSETs since then (may or may not be set)
  ChaosClock::time_point acked_at{};
};

// Checks an MGET element (`value` nullopt for nil) against the key's state: the acknowledged value
// or any pending one is accepted. Anything else counts as one lost write, classified by `kill`,
// and becomes the new baseline so that one loss is reported once.
WriteCheck checkMgetValue(MsetKeyState& state, const std::optional<std::string>& value,
                          uint16_t slot, ChaosClock::time_point now, const KillRecord& kill);

// One key per hash slot: keyForSlot(s) hashes to slot s. Built once (a few hundred thousand CRC16
// computations); immutable afterwards, so it can be shared by all client threads.
class SlotKeys {
 public:
  SlotKeys();
  // Counter key of `slot` (< kClusterSlots). Reference valid for the object's life.
  const std::string& keyForSlot(uint16_t slot) const { return keys_[slot]; }

 private:
  std::vector<std::string> keys_;
};

// State shared between the controller and the client threads.
struct ChaosControl {
  ChaosControl(std::chrono::milliseconds grace, std::chrono::milliseconds lag) : kill(grace, lag) {}
  std::atomic<bool> stop{false};
  std::atomic<int> phase{0};  // a ChaosPhase value
  KillRecord kill;
};

// One client connection through the proxy, run on its own thread. Client `index` of `clients`
// owns the counters of every slot s with s % clients == index and kMsetKeys private MSET keys.
// Not thread-safe: run() and finalCheck() are called from the client's own thread, stats() after
// that thread was joined.
class ChaosClient {
 public:
  static constexpr int kMsetKeys = 64;
  static constexpr int kMsetBatch = 8;     // keys per MSET / MGET
  static constexpr int kBatchEvery = 16;   // one MSET+MGET pair per this many INCRs

  // `keys` and `control` must outlive the client.
  ChaosClient(int index, int clients, uint16_t proxy_port, const SlotKeys& keys,
              ChaosControl& control);

  // INCR + MSET/MGET traffic until control.stop is set. Each call blocks at most
  // `command_timeout` past the stop request.
  void run();
  // Reads every owned counter and MSET key back (pipelined GETs, MGETs) and checks them. Booked
  // to ChaosPhase::kFinalCheck.
  void finalCheck();

  const std::array<PhaseStats, kChaosPhaseCount>& stats() const { return stats_; }

 private:
  void incrNext();
  void msetAndMget();
  void mgetBatch(const std::vector<int>& indexes);
  // Reconnects after a failure, booking each attempt. `max_attempts` 0 means until control.stop.
  // @return true once connected.
  bool ensureConnected(int max_attempts);
  // Books one operation started at `t0` to the phase current at `t0` (`phase`).
  void record(int phase, ChaosClock::time_point t0, bool ok, const std::string& error_text);
  void recordCheck(int phase, const WriteCheck& check, const std::string& what);
  std::string msetKey(int j) const;

  int index_;
  uint16_t proxy_port_;
  const SlotKeys& keys_;
  ChaosControl& control_;
  SyncRedisClient client_;
  std::vector<uint16_t> slots_;  // owned counter slots
  std::vector<CounterState> counters_;
  std::vector<MsetKeyState> mset_keys_;
  size_t next_counter_ = 0;
  int next_batch_ = 0;
  uint64_t mset_seq_ = 0;
  uint64_t iterations_ = 0;
  std::array<PhaseStats, kChaosPhaseCount> stats_{};
};

}  // namespace slotwise::test
