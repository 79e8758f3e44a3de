#include "catalog/demo_catalog.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------
// Helpers.

const DemoCatalog& Shipped() {
  static const DemoCatalog* const catalog = [] {
    absl::StatusOr<DemoCatalog> loaded = LoadDemoCatalog(TONGBAN_DEMO_CATALOG_DIR);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return new DemoCatalog(loaded.ok() ? *std::move(loaded) : DemoCatalog{});
  }();
  return *catalog;
}

const v1::Guide* FindGuide(const DemoCatalog& catalog, const std::string& province,
                           const std::string& item_code) {
  for (const v1::Guide& g : catalog.guides) {
    if (g.province_code() == province && g.item().item_code() == item_code) return &g;
  }
  return nullptr;
}

const v1::MaterialRequirement* FindMaterial(const v1::Guide& guide, const std::string& id) {
  for (const v1::MaterialRequirement& m : guide.materials()) {
    if (m.material_id() == id) return &m;
  }
  return nullptr;
}

std::set<std::string> ProvincesImplementing(const DemoCatalog& catalog,
                                            const std::string& item_code) {
  std::set<std::string> provinces;
  for (const v1::Guide& g : catalog.guides) {
    if (g.item().item_code() == item_code) provinces.insert(g.province_code());
  }
  return provinces;
}

std::vector<std::string> Conditions(const v1::Guide& g) {
  return {g.conditions_zh().begin(), g.conditions_zh().end()};
}

// ---------------------------------------------------------------------------
// The shipped catalog.

TEST(ShippedDemoCatalogTest, HasTheExpectedSize) {
  const DemoCatalog& c = Shipped();
  std::map<v1::ItemScope, int> by_scope;
  for (const v1::Item& item : c.items) ++by_scope[item.scope()];
  EXPECT_EQ(by_scope[v1::ITEM_SCOPE_NATIONAL], 52);  // all of shared/data/items.tsv
  EXPECT_GE(by_scope[v1::ITEM_SCOPE_ALLIANCE], 8);
  EXPECT_GE(by_scope[v1::ITEM_SCOPE_PROVINCE], 10);
  EXPECT_EQ(c.alliances.size(), 9u);

  std::set<std::string> provinces;
  for (const v1::Guide& g : c.guides) provinces.insert(g.province_code());
  EXPECT_EQ(provinces.size(), 31u);
  EXPECT_GT(c.guides.size(), 1600u);
}

TEST(ShippedDemoCatalogTest, ItemsAreInCodeOrderAndGuidesInProvinceThenCodeOrder) {
  const DemoCatalog& c = Shipped();
  for (size_t i = 1; i < c.items.size(); ++i) {
    EXPECT_LT(c.items[i - 1].item_code(), c.items[i].item_code());
  }
  for (size_t i = 1; i < c.guides.size(); ++i) {
    const auto& a = c.guides[i - 1];
    const auto& b = c.guides[i];
    EXPECT_LT(std::make_pair(a.province_code(), a.item().item_code()),
              std::make_pair(b.province_code(), b.item().item_code()));
  }
}

TEST(ShippedDemoCatalogTest, EveryGuideIsSeededConsistently) {
  const DemoCatalog& c = Shipped();
  std::map<std::string, v1::Alliance> alliances;
  for (const v1::Alliance& a : c.alliances) alliances[a.alliance_id()] = a;
  for (const v1::Guide& g : c.guides) {
    SCOPED_TRACE(absl::StrCat(g.province_code(), " ", g.item().item_code()));
    EXPECT_EQ(g.version(), 1);
    EXPECT_EQ(g.updated_at().seconds(), kDemoCatalogUpdatedAtUnixSeconds);
    EXPECT_EQ(g.status(), v1::ITEM_STATUS_ACTIVE);
    EXPECT_LE(g.promised_time_limit_days(), g.legal_time_limit_days());
    EXPECT_FALSE(g.conditions_zh().empty());
    EXPECT_THAT(g.department_zh(), Not(HasSubstr("{")));
    for (const std::string& cond : g.conditions_zh()) EXPECT_THAT(cond, Not(HasSubstr("{")));
    bool any_key = false;
    for (const v1::MaterialRequirement& m : g.materials()) {
      any_key |= m.key();
      EXPECT_FALSE(m.key() && m.deficiency_allowed()) << m.material_id();
      if (m.name_zh() == "居民身份证") {
        EXPECT_TRUE(m.key());
      }
    }
    EXPECT_TRUE(any_key);
    if (g.deficiency_acceptance()) {
      EXPECT_GE(g.supplement_days(), 1);
      EXPECT_LE(g.supplement_days(), g.promised_time_limit_days());
    } else {
      EXPECT_EQ(g.supplement_days(), 0);
    }
    switch (g.item().scope()) {
      case v1::ITEM_SCOPE_NATIONAL:
        EXPECT_TRUE(g.item().open_to_other_provinces());
        break;
      case v1::ITEM_SCOPE_ALLIANCE: {
        const auto& members = alliances.at(g.item().alliance_id()).member_provinces();
        EXPECT_NE(std::find(members.begin(), members.end(), g.province_code()), members.end());
        EXPECT_EQ(g.item().item_code().substr(2, 1), "9");
        break;
      }
      case v1::ITEM_SCOPE_PROVINCE:
        EXPECT_EQ(g.item().owner_province(), g.province_code());
        EXPECT_EQ(g.item().item_code().substr(2, 2), g.province_code().substr(0, 2));
        break;
      default:
        ADD_FAILURE() << "scope unset";
    }
  }
}

