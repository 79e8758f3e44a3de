// 容缺 pre-check: what an applicant is told when materials are missing.
#include "service/guide_precheck.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::MaterialRequirement Material(const std::string& id, const std::string& zh,
                                 const std::string& en, bool key, bool deficiency_allowed) {
  v1::MaterialRequirement m;
  m.set_material_id(id);
  m.set_name_zh(zh);
  m.set_name_en(en);
  m.set_key(key);
  m.set_deficiency_allowed(deficiency_allowed);
  return m;
}

// Guangdong's guide for a social security card: M01 key, M02 and M04 may be
// missing under 容缺, M03 is not key but may not be missing.
v1::Guide SocialSecurityCardGuide(bool deficiency_acceptance) {
  v1::Guide g;
  g.mutable_item()->set_item_code("GG00000014");
  g.mutable_item()->set_name_zh("社会保障卡申领");
  g.set_province_code("440000");
  *g.add_materials() = Material("M01", "居民身份证", "Resident identity card", true, false);
  *g.add_materials() = Material("M02", "户口簿", "Household register", false, true);
  *g.add_materials() = Material("M03", "近期免冠照片", "Recent photo", false, false);
  *g.add_materials() = Material("M04", "社保缴费证明", "Contribution record", false, true);
  g.set_deficiency_acceptance(deficiency_acceptance);
  g.set_supplement_days(10);
  g.set_promised_time_limit_days(15);
  return g;
}

std::vector<std::string> Ids(const std::vector<v1::MaterialRequirement>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms) out.push_back(m.material_id());
  return out;
}

TEST(GuidePrecheckTest, AllMaterialsPresentIsComplete) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M01", "M02", "M03", "M04"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_COMPLETE);
  EXPECT_THAT(r->missing_key, IsEmpty());
  EXPECT_THAT(r->missing_deferred, IsEmpty());
  EXPECT_EQ(r->supplement_days, 0);
}

TEST(GuidePrecheckTest, KeyMaterialMissingRefusesAndListsIt) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M02", "M03", "M04"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_REFUSE);
  EXPECT_THAT(Ids(r->missing_key), ElementsAre("M01"));
  EXPECT_THAT(DescribeMaterials(r->missing_key), HasSubstr("居民身份证"));
}

TEST(GuidePrecheckTest, KeyMissingRefusesEvenWhenDeferrableOnesAreMissingToo) {
  absl::StatusOr<PrecheckResult> r = Precheck(SocialSecurityCardGuide(true), {"M03"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_REFUSE);
  EXPECT_THAT(Ids(r->missing_key), ElementsAre("M01"));
  EXPECT_THAT(Ids(r->missing_deferred), ElementsAre("M02", "M04"));
}

TEST(GuidePrecheckTest, OnlyDeferrableMissingAcceptsWithDeficiency) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M01", "M03"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY);
  EXPECT_THAT(r->missing_key, IsEmpty());
  EXPECT_THAT(Ids(r->missing_deferred), ElementsAre("M02", "M04"));
  EXPECT_EQ(r->supplement_days, 10);
}

TEST(GuidePrecheckTest, SupplementDaysAreClampedToThePromisedTimeLimit) {
  v1::Guide g = SocialSecurityCardGuide(true);
  g.set_supplement_days(30);
  g.set_promised_time_limit_days(7);
  absl::StatusOr<PrecheckResult> r = Precheck(g, {"M01", "M03", "M04"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY);
  EXPECT_THAT(Ids(r->missing_deferred), ElementsAre("M02"));
  EXPECT_EQ(r->supplement_days, 7);
}

TEST(GuidePrecheckTest, SupplementDaysDefaultWhenTheGuideSetsNone) {
  v1::Guide g = SocialSecurityCardGuide(true);
  g.set_supplement_days(0);
  g.set_promised_time_limit_days(20);
  absl::StatusOr<PrecheckResult> r = Precheck(g, {"M01", "M03"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY);
  EXPECT_GT(r->supplement_days, 0);
  EXPECT_LE(r->supplement_days, 20);
}

TEST(GuidePrecheckTest, DeferrableMissingIsRefusedWhenTheProvinceDoesNotAllowDeficiency) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(false), {"M01", "M03"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_REFUSE);
  EXPECT_THAT(Ids(r->missing_key), ElementsAre("M02", "M04"));
  EXPECT_THAT(r->missing_deferred, IsEmpty());
  EXPECT_EQ(r->supplement_days, 0);
}

TEST(GuidePrecheckTest, NonKeyMaterialThatMayNotBeMissingRefuses) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M01", "M02", "M04"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_REFUSE);
  EXPECT_THAT(Ids(r->missing_key), ElementsAre("M03"));
  EXPECT_THAT(r->missing_deferred, IsEmpty());
}

TEST(GuidePrecheckTest, KeyMaterialMarkedDeficiencyAllowedStillRefuses) {
  v1::Guide g = SocialSecurityCardGuide(true);
  g.mutable_materials(0)->set_deficiency_allowed(true);  // inconsistent guide data
  absl::StatusOr<PrecheckResult> r = Precheck(g, {"M02", "M03", "M04"}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_REFUSE);
  EXPECT_THAT(Ids(r->missing_key), ElementsAre("M01"));
}

TEST(GuidePrecheckTest, UnknownSuppliedIdIsInvalidArgumentNamingFieldAndId) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M01", "M02", "M03", "M09"}, "materials");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("materials"));
  EXPECT_THAT(msg, HasSubstr("M09"));
  EXPECT_THAT(msg, HasSubstr("GG00000014"));
}

TEST(GuidePrecheckTest, FieldNameIsTheCallersOwn) {
  absl::StatusOr<PrecheckResult> r =
      Precheck(SocialSecurityCardGuide(true), {"M77"}, "supplement.materials");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("supplement.materials"));
}

TEST(GuidePrecheckTest, GuideWithoutMaterialsIsCompleteWithNothingSupplied) {
  v1::Guide g;
  g.mutable_item()->set_item_code("GG00000001");
  g.set_province_code("110000");
  absl::StatusOr<PrecheckResult> r = Precheck(g, {}, "materials");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, v1::PRECHECK_OUTCOME_COMPLETE);
}

TEST(GuidePrecheckTest, DescribeMaterialsKeepsChineseNames) {
  v1::Guide g = SocialSecurityCardGuide(true);
  std::vector<v1::MaterialRequirement> ms(g.materials().begin(), g.materials().begin() + 2);
  EXPECT_EQ(DescribeMaterials(ms),
            "M01 居民身份证 (Resident identity card), M02 户口簿 (Household register)");
  EXPECT_EQ(DescribeMaterials({}), "");
}

}  // namespace
}  // namespace tongban::node
