// The stores a node serves from, opened as its config says: SQLite at
// database_path (the default, one process) or PostgreSQL (postgres { },
// several replicas on one database; docs/postgresql.md). The rest of the
// node sees only the CatalogStore, ApplicationStore and LicenceStore
// interfaces.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clock.h"
#include "store/application_store.h"
#include "store/catalog_store.h"
#include "store/licence_store.h"
#include "store/postgres_database.h"
#include "store/sqlite_database.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::node {

struct NodeStores {
  // One of the two is set. Declared before the stores, which use it.
  std::unique_ptr<SqliteDatabase> sqlite;
  std::unique_ptr<PostgresDatabase> postgres;
  std::unique_ptr<CatalogStore> catalog;
  std::unique_ptr<ApplicationStore> applications;
  std::unique_ptr<LicenceStore> licences;

  // Commits what is queued and closes SQLite (its WAL checkpointed);
  // PostgreSQL commits every write before returning, so nothing waits.
  void Close() {
    if (sqlite != nullptr) sqlite->Close();
  }
};

// Opens the store of a finished config (FinishNodeConfig). `clock` must
// outlive the stores; `on_commit` (may be empty) hears SQLite's group
// commits, `on_storage_failure` (may be empty) every write either store could
// not store for a storage reason (full disk, server gone). Errors as the databases' Open: UNAVAILABLE when PostgreSQL
// cannot be reached, FAILED_PRECONDITION for a schema newer than the build.
absl::StatusOr<NodeStores> OpenNodeStores(
    const v1::NodeConfig& config, const Clock& clock,
    std::function<void(absl::Duration commit_latency, int batch_size)> on_commit,
    std::function<void(const absl::Status& failure)> on_storage_failure = {});

}  // namespace tongban::node
