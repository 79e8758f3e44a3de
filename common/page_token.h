// Page tokens: opaque to callers, they carry which list they belong to and
// the store cursor where the next page starts. A token from another list, or
// one a caller made up, is refused with INVALID_ARGUMENT instead of silently
// listing from somewhere else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace tongban {

// `list` names the listing and its filter (e.g. "items:NATIONAL:0").
std::string EncodePageToken(absl::string_view list, absl::string_view cursor);
// The check these tokens carry: FNV-1a over `list` and `cursor`. Not a
// secret, just enough to tell a token from a made-up or mixed-up one; for
// other tokens that need the same (the edge's ListMyApplications token).
uint32_t PageTokenCheck(absl::string_view list, absl::string_view cursor);

// Empty token → empty cursor (first page).
absl::StatusOr<std::string> DecodePageToken(absl::string_view field, absl::string_view list,
                                            absl::string_view token);

}  // namespace tongban
