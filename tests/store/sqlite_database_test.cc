#include "store/sqlite_database.h"

#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "store/sqlite_wal_vfs.h"
#include "store_test_util.h"

namespace tongban::node {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

constexpr std::string_view kTableT = "CREATE TABLE t (k TEXT PRIMARY KEY)";

std::unique_ptr<SqliteDatabase> OpenWith(const std::string& path,
                                         std::vector<std::string_view> migrations) {
  SqliteDatabaseOptions options;
  options.path = path;
  options.migrations = std::move(migrations);
  auto db = SqliteDatabase::Open(std::move(options));
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? *std::move(db) : nullptr;
}

absl::Status InsertKey(sqlite3* conn, const std::string& key) {
  auto stmt = SqliteStatement::Prepare(conn, "INSERT INTO t (k) VALUES (?1)");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, key);
  return stmt->Run();
}

std::set<std::string> Keys(SqliteDatabase& db) {
  std::set<std::string> keys;
  absl::Status s = db.Read([&](sqlite3* conn) {
    auto stmt = SqliteStatement::Prepare(conn, "SELECT k FROM t");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      keys.insert(stmt->ColumnText(0));
    }
  });
  EXPECT_TRUE(s.ok()) << s;
  return keys;
}

// Runs `fns` in one group commit: a first write (inserting key "blocker")
// holds the writer until every fn is queued behind it. Returns each fn's
// Write result, in order.
std::vector<absl::Status> WriteInOneBatch(SqliteDatabase& db,
                                          const std::vector<SqliteDatabase::Fn>& fns) {
  absl::Notification entered, release;
  std::thread blocker([&] {
    EXPECT_TRUE(db.Write([&](sqlite3* c) {
                    entered.Notify();
                    release.WaitForNotification();
                    return InsertKey(c, "blocker");
                  }).ok());
  });
  entered.WaitForNotification();
  std::vector<absl::Status> results(fns.size());
  std::vector<std::thread> writers;
  for (size_t i = 0; i < fns.size(); ++i) {
    writers.emplace_back([&, i] { results[i] = db.Write(fns[i]); });
  }
  db.WaitUntilQueuedForTesting(fns.size());
  release.Notify();
  blocker.join();
  for (auto& t : writers) t.join();
  return results;
}

