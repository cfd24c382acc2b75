#include "proxy/datapath/migration_gate.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <algorithm>
#include <string>
#include <utility>

#include "common/host_port.h"
#include "proxy/datapath/dispatcher.h"
#include "proxy/datapath/topology.h"
#include "resp/encoder.h"
#include "router/key_placement.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kRetryMs = 20;

// The first line of an error reply without "-" and CRLF.
std::string_view errorText(std::string_view bytes) {
  if (bytes.empty() || bytes[0] != '-') return {};
  const size_t end = bytes.find("\r\n");
  return bytes.substr(1, end == std::string_view::npos ? bytes.size() - 1 : end - 1);
}
}  // namespace

// The moves of one command. Each move in flight is a Request owned by this batch; the batch
// deletes itself when the last move has finished (also after cancel(): moves are never cut short).
class MigrationGate::Batch final : public RequestOwner {
 public:
  Batch(MigrationGate& gate, uint64_t deadline_ms, Done done)
      : gate_(gate), deadline_ms_(deadline_ms), done_(std::move(done)) {}

  void cancel() { done_ = nullptr; }
  uint64_t deadline() const { return deadline_ms_; }
  // A move started (sent or delayed) / finished.
  void hold() { ++outstanding_; }
  void release() {
    if (--outstanding_ == 0) finish();
  }
  // start(): when only its own hold is left, every move already finished; the batch goes away
  // without calling `done` and the caller gets the outcome at once.
  bool settleNow(std::string* error) {
    if (outstanding_ != 1) return false;
    *error = std::move(error_);
    if (!error->empty()) gate_.state_.commands_refused.fetch_add(1, std::memory_order_relaxed);
    delete this;
    return true;
  }
  void track(Request* req, Move move) { in_flight_.emplace_back(req, std::move(move)); }
  // The move could not be done before the deadline: the command gets `error`.
  void giveUp(const std::string& key, std::string_view why) {
    if (!error_.empty()) return;
    error_ = "TRYAGAIN slotwise: key '" + key.substr(0, 64) +
             "' could not be moved out of the migration source (" + std::string(why) + ")";
    spdlog::warn("migration: {}", error_);
  }

  // RequestOwner: the reply of a MIGRATE or DEL.
  void onReply(Request* req, std::string_view bytes) override {
    auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                           [req](const auto& m) { return m.first == req; });
    Move move = std::move(it->second);
    in_flight_.erase(it);
    gate_.requests_.recycle(req);
    gate_.onMoveReply(std::move(move), bytes);
    release();
  }
  void onTransactionRedirect() override {}
  void useBlockingConn(BackendConn*) override {}
  ConnOwner* connOwner() override { return nullptr; }

 private:
  void finish() {
    Done done = std::move(done_);
    std::string error = std::move(error_);
    MigrationState& state = gate_.state_;
    delete this;
    if (!done) return;
    if (!error.empty()) state.commands_refused.fetch_add(1, std::memory_order_relaxed);
    done(std::move(error));
  }

  MigrationGate& gate_;
  uint64_t deadline_ms_;
  Done done_;
  std::string error_;
  uint32_t outstanding_ = 0;
  std::vector<std::pair<Request*, Move>> in_flight_;
};

MigrationGate::MigrationGate(uv_loop_t* loop, Dispatcher& dispatcher, RequestPool& requests,
                             const Topology& topology, MigrationState& state, Options options)
    : loop_(loop),
      dispatcher_(dispatcher),
      requests_(requests),
      topology_(topology),
      state_(state),
      options_(std::move(options)) {}

void MigrationGate::init() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

MigrationGate::~MigrationGate() = default;

