// Test helper: feeds a byte string to an incremental parser whole, one byte at a time and at
// random split points, the way a socket might deliver it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::test {

// One way of cutting an input into reads: `ends` are the cumulative byte counts after each read.
struct SplitPlan {
  std::string name;
  std::vector<size_t> ends;
};

// Plans: "whole", "bytewise" and `random_seeds` random plans with fixed seeds (reproducible).
inline std::vector<SplitPlan> splitPlans(size_t size, int random_seeds = 4) {
  std::vector<SplitPlan> plans;
  plans.push_back({"whole", {size}});
  SplitPlan bytewise{"bytewise", {}};
  for (size_t i = 1; i <= size; ++i) bytewise.ends.push_back(i);
  plans.push_back(std::move(bytewise));
  for (int seed = 1; seed <= random_seeds; ++seed) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::uniform_int_distribution<size_t> chunk(1, std::max<size_t>(1, size / 3));
    SplitPlan plan{"random_seed" + std::to_string(seed), {}};
    for (size_t at = 0; at < size;) {
      at = std::min(size, at + chunk(rng));
      plan.ends.push_back(at);
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

enum class StepKind { kNeedMore, kConsumed, kError };
struct StepResult {
  StepKind kind;
  size_t consumed = 0;
};

// Feeds `input` following `plan`. After each read, `step(view)` is called repeatedly with the
// unconsumed bytes until it needs more or fails; `step` must copy anything it wants to keep.
// Each call gets a freshly allocated copy of the bytes (while the previous copy is still alive,
// so the address always changes), and the previous copy is scribbled over, so a parser that kept
// pointers instead of offsets reads garbage. Inputs above 4 KiB are passed without copying in
// the bytewise plan to keep the test fast.
// @return false if `step` reported an error; *leftover is the number of unconsumed bytes.
template <typename Step>
bool feedPlan(std::string_view input, const SplitPlan& plan, Step&& step, size_t* leftover) {
  constexpr size_t kCopyLimit = 4096;
  std::string pending;
  std::unique_ptr<std::string> previous;
  size_t fed = 0;
  for (const size_t end : plan.ends) {
    pending.append(input.substr(fed, end - fed));
    fed = end;
    while (!pending.empty()) {
      const bool copy = pending.size() <= kCopyLimit || plan.ends.size() < input.size();
      auto fresh = std::make_unique<std::string>(copy ? pending : std::string());
      if (previous) std::fill(previous->begin(), previous->end(), '\xAA');
      previous = std::move(fresh);
      const StepResult r = step(copy ? std::string_view(*previous) : std::string_view(pending));
      if (r.kind == StepKind::kError) return false;
      if (r.kind == StepKind::kNeedMore) break;
      pending.erase(0, r.consumed);
    }
  }
  *leftover = pending.size();
  return true;
}

}  // namespace slotwise::test
