// The YAML binding tables of ProxyConfig (config_fields.cc), shared by the loader's parsing,
// validation, formatting and key listing. Internal to the config module.
#pragma once

#include <cstddef>
#include <string_view>

#include "config/config_binding.h"
#include "config/proxy_config.h"

namespace slotwise::config {

inline constexpr size_t kMaxStaticServers = 4096;  // well below router::KeyPlacement::kMaxServers
inline constexpr size_t kMaxRoutes = 1024;
inline constexpr std::string_view kOnePoolKind = "needs exactly one of cluster, static, sentinel";

// The table of the whole document: one entry per top-level key, sections nesting their own.
const binding::Fields<ProxyConfig>& rootFields();

// A pool's backend kind is given by its address list, as at the top level: how many are set.
int backendKinds(const PoolConfig& pool);

}  // namespace slotwise::config
