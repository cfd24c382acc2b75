#include "proxy/control/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace slotwise::proxy {

void setupLogging(config::LogLevel level) {
  static auto logger = spdlog::stderr_logger_mt("slotwise");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  switch (level) {
    case config::LogLevel::kTrace: spdlog::set_level(spdlog::level::trace); break;
    case config::LogLevel::kDebug: spdlog::set_level(spdlog::level::debug); break;
    case config::LogLevel::kInfo: spdlog::set_level(spdlog::level::info); break;
    case config::LogLevel::kWarn: spdlog::set_level(spdlog::level::warn); break;
    case config::LogLevel::kError: spdlog::set_level(spdlog::level::err); break;
    case config::LogLevel::kOff: spdlog::set_level(spdlog::level::off); break;
  }
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace slotwise::proxy