absl::StatusOr<std::string> QueryText(SqliteDatabase& db, const char* sql) {
  std::string value;
  absl::Status s = db.Read([&](sqlite3* conn) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(conn, sql);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (*row) value = stmt->ColumnText(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return value;
}

TEST(SqliteDatabaseTest, FreshFileGetsTheWholeSchemaInWalMode) {
  TempDir dir;
  auto db = OpenOrDie(dir.File("node.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->SchemaVersion(), static_cast<int64_t>(NodeSchemaMigrations().size()));
  EXPECT_EQ(*QueryText(*db, "PRAGMA user_version"), absl::StrCat(NodeSchemaMigrations().size()));
  EXPECT_EQ(*QueryText(*db, "PRAGMA journal_mode"), "wal");
  for (const char* table : {"guides", "alliances", "applications", "application_events",
                            "idempotency", "escalations", "outbox", "meta"}) {
    absl::Status s = db->Read([&](sqlite3* conn) -> absl::Status {
      auto stmt = SqliteStatement::Prepare(
          conn, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1");
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, table);
      auto row = stmt->Step();
      if (!row.ok()) return row.status();
      EXPECT_EQ(stmt->ColumnInt64(0), 1) << table;
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST(SqliteDatabaseTest, LaterMigrationRunsOnReopenAndKeepsData) {
  TempDir dir;
  const std::string path = dir.File("node.db");
  {
    auto db = OpenWith(path, {kTableT});
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Write([](sqlite3* c) { return InsertKey(c, "社保"); }).ok());
  }
  auto db = OpenWith(path, {kTableT, "ALTER TABLE t ADD COLUMN v INTEGER; CREATE TABLE u (x)"});
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->SchemaVersion(), 2);
  EXPECT_EQ(Keys(*db), std::set<std::string>{"社保"});
  EXPECT_EQ(*QueryText(*db, "SELECT count(*) FROM u"), "0");
}

TEST(SqliteDatabaseTest, FailedMigrationLeavesTheOldVersion) {
  TempDir dir;
  const std::string path = dir.File("node.db");
  OpenWith(path, {kTableT}).reset();
  SqliteDatabaseOptions options;
  options.path = path;
  options.migrations = {kTableT, "CREATE TABLE u (x); THIS IS NOT SQL"};
  auto failed = SqliteDatabase::Open(options);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("schema migration 2"), std::string_view::npos)
      << failed.status();
  auto db = OpenWith(path, {kTableT});
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->SchemaVersion(), 1);
  EXPECT_EQ(*QueryText(*db, "SELECT count(*) FROM sqlite_master WHERE name = 'u'"), "0");
}

TEST(SqliteDatabaseTest, NewerSchemaThanTheCodeKnowsIsRefused) {
  TempDir dir;
  const std::string path = dir.File("node.db");
  OpenOrDie(path).reset();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);

  SqliteDatabaseOptions options;
  options.path = path;
  auto db = SqliteDatabase::Open(options);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find("schema version 99"), std::string_view::npos) << db.status();
}

// Holds the writer inside one write so that the next ones queue up and are
// committed as one batch: the batch is then known, not hoped for.
// A full disk (SQLITE_FULL, here from max_page_count, which SQLite reports
// exactly as it reports a full file system) refuses the write as UNAVAILABLE
// naming storage, keeps what was committed, and the database works again
// once there is room.
// on_storage_failure (the node's tongban_store_write_failures_total) hears
// the refused write, and not a write its own function refused.
TEST(SqliteDatabaseTest, AFullDiskIsUnavailableNamingStorageAndLosesNothing) {
  TempDir dir;
  std::atomic<int> storage_failures{0};
  SqliteDatabaseOptions options;
  options.path = dir.File("node.db");
  options.migrations = {kTableT};
  options.on_storage_failure = [&](const absl::Status& failure) {
    EXPECT_TRUE(absl::IsUnavailable(failure)) << failure;
    ++storage_failures;
  };
  auto opened = SqliteDatabase::Open(std::move(options));
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<SqliteDatabase> db = *std::move(opened);
  EXPECT_TRUE(absl::IsInvalidArgument(
      db->Write([](sqlite3*) { return absl::InvalidArgumentError("refused by its function"); })));
  EXPECT_EQ(storage_failures.load(), 0);
  ASSERT_TRUE(db->Write([](sqlite3* c) { return InsertKey(c, "before"); }).ok());
  ASSERT_TRUE(db->Write([](sqlite3* c) {
                  return SqliteExec(c, "PRAGMA max_page_count = 1");  // capped at its size now
                }).ok());
  absl::Status full;
  for (int i = 0; i < 1000 && full.ok(); ++i) {
    full = db->Write(
        [i](sqlite3* c) { return InsertKey(c, absl::StrCat(i, std::string(2000, 'x'))); });
  }
  EXPECT_TRUE(absl::IsUnavailable(full)) << full;
  EXPECT_NE(full.message().find("storage full"), std::string::npos) << full;
  EXPECT_EQ(storage_failures.load(), 1);
  EXPECT_EQ(Keys(*db).count("before"), 1u);
  ASSERT_TRUE(
      db->Write([](sqlite3* c) { return SqliteExec(c, "PRAGMA max_page_count = 1000000"); }).ok());
  EXPECT_TRUE(db->Write([](sqlite3* c) { return InsertKey(c, "after"); }).ok());
}

TEST(SqliteDatabaseTest, FailingWriteInABatchIsRolledBackAloneAndOthersCommit) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  constexpr int kWriters = 5;
  std::vector<SqliteDatabase::Fn> fns;
  for (int i = 0; i < kWriters; ++i) {
    fns.push_back([i](sqlite3* c) -> absl::Status {
      absl::Status s = InsertKey(c, absl::StrCat("w", i));
      if (!s.ok() || i != 2) return s;
      return absl::InternalError("writer 2 changed its mind");  // after writing
    });
  }
  const std::vector<absl::Status> results = WriteInOneBatch(*db, fns);

  for (int i = 0; i < kWriters; ++i) {
    if (i == 2) {
      EXPECT_EQ(results[i].message(), "writer 2 changed its mind");
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
    }
  }
  EXPECT_EQ(Keys(*db), (std::set<std::string>{"blocker", "w0", "w1", "w3", "w4"}));
  const SqliteWriteStats stats = db->GetWriteStats();
  EXPECT_EQ(stats.commits, 2);
  EXPECT_EQ(stats.last_batch_size, kWriters);
  EXPECT_EQ(stats.batched_writes, 1 + kWriters);
}

// Every write of a batch runs in a savepoint, which journals the pages it
// changes that the batch's earlier writes changed. A batch of filings passes
// SQLite's 64 KiB spill threshold; the writer keeps that journal in memory
// instead of creating a temporary file for every commit.
TEST(SqliteDatabaseTest, ABatchKeepsItsSavepointJournalInMemory) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {"CREATE TABLE t (k TEXT PRIMARY KEY)",
                                           "CREATE TABLE pages (n INTEGER, v TEXT)"});
  ASSERT_NE(db, nullptr);
  // 64 rows of 3 KB: each row on a page of its own, ~200 KB in all.
  ASSERT_TRUE(db->Write([](sqlite3* c) {
                  return SqliteExec(c,
                                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                    "FROM n WHERE i < 64) INSERT INTO pages SELECT i, "
                                    "printf('%.3000c', 'a') FROM n");
                }).ok());
  const int64_t temp_files_before = GetWalCoalescingStats().temp_files;

  // Four writes in one batch, each rewriting every page of `pages`: from the
  // second on, each savepoint journals ~200 KB.
  constexpr int kWriters = 4;
  std::vector<SqliteDatabase::Fn> fns;
  for (int i = 0; i < kWriters; ++i) {
    fns.push_back([i](sqlite3* c) {
      return SqliteExec(c,
                        absl::StrCat("UPDATE pages SET v = printf('%.3000c', '", i, "')").c_str());
    });
  }
  for (const absl::Status& s : WriteInOneBatch(*db, fns)) EXPECT_TRUE(s.ok()) << s;

  EXPECT_EQ(db->GetWriteStats().last_batch_size, kWriters);
  EXPECT_EQ(GetWalCoalescingStats().temp_files, temp_files_before);
  // Every row holds what the batch's last write put there (the threads
  // queue in any order).
  auto rows = QueryText(*db, "SELECT count(*) || ':' || count(DISTINCT v) FROM pages");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, "64:1");
}

