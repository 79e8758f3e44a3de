// Field validation at the edge: what passes, what is refused, and that every
// refusal is INVALID_ARGUMENT naming the field.
#include "input_validation.h"

#include <cctype>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "province_registry.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

// Asserts INVALID_ARGUMENT with `field` in the message.
void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(field));
}

// ---- Province codes ----

TEST(ProvinceCodeTest, AllThirtyOneProvincesAreValid) {
  const std::vector<std::string> codes = {
      "110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000",
      "310000", "320000", "330000", "340000", "350000", "360000", "370000", "410000",
      "420000", "430000", "440000", "450000", "460000", "500000", "510000", "520000",
      "530000", "540000", "610000", "620000", "630000", "640000", "650000"};
  ASSERT_EQ(codes.size(), 31u);
  for (const std::string& c : codes) {
    EXPECT_TRUE(ValidateProvinceCode("province", c).ok()) << c;
    ASSERT_NE(FindProvince(c), nullptr) << c;
  }
  ASSERT_EQ(AllProvinces().size(), 31u);
  for (const Province& p : AllProvinces()) {
    EXPECT_TRUE(ValidateProvinceCode("province", p.code).ok()) << p.code;
  }
  EXPECT_EQ(FindProvince("440000")->name_zh, "广东省");
}

TEST(ProvinceCodeTest, OthersAreRefusedNamingTheField) {
  for (const char* bad : {"440001", "44000", "4400000", "440100", "990000", "710000", "810000",
                          "000000", "abcdef", " 440000", "440000 "}) {
    SCOPED_TRACE(bad);
    ExpectInvalid(ValidateProvinceCode("handling_province", bad), "handling_province");
    EXPECT_THAT(std::string(ValidateProvinceCode("handling_province", bad).message()),
                HasSubstr(bad));
  }
}

TEST(ProvinceCodeTest, EmptyIsRequired) {
  absl::Status s = ValidateProvinceCode("accepting_province", "");
  ExpectInvalid(s, "accepting_province");
  EXPECT_THAT(std::string(s.message()), HasSubstr("required"));
}

// ---- Item codes ----

TEST(ItemCodeTest, AllSevenTypesWithEightDigitsAreValid) {
  for (const char* type : {"XK", "JF", "QR", "CJ", "JL", "QT", "GG"}) {
    const std::string code = std::string(type) + "00000014";
    EXPECT_TRUE(ValidateItemCode("item_code", code).ok()) << code;
  }
  EXPECT_TRUE(ValidateItemCode("item_code", "XK44000001").ok());
  EXPECT_TRUE(ValidateItemCode("item_code", "GG95000001").ok());
}

TEST(ItemCodeTest, MalformedAreRefusedNamingTheField) {
  for (const char* bad :
       {"", "GG", "GG0000001", "GG000000140", "gg00000014", "XX00000014", "AB00000014",
        "GG0000001A", "GG-0000001", "0000000014", "GG 0000001", "ＧＧ00000014"}) {
    SCOPED_TRACE(bad);
    ExpectInvalid(ValidateItemCode("item_code", bad), "item_code");
  }
}

// ---- Material ids ----

TEST(MaterialIdTest, MAndTwoDigits) {
  EXPECT_TRUE(ValidateMaterialId("materials[0]", "M01").ok());
  EXPECT_TRUE(ValidateMaterialId("materials[0]", "M99").ok());
  EXPECT_TRUE(ValidateMaterialId("materials[0]", "M00").ok());
  for (const char* bad : {"", "M", "M1", "M001", "m01", "N01", "M0A", "MAA", "01", " M01"}) {
    SCOPED_TRACE(bad);
    ExpectInvalid(ValidateMaterialId("materials[3]", bad), "materials[3]");
  }
}

// ---- UTF-8 text ----

TEST(Utf8Test, CountsCodePointsNotBytes) {
  EXPECT_EQ(Utf8Length(""), 0);
  EXPECT_EQ(Utf8Length("abc"), 3);
  EXPECT_EQ(Utf8Length("张三"), 2);
  EXPECT_EQ(std::string("张三").size(), 6u);
  EXPECT_EQ(Utf8Length("广东省 Guangdong"), 13);
  EXPECT_EQ(Utf8Length("é"), 1);                 // 2 bytes
  EXPECT_EQ(Utf8Length("\xF0\x9F\x98\x80"), 1);  // U+1F600, 4 bytes
  EXPECT_EQ(Utf8Length("\xF4\x8F\xBF\xBF"), 1);  // U+10FFFF, the last code point
}

TEST(Utf8Test, MalformedIsMinusOne) {
  const std::vector<std::string> bad = {
      "\xC0\xAF",                            // overlong '/'
      "\xC1\xBF",                            // overlong
      "\xE0\x80\xAF",                        // overlong 3-byte
      "\xF0\x80\x80\xAF",                    // overlong 4-byte
      "\xED\xA0\x80",                        // surrogate U+D800
      "\xED\xBF\xBF",                        // surrogate U+DFFF
      "\xF4\x90\x80\x80",                    // past U+10FFFF
      "\xE5\xBC",                            // truncated 张
      "\xE5",                                // truncated at the lead byte
      "\xF0\x9F\x98",                        // truncated 4-byte
      "\x80",                                // lone continuation byte
      "\xFF",                                // never valid
      "\xFE",                                // never valid
      "\xE5\x41\xA0",                        // continuation replaced by ASCII
      std::string("\xE5\xBC\xA0") + "\xE4",  // valid then truncated
  };
  for (const std::string& s : bad) {
    EXPECT_EQ(Utf8Length(s), -1) << ::testing::PrintToString(s);
  }
}

