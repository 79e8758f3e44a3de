#include "application_id.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "province_registry.h"

namespace tongban {
namespace {

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

std::string FormatApplicationId(absl::string_view accepting_province,
                                absl::string_view handling_province, absl::Time filed_at,
                                int64_t sequence) {
  static const absl::TimeZone kChina = absl::FixedTimeZone(8 * 3600);
  return absl::StrFormat("TB-%s-%s-%s-%08d", accepting_province, handling_province,
                         absl::FormatTime("%Y%m%d", filed_at, kChina), sequence);
}

absl::StatusOr<ApplicationIdParts> ParseApplicationId(absl::string_view id,
                                                      absl::string_view field) {
  // TB-AAAAAA-HHHHHH-YYYYMMDD-SSSSSSSS = 2+1+6+1+6+1+8+1+8 = 34 characters.
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " \"", id.substr(0, 40), "\" is not an application id (", why,
        "); expected TB-<accepting province>-<handling province>-<yyyymmdd>-<8 digits>, e.g. "
        "TB-430000-310000-20261125-00000042"));
  };
  if (id.size() != 34 || id.substr(0, 3) != "TB-" || id[9] != '-' || id[16] != '-' ||
      id[25] != '-') {
    return bad("wrong shape");
  }
  ApplicationIdParts parts;
  parts.accepting_province = std::string(id.substr(3, 6));
  parts.handling_province = std::string(id.substr(10, 6));
  parts.date = std::string(id.substr(17, 8));
  absl::string_view seq = id.substr(26, 8);
  if (!AllDigits(parts.date) || !AllDigits(seq)) return bad("date and sequence must be digits");
  absl::CivilDay day;
  if (!absl::ParseCivilTime(absl::StrCat(parts.date.substr(0, 4), "-", parts.date.substr(4, 2), "-",
                                         parts.date.substr(6, 2)),
                            &day) ||
      absl::FormatCivilTime(day) != absl::StrCat(parts.date.substr(0, 4), "-",
                                                 parts.date.substr(4, 2), "-",
                                                 parts.date.substr(6, 2))) {
    return bad("no such date");
  }
  if (FindProvince(parts.accepting_province) == nullptr) return bad("unknown accepting province");
  if (FindProvince(parts.handling_province) == nullptr) return bad("unknown handling province");
  if (!absl::SimpleAtoi(seq, &parts.sequence)) return bad("bad sequence");
  return parts;
}

}  // namespace tongban
