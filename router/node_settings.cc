#include "router/node_settings.h"

#include <utility>
#include <vector>

namespace slotwise::router {
namespace {

// The value of CONFIG GET name's [name, value] reply, or nullopt for any other reply.
std::optional<std::string> configValue(const Result<resp::RespValue>& reply) {
  if (!reply || reply->elements.size() != 2 || !reply->elements[1].isString()) return std::nullopt;
  return reply->elements[1].str;
}

}  // namespace

void NodeSettings::applied(std::string name, std::string value) {
  Setting& s = settings_[std::move(name)];
  s.value = std::move(value);
  s.canonical.reset();
  s.generation = ++generations_;
}

std::map<std::string, std::string> NodeSettings::enforced() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, s] : settings_) out.emplace(name, s.value);
  return out;
}

void NodeSettings::check(const SlotMap& map) {
  if (pending_ != 0 || settings_.empty() || map.masters().empty()) return;
  std::vector<std::pair<std::string, std::string>> work;  // (address, name)
  for (const auto& [name, s] : settings_) {
    if (!s.canonical) {  // learn how the nodes spell it from a master that was just set
      work.emplace_back(map.nodes()[map.masters().front()].address, name);
      continue;
    }
    for (const NodeInfo& node : map.nodes()) work.emplace_back(node.address, name);
  }
  pending_ = work.size();
  for (const auto& [address, name] : work) checkNode(address, name);
}

void NodeSettings::checkNode(const std::string& address, const std::string& name) {
  const uint64_t generation = settings_.at(name).generation;
  query_.query(address, {"CONFIG", "GET", name},
               [this, address, name, generation](const Result<resp::RespValue>& reply) {
                 --pending_;
                 auto it = settings_.find(name);
                 std::optional<std::string> value = configValue(reply);
                 if (it == settings_.end() || it->second.generation != generation || !value) {
                   return;  // changed meanwhile, or the node did not answer: next round
                 }
                 Setting& s = it->second;
                 if (!s.canonical) {
                   s.canonical = *value;
                   return;
                 }
                 if (*value == *s.canonical) return;
                 query_.query(address, {"CONFIG", "SET", name, s.value},
                              [](const Result<resp::RespValue>&) {});
                 on_fix_(address, name, *value);
               });
}

}  // namespace slotwise::router
