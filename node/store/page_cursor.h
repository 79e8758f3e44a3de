// Page limits and cursors of the stores' list calls: a cursor is the decimal
// seq (or outbox id) of the last row of the previous page.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tongban::node {

inline absl::Status CheckPageLimit(int limit) {
  if (limit < 1) return absl::InvalidArgumentError("page limit must be at least 1");
  return absl::OkStatus();
}

// `if_empty` for the first page; INVALID_ARGUMENT for anything this node
// did not issue.
inline absl::StatusOr<int64_t> ParsePageCursor(const std::string& cursor, int64_t if_empty) {
  if (cursor.empty()) return if_empty;
  int64_t seq = 0;
  const bool digits =
      cursor.size() <= 18 && cursor.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || !absl::SimpleAtoi(cursor, &seq)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page cursor \"", cursor.substr(0, 40),
        "\" was not issued by this node; pass the next_page_token of a previous page"));
  }
  return seq;
}

}  // namespace tongban::node
