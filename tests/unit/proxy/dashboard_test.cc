#include "proxy/admin/dashboard.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace slotwise::proxy {
namespace {

std::string readAsset() {
  std::ifstream in(SLOTWISE_SOURCE_DIR "/proxy/admin/assets/dashboard.html", std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The page compiled into the binary is the asset file, byte for byte (build-time embedding).
TEST(DashboardPageTest, EmbeddedPageIsTheAssetFile) {
  const std::string asset = readAsset();
  ASSERT_FALSE(asset.empty()) << "cannot read proxy/admin/assets/dashboard.html";
  EXPECT_EQ(dashboardHtml().size(), asset.size());
  EXPECT_TRUE(dashboardHtml() == asset);  // not EXPECT_EQ: no 17 kB diff on failure
  EXPECT_TRUE(dashboardHtml().starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(dashboardHtml().ends_with("</html>\n"));
}

}  // namespace
}  // namespace slotwise::proxy
