#include "proxy/stats/space_saving.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>

namespace slotwise::proxy {

SpaceSaving::SpaceSaving(uint32_t capacity, uint32_t max_key_bytes)
    : capacity_(std::max<uint32_t>(capacity, 1)), max_key_bytes_(max_key_bytes) {
  size_t table_size = 4;
  while (table_size < 2 * static_cast<size_t>(capacity_)) table_size <<= 1;
  mask_ = table_size - 1;
  counters_.resize(capacity_);
  heap_.reserve(capacity_);
  table_.assign(table_size, kEmpty);
}

uint32_t SpaceSaving::findSlot(std::string_view key, size_t hash) const {
  for (size_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
    const uint32_t c = table_[slot];
    if (c == kEmpty) return kEmpty;  // the table is at most half full: an empty slot exists
    if (counters_[c].hash == hash && counters_[c].key == key) return static_cast<uint32_t>(slot);
  }
}

void SpaceSaving::tableInsert(uint32_t counter) {
  size_t slot = counters_[counter].hash & mask_;
  while (table_[slot] != kEmpty) slot = (slot + 1) & mask_;
  table_[slot] = counter;
}

// Linear probing without tombstones: after emptying a slot, later entries of the same probe run
// move back into it unless their home slot lies (cyclically) after the hole.
void SpaceSaving::tableErase(uint32_t counter) {
  size_t hole = counters_[counter].hash & mask_;
  while (table_[hole] != counter) hole = (hole + 1) & mask_;
  for (size_t next = (hole + 1) & mask_; table_[next] != kEmpty; next = (next + 1) & mask_) {
    const size_t home = counters_[table_[next]].hash & mask_;
    // Distance from home to next versus home to hole, both cyclic: the entry may move back
    // into the hole only if the hole is on its probe path.
    if (((next - home) & mask_) >= ((next - hole) & mask_)) {
      table_[hole] = table_[next];
      hole = next;
    }
  }
  table_[hole] = kEmpty;
}

void SpaceSaving::swapHeap(uint32_t a, uint32_t b) {
  std::swap(heap_[a], heap_[b]);
  counters_[heap_[a]].heap_pos = a;
  counters_[heap_[b]].heap_pos = b;
}

void SpaceSaving::siftDown(uint32_t pos) {
  const auto n = static_cast<uint32_t>(heap_.size());
  for (;;) {
    const uint32_t left = 2 * pos + 1;
    if (left >= n) return;
    uint32_t smallest = left;
    const uint32_t right = left + 1;
    if (right < n && counters_[heap_[right]].count < counters_[heap_[left]].count) smallest = right;
    if (counters_[heap_[smallest]].count >= counters_[heap_[pos]].count) return;
    swapHeap(pos, smallest);
    pos = smallest;
  }
}

void SpaceSaving::siftUp(uint32_t pos) {
  while (pos > 0) {
    const uint32_t parent = (pos - 1) / 2;
    if (counters_[heap_[parent]].count <= counters_[heap_[pos]].count) return;
    swapHeap(pos, parent);
    pos = parent;
  }
}

void SpaceSaving::add(std::string_view key) {
  if (key.size() > max_key_bytes_) key = key.substr(0, max_key_bytes_);
  ++total_;
  const size_t hash = std::hash<std::string_view>{}(key);
  const uint32_t slot = findSlot(key, hash);
  if (slot != kEmpty) {
    Counter& c = counters_[table_[slot]];
    ++c.count;
    siftDown(c.heap_pos);
    return;
  }
  if (used_ < capacity_) {
    const uint32_t idx = used_++;
    Counter& c = counters_[idx];
    c.key.assign(key);
    c.count = 1;
    c.error = 0;
    c.hash = hash;
    c.heap_pos = static_cast<uint32_t>(heap_.size());
    heap_.push_back(idx);
    tableInsert(idx);
    siftUp(c.heap_pos);
    return;
  }
  // Every counter is in use: the key takes over the smallest one.
  const uint32_t idx = heap_[0];
  tableErase(idx);
  Counter& c = counters_[idx];
  c.key.assign(key);
  c.error = c.count;
  ++c.count;
  c.hash = hash;
  tableInsert(idx);
  siftDown(0);
}

std::vector<SpaceSaving::Entry> SpaceSaving::top(size_t k) const {
  std::vector<uint32_t> order(heap_.begin(), heap_.end());
  const auto before = [this](uint32_t a, uint32_t b) {
    const Counter& x = counters_[a];
    const Counter& y = counters_[b];
    return x.count != y.count ? x.count > y.count : x.key < y.key;
  };
  const size_t n = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    before);
  std::vector<Entry> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Counter& c = counters_[order[i]];
    out.push_back(Entry{c.key, c.count, c.error});
  }
  return out;
}

void SpaceSaving::clear() {
  std::fill(table_.begin(), table_.end(), kEmpty);
  heap_.clear();
  used_ = 0;
  total_ = 0;
}

}  // namespace slotwise::proxy
