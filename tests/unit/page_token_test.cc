// Page tokens: a token only continues the listing that issued it.
#include "page_token.h"

#include <cctype>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

void ExpectRefused(const absl::StatusOr<std::string>& r) {
  ASSERT_FALSE(r.ok()) << "decoded to " << *r;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("page_token"));
}

TEST(PageTokenTest, RoundTrip) {
  for (const std::string& cursor :
       {std::string("GG00000014"), std::string("TB-430000-310000-20261125-00000042"),
        std::string("2026-11-25T03:04:05Z|TB-440000-440000-20261125-00000001"),
        std::string("社会保障卡"), std::string("a:b:c")}) {
    const std::string token = EncodePageToken("items:NATIONAL:0", cursor);
    absl::StatusOr<std::string> got = DecodePageToken("page_token", "items:NATIONAL:0", token);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, cursor);
  }
}

TEST(PageTokenTest, TokenIsUrlSafe) {
  const std::string token = EncodePageToken("by-applicant:11010519491231002X", "社会保障卡?&=/+");
  for (char c : token) {
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << token;
  }
}

TEST(PageTokenTest, EmptyTokenIsTheFirstPage) {
  absl::StatusOr<std::string> got = DecodePageToken("page_token", "items:NATIONAL:0", "");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
}

TEST(PageTokenTest, TokenOfAnotherListIsRefused) {
  const std::string token = EncodePageToken("items:NATIONAL:0", "GG00000014");
  ExpectRefused(DecodePageToken("page_token", "items:PROVINCE:0", token));
  ExpectRefused(DecodePageToken("page_token", "items:NATIONAL:1", token));
  ExpectRefused(DecodePageToken("page_token", "items:NATIONAL:", token));
  ExpectRefused(DecodePageToken("page_token", "", token));
  // A filter that is a prefix or extension of the other is still another list.
  const std::string mine = EncodePageToken("by-applicant:11010519491231002X", "c1");
  ExpectRefused(DecodePageToken("page_token", "by-applicant:440524188001010014", mine));
}

TEST(PageTokenTest, TamperedCursorIsRefused) {
  const std::string list = "by-state:4";
  const std::string token = EncodePageToken(list, "TB-430000-310000-20261125-00000042");
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  // Move the cursor on but keep the original check value.
  const size_t at = raw.find("00000042");
  ASSERT_NE(at, std::string::npos);
  std::string forged = raw;
  forged.replace(at, 8, "00000001");
  ExpectRefused(DecodePageToken("page_token", list, absl::WebSafeBase64Escape(forged)));
  // Retarget the list but keep the check value.
  forged = raw;
  forged.replace(raw.find("by-state:4"), 10, "by-state:6");
  ExpectRefused(DecodePageToken("page_token", "by-state:6", absl::WebSafeBase64Escape(forged)));
}

TEST(PageTokenTest, EveryFlippedCharacterIsRefused) {
  const std::string list = "items:NATIONAL:0";
  const std::string token = EncodePageToken(list, "GG00000014");
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    absl::StatusOr<std::string> got = DecodePageToken("page_token", list, bad);
    // A change in the last character may only touch unused padding bits.
    if (got.ok()) {
      EXPECT_EQ(i, token.size() - 1);
      EXPECT_EQ(*got, "GG00000014");
    }
  }
}

TEST(PageTokenTest, GarbageIsRefused) {
  const std::string list = "items:NATIONAL:0";
  for (const std::string& garbage :
       {std::string("garbage"), std::string("!!!!"), std::string("R0cwMDAwMDAxNA"),
        absl::WebSafeBase64Escape("v1\x1fitems:NATIONAL:0\x1fGG00000014"),
        absl::WebSafeBase64Escape(absl::StrCat("v2\x1fitems:NATIONAL:0\x1fGG00000014\x1f", "123")),
        absl::WebSafeBase64Escape("v1"), std::string(600, 'A'), std::string("dj EfaXRlbXM")}) {
    SCOPED_TRACE(garbage);
    ExpectRefused(DecodePageToken("page_token", list, garbage));
  }
}

TEST(PageTokenTest, OtherTokenVersionIsRefused) {
  const std::string list = "items:NATIONAL:0";
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken(list, "GG00000014"), &raw));
  ASSERT_EQ(raw.substr(0, 2), "v1");
  raw[1] = '2';  // the check value covers list and cursor, so only the version differs
  ExpectRefused(DecodePageToken("page_token", list, absl::WebSafeBase64Escape(raw)));
}

TEST(PageTokenTest, OverlongTokensAreRefusedBeforeDecoding) {
  // Work on a hostile token is bounded, even when it is otherwise well formed.
  const std::string list = "items:NATIONAL:0";
  const std::string token = EncodePageToken(list, std::string(400, 'c'));
  ASSERT_GT(token.size(), 512u);
  ExpectRefused(DecodePageToken("page_token", list, token));
  const std::string fits = EncodePageToken(list, std::string(300, 'c'));
  ASSERT_LE(fits.size(), 512u);
  EXPECT_TRUE(DecodePageToken("page_token", list, fits).ok());
}

TEST(PageTokenTest, RefusalNamesTheCallersField) {
  absl::StatusOr<std::string> got = DecodePageToken("request.page_token", "l", "garbage");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("request.page_token"));
}

}  // namespace
}  // namespace tongban
