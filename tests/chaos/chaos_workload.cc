// Chaos-test workload: loss classification rules and the client threads' traffic loop.
#include "tests/chaos/chaos_workload.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "resp/encoder.h"

namespace slotwise::test {
namespace {

using Millis = std::chrono::milliseconds;
using resp::RespValue;
using resp::ValueType;

constexpr Millis kCommandTimeout{15000};
constexpr Millis kConnectTimeout{1000};
constexpr Millis kReconnectPause{50};
constexpr size_t kReadBackBatch = 128;
constexpr int kFinalConnectAttempts = 40;
constexpr size_t kErrorKindLength = 160;

int64_t nanosOf(ChaosClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t millisBetween(ChaosClock::time_point from, ChaosClock::time_point to) {
  return std::chrono::duration_cast<Millis>(to - from).count();
}

WriteCheck lost(int64_t count, bool by_replication) {
  return {by_replication ? WriteCheck::Kind::kLostReplication : WriteCheck::Kind::kLostProxy,
          count};
}

// Integer value of a GET reply: nullopt for nil, -1 for anything that is not a decimal integer.
std::optional<int64_t> counterValue(const RespValue& reply) {
  if (reply.type == ValueType::kNull) return std::nullopt;
  char* end = nullptr;
  const long long v = std::strtoll(reply.str.c_str(), &end, 10);
  if (!reply.isString() || reply.str.empty() || *end != '\0') return -1;
  return v;
}

std::optional<std::string> bulkValue(const RespValue& element) {
  if (element.type == ValueType::kNull) return std::nullopt;
  return element.str;
}

std::string describeReply(const RespValue& reply) {
  if (reply.isError() || reply.isString()) return reply.str;
  if (reply.type == ValueType::kInteger) return std::to_string(reply.integer);
  return "<" + resp::toString(reply) + ">";
}

}  // namespace

const char* chaosPhaseName(ChaosPhase phase) {
  switch (phase) {
    case ChaosPhase::kBaseline: return "baseline";
    case ChaosPhase::kReshard: return "reshard";
    case ChaosPhase::kManualFailover: return "manual-failover";
    case ChaosPhase::kKillMaster: return "sigkill-master";
    case ChaosPhase::kAddMaster: return "add-master";
    case ChaosPhase::kRemoveNode: return "remove-node";
    case ChaosPhase::kFinalCheck: return "final-check";
  }
  return "?";
}

void PhaseStats::merge(const PhaseStats& other) {
  ops += other.ops;
  errors += other.errors;
  max_latency_ms = std::max(max_latency_ms, other.max_latency_ms);
  lost_replication += other.lost_replication;
  lost_proxy += other.lost_proxy;
  duplicated += other.duplicated;
  error_spans.insert(error_spans.end(), other.error_spans.begin(), other.error_spans.end());
  for (const auto& [text, count] : other.error_kinds) error_kinds[text] += count;
  if (first_error.empty()) first_error = other.first_error;
  if (first_anomaly.empty()) first_anomaly = other.first_anomaly;
}

int64_t longestErrorWindowMs(std::vector<ErrorSpan>& spans, Millis gap) {
  std::sort(spans.begin(), spans.end(),
            [](const ErrorSpan& a, const ErrorSpan& b) { return a.start < b.start; });
  int64_t longest = 0;
  size_t i = 0;
  while (i < spans.size()) {
    const ChaosClock::time_point start = spans[i].start;
    ChaosClock::time_point end = spans[i].end;
    for (++i; i < spans.size() && spans[i].start <= end + gap; ++i) {
      end = std::max(end, spans[i].end);
    }
    longest = std::max(longest, millisBetween(start, end));
  }
  return longest;
}

void KillRecord::publish(const std::bitset<kClusterSlots>& slots,
                         ChaosClock::time_point killed_at) {
  slots_ = slots;
  killed_at_ns_.store(nanosOf(killed_at), std::memory_order_release);
}

bool KillRecord::mayHaveDiedWithMaster(uint16_t slot, ChaosClock::time_point acked_at) const {
  const int64_t killed_ns = killed_at_ns_.load(std::memory_order_acquire);
  if (killed_ns == 0 || !slots_.test(slot)) return false;
  const int64_t acked_ns = nanosOf(acked_at);
  const int64_t grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(grace_).count();
  const int64_t lag_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(lag_).count();
  return acked_ns >= killed_ns - lag_ns && acked_ns <= killed_ns + grace_ns;
}

WriteCheck checkIncrReply(CounterState& state, int64_t value, uint16_t slot,
                          ChaosClock::time_point now, const KillRecord& kill) {
  WriteCheck check;
  if (value <= state.acked) {
    check = lost(state.acked - value + 1, kill.mayHaveDiedWithMaster(slot, state.acked_at));
  } else if (value > state.acked + 1 + state.unacked) {
    check = {WriteCheck::Kind::kDuplicated, value - (state.acked + 1 + state.unacked)};
  }
  state = {value, 0, now};
  return check;
}

WriteCheck checkCounterRead(CounterState& state, std::optional<int64_t> value, uint16_t slot,
                            ChaosClock::time_point now, const KillRecord& kill) {
  const int64_t v = value.value_or(0);
  WriteCheck check;
  if (v < state.acked) {
    check = lost(state.acked - v, kill.mayHaveDiedWithMaster(slot, state.acked_at));
  } else if (v > state.acked + state.unacked) {
    check = {WriteCheck::Kind::kDuplicated, v - (state.acked + state.unacked)};
  }
  state = {v, 0, now};
  return check;
}

WriteCheck checkMgetValue(MsetKeyState& state, const std::optional<std::string>& value,
                          uint16_t slot, ChaosClock::time_point now, const KillRecord& kill) {
  if (value == state.acked) return {};
  if (value && std::find(state.pending.begin(), state.pending.end(), *value) !=
                   state.pending.end()) {
    return {};
  }
  const WriteCheck check = lost(1, kill.mayHaveDiedWithMaster(slot, state.acked_at));
  state.acked = value;
  state.pending.clear();
  state.acked_at = now;
  return check;
}

SlotKeys::SlotKeys() : keys_(kClusterSlots) {
  int missing = kClusterSlots;
  for (uint64_t n = 0; missing > 0; ++n) {
    const std::string tag = std::to_string(n);
    std::string& key = keys_[RedisClusterHarness::keySlot(tag)];
    if (!key.empty()) continue;
    key = "chaos:{" + tag + "}:counter";
    --missing;
  }
}

ChaosClient::ChaosClient(int index, int clients, uint16_t proxy_port, const SlotKeys& keys,
                         ChaosControl& control)
    : index_(index), proxy_port_(proxy_port), keys_(keys), control_(control),
      mset_keys_(kMsetKeys) {
  for (int s = index; s < kClusterSlots; s += clients) slots_.push_back(static_cast<uint16_t>(s));
  counters_.resize(slots_.size());
  client_.setCommandTimeout(kCommandTimeout);
}

std::string ChaosClient::msetKey(int j) const {
  return "chaos:mset:" + std::to_string(index_) + ":" + std::to_string(j);
}

void ChaosClient::run() {
  while (!control_.stop.load()) {
    if (!ensureConnected(0)) break;
    incrNext();
    if (++iterations_ % kBatchEvery == 0) msetAndMget();
  }
}

bool ChaosClient::ensureConnected(int max_attempts) {
  for (int attempt = 0; !client_.connected(); ++attempt) {
    if (max_attempts > 0 ? attempt >= max_attempts : control_.stop.load()) return false;
    const int phase = control_.phase.load();
    const auto t0 = ChaosClock::now();
    const bool ok = client_.connect("127.0.0.1", proxy_port_, kConnectTimeout);
    record(phase, t0, ok, "connect: " + client_.lastError());
    if (!ok) std::this_thread::sleep_for(kReconnectPause);
  }
  return true;
}

void ChaosClient::record(int phase, ChaosClock::time_point t0, bool ok,
                         const std::string& error_text) {
  const auto t1 = ChaosClock::now();
  PhaseStats& s = stats_[phase];
  ++s.ops;
  s.max_latency_ms = std::max(s.max_latency_ms, millisBetween(t0, t1));
  if (ok) return;
  ++s.errors;
  s.error_spans.push_back({t0, t1});
  ++s.error_kinds[error_text.substr(0, kErrorKindLength)];
  if (s.first_error.empty()) s.first_error = error_text;
}

void ChaosClient::recordCheck(int phase, const WriteCheck& check, const std::string& what) {
  if (check.kind == WriteCheck::Kind::kOk) return;
  PhaseStats& s = stats_[phase];
  const char* label = "duplicated";
  if (check.kind == WriteCheck::Kind::kLostReplication) {
    s.lost_replication += static_cast<uint64_t>(check.count);
    label = "lost (replication)";
  } else if (check.kind == WriteCheck::Kind::kLostProxy) {
    s.lost_proxy += static_cast<uint64_t>(check.count);
    label = "lost (proxy)";
  } else {
    s.duplicated += static_cast<uint64_t>(check.count);
  }
  if (s.first_anomaly.empty()) {
    s.first_anomaly = std::string(label) + " x" + std::to_string(check.count) + ": " + what;
  }
}

void ChaosClient::incrNext() {
  const size_t i = next_counter_;
  next_counter_ = (next_counter_ + 1) % slots_.size();
  const std::string& key = keys_.keyForSlot(slots_[i]);
  const int phase = control_.phase.load();
  const auto t0 = ChaosClock::now();
  const RespValue reply = client_.command({"INCR", key});
  const bool ok = reply.type == ValueType::kInteger;
  record(phase, t0, ok, "INCR: " + describeReply(reply));
  if (!ok) {
    ++counters_[i].unacked;
    return;
  }
  const int64_t before = counters_[i].acked;
  const WriteCheck check =
      checkIncrReply(counters_[i], reply.integer, slots_[i], ChaosClock::now(), control_.kill);
  recordCheck(phase, check,
              "INCR " + key + " returned " + std::to_string(reply.integer) + " after acked " +
                  std::to_string(before));
}

void ChaosClient::msetAndMget() {
  std::vector<int> indexes;
  std::vector<std::string> cmd = {"MSET"};
  const std::string value_prefix = std::to_string(index_) + ":";
  const uint64_t seq = ++mset_seq_;
  for (int k = 0; k < kMsetBatch; ++k) {
    const int j = (next_batch_ * kMsetBatch + k) % kMsetKeys;
    indexes.push_back(j);
    cmd.push_back(msetKey(j));
    cmd.push_back(value_prefix + std::to_string(seq) + ":" + std::to_string(j));
  }
  next_batch_ = (next_batch_ + 1) % (kMsetKeys / kMsetBatch);
  const int phase = control_.phase.load();
  const auto t0 = ChaosClock::now();
  const RespValue reply = client_.command(cmd);
  const bool ok = reply.type == ValueType::kSimpleString && reply.str == "OK";
  record(phase, t0, ok, "MSET: " + describeReply(reply));
  const auto now = ChaosClock::now();
  for (size_t k = 0; k < indexes.size(); ++k) {
    MsetKeyState& state = mset_keys_[indexes[k]];
    const std::string& value = cmd[2 + 2 * k];
    if (ok) {
      state = {value, {}, now};
    } else {
      state.pending.push_back(value);
    }
  }
  if (client_.connected()) mgetBatch(indexes);
}

void ChaosClient::mgetBatch(const std::vector<int>& indexes) {
  std::vector<std::string> cmd = {"MGET"};
  for (int j : indexes) cmd.push_back(msetKey(j));
  const int phase = control_.phase.load();
  const auto t0 = ChaosClock::now();
  const RespValue reply = client_.command(cmd);
  const bool ok = reply.type == ValueType::kArray && reply.elements.size() == indexes.size();
  record(phase, t0, ok, "MGET: " + describeReply(reply));
  if (!ok) return;
  const auto now = ChaosClock::now();
  for (size_t k = 0; k < indexes.size(); ++k) {
    const std::optional<std::string> got = bulkValue(reply.elements[k]);
    MsetKeyState& state = mset_keys_[indexes[k]];
    const std::string expected = state.acked.value_or("<nil>");
    const WriteCheck check = checkMgetValue(state, got, RedisClusterHarness::keySlot(cmd[1 + k]),
                                            now, control_.kill);
    recordCheck(phase, check,
                "MGET " + cmd[1 + k] + " returned " + got.value_or("<nil>") + ", acked " +
                    expected);
  }
}

void ChaosClient::finalCheck() {
  const int phase = static_cast<int>(ChaosPhase::kFinalCheck);
  for (size_t first = 0; first < slots_.size(); first += kReadBackBatch) {
    if (!ensureConnected(kFinalConnectAttempts)) break;
    const size_t last = std::min(slots_.size(), first + kReadBackBatch);
    std::vector<std::vector<std::string>> cmds;
    for (size_t i = first; i < last; ++i) cmds.push_back({"GET", keys_.keyForSlot(slots_[i])});
    const auto t0 = ChaosClock::now();
    const std::vector<RespValue> replies = client_.pipeline(cmds);
    for (size_t i = first; i < last; ++i) {
      const RespValue& reply = replies[i - first];
      const std::optional<int64_t> value = counterValue(reply);
      const bool ok = !reply.isError() && value.value_or(0) >= 0;
      record(phase, t0, ok, "GET: " + describeReply(reply));
      if (!ok) continue;
      const int64_t before = counters_[i].acked;
      recordCheck(phase,
                  checkCounterRead(counters_[i], value, slots_[i], ChaosClock::now(),
                                   control_.kill),
                  "GET " + cmds[i - first][1] + " returned " + describeReply(reply) +
                      " after acked " + std::to_string(before));
    }
  }
  std::vector<int> all;
  for (int j = 0; j < kMsetKeys; ++j) all.push_back(j);
  if (ensureConnected(kFinalConnectAttempts)) mgetBatch(all);
}

}  // namespace slotwise::test
