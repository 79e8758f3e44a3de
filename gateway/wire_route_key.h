// Reads the one field a relayed or routed call is routed by (an application
// id, a province code) from the serialized request, without parsing the
// message: the gateway forwards the request bytes as they came and needs
// nothing else of them (issue #14).
//
// The value is the one protobuf's own parser would see, so the gateway and
// the node can never read two different keys from one request: for a
// singular field the last occurrence wins, and an embedded message that
// occurs several times is merged, so the field of a nested path is its last
// occurrence across all of them (encoding.md, "Last One Wins"). Packed or
// repeated occurrences of the path's messages are not special: protobuf
// merges them the same way.
//
//   absl::StatusOr<std::string> id = ReadStringField(bytes, {1, 1});  // application.application_id
#pragma once

#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban::gateway {

// The string (or bytes) field at `path` (field numbers from the top-level
// message down; all but the last name embedded-message fields), or "" when
// absent, as proto3 reads an absent string. INVALID_ARGUMENT when the bytes
// are not a well-formed protobuf message along the way (truncated, a length
// past the end, a group, field number 0, or the path's fields of the wrong
// wire type); nesting deeper than 100 levels is refused, as protobuf does.
absl::StatusOr<std::string> ReadStringField(absl::string_view message,
                                            std::initializer_list<int> path);

}  // namespace tongban::gateway
