// MigrationControl: the control thread's half of an online migration (`migration:`), next to the
// workers' MigrationGate (proxy/datapath/migration_gate.h, which explains the per-key move).
//
//   - runs the background mover (router::MigrationMover) on the control loop: SCAN the source
//     servers, MIGRATE their keys in batches to the cluster masters of their slots, at
//     migration.rate_keys_per_s;
//   - publishes its figures into the shared MigrationState (INFO migration, /api/migration,
//     /metrics) and logs every 10% and the end;
//   - once every source is empty, sets MigrationState::drained: the gates stop looking at the
//     source, and the proxy serves from the cluster alone.
//
// Control thread only, except json(), which any thread may call.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/datapath/migration_gate.h"
#include "proxy/io/tls.h"
#include "router/clock.h"
#include "router/slot_map.h"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace slotwise::router {
class MigrationMover;
class NodeQuery;
}  // namespace slotwise::router

namespace slotwise::proxy {

class NodeQueryImpl;

class MigrationControl {
 public:
  // `current_map`: the composed slot map in effect (null before the first one); `refresh`: ask
  // the topology sources to look again (the cluster answered MOVED/ASK to a MIGRATE).
  MigrationControl(uv_loop_t* loop, const config::ProxyConfig& config,
                   std::function<router::SlotMapPtr()> current_map, std::function<void()> refresh,
                   prometheus::Registry& registry, const TlsContextSlot* tls = nullptr);
  ~MigrationControl();
  MigrationControl(const MigrationControl&) = delete;
  MigrationControl& operator=(const MigrationControl&) = delete;

  MigrationState& state() { return state_; }
  // Starts the mover's timer; the mover itself starts once the map has the source's masters.
  void start();
  void stop();
  // A SIGHUP changed migration.rate_keys_per_s.
  void setRate(uint32_t keys_per_s);
  // Body of /api/migration. Any thread.
  std::string json() const;

 private:
  void tick();
  bool startMover();
  void publishStats();
  // The source pool's master addresses in `map` (empty when the map has no source pool yet).
  static std::vector<std::string> sourceMasters(const router::SlotMap& map);

  uv_loop_t* loop_;
  const TlsContextSlot* tls_;  // backend.tls (null: plain)
  router::SteadyClock clock_;
  const config::MigrationConfig config_;
  const config::BackendConfig backend_;
  std::function<router::SlotMapPtr()> current_map_;
  std::function<void()> refresh_;
  MigrationState state_;
  std::unique_ptr<NodeQueryImpl> query_;
  std::unique_ptr<router::MigrationMover> mover_;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  uint64_t started_ms_ = 0;
  uint32_t last_decile_ = 0;
  bool announced_done_ = false;
  prometheus::Gauge& keys_left_;
  prometheus::Gauge& keys_moved_;
  prometheus::Gauge& rate_;
  prometheus::Gauge& done_;
  prometheus::Gauge& errors_;
};

}  // namespace slotwise::proxy
