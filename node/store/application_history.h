// What both stores do to an application's history in memory, whatever the
// database: timestamps, parsing stored protos, and appending events with
// the ids this node assigns ("<own province>-<n>").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node::history {

// The id sequence has 8 digits in an application id.
inline constexpr int64_t kMaxApplicationSequence = 99'999'999;

absl::Time ToTime(const google::protobuf::Timestamp& ts);
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts);

// DATA_LOSS naming `what` when `blob` does not parse.
absl::Status ParseInto(const std::string& blob, google::protobuf::Message& message,
                       absl::string_view what);

// Appends `events` to the in-memory history: assigns "<own>-<n>" ids to the
// ones without (n = 1 + events of the application already named
// "<own>-..."), refuses ids already present (ALREADY_EXISTS), and moves
// updated_at to the last event. Returns the latest `at` of the appended
// events, InfinitePast when none. Writes nothing.
absl::StatusOr<absl::Time> AppendEvents(const std::string& own_province,
                                        std::vector<v1::ApplicationEvent> events,
                                        v1::Application& app);

// Moves the events out of `app` (left with none): the new events of a
// filing, re-appended by AppendEvents, without copying them.
std::vector<v1::ApplicationEvent> TakeEvents(v1::Application& app);

}  // namespace tongban::node::history
