// The store tests run every case on both implementations: SQLite (a file in
// a temporary directory) and PostgreSQL (a fresh database on the test
// server, postgres_test_server.h).
//
//   class MyTest : public ::testing::TestWithParam<StoreBackend> { ... };
//   INSTANTIATE_TEST_SUITE_P(Backends, MyTest, kAllStoreBackends, StoreBackendName);
//   ...
//   auto db = BackendDatabase::Open(GetParam());
//   auto store = (*db)->NewApplicationStore("430000", clock);
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "clock.h"
#include "gtest/gtest.h"
#include "postgres_test_server.h"
#include "store/application_store.h"
#include "store/catalog_store.h"
#include "store/postgres_application_store.h"
#include "store/postgres_database.h"
#include "store/sqlite_database.h"
#include "store_test_util.h"

namespace tongban::node::testing {

enum class StoreBackend { kSqlite, kPostgres };

inline const auto kAllStoreBackends =
    ::testing::Values(StoreBackend::kSqlite, StoreBackend::kPostgres);

inline std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param == StoreBackend::kSqlite ? "Sqlite" : "Postgres";
}

// One database of a backend; stores opened on it must end before it does.
class BackendDatabase final {
 public:
  static absl::StatusOr<std::unique_ptr<BackendDatabase>> Open(StoreBackend backend);

  // Another connection pool on the same PostgreSQL database, as a second
  // replica (another process) would have. PostgreSQL only.
  absl::StatusOr<std::unique_ptr<BackendDatabase>> OpenReplica(int pool_size = 8) const;

  std::unique_ptr<ApplicationStore> NewApplicationStore(
      const std::string& own_province, const Clock& clock,
      PostgresApplicationStoreOptions options = {}) const;
  std::unique_ptr<CatalogStore> NewCatalogStore() const;

  StoreBackend backend() const { return backend_; }
  PostgresDatabase* postgres() const { return postgres_.get(); }
  // The scratch database's conninfo (PostgreSQL only).
  std::string conninfo() const { return scratch_ != nullptr ? scratch_->conninfo() : ""; }

 private:
  explicit BackendDatabase(StoreBackend backend) : backend_(backend) {}

  StoreBackend backend_;
  // Declared before the connections so that they close before it drops
  // the database.
  std::shared_ptr<ScratchPostgresDatabase> scratch_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<SqliteDatabase> sqlite_;
  std::unique_ptr<PostgresDatabase> postgres_;
};

}  // namespace tongban::node::testing
