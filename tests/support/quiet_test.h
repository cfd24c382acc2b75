// Base fixture for tests that drive the data path in-process: writes to closed sockets fail with
// EPIPE instead of killing the test (as Server::run sets up), and logs stay off unless
// SLOTWISE_TEST_LOG is set (scripted failures log warnings).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>

namespace slotwise::test {

class QuietTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);
    saved_log_level_ = spdlog::get_level();
    if (std::getenv("SLOTWISE_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  }
  static void TearDownTestSuite() { spdlog::set_level(saved_log_level_); }

 private:
  static inline spdlog::level::level_enum saved_log_level_ = spdlog::level::info;
};

}  // namespace slotwise::test
