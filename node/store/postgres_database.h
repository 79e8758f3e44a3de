// PostgresDatabase: the node's PostgreSQL database, shared by every replica
// of the province: a small pool of libpq connections, transactions retried
// on serialization failures and deadlocks, and versioned migrations.
//
//   auto db = PostgresDatabase::Open({.conninfo = "host=/run/pg dbname=tongban_430000"});
//   absl::Status s = (*db)->Write([&](PgConnection& conn) { ... conn.Exec(...) ... });
//   absl::Status r = (*db)->Read([&](PgConnection& conn) { ... });
//
// Transactions: Write runs `fn` between BEGIN (READ COMMITTED, or
// REPEATABLE READ when asked) and COMMIT and returns after the COMMIT. When
// the server answers 40001 (serialization failure) or 40P01 (deadlock), or
// the connection breaks before COMMIT was sent, nothing was committed: the
// transaction is rolled back and `fn` runs again on a fresh snapshot, up to
// `max_attempts` times (so `fn` must be safe to run more than once: only
// its last run's effects count). A connection that breaks during COMMIT is
// not retried: the outcome is unknown and the caller gets UNAVAILABLE
// saying so. Correctness across replicas comes from the database (row
// locks, unique keys, counters updated in the transaction), never from a
// mutex in this process.
//
// Connections: at most `pool_size`, opened when first needed. A connection
// libpq reports broken is reset (reconnected) before its next use, up to
// `reconnect_attempts` times with backoff; then UNAVAILABLE naming the
// server. When all connections are lent out, a caller waits up to
// `acquire_timeout`, then gets UNAVAILABLE.
//
// Schema: migrations are SQL texts applied in order; the table
// schema_migrations records the versions applied. Open applies the missing
// ones in one transaction holding a transaction-level advisory lock, so
// replicas starting at once apply each migration once; it refuses a
// database whose schema is newer than this build knows.
//
// Thread-safety: Read and Write may be called from any thread, but not from
// inside a Read or Write function (FAILED_PRECONDITION: that would hold two
// connections at once and could exhaust the pool).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/postgres_connection.h"
#include "store/postgres_schema.h"

namespace tongban::node {

struct PostgresDatabaseOptions {
  // libpq connection string or URI; its database holds one province.
  std::string conninfo;
  int pool_size = 8;
  absl::Duration acquire_timeout = absl::Seconds(10);
  // Runs of one transaction before a serialization failure or deadlock is
  // returned (ABORTED) to the caller.
  int max_attempts = 5;
  // Reconnections tried for a broken connection before UNAVAILABLE; the
  // first waits reconnect_backoff, each next one twice as long.
  int reconnect_attempts = 3;
  absl::Duration reconnect_backoff = absl::Milliseconds(100);
  std::vector<std::string_view> migrations = PostgresSchemaMigrations();
  // Called once per write transaction that ended UNAVAILABLE (the server
  // unreachable, its disk full, a COMMIT whose outcome is unknown), on the
  // caller's thread; must be cheap and must not call into the database.
  std::function<void(const absl::Status& failure)> on_storage_failure;
};

enum class PgIsolation { kReadCommitted, kRepeatableRead };

// Counters for tests and metrics; monotonic.
struct PostgresStats {
  int64_t commits = 0;
  int64_t retries = 0;     // transactions run again after 40001/40P01/broken connection
  int64_t reconnects = 0;  // successful resets of broken connections
};

class PostgresDatabase final {
 public:
  using Fn = std::function<absl::Status(PgConnection&)>;

  // Connects, migrates and returns the database. INVALID_ARGUMENT for an
  // empty conninfo or pool_size < 1, UNAVAILABLE when the server cannot be
  // reached, FAILED_PRECONDITION when its schema is newer than this build.
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Open(PostgresDatabaseOptions options);

  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;
  ~PostgresDatabase();

  // Runs `fn` in a read-write transaction and returns once it committed:
  // fn's status when fn failed (rolled back), else the COMMIT's.
  absl::Status Write(const Fn& fn, PgIsolation isolation = PgIsolation::kReadCommitted);
  // Runs `fn` in a read-only REPEATABLE READ transaction: one consistent
  // snapshot across its statements.
  absl::Status Read(const Fn& fn);

  int64_t SchemaVersion() const { return schema_version_; }
  PostgresStats GetStats() const;
  // Where the pool connects, for messages.
  const std::string& conninfo() const { return options_.conninfo; }

 private:
  class Lease;
  explicit PostgresDatabase(PostgresDatabaseOptions options) : options_(std::move(options)) {}
  absl::StatusOr<PgConnection*> Acquire();
  void Release(PgConnection* conn);
  // Reconnects `conn` (bounded attempts with backoff).
  absl::Status Reconnect(PgConnection& conn);
  absl::StatusOr<std::unique_ptr<PgConnection>> Connect();
  absl::Status Run(const Fn& fn, const char* begin);
  absl::Status Migrate();

  const PostgresDatabaseOptions options_;
  int64_t schema_version_ = 0;  // set by Open, then immutable

  mutable absl::Mutex mu_;
  // Every connection opened; free_ holds those not lent out.
  std::vector<std::unique_ptr<PgConnection>> all_ ABSL_GUARDED_BY(mu_);
  std::vector<PgConnection*> free_ ABSL_GUARDED_BY(mu_);
  int opening_ ABSL_GUARDED_BY(mu_) = 0;  // connections being opened right now
  PostgresStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::node
