// Ranked search of one province's catalog: the node's SearchItems without
// the RPC around it. The query is parsed with the synonyms (common/
// item_search.h), every guide of the province is scored by its item names in
// the store, and the matches are ordered by relevance (highest first), then
// item code. docs/search.md has the rule.
//
//   absl::StatusOr<CatalogSearchPage> page =
//       SearchCatalog(store, "430000", request, SynonymTable::Shipped());
//   if (!page.ok()) return page.status();  // INVALID_ARGUMENT naming the field
//
// Page tokens carry the last result's (relevance, item code), so a page
// starts right after it however many results share a relevance; they are
// bound to the normalised query (社保 and ＳＯＣＩＡＬ spelt either way share
// them) and to include_abolished.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "item_search.h"
#include "store/catalog_store.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban::node {

struct CatalogSearchPage {
  std::vector<ScoredGuide> results;  // by relevance, then item_code
  std::string next_page_token;       // empty on the last page
};

absl::StatusOr<CatalogSearchPage> SearchCatalog(CatalogStore& store, const std::string& province,
                                                const v1::SearchItemsRequest& request,
                                                const SynonymTable& synonyms);

}  // namespace tongban::node
