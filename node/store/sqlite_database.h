// SqliteDatabase: the node's one SQLite file, opened for durable,
// group-committed writes and concurrent WAL reads.
//
//   auto db = SqliteDatabase::Open({.path = "/var/lib/tongban/node.db"});
//   absl::Status s = (*db)->Write([&](sqlite3* conn) { ... SqliteStatement ... });
//   absl::Status r = (*db)->Read([&](sqlite3* conn) { ... });
//
// Durability: journal_mode=WAL and synchronous=FULL, so Write returns OK only
// after the COMMIT holding its changes has been fsync'ed.
//
// Group commit: one writer thread owns the only write connection. Write()
// enqueues its function and blocks; the writer takes up to `max_batch`
// queued functions, runs them in one BEGIN IMMEDIATE ... COMMIT, each inside
// its own SAVEPOINT (a failing function is rolled back alone and gets its own
// error), and wakes every caller only after COMMIT has returned. One fsync
// then pays for a whole batch, which is what makes many concurrent writers
// cheap.
//
// Schema: an ordered list of migrations; PRAGMA user_version counts the ones
// applied. Open applies the missing ones in one transaction and refuses a
// file whose version is newer than this build knows.
//
// Thread-safety: Read and Write may be called from any thread, except that a
// write function must not call Write or Read (it runs on the writer thread,
// which would wait for itself). Write functions run on the writer thread;
// read functions run on the calling thread with a pooled connection.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/sqlite_schema.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tongban::node {

struct SqliteDatabaseOptions {
  std::string path;
  // Read-only WAL connections for Read(); readers never block the writer.
  int read_connections = 4;
  // Most write functions committed together in one transaction.
  int max_batch = 64;
  // How long a connection waits on a lock held by another process (e.g. an
  // operator's sqlite3 shell) before giving up with UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  std::vector<std::string_view> migrations = NodeSchemaMigrations();
  // Called on the writer thread after every successful COMMIT with the time
  // from BEGIN to the end of COMMIT and the number of writes in the batch.
  // Must be cheap and must not call into the database.
  std::function<void(absl::Duration commit_latency, int batch_size)> on_commit;
  // Called on the writer thread once per write that the storage could not
  // store (full disk, I/O error, a lock held too long), never for a write its
  // own function refused. Same rules as on_commit.
  std::function<void(const absl::Status& failure)> on_storage_failure;
};

// Counters for metrics; monotonic except last_batch_size.
struct SqliteWriteStats {
  int64_t commits = 0;          // transactions committed
  int64_t batched_writes = 0;   // write functions committed (sum of batch sizes)
  int64_t last_batch_size = 0;  // writes in the most recent committed batch
};

class SqliteDatabase final {
 public:
  using Fn = std::function<absl::Status(sqlite3*)>;

  // Opens (creating if absent) and migrates the file. FAILED_PRECONDITION
  // when the file's schema is newer than `options.migrations`, UNAVAILABLE
  // when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(SqliteDatabaseOptions options);

  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;
  ~SqliteDatabase();  // Close()

  // Runs `fn` inside a write transaction and returns once that transaction
  // has committed: fn's status if fn failed (its changes rolled back, other
  // writes of the batch unaffected), the COMMIT error if the commit failed,
  // FAILED_PRECONDITION after Close(). `fn` must leave the transaction
  // itself alone (no BEGIN/COMMIT/ROLLBACK).
  absl::Status Write(Fn fn);

  // Write without waiting: `done` gets what Write would return, once the
  // transaction holding fn's changes has committed (or failed). For callers
  // on gRPC's callback API, which must not block a thread on the commit.
  // `done` runs on the database's completion thread, in commit order (or at
  // once on this thread when the database is closed), so that answering
  // callers (gRPC's Finish: serialize, encrypt, send) overlaps the writer's
  // next batch instead of delaying it. It must not block for long: later
  // completions wait for it. It may queue writes (WriteAsync joins a later
  // batch).
  using Done = std::function<void(absl::Status)>;
  void WriteAsync(Fn fn, Done done);

  // Runs `fn` in a read transaction (a consistent snapshot holding every
  // write acknowledged before Read was called).
  absl::Status Read(const Fn& fn);

