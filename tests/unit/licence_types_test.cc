// common/licence_types: the shipped national licence type list, the TSV
// parser's refusals, holder id forms (resident id, unified social credit code).
#include "licence_types.h"

#include <set>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resident_id.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

MATCHER_P(InvalidWith, text, "") {
  return arg.code() == absl::StatusCode::kInvalidArgument &&
         ::testing::Matches(HasSubstr(text))(std::string(arg.message()));
}

constexpr char kHeader[] = "type_code\tname_zh\tname_en\tholder_kind\tministry_zh\n";

TEST(NationalLicenceTypesTest, ParsesAndHoldsTheCommonTypes) {
  const LicenceTypeList& list = LicenceTypeList::National();
  ASSERT_GE(list.all().size(), 11u);
  struct Expected {
    const char* code;
    const char* name_zh;
    const char* name_en;
    v1::HolderKind kind;
    const char* ministry_zh;
  } expected[] = {
      {"MZ01", "结婚证", "Marriage certificate", v1::HOLDER_KIND_PERSON, "民政部"},
      {"MZ02", "离婚证", "Divorce certificate", v1::HOLDER_KIND_PERSON, "民政部"},
      {"GA01", "居民户口簿", "Household register", v1::HOLDER_KIND_PERSON, "公安部"},
      {"GA02", "机动车驾驶证", "Driving licence", v1::HOLDER_KIND_PERSON, "公安部"},
      {"JY01", "学历证书", "Academic diploma", v1::HOLDER_KIND_PERSON, "教育部"},
      {"JY02", "学位证书", "Degree certificate", v1::HOLDER_KIND_PERSON, "教育部"},
      {"ZR01", "不动产权证书", "Real estate title certificate", v1::HOLDER_KIND_PERSON,
       "自然资源部"},
      {"SC01", "营业执照", "Business licence", v1::HOLDER_KIND_ORGANIZATION, "市场监管总局"},
      {"RS01", "社会保障卡", "Social security card", v1::HOLDER_KIND_PERSON, "人力资源社会保障部"},
      {"RS02", "职业资格证书", "Vocational qualification certificate", v1::HOLDER_KIND_PERSON,
       "人力资源社会保障部"},
      {"WJ01", "出生医学证明", "Medical birth certificate", v1::HOLDER_KIND_PERSON,
       "国家卫生健康委"},
  };
  for (const Expected& e : expected) {
    const v1::LicenceType* t = list.Find(e.code);
    ASSERT_NE(t, nullptr) << e.code;
    EXPECT_EQ(t->type_code(), e.code);
    EXPECT_EQ(t->name_zh(), e.name_zh) << e.code;
    EXPECT_EQ(t->name_en(), e.name_en) << e.code;
    EXPECT_EQ(t->holder_kind(), e.kind) << e.code;
    EXPECT_EQ(t->ministry_zh(), e.ministry_zh) << e.code;
  }
  EXPECT_EQ(list.Find("XX99"), nullptr);
  EXPECT_EQ(list.Find("mz01"), nullptr);
  EXPECT_EQ(list.Find(""), nullptr);
  // Sorted by code, codes unique; the same object every time.
  for (size_t i = 1; i < list.all().size(); ++i) {
    EXPECT_LT(list.all()[i - 1].type_code(), list.all()[i].type_code());
  }
  EXPECT_EQ(&LicenceTypeList::National(), &list);
}

TEST(LicenceTypeListTest, ParsesCommentsBlankLinesCrlfAndBom) {
  auto list =
      LicenceTypeList::Parse("\xEF\xBB\xBF# comment\n\n" + std::string(kHeader) +
                             "# 民政部\r\nMZ02\t离婚证\tDivorce certificate\tperson\t民政部\r\n\n"
                             "SC01\t营业执照\tBusiness licence\torganization\t市场监管总局\n"
                             "MZ01\t结婚证\tMarriage certificate\tperson\t民政部");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->all().size(), 3u);
  EXPECT_EQ(list->all()[0].type_code(), "MZ01");
  EXPECT_EQ(list->all()[1].type_code(), "MZ02");
  EXPECT_EQ(list->all()[2].type_code(), "SC01");
  ASSERT_NE(list->Find("SC01"), nullptr);
  EXPECT_EQ(list->Find("SC01")->holder_kind(), v1::HOLDER_KIND_ORGANIZATION);
  EXPECT_EQ(list->Find("MZ02")->ministry_zh(), "民政部");
}

