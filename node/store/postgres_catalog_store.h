// PostgresCatalogStore: CatalogStore on PostgreSQL (the tables of
// postgres_schema.cc), with the semantics of SqliteCatalogStore: each guide
// kept whole as a serialized v1::Guide next to the columns it is listed,
// searched and versioned by; alliances are blobs keyed by id.
//
// Several replicas: AmendGuide locks the province's guide rows (SELECT ...
// FOR UPDATE, in item order) before it reads the catalog version, so two
// replicas amending guides of one province at once take turns and catalog
// versions never repeat. PutGuides writes in key order, so two replicas
// seeding at once cannot deadlock each other.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/catalog_store.h"
#include "store/postgres_database.h"

namespace tongban::node {

class PostgresCatalogStore final : public CatalogStore {
 public:
  // `db` must outlive the store.
  explicit PostgresCatalogStore(PostgresDatabase& db) : db_(db) {}

  absl::StatusOr<bool> IsEmpty() override;
  absl::StatusOr<std::vector<v1::Guide>> ListGuides(const GuideFilter& filter,
                                                    const std::string& after_item_code,
                                                    int limit) override;
  absl::StatusOr<std::vector<ScoredGuide>> ScoreGuides(const GuideFilter& filter,
                                                       const GuideScorer& score) override;
  absl::StatusOr<v1::Guide> GetGuide(const std::string& province_code,
                                     const std::string& item_code) override;
  absl::Status PutGuides(const std::vector<v1::Guide>& guides) override;
  absl::StatusOr<v1::Guide> AmendGuide(const v1::Guide& guide, int64_t expected_version,
                                       int64_t now_unix_seconds) override;
  absl::StatusOr<CatalogCounts> Counts(const std::string& province_code) override;
  absl::Status PutAlliances(const std::vector<v1::Alliance>& alliances) override;
  absl::StatusOr<std::vector<v1::Alliance>> ListAlliances() override;

 private:
  PostgresDatabase& db_;
};

}  // namespace tongban::node
