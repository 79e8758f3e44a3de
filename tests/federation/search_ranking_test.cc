// Ranked search with synonyms through a real gateway and real nodes (issue
// 12, "Search"): 社保 finds the 社会保障… and 社会保险… items of several
// provinces, best match first, and pages walk the merged list. Every test
// runs twice: the gateway answering from its catalog cache (it scores) and
// asking every node live (the nodes score); both must give the same ranking.
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "federation.h"
#include "gtest/gtest.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kGuangdong[] = "440000";

// (relevance, province, item, name) of one result.
using Hit = std::tuple<int32_t, std::string, std::string, std::string>;

class SearchRankingTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = GetParam() ? "search-cached" : "search-live";
    options.provinces = {kHunan, kShanghai, kGuangdong};
    options.catalog_cache = GetParam();
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
    query_ = v1::FederationQueryService::NewStub(
        FastChannel(federation_->gateway_address(), "province/430000/officer/officer-01"));
  }
  void TearDown() override {
    if (HasFailure() && federation_ != nullptr) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
    }
  }

  // Every page of a search; false on an error or a partial answer.
  bool Search(const std::string& text, int page_size, std::vector<Hit>* hits, int* pages) {
    hits->clear();
    *pages = 0;
    std::string token;
    do {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(5000));
      v1::SearchFederationRequest req;
      req.set_query(text);
      req.set_page_size(page_size);
      req.set_page_token(token);
      v1::SearchFederationResponse resp;
      grpc::Status s = query_->SearchFederation(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok() || resp.missing_provinces_size() > 0) return false;
      EXPECT_EQ(resp.relevance_size(), resp.guides_size());
      if (resp.relevance_size() != resp.guides_size()) return false;
      for (int i = 0; i < resp.guides_size(); ++i) {
        const v1::Guide& g = resp.guides(i);
        hits->emplace_back(resp.relevance(i), g.province_code(), g.item().item_code(),
                           g.item().name_zh());
      }
      token = resp.next_page_token();
    } while (!token.empty() && ++*pages < 100);
    return true;
  }

  std::unique_ptr<Federation> federation_;
  std::unique_ptr<v1::FederationQueryService::Stub> query_;
};

TEST_P(SearchRankingTest, AbbreviationFindsFullNamesOfSeveralProvincesBestFirst) {
  std::vector<Hit> hits;
  int pages = 0;
  ASSERT_TRUE(Search("社保", 200, &hits, &pages));
  ASSERT_EQ(hits.size(), 5u);
  // 社会保障卡申领 (shortest name) in every province, in province order; then
  // Hunan's central-7p9c 社会保险参保缴费证明出具; then Shanghai's Yangtze-delta card.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {kShanghai, "社会保障卡申领"},
      {kHunan, "社会保障卡申领"},
      {kGuangdong, "社会保障卡申领"},
      {kHunan, "社会保险参保缴费证明出具"},
      {kShanghai, "长三角社会保障卡居民服务一卡通开通"}};
  for (size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(std::get<1>(hits[i]), expected[i].first) << i;
    EXPECT_EQ(std::get<3>(hits[i]), expected[i].second) << i;
    if (i > 0) {
      EXPECT_GE(std::get<0>(hits[i - 1]), std::get<0>(hits[i])) << i;
    }
  }
  EXPECT_EQ(std::get<0>(hits[0]), std::get<0>(hits[2]));  // same item, same score
  EXPECT_GT(std::get<0>(hits[2]), std::get<0>(hits[3]));

  // The full name as typed ranks the exact item above everything else.
  ASSERT_TRUE(Search("社会保障卡申领", 200, &hits, &pages));
  ASSERT_GE(hits.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(std::get<2>(hits[i]), "GG00020600") << i;

  // Two terms, one through a synonym: tier 1, and the same score whichever
  // path (cache or live node) scored it.
  ASSERT_TRUE(Search("医保 转移", 200, &hits, &pages));
  ASSERT_EQ(hits.size(), 3u);  // 基本医疗保险关系转移接续 in each province
  for (const Hit& h : hits) {
    EXPECT_EQ(std::get<0>(h), 100 + 99 - 12) << std::get<3>(h);  // 12 characters
  }
}

TEST_P(SearchRankingTest, PagesWalkTheMergedRankingWithoutGapsOrRepeats) {
  std::vector<Hit> all;
  int pages = 0;
  ASSERT_TRUE(Search("公积金", 200, &all, &pages));
  ASSERT_EQ(all.size(), 27u);  // 9 住房公积金 items × 3 provinces
  EXPECT_EQ(pages, 0);
  for (const Hit& h : all) EXPECT_TRUE(absl::StrContains(std::get<3>(h), "住房公积金"));
  std::vector<Hit> walked;
  ASSERT_TRUE(Search("公积金", 4, &walked, &pages));
  EXPECT_EQ(pages, 6);
  EXPECT_EQ(walked, all);
}

INSTANTIATE_TEST_SUITE_P(CacheAndLive, SearchRankingTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Cached" : "Live";
                         });

}  // namespace
}  // namespace tongban::testing