TEST(ShippedDemoCatalogTest, NationalItemsAreEverywhereExceptWhereNotAdopted) {
  const DemoCatalog& c = Shipped();
  const std::map<std::string, std::set<std::string>> not_adopted = {
      {"QR00120100", {"150000", "540000", "630000", "650000"}},
      {"XK00070300", {"150000", "630000"}},
  };
  for (const v1::Item& item : c.items) {
    if (item.scope() != v1::ITEM_SCOPE_NATIONAL) continue;
    auto it = not_adopted.find(item.item_code());
    const size_t missing = it == not_adopted.end() ? 0 : it->second.size();
    EXPECT_EQ(ProvincesImplementing(c, item.item_code()).size(), 31 - missing) << item.item_code();
  }
  EXPECT_EQ(FindGuide(c, "630000", "QR00120100"), nullptr);
  EXPECT_NE(FindGuide(c, "640000", "QR00120100"), nullptr);
}

TEST(ShippedDemoCatalogTest, AlliancesComeFromTheSharedFacts) {
  const DemoCatalog& c = Shipped();
  const v1::Alliance* southwest = nullptr;
  for (const v1::Alliance& a : c.alliances) {
    if (a.alliance_id() == "southwest-5") southwest = &a;
  }
  ASSERT_NE(southwest, nullptr);
  EXPECT_EQ(southwest->name_zh(), "西南五省份政务服务\"跨省通办\"");
  EXPECT_THAT(southwest->member_provinces(),
              ::testing::ElementsAre("500000", "510000", "520000", "530000", "540000"));
}

// ---------------------------------------------------------------------------
// The fixtures promised in node/demo_catalog/README.md.

TEST(DemoCatalogFixturesTest, A_ShanghaiRequiresAnExtraKeyMaterialHunanDoesNot) {
  const v1::Guide* sh = FindGuide(Shipped(), "310000", "GG00020600");
  const v1::Guide* hn = FindGuide(Shipped(), "430000", "GG00020600");
  ASSERT_NE(sh, nullptr);
  ASSERT_NE(hn, nullptr);
  EXPECT_EQ(sh->item().name_zh(), "社会保障卡申领");
  const v1::MaterialRequirement* m09 = FindMaterial(*sh, "M09");
  ASSERT_NE(m09, nullptr);
  EXPECT_TRUE(m09->key());
  EXPECT_FALSE(m09->deficiency_allowed());
  EXPECT_EQ(m09->name_zh(), "社会保障卡数码照片回执");
  EXPECT_EQ(FindMaterial(*hn, "M09"), nullptr);
  EXPECT_TRUE(FindMaterial(*FindGuide(Shipped(), "110000", "GG00020600"), "M09")->key());
  EXPECT_EQ(sh->materials_size(), 4);
  EXPECT_EQ(hn->materials_size(), 3);
  // Both share M01 居民身份证 (key) and M02 (key); M03 is non-key and 容缺-able.
  for (const v1::Guide* g : {sh, hn}) {
    EXPECT_TRUE(FindMaterial(*g, "M01")->key());
    EXPECT_TRUE(FindMaterial(*g, "M02")->key());
    EXPECT_TRUE(FindMaterial(*g, "M03")->deficiency_allowed());
  }
}

TEST(DemoCatalogFixturesTest, B_ShanghaiAllowsDeficiencyWithOneDeficiencyAllowedMaterial) {
  const v1::Guide* g = FindGuide(Shipped(), "310000", "XK00110100");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->item().name_zh(), "医师执业注册");
  EXPECT_TRUE(g->deficiency_acceptance());
  EXPECT_EQ(g->supplement_days(), 5);  // Shanghai's override of the baseline 10
  EXPECT_EQ(g->promised_time_limit_days(), 10);
  std::vector<std::string> keys, deficiency_allowed;
  for (const v1::MaterialRequirement& m : g->materials()) {
    if (m.key()) keys.push_back(m.material_id());
    if (m.deficiency_allowed()) deficiency_allowed.push_back(m.material_id());
  }
  EXPECT_THAT(keys, ::testing::ElementsAre("M01", "M02", "M03", "M04"));
  EXPECT_THAT(deficiency_allowed, ::testing::ElementsAre("M05"));
}

TEST(DemoCatalogFixturesTest, C_BeijingRefusesDeficiencyWhereTheBaselineAllowsIt) {
  const v1::Guide* bj = FindGuide(Shipped(), "110000", "JF00020500");
  const v1::Guide* hn = FindGuide(Shipped(), "430000", "JF00020500");
  ASSERT_NE(bj, nullptr);
  ASSERT_NE(hn, nullptr);
  EXPECT_EQ(bj->item().name_zh(), "失业保险金申领");
  EXPECT_FALSE(bj->deficiency_acceptance());
  EXPECT_EQ(bj->supplement_days(), 0);
  EXPECT_TRUE(hn->deficiency_acceptance());
  EXPECT_EQ(hn->supplement_days(), 5);
  EXPECT_TRUE(
      FindMaterial(*bj, "M03")->deficiency_allowed());  // the material could be, the item won't
}

