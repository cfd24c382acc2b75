#include "config/config_reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iterator>

namespace slotwise::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ProxyConfig base() {
  ProxyConfig c;
  c.cluster.seeds = {{"127.0.0.1", 7000}};
  c.auth.password = "old";
  return c;
}

TEST(PlanReloadTest, SameConfigChangesNothing) {
  ReloadPlan plan = planReload(base(), base());
  EXPECT_THAT(plan.changed, IsEmpty());
  EXPECT_THAT(plan.refused, IsEmpty());
  EXPECT_EQ(plan.config, base());
}

TEST(PlanReloadTest, LiveKeysTakeTheNewValue) {
  ProxyConfig next = base();
  next.log.level = LogLevel::kDebug;
  next.auth.password = "new";
  next.limits.max_clients = 7;
  next.cluster.refresh_interval = Millis(500);
  next.backend.read_from = ReadFrom::kPreferReplica;
  ReloadPlan plan = planReload(base(), next);
  EXPECT_THAT(plan.changed, ElementsAre("cluster.refresh_interval_ms", "backend.read_from",
                                        "limits", "auth", "log.level"));
  EXPECT_THAT(plan.refused, IsEmpty());
  EXPECT_EQ(plan.config, next);
}

TEST(PlanReloadTest, RestartOnlyKeysKeepTheRunningValueAndAreReported) {
  ProxyConfig next = base();
  next.listen.port = 9999;
  next.workers = 3;
  next.cluster.seeds.push_back({"127.0.0.1", 7001});
  next.backend.password = "x";
  next.admin.token = "t";
  next.log.level = LogLevel::kWarn;
  ReloadPlan plan = planReload(base(), next);
  EXPECT_THAT(plan.refused,
              ElementsAre("listen", "workers", "cluster.seeds", "backend.password", "admin"));
  EXPECT_THAT(plan.changed, ElementsAre("log.level"));
  ProxyConfig want = base();
  want.log.level = LogLevel::kWarn;
  EXPECT_EQ(plan.config, want);
}

TEST(PlanReloadTest, TlsFilesChangeLiveTheTlsPortAndBackendTlsSwitchDoNot) {
  ProxyConfig running = base();
  running.tls.listen = {"127.0.0.1", 6390};
  running.tls.files.cert_file = "/old.crt";
  ProxyConfig next = running;
  next.tls.files.cert_file = "/new.crt";
  next.backend.tls.files.ca_file = "/ca.crt";
  ReloadPlan plan = planReload(running, next);
  EXPECT_THAT(plan.changed, ElementsAre("tls", "backend.tls"));
  EXPECT_THAT(plan.refused, IsEmpty());
  EXPECT_EQ(plan.config, next);

  next.tls.listen.port = 6391;
  next.backend.tls.enabled = true;
  plan = planReload(running, next);
  EXPECT_THAT(plan.refused, ElementsAre("tls.listen", "backend.tls.enabled"));
  EXPECT_EQ(plan.config.tls.listen, running.tls.listen);
  EXPECT_FALSE(plan.config.backend.tls.enabled);
  EXPECT_EQ(plan.config.tls.files.cert_file, "/new.crt");
}

ProxyConfig withPools() {
  ProxyConfig c;
  PoolConfig main;
  main.name = "main";
  main.cluster.seeds = {{"127.0.0.1", 7000}};
  PoolConfig legacy;
  legacy.name = "legacy";
  legacy.static_servers.servers = {{{"127.0.0.1", 7001}, 1, ""}};
  c.pools = {main, legacy};
  c.routes = {{"user:", "legacy"}};
  c.default_pool = "main";
  return c;
}

TEST(PlanReloadTest, PoolsRoutesAndDefaultPoolAreRestartOnly) {
  ProxyConfig next = withPools();
  next.pools[0].cluster.refresh_interval = Millis(500);  // live at the top level, not in a pool
  next.pools[1].static_servers.servers[0].weight = 2;
  next.routes.push_back({"cart:", "main"});
  next.default_pool = "legacy";
  next.log.level = LogLevel::kWarn;
  ReloadPlan plan = planReload(withPools(), next);
  EXPECT_THAT(plan.refused, ElementsAre("pools", "routes", "default_pool"));
  EXPECT_THAT(plan.changed, ElementsAre("log.level"));
  ProxyConfig want = withPools();
  want.log.level = LogLevel::kWarn;
  EXPECT_EQ(plan.config, want);
}