TEST(SqliteDatabaseTest, ManyConcurrentWritersAreAllAcknowledgedAndPresent) {
  TempDir dir;
  std::atomic<int64_t> hook_calls{0}, hook_writes{0};
  SqliteDatabaseOptions options;
  options.path = dir.File("node.db");
  options.migrations = {kTableT};
  options.on_commit = [&](absl::Duration latency, int batch_size) {
    EXPECT_GE(latency, absl::ZeroDuration());
    hook_calls.fetch_add(1);
    hook_writes.fetch_add(batch_size);
  };
  auto opened = SqliteDatabase::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  SqliteDatabase& db = **opened;

  constexpr int kThreads = 16, kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = absl::StrCat(t, "-", i);
        if (!db.Write([&](sqlite3* c) { return InsertKey(c, key); }).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Keys(db).size(), static_cast<size_t>(kThreads * kPerThread));
  const SqliteWriteStats stats = db.GetWriteStats();
  EXPECT_EQ(stats.batched_writes, kThreads * kPerThread);
  EXPECT_LE(stats.commits, stats.batched_writes);
  EXPECT_EQ(hook_calls.load(), stats.commits);
  EXPECT_EQ(hook_writes.load(), stats.batched_writes);
}

TEST(SqliteDatabaseTest, WriteFromInsideAWriteIsRefusedInsteadOfDeadlocking) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Status inner;
  absl::Status outer = db->Write([&](sqlite3*) {
    inner = db->Write([](sqlite3*) { return absl::OkStatus(); });
    return absl::OkStatus();
  });
  EXPECT_TRUE(outer.ok()) << outer;
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteDatabaseTest, CloseCommitsQueuedWritesCheckpointsAndRefusesLaterCalls) {
  TempDir dir;
  const std::string path = dir.File("node.db");
  auto db = OpenWith(path, {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Notification entered, release;
  std::thread blocker([&] {
    EXPECT_TRUE(db->Write([&](sqlite3* c) {
                    entered.Notify();
                    release.WaitForNotification();
                    return InsertKey(c, "blocker");
                  }).ok());
  });
  entered.WaitForNotification();
  std::vector<std::thread> writers;
  std::vector<absl::Status> results(3);
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&, i] {
      results[i] = db->Write([i](sqlite3* c) { return InsertKey(c, absl::StrCat("q", i)); });
    });
  }
  db->WaitUntilQueuedForTesting(3);
  std::thread closer([&] { db->Close(); });
  release.Notify();
  closer.join();
  blocker.join();
  for (auto& t : writers) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;

  EXPECT_EQ(db->Write([](sqlite3*) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(db->Read([](sqlite3*) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kFailedPrecondition);
  // The last connection to close folded the WAL into the main file.
  std::error_code ec;
  const bool wal_exists = std::filesystem::exists(path + "-wal", ec);
  EXPECT_TRUE(!wal_exists || std::filesystem::file_size(path + "-wal", ec) == 0);
  db.reset();
  auto reopened = OpenWith(path, {kTableT});
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(Keys(*reopened), (std::set<std::string>{"blocker", "q0", "q1", "q2"}));
}

// WriteAsync (the callback API's write): each write gets its own result once
// its batch committed, in one batch with blocking writers, and the data is
// there when `done` runs; after Close it is refused at once.
TEST(SqliteDatabaseTest, AsyncWritesAreAnsweredAfterTheirCommitEachWithItsOwnResult) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Notification entered, release;
  std::thread blocker([&] {
    EXPECT_TRUE(db->Write([&](sqlite3* c) {
                    entered.Notify();
                    release.WaitForNotification();
                    return InsertKey(c, "blocker");
                  }).ok());
  });
  entered.WaitForNotification();

  constexpr int kWrites = 4;
  absl::Mutex mu;
  std::vector<std::optional<absl::Status>> results(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    db->WriteAsync(
        [i](sqlite3* c) -> absl::Status {
          absl::Status s = InsertKey(c, absl::StrCat("a", i));
          if (!s.ok() || i != 1) return s;
          return absl::InvalidArgumentError("write 1 refused itself");
        },
        [&, i](absl::Status status) {
          absl::MutexLock lock(&mu);
          results[i] = status;
        });
  }
  std::thread sync_writer(
      [&] { EXPECT_TRUE(db->Write([](sqlite3* c) { return InsertKey(c, "sync"); }).ok()); });
  db->WaitUntilQueuedForTesting(kWrites + 1);
  {
    absl::MutexLock lock(&mu);
    for (const auto& r : results) EXPECT_FALSE(r.has_value()) << "answered before its commit";
  }
  release.Notify();
  blocker.join();
  sync_writer.join();
  {
    absl::MutexLock lock(&mu);
    auto all_answered = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
      for (const auto& r : results) {
        if (!r.has_value()) return false;
      }
      return true;
    };
    mu.Await(absl::Condition(&all_answered));
    for (int i = 0; i < kWrites; ++i) {
      if (i == 1) {
        EXPECT_EQ(results[i]->code(), absl::StatusCode::kInvalidArgument);
      } else {
        EXPECT_TRUE(results[i]->ok()) << i << ": " << *results[i];
      }
    }
  }
  EXPECT_EQ(Keys(*db), (std::set<std::string>{"blocker", "a0", "a2", "a3", "sync"}));
  EXPECT_EQ(db->GetWriteStats().commits, 2);

  db->Close();
  std::optional<absl::Status> late;
  db->WriteAsync([](sqlite3*) { return absl::OkStatus(); },
                 [&](absl::Status status) { late = status; });
  ASSERT_TRUE(late.has_value()) << "a closed database answers at once";
  EXPECT_EQ(late->code(), absl::StatusCode::kFailedPrecondition);
}

