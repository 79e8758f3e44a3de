// CatalogStore: the durable catalog of a node — its own province's guides
// (authoritative), other provinces' guides it has cached (keyed by province),
// and the alliances. The rest of the node sees the catalog only through this
// interface so that another database can replace SQLite.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban::node {

// Which guides ListGuides returns.
struct GuideFilter {
  std::string province_code;                         // required
  v1::ItemScope scope = v1::ITEM_SCOPE_UNSPECIFIED;  // UNSPECIFIED = every scope
  bool include_abolished = false;
  // Substring of name_zh, or of name_en ignoring ASCII case; empty = all.
  std::string query;
};

// A search candidate: a guide and the relevance its scorer gave it.
struct ScoredGuide {
  v1::Guide guide;
  int32_t relevance = 0;
};

// Rates a guide by its item names as stored; 0 = not a match.
using GuideScorer = std::function<int32_t(const std::string& name_zh, const std::string& name_en)>;

struct CatalogCounts {
  int64_t catalog_version = 0;  // highest guide version of the province; 0 when empty
  int32_t active_items = 0;
  int32_t abolished_items = 0;
};

class CatalogStore {
 public:
  virtual ~CatalogStore() = default;

  // True when the store holds no guide of any province (demo seeding runs then).
  virtual absl::StatusOr<bool> IsEmpty() = 0;

  // Guides matching the filter in item_code order, starting after
  // `after_item_code` (empty = from the start), at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Guide>> ListGuides(const GuideFilter& filter,
                                                            const std::string& after_item_code,
                                                            int limit) = 0;

  // Every guide of filter.province_code that passes filter.scope and
  // filter.include_abolished (filter.query is not used) and that `score`
  // rates above 0, with its score, in item_code order. Only the guides it
  // accepts are parsed, so a search reads names, not whole guides.
  virtual absl::StatusOr<std::vector<ScoredGuide>> ScoreGuides(const GuideFilter& filter,
                                                               const GuideScorer& score) = 0;

  // One guide; NOT_FOUND when the province has no guide for the item.
  virtual absl::StatusOr<v1::Guide> GetGuide(const std::string& province_code,
                                             const std::string& item_code) = 0;

  // Stores guides as given (seeding, or caching another province's guide
  // fetched from the federation), replacing a guide of the same
  // (province, item) whose version is not newer. One transaction.
  virtual absl::Status PutGuides(const std::vector<v1::Guide>& guides) = 0;

  // Replaces a guide of an existing (province, item) when its stored version
  // equals `expected_version` (else ABORTED naming both versions); the new
  // version is the province's catalog version + 1 and updated_at is `now_unix_seconds`.
  // Returns the stored guide.
  virtual absl::StatusOr<v1::Guide> AmendGuide(const v1::Guide& guide, int64_t expected_version,
                                               int64_t now_unix_seconds) = 0;

  // Version and item counts of one province's catalog.
  virtual absl::StatusOr<CatalogCounts> Counts(const std::string& province_code) = 0;

  virtual absl::Status PutAlliances(const std::vector<v1::Alliance>& alliances) = 0;
  virtual absl::StatusOr<std::vector<v1::Alliance>> ListAlliances() = 0;
};

}  // namespace tongban::node
