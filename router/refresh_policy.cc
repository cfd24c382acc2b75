#include "router/refresh_policy.h"

#include <algorithm>

namespace slotwise::router {

RefreshPolicy::Reason RefreshPolicy::due(TimePoint now) const {
  if (in_flight_ || now < not_before_) return Reason::kNone;
  if (!ever_succeeded_) return Reason::kInitial;
  if (last_failed_) return Reason::kRetry;
  if (requested_) return Reason::kRequested;
  if (options_.redirect_threshold > 0 && redirects_ >= options_.redirect_threshold) {
    return Reason::kRedirects;
  }
  if (options_.failure_threshold > 0 && failures_ >= options_.failure_threshold) {
    return Reason::kFailures;
  }
  if (options_.interval.count() > 0 && now - last_success_ >= options_.interval) {
    return Reason::kPeriodic;
  }
  return Reason::kNone;
}

void RefreshPolicy::onStarted(TimePoint now) {
  in_flight_ = true;
  requested_ = false;
  redirects_ = 0;
  failures_ = 0;
  not_before_ = now + options_.min_interval;
}

void RefreshPolicy::onFinished(TimePoint now, bool success) {
  in_flight_ = false;
  last_failed_ = !success;
  if (success) {
    ever_succeeded_ = true;
    last_success_ = now;
  } else {
    not_before_ = std::max(not_before_, now + options_.min_interval);
  }
}

}  // namespace slotwise::router
