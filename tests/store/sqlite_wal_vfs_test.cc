#include "store/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/sqlite_database.h"
#include "store_test_util.h"

namespace tongban::node {
namespace {

using testing::TempDir;

struct ConnCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Conn = std::unique_ptr<sqlite3, ConnCloser>;

// A connection as the node's writer opens it (vfs = the coalescing one), or
// as an operator's sqlite3 shell would (vfs = nullptr).
Conn OpenConn(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  EXPECT_EQ(rc, SQLITE_OK) << (db != nullptr ? sqlite3_errmsg(db) : "");
  return Conn(db);
}

void Exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << sql << ": " << (error != nullptr ? error : "");
}

// A connection configured as SqliteDatabase configures its writer, with
// table t (`columns`) created through it.
Conn OpenNodeWriter(const std::string& path, const std::string& columns) {
  Conn node = OpenConn(path, WalCoalescingVfsName());
  Exec(node.get(), "PRAGMA journal_mode=WAL");
  Exec(node.get(), "PRAGMA synchronous=FULL");
  Exec(node.get(), "CREATE TABLE t (" + columns + ")");
  return node;
}

int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return value;
}

std::string IntegrityCheck(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr), SQLITE_OK);
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    absl::StrAppend(&out, reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), ";");
  }
  sqlite3_finalize(stmt);
  return out;
}

// ~50 pages: a commit of many frames.
std::string InsertRows(int first, int count) {
  return absl::StrCat("WITH RECURSIVE n(i) AS (SELECT ", first, " UNION ALL SELECT i + 1 FROM n ",
                      "WHERE i < ", first + count - 1,
                      ") INSERT INTO t (k, v) SELECT i, printf('%.1000c', 'x') FROM n");
}

