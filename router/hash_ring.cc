#include "router/hash_ring.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "router/hash_slot.h"

namespace slotwise::router {
namespace {

constexpr std::array<std::string_view, 12> kHashNames = {
    "one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
    "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"};
constexpr std::array<std::string_view, 3> kDistributionNames = {"ketama", "modula", "random"};

// Several twemproxy hashes read the key through `const char*`, which is signed on x86-64 (where
// nutcracker runs): a byte >= 0x80 enters the arithmetic sign-extended (0xE4 as 0xFFFFFFE4).
// The signExtended helpers reproduce that whatever the signedness of char here.
uint32_t signExtended32(char byte) {
  return static_cast<uint32_t>(static_cast<int32_t>(static_cast<signed char>(byte)));
}
uint64_t signExtended64(char byte) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<signed char>(byte)));
}
uint32_t unsignedByte(char byte) { return static_cast<uint8_t>(byte); }

// Little-endian 32-bit word from 4 bytes (the byte order of every twemproxy hash on x86-64).
uint32_t loadLe32(const char* p) {
  return unsignedByte(p[0]) | unsignedByte(p[1]) << 8 | unsignedByte(p[2]) << 16 |
         unsignedByte(p[3]) << 24;
}

std::array<unsigned char, 16> md5Digest(std::string_view data) {
  // Fetched once: EVP_md5() would look the implementation up again on every call.
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  std::array<unsigned char, 16> digest{};
  EVP_Digest(data.data(), data.size(), digest.data(), nullptr, md5, nullptr);
  return digest;
}

// Bytes 4*word .. 4*word+3 of an md5 digest as a little-endian word (twemproxy's ketama_hash).
uint32_t md5Word(const std::array<unsigned char, 16>& digest, int word) {
  return loadLe32(reinterpret_cast<const char*>(digest.data()) + 4 * word);
}

// Jenkins' one-at-a-time over sign-extended bytes.
uint32_t oneAtATime(std::string_view data) {
  uint32_t value = 0;
  for (char byte : data) {
    value += signExtended32(byte);
    value += value << 10;
    value ^= value >> 6;
  }
  value += value << 3;
  value ^= value >> 11;
  value += value << 15;
  return value;
}

// twemproxy's crc16: the CRC16-XMODEM table, but the running value is a uint32_t that is
// never truncated, so the result keeps the shifted-out high bits (it is not a 16-bit CRC; its
// low 16 bits are the CRC16-XMODEM of the data).
uint32_t crc16Wide(std::string_view data) {
  uint32_t crc = 0;
  for (char byte : data) {
    crc = (crc << 8) ^ detail::kCrc16Table[((crc >> 8) ^ signExtended32(byte)) & 0xFF];
  }
  return crc;
}

constexpr std::array<uint32_t, 256> makeCrc32Table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32Table = makeCrc32Table();

// The standard (reflected, 0xEDB88320) CRC-32 before its final inversion.
uint32_t crc32Register(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char byte : data) crc = (crc >> 8) ^ kCrc32Table[(crc ^ unsignedByte(byte)) & 0xFF];
  return crc;
}

// FNV-1 in 64 bits over sign-extended bytes, truncated to the low 32 bits.
uint32_t fnv1_64(std::string_view data) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (char byte : data) {
    hash *= 0x100000001B3ull;
    hash ^= signExtended64(byte);
  }
  return static_cast<uint32_t>(hash);
}

// twemproxy's "fnv1a_64" is FNV-1a computed in 32 bits with the 64-bit constants truncated.
uint32_t fnv1a_64(std::string_view data) {
  uint32_t hash = 0x84222325u;  // (uint32_t)0xCBF29CE484222325
  for (char byte : data) {
    hash ^= signExtended32(byte);
    hash *= 0x1B3u;  // (uint32_t)0x100000001B3
  }
  return hash;
}

constexpr uint32_t kFnv32Init = 2166136261u;
constexpr uint32_t kFnv32Prime = 16777619u;

uint32_t fnv1_32(std::string_view data) {
  uint32_t hash = kFnv32Init;
  for (char byte : data) {
    hash *= kFnv32Prime;
    hash ^= signExtended32(byte);
  }
  return hash;
}

uint32_t fnv1a_32(std::string_view data) {
  uint32_t hash = kFnv32Init;
  for (char byte : data) {
    hash ^= signExtended32(byte);
    hash *= kFnv32Prime;
  }
  return hash;
}

