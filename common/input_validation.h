// Validation of request fields at the edge of a process. Each check returns
// OK or INVALID_ARGUMENT with a message that names the field and says what
// a valid value looks like, so a caller can fix the request without reading
// our code.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace tongban {

// One of the 31 GB/T 2260 province codes, e.g. "440000".
absl::Status ValidateProvinceCode(absl::string_view field, absl::string_view value);

// Item code: 2-letter type (XK JF QR CJ JL QT GG) + 8 digits, e.g. "GG00000014".
absl::Status ValidateItemCode(absl::string_view field, absl::string_view value);

// Material id: "M" + 2 digits, e.g. "M01".
absl::Status ValidateMaterialId(absl::string_view field, absl::string_view value);

// Well-formed UTF-8, no control characters except \n and \t, at most
// `max_chars` code points; `required` rejects the empty string.
absl::Status ValidateText(absl::string_view field, absl::string_view value, size_t max_chars,
                          bool required);

// 8..64 characters of [A-Za-z0-9_-].
absl::Status ValidateIdempotencyKey(absl::string_view field, absl::string_view value);

// 64 lowercase hex characters.
absl::Status ValidateSha256Hex(absl::string_view field, absl::string_view value);

// Number of code points of well-formed UTF-8; -1 when malformed.
long Utf8Length(absl::string_view value);

// Quotes a (possibly hostile) value for an error message: at most 40 bytes,
// cut at a UTF-8 boundary, control bytes, quotes and backslashes escaped, so
// messages stay short, printable and unambiguous.
std::string Shown(absl::string_view value);

// Page size 0 (= default) .. 200; returns the effective size through `out`.
absl::Status ValidatePageSize(absl::string_view field, int value, int* out);

// A watch's resume point (WatchApplication, WatchMyApplication): 0 (the whole
// history) or the sequence of the last message received.
absl::Status ValidateAfterSequence(absl::string_view field, int64_t value);

}  // namespace tongban