void MigrationGate::close() {
  uv_timer_stop(&timer_);
  std::vector<Delayed> delayed;
  delayed.swap(delayed_);
  for (Delayed& d : delayed) {
    d.move.batch->giveUp(d.move.key, "shutting down");
    d.move.batch->release();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

bool MigrationGate::needsMove(const std::vector<std::string_view>& keys) {
  if (options_.cache_keys == 0) return !keys.empty();
  return std::any_of(keys.begin(), keys.end(), [this](std::string_view k) {
    return known_.find(std::string(k)) == known_.end();
  });
}

void MigrationGate::remember(const std::string& key) {
  if (options_.cache_keys == 0) return;
  if (known_.size() >= options_.cache_keys) known_.clear();  // bounded: start over
  known_.insert(key);
}

bool MigrationGate::targetOf(std::string_view key, std::string* host, std::string* port) const {
  const router::SlotMap* map = topology_.slotMap();
  if (map == nullptr) return false;
  // The cluster pool owns slots 0..16383 (PoolSet), so a key's cluster slot is its CRC16 slot.
  const uint16_t master = map->masterIndex(router::keyHashSlot(key));
  if (master == router::SlotMap::kNoNode) return false;
  const router::NodeInfo& node = map->nodes()[master];
  *host = node.host;
  *port = std::to_string(node.port);
  return true;
}

void MigrationGate::sourcesOf(std::string_view key, std::vector<std::string>* out) {
  out->clear();
  const router::SlotMap* map = topology_.slotMap();
  if (map == nullptr) return;
  const router::PrefixRoutes* routes = map->placement().routes();
  if (routes == nullptr) return;
  for (const router::PrefixRoutes::Pool& pool : routes->pools()) {
    if (pool.name != router::kMigrationSourcePool) continue;
    auto add = [&](uint32_t slot) {
      const uint16_t master = map->masterIndex(static_cast<uint16_t>(slot));
      if (master != router::SlotMap::kNoNode) out->push_back(map->nodes()[master].address);
    };
    if (options_.lookup_all || pool.placement.ring() == nullptr) {
      for (uint32_t i = 0; i < pool.slots; ++i) add(pool.offset + i);
    } else {
      const int server = pool.placement.ring()->serverFor(key);
      if (server >= 0) add(pool.offset + static_cast<uint32_t>(server));
    }
    return;
  }
}

MigrationGate::Batch* MigrationGate::start(const std::vector<std::string_view>& keys,
                                           uint64_t deadline_ms, Done done,
                                           std::string* error_now) {
  auto* batch = new Batch(*this, deadline_ms, std::move(done));
  batch->hold();  // so that `done` never runs before start() returns
  std::vector<std::string> sources;
  for (std::string_view key : keys) {
    if (options_.cache_keys != 0 && known_.count(std::string(key)) != 0) continue;
    sourcesOf(key, &sources);
    if (sources.empty() && topology_.slotMap() != nullptr) {
      sendLater({batch, std::string(key), std::string(), false});  // source not mapped yet
    }
    for (const std::string& source : sources) {
      send({batch, std::string(key), source, false});
    }
  }
  if (batch->settleNow(error_now)) return nullptr;
  batch->release();  // moves are in flight: the batch stays until the last one finishes
  return batch;
}

void MigrationGate::cancel(Batch* batch) { batch->cancel(); }

void MigrationGate::describe(ProxyFacts::Migration* out) const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  const MigrationState& s = state_;
  out->running = true;
  out->done = s.drained.load(kRelaxed);
  out->keys_initial = s.keys_initial.load(kRelaxed);
  out->keys_left = s.keys_left.load(kRelaxed);
  out->moved_by_mover = s.mover_moved.load(kRelaxed);
  out->moved_by_commands = s.moved_on_demand.load(kRelaxed);
  out->busy_resolved = s.busy_resolved.load(kRelaxed);
  out->errors = s.mover_errors.load(kRelaxed) + s.move_errors.load(kRelaxed);
  out->commands_refused = s.commands_refused.load(kRelaxed);
  out->passes = s.passes.load(kRelaxed);
  out->eta_s = s.eta_s.load(kRelaxed);
  out->rate_keys_per_s = static_cast<double>(s.rate_milli.load(kRelaxed)) / 1000.0;
}

void MigrationGate::send(Move move) {
  Batch* batch = move.batch;
  if (move.source.empty() || !options_.lookup_all) {
    // A ring's key has one source server, which a Sentinel failover can replace.
    std::vector<std::string> sources;
    sourcesOf(move.key, &sources);
    if (sources.empty()) {
      sendLater(std::move(move));
      return;
    }
    move.source = sources.front();
  }
  std::string host;
  std::string port;
  if (!move.del && !targetOf(move.key, &host, &port)) {
    sendLater(std::move(move));  // no master for the key's slot yet: the map is being refreshed
    return;
  }
  Request* req = requests_.acquire();
  req->client = batch;
  req->move = true;
  req->target = Request::Target::kAddress;
  req->address = move.source;
  req->identity = options_.source_identity;
  req->deadline_ms = batch->deadline();
  if (move.del) {
    resp::appendCommand(req->payload, {"DEL", move.key});
  } else {
    const std::string timeout = std::to_string(options_.migrate_timeout_ms);
    std::vector<std::string_view> args = {"MIGRATE", host, port, "", "0", timeout};
    if (!options_.target_password.empty() && options_.target_username.empty()) {
      args.insert(args.end(), {"AUTH", options_.target_password});
    } else if (!options_.target_password.empty()) {
      args.insert(args.end(), {"AUTH2", options_.target_username, options_.target_password});
    }
    args.insert(args.end(), {"KEYS", move.key});
    resp::appendCommand(req->payload, std::span<const std::string_view>(args));
  }
  batch->hold();
  batch->track(req, std::move(move));
  dispatcher_.forward(req);
}

void MigrationGate::sendLater(Move move) {
  if (uv_now(loop_) + kRetryMs >= move.batch->deadline()) {
    move.batch->giveUp(move.key, "the cluster or the source did not answer in time");
    return;
  }
  move.batch->hold();
  delayed_.push_back({uv_now(loop_) + kRetryMs, std::move(move)});
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<MigrationGate*>(t->data)->onTimer(); }, kRetryMs,
        kRetryMs);
  }
}