TEST(DemoCatalogFixturesTest, D_SouthwestAllianceItemOnlyInMembers) {
  const std::set<std::string> expected = {"500000", "510000", "520000", "530000", "540000"};
  EXPECT_EQ(ProvincesImplementing(Shipped(), "GG92000100"), expected);
  const v1::Guide* g = FindGuide(Shipped(), "530000", "GG92000100");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->item().scope(), v1::ITEM_SCOPE_ALLIANCE);
  EXPECT_EQ(g->item().alliance_id(), "southwest-5");
  EXPECT_EQ(g->item().name_zh(), "残疾人证迁移");
  EXPECT_EQ(FindGuide(Shipped(), "440000", "GG92000100"), nullptr);
  for (const char* id : {"M01", "M02", "M03"}) EXPECT_TRUE(FindMaterial(*g, id)->key()) << id;
  EXPECT_TRUE(FindMaterial(*g, "M04")->deficiency_allowed());
  const v1::MaterialRequirement* m09 = FindMaterial(*g, "M09");  // Yunnan's extra
  ASSERT_NE(m09, nullptr);
  EXPECT_FALSE(m09->key());
  EXPECT_TRUE(m09->deficiency_allowed());
  EXPECT_EQ(FindMaterial(*FindGuide(Shipped(), "500000", "GG92000100"), "M09"), nullptr);
  EXPECT_EQ(FindGuide(Shipped(), "510000", "GG92000100")->promised_time_limit_days(), 5);
}

TEST(DemoCatalogFixturesTest, E_ProvinceItemsOpenAndNotOpen) {
  EXPECT_EQ(ProvincesImplementing(Shipped(), "XK45000101"), std::set<std::string>{"450000"});
  const v1::Guide* gx = FindGuide(Shipped(), "450000", "XK45000101");
  ASSERT_NE(gx, nullptr);
  EXPECT_EQ(gx->item().name_zh(), "经营性互联网文化单位设立");
  EXPECT_EQ(gx->item().scope(), v1::ITEM_SCOPE_PROVINCE);
  EXPECT_TRUE(gx->item().open_to_other_provinces());

  EXPECT_EQ(ProvincesImplementing(Shipped(), "GG11000100"), std::set<std::string>{"110000"});
  const v1::Guide* bj = FindGuide(Shipped(), "110000", "GG11000100");
  ASSERT_NE(bj, nullptr);
  EXPECT_EQ(bj->item().name_zh(), "北京市工作居住证办理");
  EXPECT_FALSE(bj->item().open_to_other_provinces());
}

TEST(DemoCatalogFixturesTest, F_HainanItemsToAbolish) {
  for (const char* code : {"QT46000100", "XK46000200", "QT46000300"}) {
    EXPECT_EQ(ProvincesImplementing(Shipped(), code), std::set<std::string>{"460000"}) << code;
    const v1::Guide* g = FindGuide(Shipped(), "460000", code);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->status(), v1::ITEM_STATUS_ACTIVE);
    EXPECT_EQ(g->version(), 1);
  }
  EXPECT_EQ(FindGuide(Shipped(), "460000", "QT46000100")->item().name_zh(),
            "对外贸易经营者备案登记（技术进出口）");
}

TEST(DemoCatalogFixturesTest, HunanBirthRegistrationIsOpen) {
  EXPECT_EQ(ProvincesImplementing(Shipped(), "QR43000100"), std::set<std::string>{"430000"});
  const v1::Guide* g = FindGuide(Shipped(), "430000", "QR43000100");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->item().open_to_other_provinces());
}

TEST(DemoCatalogFixturesTest, OtherProvincesRefusingDeficiency) {
  for (const auto& [province, code] :
       std::vector<std::pair<std::string, std::string>>{{"500000", "GG00020600"},
                                                        {"110000", "QR00080100"},
                                                        {"350000", "GG00040101"},
                                                        {"440000", "GG00060100"}}) {
    EXPECT_FALSE(FindGuide(Shipped(), province, code)->deficiency_acceptance()) << province;
    EXPECT_TRUE(FindGuide(Shipped(), "430000", code)->deficiency_acceptance()) << code;
  }
}

TEST(DemoCatalogFixturesTest, JingjinTwoZonesItems) {
  const std::set<std::string> expected = {"110000", "120000"};
  EXPECT_EQ(ProvincesImplementing(Shipped(), "XK94000100"), expected);
  EXPECT_EQ(ProvincesImplementing(Shipped(), "GG94000200"), expected);
  EXPECT_EQ(FindGuide(Shipped(), "120000", "XK94000100")->item().name_zh(), "人力资源服务许可");
}

std::vector<std::string> LicenceTypes(const v1::MaterialRequirement& m) {
  return {m.licence_types().begin(), m.licence_types().end()};
}

// 电子证照 directory (material_licences.tsv): fixture k.
TEST(DemoCatalogFixturesTest, K_SpouseHukouTransferListsHouseholdRegisterAndMarriageCertificate) {
  const std::set<std::string> provinces = ProvincesImplementing(Shipped(), "QR00070104");
  EXPECT_EQ(provinces.size(), 31u);
  for (const std::string& province : provinces) {
    SCOPED_TRACE(province);
    const v1::Guide* g = FindGuide(Shipped(), province, "QR00070104");
    EXPECT_EQ(LicenceTypes(*FindMaterial(*g, "M02")), std::vector<std::string>{"GA01"});
    EXPECT_EQ(LicenceTypes(*FindMaterial(*g, "M03")), std::vector<std::string>{"MZ01"});
    EXPECT_TRUE(FindMaterial(*g, "M01")->licence_types().empty());
    EXPECT_TRUE(FindMaterial(*g, "M04")->licence_types().empty());
  }
  const v1::MaterialRequirement* m09 =
      FindMaterial(*FindGuide(Shipped(), "310000", "QR00070104"), "M09");  // 上海市居住证
  ASSERT_NE(m09, nullptr);
  EXPECT_TRUE(m09->licence_types().empty());
  for (const v1::Guide& g : Shipped().guides) {
    if (g.item().item_code() != "GG00020600") continue;
    for (const v1::MaterialRequirement& m : g.materials()) {
      EXPECT_TRUE(m.licence_types().empty()) << g.province_code() << " " << m.material_id();
    }
  }
}

