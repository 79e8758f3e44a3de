// PostgresLicenceStore: LicenceStore on PostgreSQL (the tables of
// postgres_schema.cc), with the semantics of SqliteLicenceStore: each
// licence and each disclosure kept whole as its signed proto next to the
// columns it is listed by.
//
// Several replicas: a duplicate licence_id or disclosure_id is caught by the
// unique key (INSERT ... ON CONFLICT DO NOTHING, which waits for a replica
// inserting the same key and then inserts nothing), never by reading first,
// so two replicas cannot both store one id. Disclosure sequences come from
// a BIGSERIAL: each replica's append takes its own, none is reused.
// InsertLicences writes in licence_id order, so two replicas seeding at
// once cannot deadlock each other.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/licence_store.h"
#include "store/postgres_database.h"

namespace tongban::node {

class PostgresLicenceStore final : public LicenceStore {
 public:
  // `db` must outlive the store.
  explicit PostgresLicenceStore(PostgresDatabase& db) : db_(db) {}

  absl::StatusOr<bool> IsEmpty() override;
  absl::Status InsertLicences(const std::vector<v1::Licence>& licences) override;
  absl::Status UpdateLicence(const v1::Licence& licence) override;
  absl::StatusOr<v1::Licence> GetLicence(const std::string& licence_id) override;
  absl::StatusOr<std::vector<v1::Licence>> ListLicences(const LicenceFilter& filter,
                                                        const std::string& after_licence_id,
                                                        int limit) override;
  absl::StatusOr<int64_t> AppendDisclosure(const v1::LicenceDisclosure& disclosure) override;
  absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(const DisclosureFilter& filter,
                                                                int64_t before_sequence,
                                                                int limit) override;

 private:
  PostgresDatabase& db_;
};

}  // namespace tongban::node
