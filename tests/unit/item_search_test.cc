// common/item_search: normalisation, synonym expansion, relevance scores, and
// the shipped synonym list.
#include "item_search.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHeader[] = "term\texpansions\tnote\n";

SynonymTable Table(const std::string& rows) {
  absl::StatusOr<SynonymTable> t = SynonymTable::FromText("test.tsv", kHeader + rows);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : SynonymTable();
}

SearchQuery Query(const std::string& raw, const SynonymTable& table) {
  absl::StatusOr<SearchQuery> q = SearchQuery::Parse("query", raw, table);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *std::move(q) : SearchQuery();
}

std::vector<std::string> Texts(const SearchQuery& q) {
  std::vector<std::string> out;
  for (const SearchTerm& t : q.terms()) out.push_back(t.text);
  return out;
}

TEST(NormalizeForSearchTest, FullWidthAsciiBecomesHalfWidthAndLatinLowerCase) {
  EXPECT_EQ(NormalizeForSearch("ＡＢＣ１２３"), "abc123");
  EXPECT_EQ(NormalizeForSearch("生育登记（二孩）"), "生育登记(二孩)");
  EXPECT_EQ(NormalizeForSearch("Social SECURITY"), "social security");
  EXPECT_EQ(NormalizeForSearch("ｈｕｋｏｕ"), "hukou");
  // Chinese text and other non-ASCII letters are left alone.
  EXPECT_EQ(NormalizeForSearch("社会保障卡申领"), "社会保障卡申领");
  EXPECT_EQ(NormalizeForSearch("Ä"), "Ä");
}

TEST(NormalizeForSearchTest, WhitespaceRunsBecomeOneSpaceAndEndsAreTrimmed) {
  EXPECT_EQ(NormalizeForSearch("  社保\u3000\u3000卡\t申领 \n"), "社保 卡 申领");
  EXPECT_EQ(NormalizeForSearch("\u3000"), "");
  EXPECT_EQ(NormalizeForSearch("a\u00a0b"), "a b");
  EXPECT_EQ(NormalizeForSearch(""), "");
}

TEST(NormalizeForSearchTest, InvalidUtf8IsCopiedNotDropped) {
  EXPECT_EQ(NormalizeForSearch("a\xff"
                               "B"),
            "a\xff"
            "b");
  EXPECT_EQ(NormalizeForSearch("\xe4\xbd"), "\xe4\xbd");  // truncated 3-byte sequence
}

TEST(SearchTextLengthTest, CountsCharactersNotBytes) {
  EXPECT_EQ(SearchTextLength("社会保障卡申领"), 7u);
  EXPECT_EQ(SearchTextLength("abc"), 3u);
  EXPECT_EQ(SearchTextLength(""), 0u);
}