// Paul Hsieh's SuperFastHash. Reads 16-bit little-endian words; the third byte of a 3-byte
// tail is the one byte that goes in sign-extended.
uint32_t hsieh(std::string_view data) {
  if (data.empty()) return 0;
  const char* p = data.data();
  auto get16 = [](const char* q) { return unsignedByte(q[0]) | unsignedByte(q[1]) << 8; };
  uint32_t hash = 0;
  for (size_t blocks = data.size() / 4; blocks > 0; --blocks, p += 4) {
    hash += get16(p);
    const uint32_t tmp = (get16(p + 2) << 11) ^ hash;
    hash = (hash << 16) ^ tmp;
    hash += hash >> 11;
  }
  switch (data.size() % 4) {
    case 3:
      hash += get16(p);
      hash ^= hash << 16;
      hash ^= signExtended32(p[2]) << 18;
      hash += hash >> 11;
      break;
    case 2:
      hash += get16(p);
      hash ^= hash << 11;
      hash += hash >> 17;
      break;
    case 1:
      hash += unsignedByte(p[0]);
      hash ^= hash << 10;
      hash += hash >> 1;
      break;
    default: break;
  }
  hash ^= hash << 3;
  hash += hash >> 5;
  hash ^= hash << 4;
  hash += hash >> 17;
  hash ^= hash << 25;
  hash += hash >> 6;
  return hash;
}

