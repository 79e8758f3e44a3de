// 无差别受理: where an item handled by one province may be filed.
#include "filing_policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "province_registry.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

v1::Alliance Southwest5() {
  v1::Alliance a;
  a.set_alliance_id("southwest-5");
  a.set_name_zh("西南五省份政务服务\"跨省通办\"");
  a.set_name_en("South-west five provinces");
  for (const char* p : {"500000", "510000", "520000", "530000", "540000"}) {
    a.add_member_provinces(p);
  }
  return a;
}

v1::Alliance Chuanyu() {
  v1::Alliance a;
  a.set_alliance_id("chuanyu");
  a.set_name_zh("川渝通办");
  a.add_member_provinces("510000");
  a.add_member_provinces("500000");
  return a;
}

std::vector<v1::Alliance> Alliances() { return {Chuanyu(), Southwest5()}; }

v1::Guide NationalGuide(const std::string& handling) {
  v1::Guide g;
  g.mutable_item()->set_item_code("GG00000014");
  g.mutable_item()->set_name_zh("社会保障卡申领");
  g.mutable_item()->set_scope(v1::ITEM_SCOPE_NATIONAL);
  g.set_province_code(handling);
  g.set_status(v1::ITEM_STATUS_ACTIVE);
  g.set_version(3);
  return g;
}

v1::Guide AllianceGuide(const std::string& handling, const std::string& alliance) {
  v1::Guide g;
  g.mutable_item()->set_item_code("QT95000007");
  g.mutable_item()->set_name_zh("机动车驾驶证审验");
  g.mutable_item()->set_scope(v1::ITEM_SCOPE_ALLIANCE);
  g.mutable_item()->set_alliance_id(alliance);
  g.set_province_code(handling);
  g.set_status(v1::ITEM_STATUS_ACTIVE);
  return g;
}

v1::Guide ProvinceGuide(const std::string& owner, bool open) {
  v1::Guide g;
  g.mutable_item()->set_item_code("GG45000041");
  g.mutable_item()->set_name_zh("广西特色事项");
  g.mutable_item()->set_scope(v1::ITEM_SCOPE_PROVINCE);
  g.mutable_item()->set_owner_province(owner);
  g.mutable_item()->set_open_to_other_provinces(open);
  g.set_province_code(owner);
  g.set_status(v1::ITEM_STATUS_ACTIVE);
  return g;
}

void ExpectRefused(const absl::Status& s, const std::vector<std::string>& in_message) {
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  for (const std::string& part : in_message) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(part));
  }
}

TEST(FilingPolicyTest, NationalItemsFromEveryProvince) {
  for (const Province& accepting : AllProvinces()) {
    EXPECT_TRUE(CheckFileableFrom(NationalGuide("310000"), accepting.code, {}).ok())
        << accepting.code;
    EXPECT_TRUE(CheckFileableFrom(NationalGuide("310000"), accepting.code, Alliances()).ok())
        << accepting.code;
  }
}

TEST(FilingPolicyTest, AllianceItemBetweenMembers) {
  EXPECT_TRUE(
      CheckFileableFrom(AllianceGuide("510000", "southwest-5"), "500000", Alliances()).ok());
  EXPECT_TRUE(
      CheckFileableFrom(AllianceGuide("540000", "southwest-5"), "520000", Alliances()).ok());
  // Filed and handled in the same member province.
  EXPECT_TRUE(
      CheckFileableFrom(AllianceGuide("530000", "southwest-5"), "530000", Alliances()).ok());
}

TEST(FilingPolicyTest, AllianceItemFromANonMemberNamesAllianceAndNonMember) {
  absl::Status s = CheckFileableFrom(AllianceGuide("510000", "southwest-5"), "440000", Alliances());
  ExpectRefused(s, {"southwest-5", "province 440000 is not a member", "QT95000007"});
}

TEST(FilingPolicyTest, AllianceItemHandledByANonMemberNamesTheHandlingProvince) {
  // Chongqing is in the alliance, Guangdong (handling) is not.
  absl::Status s = CheckFileableFrom(AllianceGuide("440000", "southwest-5"), "500000", Alliances());
  ExpectRefused(s, {"southwest-5", "province 440000 is not a member"});
}

TEST(FilingPolicyTest, AllianceMembershipIsPerAlliance) {
  // Guizhou is in southwest-5 but not in chuanyu.
  EXPECT_TRUE(CheckFileableFrom(AllianceGuide("510000", "chuanyu"), "500000", Alliances()).ok());
  ExpectRefused(CheckFileableFrom(AllianceGuide("510000", "chuanyu"), "520000", Alliances()),
                {"chuanyu", "520000"});
}

TEST(FilingPolicyTest, UnknownAllianceIsRefused) {
  ExpectRefused(CheckFileableFrom(AllianceGuide("510000", "nowhere-3"), "500000", Alliances()),
                {"nowhere-3"});
  ExpectRefused(CheckFileableFrom(AllianceGuide("510000", "southwest-5"), "500000", {}),
                {"southwest-5"});
}

TEST(FilingPolicyTest, ProvinceItemAtItsOwner) {
  EXPECT_TRUE(CheckFileableFrom(ProvinceGuide("450000", false), "450000", Alliances()).ok());
  EXPECT_TRUE(CheckFileableFrom(ProvinceGuide("450000", true), "450000", Alliances()).ok());
}

TEST(FilingPolicyTest, OpenProvinceItemFromAnywhere) {
  for (const Province& accepting : AllProvinces()) {
    EXPECT_TRUE(CheckFileableFrom(ProvinceGuide("450000", true), accepting.code, {}).ok())
        << accepting.code;
  }
}

TEST(FilingPolicyTest, ClosedProvinceItemOnlyAtItsOwner) {
  for (const Province& accepting : AllProvinces()) {
    if (accepting.code == "450000") continue;
    SCOPED_TRACE(std::string(accepting.code));
    ExpectRefused(CheckFileableFrom(ProvinceGuide("450000", false), accepting.code, Alliances()),
                  {"GG45000041", "450000", "not open"});
  }
}

TEST(FilingPolicyTest, AbolishedItemsAreRefusedEverywhere) {
  for (v1::Guide g : {NationalGuide("310000"), AllianceGuide("510000", "southwest-5"),
                      ProvinceGuide("450000", true)}) {
    g.set_status(v1::ITEM_STATUS_ABOLISHED);
    g.set_version(7);
    SCOPED_TRACE(g.item().item_code());
    ExpectRefused(CheckFileableFrom(g, g.province_code(), Alliances()),
                  {"abolished", g.item().item_code(), "version 7"});
    ExpectRefused(CheckFileableFrom(g, "500000", Alliances()), {"abolished"});
  }
}

TEST(FilingPolicyTest, ItemWithoutScopeIsRefused) {
  v1::Guide g = NationalGuide("310000");
  g.mutable_item()->set_scope(v1::ITEM_SCOPE_UNSPECIFIED);
  ExpectRefused(CheckFileableFrom(g, "310000", Alliances()), {"GG00000014", "scope"});
}

}  // namespace
}  // namespace tongban