// A completion may queue the next write (a chain of steps each needing the
// previous one durable): it joins a later batch instead of deadlocking.
TEST(SqliteDatabaseTest, AnAsyncWritesCompletionMayQueueTheNextWrite) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Notification chained;
  absl::Status first, second;
  db->WriteAsync([](sqlite3* c) { return InsertKey(c, "first"); },
                 [&](absl::Status status) {
                   first = status;
                   db->WriteAsync([](sqlite3* c) { return InsertKey(c, "second"); },
                                  [&](absl::Status s) {
                                    second = s;
                                    chained.Notify();
                                  });
                 });
  chained.WaitForNotification();
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(second.ok()) << second;
  EXPECT_EQ(Keys(*db), (std::set<std::string>{"first", "second"}));
  EXPECT_EQ(db->GetWriteStats().commits, 2);
}

// Completions run beside the writer, not on it: answering one caller (a
// gRPC Finish) never holds back the next commit. Here the first write's
// completion waits for the second write to commit; on the writer thread it
// would wait out its deadline instead.
TEST(SqliteDatabaseTest, AnAsyncWritesCompletionDoesNotHoldBackTheNextCommit) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Notification second_committed, first_answered;
  bool saw_second = false;
  db->WriteAsync([](sqlite3* c) { return InsertKey(c, "first"); },
                 [&](absl::Status status) {
                   EXPECT_TRUE(status.ok()) << status;
                   saw_second = second_committed.WaitForNotificationWithTimeout(absl::Seconds(30));
                   first_answered.Notify();
                 });
  EXPECT_TRUE(db->Write([](sqlite3* c) { return InsertKey(c, "second"); }).ok());
  second_committed.Notify();
  first_answered.WaitForNotification();
  EXPECT_TRUE(saw_second) << "the second write committed only after the first's completion";
}