// MurmurHash2 with twemproxy's length-dependent seed (0xdeadbeef * length).
uint32_t murmur(std::string_view data) {
  constexpr uint32_t m = 0x5BD1E995u;
  const auto length = static_cast<uint32_t>(data.size());
  uint32_t h = (0xDEADBEEFu * length) ^ length;
  const char* p = data.data();
  size_t left = data.size();
  for (; left >= 4; left -= 4, p += 4) {
    uint32_t k = loadLe32(p);
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (left) {
    case 3: h ^= unsignedByte(p[2]) << 16; [[fallthrough]];
    case 2: h ^= unsignedByte(p[1]) << 8; [[fallthrough]];
    case 1:
      h ^= unsignedByte(p[0]);
      h *= m;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

constexpr uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// Bob Jenkins' lookup3 hashlittle() with initval 13, over unsigned bytes.
uint32_t jenkins(std::string_view data) {
  const auto length = static_cast<uint32_t>(data.size());
  uint32_t a = 0xDEADBEEFu + length + 13;
  uint32_t b = a;
  uint32_t c = a;
  const char* p = data.data();
  size_t left = data.size();
  for (; left > 12; left -= 12, p += 12) {
    a += loadLe32(p);
    b += loadLe32(p + 4);
    c += loadLe32(p + 8);
    a -= c, a ^= rotl(c, 4), c += b;
    b -= a, b ^= rotl(a, 6), a += c;
    c -= b, c ^= rotl(b, 8), b += a;
    a -= c, a ^= rotl(c, 16), c += b;
    b -= a, b ^= rotl(a, 19), a += c;
    c -= b, c ^= rotl(b, 4), b += a;
  }
  if (left == 0) return c;
  // The last 1..12 bytes, zero-padded, as three little-endian words.
  std::array<char, 12> tail{};
  std::copy(p, p + left, tail.begin());
  a += loadLe32(tail.data());
  b += loadLe32(tail.data() + 4);
  c += loadLe32(tail.data() + 8);
  c ^= b, c -= rotl(b, 14);
  a ^= c, a -= rotl(c, 11);
  b ^= a, b -= rotl(a, 25);
  c ^= b, c -= rotl(b, 16);
  a ^= c, a -= rotl(c, 4);
  b ^= a, b -= rotl(a, 14);
  c ^= b, c -= rotl(b, 24);
  return c;
}

// Debian's nutcracker 0.5.0 names ketama points "<name>-<index>" in a char[273] and hashes at
// most 272 bytes of it: a longer point name is cut to its first 272 bytes. (Older twemproxy
// sources use a char[86] and hash past the cut; the binary does not.)
std::string ketamaPointKey(const std::string& name, uint32_t index) {
  constexpr size_t kMaxPointKey = 272;
  std::string key = name + "-" + std::to_string(index);
  if (key.size() > kMaxPointKey) key.resize(kMaxPointKey);
  return key;
}

// twemproxy's string_compare, by which nutcracker sorts a pool's servers: length first.
bool nameLess(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

}  // namespace

std::optional<HashKind> parseHashKind(std::string_view name) {
  for (size_t i = 0; i < kHashNames.size(); ++i) {
    if (kHashNames[i] == name) return static_cast<HashKind>(i);
  }
  return std::nullopt;
}

std::string_view hashKindName(HashKind kind) { return kHashNames.at(static_cast<size_t>(kind)); }

std::optional<Distribution> parseDistribution(std::string_view name) {
  for (size_t i = 0; i < kDistributionNames.size(); ++i) {
    if (kDistributionNames[i] == name) return static_cast<Distribution>(i);
  }
  return std::nullopt;
}

std::string_view distributionName(Distribution dist) {
  return kDistributionNames.at(static_cast<size_t>(dist));
}

uint32_t twemproxyHash(HashKind kind, std::string_view data) {
  switch (kind) {
    case HashKind::kOneAtATime: return oneAtATime(data);
    case HashKind::kMd5: return md5Word(md5Digest(data), 0);
    case HashKind::kCrc16: return crc16Wide(data);
    // libmemcached's "crc32": 15 bits of the CRC-32.
    case HashKind::kCrc32: return (~crc32Register(data) >> 16) & 0x7FFF;
    case HashKind::kCrc32a: return ~crc32Register(data);
    case HashKind::kFnv1_64: return fnv1_64(data);
    case HashKind::kFnv1a_64: return fnv1a_64(data);
    case HashKind::kFnv1_32: return fnv1_32(data);
    case HashKind::kFnv1a_32: return fnv1a_32(data);
    case HashKind::kHsieh: return hsieh(data);
    case HashKind::kMurmur: return murmur(data);
    case HashKind::kJenkins: return jenkins(data);
  }
  return 0;
}

uint32_t ketamaPointsPerServer(uint32_t weight, uint32_t total_weight, uint32_t live_servers) {
  // twemproxy: pct = (float)weight / (float)total_weight;
  // floorf((float)(pct * 160 / 4 * (float)nlive + 0.0000000001)) * 4, the products in float,
  // the nudge in double (which float rounding then mostly undoes: 25 equal servers get 156 each).
  const float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
  const float share = pct * 160.0f / 4.0f * static_cast<float>(live_servers);
  const auto nudged = static_cast<float>(static_cast<double>(share) + 0.0000000001);
  return static_cast<uint32_t>(std::floor(nudged) * 4.0f);
}

std::string ringName(std::string_view host, uint16_t port) {
  if (port == 11211) return std::string(host);
  std::string name(host);
  name += ':';
  name += std::to_string(port);
  return name;
}

HashRing::HashRing(HashKind hash, Distribution dist, std::string hash_tag,
                   std::vector<RingServer> servers)
    : hash_(hash), dist_(dist), hash_tag_(std::move(hash_tag)), servers_(std::move(servers)) {
  if (hash_tag_.size() != 2) hash_tag_.clear();
  uint32_t total_weight = 0;
  for (uint32_t i = 0; i < servers_.size(); ++i) {
    if (!servers_[i].live || servers_[i].weight == 0) continue;
    live_order_.push_back(i);
    total_weight += servers_[i].weight;
  }
  live_count_ = live_order_.size();
  std::stable_sort(live_order_.begin(), live_order_.end(), [this](uint32_t a, uint32_t b) {
    return nameLess(servers_[a].name, servers_[b].name);
  });

  switch (dist_) {
    case Distribution::kKetama:
      for (uint32_t server : live_order_) {
        const uint32_t points = ketamaPointsPerServer(servers_[server].weight, total_weight,
                                                      static_cast<uint32_t>(live_count_));
        for (uint32_t i = 0; i < points / 4; ++i) {
          const auto digest = md5Digest(ketamaPointKey(servers_[server].name, i));
          for (int word = 0; word < 4; ++word) {
            continuum_.push_back(Point{md5Word(digest, word), server});
          }
        }
      }
      // glibc's qsort is a merge sort here, so twemproxy's sort is stable too.
      std::stable_sort(continuum_.begin(), continuum_.end(),
                       [](const Point& a, const Point& b) { return a.value < b.value; });
      break;
    case Distribution::kModula: {
      uint32_t end = 0;
      for (uint32_t server : live_order_) {
        end += servers_[server].weight;
        weight_ends_.push_back(end);
      }
      break;
    }
    case Distribution::kRandom: break;
  }
}

std::string_view HashRing::hashedPart(std::string_view key) const {
  if (hash_tag_.empty()) return key;
  const size_t open = key.find(hash_tag_[0]);
  if (open == std::string_view::npos) return key;
  const size_t close = key.find(hash_tag_[1], open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

int HashRing::serverFor(std::string_view key) const {
  if (live_count_ == 0) return -1;
  if (dist_ == Distribution::kRandom) return randomPick();
  const std::string_view part = hashedPart(key);
  // twemproxy does not hash an empty key: it uses 0.
  const uint32_t hash = part.empty() ? 0 : twemproxyHash(hash_, part);
  return dist_ == Distribution::kKetama ? ketamaPick(hash) : modulaPick(hash);
}

int HashRing::ketamaPick(uint32_t hash) const {
  // The first point at or after the hash, wrapping around to the first point.
  auto it = std::lower_bound(continuum_.begin(), continuum_.end(), hash,
                             [](const Point& p, uint32_t h) { return p.value < h; });
  if (it == continuum_.end()) it = continuum_.begin();
  return static_cast<int>(it->server);
}

int HashRing::modulaPick(uint32_t hash) const {
  // Slot hash % total weight of the live servers, each repeated `weight` times in order.
  const uint32_t slot = hash % weight_ends_.back();
  const auto it = std::upper_bound(weight_ends_.begin(), weight_ends_.end(), slot);
  return static_cast<int>(live_order_[static_cast<size_t>(it - weight_ends_.begin())]);
}

int HashRing::randomPick() const {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, live_count_ - 1);
  return static_cast<int>(live_order_[pick(rng)]);
}

}  // namespace slotwise::router
