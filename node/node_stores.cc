#include "node_stores.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/postgres_application_store.h"
#include "store/postgres_catalog_store.h"
#include "store/postgres_licence_store.h"
#include "store/sqlite_application_store.h"
#include "store/sqlite_catalog_store.h"
#include "store/sqlite_licence_store.h"

namespace tongban::node {

absl::StatusOr<NodeStores> OpenNodeStores(
    const v1::NodeConfig& config, const Clock& clock,
    std::function<void(absl::Duration commit_latency, int batch_size)> on_commit,
    std::function<void(const absl::Status& failure)> on_storage_failure) {
  NodeStores stores;
  if (config.has_postgres()) {
    PostgresDatabaseOptions options;
    options.conninfo = config.postgres().conninfo();
    options.pool_size = config.postgres().pool_size();
    options.on_storage_failure = on_storage_failure;
    absl::StatusOr<std::unique_ptr<PostgresDatabase>> db = PostgresDatabase::Open(options);
    if (!db.ok()) {
      return absl::Status(db.status().code(), absl::StrCat("postgres: ", db.status().message()));
    }
    stores.postgres = *std::move(db);
    PostgresApplicationStoreOptions store_options;
    store_options.outbox_lease = absl::Seconds(config.postgres().outbox_lease_seconds());
    stores.catalog = std::make_unique<PostgresCatalogStore>(*stores.postgres);
    stores.applications = std::make_unique<PostgresApplicationStore>(
        *stores.postgres, config.province_code(), clock, store_options);
    stores.licences = std::make_unique<PostgresLicenceStore>(*stores.postgres);
    return stores;
  }
  SqliteDatabaseOptions options;
  options.path = config.database_path();
  options.max_batch = config.max_commit_batch();
  options.on_commit = std::move(on_commit);
  options.on_storage_failure = std::move(on_storage_failure);
  absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = SqliteDatabase::Open(std::move(options));
  if (!db.ok()) return db.status();
  stores.sqlite = *std::move(db);
  stores.catalog = std::make_unique<SqliteCatalogStore>(*stores.sqlite);
  stores.applications =
      std::make_unique<SqliteApplicationStore>(*stores.sqlite, config.province_code(), clock);
  stores.licences = std::make_unique<SqliteLicenceStore>(*stores.sqlite);
  return stores;
}

}  // namespace tongban::node
