// Fuzz target: the parsers of ids and tokens that callers send as text —
// application ids, resident id numbers, page tokens, and the field checks of
// common/input_validation. Every input goes through all of them, and the
// parsers' round trips are checked:
//   - an application id that parses formats back to the same text;
//   - a resident id that validates is MakeResidentId of its first 17 digits;
//   - a page token encoded for (list, cursor) decodes to cursor for list only;
//   - Shown() of any bytes is short and printable.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "application_id.h"
#include "fuzz_check.h"
#include "input_validation.h"
#include "page_token.h"
#include "resident_id.h"

namespace {

using tongban::ApplicationIdParts;

void CheckApplicationId(absl::string_view text) {
  absl::StatusOr<ApplicationIdParts> parts = tongban::ParseApplicationId(text);
  if (!parts.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(parts.status()));
    return;
  }
  FUZZ_CHECK(parts->date.size() == 8);
  absl::CivilDay day(std::stoi(parts->date.substr(0, 4)), std::stoi(parts->date.substr(4, 2)),
                     std::stoi(parts->date.substr(6, 2)));
  // FormatApplicationId renders the date in China Standard Time (UTC+8).
  absl::Time noon = absl::FromCivil(absl::CivilSecond(day) + 12 * 3600,
                                    absl::FixedTimeZone(8 * 3600));
  std::string again = tongban::FormatApplicationId(parts->accepting_province,
                                                   parts->handling_province, noon, parts->sequence);
  FUZZ_CHECK(again == text);
}

void CheckResidentId(absl::string_view text) {
  absl::Status s = tongban::ValidateResidentId("id", text);
  if (!s.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(s));
    return;
  }
  FUZZ_CHECK(text.size() == 18);
  std::string made = tongban::MakeResidentId(text.substr(0, 17));
  FUZZ_CHECK(absl::EqualsIgnoreCase(made, text));
  FUZZ_CHECK(tongban::ResidentIdCheckChar(text.substr(0, 17)) != '\0');
}

void CheckPageToken(absl::string_view text) {
  // As a token for the lists the services use.
  for (absl::string_view list : {"items:NATIONAL:0", "by-applicant:11010519491231002X",
                                 "fed-search:社会保障:110000,310000", ""}) {
    absl::StatusOr<std::string> cursor = tongban::DecodePageToken("page_token", list, text);
    if (!cursor.ok()) FUZZ_CHECK(absl::IsInvalidArgument(cursor.status()));
  }
  // Round trip: split the input into a list name and a cursor at the first '\n'.
  size_t nl = text.find('\n');
  if (nl == absl::string_view::npos) return;
  absl::string_view list = text.substr(0, nl);
  absl::string_view cursor = text.substr(nl + 1);
  std::string token = tongban::EncodePageToken(list, cursor);
  absl::StatusOr<std::string> back = tongban::DecodePageToken("page_token", list, token);
  // Tokens are at most 512 bytes; a cursor holding the separator byte is
  // never issued (cursors are item codes, ids and keys).
  if (token.size() <= 512 && cursor.find('\x1f') == absl::string_view::npos) {
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == cursor);
  }
  absl::StatusOr<std::string> other = tongban::DecodePageToken(
      "page_token", std::string(list) + "x", token);
  FUZZ_CHECK(!other.ok());
}

void CheckFieldValidators(absl::string_view text) {
  for (auto* validate : {&tongban::ValidateProvinceCode, &tongban::ValidateItemCode,
                         &tongban::ValidateMaterialId, &tongban::ValidateIdempotencyKey,
                         &tongban::ValidateSha256Hex}) {
    absl::Status s = validate("field", text);
    if (!s.ok()) FUZZ_CHECK(absl::IsInvalidArgument(s));
  }
  absl::Status t = tongban::ValidateText("field", text, 500, true);
  if (t.ok()) FUZZ_CHECK(tongban::Utf8Length(text) >= 1 && tongban::Utf8Length(text) <= 500);
  std::string shown = tongban::Shown(text);
  FUZZ_CHECK(shown.size() <= 200);
  for (unsigned char c : shown) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  CheckApplicationId(text);
  CheckResidentId(text);
  CheckPageToken(text);
  CheckFieldValidators(text);
  return 0;
}
