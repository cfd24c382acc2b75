// Lua script bodies the proxy has seen (SCRIPT LOAD, EVAL, EVAL_RO), by SHA1, so that an EVALSHA
// answered with -NOSCRIPT (a node that lost its script cache: restarted after a failover, or a
// new master that received the slot) is fixed by loading the body on that node and running the
// EVALSHA again, instead of surfacing the error.
//
// One cache per process, shared by the workers (a script loaded through one worker may be run
// through another). Touched only on SCRIPT LOAD / EVAL and on NOSCRIPT, under a mutex.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace slotwise::proxy {

class ScriptCache {
 public:
  // Bodies beyond this many bytes in total are not remembered (nothing is evicted: a client
  // generating endless distinct scripts must not grow the proxy without bound).
  static constexpr size_t kMaxTotalBytes = 64u << 20;

  static ScriptCache& instance();

  // Remembers `body` under its SHA1 (what Redis names it). Thread-safe.
  void remember(std::string_view body);
  // @return the body whose SHA1 is `sha` (40 hex digits, any case), or nullopt. Thread-safe.
  std::optional<std::string> find(std::string_view sha) const;
  size_t size() const;

  // Lowercase hex SHA1 of `data`.
  static std::string sha1Hex(std::string_view data);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> by_sha_;
  size_t total_bytes_ = 0;
};

}  // namespace slotwise::proxy