TEST(SynonymTableTest, ParsesRowsCommentsAndWhatSpreadsheetsWrite) {
  absl::StatusOr<SynonymTable> t =
      SynonymTable::FromText("s.tsv",
                             "\xEF\xBB\xBF# comment\r\n\r\nterm\texpansions\tnote\r\n"
                             "社保\t社会保障|社会保险\tcards\r\n"
                             "  公积金 \t 住房公积金 \r\n"  // cells trimmed, note left out
                             "ＨＵＫＯＵ\tHousehold Registration\t\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 3u);
  ASSERT_NE(t->Find("社保"), nullptr);
  EXPECT_THAT(*t->Find("社保"), ElementsAre("社会保障", "社会保险"));
  EXPECT_THAT(*t->Find("公积金"), ElementsAre("住房公积金"));
  EXPECT_THAT(*t->Find("hukou"), ElementsAre("household registration"));
  EXPECT_EQ(t->Find("医保"), nullptr);
}

TEST(SynonymTableTest, ReportsEveryProblemWithFileAndLine) {
  absl::StatusOr<SynonymTable> t =
      SynonymTable::FromText("s.tsv", std::string(kHeader) +
                                          "社保\t社会保障\t\n"          // line 2
                                          "社保\t社会保险\t\n"          // 3: twice
                                          "\t社会保障\t\n"              // 4: no term
                                          "社 保\t社会保障\t\n"         // 5: space in the term
                                          "医保\t\t\n"                  // 6: no expansion
                                          "户口\t户口\t\n"              // 7: expands to itself
                                          "驾照\t驾驶证\tx\ty\n"        // 8: a tab inside a value
                                          "a\tb|c|d|e|f|g|h|i|j\t\n");  // 9: too many
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(t.status().message());
  EXPECT_THAT(m, HasSubstr("(7 problems)"));
  EXPECT_THAT(m, HasSubstr("s.tsv:3: term \"社保\" is listed twice"));
  EXPECT_THAT(m, HasSubstr("s.tsv:4: term is empty"));
  EXPECT_THAT(m, HasSubstr("s.tsv:5: term \"社 保\" contains a space"));
  EXPECT_THAT(m, HasSubstr("s.tsv:6: term \"医保\": an expansion is empty"));
  EXPECT_THAT(m, HasSubstr("s.tsv:7: term \"户口\": an expansion is empty or the term itself"));
  EXPECT_THAT(m, HasSubstr("s.tsv:8: more than 3 cells"));
  EXPECT_THAT(m, HasSubstr("s.tsv:9: term \"a\" has 9 expansions, at most 8"));
}

TEST(SynonymTableTest, NeedsTheHeader) {
  EXPECT_THAT(std::string(SynonymTable::FromText("s.tsv", "社保\t社会保障\n").status().message()),
              HasSubstr("s.tsv:1: the header must be"));
  EXPECT_THAT(std::string(SynonymTable::FromText("s.tsv", "# only a comment\n").status().message()),
              HasSubstr("no header line"));
}

TEST(SearchQueryTest, SplitsAtWhitespaceDropsDuplicatesAndRefusesEmptyOrTooMany) {
  SynonymTable none;
  EXPECT_THAT(Texts(Query(" 社会保障\u3000卡  社会保障 ", none)), ElementsAre("社会保障", "卡"));
  EXPECT_EQ(Query("社会保障\u3000卡", none).normalized(), "社会保障 卡");
  absl::StatusOr<SearchQuery> blank = SearchQuery::Parse("query", " \u3000 ", none);
  EXPECT_EQ(blank.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(blank.status().message()), HasSubstr("query"));
  EXPECT_EQ(SearchQuery::Parse("query", "a b c d e f g h i", none).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SearchQuery::Parse("query", "a b c d e f g h h", none).ok());
}

TEST(SearchQueryTest, ExpandsAWholeTermAndATermInsideAWord) {
  SynonymTable t = Table("社保\t社会保障|社会保险\t\n公积金\t住房公积金\t\n");
  SearchQuery q = Query("社保", t);
  ASSERT_EQ(q.terms().size(), 1u);
  EXPECT_THAT(q.terms()[0].variants, ElementsAre("社会保障", "社会保险"));
  // 社保卡 is not in the list, but 社保 is inside it.
  EXPECT_THAT(Query("社保卡申领", t).terms()[0].variants,
              ElementsAre("社会保障卡申领", "社会保险卡申领"));
  // Two synonym terms in one word: every combination, in file order.
  EXPECT_THAT(Query("社保公积金", t).terms()[0].variants,
              ElementsAre("社保住房公积金", "社会保障公积金", "社会保障住房公积金",
                          "社会保险公积金", "社会保险住房公积金"));
  EXPECT_THAT(Query("医师", t).terms()[0].variants, IsEmpty());
}

TEST(SearchQueryTest, LongestTermWinsAndATermAlreadyInItsExpansionIsLeftAlone) {
  SynonymTable t = Table(
      "社保\t社会保障\t\n社保转移\t养老保险关系转移\t\n公积金\t住房公积金\t\n"
      "异地就医\t跨省异地就医\t\n");
  EXPECT_THAT(Query("社保转移", t).terms()[0].variants, ElementsAre("养老保险关系转移"));
  // 住房公积金 already says what the names say: no 住房住房公积金.
  EXPECT_THAT(Query("住房公积金", t).terms()[0].variants, IsEmpty());
  EXPECT_THAT(Query("公积金提取", t).terms()[0].variants, ElementsAre("住房公积金提取"));
  EXPECT_THAT(Query("跨省异地就医", t).terms()[0].variants, IsEmpty());
  EXPECT_THAT(Query("异地就医", t).terms()[0].variants, ElementsAre("跨省异地就医"));
}

TEST(SearchQueryTest, VariantsAreCapped) {
  SynonymTable t = Table("a\tb|c|d|e|f|g|h|i\t\n");
  SearchQuery q = Query("aa", t);  // 9 × 9 combinations
  EXPECT_EQ(q.terms()[0].variants.size(), SearchQuery::kMaxVariantsPerTerm);
}

TEST(SearchQueryScoreTest, TiersFromExactNameDownToSynonymInTheName) {
  SynonymTable t = Table("社保\t社会保障|社会保险\t\n");
  // Same-length names (7 characters) so only the tier differs.
  const int32_t len7 = 99 - 7;
  EXPECT_EQ(Query("社会保障卡申领", t).Score("社会保障卡申领", ""), 800 + len7);  // exact
  EXPECT_EQ(Query("社会保障", t).Score("社会保障卡申领", ""), 700 + len7);        // prefix
  EXPECT_EQ(Query("保障卡", t).Score("社会保障卡申领", ""), 600 + len7);          // inside
  EXPECT_EQ(Query("申领 社会保障", t).Score("社会保障卡申领", ""), 500 + len7);   // all terms
  EXPECT_EQ(Query("社保卡申领", t).Score("社会保障卡申领", ""), 400 + len7);      // synonym exact
  EXPECT_EQ(Query("社保", t).Score("社会保障卡申领", ""), 300 + len7);            // synonym prefix
  EXPECT_EQ(Query("社保卡", t).Score("长三角社会保障卡", ""), 200 + 99 - 8);      // synonym inside
  EXPECT_EQ(Query("社保 申领", t).Score("社会保障卡申领", ""), 100 + len7);       // terms, synonym
  EXPECT_EQ(Query("社保 补发", t).Score("社会保障卡申领", ""), 0);
  EXPECT_EQ(Query("医保", t).Score("社会保障卡申领", ""), 0);
}

TEST(SearchQueryScoreTest, EnglishNamesMatchIgnoringCaseAndTheBetterNameCounts) {
  SynonymTable none;
  SearchQuery q = Query("SOCIAL security", none);
  EXPECT_EQ(q.Score("社会保障卡申领", "Application for social security card"), 600 + 99 - 7);
  EXPECT_EQ(Query("card social", none).Score("社会保障卡申领", "Social security card"),
            500 + 99 - 7);
  // The Chinese name is exact, the English one merely contains: exact wins.
  EXPECT_EQ(Query("失业登记", none).Score("失业登记", "失业登记 (unemployment)"), 800 + 99 - 4);
  EXPECT_EQ(Query("pension", none).Score("社会保障卡申领", "Social security card"), 0);
}

TEST(SearchQueryScoreTest, FullWidthQueriesMatchHalfWidthNamesAndTheOtherWayRound) {
  SynonymTable none;
  EXPECT_GT(Query("生育登记(二孩)", none).Score("生育登记（二孩）", ""), 800);
  EXPECT_GT(Query("ＰＥＮＳＩＯＮ", none).Score("养老", "Transfer of pension insurance"), 0);
}

TEST(SearchQueryScoreTest, ShorterNamesFirstWithinATierAndLengthIsCapped) {
  SynonymTable t = Table("社保\t社会保障|社会保险\t\n");
  SearchQuery q = Query("社保", t);
  const int32_t card = q.Score("社会保障卡申领", "");
  const int32_t certificate = q.Score("社会保险参保缴费证明出具", "");
  const int32_t delta = q.Score("长三角社会保障卡居民服务一卡通开通", "");
  EXPECT_GT(card, certificate);   // both prefix, 7 < 11 characters
  EXPECT_GT(certificate, delta);  // prefix beats inside
  EXPECT_EQ(q.Score(std::string(150, 'x') + "社会保障", ""), 200);  // 99+ characters: +0
}

// The byte-pair filter only skips names that cannot score: for every query
// (every byte range of the names below, mid-character ones included, and
// synonym queries) the filtered score equals the full one.
TEST(SearchQueryScoreTest, ByteFilteredScoresEqualFullScoresForEveryQuery) {
  const SynonymTable& shipped = SynonymTable::Shipped();
  const std::vector<std::pair<std::string, std::string>> names = {
      {"社会保障卡申领", "Application for social security card"},
      {"长三角社会保障卡居民服务一卡通开通", ""},
      {"失业登记", "Unemployment registration"},
      {"生育登记（二孩）", "Birth registration (second child)"},
      {"基本养老保险关系转移接续", "Transfer of basic pension insurance"},
      {"医保 异地 就医备案", "Medical insurance: treatment in another province"},
      {"", "\xe7\xa4\xbe broken utf-8 \xff"},
  };
  std::vector<std::string> queries = {"社保", "社保卡", "医保 备案", "养老 转移", "PENSION",
                                      "户口 迁移", "card social", "二孩", "xyz"};
  for (const auto& [zh, en] : names) {
    for (const std::string* name : {&zh, &en}) {
      for (size_t i = 0; i < name->size(); ++i) {
        for (size_t n = 1; n <= 12 && i + n <= name->size(); ++n) {
          queries.push_back(name->substr(i, n));
        }
      }
    }
  }
  int matched = 0;
  for (const std::string& raw : queries) {
    absl::StatusOr<SearchQuery> q = SearchQuery::Parse("query", raw, shipped);
    if (!q.ok()) continue;  // whitespace only
    for (const auto& [zh, en] : names) {
      const SearchableName fast_zh(zh), fast_en(en);
      const int32_t full = q->ScoreNormalized(fast_zh.text, fast_en.text);
      EXPECT_EQ(q->ScoreNormalized(fast_zh, fast_en), full) << raw << " in " << zh << " / " << en;
      if (full > 0) ++matched;
    }
  }
  EXPECT_GT(matched, 1000);  // the ranges above are mostly matches
}

TEST(SearchBytePairsTest, ATextCoversThePairsOfEveryPartOfIt) {
  const std::string text = "社会保障卡 Social \xe4\xb8";
  const uint64_t all = SearchBytePairs(text);
  for (size_t i = 0; i < text.size(); ++i) {
    for (size_t n = 0; i + n <= text.size(); ++n) {
      EXPECT_EQ(SearchBytePairs(text.substr(i, n)) & ~all, 0u) << i << "+" << n;
    }
  }
  EXPECT_EQ(SearchBytePairs("a"), 0u);  // no pair: filters nothing out
  EXPECT_NE(SearchBytePairs("社会"), 0u);
}

// The list shipped in common/search_synonyms.tsv parses, and the
// abbreviations issue 12 names reach the words the demo items use.
TEST(ShippedSynonymsTest, ParsesAndCoversTheCommonAbbreviations) {
  const SynonymTable& t = SynonymTable::Shipped();
  ASSERT_GE(t.size(), 30u);
  auto expands_to = [&](const std::string& term, const std::string& word) {
    const std::vector<std::string>* e = t.Find(term);
    return e != nullptr && std::find(e->begin(), e->end(), word) != e->end();
  };
  EXPECT_TRUE(expands_to("社保", "社会保障"));
  EXPECT_TRUE(expands_to("社保", "社会保险"));
  EXPECT_TRUE(expands_to("医保", "医疗保险"));
  EXPECT_TRUE(expands_to("医保", "医疗保障"));
  EXPECT_TRUE(expands_to("公积金", "住房公积金"));
  EXPECT_TRUE(expands_to("户口", "户籍"));
  EXPECT_TRUE(expands_to("身份证", "居民身份证"));
  EXPECT_TRUE(expands_to("驾照", "驾驶证"));
  EXPECT_TRUE(expands_to("营业执照", "市场主体登记"));
  EXPECT_TRUE(expands_to("退休", "养老"));
  EXPECT_TRUE(expands_to("生育津贴", "生育保险"));
  EXPECT_TRUE(expands_to("生育险", "生育保险"));
  EXPECT_TRUE(expands_to("异地就医", "跨省异地就医"));
  EXPECT_TRUE(expands_to("出生证", "出生医学证明"));
  EXPECT_TRUE(expands_to("结婚", "婚姻登记"));
  // Demo item names (node/demo_catalog/items.tsv) the shipped list reaches.
  auto finds = [&](const std::string& query, const std::string& name) {
    return Query(query, t).Score(name, "") > 0;
  };
  EXPECT_TRUE(finds("社保", "社会保障卡申领"));
  EXPECT_TRUE(finds("社保", "社会保险参保缴费证明出具"));
  EXPECT_TRUE(finds("社保卡", "社会保障卡申领"));
  EXPECT_TRUE(finds("医保", "基本医疗保险关系转移接续"));
  EXPECT_TRUE(finds("公积金", "住房公积金转移接续"));
  EXPECT_TRUE(finds("退休", "养老保险关系转移接续"));
  EXPECT_TRUE(finds("户口", "开具户籍类证明"));
  EXPECT_TRUE(finds("驾照", "机动车驾驶证公证"));
  EXPECT_TRUE(finds("营业执照", "市场主体登记注册"));
  EXPECT_TRUE(finds("出生证", "出生医学证明补发"));
  EXPECT_TRUE(finds("社保转移", "养老保险关系转移接续"));
  EXPECT_TRUE(finds("二胎", "生育登记（二孩）"));
  EXPECT_GT(
      Query("hukou", t).Score("开具户籍类证明", "Issuance of household registration certificates"),
      0);
  EXPECT_FALSE(finds("社保", "住房公积金转移接续"));
}

}  // namespace
}  // namespace tongban
