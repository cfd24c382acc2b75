// HashRing: static sharding with key placement identical to twemproxy (Debian's nutcracker
// 0.5.0): its twelve key hashes, bit for bit (sign-extension quirks included), and its three
// distributions (ketama, modula, random) over the servers it considers live. The integration
// test tests/integration/nutcracker_placement_itest.cc checks every hash and distribution
// against the real nutcracker binary.
//
// Facts about nutcracker this module reproduces (see hash_ring.cc for the details):
//  - servers are ordered by name (shorter names first, then bytewise), not as configured;
//  - ketama gives each live server floor(weight share * 40 * live servers) * 4 points computed
//    in float arithmetic, each point being 4 bytes of md5("<name>-<i>") (cut to 272 bytes);
//  - modula picks hash % (total live weight) over the servers repeated weight times;
//  - random picks any live server uniformly, ignoring weights;
//  - an empty hashed part hashes to 0; an ejected server is left out of the rebuilt ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slotwise::router {

enum class HashKind {
  kOneAtATime,
  kMd5,
  kCrc16,
  kCrc32,
  kCrc32a,
  kFnv1_64,
  kFnv1a_64,
  kFnv1_32,
  kFnv1a_32,
  kHsieh,
  kMurmur,
  kJenkins
};
enum class Distribution { kKetama, kModula, kRandom };

// twemproxy's names: one_at_a_time md5 crc16 crc32 crc32a fnv1_64 fnv1a_64 fnv1_32 fnv1a_32
// hsieh murmur jenkins (exact, case-sensitive, as nutcracker accepts them).
std::optional<HashKind> parseHashKind(std::string_view name);
std::string_view hashKindName(HashKind kind);
// ketama modula random
std::optional<Distribution> parseDistribution(std::string_view name);
std::string_view distributionName(Distribution dist);

// Exactly twemproxy's hash_<kind>(data, size), including for empty input (which twemproxy
// itself never hashes: see HashRing::serverFor).
uint32_t twemproxyHash(HashKind kind, std::string_view data);

// Ketama points twemproxy gives a live server of `weight` out of `total_weight` (the weight of
// all live servers) when `live_servers` servers are live: a multiple of 4, 160 on average, and
// 0 for a server whose share is too small. Reproduces twemproxy's float rounding.
uint32_t ketamaPointsPerServer(uint32_t weight, uint32_t total_weight, uint32_t live_servers);

struct RingServer {
  std::string name;  // the ring identity: the configured name, or ringName(host, port)
  uint32_t weight = 1;
  bool live = true;  // false = auto-ejected: left out of the ring
};

// twemproxy's default server name when a server line has no name: "host:port", or just "host"
// when port == 11211 (libmemcached compatibility). The host is used as written (no brackets).
std::string ringName(std::string_view host, uint16_t port);

// Immutable after construction; every method is safe to call from many threads at once.
class HashRing {
 public:
  // `hash_tag` is "" (none) or two characters, e.g. "{}"; any other length counts as none
  // (nutcracker refuses it). Names should be unique (nutcracker refuses duplicates; here equal
  // names keep their order in `servers`). nutcracker refuses weight 0; here such a server is
  // left out like an ejected one.
  HashRing(HashKind hash, Distribution dist, std::string hash_tag, std::vector<RingServer> servers);

  // Index into servers() of the server twemproxy would pick for this key; only live servers
  // are candidates. -1 if no server is live.
  int serverFor(std::string_view key) const;

  const std::vector<RingServer>& servers() const { return servers_; }
  size_t liveCount() const { return live_count_; }  // live servers of weight >= 1
  HashKind hash() const { return hash_; }
  Distribution distribution() const { return dist_; }
  const std::string& hashTag() const { return hash_tag_; }

  // The part of `key` twemproxy hashes: the bytes between the first tag-open character and the
  // first tag-close character after it, when there are any; otherwise the whole key. The view
  // aliases `key`.
  std::string_view hashedPart(std::string_view key) const;

 private:
  struct Point {
    uint32_t value;
    uint32_t server;  // index into servers_
  };

  int ketamaPick(uint32_t hash) const;
  int modulaPick(uint32_t hash) const;
  int randomPick() const;

  HashKind hash_;
  Distribution dist_;
  std::string hash_tag_;
  std::vector<RingServer> servers_;
  size_t live_count_ = 0;
  // Live servers (indexes into servers_) in twemproxy's order: by name length, then bytes.
  std::vector<uint32_t> live_order_;
  // ketama: the continuum, sorted by value (stable: ties keep twemproxy's generation order).
  std::vector<Point> continuum_;
  // modula: running total of the weights along live_order_ (the last one is the total).
  std::vector<uint32_t> weight_ends_;
};

}  // namespace slotwise::router