TEST(SqliteDatabaseTest, StatementRefusesTwoStatementsAndReportsBadSql) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  absl::Status s = db->Read([](sqlite3* c) {
    EXPECT_FALSE(SqliteStatement::Prepare(c, "SELECT 1; SELECT 2").ok());
    auto bad = SqliteStatement::Prepare(c, "SELECT nope FROM nowhere");
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

// Statements are compiled once per connection and SQL text, then reset and
// reused: a reused one carries no binding or row of its previous use, and
// the cache does not outlive its connection.
TEST(SqliteDatabaseTest, PreparedStatementsAreReusedCleanly) {
  TempDir dir;
  auto db = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(db, nullptr);
  const int64_t hits_before = SqliteStatement::CacheHitsForTesting();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(db->Write([&](sqlite3* c) { return InsertKey(c, absl::StrCat("k", i)); }).ok());
  }
  // 50 inserts, plus SAVEPOINT/RELEASE/BEGIN/COMMIT around each batch: most
  // of them compiled once.
  EXPECT_GE(SqliteStatement::CacheHitsForTesting() - hits_before, 49 * 2);
  EXPECT_EQ(Keys(*db).size(), 50u);

  absl::Status s = db->Read([](sqlite3* c) -> absl::Status {
    {
      auto first = SqliteStatement::Prepare(c, "SELECT ?1, (SELECT count(*) FROM t)");
      if (!first.ok()) return first.status();
      first->BindText(1, "湖南");
      auto row = first->Step();
      EXPECT_TRUE(row.ok() && *row);
      EXPECT_EQ(first->ColumnText(0), "湖南");
      // Left mid-result: given back with a row pending.
    }
    auto again = SqliteStatement::Prepare(c, "SELECT ?1, (SELECT count(*) FROM t)");
    if (!again.ok()) return again.status();
    auto row = again->Step();  // no binding this time: NULL, not the old 湖南
    EXPECT_TRUE(row.ok() && *row);
    EXPECT_TRUE(again->ColumnIsNull(0));
    EXPECT_EQ(again->ColumnInt64(1), 50);
    // Two uses of one text at once get two statements.
    auto other = SqliteStatement::Prepare(c, "SELECT ?1, (SELECT count(*) FROM t)");
    if (!other.ok()) return other.status();
    other->BindInt64(1, 7);
    row = other->Step();
    EXPECT_TRUE(row.ok() && *row);
    EXPECT_EQ(other->ColumnInt64(0), 7);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  // Closing with statements cached finalizes them (the file closes cleanly
  // and opens again with the data).
  db->Close();
  db.reset();
  auto reopened = OpenWith(dir.File("node.db"), {kTableT});
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(Keys(*reopened).size(), 50u);
}

}  // namespace
}  // namespace tongban::node
