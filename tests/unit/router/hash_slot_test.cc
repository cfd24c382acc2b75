#include "router/hash_slot.h"

#include <gtest/gtest.h>

#include <string>

namespace slotwise::router {
namespace {

TEST(Crc16Test, CheckValueOfTheSpec) {
  const std::string data = "123456789";
  EXPECT_EQ(crc16(data.data(), data.size()), 0x31C3);
}

TEST(Crc16Test, EmptyInputIsZero) { EXPECT_EQ(crc16(nullptr, 0), 0); }

// Bitwise CRC16-XMODEM, used as an independent oracle for the table-driven version.
uint16_t slowCrc16(const std::string& data) {
  uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
  }
  return crc;
}

TEST(Crc16Test, MatchesBitwiseImplementationOnEveryByteValue) {
  std::string data;
  for (int i = 0; i < 256; ++i) {
    data.push_back(static_cast<char>(i));
    const std::string one(1, static_cast<char>(i));
    ASSERT_EQ(crc16(one.data(), 1), slowCrc16(one)) << "byte " << i;
  }
  EXPECT_EQ(crc16(data.data(), data.size()), slowCrc16(data));
}

struct SlotVector {
  const char* key;
  uint16_t slot;
};

// Every slot below was read from a live redis-server 7.0.15 (cluster-enabled) with
// CLUSTER KEYSLOT <key>.
constexpr SlotVector kVectors[] = {
    {"123456789", 12739},
    {"foo", 12182},
    {"bar", 5061},
    {"foobar", 12325},
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},
    {"foo{{bar}}zap", 4015},
    {"foo{bar}{zap}", 5061},
    {"{bar", 4015},
    {"", 0},
    {"a", 15495},
    {"{}", 15257},
    {"{a}", 15495},
    {"}{a}", 15495},
    {"x{", 3596},
    {"{{}}", 4092},
    {"user:1000", 1649},
    {"hello world", 15332},
    {"key:{tag}:1", 8338},
    {"{tag}", 8338},
    {"tag", 8338},
    {"somekey", 11058},
    {"\xC3\xA9", 10180},  // "é" in UTF-8: bytes above 0x7F
    {"{}abc", 5980},
    {"abc{", 3048},
};

TEST(KeyHashSlotTest, MatchesLiveRedisClusterKeyslot) {
  for (const SlotVector& v : kVectors) {
    EXPECT_EQ(keyHashSlot(v.key), v.slot) << "key '" << v.key << "'";
  }
}

TEST(KeyHashSlotTest, SameTagSameSlot) {
  EXPECT_EQ(keyHashSlot("{user1000}.following"), keyHashSlot("{user1000}.followers"));
  EXPECT_EQ(keyHashSlot("a{x}b"), keyHashSlot("x"));
}

TEST(KeyHashSlotTest, EmptyTagHashesWholeKey) {
  const std::string key = "foo{}{bar}";
  EXPECT_EQ(keyHashSlot(key), crc16(key.data(), key.size()) & 0x3FFF);
  EXPECT_NE(keyHashSlot(key), keyHashSlot("bar"));
}

TEST(KeyHashSlotTest, TagRulesFirstOpenThenFirstClose) {
  EXPECT_EQ(hashTag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(hashTag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(hashTag("foo{}{bar}"), "foo{}{bar}");
  EXPECT_EQ(hashTag("no-tag"), "no-tag");
  EXPECT_EQ(hashTag("open{only"), "open{only");
  EXPECT_EQ(hashTag("}close{x}"), "x");
}

TEST(KeyHashSlotTest, BinaryKeysWithNulBytes) {
  const std::string key("a\0{b}\0c", 7);
  EXPECT_EQ(keyHashSlot(key), keyHashSlot("b"));
  const std::string plain("x\0y", 3);
  EXPECT_EQ(keyHashSlot(plain), slowCrc16(plain) & 0x3FFF);
}

TEST(KeyHashSlotTest, AlwaysBelowSlotCount) {
  for (int i = 0; i < 2000; ++i) {
    EXPECT_LT(keyHashSlot("key:" + std::to_string(i)), kHashSlotCount);
  }
}

}  // namespace
}  // namespace slotwise::router
