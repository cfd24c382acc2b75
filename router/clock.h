// Injectable monotonic time source, so time-driven logic can be tested without sleeping.
#pragma once

#include <chrono>

namespace slotwise::router {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  // Current monotonic time. Never goes backwards.
  virtual TimePoint now() const = 0;
};

// The production clock: std::chrono::steady_clock.
class SteadyClock : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that only moves when told to; for tests. Not thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{}) : now_(start) {}
  TimePoint now() const override { return now_; }
  // Moves time forward by `delta` (must be >= 0 to keep now() monotonic).
  void advance(Duration delta) { now_ += delta; }

 private:
  TimePoint now_;
};

}  // namespace slotwise::router
