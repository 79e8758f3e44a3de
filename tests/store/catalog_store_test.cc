// CatalogStore semantics, checked on every implementation (SQLite and
// PostgreSQL: store_backends.h).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store_backends.h"

namespace tongban::node {
namespace {

using testing::BackendDatabase;
using testing::kAllStoreBackends;
using testing::StoreBackend;
using testing::StoreBackendName;

constexpr char kGuangdong[] = "440000";
constexpr char kBeijing[] = "110000";

v1::Guide MakeGuide(const std::string& province, const std::string& item_code,
                    const std::string& name_zh, const std::string& name_en, int64_t version,
                    v1::ItemScope scope = v1::ITEM_SCOPE_NATIONAL) {
  v1::Guide guide;
  guide.set_province_code(province);
  guide.mutable_item()->set_item_code(item_code);
  guide.mutable_item()->set_name_zh(name_zh);
  guide.mutable_item()->set_name_en(name_en);
  guide.mutable_item()->set_scope(scope);
  guide.set_status(v1::ITEM_STATUS_ACTIVE);
  guide.set_version(version);
  guide.set_department_zh("人力资源和社会保障厅");
  auto* material = guide.add_materials();
  material->set_material_id("M01");
  material->set_name_zh("居民身份证");
  material->set_key(true);
  return guide;
}

GuideFilter Province(const std::string& code) {
  GuideFilter filter;
  filter.province_code = code;
  return filter;
}

std::vector<std::string> Codes(const std::vector<v1::Guide>& guides) {
  std::vector<std::string> codes;
  for (const auto& g : guides) codes.push_back(g.item().item_code());
  return codes;
}

class CatalogStoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    auto db = BackendDatabase::Open(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = db_->NewCatalogStore();
  }

  // Guangdong: four national items and one province item, versions 1..5;
  // Beijing: one item, to check provinces stay apart.
  void Seed() {
    ASSERT_TRUE(
        store_
            ->PutGuides({
                MakeGuide(kGuangdong, "GG00000001", "社会保障卡申领",
                          "Social Security Card Application", 1),
                MakeGuide(kGuangdong, "GG00000002", "社保关系转移接续", "Social Insurance Transfer",
                          2),
                MakeGuide(kGuangdong, "GG00000003", "基本养老保险关系转移接续",
                          "Basic PENSION Insurance Transfer", 3),
                MakeGuide(kGuangdong, "XK00000004", "户口迁移", "Household Registration", 4),
                MakeGuide(kGuangdong, "GG44000005", "粤港澳社保卡", "Greater Bay Area Card", 5,
                          v1::ITEM_SCOPE_PROVINCE),
                MakeGuide(kBeijing, "GG00000001", "社会保障卡申领",
                          "Social Security Card Application", 9),
            })
            .ok());
  }

  std::vector<std::string> List(GuideFilter filter, const std::string& after = "",
                                int limit = 100) {
    auto guides = store_->ListGuides(filter, after, limit);
    EXPECT_TRUE(guides.ok()) << guides.status();
    return guides.ok() ? Codes(*guides) : std::vector<std::string>{};
  }