TEST(ValidateTextTest, ChineseIsMeasuredInCharacters) {
  EXPECT_TRUE(ValidateText("applicant_name", "张三", 2, true).ok());
  absl::Status s = ValidateText("applicant_name", "张三丰", 2, true);
  ExpectInvalid(s, "applicant_name");
  EXPECT_THAT(std::string(s.message()), HasSubstr("3 characters"));
  // 64 Chinese characters are 192 bytes and still fit a 64-character limit.
  std::string sixty_four;
  for (int i = 0; i < 64; ++i) sixty_four += "张";
  EXPECT_TRUE(ValidateText("note", sixty_four, 64, true).ok());
  ExpectInvalid(ValidateText("note", sixty_four + "三", 64, true), "note");
}

TEST(ValidateTextTest, MalformedUtf8IsRefused) {
  for (const std::string& bad : {std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
                                 std::string("张\xE4\xB8"), std::string("ok\xFF")}) {
    absl::Status s = ValidateText("note", bad, 100, false);
    ExpectInvalid(s, "note");
    EXPECT_THAT(std::string(s.message()), HasSubstr("UTF-8"));
  }
}

TEST(ValidateTextTest, ControlCharactersAreRefusedExceptNewlineAndTab) {
  for (const std::string& bad : {std::string("a\x01"), std::string("a\rb"), std::string("\x1B[31m"),
                                 std::string("a\x7F"), std::string("nul\0x", 5)}) {
    absl::Status s = ValidateText("note", bad, 100, false);
    ExpectInvalid(s, "note");
    EXPECT_THAT(std::string(s.message()), HasSubstr("control")) << ::testing::PrintToString(bad);
  }
  EXPECT_TRUE(ValidateText("note", "第一行\n第二行\t结束", 100, false).ok());
}

// C1 controls U+0080..U+009F (e.g. U+0085 NEL, U+009B CSI) are control
// characters too, though they are well-formed UTF-8.
TEST(ValidateTextTest, C1ControlCharactersAreRefused) {
  for (const std::string& bad : {std::string("a\xC2\x85"
                                             "b"),
                                 std::string("\xC2\x9B"
                                             "31m"),
                                 std::string("\xC2\x80")}) {
    ExpectInvalid(ValidateText("note", bad, 100, false), "note");
  }
}

TEST(ValidateTextTest, RequiredAndOptional) {
  absl::Status s = ValidateText("applicant_name", "", 10, true);
  ExpectInvalid(s, "applicant_name");
  EXPECT_THAT(std::string(s.message()), HasSubstr("required"));
  EXPECT_TRUE(ValidateText("note", "", 10, false).ok());
}

// ---- Idempotency keys ----

TEST(IdempotencyKeyTest, EightToSixtyFourSafeCharacters) {
  EXPECT_TRUE(ValidateIdempotencyKey("request_id", "abcdefgh").ok());
  EXPECT_TRUE(ValidateIdempotencyKey("request_id", std::string(64, 'Z')).ok());
  EXPECT_TRUE(ValidateIdempotencyKey("request_id", "123e4567-e89b-12d3-a456-426614174000").ok());
  EXPECT_TRUE(ValidateIdempotencyKey("request_id", "key_0001-A").ok());
  for (const std::string& bad :
       {std::string(""), std::string("abcdefg"), std::string(65, 'a'), std::string("abc defgh"),
        std::string("abcdefgh!"), std::string("abcd/efgh"), std::string("张三张三张三张三"),
        std::string("abcdefgh\n")}) {
    ExpectInvalid(ValidateIdempotencyKey("request_id", bad), "request_id");
  }
}

// ---- SHA-256 ----

TEST(Sha256HexTest, SixtyFourLowercaseHex) {
  const std::string empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_TRUE(ValidateSha256Hex("materials[0].sha256", empty_sha).ok());
  std::string upper = empty_sha;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  for (const std::string& bad :
       {upper, empty_sha.substr(1), empty_sha + "0", std::string(""), std::string(63, '0') + "g"}) {
    ExpectInvalid(ValidateSha256Hex("materials[0].sha256", bad), "materials[0].sha256");
  }
}

// ---- Page size ----

TEST(PageSizeTest, ZeroMeansDefaultAndBoundsAreEnforced) {
  int out = -1;
  ASSERT_TRUE(ValidatePageSize("page_size", 0, &out).ok());
  EXPECT_EQ(out, 50);
  ASSERT_TRUE(ValidatePageSize("page_size", 1, &out).ok());
  EXPECT_EQ(out, 1);
  ASSERT_TRUE(ValidatePageSize("page_size", 200, &out).ok());
  EXPECT_EQ(out, 200);
  for (int bad : {-1, 201, 1000000, -2147483647 - 1}) {
    absl::Status s = ValidatePageSize("page_size", bad, &out);
    ExpectInvalid(s, "page_size");
    EXPECT_THAT(std::string(s.message()), HasSubstr("200"));
  }
}

// ---- Messages stay short ----

TEST(MessagesTest, LongValuesAreCutAtACharacterBoundary) {
  std::string long_name;
  for (int i = 0; i < 100; ++i) long_name += "张";
  absl::Status s = ValidateProvinceCode("province", long_name);
  ExpectInvalid(s, "province");
  EXPECT_LT(s.message().size(), 200u);
  EXPECT_GE(Utf8Length(s.message()), 0) << "message cut inside a character";
}

}  // namespace
}  // namespace tongban