TEST(SqliteWalVfsTest, TheWriterCommitsItsFramesInOneWriteThatEveryReaderSees) {
  ASSERT_NE(WalCoalescingVfsName(), nullptr);
  TempDir dir;
  const std::string path = dir.File("coalesced.db");
  SqliteDatabaseOptions options;
  options.path = path;
  options.migrations = {"CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"};
  auto db = SqliteDatabase::Open(std::move(options));
  ASSERT_TRUE(db.ok()) << db.status();

  const WalCoalescingStats before = GetWalCoalescingStats();
  ASSERT_TRUE((*db)
                  ->Write([](sqlite3* conn) {
                    return sqlite3_exec(conn, InsertRows(1, 200).c_str(), nullptr, nullptr,
                                        nullptr) == SQLITE_OK
                               ? absl::OkStatus()
                               : absl::InternalError(sqlite3_errmsg(conn));
                  })
                  .ok());
  const WalCoalescingStats after = GetWalCoalescingStats();
  // Two writes per frame (header, page) of ~50 frames; one write to the file.
  EXPECT_GE(after.frame_writes - before.frame_writes, 100);
  EXPECT_LE(after.file_writes - before.file_writes, 2);

  // A reader of the database and another process's connection (the default
  // VFS, reading the WAL from the file) both see the whole commit.
  int64_t rows = -1;
  ASSERT_TRUE((*db)
                  ->Read([&](sqlite3* conn) {
                    rows = QueryInt(conn, "SELECT count(*) FROM t");
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(rows, 200);
  Conn shell = OpenConn(path, nullptr);
  EXPECT_EQ(QueryInt(shell.get(), "SELECT count(*) FROM t"), 200);
  EXPECT_EQ(IntegrityCheck(shell.get()), "ok;");
  shell.reset();

  (*db)->Close();
  Conn reopened = OpenConn(path, nullptr);
  EXPECT_EQ(QueryInt(reopened.get(), "SELECT count(*) FROM t"), 200);
}

// A transaction that spilled frames to the WAL and rolled back, then
// another process's commit, then ours: pending frames of the rolled-back
// transaction must never land on top of frames the other writer committed
// (the VFS writes them before it reads the WAL back, and at the latest when
// the WAL write lock is released).
TEST(SqliteWalVfsTest, AnotherWritersCommitSurvivesARolledBackSpill) {
  TempDir dir;
  const std::string path = dir.File("spill.db");
  Conn node = OpenNodeWriter(path, "k INTEGER PRIMARY KEY, v TEXT NOT NULL");
  Exec(node.get(), "PRAGMA wal_autocheckpoint=0");  // keep every frame in the WAL
  Exec(node.get(), "PRAGMA cache_size=5");          // spill early

  const WalCoalescingStats before = GetWalCoalescingStats();
  Exec(node.get(), "BEGIN");
  Exec(node.get(), InsertRows(1, 300));
  EXPECT_GT(GetWalCoalescingStats().frame_writes, before.frame_writes) << "nothing spilled";
  Exec(node.get(), "ROLLBACK");

  Conn shell = OpenConn(path, nullptr);
  Exec(shell.get(), InsertRows(1000, 300));  // over the rolled-back frames
  shell.reset();

  Exec(node.get(), InsertRows(2000, 300));
  EXPECT_EQ(QueryInt(node.get(), "SELECT count(*) FROM t"), 600);
  node.reset();

  Conn check = OpenConn(path, nullptr);
  EXPECT_EQ(IntegrityCheck(check.get()), "ok;");
  EXPECT_EQ(QueryInt(check.get(), "SELECT count(*) FROM t WHERE k BETWEEN 1000 AND 1299"), 300);
  EXPECT_EQ(QueryInt(check.get(), "SELECT count(*) FROM t"), 600);
}

// The bytes of `path` from `offset` on, as another process would read them.
std::string FileBytesFrom(const std::string& path, size_t offset) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > offset ? all.substr(offset) : std::string();
}

// Each point where buffered WAL bytes must reach the file, one at a time,
// through the file handles SQLite itself uses. The bytes are written past
// the WAL's last frame, where SQLite ignores them (no valid checksum).
TEST(SqliteWalVfsTest, PendingBytesReachTheFileBeforeAnyoneCanReadThem) {
  TempDir dir;
  const std::string path = dir.File("points.db");
  Conn node = OpenNodeWriter(path, "k INTEGER PRIMARY KEY");
  sqlite3_file* wal = nullptr;
  sqlite3_file* main_db = nullptr;
  ASSERT_EQ(sqlite3_file_control(node.get(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_file_control(node.get(), "main", SQLITE_FCNTL_FILE_POINTER, &main_db),
            SQLITE_OK);
  ASSERT_NE(wal, nullptr);
  ASSERT_NE(main_db, nullptr);
  const std::string wal_path = path + "-wal";
  const size_t end = FileBytesFrom(wal_path, 0).size();
  ASSERT_GT(end, 0u);

  // Appends wait in memory; a read through the same handle sees them.
  const std::string first(100, 'a');
  ASSERT_EQ(wal->pMethods->xWrite(wal, first.data(), 100, end), SQLITE_OK);
  ASSERT_EQ(wal->pMethods->xWrite(wal, first.data(), 100, end + 100), SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end), "") << "not buffered";
  std::string back(200, '\0');
  ASSERT_EQ(wal->pMethods->xRead(wal, back.data(), 200, end), SQLITE_OK);
  EXPECT_EQ(back, first + first);
  EXPECT_EQ(FileBytesFrom(wal_path, end), first + first);

  // Syncing the WAL writes it first.
  const std::string second(50, 'b');
  ASSERT_EQ(wal->pMethods->xWrite(wal, second.data(), 50, end + 200), SQLITE_OK);
  ASSERT_EQ(wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL), SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 200), second);

  // So do the database file's barrier (a new WAL index header is published
  // across it) and the release of the WAL write lock (slot 0).
  const std::string third(50, 'c');
  ASSERT_EQ(wal->pMethods->xWrite(wal, third.data(), 50, end + 250), SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 250), "");
  main_db->pMethods->xShmBarrier(main_db);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 250), third);

  const std::string fourth(50, 'd');
  ASSERT_EQ(wal->pMethods->xWrite(wal, fourth.data(), 50, end + 300), SQLITE_OK);
  ASSERT_EQ(main_db->pMethods->xShmLock(main_db, 0, 1, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE),
            SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 300), "");
  ASSERT_EQ(main_db->pMethods->xShmLock(main_db, 0, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE),
            SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 300), fourth);

  // A write elsewhere writes the pending run first, so order is kept.
  const std::string fifth(50, 'e');
  ASSERT_EQ(wal->pMethods->xWrite(wal, fifth.data(), 50, end + 350), SQLITE_OK);
  ASSERT_EQ(wal->pMethods->xWrite(wal, second.data(), 50, end + 350), SQLITE_OK);
  ASSERT_EQ(wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL), SQLITE_OK);
  EXPECT_EQ(FileBytesFrom(wal_path, end + 350), second);

  // The database still opens whole.
  node.reset();
  Conn check = OpenConn(path, nullptr);
  EXPECT_EQ(IntegrityCheck(check.get()), "ok;");
}

}  // namespace
}  // namespace tongban::node
