// Item search: what a citizen types, turned into terms with their synonyms
// (社保 → 社会保障, 社会保险), and the relevance score of an item's names for
// it. One module for the node (SearchItems) and the gateway (searches
// answered from its catalog cache), so both find and score alike and the
// gateway can merge many provinces' results by score. The ranking rule and
// the synonym file format are in docs/search.md.
//
//   absl::StatusOr<SearchQuery> q =
//       SearchQuery::Parse("query", request.query(), SynonymTable::Shipped());
//   if (!q.ok()) return q.status();             // INVALID_ARGUMENT naming the field
//   int32_t relevance = q->Score(guide.item().name_zh(), guide.item().name_en());
//   if (relevance == 0) { /* not a match */ }
//
// Names can be scored as stored (Score normalises them) or, where the same
// names are scored again and again (the gateway's cache), normalised once
// with NormalizeForSearch and scored with ScoreNormalized.
//
// Everything here is immutable once built and safe to use from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban {

// The form queries, names and synonyms are compared in: full-width ASCII
// (ＡＢＣ１２３，（）) as half-width, ASCII letters lower case, every run of
// whitespace (including the ideographic space U+3000) as one space, none at
// either end. Chinese characters are left as they are. Bytes that are not
// valid UTF-8 are copied unchanged.
std::string NormalizeForSearch(absl::string_view text);

// Number of UTF-8 characters (code points) in `text`.
size_t SearchTextLength(absl::string_view text);

// The adjacent byte pairs of a text as a 64-bit set (each pair hashed to one
// bit). A text can contain another only if its set covers the other's, so a
// scan over many names skips most non-matching ones with one AND instead of
// string searches. Byte pairs rather than characters keep that true for any
// bytes (a query is not always valid UTF-8).
uint64_t SearchBytePairs(absl::string_view text);

// A name normalised once for repeated scoring (the gateway's catalog cache).
struct SearchableName {
  SearchableName() = default;
  explicit SearchableName(absl::string_view name);
  std::string text;    // NormalizeForSearch(name)
  uint64_t pairs = 0;  // SearchBytePairs(text)
};

// Abbreviations and colloquial terms people type, each with the words item
// names use for it, read from a TSV file (docs/search.md).
class SynonymTable final {
 public:
  // At most this many expansions per term.
  static constexpr size_t kMaxExpansions = 8;

  SynonymTable() = default;

  // Parses the TSV text. INVALID_ARGUMENT listing every problem (up to 20)
  // as "<source_name>:<line>: <problem>".
  static absl::StatusOr<SynonymTable> FromText(absl::string_view source_name,
                                               absl::string_view text);
  // The list shipped with this release (common/search_synonyms.tsv, compiled
  // in). Its validity is a unit test; were it ever broken, the table is empty
  // (searches still work, without synonyms) and the error goes to stderr once.
  static const SynonymTable& Shipped();

  // Expansions of a normalised term, in file order; nullptr when it has none.
  const std::vector<std::string>* Find(absl::string_view term) const;
  size_t size() const { return entries_.size(); }

  // Every term, for callers that scan for terms inside a longer word.
  const std::map<std::string, std::vector<std::string>, std::less<>>& entries() const {
    return entries_;
  }

 private:
  // Normalised term → normalised expansions.
  std::map<std::string, std::vector<std::string>, std::less<>> entries_;
};

// One word of a query: as typed (normalised) and with synonyms substituted.
struct SearchTerm {
  std::string text;
  // `text` with each synonym term found in it replaced by one of its
  // expansions (every combination, in file order, at most
  // SearchQuery::kMaxVariantsPerTerm); empty when it contains none.
  std::vector<std::string> variants;
};

// A parsed query. Relevance of a name (docs/search.md, "Ranking"):
//
//   relevance = 100 × tier + (99 − min(99, characters in name_zh))
//
// with the best tier either the Chinese or the English name reaches:
//   8  the name is the query
//   7  the name starts with the query
//   6  the name contains the query
//   5  the name contains every term of the query (any order, several terms)
//   4  the name is the query with a synonym substituted (one-term queries)
//   3  the name starts with it
//   2  the name contains it
//   1  every term is in the name, as typed or with a synonym (several terms)
//   0  no match: the item is not a result
//
// so shorter names rank first within a tier. Ties (same item in several
// provinces, or same-length names) are broken by the caller: the node by
// item code, the gateway by province code, then item code.
class SearchQuery final {
 public:
  static constexpr size_t kMaxTerms = 8;
  static constexpr size_t kMaxVariantsPerTerm = 16;

  // INVALID_ARGUMENT naming `field` when the query has no term (only
  // whitespace) or more than kMaxTerms terms. Duplicate terms count once.
  static absl::StatusOr<SearchQuery> Parse(absl::string_view field, absl::string_view raw,
                                           const SynonymTable& synonyms);

  // The normalised query; terms separated by one space.
  const std::string& normalized() const { return normalized_; }
  const std::vector<SearchTerm>& terms() const { return terms_; }

  // Relevance of names as stored (normalised here); 0 = not a match.
  int32_t Score(absl::string_view name_zh, absl::string_view name_en) const;
  // Same, for names already passed through NormalizeForSearch.
  int32_t ScoreNormalized(absl::string_view name_zh, absl::string_view name_en) const;
  // Same again; a name whose byte pairs cannot hold every term is 0 at once.
  int32_t ScoreNormalized(const SearchableName& name_zh, const SearchableName& name_en) const;

 private:
  int Tier(absl::string_view name) const;
  // False when no name with these byte pairs can score: every tier needs
  // each term, as typed or as one of its variants, inside the name.
  bool MayMatch(uint64_t name_pairs) const;

  std::string normalized_;
  std::vector<SearchTerm> terms_;
  // Per term: SearchBytePairs of its text, then of each variant.
  std::vector<std::vector<uint64_t>> term_pairs_;
};

}  // namespace tongban
