#include "store/sqlite_database.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "heap_allocator.h"
#include "store/sqlite_wal_vfs.h"

// UPDATE/DELETE ... RETURNING and sqlite3_changes64 need 3.35.
static_assert(SQLITE_VERSION_NUMBER >= 3035000, "the node store needs SQLite 3.35 or newer");

namespace tongban::node {
namespace {

constexpr char kSavepoint[] = "SAVEPOINT tongban_write";
constexpr char kRollbackToSavepoint[] = "ROLLBACK TO tongban_write";
constexpr char kReleaseSavepoint[] = "RELEASE tongban_write";

// Prepared statements kept per connection and SQL text, reset and reused
// instead of compiled again: parsing and planning the SQL was ~27 % of a
// node's CPU per durable submission (docs/performance.md). A connection is
// used by one thread at a time (the writer, or the reader that borrowed it),
// so a statement taken from here is never shared; the mutex only guards the
// map across connections.
class StatementCache {
 public:
  static StatementCache& Get() {
    static auto* cache = new StatementCache();  // lives as long as the process
    return *cache;
  }

  // An idle statement of `db` for `sql`, or null.
  sqlite3_stmt* Take(sqlite3* db, const char* sql) {
    absl::MutexLock lock(&mu_);
    auto conn = connections_.find(db);
    if (conn == connections_.end()) return nullptr;
    auto it = conn->second.idle.find(absl::string_view(sql));
    if (it == conn->second.idle.end() || it->second.empty()) return nullptr;
    sqlite3_stmt* stmt = it->second.back();
    it->second.pop_back();
    ++hits_;
    return stmt;
  }
  // Takes back a statement once its user is done: kept for reuse while the
  // connection is open and the cache has room, else finalized.
  void Give(sqlite3* db, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    {
      absl::MutexLock lock(&mu_);
      auto conn = connections_.find(db);
      if (conn != connections_.end()) {
        std::vector<sqlite3_stmt*>& idle = conn->second.idle[sqlite3_sql(stmt)];
        // Few texts per connection (the store's constant SQL); a bound keeps
        // generated SQL, if any ever comes, from growing the cache.
        if (idle.size() < kPerText && conn->second.idle.size() <= kTextsPerConnection) {
          idle.push_back(stmt);
          return;
        }
      }
    }
    sqlite3_finalize(stmt);
  }
  void Open(sqlite3* db) {
    absl::MutexLock lock(&mu_);
    connections_[db];
  }
  // Before the connection closes: its idle statements are finalized; ones
  // still in use are finalized when given back.
  void Close(sqlite3* db) {
    std::vector<sqlite3_stmt*> finalize;
    {
      absl::MutexLock lock(&mu_);
      auto conn = connections_.find(db);
      if (conn == connections_.end()) return;
      for (auto& [sql, idle] : conn->second.idle) {
        finalize.insert(finalize.end(), idle.begin(), idle.end());
      }
      connections_.erase(conn);
    }
    for (sqlite3_stmt* stmt : finalize) sqlite3_finalize(stmt);
  }
  int64_t hits() {
    absl::MutexLock lock(&mu_);
    return hits_;
  }

