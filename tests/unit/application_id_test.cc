// Application ids: rendering (date in China Standard Time), parsing, and the
// refusal of anything that is not one.
#include "application_id.h"

#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

absl::Time Utc(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

TEST(ApplicationIdTest, FormatsTheDateInChinaStandardTime) {
  // 17:00 UTC on the 24th is 01:00 on the 25th in Beijing.
  EXPECT_EQ(FormatApplicationId("430000", "310000", Utc("2026-11-24T17:00:00Z"), 42),
            "TB-430000-310000-20261125-00000042");
  // 15:59:59 UTC is still the 24th (23:59:59 in Beijing).
  EXPECT_EQ(FormatApplicationId("430000", "310000", Utc("2026-11-24T15:59:59Z"), 42),
            "TB-430000-310000-20261124-00000042");
  EXPECT_EQ(FormatApplicationId("430000", "310000", Utc("2026-11-24T16:00:00Z"), 42),
            "TB-430000-310000-20261125-00000042");
}

TEST(ApplicationIdTest, SequenceIsZeroPaddedToEightDigits) {
  absl::Time t = Utc("2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatApplicationId("440000", "440000", t, 0), "TB-440000-440000-20260101-00000000");
  EXPECT_EQ(FormatApplicationId("440000", "440000", t, 99999999),
            "TB-440000-440000-20260101-99999999");
}

TEST(ApplicationIdTest, RoundTrip) {
  const std::string id =
      FormatApplicationId("510000", "500000", Utc("2026-03-08T09:30:00+08:00"), 1234567);
  EXPECT_EQ(id, "TB-510000-500000-20260308-01234567");
  absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(id);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->accepting_province, "510000");
  EXPECT_EQ(parts->handling_province, "500000");
  EXPECT_EQ(parts->date, "20260308");
  EXPECT_EQ(parts->sequence, 1234567);
}

TEST(ApplicationIdTest, ParsesTheDocumentedExample) {
  absl::StatusOr<ApplicationIdParts> parts =
      ParseApplicationId("TB-430000-310000-20261125-00000042");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->accepting_province, "430000");
  EXPECT_EQ(parts->handling_province, "310000");
  EXPECT_EQ(parts->date, "20261125");
  EXPECT_EQ(parts->sequence, 42);
}

struct Malformed {
  const char* why;
  const char* id;
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.why << ": \"" << m.id << "\""; }

class MalformedApplicationIdTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedApplicationIdTest, IsInvalidArgumentNamingTheField) {
  absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(GetParam().id, "application_id");
  ASSERT_FALSE(parts.ok()) << GetParam().why;
  EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parts.status().message()), HasSubstr("application_id"));

  absl::StatusOr<ApplicationIdParts> other =
      ParseApplicationId(GetParam().id, "event.application_id");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("event.application_id"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedApplicationIdTest,
    ::testing::Values(Malformed{"empty", ""},
                      Malformed{"one character short", "TB-430000-310000-20261125-0000004"},
                      Malformed{"one character long", "TB-430000-310000-20261125-000000420"},
                      Malformed{"wrong prefix", "TX-430000-310000-20261125-00000042"},
                      Malformed{"lowercase prefix", "tb-430000-310000-20261125-00000042"},
                      Malformed{"unknown accepting province", "TB-990000-310000-20261125-00000042"},
                      Malformed{"unknown handling province", "TB-430000-990000-20261125-00000042"},
                      Malformed{"county code, not a province",
                                "TB-430100-310000-20261125-00000042"},
                      Malformed{"letters in sequence", "TB-430000-310000-20261125-0000004A"},
                      Malformed{"sign in sequence", "TB-430000-310000-20261125-+0000042"},
                      Malformed{"letters in date", "TB-430000-310000-2026112X-00000042"},
                      Malformed{"missing dashes", "TB4300003100002026112500000042"},
                      Malformed{"first dash replaced", "TB-430000x310000-20261125-00000042"},
                      Malformed{"middle dash replaced", "TB-430000-310000x20261125-00000042"},
                      Malformed{"last dash replaced", "TB-430000-310000-20261125000000042"},
                      Malformed{"dash moved", "TB-4300003-10000-20261125-00000042"},
                      Malformed{"underscores", "TB_430000_310000_20261125_00000042"},
                      Malformed{"spaces", "TB-430000-310000-20261125-0000 042"}),
    [](const ::testing::TestParamInfo<Malformed>& info) {
      std::string name;
      for (const char* p = info.param.why; *p; ++p) {
        name += (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ? *p : '_';
      }
      return name;
    });

// The date part must be a real calendar date.
TEST(ApplicationIdTest, ImpossibleDatesAreRefused) {
  for (const char* id : {"TB-430000-310000-20261399-00000042", "TB-430000-310000-20260230-00000042",
                         "TB-430000-310000-00000000-00000042"}) {
    absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(id, "application_id");
    ASSERT_FALSE(parts.ok()) << id;
    EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parts.status().message()), HasSubstr("application_id"));
  }
}

TEST(ApplicationIdTest, MessageShowsTheOffendingIdAndTheExpectedShape) {
  absl::StatusOr<ApplicationIdParts> parts =
      ParseApplicationId("TB-990000-310000-20261125-00000042", "application_id");
  ASSERT_FALSE(parts.ok());
  const std::string msg(parts.status().message());
  EXPECT_THAT(msg, HasSubstr("TB-990000-310000-20261125-00000042"));
  EXPECT_THAT(msg, HasSubstr("accepting province"));
  EXPECT_THAT(msg, HasSubstr("TB-<accepting province>"));
}

}  // namespace
}  // namespace tongban
