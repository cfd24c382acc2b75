// libFuzzer target for routing parsed commands: router::route() and router::extractKeys().
//
// Input layout: [mode byte][payload]. The payload is parsed as client requests (multibulk or
// inline). Every request is routed as parsed; when mode bit 0 is set it is routed a second time
// with its name (and, for containers, its subcommand) replaced by a table entry chosen from the
// request's own bytes, so the fuzzer reaches the key-extraction code of every command instead of
// mostly "unknown command". Nothing may crash, and every decision must be self-consistent: key
// indexes inside the request, a kSlot slot equal to every key's hash slot, and so on.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command.h"
#include "resp/limits.h"
#include "resp/request_parser.h"
#include "router/command_table.h"
#include "router/hash_slot.h"
#include "router/router.h"
#include "tests/fuzz/fuzz_util.h"

namespace slotwise::test {
namespace {

using resp::Command;
using router::CommandInfo;
using router::RouteDecision;

void checkKeyIndexes(const std::vector<uint32_t>& keys, const Command& cmd) {
  for (uint32_t k : keys) fuzzCheck(k > 0 && k < cmd.argc(), "key index outside the arguments");
}

// Calls extractKeys() with both filters and checks the results against each other.
void checkExtractKeys(const Command& cmd) {
  const CommandInfo* info = router::resolveCommand(cmd);
  if (info == nullptr || !router::arityOk(*info, cmd.argc())) return;
  std::vector<uint32_t> keys = {7};  // must be cleared by extractKeys
  const bool ok = router::extractKeys(*info, cmd, &keys, router::KeyFilter::kKeysOnly);
  fuzzCheck(ok || keys.empty(), "extractKeys failed but left keys behind");
  checkKeyIndexes(keys, cmd);
  std::vector<uint32_t> all;
  const bool ok_all = router::extractKeys(*info, cmd, &all, router::KeyFilter::kIncludeNotKeys);
  checkKeyIndexes(all, cmd);
  if (!ok_all) return;
  fuzzCheck(ok, "extractKeys accepts NOT_KEY positions but rejects the keys alone");
  for (uint32_t k : keys) {
    fuzzCheck(std::find(all.begin(), all.end(), k) != all.end(),
              "a key is missing when NOT_KEY positions are included");
  }
}

void checkDecision(const RouteDecision& d, const Command& cmd, const std::vector<uint32_t>& keys) {
  if (d.kind == RouteDecision::Kind::kReject) {
    fuzzCheck(!d.error.empty(), "kReject without an error");
    return;
  }
  fuzzCheck(d.info != nullptr, "a routed decision without its CommandInfo");
  fuzzCheck(d.error.empty(), "error text on a routed decision");
  if (d.kind == RouteDecision::Kind::kMultiSlot) {
    fuzzCheck(router::splittable(*d.info), "kMultiSlot for a command that cannot be split");
  }
  if (d.kind != RouteDecision::Kind::kSlot) return;
  fuzzCheck(d.slot >= 0 && d.slot < router::kHashSlotCount, "slot out of range");
  // CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT are routed by their slot argument, not by keys.
  if (d.info->name == "cluster|countkeysinslot" || d.info->name == "cluster|getkeysinslot") {
    fuzzCheck(keys.empty(), "a slot-argument command with keys");
    fuzzCheck(cmd.argc() >= 3 && std::to_string(d.slot) == cmd.arg(2),
              "a slot-argument command routed to another slot than its argument");
    return;
  }
  fuzzCheck(!keys.empty(), "kSlot without keys");
  checkKeyIndexes(keys, cmd);
  for (uint32_t k : keys) {
    fuzzCheck(router::keyHashSlot(cmd.arg(k)) == d.slot, "a key hashes to another slot");
  }
}

void routeAndCheck(const Command& cmd) {
  if (cmd.argc() == 0) return;  // route() requires argc >= 1; the session skips empty requests
  std::vector<uint32_t> keys;
  const RouteDecision d = router::route(cmd, &keys);
  checkDecision(d, cmd, keys);
  const RouteDecision again = router::route(cmd, &keys);
  fuzzCheck(again.kind == d.kind && again.slot == d.slot && again.info == d.info,
            "route() is not deterministic");
  checkExtractKeys(cmd);
}

size_t byteSum(std::string_view s) {
  return std::accumulate(s.begin(), s.end(), size_t{0},
                         [](size_t sum, char c) { return sum + static_cast<unsigned char>(c); });
}

// A copy of `cmd` whose name (and subcommand, for containers) is a table entry picked by the
// bytes of the original name and subcommand.
Command withTableName(const Command& cmd, std::string* storage) {
  std::vector<std::string_view> args;
  for (size_t i = 0; i < cmd.argc(); ++i) args.push_back(cmd.arg(i));
  const std::span<const CommandInfo> table = router::allCommands();
  const CommandInfo& info = table[byteSum(args[0]) % table.size()];
  args[0] = info.name;
  if (info.isContainer() && args.size() >= 2) {
    const CommandInfo& sub = info.subcommands[byteSum(args[1]) % info.subcommands.size()];
    args[1] = sub.name.substr(sub.name.find('|') + 1);
  }
  Command out;
  storage->clear();
  for (std::string_view arg : args) {
    out.args.push_back({static_cast<uint32_t>(storage->size()), static_cast<uint32_t>(arg.size())});
    storage->append(arg);
  }
  out.base = storage->data();
  out.frame_len = cmd.frame_len;
  return out;
}

}  // namespace
}  // namespace slotwise::test

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slotwise::test;
  using slotwise::resp::ParseStatus;
  FuzzInput input(data, size);
  const bool rename = (input.takeByte() & 1) != 0;
  std::string_view rest = input.rest();
  slotwise::resp::ParserLimits limits;
  limits.max_args = 256;
  slotwise::resp::RequestParser parser(limits);
  slotwise::resp::Command cmd;
  std::string storage;
  while (parser.parse(rest, &cmd) == ParseStatus::kOk) {
    routeAndCheck(cmd);
    if (rename && cmd.argc() > 0) routeAndCheck(withTableName(cmd, &storage));
    rest.remove_prefix(cmd.frame_len);
  }
  return 0;
}
