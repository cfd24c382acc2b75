// slotwise: a cluster-aware Redis proxy. See README.md.
#include <cstdio>
#include <cstring>
#include <string>

#include "config/config_loader.h"
#include "proxy/control/logging.h"
#include "proxy/control/server.h"

namespace {

constexpr const char* kUsage =
    "Usage: slotwise --config FILE        run the proxy\n"
    "       slotwise --check-config FILE  validate FILE, print every error, exit 0 if valid\n"
    "       slotwise --version            print the version\n"
    "       slotwise --help               this text\n"
    "\n"
    "Configuration keys and defaults: deploy/examples/slotwise.yaml\n";

int checkConfig(const char* path) {
  auto cfg = slotwise::config::loadConfigFile(path);
  if (!cfg) {
    std::fprintf(stderr, "%s: invalid configuration:\n%s\n", path, cfg.error().c_str());
    return 1;
  }
  std::printf("%s: configuration OK\n", path);
  return 0;
}

int runProxy(const char* path) {
  auto cfg = slotwise::config::loadConfigFile(path);
  if (!cfg) {
    std::fprintf(stderr, "%s: invalid configuration:\n%s\n", path, cfg.error().c_str());
    return 1;
  }
  slotwise::proxy::setupLogging(cfg->log.level);
  slotwise::proxy::Server server(std::move(cfg).value(), path);
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("slotwise %s\n", SLOTWISE_VERSION);
    return 0;
  }
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) return checkConfig(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--config") == 0) return runProxy(argv[2]);
  std::fputs(kUsage, stderr);
  return 2;
}
