// Builders for CLUSTER SLOTS reply trees, shared by the router unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "resp/value.h"

namespace slotwise::test {

struct SlotsNode {
  std::string ip;
  int64_t port = 0;
  std::string id;
};

struct SlotsRange {
  int64_t first = 0;
  int64_t last = 0;
  SlotsNode master;
  std::vector<SlotsNode> replicas;
};

// [ip, port, id, []] as Redis 7.0 writes it (empty metadata array).
inline resp::RespValue slotsNodeEntry(const SlotsNode& node) {
  return resp::RespValue::array({resp::RespValue::bulk(node.ip),
                                 resp::RespValue::integerValue(node.port),
                                 resp::RespValue::bulk(node.id), resp::RespValue::array({})});
}

inline resp::RespValue clusterSlotsReply(const std::vector<SlotsRange>& ranges) {
  std::vector<resp::RespValue> entries;
  for (const SlotsRange& range : ranges) {
    std::vector<resp::RespValue> entry = {resp::RespValue::integerValue(range.first),
                                          resp::RespValue::integerValue(range.last),
                                          slotsNodeEntry(range.master)};
    for (const SlotsNode& replica : range.replicas) entry.push_back(slotsNodeEntry(replica));
    entries.push_back(resp::RespValue::array(std::move(entry)));
  }
  return resp::RespValue::array(std::move(entries));
}

// Three masters on 127.0.0.1:<base>..<base+2> splitting the slots like redis-cli does,
// each with `replicas_per_master` replicas on the ports after them.
inline resp::RespValue threeMasterReply(int64_t base, int replicas_per_master = 0) {
  const int64_t bounds[4] = {0, 5461, 10923, 16384};
  std::vector<SlotsRange> ranges;
  int64_t next_replica_port = base + 3;
  for (int i = 0; i < 3; ++i) {
    SlotsRange range{bounds[i], bounds[i + 1] - 1,
                     {"127.0.0.1", base + i, "master" + std::to_string(i)}, {}};
    for (int r = 0; r < replicas_per_master; ++r) {
      const int64_t port = next_replica_port++;
      range.replicas.push_back({"127.0.0.1", port, "replica" + std::to_string(port)});
    }
    ranges.push_back(std::move(range));
  }
  return clusterSlotsReply(ranges);
}

}  // namespace slotwise::test
