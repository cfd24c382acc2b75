// Internals shared by fan-out building (fanout.cc) and merging (fanout_merge.cc): the SCAN
// cursor layout and small parsers. Not part of the data path's interface.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace slotwise::proxy {
class Topology;
}  // namespace slotwise::proxy

namespace slotwise::proxy::fanout_detail {

// SCAN cursor layout:
//   | node cursor (31 bits) | tainted (1) | ownership fingerprint (16) | slot of the node (16) |
// The slot names the node by a slot it owns, so the cursor survives proxy restarts and works on
// any Slotwise instance that sees the same topology. The fingerprint (never 0, so no cursor but
// the last one is 0) is that of the slot ownership the pass runs under; "tainted" records that a
// node of this pass was migrating or importing a slot.
//
// Guarantee: a key present in the cluster from the first to the last call of a pass is returned.
// Each SCAN part is followed, on the same connection, by CLUSTER NODES: the pass restarts from
// the first node (keys may repeat, none is skipped) whenever a node's view of slot ownership
// differs from the pass's (a slot moved, a failover, a node added: keys may have moved to a node
// already scanned; the proxy's own map is refreshed too when it is the one behind), and a pass
// during which a node was migrating a slot ends with one more pass instead of cursor 0.
inline constexpr int kSlotBits = 16;  // routed pools use slots past 16383
inline constexpr int kFingerprintBits = 16;
inline constexpr int kTaintShift = kSlotBits + kFingerprintBits;
inline constexpr int kNodeCursorShift = kTaintShift + 1;
inline constexpr uint64_t kMaxNodeCursor = (uint64_t{1} << (64 - kNodeCursorShift)) - 1;
inline constexpr uint64_t kFingerprintMask = (uint64_t{1} << kFingerprintBits) - 1;

// The cursor's fingerprint field for a full ownership fingerprint: 1..kFingerprintMask.
inline uint64_t cursorFingerprint(uint64_t fingerprint) { return fingerprint % kFingerprintMask + 1; }

inline uint64_t encodeCursor(uint64_t node_cursor, bool tainted, uint64_t fingerprint, uint16_t slot) {
  return (node_cursor << kNodeCursorShift) | (uint64_t{tainted} << kTaintShift) |
         (fingerprint << kSlotBits) | slot;
}

// The order of a SCAN pass over the masters (one slot per master): ascending, except that during
// an online migration the source's masters come first, so that a key moving from the source into
// the cluster during the pass is found in one or the other (fanout.cc).
uint16_t scanFirstSlot(const Topology& topology);
// The master slot after `slot` in that order, or -1 at the end of the pass.
int scanNextSlot(const Topology& topology, uint16_t slot);
// True while an online migration's source is part of the pass (its order must hold call by call).
bool scanHasMigrationSource(const Topology& topology);

// A SCAN call that starts a node also reads the first page of up to this many nodes in all
// (scan-ahead): the pages of the nodes after one that ends the call are dropped, so the extra
// work per pass is bounded by kScanAheadNodes first pages per node.
inline constexpr size_t kScanAheadNodes = 8;

inline bool parseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace slotwise::proxy::fanout_detail
