// Builders of RESP values for unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "resp/command.h"

namespace slotwise::test {

// A Command whose argument views point into `storage` (kept alive by the test).
inline resp::Command makeCommand(const std::vector<std::string>& args, std::string* storage) {
  storage->clear();
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  for (const auto& a : args) {
    spans.emplace_back(static_cast<uint32_t>(storage->size()), static_cast<uint32_t>(a.size()));
    *storage += a;
  }
  resp::Command cmd;
  cmd.base = storage->data();
  for (auto [offset, len] : spans) cmd.args.push_back({offset, len});
  return cmd;
}

}  // namespace slotwise::test
