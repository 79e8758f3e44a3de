// The node's store chosen by config (node_stores.h, node_config.h): SQLite
// at database_path by default, PostgreSQL with postgres { conninfo }, and
// the errors that name a wrong combination.
#include <string>

#include "gtest/gtest.h"
#include "node_config.h"
#include "node_stores.h"
#include "postgres_test_server.h"
#include "store/postgres_schema.h"
#include "store_test_util.h"

namespace tongban::node {
namespace {

v1::NodeConfig Base() {
  v1::NodeConfig config;
  config.set_province_code("430000");
  config.mutable_tls()->set_cert_file("cert.pem");
  config.mutable_tls()->set_key_file("key.pem");
  config.mutable_tls()->set_ca_file("ca.pem");
  return config;
}

absl::Status Finish(const v1::NodeConfig& config) { return FinishNodeConfig(config).status(); }

TEST(NodeStoreSelectionTest, ExactlyOneStoreIsConfiguredAndDefaultsAreFilled) {
  EXPECT_NE(Finish(Base()).message().find("database_path is required"), std::string::npos);

  v1::NodeConfig both = Base();
  both.set_database_path("/tmp/node.db");
  both.mutable_postgres()->set_conninfo("dbname=x");
  EXPECT_NE(Finish(both).message().find("database_path and postgres are both set"),
            std::string::npos)
      << Finish(both);

  v1::NodeConfig no_conninfo = Base();
  no_conninfo.mutable_postgres()->set_pool_size(4);
  EXPECT_NE(Finish(no_conninfo).message().find("postgres.conninfo is required"), std::string::npos);

  v1::NodeConfig pool = Base();
  pool.mutable_postgres()->set_conninfo("dbname=x");
  pool.mutable_postgres()->set_pool_size(101);
  EXPECT_EQ(Finish(pool).message(), "postgres.pool_size must be 1 to 100");
  pool.mutable_postgres()->set_pool_size(0);
  pool.mutable_postgres()->set_outbox_lease_seconds(5);
  EXPECT_EQ(Finish(pool).message(), "postgres.outbox_lease_seconds must be 10 to 3600");

  pool.mutable_postgres()->set_outbox_lease_seconds(0);
  auto finished = FinishNodeConfig(pool);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->postgres().pool_size(), 8);
  EXPECT_EQ(finished->postgres().outbox_lease_seconds(), 120);
}

// The same calls through whichever store the config opened.
void FileAndReadBack(NodeStores& stores) {
  CreateRequest request;
  v1::Application& app = request.application;
  app.set_accepting_province("430000");
  app.set_handling_province("310000");
  app.mutable_applicant()->set_id_number("430102199001011234");
  auto created = stores.applications->CreateApplication(request);
  ASSERT_TRUE(created.ok()) << created.status();
  auto read = stores.applications->GetApplication(created->application.application_id(), false);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*stores.catalog->IsEmpty());
}

TEST(NodeStoreSelectionTest, DatabasePathOpensSqlite) {
  testing::TempDir dir;
  v1::NodeConfig config = Base();
  config.set_database_path(dir.File("node.db"));
  auto finished = FinishNodeConfig(config);
  ASSERT_TRUE(finished.ok()) << finished.status();
  FakeClock clock(absl::FromUnixSeconds(1795572000));
  auto stores = OpenNodeStores(*finished, clock, {});
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_NE(stores->sqlite, nullptr);
  EXPECT_EQ(stores->postgres, nullptr);
  FileAndReadBack(*stores);
  stores->Close();
}

TEST(NodeStoreSelectionTest, PostgresConninfoOpensPostgres) {
  auto scratch = testing::ScratchPostgresDatabase::Create();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  v1::NodeConfig config = Base();
  config.mutable_postgres()->set_conninfo((*scratch)->conninfo());
  config.mutable_postgres()->set_pool_size(2);
  auto finished = FinishNodeConfig(config);
  ASSERT_TRUE(finished.ok()) << finished.status();
  FakeClock clock(absl::FromUnixSeconds(1795572000));
  auto stores = OpenNodeStores(*finished, clock, {});
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_EQ(stores->sqlite, nullptr);
  ASSERT_NE(stores->postgres, nullptr);
  EXPECT_EQ(stores->postgres->SchemaVersion(),
            static_cast<int64_t>(PostgresSchemaMigrations().size()));
  FileAndReadBack(*stores);
}

TEST(NodeStoreSelectionTest, AnUnreachablePostgresStopsTheNodeNamingTheKey) {
  v1::NodeConfig config = Base();
  config.mutable_postgres()->set_conninfo(
      "host=/nonexistent/tongban-no-server port=5 dbname=x connect_timeout=1");
  auto finished = FinishNodeConfig(config);
  ASSERT_TRUE(finished.ok()) << finished.status();
  FakeClock clock(absl::FromUnixSeconds(1795572000));
  auto stores = OpenNodeStores(*finished, clock, {});
  EXPECT_EQ(stores.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(stores.status().message().rfind("postgres: storage unavailable", 0), 0u)
      << stores.status();
}

}  // namespace
}  // namespace tongban::node
