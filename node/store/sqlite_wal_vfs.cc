#include "store/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace tongban::node {
namespace {

constexpr char kVfsName[] = "tongban-wal-coalescing";
// A longer run of frames is written in pieces of at most this size: the
// unix VFS masks a write's length to 17 bits (seekAndWriteFd), so one
// larger write would be cut short and reported as a full disk.
constexpr size_t kMaxBuffered = 0x1ffff;

std::atomic<int64_t> frame_writes{0};
std::atomic<int64_t> file_writes{0};
std::atomic<int64_t> temp_files{0};

sqlite3_vfs* base_vfs = nullptr;  // the wrapped default VFS, set once

// Contiguous WAL bytes not yet written, starting at `offset`.
struct PendingBytes {
  std::string bytes;
  sqlite3_int64 offset = 0;
};

// Our file object: SQLite allocates szOsFile bytes and we lay the wrapped
// VFS's file right after it. Plain data: SQLite owns the memory and never
// runs constructors, so xOpen fills every field.
struct File {
  sqlite3_file base;  // must come first: SQLite casts File* to sqlite3_file*
  sqlite3_file* real;
  const char* main_name;  // main database files: their registry key
  File* peer;             // main db <-> its WAL, both of one connection
  PendingBytes* pending;  // WAL files only
};

constexpr size_t kRealOffset = (sizeof(File) + 15) & ~size_t{15};

// Main database files opened through this VFS, by the name pointer SQLite
// passed to xOpen. SQLite hands a WAL's xOpen a name inside the same
// allocation, and sqlite3_filename_database() maps it back to that pointer:
// that is how a WAL finds the database file of its own connection.
absl::Mutex registry_mu;
absl::flat_hash_map<const char*, File*>& Registry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* const registry = new absl::flat_hash_map<const char*, File*>();
  return *registry;
}

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

// Writes what is pending, if anything. The bytes are dropped either way: a
// failed write fails the transaction that wrote them.
int Flush(File* f) {
  if (f->pending == nullptr || f->pending->bytes.empty()) return SQLITE_OK;
  PendingBytes& p = *f->pending;
  file_writes.fetch_add(1, std::memory_order_relaxed);
  const int rc = f->real->pMethods->xWrite(f->real, p.bytes.data(),
                                           static_cast<int>(p.bytes.size()), p.offset);
  p.bytes.clear();
  return rc;
}

int FlushPeerWal(File* f) { return f->peer != nullptr ? Flush(f->peer) : SQLITE_OK; }

