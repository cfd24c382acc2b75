#include "router/key_placement.h"

#include <algorithm>

namespace slotwise::router {

size_t KeyPlacement::slotCount() const {
  if (routes_ != nullptr) return routes_->slotCount();
  return ring_ == nullptr ? kHashSlotCount : ring_->servers().size();
}

bool KeyPlacement::clusterSlot(uint16_t slot) const {
  if (routes_ != nullptr) {
    const int index = routes_->poolOfSlot(slot);
    if (index < 0) return false;
    const PrefixRoutes::Pool& pool = routes_->pools()[static_cast<size_t>(index)];
    return pool.placement.clusterSlot(static_cast<uint16_t>(slot - pool.offset));
  }
  return ring_ == nullptr && slot < kHashSlotCount;
}

bool KeyPlacement::hasCluster() const {
  if (routes_ == nullptr) return ring_ == nullptr;
  return std::any_of(routes_->pools().begin(), routes_->pools().end(),
                     [](const PrefixRoutes::Pool& p) { return p.placement.hasCluster(); });
}

PlacementSpan KeyPlacement::keylessSpan() const {
  if (routes_ == nullptr) return {ring_.get(), 0, static_cast<uint32_t>(slotCount())};
  const PrefixRoutes::Pool& pool = routes_->pools()[routes_->defaultPool()];
  return {pool.placement.ring(), pool.offset, pool.slots};
}

uint16_t KeyPlacement::routedSlotOf(std::string_view key) const { return routes_->slotOf(key); }

PrefixRoutes::PrefixRoutes(std::vector<Pool> pools,
                           const std::vector<std::pair<std::string, size_t>>& routes,
                           size_t default_pool)
    : pools_(std::move(pools)), default_pool_(default_pool) {
  for (const auto& [prefix, pool] : routes) {
    if (std::find(lengths_.begin(), lengths_.end(), prefix.size()) == lengths_.end()) {
      lengths_.push_back(prefix.size());
    }
    by_prefix_.emplace(prefix, pool);
  }
  std::sort(lengths_.rbegin(), lengths_.rend());
  for (const Pool& p : pools_) slot_count_ += p.slots;
}

size_t PrefixRoutes::poolOf(std::string_view key) const {
  for (const size_t length : lengths_) {
    if (length > key.size()) continue;
    const auto it = by_prefix_.find(key.substr(0, length));
    if (it != by_prefix_.end()) return it->second;
  }
  return default_pool_;
}

uint16_t PrefixRoutes::slotOf(std::string_view key) const {
  const Pool& pool = pools_[poolOf(key)];
  const uint16_t local = pool.placement.slotOf(key);
  if (local == KeyPlacement::kUnplaced) return KeyPlacement::kUnplaced;
  return static_cast<uint16_t>(pool.offset + local);
}

int PrefixRoutes::poolOfSlot(uint16_t slot) const {
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (slot >= pools_[i].offset && slot < pools_[i].offset + pools_[i].slots) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace slotwise::router