  std::unique_ptr<BackendDatabase> db_;  // outlives the store
  std::unique_ptr<CatalogStore> store_;
};

TEST_P(CatalogStoreTest, IsEmptyUntilAGuideIsStored) {
  EXPECT_TRUE(*store_->IsEmpty());
  Seed();
  EXPECT_FALSE(*store_->IsEmpty());
}

TEST_P(CatalogStoreTest, GuideRoundTripsWithChineseText) {
  Seed();
  auto guide = store_->GetGuide(kGuangdong, "GG00000002");
  ASSERT_TRUE(guide.ok()) << guide.status();
  EXPECT_EQ(guide->item().name_zh(), "社保关系转移接续");
  EXPECT_EQ(guide->materials(0).name_zh(), "居民身份证");
  EXPECT_EQ(guide->version(), 2);
  EXPECT_EQ(store_->GetGuide(kGuangdong, "GG99999999").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetGuide("310000", "GG00000001").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(CatalogStoreTest, ListsOneProvinceInItemCodeOrderPageByPage) {
  Seed();
  GuideFilter filter = Province(kGuangdong);
  EXPECT_EQ(List(filter), (std::vector<std::string>{"GG00000001", "GG00000002", "GG00000003",
                                                    "GG44000005", "XK00000004"}));
  EXPECT_EQ(List(filter, "", 2), (std::vector<std::string>{"GG00000001", "GG00000002"}));
  EXPECT_EQ(List(filter, "GG00000002", 2), (std::vector<std::string>{"GG00000003", "GG44000005"}));
  EXPECT_EQ(List(filter, "GG44000005", 2), (std::vector<std::string>{"XK00000004"}));
  EXPECT_EQ(List(filter, "XK00000004", 2), (std::vector<std::string>{}));
  filter.scope = v1::ITEM_SCOPE_PROVINCE;
  EXPECT_EQ(List(filter), (std::vector<std::string>{"GG44000005"}));
  EXPECT_EQ(List(Province(kBeijing)), (std::vector<std::string>{"GG00000001"}));
}

TEST_P(CatalogStoreTest, SearchesChineseSubstringAndEnglishIgnoringCase) {
  Seed();
  GuideFilter filter = Province(kGuangdong);
  filter.query = "社保";
  EXPECT_EQ(List(filter), (std::vector<std::string>{"GG00000002", "GG44000005"}));
  filter.query = "pension";
  EXPECT_EQ(List(filter), (std::vector<std::string>{"GG00000003"}));
  filter.query = "SOCIAL";
  EXPECT_EQ(List(filter), (std::vector<std::string>{"GG00000001", "GG00000002"}));
  filter.query = "社会保障卡";
  EXPECT_EQ(List(filter, "", 1), (std::vector<std::string>{"GG00000001"}));
  filter.query = "no such thing";
  EXPECT_EQ(List(filter), (std::vector<std::string>{}));
}

TEST_P(CatalogStoreTest, ScoreGuidesReturnsWhatTheScorerAcceptsInItemCodeOrder) {
  Seed();
  // Abolished guides are left out unless asked for.
  v1::Guide abolished = *store_->GetGuide(kGuangdong, "GG00000003");
  abolished.set_status(v1::ITEM_STATUS_ABOLISHED);
  ASSERT_TRUE(store_->AmendGuide(abolished, 3, 1'700'000'000).ok());
  std::vector<std::string> seen_zh;
  std::vector<std::string> seen_en;
  // Scores by name as stored: the Chinese name's length, 0 for names without 保.
  GuideScorer score = [&](const std::string& zh, const std::string& en) {
    seen_zh.push_back(zh);
    seen_en.push_back(en);
    return zh.find("保") == std::string::npos ? 0 : static_cast<int32_t>(zh.size());
  };
  auto found = store_->ScoreGuides(Province(kGuangdong), score);
  ASSERT_TRUE(found.ok()) << found.status();
  std::vector<std::string> codes;
  std::vector<int32_t> scores;
  for (const ScoredGuide& g : *found) {
    codes.push_back(g.guide.item().item_code());
    scores.push_back(g.relevance);
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"GG00000001", "GG00000002", "GG44000005"}));
  EXPECT_EQ(scores, (std::vector<int32_t>{21, 24, 18}));              // UTF-8 bytes of the names
  EXPECT_EQ((*found)[0].guide.materials(0).name_zh(), "居民身份证");  // the whole guide
  // The scorer saw every active Guangdong guide's names, and only those.
  EXPECT_EQ(seen_zh, (std::vector<std::string>{"社会保障卡申领", "社保关系转移接续", "粤港澳社保卡",
                                               "户口迁移"}));
  EXPECT_EQ(seen_en.back(), "Household Registration");

  GuideFilter with_abolished = Province(kGuangdong);
  with_abolished.include_abolished = true;
  with_abolished.scope = v1::ITEM_SCOPE_NATIONAL;
  found = store_->ScoreGuides(with_abolished, score);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*found)[2].guide.item().item_code(), "GG00000003");
  EXPECT_EQ((*found)[2].guide.status(), v1::ITEM_STATUS_ABOLISHED);

  EXPECT_EQ(store_->ScoreGuides(GuideFilter(), score).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogStoreTest, PutGuidesNeverRollsAGuideBack) {
  Seed();
  ASSERT_TRUE(store_->PutGuides({MakeGuide(kBeijing, "GG00000001", "旧", "old", 3)}).ok());
  EXPECT_EQ(store_->GetGuide(kBeijing, "GG00000001")->version(), 9);
  ASSERT_TRUE(store_->PutGuides({MakeGuide(kBeijing, "GG00000001", "新", "new", 10)}).ok());
  EXPECT_EQ(store_->GetGuide(kBeijing, "GG00000001")->item().name_zh(), "新");
  v1::Guide keyless = MakeGuide(kBeijing, "", "x", "x", 1);
  EXPECT_EQ(store_->PutGuides({keyless}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogStoreTest, AmendIsCompareAndSetAndBumpsTheCatalogVersion) {
  Seed();
  v1::Guide amended = *store_->GetGuide(kGuangdong, "GG00000002");
  amended.set_promised_time_limit_days(5);
  auto stored = store_->AmendGuide(amended, /*expected_version=*/2, /*now=*/1'700'000'000);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version(), 6);  // Guangdong's catalog was at 5
  EXPECT_EQ(stored->updated_at().seconds(), 1'700'000'000);
  EXPECT_EQ(store_->GetGuide(kGuangdong, "GG00000002")->promised_time_limit_days(), 5);
  EXPECT_EQ(store_->Counts(kGuangdong)->catalog_version, 6);

  // A second officer who read version 2 loses and is told what to do.
  auto stale = store_->AmendGuide(amended, 2, 1'700'000'100);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale.status().message(),
            "guide of GG00000002 at 440000 is at version 6, not 2; re-read and retry");

  v1::Guide missing = MakeGuide(kGuangdong, "GG77777777", "无", "none", 1);
  EXPECT_EQ(store_->AmendGuide(missing, 1, 0).status().code(), absl::StatusCode::kNotFound);
  // Beijing's version is its own.
  EXPECT_EQ(store_->Counts(kBeijing)->catalog_version, 9);
}

TEST_P(CatalogStoreTest, AbolishingThroughAmendHidesTheItemAndCountsIt) {
  Seed();
  CatalogCounts before = *store_->Counts(kGuangdong);
  EXPECT_EQ(before.catalog_version, 5);
  EXPECT_EQ(before.active_items, 5);
  EXPECT_EQ(before.abolished_items, 0);

  v1::Guide abolished = *store_->GetGuide(kGuangdong, "XK00000004");
  abolished.set_status(v1::ITEM_STATUS_ABOLISHED);
  auto stored = store_->AmendGuide(abolished, 4, 1'700'000'000);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status(), v1::ITEM_STATUS_ABOLISHED);

  CatalogCounts after = *store_->Counts(kGuangdong);
  EXPECT_EQ(after.catalog_version, 6);
  EXPECT_EQ(after.active_items, 4);
  EXPECT_EQ(after.abolished_items, 1);
  GuideFilter filter = Province(kGuangdong);
  EXPECT_EQ(List(filter).size(), 4u);
  filter.include_abolished = true;
  EXPECT_EQ(List(filter).size(), 5u);

  CatalogCounts empty = *store_->Counts("310000");
  EXPECT_EQ(empty.catalog_version, 0);
  EXPECT_EQ(empty.active_items + empty.abolished_items, 0);
}

TEST_P(CatalogStoreTest, RejectsBadListArguments) {
  EXPECT_EQ(store_->ListGuides(GuideFilter{}, "", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListGuides(Province(kGuangdong), "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CatalogStoreTest, AlliancesAreUpsertedByIdAndListedInIdOrder) {
  v1::Alliance southwest;
  southwest.set_alliance_id("southwest-5");
  southwest.set_name_zh("西南五省");
  for (const char* p : {"500000", "510000", "520000", "530000", "540000"}) {
    southwest.add_member_provinces(p);
  }
  v1::Alliance jjj;
  jjj.set_alliance_id("jing-jin-ji");
  jjj.set_name_zh("京津冀");
  ASSERT_TRUE(store_->PutAlliances({southwest, jjj}).ok());
  jjj.add_member_provinces("110000");
  ASSERT_TRUE(store_->PutAlliances({jjj}).ok());

  auto alliances = store_->ListAlliances();
  ASSERT_TRUE(alliances.ok()) << alliances.status();
  ASSERT_EQ(alliances->size(), 2u);
  EXPECT_EQ((*alliances)[0].alliance_id(), "jing-jin-ji");
  EXPECT_EQ((*alliances)[0].member_provinces_size(), 1);
  EXPECT_EQ((*alliances)[1].name_zh(), "西南五省");
  EXPECT_EQ((*alliances)[1].member_provinces_size(), 5);
  EXPECT_EQ(store_->PutAlliances({v1::Alliance()}).code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogStoreTest, kAllStoreBackends, StoreBackendName);

}  // namespace
}  // namespace tongban::node