int Close(sqlite3_file* file) {
  File* f = AsFile(file);
  int rc = Flush(f);
  if (f->peer != nullptr) f->peer->peer = nullptr;
  f->peer = nullptr;
  if (f->main_name != nullptr) {
    absl::MutexLock lock(&registry_mu);
    Registry().erase(f->main_name);
  }
  delete f->pending;
  f->pending = nullptr;
  const int close_rc = f->real->pMethods->xClose(f->real);
  return rc != SQLITE_OK ? rc : close_rc;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = AsFile(file);
  if (f->pending == nullptr) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  frame_writes.fetch_add(1, std::memory_order_relaxed);
  PendingBytes& p = *f->pending;
  const size_t n = static_cast<size_t>(amount);
  if (!p.bytes.empty() && (offset != p.offset + static_cast<sqlite3_int64>(p.bytes.size()) ||
                           p.bytes.size() + n > kMaxBuffered)) {
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (n > kMaxBuffered) {
    file_writes.fetch_add(1, std::memory_order_relaxed);
    return f->real->pMethods->xWrite(f->real, data, amount, offset);
  }
  if (p.bytes.empty()) p.offset = offset;
  p.bytes.append(static_cast<const char*>(data), n);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = AsFile(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  File* f = AsFile(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = AsFile(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  File* f = AsFile(file);
  return f->real->pMethods->xLock(f->real, level);
}

int Unlock(sqlite3_file* file, int level) {
  File* f = AsFile(file);
  return f->real->pMethods->xUnlock(f->real, level);
}

int CheckReservedLock(sqlite3_file* file, int* out) {
  File* f = AsFile(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = AsFile(file);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* file) {
  File* f = AsFile(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int DeviceCharacteristics(sqlite3_file* file) {
  File* f = AsFile(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

// Shared memory belongs to the main database file (the WAL index).
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  // Slot 0 is the WAL write lock: whatever this connection wrote to its WAL
  // must be in the file before another writer can take the lock and append
  // after the frames it sees. (Frames still pending here were never synced,
  // so never committed: writing them is harmless, dropping them would be too.)
  if ((flags & SQLITE_SHM_UNLOCK) != 0 && offset == 0) FlushPeerWal(f);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void ShmBarrier(sqlite3_file* file) {
  File* f = AsFile(file);
  // SQLite publishes a new WAL index header across this barrier: frames it
  // names must be in the file first (with synchronous=FULL, xSync already
  // wrote them and this finds nothing pending).
  FlushPeerWal(f);
  if (f->real->pMethods->iVersion >= 2) f->real->pMethods->xShmBarrier(f->real);
}

int ShmUnmap(sqlite3_file* file, int delete_flag) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 2) return SQLITE_OK;
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFetch(f->real, offset, amount, out);
}

int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  File* f = AsFile(file);
  if (f->real->pMethods->iVersion < 3) return SQLITE_OK;
  return f->real->pMethods->xUnfetch(f->real, offset, page);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  (void)vfs;
  File* f = AsFile(file);
  f->base.pMethods = nullptr;  // SQLite calls xClose only when this is set
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  f->main_name = nullptr;
  f->peer = nullptr;
  f->pending = nullptr;
  if (name == nullptr) temp_files.fetch_add(1, std::memory_order_relaxed);
  const int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    // The wrapped VFS may have set its methods even on failure; close it.
    if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
    return rc;
  }
  if (name != nullptr && (flags & SQLITE_OPEN_MAIN_DB) != 0) {
    absl::MutexLock lock(&registry_mu);
    if (Registry().emplace(name, f).second) f->main_name = name;
  } else if (name != nullptr && (flags & SQLITE_OPEN_WAL) != 0) {
    absl::MutexLock lock(&registry_mu);
    auto it = Registry().find(sqlite3_filename_database(name));
    // Without its database file (not opened through this VFS) nothing
    // would flush at the index's barrier: pass this WAL straight through.
    if (it != Registry().end() && it->second->peer == nullptr) {
      f->peer = it->second;
      it->second->peer = f;
      f->pending = new (std::nothrow) PendingBytes();
    }
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the wrapped one's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return base_vfs->xDelete(base_vfs, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return base_vfs->xAccess(base_vfs, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void DlError(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return base_vfs->xDlSym(base_vfs, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int Sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int CurrentTime(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return base_vfs->xGetLastError != nullptr ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  if (base_vfs->iVersion >= 2 && base_vfs->xCurrentTimeInt64 != nullptr) {
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
  }
  double days = 0;
  const int rc = base_vfs->xCurrentTime(base_vfs, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

sqlite3_vfs vfs;

void Register() {
  base_vfs = sqlite3_vfs_find(nullptr);
  if (base_vfs == nullptr) return;
  std::memset(&vfs, 0, sizeof(vfs));
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(kRealOffset) + base_vfs->szOsFile;
  vfs.mxPathname = base_vfs->mxPathname;
  vfs.zName = kVfsName;
  vfs.xOpen = Open;
  vfs.xDelete = Delete;
  vfs.xAccess = Access;
  vfs.xFullPathname = FullPathname;
  vfs.xDlOpen = DlOpen;
  vfs.xDlError = DlError;
  vfs.xDlSym = DlSym;
  vfs.xDlClose = DlClose;
  vfs.xRandomness = Randomness;
  vfs.xSleep = Sleep;
  vfs.xCurrentTime = CurrentTime;
  vfs.xGetLastError = GetLastError;
  vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  if (sqlite3_vfs_register(&vfs, /*makeDflt=*/0) != SQLITE_OK) base_vfs = nullptr;
}

}  // namespace

const char* WalCoalescingVfsName() {
  static std::once_flag once;
  std::call_once(once, Register);
  return base_vfs != nullptr ? kVfsName : nullptr;
}

WalCoalescingStats GetWalCoalescingStats() {
  return {frame_writes.load(std::memory_order_relaxed), file_writes.load(std::memory_order_relaxed),
          temp_files.load(std::memory_order_relaxed)};
}

}  // namespace tongban::node
