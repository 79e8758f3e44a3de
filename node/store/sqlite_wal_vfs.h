// A SQLite VFS that writes a transaction's WAL frames with one pwrite.
//
// SQLite appends each WAL frame with two pwrite calls (its 24-byte header,
// then the page), so a group commit of a few filings costs ~50 system calls
// before its fsync (docs/performance.md, "WAL frames in one write"). This
// VFS wraps the default one and, for WAL files only, keeps contiguous
// appends in memory until the WAL is synced, read, truncated, sized or
// closed, then writes them with one call. Nothing changes on disk: the same
// bytes land at the same offsets, before the fsync that makes a commit
// durable. Files other than WALs pass straight through.
//
// Frames must reach the file before SQLite publishes them in the WAL index
// (readers on other handles, or other processes, read them from the file
// then). With synchronous=FULL the WAL is synced before every publication;
// as a second guard the database file's shared-memory barrier and the
// release of the WAL write lock flush its WAL too, so frames of a rolled
// back transaction never outlive the lock. Use it for connections that
// write with synchronous=FULL (SqliteDatabase's writer does).
#pragma once

#include <cstdint>

namespace tongban::node {

// Registers the VFS once (thread-safe) and returns its name for
// sqlite3_open_v2; nullptr when SQLite has no default VFS to wrap.
const char* WalCoalescingVfsName();

// Process-wide counters, for tests and the performance notes.
struct WalCoalescingStats {
  int64_t frame_writes = 0;  // xWrite calls on WAL files (two per frame)
  int64_t file_writes = 0;   // writes issued to the wrapped VFS for them
  int64_t temp_files = 0;    // files opened without a name (SQLite's temporary files)
};
WalCoalescingStats GetWalCoalescingStats();

}  // namespace tongban::node
