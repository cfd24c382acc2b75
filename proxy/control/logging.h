// spdlog setup: one process-wide logger writing to stderr with a compact pattern.
#pragma once

#include "config/proxy_config.h"

namespace slotwise::proxy {

void setupLogging(config::LogLevel level);

}  // namespace slotwise::proxy
