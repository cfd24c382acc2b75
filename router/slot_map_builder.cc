#include "router/slot_map_builder.h"
#include "common/str_cat.h"

#include <cstdint>
#include <string>

namespace slotwise::router {
namespace {

using resp::RespValue;
using resp::ValueType;


struct ParsedNode {
  std::string host;
  uint16_t port = 0;
  std::string id;
};

// Reads slot number `value` (the range's start or end) into *slot.
Status parseSlot(const RespValue& value, const char* what, size_t range, uint16_t* slot) {
  if (value.type != ValueType::kInteger) {
    return Status::error(
        strCat("CLUSTER SLOTS range #", int64_t(range), ": ", what, " is not an integer"));
  }
  if (value.integer < 0 || value.integer >= SlotMap::kNumSlots) {
    return Status::error(strCat("CLUSTER SLOTS range #", int64_t(range), ": ", what, " slot ",
                                value.integer, " is outside 0..16383"));
  }
  *slot = static_cast<uint16_t>(value.integer);
  return Status::ok();
}

// Parses one node entry [ip, port, id?, ...] of range `range`.
Result<ParsedNode> parseNode(const RespValue& value, size_t range, std::string_view queried_host) {
  const auto fail = [range](std::string_view why) {
    return Result<ParsedNode>::error(
        strCat("CLUSTER SLOTS range #", int64_t(range), ": node ", why));
  };
  if (value.type != ValueType::kArray || value.elements.size() < 2) {
    return fail("is not an array of at least [ip, port]");
  }
  const RespValue& ip = value.elements[0];
  const RespValue& port = value.elements[1];
  if (!ip.isString() && ip.type != ValueType::kNull) return fail("ip is not a string");
  if (port.type != ValueType::kInteger) return fail("port is not an integer");
  if (port.integer < 1 || port.integer > 65535) {
    return fail(strCat("port ", port.integer, " is outside 1..65535"));
  }
  ParsedNode node;
  const bool unknown_host = ip.type == ValueType::kNull || ip.str.empty() || ip.str == "?";
  node.host = unknown_host ? std::string(queried_host) : ip.str;
  node.port = static_cast<uint16_t>(port.integer);
  if (value.elements.size() >= 3) {
    if (!value.elements[2].isString()) return fail("id is not a string");
    node.id = value.elements[2].str;
  }
  return node;
}

// Adds one range entry [start, end, master, replicas...] to `builder`.
Status addRange(const RespValue& entry, size_t range, std::string_view queried_host,
                SlotMapBuilder* builder) {
  if (entry.type != ValueType::kArray || entry.elements.size() < 3) {
    return Status::error(strCat("CLUSTER SLOTS range #", int64_t(range),
                                ": not an array of at least [start, end, master]"));
  }
  uint16_t first = 0;
  uint16_t last = 0;
  if (Status s = parseSlot(entry.elements[0], "start", range, &first); !s) return s;
  if (Status s = parseSlot(entry.elements[1], "end", range, &last); !s) return s;
  if (first > last) {
    return Status::error(
        strCat("CLUSTER SLOTS range #", int64_t(range), ": start ", int64_t{first},
               " is after end ", int64_t{last}));
  }
  Result<ParsedNode> master = parseNode(entry.elements[2], range, queried_host);
  if (!master) return Status::error(master.error());
  Result<uint16_t> master_index = builder->addMaster(master->host, master->port, master->id);
  if (!master_index) return Status::error(master_index.error());
  for (size_t i = 3; i < entry.elements.size(); ++i) {
    Result<ParsedNode> replica = parseNode(entry.elements[i], range, queried_host);
    if (!replica) return Status::error(replica.error());
    Result<uint16_t> added =
        builder->addReplica(*master_index, replica->host, replica->port, replica->id);
    if (!added) return Status::error(added.error());
  }
  return builder->assignRange(first, last, *master_index);
}

}  // namespace

Result<SlotMapPtr> buildFromClusterSlots(const resp::RespValue& reply,
                                         std::string_view queried_host, uint64_t version) {
  if (reply.isError()) {
    return Result<SlotMapPtr>::error(strCat("CLUSTER SLOTS failed: ", reply.str));
  }
  if (reply.type != ValueType::kArray) {
    return Result<SlotMapPtr>::error("CLUSTER SLOTS reply is not an array");
  }
  if (reply.elements.empty()) {
    return Result<SlotMapPtr>::error("CLUSTER SLOTS reply has no slot ranges");
  }
  SlotMapBuilder builder;
  for (size_t i = 0; i < reply.elements.size(); ++i) {
    if (Status s = addRange(reply.elements[i], i, queried_host, &builder); !s) {
      return Result<SlotMapPtr>::error(s.message());
    }
  }
  return builder.build(version);
}

}  // namespace slotwise::router