TEST(DemoCatalogLicencesTest, EveryShippedRowIsInEveryProvincesGuideOfTheItem) {
  struct Row {
    const char* item;
    const char* material;
    const char* type;
  };
  const std::vector<Row> rows = {
      {"QR00070104", "M02", "GA01"}, {"QR00070104", "M03", "MZ01"}, {"QR00070100", "M02", "GA01"},
      {"QR00070101", "M02", "GA01"}, {"QR00070102", "M02", "GA01"}, {"GG00010102", "M02", "GA01"},
      {"GG00030101", "M02", "JY01"}, {"GG00030102", "M02", "JY02"}, {"GG00020100", "M02", "RS02"},
      {"GG00020400", "M02", "JY01"}, {"GG00040102", "M02", "ZR01"}, {"GG00040102", "M04", "MZ01"},
      {"QR00080100", "M02", "ZR01"}, {"XK00000200", "M03", "SC01"}, {"XK00130100", "M03", "GA02"},
      {"GG96000100", "M02", "RS01"}};
  std::map<std::pair<std::string, std::string>, std::string> expected;
  for (const Row& r : rows) expected[{r.item, r.material}] = r.type;
  int listed = 0;
  for (const v1::Guide& g : Shipped().guides) {
    for (const v1::MaterialRequirement& m : g.materials()) {
      auto it = expected.find({g.item().item_code(), m.material_id()});
      SCOPED_TRACE(absl::StrCat(g.province_code(), " ", g.item().item_code(), " ",
                                m.material_id()));
      if (it == expected.end()) {
        EXPECT_TRUE(m.licence_types().empty());
        continue;
      }
      EXPECT_EQ(LicenceTypes(m), std::vector<std::string>{it->second});
      ++listed;
    }
  }
  // Each row in each implementing province: 15 national rows × 31 (QR00070104 is
  // adopted everywhere) and the Yangtze-delta row in its 4 members.
  EXPECT_EQ(ProvincesImplementing(Shipped(), "GG96000100").size(), 4u);
  EXPECT_EQ(listed, 15 * 31 + 4);
  // Zhejiang removes GG00040102's purchase invoice (M03); M02 and M04 keep their types.
  const v1::Guide* zj = FindGuide(Shipped(), "330000", "GG00040102");
  ASSERT_NE(zj, nullptr);
  EXPECT_EQ(FindMaterial(*zj, "M03"), nullptr);
  EXPECT_EQ(LicenceTypes(*FindMaterial(*zj, "M04")), std::vector<std::string>{"MZ01"});
}

// ---------------------------------------------------------------------------
// Overrides and placeholders as shipped.

TEST(ShippedOverridesTest, PlaceholdersExpandPerProvince) {
  EXPECT_EQ(FindGuide(Shipped(), "110000", "JF00020500")->department_zh(),
            "北京市人力资源和社会保障局（失业保险经办机构）");
  EXPECT_EQ(FindGuide(Shipped(), "440000", "JF00020500")->department_zh(),
            "广东省人力资源和社会保障厅（失业保险经办机构）");
  EXPECT_EQ(FindGuide(Shipped(), "650000", "QT00090100")->department_zh(),
            "国家税务总局新疆维吾尔自治区税务局");
  EXPECT_THAT(Conditions(*FindGuide(Shipped(), "520000", "JF92000200")),
              ::testing::Contains("具有贵州省户籍"));
}

TEST(ShippedOverridesTest, FieldOverridesApply) {
  const DemoCatalog& c = Shipped();
  // department_zh
  EXPECT_EQ(FindGuide(c, "110000", "QR00080100")->department_zh(),
            "北京市规划和自然资源委员会（不动产登记事务中心）");
  // conditions replaced, with a placeholder
  EXPECT_THAT(Conditions(*FindGuide(c, "540000", "JF92000200")),
              ::testing::ElementsAre("年满70周岁", "具有西藏自治区户籍"));
  // extra_condition appended
  EXPECT_THAT(Conditions(*FindGuide(c, "110000", "QR00070104")),
              ::testing::Contains(HasSubstr("结婚满10年")));
  EXPECT_THAT(Conditions(*FindGuide(c, "430000", "QR00070104")),
              Not(::testing::Contains(HasSubstr("结婚满10年"))));
  // promised time limit; deficiency off → supplement stored as 0
  const v1::Guide* cq = FindGuide(c, "500000", "GG00020600");
  EXPECT_EQ(cq->promised_time_limit_days(), 1);
  EXPECT_FALSE(cq->deficiency_acceptance());
  EXPECT_EQ(cq->supplement_days(), 0);
  // fee
  EXPECT_EQ(FindGuide(c, "110000", "GG00030101")->fee_fen(), 20000);
  EXPECT_EQ(FindGuide(c, "430000", "GG00030101")->fee_fen(), 10000);
  // remove_material / material_key
  EXPECT_EQ(FindMaterial(*FindGuide(c, "330000", "GG00040102"), "M03"), nullptr);
  EXPECT_TRUE(FindMaterial(*FindGuide(c, "410000", "GG00040102"), "M03")->key());
  EXPECT_FALSE(FindMaterial(*FindGuide(c, "430000", "GG00040102"), "M03")->key());
  // deficiency switched on with a supplement period
  const v1::Guide* sx = FindGuide(c, "610000", "XK00050100");
  EXPECT_TRUE(sx->deficiency_acceptance());
  EXPECT_EQ(sx->supplement_days(), 10);
  EXPECT_FALSE(FindGuide(c, "620000", "XK00050100")->deficiency_acceptance());
}

