#include "item_search.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tongban {
namespace internal {
// search_synonyms_data.cc, generated from common/search_synonyms.tsv.
extern const char kShippedSynonymsTsv[];
}  // namespace internal

namespace {

constexpr size_t kMaxErrors = 20;

// Decodes one UTF-8 sequence at text[i]; *len is its length in bytes. An
// invalid or truncated sequence reads as one byte with code point -1.
int32_t DecodeUtf8(absl::string_view text, size_t i, size_t* len) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > text.size()) {
    *len = 1;
    return -1;
  }
  int32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xC0) != 0x80) {
      *len = 1;
      return -1;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  *len = n;
  return cp;
}

bool IsSpace(int32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
         cp == 0x00A0 || cp == 0x3000;
}

// Where `key` occurs in `term` at byte `at`, whether that occurrence is
// already part of one of the expansions (公积金 inside 住房公积金): then it
// is what the names say and is not expanded again.
bool InsideAnExpansion(absl::string_view term, size_t at, absl::string_view key,
                       const std::vector<std::string>& expansions) {
  for (absl::string_view e : expansions) {
    for (size_t off = e.find(key); off != absl::string_view::npos; off = e.find(key, off + 1)) {
      if (at >= off && term.substr(at - off, e.size()) == e) return true;
    }
  }
  return false;
}

// The variants of `term`: split into pieces at the synonym terms it contains
// (leftmost, then longest, first), each such piece replaced by each of its
// expansions. The first combination is the term itself and is left out.
std::vector<std::string> Variants(const std::string& term, const SynonymTable& synonyms) {
  std::vector<std::vector<std::string>> pieces;  // each: choices, [0] = as typed
  std::string plain;
  size_t i = 0;
  while (i < term.size()) {
    const std::string* best = nullptr;
    const std::vector<std::string>* best_expansions = nullptr;
    for (const auto& [key, expansions] : synonyms.entries()) {
      if ((best == nullptr || key.size() > best->size()) &&
          absl::string_view(term).substr(i).substr(0, key.size()) == key &&
          !InsideAnExpansion(term, i, key, expansions)) {
        best = &key;
        best_expansions = &expansions;
      }
    }
    if (best == nullptr) {
      size_t len = 0;
      DecodeUtf8(term, i, &len);
      plain.append(term, i, len);
      i += len;
      continue;
    }
    if (!plain.empty()) pieces.push_back({std::exchange(plain, "")});
    std::vector<std::string> choices = {*best};
    choices.insert(choices.end(), best_expansions->begin(), best_expansions->end());
    pieces.push_back(std::move(choices));
    i += best->size();
  }
  if (!plain.empty()) pieces.push_back({plain});

  std::vector<std::string> combos = {""};
  for (const std::vector<std::string>& choices : pieces) {
    std::vector<std::string> next;
    for (const std::string& prefix : combos) {
      for (const std::string& choice : choices) {
        if (next.size() > SearchQuery::kMaxVariantsPerTerm) break;
        next.push_back(prefix + choice);
      }
    }
    combos = std::move(next);
  }
  std::vector<std::string> out;
  for (size_t k = 1; k < combos.size(); ++k) {
    if (combos[k] != term && std::find(out.begin(), out.end(), combos[k]) == out.end()) {
      out.push_back(std::move(combos[k]));
    }
  }
  if (out.size() > SearchQuery::kMaxVariantsPerTerm) out.resize(SearchQuery::kMaxVariantsPerTerm);
  return out;
}

bool ContainsAny(absl::string_view name, const SearchTerm& term) {
  if (absl::StrContains(name, term.text)) return true;
  for (const std::string& v : term.variants) {
    if (absl::StrContains(name, v)) return true;
  }
  return false;
}

}  // namespace

std::string NormalizeForSearch(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 0;
    int32_t cp = DecodeUtf8(text, i, &len);
    if (cp >= 0 && IsSpace(cp)) {
      pending_space = !out.empty();
      i += len;
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
      // Full-width forms of ASCII ！..～: the same offset for the whole block.
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(cp - 0xFEE0)));
    } else if (cp >= 0 && cp < 0x80) {
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(cp)));
    } else {
      out.append(text.data() + i, len);
    }
    i += len;
  }
  return out;
}

uint64_t SearchBytePairs(absl::string_view text) {
  uint64_t pairs = 0;
  for (size_t i = 1; i < text.size(); ++i) {
    const uint64_t pair = (static_cast<uint64_t>(static_cast<unsigned char>(text[i - 1])) << 8) |
                          static_cast<unsigned char>(text[i]);
    pairs |= uint64_t{1} << ((pair * 0x9E3779B97F4A7C15ull) >> 58);  // Fibonacci hashing
  }
  return pairs;
}

SearchableName::SearchableName(absl::string_view name)
    : text(NormalizeForSearch(name)), pairs(SearchBytePairs(text)) {}