TEST(LicenceTypeListTest, RefusesMalformedLinesNamingTheLine) {
  struct Case {
    std::string body;  // after the header, which is line 2
    std::string message;
  } cases[] = {
      {"mz01\t结婚证\tMarriage certificate\tperson\t民政部\n", "line 3: type code \"mz01\""},
      {"MZ1\t结婚证\tMarriage certificate\tperson\t民政部\n", "line 3: type code \"MZ1\""},
      {"MZ001\t结婚证\tMarriage certificate\tperson\t民政部\n", "line 3: type code"},
      {"M101\t结婚证\tMarriage certificate\tperson\t民政部\n", "line 3: type code"},
      {"MZ01\t结婚证\tMarriage certificate\tperson\t民政部\n\n"
       "MZ01\t离婚证\tDivorce certificate\tperson\t民政部\n",
       "line 5: type code MZ01 is listed twice (first on line 3)"},
      {"MZ01\t结婚证\tMarriage certificate\tcitizen\t民政部\n",
       "line 3: holder kind \"citizen\" is neither person nor organization"},
      {"MZ01\t结婚证\tMarriage certificate\t\t民政部\n", "line 3: holder kind"},
      {"MZ01\t\tMarriage certificate\tperson\t民政部\n", "line 3: name_zh is empty"},
      {"MZ01\t结婚证\t \tperson\t民政部\n", "line 3: name_en is empty"},
      {"MZ01\t结婚证\tMarriage certificate\tperson\t\n", "line 3: ministry_zh is empty"},
      {"MZ01\t结婚证\tMarriage certificate\tperson\n", "line 3: 4 cells, a type has 5"},
      {"MZ01 结婚证 Marriage certificate person 民政部\n", "line 3: 1 cell, a type has 5"},
      {"MZ01\t结婚证\tMarriage\tcertificate\tperson\t民政部\n", "line 3: 6 cells"},
  };
  for (const Case& c : cases) {
    auto list = LicenceTypeList::Parse("# list\n" + std::string(kHeader) + c.body);
    EXPECT_THAT(list.status(), InvalidWith(c.message)) << c.body;
  }
  // Header missing or wrong.
  EXPECT_THAT(
      LicenceTypeList::Parse("MZ01\t结婚证\tMarriage certificate\tperson\t民政部\n").status(),
      InvalidWith("line 1: the header must be"));
  EXPECT_THAT(LicenceTypeList::Parse("# only comments\n\n").status(),
              InvalidWith("no header line"));
  // Every problem is reported, each with its line.
  auto many = LicenceTypeList::Parse(std::string(kHeader) +
                                     "MZ01\t结婚证\tMarriage certificate\tperson\t民政部\n"
                                     "XX\t?\t?\tperson\t?\n"
                                     "GA01\t居民户口簿\tHousehold register\tnobody\t公安部\n");
  EXPECT_THAT(many.status(), InvalidWith("(2 problems)"));
  EXPECT_THAT(many.status(), InvalidWith("line 3: type code \"XX\""));
  EXPECT_THAT(many.status(), InvalidWith("line 4: holder kind \"nobody\""));
}

TEST(HolderIdTest, PersonsHaveResidentIdNumbers) {
  EXPECT_TRUE(ValidateHolderId("holder_id", v1::HOLDER_KIND_PERSON, "11010519491231002X").ok());
  EXPECT_TRUE(
      ValidateHolderId("holder_id", v1::HOLDER_KIND_PERSON, MakeResidentId("51010719900101123"))
          .ok());
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_PERSON, "110105194912310021"),
              InvalidWith("holder_id has a wrong check character"));
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_PERSON, "1101051949123100"),
              InvalidWith("holder_id must be an 18-character resident id number"));
  // A credit code is not a person's id.
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_PERSON, "91350100M000100Y43"),
              InvalidWith("holder_id"));
}