TEST(ShippedOverridesTest, WildcardAppliesToEveryItemOfTheProvince) {
  const std::string promise = "申请人签署《信用承诺书》，承诺所提交材料真实有效";
  int zhejiang = 0;
  for (const v1::Guide& g : Shipped().guides) {
    if (g.province_code() == "330000") {
      ++zhejiang;
      EXPECT_EQ(Conditions(g).back(), promise) << g.item().item_code();
    } else {
      EXPECT_THAT(Conditions(g), Not(::testing::Contains(promise)));
    }
  }
  EXPECT_GT(zhejiang, 52);  // national + yangtze-delta + central-7p9c
}

TEST(ShippedOverridesTest, ManyProvincesDiffer) {
  // A guide differs from the baseline when it differs from the same item in most provinces;
  // here: count provinces whose guides differ from Hunan's for some shared national item.
  const DemoCatalog& c = Shipped();
  std::set<std::string> differing;
  for (const v1::Guide& g : c.guides) {
    if (g.item().scope() != v1::ITEM_SCOPE_NATIONAL) continue;
    const v1::Guide* hn = FindGuide(c, "430000", g.item().item_code());
    if (hn == nullptr || g.province_code() == "430000") continue;
    if (g.materials_size() != hn->materials_size() ||
        g.promised_time_limit_days() != hn->promised_time_limit_days() ||
        g.deficiency_acceptance() != hn->deficiency_acceptance() || g.fee_fen() != hn->fee_fen() ||
        g.conditions_zh_size() != hn->conditions_zh_size()) {
      differing.insert(g.province_code());
    }
  }
  EXPECT_GE(differing.size(), 12u);
}

// ---------------------------------------------------------------------------
// Broken inputs: a minimal catalog in a temp dir, then one thing broken at a time.

constexpr char kAlliances[] =
    "# test alliances\n"
    "alliance_id\tcode_prefix\tname_zh\tname_en\tsigned\tmembers\n"
    "chuanyu\t98\t川渝通办\tSichuan-Chongqing\t2021-03-08\t510000,500000\n";
constexpr char kItems[] =
    "item_code\tname_zh\tname_en\tministry_zh\tmodes\tscope\talliance_id\towner_province\t"
    "open_to_other_provinces\n"
    "GG00020600\t社会保障卡申领\tApplication for social security card\t人力资源社会保障部\t"
    "ACCEPT_AND_FORWARD,FULLY_ONLINE\tNATIONAL\t\t\t\n"
    "XK98000100\t企业跨区域迁移登记\tCross-region enterprise relocation\t市场监管总局\t"
    "FULLY_ONLINE\tALLIANCE\tchuanyu\t\t\n"
    "QT46000100\t对外贸易经营者备案登记\tForeign trade operator filing\t海南省商务厅\t"
    "FULLY_ONLINE\tPROVINCE\t\t460000\t1\n";
constexpr char kMaterials[] =
    "item_code\tmaterial_id\tname_zh\tname_en\tkey\tdeficiency_allowed\n"
    "GG00020600\tM01\t居民身份证\tResident identity card\t1\t0\n"
    "GG00020600\tM02\t银行账户信息\tBank account\t0\t1\n"
    "XK98000100\tM01\t法定代表人居民身份证\tIdentity card\t1\t0\n"
    "QT46000100\tM01\t营业执照\tBusiness licence\t1\t0\n";
constexpr char kGuides[] =
    "item_code\tconditions_zh\tlegal_time_limit_days\tpromised_time_limit_days\tfee_fen\t"
    "department_zh\tdeficiency_acceptance\tsupplement_days\n"
    "GG00020600\t已参保 | 未持卡\t30\t20\t0\t{province}人力资源和社会保障{厅局}\t1\t10\n"
    "XK98000100\t企业在川渝区域内迁移\t3\t3\t0\t{province}市场监督管理局\t0\t0\n"
    "QT46000100\t从事技术进出口\t5\t1\t0\t海南省商务厅\t0\t0\n";
constexpr char kOverrides[] =
    "province_code\titem_code\tfield\tvalue\twhy\n"
    "# Shanghai asks for more\n"
    "310000\tGG00020600\textra_material\tM09|照片回执|Photo receipt|1|0\tstricter\n";

class BrokenCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("demo_catalog_", info->name(), "_", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Write("alliances.tsv", kAlliances);
    Write("items.tsv", kItems);
    Write("materials.tsv", kMaterials);
    Write("guides.tsv", kGuides);
    Write("province_overrides.tsv", kOverrides);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& file, const std::string& content) {
    std::ofstream(dir_ / file, std::ios::binary | std::ios::trunc) << content;
  }
  // Appends one line to `file`; returns its line number.
  int Append(const std::string& file, const std::string& line) {
    std::ifstream in(dir_ / file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string content = buffer.str();
    const int line_no = static_cast<int>(std::count(content.begin(), content.end(), '\n')) + 1;
    Write(file, content + line + "\n");
    return line_no;
  }
  absl::StatusOr<DemoCatalog> Load() { return LoadDemoCatalog(dir_.string()); }
  // The INVALID_ARGUMENT message of a load expected to fail.
  std::string LoadError() {
    absl::StatusOr<DemoCatalog> c = Load();
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    return std::string(c.status().message());
  }

  std::filesystem::path dir_;
};

TEST_F(BrokenCatalogTest, MinimalCatalogLoads) {
  absl::StatusOr<DemoCatalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->items.size(), 3u);
  EXPECT_EQ(c->guides.size(), 31u + 2u + 1u);
  const v1::Guide* sh = FindGuide(*c, "310000", "GG00020600");
  ASSERT_NE(sh, nullptr);
  EXPECT_EQ(sh->materials_size(), 3);
  EXPECT_EQ(sh->department_zh(), "上海市人力资源和社会保障局");
  EXPECT_EQ(FindGuide(*c, "320000", "GG00020600")->department_zh(), "江苏省人力资源和社会保障厅");
  EXPECT_THAT(Conditions(*sh), ::testing::ElementsAre("已参保", "未持卡"));
}

