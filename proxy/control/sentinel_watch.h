// SentinelWatch: keeps one pub/sub connection to each configured Redis Sentinel on the control
// loop and hands every event message it receives (+switch-master, +sdown, ...) to a callback.
// It only listens: deciding what an event means for the topology, and asking a Sentinel for the
// current masters, is the owner's job. Because a Sentinel may have published events while a
// connection was down, the owner is told every time a connection is (re)subscribed and should
// then re-read the state it cares about (SENTINEL GET-MASTER-ADDR-BY-NAME, ...).
//
// Per Sentinel: connect (connectTcp), pipeline AUTH (if configured) and SUBSCRIBE <channels>,
// wait for every subscription to be confirmed, then PING every ping_interval (a silent peer,
// e.g. a stopped process or a dropped route, is otherwise never noticed). Any error, close,
// unanswered PING or a handshake that takes longer than connect_timeout closes that connection
// and a new one is tried after reconnect_delay. Replies are decoded with resp::ValueDecoder.
//
// Threading and lifetime: everything runs on `loop`'s thread. stop() closes every handle; the
// connections free themselves once libuv has run their close callbacks (proxy/io/uv_handle.h),
// so the SentinelWatch may be destroyed right after stop() (the destructor calls it), as long as
// the loop keeps running long enough to run those callbacks. The callbacks may call stop(); they
// must not destroy the SentinelWatch.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_port.h"
#include "proxy/io/tls.h"

namespace slotwise::proxy {

struct SentinelWatchOptions {
  // Wait between a lost (or failed) connection and the next attempt.
  std::chrono::milliseconds reconnect_delay{500};
  // Limit on connect + AUTH + SUBSCRIBE confirmation.
  std::chrono::milliseconds connect_timeout{1000};
  // PING period on a subscribed connection; a PING still unanswered one period later closes it.
  // 0 disables PINGs.
  std::chrono::milliseconds ping_interval{1000};
  // backend.tls: connections speak TLS with the slot's settings (null: plain TCP).
  const TlsContextSlot* tls = nullptr;
  // Channels to SUBSCRIBE to (Sentinel publishes each event type on the channel of its name).
  // REQUIRES: not empty.
  std::vector<std::string> channels = {"+switch-master",
                                       "+sdown",
                                       "-sdown",
                                       "+odown",
                                       "-odown",
                                       "+failover-end",
                                       "+failover-end-for-timeout",
                                       "+convert-to-slave",
                                       "+slave",
                                       "+reboot",
                                       "+failover-state-send-slaveof-noone",
                                       "+promoted-slave",
                                       "-failover-abort-not-elected",
                                       "-failover-abort-no-good-slave",
                                       "-failover-abort-slave-timeout"};
};

class SentinelWatch {
 public:
  using Options = SentinelWatchOptions;
  using EventCallback = std::function<void(std::string_view channel, std::string_view payload)>;

  struct Stats {
    uint64_t connects = 0;     // TCP connections established
    uint64_t disconnects = 0;  // established connections lost (not counting stop())
    uint64_t events = 0;       // messages passed to the event callback
  };

  // `sentinel_addresses`: "host:port" (HostPort::parse spellings); `auth_args`: the command sent
  // first on every connection, e.g. {"AUTH", "user", "pass"}, or empty. Nothing happens before
  // start().
  SentinelWatch(uv_loop_t* loop, std::vector<std::string> sentinel_addresses,
                const std::vector<std::string>& auth_args, EventCallback on_event,
                Options options = {});
  ~SentinelWatch();  // stop()
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  // Starts connecting to every Sentinel (addresses that do not parse are skipped and reported in
  // lastError()). No-op while started; after stop() it starts afresh.
  void start();
  // Closes every connection and timer; no callback runs afterwards. Idempotent.
  void stop();

  // Called (on the loop thread) each time a connection's subscriptions are all confirmed.
  void setOnSubscribed(std::function<void()> on_subscribed) {
    on_subscribed_ = std::move(on_subscribed);
  }

  // Connections whose subscriptions are confirmed right now.
  size_t connectedCount() const;
  Stats stats() const { return stats_; }
  // The most recent failure, prefixed with the Sentinel's address; empty if none yet.
  const std::string& lastError() const { return last_error_; }

 private:
  class Conn;
  struct Link;

  void connect(Link& link);
  void onTimer(Link& link);
  // `conn` of `link` is closed; `established`: its TCP connect had succeeded.
  void onConnClosed(Link& link, const std::string& reason, bool established);
  // The connection of `link` has confirmed every subscription.
  void onConnSubscribed(Link& link);
  void armTimer(Link& link, std::chrono::milliseconds delay);

  uv_loop_t* loop_;
  std::vector<std::string> addresses_;
  std::string handshake_;  // encoded AUTH (if any) + SUBSCRIBE
  bool has_auth_ = false;
  EventCallback on_event_;
  std::function<void()> on_subscribed_;
  Options options_;
  std::vector<std::unique_ptr<Link>> links_;
  Stats stats_;
  std::string last_error_;
};

// The payload of +switch-master: "<name> <old-ip> <old-port> <new-ip> <new-port>".
struct SwitchMasterEvent {
  std::string name;
  HostPort old_master;
  HostPort new_master;
};
// @return the parsed payload, or nullopt if it does not have that form.
std::optional<SwitchMasterEvent> parseSwitchMaster(std::string_view payload);

}  // namespace slotwise::proxy
