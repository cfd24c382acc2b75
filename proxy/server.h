// Server: owns the control loop (accepting, signals, topology refresh) and the worker threads.
//
//   control thread: listener ─► least-loaded worker (fd through its mailbox)
//                   TopologyRefresher ─► new SlotMap ─► every worker's mailbox
//                   workers' MOVED / failure reports ─► control mailbox ─► RefreshPolicy
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/mailbox.h"
#include "proxy/node_query_impl.h"
#include "proxy/worker.h"
#include "router/clock.h"
#include "router/topology_refresher.h"

namespace slotwise::proxy {

class Server : public ControlSink {
 public:
  explicit Server(config::ProxyConfig config);
  ~Server() override;

  // Binds, starts the workers and runs until SIGTERM/SIGINT. Returns the process exit code.
  int run();

  // ControlSink (called from worker threads).
  void onRedirectSeen() override;
  void onBackendFailure(const std::string& address) override;

 private:
  bool startListening();
  void onAcceptable();
  void shutdown();
  void publish(router::SlotMapPtr map);

  config::ProxyConfig config_;
  uv_loop_t loop_{};
  Mailbox mailbox_;
  uv_signal_t sigterm_{}, sigint_{}, sighup_{};
  uv_timer_t tick_{};
  uv_poll_t accept_poll_{};
  int listen_fd_ = -1;
  std::atomic<int> total_clients_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<NodeQueryImpl> node_query_;
  router::SteadyClock clock_;
  std::unique_ptr<router::TopologyRefresher> refresher_;
  bool stopping_ = false;
};

}  // namespace slotwise::proxy
