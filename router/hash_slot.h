// CRC16 and Redis Cluster hash slots (the semantics of Redis src/cluster.c keyHashSlot).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace slotwise::router {

inline constexpr uint16_t kHashSlotCount = 16384;

namespace detail {
// CRC16-XMODEM (poly 0x1021, init 0, no reflection) lookup table, defined in hash_slot.cc.
extern const std::array<uint16_t, 256> kCrc16Table;
}  // namespace detail

// CRC16-XMODEM of `len` bytes at `data`, the variant the Redis Cluster spec uses.
// `data` may be null only when `len` is 0. Example: crc16("123456789", 9) == 0x31C3.
inline uint16_t crc16(const char* data, size_t len) {
  uint16_t crc = 0;
  for (size_t i = 0; i < len; ++i) {
    const auto byte = static_cast<uint8_t>(data[i]);
    crc = static_cast<uint16_t>((crc << 8) ^ detail::kCrc16Table[((crc >> 8) ^ byte) & 0xFF]);
  }
  return crc;
}

// Returns the part of `key` that is hashed: the bytes between the first '{' and the first '}'
// after it, when that tag is non-empty; otherwise the whole key. The view aliases `key`.
inline std::string_view hashTag(std::string_view key) {
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

// Slot (0..16383) that owns `key`, honouring {hash tags}. Never fails; the empty key is slot 0.
inline uint16_t keyHashSlot(std::string_view key) {
  const std::string_view hashed = hashTag(key);
  return static_cast<uint16_t>(crc16(hashed.data(), hashed.size()) & (kHashSlotCount - 1));
}

}  // namespace slotwise::router
