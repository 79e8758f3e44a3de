// Content-Encoding of REST request bodies: gzip, deflate (zlib) and br are
// inflated, and only up to a limit, so that a small body that inflates to
// megabytes costs no more than the limit (zlib and Debian's libbrotli).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban::edge {

// The body as the client meant it. `encoding` is the Content-Encoding value
// ("" or "identity": as is). Errors: UNIMPLEMENTED for another coding (or
// several), RESOURCE_EXHAUSTED beyond `limit` bytes once decoded,
// INVALID_ARGUMENT for data that is not valid for its coding or cut short.
absl::StatusOr<std::string> DecodeBody(absl::string_view encoding, absl::string_view body,
                                       size_t limit);

}  // namespace tongban::edge
