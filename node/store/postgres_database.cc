#include "store/postgres_database.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tongban::node {
namespace {

// Key of the transaction-level advisory lock that serializes migrations of
// one database ("TONGBAN" in ASCII; any constant works, only this code uses it).
constexpr int64_t kMigrationLockKey = 0x544f4e4742414e;

// The database whose Read/Write runs on this thread, to refuse re-entry.
thread_local const PostgresDatabase* active_database = nullptr;

bool Retryable(const absl::Status& status) {
  const std::string state = SqlStateOf(status);
  return state == kSqlStateSerializationFailure || state == kSqlStateDeadlock;
}

bool ConnectionLost(const absl::Status& status) {
  return absl::StartsWith(SqlStateOf(status), "08");
}

}  // namespace

// A connection lent by the pool, given back when the lease ends.
class PostgresDatabase::Lease final {
 public:
  Lease(PostgresDatabase& db, PgConnection* conn) : db_(db), conn_(conn) {}
  ~Lease() { db_.Release(conn_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  PgConnection& conn() { return *conn_; }

 private:
  PostgresDatabase& db_;
  PgConnection* conn_;
};

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Open(
    PostgresDatabaseOptions options) {
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("postgres.conninfo is empty: name the database to use");
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("postgres.pool_size must be at least 1, got ", options.pool_size));
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  auto db = std::unique_ptr<PostgresDatabase>(new PostgresDatabase(std::move(options)));
  if (absl::Status s = db->Migrate(); !s.ok()) return s;
  return db;
}

PostgresDatabase::~PostgresDatabase() {
  absl::MutexLock lock(&mu_);
  // Every lease ended before the owner destroys the database.
  free_.clear();
  all_.clear();
}

PostgresStats PostgresDatabase::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PostgresDatabase::Connect() {
  absl::Duration backoff = options_.reconnect_backoff;
  absl::Status last;
  for (int attempt = 0; attempt <= options_.reconnect_attempts; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
    auto conn = PgConnection::Connect(options_.conninfo);
    if (conn.ok()) return conn;
    last = conn.status();
  }
  return absl::UnavailableError(absl::StrCat("storage unavailable after ",
                                             options_.reconnect_attempts + 1,
                                             " connection attempts: ", last.message()));
}

absl::Status PostgresDatabase::Reconnect(PgConnection& conn) {
  absl::Duration backoff = options_.reconnect_backoff;
  absl::Status last;
  for (int attempt = 0; attempt < std::max(1, options_.reconnect_attempts); ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
    last = conn.Reset();
    if (last.ok()) {
      absl::MutexLock lock(&mu_);
      ++stats_.reconnects;
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError(absl::StrCat(
      "storage unavailable: PostgreSQL connection broken and not re-established after ",
      std::max(1, options_.reconnect_attempts), " attempts: ", last.message()));
}

absl::StatusOr<PgConnection*> PostgresDatabase::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !free_.empty() || static_cast<int>(all_.size()) + opening_ < options_.pool_size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&can_proceed), options_.acquire_timeout)) {
      return absl::UnavailableError(absl::StrCat(
          "storage busy: all ", options_.pool_size, " PostgreSQL connections were in use for ",
          absl::FormatDuration(options_.acquire_timeout), " (postgres.pool_size)"));
    }
    if (!free_.empty()) {
      PgConnection* conn = free_.back();
      free_.pop_back();
      return conn;
    }
    ++opening_;
  }
  // Opened outside the lock: connecting takes a round trip or more.
  absl::StatusOr<std::unique_ptr<PgConnection>> opened = Connect();
  absl::MutexLock lock(&mu_);
  --opening_;
  if (!opened.ok()) return opened.status();
  all_.push_back(*std::move(opened));
  return all_.back().get();
}

void PostgresDatabase::Release(PgConnection* conn) {
  absl::MutexLock lock(&mu_);
  free_.push_back(conn);
}

