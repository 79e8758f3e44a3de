// node/catalog/catalog_search: the node's ranked search, on the real SQLite
// store seeded with the shipped demo catalog and the shipped synonyms.
#include "catalog/catalog_search.h"

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "catalog/demo_catalog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite_catalog_store.h"
#include "store_test_util.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

class CatalogSearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    db_ = testing::OpenOrDie(dir_->File("node.db")).release();
    store_ = new SqliteCatalogStore(*db_);
    absl::Status s = SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, *store_, nullptr);
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete store_;
    delete db_;
    delete dir_;
  }

  static absl::StatusOr<CatalogSearchPage> Search(const std::string& province,
                                                  const std::string& query, int page_size = 0,
                                                  const std::string& token = "",
                                                  bool include_abolished = false) {
    v1::SearchItemsRequest req;
    req.set_query(query);
    req.set_page_size(page_size);
    req.set_page_token(token);
    req.set_include_abolished(include_abolished);
    return SearchCatalog(*store_, province, req, SynonymTable::Shipped());
  }

  static std::vector<std::string> Names(const CatalogSearchPage& page) {
    std::vector<std::string> out;
    for (const ScoredGuide& g : page.results) out.push_back(g.guide.item().name_zh());
    return out;
  }

  static testing::TempDir* dir_;
  static SqliteDatabase* db_;
  static SqliteCatalogStore* store_;
};

testing::TempDir* CatalogSearchTest::dir_ = nullptr;
SqliteDatabase* CatalogSearchTest::db_ = nullptr;
SqliteCatalogStore* CatalogSearchTest::store_ = nullptr;

TEST_F(CatalogSearchTest, AbbreviationFindsTheFullNamesBestFirst) {
  absl::StatusOr<CatalogSearchPage> page = Search(kHunan, "社保");
  ASSERT_TRUE(page.ok()) << page.status();
  // Hunan: the national card item, and the central-7p9c alliance's certificate.
  EXPECT_EQ(Names(*page), (std::vector<std::string>{"社会保障卡申领", "社会保险参保缴费证明出具"}));
  EXPECT_GT(page->results[0].relevance, page->results[1].relevance);
  EXPECT_TRUE(page->next_page_token.empty());

  // Shanghai: the Yangtze-delta card too, after the shorter national name.
  page = Search(kShanghai, "社保");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Names(*page),
            (std::vector<std::string>{"社会保障卡申领", "长三角社会保障卡居民服务一卡通开通"}));
}

TEST_F(CatalogSearchTest, ExactNameFirstThenNamesContainingTheQuery) {
  absl::StatusOr<CatalogSearchPage> page = Search(kHunan, "户口迁移");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->results.size(), 6u);
  EXPECT_EQ(page->results[0].guide.item().item_code(), "QR00070100");  // 户口迁移 itself
  for (size_t i = 1; i < page->results.size(); ++i) {
    EXPECT_LE(page->results[i].relevance, page->results[i - 1].relevance);
    EXPECT_TRUE(absl::StrContains(page->results[i].guide.item().name_zh(), "户口迁移"));
  }
  // 户口 also reaches 开具户籍类证明 through its synonym 户籍, after the literal matches.
  page = Search(kHunan, "户口");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->results.size(), 7u);
  EXPECT_EQ(page->results.back().guide.item().name_zh(), "开具户籍类证明");
}

TEST_F(CatalogSearchTest, SynonymsOnlyAddResultsAndEveryResultMatchesItsName) {
  struct Case {
    const char* query;
    const char* every_name_has_one_of[3];
  };
  for (const Case& c : std::vector<Case>{
           {"公积金", {"住房公积金", nullptr, nullptr}},
           {"医保", {"医疗保险", "医疗保障", nullptr}},
           {"退休", {"养老", "退休", nullptr}},
           {"驾照", {"驾驶证", "驾驶员", nullptr}},
           {"营业执照", {"营业执照", "市场主体登记", "设立登记"}},
       }) {
    absl::StatusOr<CatalogSearchPage> page = Search(kHunan, c.query, 200);
    ASSERT_TRUE(page.ok()) << c.query << ": " << page.status();
    EXPECT_FALSE(page->results.empty()) << c.query;
    for (const ScoredGuide& g : page->results) {
      const std::string& name = g.guide.item().name_zh();
      bool ok = false;
      for (const char* word : c.every_name_has_one_of)
        ok |= word != nullptr && absl::StrContains(name, word);
      EXPECT_TRUE(ok) << c.query << " found " << name;
    }
  }
}

