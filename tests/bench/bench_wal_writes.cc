// tongban-wal-bench: CPU and wall time per group commit of the node's SQLite
// writer with the default VFS and with the WAL-coalescing one
// (node/store/sqlite_wal_vfs.h), alternated in one run on the same disk.
// Each commit writes what a group commit of four filings writes: an
// application row (three indexes), its first event and an idempotency key.
// docs/performance.md, "WAL frames in one write". In-process; not a test.
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rusage_cpu.h"
#include "store/sqlite_wal_vfs.h"

namespace {

constexpr char kSchema[] = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE applications (seq INTEGER PRIMARY KEY, application_id TEXT NOT NULL UNIQUE,
  applicant TEXT NOT NULL, state INTEGER NOT NULL, application BLOB NOT NULL);
CREATE INDEX applications_by_applicant ON applications (applicant, seq);
CREATE INDEX applications_by_state ON applications (state, seq);
CREATE TABLE events (application_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
  event_id TEXT NOT NULL, event BLOB NOT NULL, PRIMARY KEY (application_id, ordinal),
  UNIQUE (application_id, event_id)) WITHOUT ROWID;
CREATE TABLE idempotency (key TEXT PRIMARY KEY, application_id TEXT NOT NULL) WITHOUT ROWID;
)sql";

struct Result {
  double cpu_us = 0;
  double wall_us = 0;
  double file_writes = 0;
  double frame_writes = 0;
};

bool Ok(sqlite3* db, int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
  std::fprintf(stderr, "tongban-wal-bench: %s: %s\n", what, sqlite3_errmsg(db));
  return false;
}

bool RunOnce(const std::string& dir, const char* vfs, int commits, int per_commit, Result* out) {
  const std::string path = dir + "/bench.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  sqlite3* db = nullptr;
  const int opened = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
  if (!Ok(db, opened, "open") ||
      !Ok(db, sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr), "schema")) {
    sqlite3_close(db);
    return false;
  }
  const char* sql[] = {
      "INSERT INTO applications (application_id, applicant, state, application) "
      "VALUES (?1, hex(randomblob(9)), 1, randomblob(1500))",
      "INSERT INTO events VALUES (?1, 1, hex(randomblob(8)), randomblob(900))",
      "INSERT INTO idempotency VALUES (hex(randomblob(16)), ?1)"};
  std::vector<sqlite3_stmt*> stmts;
  bool ok = true;
  for (const char* s : sql) {
    sqlite3_stmt* stmt = nullptr;
    ok = ok && Ok(db, sqlite3_prepare_v2(db, s, -1, &stmt, nullptr), s);
    stmts.push_back(stmt);
  }
  const tongban::node::WalCoalescingStats before = tongban::node::GetWalCoalescingStats();
  const double cpu0 = tongban::bench::RusageCpuSeconds(RUSAGE_SELF);
  const auto wall0 = std::chrono::steady_clock::now();
  int64_t n = 0;
  for (int c = 0; c < commits && ok; ++c) {
    ok = Ok(db, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "BEGIN");
    for (int w = 0; w < per_commit && ok; ++w) {
      const std::string id = absl::StrCat("TB-430000-430000-20261207-", 10000000 + ++n);
      for (sqlite3_stmt* stmt : stmts) {
        sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
        ok = ok && Ok(db, sqlite3_step(stmt), "insert");
        sqlite3_reset(stmt);
      }
    }
    ok = ok && Ok(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "COMMIT");
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = tongban::bench::RusageCpuSeconds(RUSAGE_SELF) - cpu0;
  const tongban::node::WalCoalescingStats after = tongban::node::GetWalCoalescingStats();
  for (sqlite3_stmt* stmt : stmts) sqlite3_finalize(stmt);  // null: a no-op
  sqlite3_close(db);
  out->cpu_us = 1e6 * cpu / commits;
  out->wall_us = 1e6 * wall / commits;
  out->frame_writes = static_cast<double>(after.frame_writes - before.frame_writes) / commits;
  out->file_writes = static_cast<double>(after.file_writes - before.file_writes) / commits;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "Usage: tongban-wal-bench [directory]\n"
        "CPU and wall time per SQLite group commit (4 filings' rows, synchronous=FULL)\n"
        "with the default VFS and with the node's WAL-coalescing VFS, alternated\n"
        "3 rounds x 2000 commits each, in `directory` (default: the current one;\n"
        "its disk is what is measured). Prints a markdown table.\n");
    return 0;
  }
  const std::string base = argc > 1 ? argv[1] : ".";
  const std::string dir = base + "/tongban-wal-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const char* coalescing = tongban::node::WalCoalescingVfsName();
  if (coalescing == nullptr) {
    std::fprintf(stderr, "tongban-wal-bench: SQLite has no default VFS to wrap\n");
    return 1;
  }
  constexpr int kCommits = 2000;
  constexpr int kPerCommit = 4;
  std::printf(
      "| round | VFS | CPU µs per commit | wall µs per commit | WAL xWrite calls per commit | "
      "writes to the file per commit |\n| --- | --- | --- | --- | --- | --- |\n");
  double cpu_sum[2] = {0, 0};
  double wall_sum[2] = {0, 0};
  for (int round = 1; round <= 3; ++round) {
    for (int v = 0; v < 2; ++v) {
      std::fprintf(stderr, "==> round %d, %s VFS\n", round, v == 0 ? "default" : "coalescing");
      Result r;
      if (!RunOnce(dir, v == 0 ? nullptr : coalescing, kCommits, kPerCommit, &r)) {
        std::filesystem::remove_all(dir);
        return 1;
      }
      cpu_sum[v] += r.cpu_us;
      wall_sum[v] += r.wall_us;
      if (v == 0) {
        std::printf("| %d | default | %.0f | %.0f | – | (one per xWrite) |\n", round, r.cpu_us,
                    r.wall_us);
      } else {
        std::printf("| %d | coalescing | %.0f | %.0f | %.0f | %.1f |\n", round, r.cpu_us, r.wall_us,
                    r.frame_writes, r.file_writes);
      }
    }
  }
  std::printf("\nCoalescing ÷ default over the 3 rounds: CPU %.2f×, wall %.2f×\n",
              cpu_sum[1] / cpu_sum[0], wall_sum[1] / wall_sum[0]);
  std::filesystem::remove_all(dir);
  return 0;
}