TEST(PlanReloadTest, SwitchingBetweenTopLevelBackendAndPoolsIsRestartOnly) {
  ReloadPlan plan = planReload(base(), withPools());
  EXPECT_THAT(plan.refused, ElementsAre("cluster.seeds", "pools", "routes", "default_pool"));
  ProxyConfig want = base();
  want.auth.password = "";
  EXPECT_EQ(plan.config, want);
  EXPECT_THAT(plan.changed, ElementsAre("auth"));
}

// base() with a migration from one standalone server.
ProxyConfig migrating() {
  ProxyConfig c = base();
  c.migration.servers = {{"127.0.0.1", 6379}};
  c.migration.rate_keys_per_s = 1000;
  return c;
}

TEST(PlanReloadTest, MigrationRateChangesLive) {
  ReloadPlan same = planReload(migrating(), migrating());
  EXPECT_THAT(same.changed, IsEmpty());
  EXPECT_THAT(same.refused, IsEmpty());

  ProxyConfig next = migrating();
  next.migration.rate_keys_per_s = 0;
  ReloadPlan plan = planReload(migrating(), next);
  EXPECT_THAT(plan.changed, ElementsAre("migration.rate_keys_per_s"));
  EXPECT_THAT(plan.refused, IsEmpty());
  EXPECT_EQ(plan.config, next);
}

TEST(PlanReloadTest, OtherMigrationKeysAreRestartOnly) {
  using Edit = void (*)(MigrationConfig&);
  const Edit edits[] = {
      [](MigrationConfig& m) {
        m.servers.push_back({"127.0.0.1", 6380});
      },
      [](MigrationConfig& m) {
        m.servers.clear();
        m.static_servers.servers = {{{"127.0.0.1", 6379}, 1, ""}};
      },
      [](MigrationConfig& m) { m.batch_keys = 7; },
      [](MigrationConfig& m) { m.max_block = Millis(5); },
      [](MigrationConfig& m) { m.migrate_timeout = Millis(500); },
      [](MigrationConfig& m) { m.moved_key_cache = 0; },
      [](MigrationConfig& m) { m.source_username = "u"; },
      [](MigrationConfig& m) { m.source_password = "p"; },
  };
  for (size_t i = 0; i < std::size(edits); ++i) {
    ProxyConfig next = migrating();
    edits[i](next.migration);
    ReloadPlan plan = planReload(migrating(), next);
    EXPECT_THAT(plan.refused, ElementsAre("migration")) << i;
    EXPECT_THAT(plan.changed, IsEmpty()) << i;
    EXPECT_EQ(plan.config, migrating()) << i;
  }
  // A refused change does not hold back the live rate.
  ProxyConfig next = migrating();
  next.migration.batch_keys = 7;
  next.migration.rate_keys_per_s = 10;
  ReloadPlan plan = planReload(migrating(), next);
  EXPECT_THAT(plan.refused, ElementsAre("migration"));
  EXPECT_THAT(plan.changed, ElementsAre("migration.rate_keys_per_s"));
  ProxyConfig want = migrating();
  want.migration.rate_keys_per_s = 10;
  EXPECT_EQ(plan.config, want);
}

TEST(PlanReloadTest, RemovingTheMigrationIsApplied) {
  ProxyConfig next = base();
  next.log.level = LogLevel::kWarn;
  ReloadPlan plan = planReload(migrating(), next);
  EXPECT_THAT(plan.changed, ElementsAre("migration", "log.level"));
  EXPECT_THAT(plan.refused, IsEmpty());
  EXPECT_EQ(plan.config, next);
}

TEST(PlanReloadTest, AddingAMigrationIsRestartOnly) {
  ReloadPlan plan = planReload(base(), migrating());
  EXPECT_THAT(plan.refused, ElementsAre("migration"));
  EXPECT_THAT(plan.changed, IsEmpty());
  EXPECT_EQ(plan.config, base());
}

}  // namespace
}  // namespace slotwise::config
