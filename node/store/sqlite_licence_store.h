// SqliteLicenceStore: LicenceStore on the node's SQLite file. Each licence
// and each disclosure is kept whole as its signed proto next to the columns
// it is listed by; a disclosure's sequence is its AUTOINCREMENT rowid, so it
// is never handed out twice.
//
// Thread-safety: every method may be called from any thread; writes go
// through SqliteDatabase's writer (group commit), reads through its pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
  SqliteDatabase& db_;
};

}  // namespace tongban::node
