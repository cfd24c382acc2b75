// The Server's admin side: the handlers of the admin HTTP listener (/metrics, /readyz, /api/*,
// the dashboard) and the hot-key log line. Handlers run on civetweb threads (admin_http.h): they
// read only state that is immutable, atomic or published under a mutex.
#include <fmt/format.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>

#include "proxy/admin/admin_json.h"
#include "proxy/admin/dashboard.h"
#include "proxy/control/server.h"

namespace slotwise::proxy {

std::string Server::slotsJson() const {
  const router::SlotMapPtr map = adminMap();
  return renderSlotsJson(map.get());
}

namespace {

std::string labelValue(const prometheus::ClientMetric& m, std::string_view name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "";
}


}  // namespace

// Per-node health: BackendHealth's reachability and last error, and the per-node metric
// families of every worker (merged by the collector).
std::string Server::backendsJson() const {
  const router::SlotMapPtr map = adminMap();
  std::map<std::string, NodeHealth> by_node;
  for (const prometheus::MetricFamily& f : shards_.Collect()) {
    for (const prometheus::ClientMetric& m : f.metric) {
      const std::string node = labelValue(m, "node");
      if (node.empty()) continue;
      NodeHealth& h = by_node[node];
      if (f.name == "slotwise_backend_connections") {
        const auto n = static_cast<int64_t>(m.gauge.value);
        if (labelValue(m, "state") == "connected") h.connections += n;
        else h.connecting += n;
      } else if (f.name == "slotwise_backend_connect_failures_total") {
        h.connect_failures += static_cast<uint64_t>(m.counter.value);
      } else if (f.name == "slotwise_backend_in_flight_requests") {
        h.in_flight += static_cast<int64_t>(m.gauge.value);
      } else if (f.name == "slotwise_backend_request_duration_seconds") {
        h.requests = m.histogram.sample_count;
        std::vector<double> bounds;
        std::vector<uint64_t> cumulative;
        for (const auto& b : m.histogram.bucket) {
          bounds.push_back(b.upper_bound);
          cumulative.push_back(b.cumulative_count);
        }
        const std::vector<uint64_t> recent = history_.nodeRecent(node, cumulative);
        h.p50_ms = bucketQuantileMs(bounds, recent, 0.5);
        h.p99_ms = bucketQuantileMs(bounds, recent, 0.99);
      }
    }
  }
  return renderBackendsJson(map.get(), [&](const std::string& address) {
    NodeHealth h = by_node[address];
    const BackendHealth::NodeView v = health_.view(address);
    h.last_error = v.last_error;
    h.last_error_unix_ms = v.last_error_unix_ms;
    if (v.established == 0 && v.last_failed) h.state = "down";
    else if (v.established > 0 || v.tried) h.state = "up";
    else if (h.connecting > 0) h.state = "connecting";
    return h;
  });
}

HttpResponse Server::readiness() const {
  const router::SlotMapPtr map = adminMap();
  const uint64_t covered = map ? map->coveredSlots() : 0;
  const uint64_t expected = map ? map->placement().slotCount() : router::SlotMap::kNumSlots;
  std::vector<std::string> unreachable;
  if (map) {
    for (uint16_t m : map->masters()) {
      const std::string& address = map->nodes()[m].address;
      if (!health_.reachable(address)) unreachable.push_back(address);
    }
  }
  const bool ready = map && map->complete() && unreachable.empty();
  std::string body =
      fmt::format("{}: {}/{} slots covered", ready ? "ready" : "not ready", covered, expected);
  if (!unreachable.empty()) {
    body += fmt::format("; unreachable masters: {}", fmt::join(unreachable, ", "));
  }
  return HttpResponse{ready ? 200 : 503, "", body + "\n"};
}

bool Server::startAdmin() {
  AdminHandlers h;
  h.metrics = [this] { return HttpResponse{200, "", metrics::renderText(metricSources())}; };
  h.healthz = [] { return HttpResponse{200, "", "ok\n"}; };
  h.readyz = [this] { return readiness(); };
  h.slots = [this] { return HttpResponse{200, "", slotsJson()}; };
  h.clients = [this] { return HttpResponse{200, "", renderClientsJson(total_clients_.load())}; };
  h.backends = [this] { return HttpResponse{200, "", backendsJson()}; };
  h.history = [this] {
    return HttpResponse{200, "", renderHistoryJson(history_.points(), TrafficHistory::kIntervalMs)};
  };
  h.pools = [this] {
    return HttpResponse{200, "", renderPoolsJson(adminMap().get(), backend_kinds_)};
  };
  // Rendered once: handlers run on civetweb threads and must not read config_ while it changes.
  h.config = [this] {
    std::lock_guard lock(config_json_mu_);
    return HttpResponse{200, "", config_json_};
  };
  if (migration_) {
    h.migration = [this] { return HttpResponse{200, "", migration_->json()}; };
  }
  h.hotkeys = [this](std::string_view query) {
    const std::string window = queryParam(query, "window");  // "10s" or "10"
    const std::string limit = queryParam(query, "limit");
    const int window_s = window.empty() ? 10 : std::atoi(window.c_str());
    const long n = limit.empty() ? 20 : std::atol(limit.c_str());
    if (window_s < 1 || window_s > kHotSeconds || n < 1 || n > 1000) {
      return HttpResponse{400, "text/plain; charset=utf-8",
                          fmt::format("window must be 1s..{}s and limit 1..1000\n", kHotSeconds)};
    }
    const bool on = keywatch_.config().hot_keys;  // immutable: observe is restart-only
    return HttpResponse{200, "",
                        renderHotKeysJson(keywatch_.hot(window_s, static_cast<size_t>(n)), on)};
  };
  h.bigkeys = [this] {
    return HttpResponse{200, "",
                        renderBigKeysJson(keywatch_.big(keywatch_.config().big_keys),
                                          keywatch_.config().big_value_bytes)};
  };
  h.dashboard = [] { return HttpResponse{200, "", std::string(dashboardHtml())}; };
  AdminOptions opts;
  opts.bearer_token = config_.admin.token;
  if (!admin_.start(config_.admin.listen.host, config_.admin.listen.port, std::move(h), opts)) {
    spdlog::critical("cannot start the admin listener on {}: {}", config_.admin.listen.toString(),
                     admin_.lastError());
    return false;
  }
  spdlog::info("admin HTTP on {} (dashboard at /, /metrics, /healthz, /readyz, /api/*)",
               HostPort{config_.admin.listen.host, admin_.port()}.toString());
  return true;
}

std::vector<const prometheus::Collectable*> Server::metricSources() const {
  std::vector<const prometheus::Collectable*> sources{&shards_, &control_registry_, &process_};
  if (hot_key_metric_) sources.push_back(hot_key_metric_.get());
  return sources;
}

void Server::sampleHistory() {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  history_.sample(shards_.Collect(), now_ms);
}

void Server::logHotKeys() {
  const auto now = static_cast<int64_t>(time(nullptr));
  if (now == hot_key_check_s_) return;
  hot_key_check_s_ = now;
  for (const HotKey& h : keywatch_.overThreshold(now)) {
    spdlog::warn("hot key {}: {} requests in the last second (threshold {}/s; /api/hotkeys)", h.key,
                 h.count, keywatch_.config().hot_key_threshold_per_s);
  }
}

}  // namespace slotwise::proxy