TEST_F(BrokenCatalogTest, CrlfAndByteOrderMarkAreAccepted) {
  std::string crlf;
  for (char ch : std::string(kItems)) crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
  Write("items.tsv", "\xEF\xBB\xBF" + crlf);
  absl::StatusOr<DemoCatalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->items.size(), 3u);
}

TEST_F(BrokenCatalogTest, BadItemCodeNamesFileAndLine) {
  const int line =
      Append("items.tsv", "XK0001\t坏事项\tBad item\t某部\tFULLY_ONLINE\tNATIONAL\t\t\t");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("items.tsv:", line, ": item_code \"XK0001\"")));
}

TEST_F(BrokenCatalogTest, UnknownItemTypeIsRejected) {
  const int line =
      Append("items.tsv", "ZZ00000100\t坏事项\tBad item\t某部\tFULLY_ONLINE\tNATIONAL\t\t\t");
  EXPECT_THAT(LoadError(),
              HasSubstr(absl::StrCat("items.tsv:", line, ": item_code \"ZZ00000100\": type")));
}

TEST_F(BrokenCatalogTest, CodePrefixMustMatchScope) {
  const int national = Append(
      "items.tsv", "GG45000900\t全国事项\tNational item\t某部\tFULLY_ONLINE\tNATIONAL\t\t\t");
  const int province =
      Append("items.tsv",
             "GG44000900\t省级事项\tProvince item\t某厅\tFULLY_ONLINE\tPROVINCE\t\t450000\t0");
  const int alliance =
      Append("items.tsv",
             "GG97000900\t联盟事项\tAlliance item\t某部\tFULLY_ONLINE\tALLIANCE\tchuanyu\t\t");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr(absl::StrCat("items.tsv:", national, ": item_code")));
  EXPECT_THAT(error, HasSubstr("digits 00"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("items.tsv:", province, ": item_code")));
  EXPECT_THAT(error, HasSubstr("items of province 450000 have digits 45"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("items.tsv:", alliance, ": item_code")));
  EXPECT_THAT(error, HasSubstr("items of alliance chuanyu have digits 98"));
}

TEST_F(BrokenCatalogTest, UnknownAllianceAndModeAndScopeFields) {
  const int line = Append(
      "items.tsv", "GG98000900\t联盟事项\tAlliance item\t某部\tBY_PIGEON\tALLIANCE\tnowhere\t\t");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr(absl::StrCat("items.tsv:", line, ": modes \"BY_PIGEON\"")));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("items.tsv:", line, ": alliance_id \"nowhere\"")));
}

TEST_F(BrokenCatalogTest, UnknownProvinceInOverrides) {
  const int line =
      Append("province_overrides.tsv", "990000\tGG00020600\tpromised_time_limit_days\t5\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": province_code \"990000\"")));
}

TEST_F(BrokenCatalogTest, UnknownProvinceInAllianceMembers) {
  const int line = Append("alliances.tsv", "nowhere-2\t97\t无\tNone\t2021\t110000,990000");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("alliances.tsv:", line, ": members")));
}

TEST_F(BrokenCatalogTest, PromisedGreaterThanLegalInGuides) {
  std::string guides = kGuides;
  guides.replace(guides.find("\t30\t20\t"), 7, "\t30\t40\t");
  Write("guides.tsv", guides);
  EXPECT_THAT(LoadError(), HasSubstr("guides.tsv:2: GG00020600: promised_time_limit_days 40 > "
                                     "legal_time_limit_days 30"));
}

TEST_F(BrokenCatalogTest, PromisedGreaterThanLegalAfterOverride) {
  const int line =
      Append("province_overrides.tsv", "430000\tGG00020600\tpromised_time_limit_days\t31\ttest");
  EXPECT_THAT(LoadError(),
              HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                     ": 430000 GG00020600 after overrides: "
                                     "promised_time_limit_days 31 > legal_time_limit_days 30")));
}

TEST_F(BrokenCatalogTest, DuplicateMaterialId) {
  const int line = Append("materials.tsv", "GG00020600\tM02\t照片\tPhoto\t0\t1");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("materials.tsv:", line,
                                                  ": material_id \"M02\": duplicate material id "
                                                  "of item GG00020600 (first at line 3)")));
}

TEST_F(BrokenCatalogTest, ExtraMaterialClashesWithAnother) {
  const int line = Append("province_overrides.tsv",
                          "310000\tGG00020600\textra_material\tM09|另一材料|Other|0|1\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": 310000 GG00020600: material id M09 is "
                                                  "already used")));
}

TEST_F(BrokenCatalogTest, KeyMaterialCannotBeDeficiencyAllowed) {
  const int line = Append("materials.tsv", "XK98000100\tM02\t股东会决议\tResolution\t1\t1");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("materials.tsv:", line, ": a key material")));
}

TEST_F(BrokenCatalogTest, ItemWithoutKeyMaterial) {
  std::string materials = kMaterials;
  materials.replace(materials.find("营业执照\tBusiness licence\t1"), 31,
                    "营业执照\tBusiness licence\t0");
  Write("materials.tsv", materials);
  EXPECT_THAT(LoadError(), HasSubstr("materials.tsv:5: item QT46000100 has no key material"));
}

