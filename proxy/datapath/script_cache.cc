#include "proxy/datapath/script_cache.h"

#include <openssl/evp.h>

#include <cctype>

#include <spdlog/spdlog.h>

namespace slotwise::proxy {

ScriptCache& ScriptCache::instance() {
  static ScriptCache cache;
  return cache;
}

std::string ScriptCache::sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

void ScriptCache::remember(std::string_view body) {
  std::string sha = sha1Hex(body);
  std::lock_guard lock(mu_);
  if (by_sha_.count(sha) != 0) return;
  if (total_bytes_ + body.size() > kMaxTotalBytes) {
    spdlog::warn("script cache full ({} bytes): script {} not remembered for NOSCRIPT reloads",
                 total_bytes_, sha);
    return;
  }
  total_bytes_ += body.size();
  by_sha_.emplace(std::move(sha), std::string(body));
}

std::optional<std::string> ScriptCache::find(std::string_view sha) const {
  std::string key(sha);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::lock_guard lock(mu_);
  auto it = by_sha_.find(key);
  if (it == by_sha_.end()) return std::nullopt;
  return it->second;
}

size_t ScriptCache::size() const {
  std::lock_guard lock(mu_);
  return by_sha_.size();
}

}  // namespace slotwise::proxy
