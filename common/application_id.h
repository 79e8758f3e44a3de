// Application ids: "TB-<accepting>-<handling>-<yyyymmdd>-<8-digit sequence>".
// Both province codes are in the id so the gateway and nodes route by id
// alone; the sequence is the accepting node's, so ids never collide.
#pragma once

#include "absl/strings/string_view.h"
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tongban {

struct ApplicationIdParts {
  std::string accepting_province;
  std::string handling_province;
  std::string date;  // yyyymmdd
  int64_t sequence = 0;
};

// `filed_at` is rendered as a date in China Standard Time (UTC+8).
std::string FormatApplicationId(absl::string_view accepting_province,
                                absl::string_view handling_province, absl::Time filed_at,
                                int64_t sequence);

// INVALID_ARGUMENT naming `field` when `id` is malformed or names an unknown province.
absl::StatusOr<ApplicationIdParts> ParseApplicationId(absl::string_view id,
                                                      absl::string_view field = "application_id");

}  // namespace tongban
