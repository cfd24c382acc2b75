#include "router/slot_map.h"

#include <algorithm>
#include <cstdint>

#include "common/host_port.h"
#include "common/str_cat.h"

namespace slotwise::router {
namespace {

// nodes() indexes are uint16_t and kNoNode (0xFFFF) is reserved.
constexpr size_t kMaxNodes = SlotMap::kNoNode;

const std::vector<uint16_t>& emptyIndexList() {
  static const std::vector<uint16_t> kEmpty;
  return kEmpty;
}

}  // namespace

// ---- SlotMap ----

const std::vector<uint16_t>& SlotMap::replicasOf(uint16_t master_index) const {
  if (master_index >= replicas_.size()) return emptyIndexList();
  return replicas_[master_index];
}

int SlotMap::findNode(std::string_view address) const {
  const auto it = by_address_.find(address);
  return it == by_address_.end() ? -1 : static_cast<int>(it->second);
}

std::vector<SlotRange> SlotMap::ranges() const {
  std::vector<SlotRange> out;
  for (size_t slot = 0; slot < owners_.size(); ++slot) {
    const uint16_t owner = owners_[slot];
    if (owner == kNoNode) continue;
    if (!out.empty() && out.back().master_index == owner && out.back().last + 1u == slot) {
      out.back().last = static_cast<uint16_t>(slot);
    } else {
      out.push_back({static_cast<uint16_t>(slot), static_cast<uint16_t>(slot), owner});
    }
  }
  return out;
}

// Compares the node sets. On success fills `to_other` with, for each of our node indexes,
// the index of the same address in `other`.
bool SlotMap::sameNodes(const SlotMap& other, std::vector<uint16_t>* to_other) const {
  if (nodes_.size() != other.nodes_.size()) return false;
  to_other->assign(nodes_.size(), kNoNode);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const int j = other.findNode(nodes_[i].address);
    if (j < 0) return false;
    (*to_other)[i] = static_cast<uint16_t>(j);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const NodeInfo& mine = nodes_[i];
    const NodeInfo& theirs = other.nodes_[(*to_other)[i]];
    if (mine.id != theirs.id || mine.is_master != theirs.is_master ||
        mine.cluster != theirs.cluster) {
      return false;
    }
    if ((*to_other)[mine.master_index] != theirs.master_index) return false;
  }
  return true;
}

bool SlotMap::sameTopology(const SlotMap& other) const {
  if (covered_ != other.covered_ || !(placement_ == other.placement_) ||
      owners_.size() != other.owners_.size()) {
    return false;
  }
  std::vector<uint16_t> to_other;
  if (!sameNodes(other, &to_other)) return false;
  for (size_t slot = 0; slot < owners_.size(); ++slot) {
    const uint16_t owner = owners_[slot];
    const uint16_t mapped = owner == kNoNode ? kNoNode : to_other[owner];
    if (mapped != other.owners_[slot]) return false;
  }
  return true;
}

// ---- SlotMapBuilder ----

SlotMapBuilder::SlotMapBuilder(size_t slot_count)
    : owners_(std::min<size_t>(slot_count, KeyPlacement::kMaxSlots), SlotMap::kNoNode) {}

Result<uint16_t> SlotMapBuilder::addNode(std::string host, uint16_t port, std::string id,
                                         bool is_master, uint16_t master_index) {
  if (port == 0) return Result<uint16_t>::error(strCat("node ", host, ": port 0 is invalid"));
  std::string address = HostPort::nodeAddress(host, port);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const NodeInfo& node = nodes_[i];
    if (node.address != address) continue;
    const bool same_role = node.is_master == is_master &&
                           (is_master || node.master_index == master_index);
    if (!same_role) {
      return Result<uint16_t>::error(strCat("node ", address, " is listed with conflicting roles"));
    }
    return static_cast<uint16_t>(i);
  }
  if (nodes_.size() >= kMaxNodes) {
    return Result<uint16_t>::error(strCat("too many nodes (limit ", int64_t{kMaxNodes}, ")"));
  }
  const auto index = static_cast<uint16_t>(nodes_.size());
  nodes_.push_back(NodeInfo{std::move(address), std::move(host), port, std::move(id),
                            cluster_nodes_, is_master, is_master ? index : master_index});
  return index;
}

Result<uint16_t> SlotMapBuilder::addMaster(std::string host, uint16_t port, std::string id) {
  return addNode(std::move(host), port, std::move(id), true, 0);
}

Result<uint16_t> SlotMapBuilder::addReplica(uint16_t master_index, std::string host,
                                            uint16_t port, std::string id) {
  if (master_index >= nodes_.size() || !nodes_[master_index].is_master) {
    return Result<uint16_t>::error(strCat("replica ", HostPort::nodeAddress(host, port),
                                          " names unknown master index ", int64_t{master_index}));
  }
  return addNode(std::move(host), port, std::move(id), false, master_index);
}

Status SlotMapBuilder::assignRange(uint16_t first, uint16_t last, uint16_t master_index) {
  if (first > last || last >= owners_.size()) {
    return Status::error(strCat("invalid slot range ", int64_t{first}, "-", int64_t{last}));
  }
  if (master_index >= nodes_.size() || !nodes_[master_index].is_master) {
    return Status::error(strCat("slot range ", int64_t{first}, "-", int64_t{last},
                                " names non-master index ", int64_t{master_index}));
  }
  for (uint32_t slot = first; slot <= last; ++slot) {
    if (owners_[slot] != SlotMap::kNoNode) {
      return Status::error(strCat("slot range ", int64_t{first}, "-", int64_t{last},
                                  " overlaps an earlier range at slot ", int64_t{slot}));
    }
  }
  std::fill(owners_.begin() + first, owners_.begin() + last + 1, master_index);
  return Status::ok();
}

SlotMapPtr SlotMapBuilder::build(uint64_t version) const {
  auto map = std::shared_ptr<SlotMap>(new SlotMap());
  map->version_ = version;
  map->nodes_ = nodes_;
  map->owners_ = owners_;
  map->placement_ = placement_;
  map->replicas_.resize(nodes_.size());
  std::vector<bool> owns_slot(nodes_.size(), false);
  for (const uint16_t owner : owners_) {
    if (owner == SlotMap::kNoNode) continue;
    ++map->covered_;
    owns_slot[owner] = true;
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto index = static_cast<uint16_t>(i);
    map->by_address_.emplace(nodes_[i].address, index);
    if (owns_slot[i]) map->masters_.push_back(index);
    if (!nodes_[i].is_master) map->replicas_[nodes_[i].master_index].push_back(index);
  }
  return map;
}

}  // namespace slotwise::router