TEST_F(BrokenCatalogTest, RemovingTheOnlyDeficiencyMaterialNeedsDeficiencyOff) {
  const int line =
      Append("province_overrides.tsv", "440000\tGG00020600\tremove_material\tM02\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": 440000 GG00020600 after overrides: "
                                                  "deficiency_acceptance = 1 but no material")));
  Append("province_overrides.tsv", "440000\tGG00020600\tdeficiency_acceptance\t0\ttest");
  absl::StatusOr<DemoCatalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(FindGuide(*c, "440000", "GG00020600")->supplement_days(), 0);
}

TEST_F(BrokenCatalogTest, OverrideOfItemTheProvinceDoesNotImplement) {
  const int line =
      Append("province_overrides.tsv", "440000\tXK98000100\tpromised_time_limit_days\t1\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": province 440000 does not implement "
                                                  "XK98000100 (not a member of chuanyu)")));
}

TEST_F(BrokenCatalogTest, NotAdoptedItemCannotBeOverridden) {
  const int adopted = Append("province_overrides.tsv", "630000\tGG00020600\tadopted\t0\ttest");
  absl::StatusOr<DemoCatalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(FindGuide(*c, "630000", "GG00020600"), nullptr);
  EXPECT_EQ(c->guides.size(), 33u);

  const int line = Append("province_overrides.tsv", "630000\tGG00020600\tfee_fen\t100\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": province 630000 does not adopt GG00020600 "
                                                  "(adopted = 0 at line ",
                                                  adopted, ")")));
}

TEST_F(BrokenCatalogTest, WildcardOnlyForSomeFields) {
  const int line = Append("province_overrides.tsv", "110000\t*\tremove_material\tM01\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": item_code \"*\": * cannot be used")));
}

TEST_F(BrokenCatalogTest, OverrideNeedsAReason) {
  const int line = Append("province_overrides.tsv", "110000\tGG00020600\tfee_fen\t100\t");
  EXPECT_THAT(LoadError(),
              HasSubstr(absl::StrCat("province_overrides.tsv:", line, ": why \"\": must not")));
}

TEST_F(BrokenCatalogTest, UnknownPlaceholder) {
  const int line =
      Append("province_overrides.tsv", "110000\tGG00020600\tdepartment_zh\t{city}人社局\ttest");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("province_overrides.tsv:", line,
                                                  ": value \"{city}人社局\": unknown "
                                                  "placeholder {city}")));
}

TEST_F(BrokenCatalogTest, InvalidUtf8) {
  const int line =
      Append("items.tsv", "GG00020700\t\xff\xfe\tBad\t某部\tFULLY_ONLINE\tNATIONAL\t\t\t");
  EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat("items.tsv:", line, ": not valid UTF-8")));
}

TEST_F(BrokenCatalogTest, WrongHeaderAndExtraColumns) {
  Write("guides.tsv", "item_code\tconditions\n");
  const int line = Append("alliances.tsv", "x-2\t96\t甲\tA\t2021\t110000,120000\textra");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr("guides.tsv:1: header must be \"item_code<TAB>conditions_zh"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("alliances.tsv:", line, ": 7 columns, expected 6")));
}

TEST_F(BrokenCatalogTest, AllProblemsAreReportedTogether) {
  const int a = Append("materials.tsv", "GG00020600\tM01\t重复\tDup\t1\t0");
  const int b = Append("province_overrides.tsv", "110000\tGG00020600\tfee_fen\t-1\ttest");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr("is invalid (2 problems)"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("materials.tsv:", a, ":")));
  EXPECT_THAT(error, HasSubstr(absl::StrCat("province_overrides.tsv:", b, ": value \"-1\"")));
}

// material_licences.tsv: optional; its types are set on the material in every
// province's guide of the item.
TEST_F(BrokenCatalogTest, MaterialLicencesApplyToEveryProvincesGuide) {
  absl::StatusOr<DemoCatalog> without = Load();
  ASSERT_TRUE(without.ok()) << without.status();
  for (const v1::Guide& g : without->guides) {
    for (const v1::MaterialRequirement& m : g.materials()) EXPECT_TRUE(m.licence_types().empty());
  }
  Append("materials.tsv", "GG00020600\tM03\t照片\tPhoto\t0\t1");
  Append("province_overrides.tsv", "430000\tGG00020600\tremove_material\tM02\twaived");
  Write("material_licences.tsv",
        "# test\r\n"
        "item_code\tmaterial_id\tlicence_types\r\n"
        "GG00020600\tM02\tRS01, GA01\r\n"
        "QT46000100\tM01\tSC01\r\n");
  absl::StatusOr<DemoCatalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  int guides = 0;
  for (const v1::Guide& g : c->guides) {
    if (g.item().item_code() != "GG00020600") continue;
    ++guides;
    SCOPED_TRACE(g.province_code());
    const v1::MaterialRequirement* m02 = FindMaterial(g, "M02");
    if (g.province_code() == "430000") {
      EXPECT_EQ(m02, nullptr);  // removed by the override, its types with it
    } else {
      ASSERT_NE(m02, nullptr);
      EXPECT_EQ(LicenceTypes(*m02), (std::vector<std::string>{"RS01", "GA01"}));
    }
    EXPECT_TRUE(FindMaterial(g, "M01")->licence_types().empty());
    EXPECT_TRUE(FindMaterial(g, "M03")->licence_types().empty());
  }
  EXPECT_EQ(guides, 31);
  const v1::MaterialRequirement* m09 = FindMaterial(*FindGuide(*c, "310000", "GG00020600"), "M09");
  ASSERT_NE(m09, nullptr);  // Shanghai's extra material lists none
  EXPECT_TRUE(m09->licence_types().empty());
  EXPECT_EQ(LicenceTypes(*FindMaterial(*FindGuide(*c, "460000", "QT46000100"), "M01")),
            std::vector<std::string>{"SC01"});
}

