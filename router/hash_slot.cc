#include "router/hash_slot.h"

namespace slotwise::router::detail {
namespace {

// Builds the CRC16-XMODEM table at compile time: entry i is the CRC of the single byte i.
constexpr std::array<uint16_t, 256> makeCrc16Table() {
  std::array<uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
    }
    table[i] = static_cast<uint16_t>(crc & 0xFFFF);
  }
  return table;
}

}  // namespace

constinit const std::array<uint16_t, 256> kCrc16Table = makeCrc16Table();

}  // namespace slotwise::router::detail