absl::Status PostgresDatabase::Write(const Fn& fn, PgIsolation isolation) {
  absl::Status status = Run(fn, isolation == PgIsolation::kRepeatableRead
                                    ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                                    : "BEGIN ISOLATION LEVEL READ COMMITTED");
  if (absl::IsUnavailable(status) && options_.on_storage_failure) {
    options_.on_storage_failure(status);
  }
  return status;
}

absl::Status PostgresDatabase::Read(const Fn& fn) {
  return Run(fn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

absl::Status PostgresDatabase::Run(const Fn& fn, const char* begin) {
  if (active_database != nullptr) {
    return absl::FailedPreconditionError(
        "a store callback called the store again from inside its transaction");
  }
  absl::BitGen bitgen;
  for (int attempt = 1;; ++attempt) {
    const bool last_attempt = attempt >= options_.max_attempts;
    absl::StatusOr<PgConnection*> acquired = Acquire();
    if (!acquired.ok()) return acquired.status();
    Lease lease(*this, *acquired);
    PgConnection& conn = lease.conn();
    if (!conn.healthy()) {
      if (absl::Status s = Reconnect(conn); !s.ok()) return s;
    }
    // BEGIN goes out with the transaction's first statement, its writes with
    // COMMIT (PgConnection::Defer): fewer round trips, shorter row locks.
    conn.DeferUnprepared(begin);
    active_database = this;
    absl::Status status = fn(conn);
    active_database = nullptr;
    if (status.ok()) {
      status = conn.Commit();
      if (status.ok()) {
        absl::MutexLock lock(&mu_);
        ++stats_.commits;
        return absl::OkStatus();
      }
      if (ConnectionLost(status)) {
        return absl::UnavailableError(absl::StrCat(
            "storage unavailable: the PostgreSQL connection broke during COMMIT, so whether "
            "the write was stored is unknown; read before writing again (",
            status.message(), ")"));
      }
    } else {
      // The error may be the caller's (a refused mutation): undo its writes.
      conn.Rollback();
    }
    // Nothing was committed: a conflict or a connection lost before COMMIT
    // may be run again on a fresh snapshot.
    const bool again = Retryable(status) || (ConnectionLost(status) && !conn.healthy());
    if (!again || last_attempt) return status;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.retries;
    }
    // A little jitter so that two replicas that collided do not collide again.
    absl::SleepFor(absl::Microseconds(absl::Uniform(bitgen, 100, 2000 * attempt)));
  }
}

absl::Status PostgresDatabase::Migrate() {
  const int64_t known = static_cast<int64_t>(options_.migrations.size());
  return Write([&](PgConnection& conn) -> absl::Status {
    // Held until COMMIT: a replica starting at the same moment waits here
    // and then finds the migrations applied.
    PgParams key;
    key.Int(kMigrationLockKey);
    if (auto locked = conn.Exec("SELECT pg_advisory_xact_lock($1)", key); !locked.ok()) {
      return locked.status();
    }
    if (absl::Status s = conn.ExecScript(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP)");
        !s.ok()) {
      return s;
    }
    auto current = conn.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!current.ok()) return current.status();
    const int64_t applied = current->Int64(0, 0);
    if (applied > known) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the PostgreSQL database has schema version ", applied, " but this build knows only ",
          known, ": run a newer tongban-node (a downgrade cannot read it)"));
    }
    for (int64_t version = applied + 1; version <= known; ++version) {
      if (absl::Status s = conn.ExecScript(std::string(options_.migrations[version - 1]));
          !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("migration ", version, ": ", s.message()));
      }
      PgParams v;
      v.Int(version);
      if (auto recorded = conn.Exec("INSERT INTO schema_migrations (version) VALUES ($1)", v);
          !recorded.ok()) {
        return recorded.status();
      }
    }
    schema_version_ = known;
    return absl::OkStatus();
  });
}

}  // namespace tongban::node