TEST_F(BrokenCatalogTest, MaterialLicencesBadRowsNameFileAndLine) {
  Write("material_licences.tsv", "item_code\tmaterial_id\tlicence_types\n");
  const int good = Append("material_licences.tsv", "GG00020600\tM02\tRS01");
  const int unknown_item = Append("material_licences.tsv", "GG00029999\tM01\tGA01");
  const int unknown_material = Append("material_licences.tsv", "GG00020600\tM07\tGA01");
  const int baseline_only = Append("material_licences.tsv", "GG00020600\tM09\tRS01");
  const int unknown_type = Append("material_licences.tsv", "XK98000100\tM01\tGA01,XX01");
  const int twice = Append("material_licences.tsv", "QT46000100\tM01\tSC01,SC01");
  const int duplicate = Append("material_licences.tsv", "GG00020600\tM02\tGA01");
  const int empty = Append("material_licences.tsv", "GG00020600\tM01\t");
  const std::string error = LoadError();
  const auto at = [](int line) { return absl::StrCat("material_licences.tsv:", line, ": "); };
  EXPECT_THAT(error, Not(HasSubstr(at(good))));
  EXPECT_THAT(error, HasSubstr(at(unknown_item) +
                               "item_code \"GG00029999\": is not an item of items.tsv"));
  EXPECT_THAT(error, HasSubstr(at(unknown_material) +
                               "material_id \"M07\": is not a material of GG00020600 in "
                               "materials.tsv"));
  EXPECT_THAT(error, HasSubstr(at(baseline_only) + "material_id \"M09\": is not a material"));
  EXPECT_THAT(error, HasSubstr(at(unknown_type) +
                               "licence_types \"GA01,XX01\": XX01 is not a licence type of "
                               "common/licence_types.tsv"));
  EXPECT_THAT(error, HasSubstr(at(twice) + "licence_types \"SC01,SC01\": SC01 is listed twice"));
  EXPECT_THAT(error, HasSubstr(absl::StrCat(at(duplicate),
                                            "material_id \"M02\": is already listed for "
                                            "GG00020600 at line ",
                                            good)));
  EXPECT_THAT(error, HasSubstr(at(empty) + "licence_types \"\": must name at least one"));
  EXPECT_THAT(error, HasSubstr("(7 problems)"));
}

TEST_F(BrokenCatalogTest, MaterialLicencesWrongHeader) {
  Write("material_licences.tsv", "item_code\tmaterial\tlicence_types\nGG00020600\tM02\tRS01\n");
  EXPECT_THAT(LoadError(), HasSubstr("material_licences.tsv:1: header must be "
                                     "\"item_code<TAB>material_id<TAB>licence_types\""));
}

TEST_F(BrokenCatalogTest, MissingFileIsNotFound) {
  std::filesystem::remove(dir_ / "guides.tsv");
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Seeding into a store.

class FakeCatalogStore final : public CatalogStore {
 public:
  absl::StatusOr<bool> IsEmpty() override {
    if (!is_empty_error.ok()) return is_empty_error;
    return guides.empty();
  }
  absl::StatusOr<std::vector<v1::Guide>> ListGuides(const GuideFilter&, const std::string&,
                                                    int) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<ScoredGuide>> ScoreGuides(const GuideFilter&,
                                                       const GuideScorer&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<v1::Guide> GetGuide(const std::string&, const std::string&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status PutGuides(const std::vector<v1::Guide>& g) override {
    ++put_guides_calls;
    guides.insert(guides.end(), g.begin(), g.end());
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Guide> AmendGuide(const v1::Guide&, int64_t, int64_t) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<CatalogCounts> Counts(const std::string&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status PutAlliances(const std::vector<v1::Alliance>& a) override {
    alliances = a;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::Alliance>> ListAlliances() override { return alliances; }

  absl::Status is_empty_error = absl::OkStatus();
  std::vector<v1::Guide> guides;
  std::vector<v1::Alliance> alliances;
  int put_guides_calls = 0;
};

TEST(SeedDemoCatalogTest, SeedsAnEmptyStoreOnce) {
  FakeCatalogStore store;
  std::string summary;
  ASSERT_TRUE(SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, store, &summary).ok());
  EXPECT_EQ(store.guides.size(), Shipped().guides.size());
  EXPECT_EQ(store.alliances.size(), 9u);
  EXPECT_EQ(summary, absl::StrCat("seeded ", Shipped().guides.size(),
                                  " guides of 31 provinces, 9 alliances"));

  ASSERT_TRUE(SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, store, &summary).ok());
  EXPECT_EQ(store.put_guides_calls, 1);
  EXPECT_EQ(store.guides.size(), Shipped().guides.size());
  EXPECT_THAT(summary, HasSubstr("not seeded"));
}

TEST(SeedDemoCatalogTest, LeavesANonEmptyStoreAlone) {
  FakeCatalogStore store;
  store.guides.push_back(Shipped().guides.front());
  ASSERT_TRUE(SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, store, nullptr).ok());
  EXPECT_EQ(store.put_guides_calls, 0);
  EXPECT_TRUE(store.alliances.empty());
}

TEST(SeedDemoCatalogTest, StoreErrorsAndBadCatalogsSeedNothing) {
  FakeCatalogStore failing;
  failing.is_empty_error = absl::UnavailableError("disk");
  EXPECT_EQ(SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, failing, nullptr).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(failing.put_guides_calls, 0);

  FakeCatalogStore store;
  EXPECT_EQ(SeedDemoCatalogIfEmpty("/nonexistent/demo_catalog", store, nullptr).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store.put_guides_calls, 0);
  EXPECT_TRUE(store.alliances.empty());
}

}  // namespace
}  // namespace tongban::node