void MigrationGate::onTimer() {
  const uint64_t now = uv_now(loop_);
  std::vector<Delayed> due;
  auto it = std::stable_partition(delayed_.begin(), delayed_.end(),
                                  [now](const Delayed& d) { return d.due_ms > now; });
  std::move(it, delayed_.end(), std::back_inserter(due));
  delayed_.erase(it, delayed_.end());
  if (delayed_.empty()) uv_timer_stop(&timer_);
  for (Delayed& d : due) {
    Batch* batch = d.move.batch;
    send(std::move(d.move));
    batch->release();  // the hold of sendLater
  }
}

void MigrationGate::onMoveReply(Move move, std::string_view bytes) {
  if (!move.del && bytes.starts_with("+OK")) {
    state_.moved_on_demand.fetch_add(1, std::memory_order_relaxed);
    remember(move.key);
    return;
  }
  if (bytes.starts_with("+NOKEY") || (move.del && bytes.starts_with(":"))) {
    remember(move.key);
    return;
  }
  const std::string_view error = errorText(bytes);
  if (!move.del && error.find("BUSYKEY") != std::string_view::npos) {
    // The cluster already has the key (written there after the source copy was moved, or
    // restored by a MIGRATE whose answer timed out): the cluster's copy wins.
    state_.busy_resolved.fetch_add(1, std::memory_order_relaxed);
    move.del = true;
    send(std::move(move));
    return;
  }
  state_.move_errors.fetch_add(1, std::memory_order_relaxed);
  if (error.find("MOVED") != std::string_view::npos ||
      error.find("ASK") != std::string_view::npos) {
    dispatcher_.reportTopologyDrift();  // the cluster moved the slot: refresh, then retry
  }
  spdlog::debug("migration: moving '{}' from {}: {}", move.key.substr(0, 64), move.source, error);
  if (uv_now(loop_) + kRetryMs >= move.batch->deadline()) {
    move.batch->giveUp(move.key, error.empty() ? std::string_view("no answer") : error);
    return;
  }
  sendLater(std::move(move));
}

}  // namespace slotwise::proxy
