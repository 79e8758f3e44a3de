#include "store_backends.h"

#include <utility>

#include "store/postgres_catalog_store.h"
#include "store/sqlite_application_store.h"
#include "store/sqlite_catalog_store.h"

namespace tongban::node::testing {

absl::StatusOr<std::unique_ptr<BackendDatabase>> BackendDatabase::Open(StoreBackend backend) {
  auto db = std::unique_ptr<BackendDatabase>(new BackendDatabase(backend));
  if (backend == StoreBackend::kSqlite) {
    db->dir_ = std::make_unique<TempDir>();
    SqliteDatabaseOptions options;
    options.path = db->dir_->File("node.db");
    auto opened = SqliteDatabase::Open(std::move(options));
    if (!opened.ok()) return opened.status();
    db->sqlite_ = *std::move(opened);
    return db;
  }
  auto scratch = ScratchPostgresDatabase::Create();
  if (!scratch.ok()) return scratch.status();
  db->scratch_ = *std::move(scratch);
  PostgresDatabaseOptions options;
  options.conninfo = db->scratch_->conninfo();
  auto opened = PostgresDatabase::Open(std::move(options));
  if (!opened.ok()) return opened.status();
  db->postgres_ = *std::move(opened);
  return db;
}

absl::StatusOr<std::unique_ptr<BackendDatabase>> BackendDatabase::OpenReplica(int pool_size) const {
  if (backend_ != StoreBackend::kPostgres) {
    return absl::FailedPreconditionError("replicas share a PostgreSQL database only");
  }
  auto db = std::unique_ptr<BackendDatabase>(new BackendDatabase(backend_));
  db->scratch_ = scratch_;
  PostgresDatabaseOptions options;
  options.conninfo = scratch_->conninfo();
  options.pool_size = pool_size;
  auto opened = PostgresDatabase::Open(std::move(options));
  if (!opened.ok()) return opened.status();
  db->postgres_ = *std::move(opened);
  return db;
}

std::unique_ptr<ApplicationStore> BackendDatabase::NewApplicationStore(
    const std::string& own_province, const Clock& clock,
    PostgresApplicationStoreOptions options) const {
  if (sqlite_ != nullptr) {
    return std::make_unique<SqliteApplicationStore>(*sqlite_, own_province, clock);
  }
  return std::make_unique<PostgresApplicationStore>(*postgres_, own_province, clock, options);
}

std::unique_ptr<CatalogStore> BackendDatabase::NewCatalogStore() const {
  if (sqlite_ != nullptr) return std::make_unique<SqliteCatalogStore>(*sqlite_);
  return std::make_unique<PostgresCatalogStore>(*postgres_);
}

}  // namespace tongban::node::testing