  // Stops accepting writes, commits what is queued, joins the writer and
  // closes every connection (the last close checkpoints the WAL). Waits for
  // reads in flight. Idempotent.
  void Close();

  int64_t SchemaVersion() const { return schema_version_; }
  SqliteWriteStats GetWriteStats() const;
  // Writes waiting for the writer (a gauge for metrics).
  size_t QueueDepth() const;
  // Blocks until at least `n` writes are queued behind the one running.
  void WaitUntilQueuedForTesting(size_t n);

 private:
  struct PendingWrite;

  explicit SqliteDatabase(SqliteDatabaseOptions options);
  absl::Status OpenConnections();
  absl::Status Migrate();
  absl::Status MigrateInTransaction();
  void WriterLoop();
  // Runs the `done` of committed asynchronous writes, batch by batch.
  void CompleterLoop();
  std::vector<PendingWrite*> TakeBatch();
  void RunBatch(const std::vector<PendingWrite*>& batch);
  void DoClose();

  const SqliteDatabaseOptions options_;
  int64_t schema_version_ = 0;  // set by Open, then immutable

  // Owned by the writer thread once it runs (Open uses it before that).
  sqlite3* writer_conn_ = nullptr;
  std::thread writer_;
  std::thread::id writer_id_;  // set by Open before any Write, then immutable
  std::once_flag close_once_;
  std::thread completer_;

  // Committed asynchronous writes whose `done` has not run yet, by batch.
  absl::Mutex completions_mu_;
  std::deque<std::vector<PendingWrite*>> completions_ ABSL_GUARDED_BY(completions_mu_);
  bool writer_finished_ ABSL_GUARDED_BY(completions_mu_) = false;

  mutable absl::Mutex mu_;
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(mu_);  // callers' stack objects
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // The read pool: all_readers_ is fixed after Open; free_readers_ holds
  // the ones not lent to a Read call.
  std::vector<sqlite3*> all_readers_;
  absl::Mutex pool_mu_;
  std::vector<sqlite3*> free_readers_ ABSL_GUARDED_BY(pool_mu_);
  bool readers_closed_ ABSL_GUARDED_BY(pool_mu_) = false;

  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> batched_writes_{0};
  std::atomic<int64_t> last_batch_size_{0};
};

// A prepared statement: SQL is a constant, values go in through Bind*.
// Bind errors are kept and reported by the next Step/Run, so a sequence of
// binds needs one check. Not thread-safe; lives inside one Read/Write fn.
class SqliteStatement final {
 public:
  // INTERNAL when `sql` does not compile (a bug) or holds several statements.
  // On a connection of SqliteDatabase the compiled statement is kept when
  // this object ends (reset, bindings cleared) and handed out again for the
  // same SQL text on the same connection, instead of compiling it again.
  static absl::StatusOr<SqliteStatement> Prepare(sqlite3* db, const char* sql);
  // Statements handed out again so far (all connections): for tests.
  static int64_t CacheHitsForTesting();

  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  ~SqliteStatement();

  // Parameter indexes start at 1, as in SQL's ?1.
  SqliteStatement& BindInt64(int index, int64_t value);
  SqliteStatement& BindText(int index, std::string_view value);  // UTF-8
  SqliteStatement& BindBlob(int index, std::string_view bytes);

  // Advances to the next row: true when one is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, for statements without result rows.
  absl::Status Run();

  // Column indexes start at 0.
  int64_t ColumnInt64(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc, int index);
  // Gives the statement back to the cache (or finalizes it).
  void Release();

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_status_;
  bool reusable_ = false;  // given back to the cache when done, else finalized
};

// A status for SQLite result code `rc` on `db`, saying what was being done:
// UNAVAILABLE for busy/locked/I/O (retry later), RESOURCE_EXHAUSTED for a
// full disk, DATA_LOSS for corruption, INTERNAL otherwise.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view doing);

// Runs constant SQL (one or more statements, no parameters).
absl::Status SqliteExec(sqlite3* db, const char* sql);

// Number of rows changed by the last INSERT/UPDATE/DELETE on `db`.
int64_t SqliteChanges(sqlite3* db);

}  // namespace tongban::node
