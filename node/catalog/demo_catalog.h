// Demo catalog: the national, alliance and province-specific items a node
// ships with, and every province's guide (办事指南) for them, read from the
// TSV files in node/demo_catalog/ (formats, code scheme and test fixtures are
// in node/demo_catalog/README.md).
//
// A node seeds its store from the demo catalog at first start:
//
//   std::string summary;
//   absl::Status s = SeedDemoCatalogIfEmpty(config.demo_catalog_dir(), store, &summary);
//   if (!s.ok()) return s;  // INVALID_ARGUMENT lists every bad file:line
//   LOG(INFO) << summary;   // "seeded 1690 guides of 31 provinces, 9 alliances"
//
// Every province's guides are stored, not only the node's own: a node keeps
// other provinces' published guides as the cache its pre-checks read.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/catalog_store.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban::node {

// When every seeded guide took effect: 2026-01-01T00:00:00Z.
inline constexpr int64_t kDemoCatalogUpdatedAtUnixSeconds = 1767225600;

struct DemoCatalog {
  // Every item once, in item_code order.
  std::vector<v1::Item> items;
  // Every province's guides, ordered by (province_code, item_code): national
  // items in every province that adopts them, alliance items in member
  // provinces, province items in their owner province. Overrides applied,
  // version 1, updated_at kDemoCatalogUpdatedAtUnixSeconds, status ACTIVE.
  std::vector<v1::Guide> guides;
  // In file order.
  std::vector<v1::Alliance> alliances;
};

// Reads items.tsv, materials.tsv, guides.tsv, province_overrides.tsv and
// alliances.tsv from `dir`, and the optional joint_procedures.tsv (多地联办
// steps) and material_licences.tsv (the 电子证照 types that satisfy a
// material, codes of LicenceTypeList::National()), applies the overrides and
// validates the result.
// NOT_FOUND when a file cannot be read; INVALID_ARGUMENT listing every
// problem found (up to 50), each as "<file>:<line>: <what is wrong>".
absl::StatusOr<DemoCatalog> LoadDemoCatalog(const std::string& dir);

// When `store` holds no guide, loads the demo catalog from `dir` and stores
// its alliances, then all guides (so a crash in between leaves the store
// empty and the next start seeds again). Otherwise leaves the store alone.
// `summary` (may be null) says what happened, for the start-up log.
absl::Status SeedDemoCatalogIfEmpty(const std::string& dir, CatalogStore& store,
                                    std::string* summary);

}  // namespace tongban::node
