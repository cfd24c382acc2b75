// Space-Saving top-K counting (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent
// and Top-k Elements in Data Streams", 2005): `capacity` counters, fixed memory, O(log capacity)
// per key. A key that is not counted takes over the counter with the smallest count, whose
// count it inherits (+1) as its `error`: every reported count over-estimates the true one by at
// most `error`, and any key seen more than total/capacity times is guaranteed to be counted.
//
// Nothing allocates once every counter has been used: counters sit in a fixed array, a min-heap
// of their indices finds the smallest, and an open-addressing table (linear probing with
// backward-shift deletion) finds a key's counter; a key name reuses its counter's string
// capacity. Keys longer than `max_key_bytes` are cut to that length before counting.
//
// Not thread-safe: one owner (a worker) counts; snapshots (top()) are copied out by the owner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::proxy {

class SpaceSaving {
 public:
  struct Entry {
    std::string key;
    uint64_t count = 0;  // estimated occurrences (an upper bound)
    uint64_t error = 0;  // count - error is a lower bound
  };

  SpaceSaving(uint32_t capacity, uint32_t max_key_bytes);

  // Counts one occurrence of `key` (cut to max_key_bytes).
  void add(std::string_view key);
  // Up to `k` counted keys, largest count first (ties: by key, for stable output).
  std::vector<Entry> top(size_t k) const;
  // Forgets every key (keeps the memory).
  void clear();
  // Occurrences counted since the last clear().
  uint64_t total() const { return total_; }
  size_t size() const { return used_; }
  uint32_t capacity() const { return capacity_; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Counter {
    std::string key;
    uint64_t count = 0;
    uint64_t error = 0;
    size_t hash = 0;
    uint32_t heap_pos = 0;
  };

  uint32_t findSlot(std::string_view key, size_t hash) const;  // table_ slot, or kEmpty
  void tableInsert(uint32_t counter);
  void tableErase(uint32_t counter);
  void siftDown(uint32_t pos);
  void siftUp(uint32_t pos);
  void swapHeap(uint32_t a, uint32_t b);

  const uint32_t capacity_;
  const uint32_t max_key_bytes_;
  uint32_t used_ = 0;
  uint64_t total_ = 0;
  size_t mask_ = 0;
  std::vector<Counter> counters_;  // capacity_, the first used_ in use
  std::vector<uint32_t> heap_;     // used_ counter indices; min-heap by count
  std::vector<uint32_t> table_;    // power of two >= 2 * capacity_; counter index or kEmpty
};

}  // namespace slotwise::proxy