TEST_F(CatalogSearchTest, AllianceItemsAreFoundWhereTheProvinceImplementsThem) {
  // 出生医学证明补发 is a jingjinji-4same item: Beijing has it, Hunan does not.
  absl::StatusOr<CatalogSearchPage> page = Search("110000", "出生证");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Names(*page), (std::vector<std::string>{"出生医学证明补发"}));
  EXPECT_TRUE(Search(kHunan, "出生证")->results.empty());
}

TEST_F(CatalogSearchTest, PagesWalkTheRankedListWithoutGapsOrRepeats) {
  absl::StatusOr<CatalogSearchPage> all = Search(kHunan, "公积金", 200);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_GE(all->results.size(), 9u);
  for (int size : {1, 2, 4}) {
    std::vector<std::string> walked;
    std::string token;
    int pages = 0;
    do {
      absl::StatusOr<CatalogSearchPage> page = Search(kHunan, "公积金", size, token);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const ScoredGuide& g : page->results) walked.push_back(g.guide.item().item_code());
      token = page->next_page_token;
    } while (!token.empty() && ++pages < 50);
    std::vector<std::string> expected;
    for (const ScoredGuide& g : all->results) expected.push_back(g.guide.item().item_code());
    EXPECT_EQ(walked, expected) << "page size " << size;
  }
}

TEST_F(CatalogSearchTest, TokensBelongToTheNormalisedQuery) {
  absl::StatusOr<CatalogSearchPage> first = Search(kHunan, "insurance", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->next_page_token.empty());
  // Full-width and upper case spell the same query: the token is valid.
  absl::StatusOr<CatalogSearchPage> second =
      Search(kHunan, "ＩＮＳＵＲＡＮＣＥ", 1, first->next_page_token);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->results[0].guide.item().item_code(),
            first->results[0].guide.item().item_code());
  // Another query's token is refused, naming the field.
  absl::StatusOr<CatalogSearchPage> other = Search(kHunan, "pension", 1, first->next_page_token);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("page_token"));
}

TEST_F(CatalogSearchTest, RefusesQueriesWithoutATerm) {
  for (const char* query : {"", "  \u3000 "}) {
    absl::StatusOr<CatalogSearchPage> page = Search(kHunan, query);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << query;
    EXPECT_THAT(std::string(page.status().message()), HasSubstr("query"));
  }
  EXPECT_EQ(Search(kHunan, "社保", 201).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CatalogSearchTest, AbolishedItemsOnlyWhenAskedFor) {
  v1::Guide guide = *store_->GetGuide(kShanghai, "QT00090100");  // 跨区域涉税事项报告
  guide.set_status(v1::ITEM_STATUS_ABOLISHED);
  ASSERT_TRUE(store_->AmendGuide(guide, guide.version(), 1'767'225'600).ok());
  EXPECT_TRUE(Search(kShanghai, "跨区域涉税")->results.empty());
  absl::StatusOr<CatalogSearchPage> page = Search(kShanghai, "跨区域涉税", 0, "", true);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->results.size(), 1u);
  EXPECT_EQ(page->results[0].guide.status(), v1::ITEM_STATUS_ABOLISHED);
}

// Not a gate, a figure (docs/performance.md): the ranked search against the
// substring search in SQL it replaced, same store, same province.
TEST_F(CatalogSearchTest, CostOfOneSearch) {
  constexpr int kRounds = 2000;
  GuideFilter filter;
  filter.province_code = kHunan;
  filter.query = "社会保障";
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) ASSERT_TRUE(store_->ListGuides(filter, "", 51).ok());
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) ASSERT_TRUE(Search(kHunan, "社会保障").ok());
  auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) ASSERT_TRUE(Search(kHunan, "社保").ok());
  auto t3 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(
        store_->ScoreGuides(filter, [](const std::string&, const std::string&) { return 0; }).ok());
  }
  auto t4 = std::chrono::steady_clock::now();
  auto us = [](auto d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() / 1000.0 / kRounds;
  };
  std::cout << "one search of 430000 (56 guides): substring SQL " << us(t1 - t0)
            << " µs, ranked 社会保障 " << us(t2 - t1) << " µs, ranked 社保 " << us(t3 - t2)
            << " µs (of which reading the names of every row " << us(t4 - t3) << " µs)"
            << std::endl;
}

}  // namespace
}  // namespace tongban::node
