// Resident identity card numbers (GB 11643-1999, ISO 7064 MOD 11-2).
#include "resident_id.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

TEST(ResidentIdTest, CheckCharactersOfThePublishedExamples) {
  // The two examples printed in GB 11643-1999.
  EXPECT_EQ(ResidentIdCheckChar("11010519491231002"), 'X');
  EXPECT_EQ(ResidentIdCheckChar("44052418800101001"), '4');
  EXPECT_EQ(MakeResidentId("11010519491231002"), "11010519491231002X");
  EXPECT_EQ(MakeResidentId("44052418800101001"), "440524188001010014");
  EXPECT_TRUE(ValidateResidentId("applicant_id_number", "11010519491231002X").ok());
  EXPECT_TRUE(ValidateResidentId("applicant_id_number", "440524188001010014").ok());
}

TEST(ResidentIdTest, EveryCheckCharacter) {
  // One number for each of the 11 check characters (computed independently).
  for (const char* id :
       {"440305199001053050", "110105194912335171", "110105194912324712", "510107198506164683",
        "310115197811007914", "440305199001087795", "310115197811014866", "650102196902211867",
        "510107198506107638", "110105194912315429", "11010519491233622X"}) {
    const std::string s = id;
    EXPECT_EQ(ResidentIdCheckChar(s.substr(0, 17)), s[17]) << s;
    EXPECT_EQ(MakeResidentId(s.substr(0, 17)), s);
    EXPECT_TRUE(ValidateResidentId("id", s).ok()) << s;
  }
}

TEST(ResidentIdTest, MadeIdsAreValid) {
  // Vary every digit position so each weight takes part.
  for (int i = 0; i < 500; ++i) {
    std::string first17 = "44030519900101";
    const int n = i * 7919 % 1000;
    first17 += std::to_string(100 + n % 900).substr(0, 3);
    first17[6 + i % 8] = static_cast<char>('0' + i % 10);
    ASSERT_EQ(first17.size(), 17u);
    const std::string id = MakeResidentId(first17);
    ASSERT_EQ(id.size(), 18u);
    EXPECT_EQ(id.substr(0, 17), first17);
    EXPECT_TRUE(ValidateResidentId("id", id).ok()) << id;
  }
}

TEST(ResidentIdTest, FlippedCheckCharacterIsRefusedGivingTheRightOne) {
  const std::string good = MakeResidentId("44052418800101001");  // ends in 4
  for (char wrong : std::string("0123567899X")) {
    if (wrong == good[17]) continue;
    std::string bad = good;
    bad[17] = wrong;
    absl::Status s = ValidateResidentId("applicant_id_number", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("applicant_id_number"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("should be 4"));
  }
}

TEST(ResidentIdTest, XCheckCharacter) {
  // A digit where X belongs is refused, and the message says X.
  absl::Status s = ValidateResidentId("applicant_id_number", "110105194912310021");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("should be X"));
  // X where a digit belongs is refused too.
  s = ValidateResidentId("applicant_id_number", "44052418800101001X");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("should be 4"));
  // The standard writes an upper-case X.
  s = ValidateResidentId("applicant_id_number", "11010519491231002x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("applicant_id_number"));
}

TEST(ResidentIdTest, ChangedDigitIsCaught) {
  // MOD 11-2 catches every single-digit change.
  const std::string good = "11010519491231002X";
  for (size_t pos = 0; pos < 17; ++pos) {
    std::string bad = good;
    bad[pos] = bad[pos] == '9' ? '0' : static_cast<char>(bad[pos] + 1);
    EXPECT_FALSE(ValidateResidentId("id", bad).ok()) << bad;
  }
}

TEST(ResidentIdTest, WrongShapeIsRefusedNamingTheField) {
  for (const std::string& bad :
       {std::string(""), std::string("11010519491231002"), std::string("11010519491231002X0"),
        std::string("1101051949123100X2"), std::string("A1010519491231002X"),
        std::string("110105 19491231002X"), std::string("11010519491231002Y"),
        std::string("１１010519491231002X")}) {
    absl::Status s = ValidateResidentId("applicant_id_number", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("applicant_id_number"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("18"));
  }
}

}  // namespace
}  // namespace tongban