TEST(HolderIdTest, OrganisationsHaveUnifiedSocialCreditCodes) {
  for (const char* good : {"91350100M000100Y43", "91110000600037341L", "91440300708461136T"}) {
    EXPECT_TRUE(ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, good).ok()) << good;
    EXPECT_TRUE(ValidateCreditCode("holder_id", good).ok()) << good;
  }
  EXPECT_EQ(CreditCodeCheckChar("91350100M000100Y4"), '3');
  // A wrong check character, naming the right one.
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, "91350100M000100Y44"),
              InvalidWith("holder_id has a wrong check character: the last character of this "
                          "code should be 3"));
  // One character changed in the body.
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, "91350100M000200Y43"),
              InvalidWith("wrong check character"));
  // Length, and characters outside the alphabet (I O S V Z, lower case).
  for (const char* bad : {"91350100M000100Y4", "91350100M000100Y433", "", "91350100I000100Y43",
                          "91350100O000100Y43", "91350100S000100Y43", "91350100V000100Y43",
                          "91350100Z000100Y43", "91350100m000100y43", "91350100M000100Y4 "}) {
    EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, bad),
                InvalidWith("holder_id must be an 18-character unified social credit code"))
        << bad;
  }
  // A resident id is not an organisation's code (it may pass the alphabet,
  // not the check character: here it does not).
  EXPECT_FALSE(
      ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, "11010519491231002X").ok());
  EXPECT_EQ(CreditCodeCheckChar("9135010"), '\0');
  EXPECT_EQ(CreditCodeCheckChar("91350100I000100Y4"), '\0');
}

TEST(HolderIdTest, EveryCheckCharacterIsReachable) {
  // Vary the last body character: each check character of the alphabet comes up.
  std::set<char> seen;
  const std::string alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  for (char a : alphabet) {
    for (char b : alphabet) {
      std::string first17 = std::string("91350100M0001") + a + b + "Y4";
      char check = CreditCodeCheckChar(first17);
      ASSERT_NE(check, '\0');
      seen.insert(check);
      EXPECT_TRUE(ValidateCreditCode("code", first17 + check).ok()) << first17 << check;
    }
  }
  EXPECT_EQ(seen.size(), alphabet.size());
}

TEST(LicenceTypeListTest, TakesBothStringViewKinds) {
  // absl::string_view and std::string_view are distinct types in this Abseil
  // build; callers of either kind (and std::string, literals) compile.
  const LicenceTypeList& list = LicenceTypeList::National();
  const std::string code = "MZ01";
  EXPECT_NE(list.Find(code), nullptr);
  EXPECT_NE(list.Find("MZ01"), nullptr);
  EXPECT_NE(list.Find(std::string_view(code)), nullptr);
  EXPECT_NE(list.Find(absl::string_view(code)), nullptr);
  const std::string id = "91350100M000100Y43";
  EXPECT_TRUE(ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, id).ok());
  EXPECT_TRUE(
      ValidateHolderId("holder_id", v1::HOLDER_KIND_ORGANIZATION, absl::string_view(id)).ok());
  EXPECT_TRUE(
      ValidateHolderId(absl::string_view("holder_id"), v1::HOLDER_KIND_ORGANIZATION, id).ok());
  EXPECT_TRUE(ValidateHolderId(std::string_view("holder_id"), v1::HOLDER_KIND_ORGANIZATION,
                               absl::string_view(id))
                  .ok());
  EXPECT_THAT(ValidateCreditCode(absl::string_view("code"), "91350100M000100Y44"),
              InvalidWith("code has a wrong check character"));
}

TEST(HolderIdTest, UnspecifiedKindIsRefused) {
  EXPECT_THAT(ValidateHolderId("holder_id", v1::HOLDER_KIND_UNSPECIFIED, "11010519491231002X"),
              InvalidWith("holder_id"));
  EXPECT_THAT(ValidateHolderId("holder_id", static_cast<v1::HolderKind>(7), "91350100M000100Y43"),
              InvalidWith("holder_id"));
}

}  // namespace
}  // namespace tongban
