// RefreshPolicy: decides when the topology refresher may start a CLUSTER SLOTS refresh.
// Pure bookkeeping; the caller supplies the time (see Clock) and does the I/O.
#pragma once

#include <chrono>
#include <cstdint>

#include "router/clock.h"

namespace slotwise::router {

class RefreshPolicy {
 public:
  using TimePoint = Clock::TimePoint;

  struct Options {
    // Periodic refresh this long after the last successful one; zero disables it.
    std::chrono::milliseconds interval{std::chrono::seconds(30)};
    // Minimum time between two refresh starts, and between a failed refresh and the retry.
    std::chrono::milliseconds min_interval{std::chrono::seconds(1)};
    // Redirects (MOVED) reported since the last start that trigger a refresh; 0 disables.
    uint32_t redirect_threshold = 1;
    // Backend failures reported since the last start that trigger a refresh; 0 disables.
    uint32_t failure_threshold = 3;
  };

  // Why a refresh is due; kNone means "not now".
  enum class Reason { kNone, kInitial, kRetry, kRequested, kRedirects, kFailures, kPeriodic };

  explicit RefreshPolicy(Options options) : options_(options) {}
  // New thresholds and intervals; they apply from the next due() (configuration reload).
  void setOptions(Options options) { options_ = options; }

  // Outcomes, in priority order:
  //   kNone       a refresh is in flight, or less than min_interval since the last start or
  //               the last failure, or no reason below applies;
  //   kInitial    no refresh has succeeded yet;
  //   kRetry      the last refresh failed;
  //   kRequested  requestRefresh() was called since the last start;
  //   kRedirects  redirect_threshold reached;  kFailures  failure_threshold reached;
  //   kPeriodic   `interval` elapsed since the last success.
  Reason due(TimePoint now) const;
  bool shouldStart(TimePoint now) const { return due(now) != Reason::kNone; }

  // Event inputs; they accumulate until the next onStarted().
  void requestRefresh() { requested_ = true; }
  void onRedirect() { ++redirects_; }
  void onFailure() { ++failures_; }

  // The caller started a refresh at `now`. Clears the triggers above.
  // REQUIRES: !inFlight().
  void onStarted(TimePoint now);
  // The in-flight refresh ended at `now`, successfully or not. REQUIRES: inFlight().
  void onFinished(TimePoint now, bool success);

  bool inFlight() const { return in_flight_; }
  const Options& options() const { return options_; }

 private:
  Options options_;
  bool in_flight_ = false;
  bool ever_succeeded_ = false;
  bool last_failed_ = false;
  bool requested_ = false;
  uint32_t redirects_ = 0;
  uint32_t failures_ = 0;
  TimePoint not_before_ = TimePoint::min();
  TimePoint last_success_ = TimePoint::min();
};

}  // namespace slotwise::router
