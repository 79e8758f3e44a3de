// Resident identity card numbers (GB 11643-1999): 17 digits and a check
// character (0-9 or X) computed with ISO 7064 MOD 11-2.
#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace tongban {

// INVALID_ARGUMENT naming `field` when not 18 characters, not digits, or the
// check character is wrong.
absl::Status ValidateResidentId(absl::string_view field, absl::string_view value);

// The check character for 17 digits (for demo data and tests); '\0' when
// `first17` is not 17 digits.
char ResidentIdCheckChar(absl::string_view first17);

// Completes 17 digits into a valid 18-character number.
std::string MakeResidentId(absl::string_view first17);

}  // namespace tongban
