#include "proxy/control/migration_control.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "proxy/control/node_query_impl.h"
#include "router/hash_slot.h"
#include "router/key_placement.h"
#include "router/migration_mover.h"

namespace slotwise::proxy {
namespace {
constexpr uint64_t kTickMs = 5;

prometheus::Gauge& gauge(prometheus::Registry& r, const std::string& name,
                         const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

std::vector<std::string> authArgs(const std::string& user, const std::string& password) {
  if (password.empty()) return {};
  if (user.empty()) return {"AUTH", password};
  return {"AUTH", user, password};
}
}  // namespace

MigrationControl::MigrationControl(uv_loop_t* loop, const config::ProxyConfig& config,
                                   std::function<router::SlotMapPtr()> current_map,
                                   std::function<void()> refresh, prometheus::Registry& registry,
                                   const TlsContextSlot* tls)
    : loop_(loop),
      tls_(tls),
      config_(config.migration),
      backend_(config.backend),
      current_map_(std::move(current_map)),
      refresh_(std::move(refresh)),
      keys_left_(gauge(registry, "slotwise_migration_source_keys",
                       "Keys left in the migration source (sum of the sources' last DBSIZE).")),
      keys_moved_(gauge(registry, "slotwise_migration_keys_moved",
                        "Keys this proxy moved from the migration source to the cluster "
                        "(background mover and commands that touched them).")),
      rate_(gauge(registry, "slotwise_migration_rate_keys_per_second",
                  "Keys per second the background mover moves (smoothed).")),
      done_(gauge(registry, "slotwise_migration_done",
                  "1 once every migration source is empty and the proxy serves from the cluster "
                  "alone.")),
      errors_(gauge(registry, "slotwise_migration_errors",
                    "Failed move attempts (retried) since start.")) {}

MigrationControl::~MigrationControl() = default;

void MigrationControl::start() {
  started_ms_ = uv_now(loop_);
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_open_ = true;
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<MigrationControl*>(t->data)->tick(); }, kTickMs,
      kTickMs);
}