 private:
  static constexpr size_t kPerText = 4;
  static constexpr size_t kTextsPerConnection = 256;
  struct Connection {
    absl::flat_hash_map<std::string, std::vector<sqlite3_stmt*>> idle;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<sqlite3*, Connection> connections_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

void CloseConnection(sqlite3* db) {
  if (db == nullptr) return;
  StatementCache::Get().Close(db);
  // sqlite3_close_v2 defers the close until leaked statements finish, so a
  // bug elsewhere cannot leave the handle half-closed.
  sqlite3_close_v2(db);
}

// Runs one parameterless statement through the cache (BEGIN, COMMIT,
// SAVEPOINT ...: several per group commit).
absl::Status RunCached(sqlite3* db, const char* sql) {
  absl::StatusOr<SqliteStatement> stmt = SqliteStatement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

absl::StatusOr<sqlite3*> OpenConnection(const SqliteDatabaseOptions& options, bool read_only) {
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is used by one thread at a time (the writer,
  // or the Read caller that borrowed it), so SQLite's own lock is waste.
  const int flags = SQLITE_OPEN_NOMUTEX |
                    (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // The writer appends a commit's WAL frames with one write instead of two
  // per frame (store/sqlite_wal_vfs.h); readers never write, so they keep
  // the default VFS.
  const int rc = sqlite3_open_v2(options.path.c_str(), &db, flags,
                                 read_only ? nullptr : WalCoalescingVfsName());
  if (rc != SQLITE_OK) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("cannot open the node database ", options.path, ": ",
                     db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    CloseConnection(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  StatementCache::Get().Open(db);
  return db;
}

// Pragmas of the write connection. WAL lets readers run beside the writer;
// FULL fsyncs the WAL on every COMMIT, which is what makes an acknowledged
// write survive a power cut, not only a process crash.
absl::Status ConfigureWriter(sqlite3* db, const std::string& path) {
  auto mode = SqliteStatement::Prepare(db, "PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status();
  auto row = mode->Step();
  if (!row.ok()) return row.status();
  if (!*row || mode->ColumnText(0) != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("the node database ", path,
                     " cannot use write-ahead logging (is it on a network file system?)"));
  }
  return SqliteExec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
}

absl::StatusOr<int64_t> ReadUserVersion(sqlite3* db) {
  auto stmt = SqliteStatement::Prepare(db, "PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnInt64(0) : 0;
}

}  // namespace

// One caller's write: on Write's stack until `done`, or (WriteAsync) on the
// heap until the writer has called `on_done` and deleted it.
struct SqliteDatabase::PendingWrite {
  Fn fn;
  absl::Status status;
  bool done = false;  // guarded by SqliteDatabase::mu_
  Done on_done;       // set for WriteAsync only
};

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(
    SqliteDatabaseOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (options.read_connections < 1 || options.max_batch < 1) {
    return absl::InvalidArgumentError("read_connections and max_batch must be at least 1");
  }
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(std::move(options)));
  if (absl::Status s = db->OpenConnections(); !s.ok()) {
    db->Close();
    return s;
  }
  db->writer_ = std::thread([raw = db.get()] { raw->WriterLoop(); });
  db->completer_ = std::thread([raw = db.get()] { raw->CompleterLoop(); });
  db->writer_id_ = db->writer_.get_id();
  return db;
}

SqliteDatabase::SqliteDatabase(SqliteDatabaseOptions options) : options_(std::move(options)) {}

SqliteDatabase::~SqliteDatabase() { Close(); }

absl::Status SqliteDatabase::OpenConnections() {
  auto writer = OpenConnection(options_, /*read_only=*/false);
  if (!writer.ok()) return writer.status();
  writer_conn_ = *writer;
  if (absl::Status s = ConfigureWriter(writer_conn_, options_.path); !s.ok()) return s;
  if (absl::Status s = Migrate(); !s.ok()) return s;
  // From here on the writer keeps its temporary data in memory: the journal
  // of each write's savepoint (RunBatch), which holds the pages the write
  // changes that the batch's earlier writes changed. By default SQLite moves
  // it to a temporary file once it passes 64 KiB, which a batch of four
  // filings does: a file created in /var/tmp (seven system calls), written,
  // then closed, for every commit. It is bounded by the pages of one batch
  // (max_batch writes) and freed at COMMIT. Migrations ran with the default,
  // since building an index over a large table may sort more than memory.
  if (absl::Status s = SqliteExec(writer_conn_, "PRAGMA temp_store=MEMORY;"); !s.ok()) return s;
  // Readers open after the writer switched the file to WAL, so they find
  // the -wal and -shm files they need.
  for (int i = 0; i < options_.read_connections; ++i) {
    auto reader = OpenConnection(options_, /*read_only=*/true);
    if (!reader.ok()) return reader.status();
    all_readers_.push_back(*reader);
    absl::MutexLock lock(&pool_mu_);
    free_readers_.push_back(*reader);
  }
  return absl::OkStatus();
}

absl::Status SqliteDatabase::Migrate() {
  // Version check and migrations in one IMMEDIATE transaction: two
  // processes opening a new file cannot both migrate it, and a crash or a
  // bad migration leaves the file at its old version, never half-migrated.
  if (absl::Status s = SqliteExec(writer_conn_, "BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status status = MigrateInTransaction();
  if (status.ok()) status = SqliteExec(writer_conn_, "COMMIT");
  if (!status.ok()) SqliteExec(writer_conn_, "ROLLBACK").IgnoreError();  // may be gone already
  return status;
}

absl::Status SqliteDatabase::MigrateInTransaction() {
  auto version = ReadUserVersion(writer_conn_);
  if (!version.ok()) return version.status();
  const int64_t known = static_cast<int64_t>(options_.migrations.size());
  if (*version > known) {
    return absl::FailedPreconditionError(
        absl::StrCat("the node database ", options_.path, " has schema version ", *version,
                     " but this build knows versions up to ", known,
                     "; it was written by a newer release: run that release or restore a backup"));
  }
  for (int64_t v = *version; v < known; ++v) {
    const std::string sql(options_.migrations[v]);  // NUL-terminated copy
    if (absl::Status s = SqliteExec(writer_conn_, sql.c_str()); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("schema migration ", v + 1, " of ", options_.path,
                                                 ": ", s.message()));
    }
  }
  if (*version < known) {
    // PRAGMA takes no parameters; `known` is our own integer, not input.
    const std::string pragma = absl::StrCat("PRAGMA user_version=", known);
    if (absl::Status s = SqliteExec(writer_conn_, pragma.c_str()); !s.ok()) return s;
  }
  schema_version_ = known;
  return absl::OkStatus();
}

absl::Status SqliteDatabase::Write(Fn fn) {
  PendingWrite pending{std::move(fn), absl::OkStatus(), false, nullptr};
  absl::MutexLock lock(&mu_);
  if (writer_id_ == std::this_thread::get_id()) {
    return absl::FailedPreconditionError(
        "SqliteDatabase::Write called from inside a write function; it would wait for itself");
  }
  if (stopping_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the node database ", options_.path, " is closed"));
  }
  queue_.push_back(&pending);
  mu_.Await(absl::Condition(&pending.done));
  return pending.status;
}

void SqliteDatabase::WriteAsync(Fn fn, Done done) {
  auto pending = std::make_unique<PendingWrite>();
  pending->fn = std::move(fn);
  pending->on_done = std::move(done);
  {
    // No writer-thread check, unlike Write: nothing waits here, so a write
    // queued by a `done` (or a write function) simply joins the next batch.
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(pending.release());  // the writer deletes it
      return;
    }
  }
  pending->on_done(absl::FailedPreconditionError(
      absl::StrCat("the node database ", options_.path, " is closed")));
}

absl::Status SqliteDatabase::Read(const Fn& fn) {
  sqlite3* conn = nullptr;
  {
    absl::MutexLock lock(&pool_mu_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(pool_mu_) {
      return !free_readers_.empty() || readers_closed_;
    };
    pool_mu_.Await(absl::Condition(&available));
    if (readers_closed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the node database ", options_.path, " is closed"));
    }
    conn = free_readers_.back();
    free_readers_.pop_back();
  }
  // An explicit transaction makes the statements of fn see one snapshot.
  // Cached statements: sqlite3_exec would parse BEGIN and COMMIT every time.
  absl::Status status = RunCached(conn, "BEGIN");
  if (status.ok()) {
    status = fn(conn);
    absl::Status end = RunCached(conn, status.ok() ? "COMMIT" : "ROLLBACK");
    if (status.ok()) status = end;
  }
  absl::MutexLock lock(&pool_mu_);
  free_readers_.push_back(conn);
  return status;
}

void SqliteDatabase::WriterLoop() {
  while (true) {
    std::vector<PendingWrite*> batch = TakeBatch();
    if (batch.empty()) return;  // stopping and drained
    RunBatch(batch);
    std::vector<PendingWrite*> detached;
    {
      absl::MutexLock lock(&mu_);
      for (PendingWrite* w : batch) {
        if (w->on_done) {
          detached.push_back(w);
        } else {
          w->done = true;  // wakes the caller's Await
        }
      }
    }
    if (!detached.empty()) {
      absl::MutexLock lock(&completions_mu_);
      completions_.push_back(std::move(detached));
    }
  }
}

void SqliteDatabase::CompleterLoop() {
  while (true) {
    std::vector<PendingWrite*> batch;
    {
      absl::MutexLock lock(&completions_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(completions_mu_) {
        return !completions_.empty() || writer_finished_;
      };
      AwaitReleasingIdleCache(completions_mu_, absl::Condition(&ready));
      if (completions_.empty()) return;  // the writer is gone and all is answered
      batch = std::move(completions_.front());
      completions_.pop_front();
    }
    // Outside the lock: a callback may queue another write (WriteAsync).
    for (PendingWrite* w : batch) {
      w->on_done(w->status);
      delete w;
    }
  }
}

std::vector<SqliteDatabase::PendingWrite*> SqliteDatabase::TakeBatch() {
  absl::MutexLock lock(&mu_);
  auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
  AwaitReleasingIdleCache(mu_, absl::Condition(&has_work));
  const size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
  std::vector<PendingWrite*> batch(queue_.begin(), queue_.begin() + n);
  queue_.erase(queue_.begin(), queue_.begin() + n);
  return batch;
}

void SqliteDatabase::RunBatch(const std::vector<PendingWrite*>& batch) {
  const absl::Time start = absl::Now();
  auto fail_all = [&](const absl::Status& error) {
    for (PendingWrite* w : batch) {
      if (w->status.ok()) w->status = error;
      // UNAVAILABLE is how this file names a storage failure (SqliteError);
      // a write its own function refused keeps its own code.
      if (absl::IsUnavailable(w->status) && options_.on_storage_failure) {
        options_.on_storage_failure(w->status);
      }
    }
  };
  if (absl::Status s = RunCached(writer_conn_, "BEGIN IMMEDIATE"); !s.ok()) {
    fail_all(s);
    return;
  }
  for (PendingWrite* w : batch) {
    absl::Status s = RunCached(writer_conn_, kSavepoint);
    if (s.ok()) {
      w->status = w->fn(writer_conn_);
      s = w->status.ok() ? RunCached(writer_conn_, kReleaseSavepoint)
                         : RunCached(writer_conn_, kRollbackToSavepoint);
      if (s.ok() && !w->status.ok()) s = RunCached(writer_conn_, kReleaseSavepoint);
    }
    // Some errors (I/O, full disk) make SQLite roll back the whole
    // transaction: the earlier writes of the batch are gone, so none of the
    // batch may be acknowledged.
    if (!s.ok() || sqlite3_get_autocommit(writer_conn_)) {
      if (sqlite3_get_autocommit(writer_conn_)) {
        // SQLite rolled the whole transaction back (full disk, I/O error):
        // the savepoint statements then fail too ("no such savepoint"), but
        // the cause is the write's own error, a storage failure for all.
        const absl::Status cause = w->status.ok() ? s : w->status;
        s = absl::UnavailableError(
            absl::StrCat("the write transaction was rolled back by SQLite: ",
                         cause.ok() ? "no error reported" : cause.message()));
      }
      fail_all(
          absl::Status(s.code(), absl::StrCat("write batch not committed, retry: ", s.message())));
      if (!sqlite3_get_autocommit(writer_conn_)) SqliteExec(writer_conn_, "ROLLBACK").IgnoreError();
      return;
    }
  }
  if (absl::Status s = RunCached(writer_conn_, "COMMIT"); !s.ok()) {
    fail_all(s);
    if (!sqlite3_get_autocommit(writer_conn_)) SqliteExec(writer_conn_, "ROLLBACK").IgnoreError();
    return;
  }
  const int size = static_cast<int>(batch.size());
  commits_.fetch_add(1, std::memory_order_relaxed);
  batched_writes_.fetch_add(size, std::memory_order_relaxed);
  last_batch_size_.store(size, std::memory_order_relaxed);
  if (options_.on_commit) options_.on_commit(absl::Now() - start, size);
}

void SqliteDatabase::Close() {
  std::call_once(close_once_, [this] { DoClose(); });
}

void SqliteDatabase::DoClose() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // the writer drains the queue, then returns
  }
  if (writer_.joinable()) writer_.join();
  {
    // Every batch is committed and handed over: answer them, then stop.
    absl::MutexLock lock(&completions_mu_);
    writer_finished_ = true;
  }
  if (completer_.joinable()) completer_.join();
  {
    absl::MutexLock lock(&pool_mu_);
    readers_closed_ = true;
    auto all_back = [this]() ABSL_SHARED_LOCKS_REQUIRED(pool_mu_) {
      return free_readers_.size() == all_readers_.size();
    };
    pool_mu_.Await(absl::Condition(&all_back));
  }
  for (sqlite3* reader : all_readers_) CloseConnection(reader);
  all_readers_.clear();
  // The writer closes last: the last connection to close checkpoints the
  // WAL into the main file (a read-only one could not).
  CloseConnection(writer_conn_);
  writer_conn_ = nullptr;
}

SqliteWriteStats SqliteDatabase::GetWriteStats() const {
  return {commits_.load(std::memory_order_relaxed), batched_writes_.load(std::memory_order_relaxed),
          last_batch_size_.load(std::memory_order_relaxed)};
}

size_t SqliteDatabase::QueueDepth() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void SqliteDatabase::WaitUntilQueuedForTesting(size_t n) {
  absl::MutexLock lock(&mu_);
  auto queued = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return queue_.size() >= n; };
  mu_.Await(absl::Condition(&queued));
}

// ---- SqliteStatement and helpers ----

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view doing) {
  const std::string message =
      absl::StrCat(doing, ": ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                   " (SQLite code ", rc, ")");
  // Storage failures are UNAVAILABLE naming storage, never RESOURCE_EXHAUSTED:
  // that is what callers (and the REST edge's 429) read as "you are sending
  // too much, slow down", while a full disk is the province's fault and a
  // retry elsewhere or later is right (the PostgreSQL store answers the same).
  switch (rc & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(absl::StrCat("storage unavailable: ", message));
    case SQLITE_FULL:
      return absl::UnavailableError(absl::StrCat("storage full: ", message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status SqliteExec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return absl::OkStatus();
  return SqliteError(db, rc,
                     absl::StrCat("running \"", absl::string_view(sql).substr(0, 40), "\""));
}

int64_t SqliteChanges(sqlite3* db) { return sqlite3_changes64(db); }

absl::StatusOr<SqliteStatement> SqliteStatement::Prepare(sqlite3* db, const char* sql) {
  if (sqlite3_stmt* cached = StatementCache::Get().Take(db, sql)) {
    SqliteStatement statement(db, cached);
    statement.reusable_ = true;
    return statement;
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  // PERSISTENT: this statement will be reset and reused many times.
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) return SqliteError(db, rc, absl::StrCat("preparing \"", sql, "\""));
  SqliteStatement statement(db, stmt);
  if (tail != nullptr &&
      std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    return absl::InternalError(absl::StrCat("more than one statement in \"", sql, "\""));
  }
  // The cache finds a statement by sqlite3_sql(); SQLite keeps the text up
  // to the end of the statement, so one with trailing text is not kept.
  statement.reusable_ = std::strcmp(sqlite3_sql(stmt), sql) == 0;
  return statement;
}

int64_t SqliteStatement::CacheHitsForTesting() { return StatementCache::Get().hits(); }

void SqliteStatement::Release() {
  sqlite3_stmt* stmt = std::exchange(stmt_, nullptr);
  if (stmt == nullptr) return;
  if (reusable_) {
    StatementCache::Get().Give(db_, stmt);
  } else {
    sqlite3_finalize(stmt);
  }
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_status_(std::move(other.bind_status_)),
      reusable_(other.reusable_) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    Release();
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_status_ = std::move(other.bind_status_);
    reusable_ = other.reusable_;
  }
  return *this;
}

SqliteStatement::~SqliteStatement() { Release(); }

void SqliteStatement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = SqliteError(db_, rc, absl::StrCat("binding parameter ", index));
  }
}

SqliteStatement& SqliteStatement::BindInt64(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

SqliteStatement& SqliteStatement::BindText(int index, std::string_view value) {
  NoteBind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int index, std::string_view bytes) {
  // A zero-length blob still needs a non-null pointer to be a blob, not NULL.
  NoteBind(sqlite3_bind_blob64(stmt_, index, bytes.empty() ? "" : bytes.data(), bytes.size(),
                               SQLITE_TRANSIENT),
           index);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, absl::StrCat("running \"", sqlite3_sql(stmt_), "\""));
}

absl::Status SqliteStatement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t SqliteStatement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStatement::ColumnText(int col) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt_, col));
}

std::string SqliteStatement::ColumnBlob(int col) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, col));
}

bool SqliteStatement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

}  // namespace tongban::node
