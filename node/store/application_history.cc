#include "store/application_history.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tongban::node::history {

using google::protobuf::Timestamp;

absl::Time ToTime(const Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void SetTimestamp(absl::Time t, Timestamp* ts) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

absl::Status ParseInto(const std::string& blob, google::protobuf::Message& message,
                       absl::string_view what) {
  if (message.ParseFromString(blob)) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("stored ", what, " cannot be parsed"));
}

// Writes nothing: the store inserts the events once the row exists.
absl::StatusOr<absl::Time> AppendEvents(const std::string& own_province,
                                        std::vector<v1::ApplicationEvent> events,
                                        v1::Application& app) {
  const std::string prefix = absl::StrCat(own_province, "-");
  std::set<std::string> ids;
  int64_t own_count = 0;
  for (const v1::ApplicationEvent& e : app.events()) {
    ids.insert(e.event_id());
    if (absl::StartsWith(e.event_id(), prefix)) ++own_count;
  }
  absl::Time latest = absl::InfinitePast();
  for (v1::ApplicationEvent& e : events) {
    if (e.event_id().empty()) e.set_event_id(absl::StrCat(prefix, own_count + 1));
    if (absl::StartsWith(e.event_id(), prefix)) ++own_count;
    if (!ids.insert(e.event_id()).second) {
      return absl::AlreadyExistsError(absl::StrCat("event ", e.event_id(),
                                                   " is already in the history of application ",
                                                   app.application_id()));
    }
    latest = std::max(latest, ToTime(e.at()));
    *app.add_events() = std::move(e);
  }
  if (app.events_size() > 0) {
    *app.mutable_updated_at() = app.events(app.events_size() - 1).at();
  } else if (!app.has_updated_at()) {
    *app.mutable_updated_at() = app.created_at();
  }
  return latest;
}

std::vector<v1::ApplicationEvent> TakeEvents(v1::Application& app) {
  std::vector<v1::ApplicationEvent> events;
  events.reserve(app.events_size());
  // Same arena (none) on both sides: a move swaps instead of copying.
  for (v1::ApplicationEvent& e : *app.mutable_events()) events.push_back(std::move(e));
  app.clear_events();
  return events;
}

}  // namespace tongban::node::history