void MigrationControl::stop() {
  if (!timer_open_) return;
  timer_open_ = false;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void MigrationControl::setRate(uint32_t keys_per_s) {
  if (mover_) mover_->setRate(keys_per_s);
}

std::vector<std::string> MigrationControl::sourceMasters(const router::SlotMap& map) {
  std::vector<std::string> out;
  const router::PrefixRoutes* routes = map.placement().routes();
  if (routes == nullptr) return out;
  for (const router::PrefixRoutes::Pool& pool : routes->pools()) {
    if (pool.name != router::kMigrationSourcePool) continue;
    for (uint32_t i = 0; i < pool.slots; ++i) {
      const uint16_t master = map.masterIndex(static_cast<uint16_t>(pool.offset + i));
      if (master == router::SlotMap::kNoNode) return {};  // not every source known yet
      out.push_back(map.nodes()[master].address);
    }
  }
  return out;
}

bool MigrationControl::startMover() {
  const router::SlotMapPtr map = current_map_();
  if (map == nullptr) return false;
  std::vector<std::string> sources = sourceMasters(*map);
  if (sources.empty()) return false;
  router::MoverOptions opts;
  opts.sources = sources;
  opts.batch_keys = config_.batch_keys;
  opts.rate_keys_per_s = config_.rate_keys_per_s;
  opts.migrate_timeout_ms = static_cast<uint64_t>(config_.migrate_timeout.count());
  opts.max_block_ms = static_cast<uint64_t>(config_.max_block.count());
  opts.target_username = backend_.username;
  opts.target_password = backend_.password;
  // A MIGRATE may take its whole timeout (a big key): the query waits a little longer.
  query_ = std::make_unique<NodeQueryImpl>(
      loop_, config_.migrate_timeout + std::chrono::milliseconds(2000),
      authArgs(config_.source_username, config_.source_password), tls_);
  auto target_of = [this](std::string_view key) -> std::string {
    const router::SlotMapPtr m = current_map_();
    if (m == nullptr) return {};
    const uint16_t master = m->masterIndex(router::keyHashSlot(key));
    return master == router::SlotMap::kNoNode ? std::string() : m->nodes()[master].address;
  };
  mover_ = std::make_unique<router::MigrationMover>(*query_, clock_, std::move(opts), target_of,
                                                    refresh_);
  mover_->setOnProgress([this](const router::MoverStats& s) {
    const uint64_t initial = state_.keys_initial.load(std::memory_order_relaxed);
    if (s.done) return;  // the end is logged by publishStats
    const uint64_t moved = s.moved + s.busy_resolved;
    spdlog::info("migration: {} of {} keys moved ({}%), {} left in the source, {:.0f} keys/s",
                 moved, initial, initial == 0 ? 100 : moved * 100 / initial, s.keys_left,
                 s.rate_keys_per_s);
  });
  spdlog::info("migration: moving the keys of {} into the cluster ({} keys per batch, {})",
               fmt::join(sources, ", "), config_.batch_keys,
               config_.rate_keys_per_s == 0
                   ? std::string("no rate limit")
                   : fmt::format("at most {} keys/s", config_.rate_keys_per_s));
  return true;
}

void MigrationControl::tick() {
  if (!mover_ && !startMover()) return;
  mover_->tick();
  publishStats();
}

void MigrationControl::publishStats() {
  const router::MoverStats& s = mover_->stats();
  constexpr auto kRelaxed = std::memory_order_relaxed;
  state_.mover_moved.store(s.moved, kRelaxed);
  state_.mover_errors.store(s.errors, kRelaxed);
  state_.keys_left.store(s.keys_left, kRelaxed);
  if (state_.keys_initial.load(kRelaxed) == 0) {
    state_.keys_initial.store(mover_->stats().initial_keys, kRelaxed);
  }
  state_.passes.store(s.passes, kRelaxed);
  state_.rate_milli.store(static_cast<uint64_t>(s.rate_keys_per_s * 1000), kRelaxed);
  state_.eta_s.store(mover_->etaSeconds(), kRelaxed);
  keys_left_.Set(static_cast<double>(s.keys_left));
  keys_moved_.Set(static_cast<double>(s.moved + state_.moved_on_demand.load(kRelaxed)));
  rate_.Set(s.rate_keys_per_s);
  errors_.Set(static_cast<double>(s.errors + state_.move_errors.load(kRelaxed)));
  if (s.done && !announced_done_) {
    announced_done_ = true;
    state_.drained.store(true, std::memory_order_release);
    done_.Set(1);
    spdlog::info(
        "migration: the source is empty after {:.1f} s ({} keys moved by the mover, {} by "
        "commands); serving from the cluster alone. Remove the migration block and send SIGHUP to "
        "finish the switch.",
        static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0, s.moved,
        state_.moved_on_demand.load(kRelaxed));
  }
}

std::string MigrationControl::json() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  nlohmann::json j;
  const uint64_t initial = state_.keys_initial.load(kRelaxed);
  const uint64_t left = state_.keys_left.load(kRelaxed);
  j["running"] = true;
  j["done"] = state_.drained.load(kRelaxed);
  j["keys_initial"] = initial;
  j["keys_left"] = left;
  j["keys_moved_by_mover"] = state_.mover_moved.load(kRelaxed);
  j["keys_moved_by_commands"] = state_.moved_on_demand.load(kRelaxed);
  j["busy_resolved"] = state_.busy_resolved.load(kRelaxed);
  j["errors"] = state_.mover_errors.load(kRelaxed) + state_.move_errors.load(kRelaxed);
  j["commands_refused"] = state_.commands_refused.load(kRelaxed);
  j["passes"] = state_.passes.load(kRelaxed);
  j["rate_keys_per_s"] = static_cast<double>(state_.rate_milli.load(kRelaxed)) / 1000.0;
  j["eta_s"] = state_.eta_s.load(kRelaxed);
  j["progress"] =
      initial == 0 ? (state_.drained.load(kRelaxed) ? 1.0 : 0.0)
                   : std::min(1.0, 1.0 - static_cast<double>(left) / static_cast<double>(initial));
  return j.dump();
}

}  // namespace slotwise::proxy
