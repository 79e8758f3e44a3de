// SqliteLicenceStore: LicenceStore on the node's SQLite file. Each licence
// and each disclosure is kept whole as its signed proto next to the columns
// it is listed by; a disclosure's sequence is its AUTOINCREMENT rowid, so it
// is never handed out twice.
//
// Licences read by id (every yes/no check and every release reads one) are
// kept parsed, up to kKeptLicences, and dropped when this store rewrites them.
// That is exact because the node's process is the only writer of its SQLite
// file (PostgreSQL's store, shared by replicas, keeps nothing).
//
// Thread-safety: every method may be called from any thread; writes go
// through SqliteDatabase's writer (group commit), reads through its pool.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "store/licence_store.h"
#include "store/sqlite_database.h"

namespace tongban::node {

class SqliteLicenceStore final : public LicenceStore {
 public:
  // `db` must outlive the store.
  explicit SqliteLicenceStore(SqliteDatabase& db) : db_(db) {}

  absl::StatusOr<bool> IsEmpty() override;
  absl::Status InsertLicences(const std::vector<v1::Licence>& licences) override;
  absl::Status UpdateLicence(const v1::Licence& licence) override;
  absl::StatusOr<v1::Licence> GetLicence(const std::string& licence_id) override;
  absl::StatusOr<std::vector<v1::Licence>> ListLicences(const LicenceFilter& filter,
                                                        const std::string& after_licence_id,
                                                        int limit) override;
  absl::StatusOr<int64_t> AppendDisclosure(const v1::LicenceDisclosure& disclosure) override;
  void AppendDisclosureAsync(const v1::LicenceDisclosure& disclosure, AppendDone done) override;
  absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(const DisclosureFilter& filter,
                                                                int64_t before_sequence,
                                                                int limit) override;

 private:
  // Most licences kept parsed; when full, the map starts afresh (a bound
  // on memory: a register of millions read at random gains nothing anyway).
  static constexpr size_t kKeptLicences = 1024;

  absl::StatusOr<v1::Licence> ReadLicence(const std::string& licence_id);
  // Forgets a licence that a write has changed.
  void Forget(const std::string& licence_id);

  SqliteDatabase& db_;
  absl::Mutex kept_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const v1::Licence>> kept_
      ABSL_GUARDED_BY(kept_mu_);
  // Counts Forget calls: a read that overlapped one does not keep what it
  // read (it may predate the write).
  uint64_t forgets_ ABSL_GUARDED_BY(kept_mu_) = 0;
};

}  // namespace tongban::node