size_t SearchTextLength(absl::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

absl::StatusOr<SynonymTable> SynonymTable::FromText(absl::string_view source_name,
                                                    absl::string_view text) {
  SynonymTable table;
  std::vector<std::string> errors;
  auto error = [&](int line, absl::string_view what) {
    if (errors.size() < kMaxErrors)
      errors.push_back(absl::StrCat(source_name, ":", line, ": ", what));
  };
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // a BOM, as spreadsheets write
  bool header_seen = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, '\t');
    for (absl::string_view& c : cells) c = absl::StripAsciiWhitespace(c);
    if (!header_seen) {
      header_seen = true;
      if (cells != std::vector<absl::string_view>{"term", "expansions", "note"}) {
        error(line_no, "the header must be: term<TAB>expansions<TAB>note");
        break;
      }
      continue;
    }
    if (cells.size() > 3) {
      error(line_no, "more than 3 cells (a tab inside a value?)");
      continue;
    }
    const std::string term = NormalizeForSearch(cells[0]);
    if (term.empty()) {
      error(line_no, "term is empty");
      continue;
    }
    if (term.find(' ') != std::string::npos) {
      // Queries are split at spaces, so such a term could never be typed.
      error(line_no, absl::StrCat("term \"", cells[0], "\" contains a space"));
      continue;
    }
    std::vector<std::string> expansions;
    for (absl::string_view e : absl::StrSplit(cells.size() > 1 ? cells[1] : "", '|')) {
      std::string norm = NormalizeForSearch(e);
      if (norm.empty() || norm == term) {
        error(line_no,
              absl::StrCat("term \"", term, "\": an expansion is empty or the term itself"));
        continue;
      }
      if (std::find(expansions.begin(), expansions.end(), norm) == expansions.end()) {
        expansions.push_back(std::move(norm));
      }
    }
    if (expansions.empty()) continue;  // reported above
    if (expansions.size() > kMaxExpansions) {
      error(line_no, absl::StrCat("term \"", term, "\" has ", expansions.size(),
                                  " expansions, at most ", kMaxExpansions));
      continue;
    }
    if (!table.entries_.emplace(term, std::move(expansions)).second) {
      error(line_no, absl::StrCat("term \"", term, "\" is listed twice"));
    }
  }
  if (!header_seen) error(line_no, "no header line");
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("synonym list is invalid (", errors.size(),
                                                   " problems): ", absl::StrJoin(errors, "; ")));
  }
  return table;
}

const SynonymTable& SynonymTable::Shipped() {
  static const SynonymTable* const shipped = [] {
    absl::StatusOr<SynonymTable> t =
        FromText("common/search_synonyms.tsv", internal::kShippedSynonymsTsv);
    if (!t.ok()) {
      std::fprintf(stderr, "item search: shipped synonyms not used: %s\n",
                   std::string(t.status().message()).c_str());
      return new SynonymTable();
    }
    return new SynonymTable(*std::move(t));
  }();
  return *shipped;
}

const std::vector<std::string>* SynonymTable::Find(absl::string_view term) const {
  auto it = entries_.find(term);
  return it == entries_.end() ? nullptr : &it->second;
}

absl::StatusOr<SearchQuery> SearchQuery::Parse(absl::string_view field, absl::string_view raw,
                                               const SynonymTable& synonyms) {
  SearchQuery q;
  q.normalized_ = NormalizeForSearch(raw);
  if (q.normalized_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has no search term"));
  }
  for (absl::string_view word : absl::StrSplit(q.normalized_, ' ')) {
    bool seen = std::any_of(q.terms_.begin(), q.terms_.end(),
                            [&](const SearchTerm& t) { return t.text == word; });
    if (seen) continue;
    if (q.terms_.size() == kMaxTerms) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has more than ", kMaxTerms, " terms"));
    }
    SearchTerm term;
    term.text = std::string(word);
    term.variants = Variants(term.text, synonyms);
    std::vector<uint64_t>& pairs = q.term_pairs_.emplace_back();
    pairs.push_back(SearchBytePairs(term.text));
    for (const std::string& v : term.variants) pairs.push_back(SearchBytePairs(v));
    q.terms_.push_back(std::move(term));
  }
  return q;
}

bool SearchQuery::MayMatch(uint64_t name_pairs) const {
  return std::all_of(term_pairs_.begin(), term_pairs_.end(), [&](const std::vector<uint64_t>& t) {
    return std::any_of(t.begin(), t.end(), [&](uint64_t p) { return (p & ~name_pairs) == 0; });
  });
}

int SearchQuery::Tier(absl::string_view name) const {
  if (name.empty()) return 0;
  if (name == normalized_) return 8;
  if (absl::StartsWith(name, normalized_)) return 7;
  if (absl::StrContains(name, normalized_)) return 6;
  const bool several = terms_.size() > 1;
  if (several && std::all_of(terms_.begin(), terms_.end(), [&](const SearchTerm& t) {
        return absl::StrContains(name, t.text);
      })) {
    return 5;
  }
  if (!several) {
    int best = 0;
    for (const std::string& v : terms_[0].variants) {
      if (name == v) return 4;
      if (absl::StartsWith(name, v)) {
        best = std::max(best, 3);
      } else if (absl::StrContains(name, v)) {
        best = std::max(best, 2);
      }
    }
    return best;
  }
  return std::all_of(terms_.begin(), terms_.end(),
                     [&](const SearchTerm& t) { return ContainsAny(name, t); })
             ? 1
             : 0;
}

int32_t SearchQuery::ScoreNormalized(absl::string_view name_zh, absl::string_view name_en) const {
  const int tier = std::max(Tier(name_zh), Tier(name_en));
  if (tier == 0) return 0;
  const size_t length = std::min<size_t>(99, SearchTextLength(name_zh));
  return static_cast<int32_t>(100 * tier + (99 - length));
}

int32_t SearchQuery::ScoreNormalized(const SearchableName& name_zh,
                                     const SearchableName& name_en) const {
  if (!MayMatch(name_zh.pairs) && !MayMatch(name_en.pairs)) return 0;
  return ScoreNormalized(name_zh.text, name_en.text);
}

int32_t SearchQuery::Score(absl::string_view name_zh, absl::string_view name_en) const {
  return ScoreNormalized(NormalizeForSearch(name_zh), NormalizeForSearch(name_en));
}

}  // namespace tongban
