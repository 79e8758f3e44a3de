#include "catalog/catalog_search.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "input_validation.h"
#include "page_token.h"

namespace tongban::node {
namespace {

struct Cursor {
  int32_t relevance = 0;
  std::string item_code;  // empty = first page
};

absl::StatusOr<Cursor> ParseCursor(const std::string& text) {
  Cursor c;
  if (text.empty()) return c;
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  if (!absl::SimpleAtoi(parts.first, &c.relevance) || parts.second.empty()) {
    return absl::InvalidArgumentError("page_token is not a token of this search");
  }
  c.item_code = std::move(parts.second);
  return c;
}

// Whether a result comes after the cursor in (relevance desc, item_code) order.
bool After(const ScoredGuide& g, const Cursor& c) {
  if (c.item_code.empty()) return true;
  if (g.relevance != c.relevance) return g.relevance < c.relevance;
  return g.guide.item().item_code() > c.item_code;
}

}  // namespace

absl::StatusOr<CatalogSearchPage> SearchCatalog(CatalogStore& store, const std::string& province,
                                                const v1::SearchItemsRequest& request,
                                                const SynonymTable& synonyms) {
  absl::Status valid = ValidateText("query", request.query(), 64, /*required=*/true);
  if (!valid.ok()) return valid;
  int limit = 0;
  valid = ValidatePageSize("page_size", request.page_size(), &limit);
  if (!valid.ok()) return valid;
  absl::StatusOr<SearchQuery> query = SearchQuery::Parse("query", request.query(), synonyms);
  if (!query.ok()) return query.status();
  const std::string list =
      absl::StrCat("ranked-search:", query->normalized(), ":", request.include_abolished());
  absl::StatusOr<std::string> token = DecodePageToken("page_token", list, request.page_token());
  if (!token.ok()) return token.status();
  absl::StatusOr<Cursor> cursor = ParseCursor(*token);
  if (!cursor.ok()) return cursor.status();

  GuideFilter filter;
  filter.province_code = province;
  filter.include_abolished = request.include_abolished();
  absl::StatusOr<std::vector<ScoredGuide>> found =
      store.ScoreGuides(filter, [&](const std::string& name_zh, const std::string& name_en) {
        return query->Score(name_zh, name_en);
      });
  if (!found.ok()) return found.status();
  // The store answers in item_code order; a stable sort keeps it within a relevance.
  std::stable_sort(found->begin(), found->end(), [](const ScoredGuide& a, const ScoredGuide& b) {
    return a.relevance > b.relevance;
  });
  CatalogSearchPage page;
  for (ScoredGuide& g : *found) {
    if (!After(g, *cursor)) continue;
    if (static_cast<int>(page.results.size()) == limit) {
      const ScoredGuide& last = page.results.back();
      page.next_page_token =
          EncodePageToken(list, absl::StrCat(last.relevance, "/", last.guide.item().item_code()));
      break;
    }
    page.results.push_back(std::move(g));
  }
  return page;
}

}  // namespace tongban::node
