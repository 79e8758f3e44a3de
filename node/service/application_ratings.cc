#include "service/application_ratings.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "input_validation.h"
#include "service/application_request_validation.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

bool IsRatableState(v1::ApplicationState state) {
  return state == v1::APPLICATION_STATE_APPROVED || state == v1::APPLICATION_STATE_DENIED;
}

bool IsKnownLevel(v1::SatisfactionLevel level) {
  return level >= v1::SATISFACTION_LEVEL_VERY_DISSATISFIED &&
         level <= v1::SATISFACTION_LEVEL_VERY_SATISFIED;
}

bool IsPoorRating(v1::SatisfactionLevel level) {
  return level == v1::SATISFACTION_LEVEL_VERY_DISSATISFIED ||
         level == v1::SATISFACTION_LEVEL_DISSATISFIED;
}

absl::Status ValidateRating(int level, const std::string& comment) {
  // Compared as a number: an unknown value must not be cast through the enum.
  if (level < 1 || level > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "level ", level, " is not a satisfaction level: 5 非常满意, 4 满意, 3 基本满意, "
        "2 不满意 or 1 非常不满意"));
  }
  return ValidateText("comment", comment, kMaxNoteChars, /*required=*/false);
}

const v1::ApplicationEvent* FindRatingEvent(
    const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& events) {
  for (const v1::ApplicationEvent& e : events) {
    if (e.action() == v1::APPLICATION_ACTION_RATE) return &e;
  }
  return nullptr;
}

std::optional<absl::Time> FinishedAt(const v1::Application& application) {
  if (!IsRatableState(application.state())) return std::nullopt;
  for (auto it = application.events().rbegin(); it != application.events().rend(); ++it) {
    if (it->state_after() == application.state() && it->state_before() != it->state_after() &&
        it->has_at()) {
      return FromProto(it->at());
    }
  }
  return std::nullopt;
}

absl::Status CheckRatable(const v1::Application& application, absl::Time now,
                          int default_after_days, bool check_window) {
  const std::string& id = application.application_id();
  if (const v1::ApplicationEvent* rated = FindRatingEvent(application.events())) {
    return absl::AlreadyExistsError(absl::StrCat("application ", id, " was already rated (event ",
                                                 rated->event_id(), "); a rating is given once"));
  }
  if (!IsRatableState(application.state())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rule ", kRatingRule, ": application ", id, " is ", StateName(application.state()),
        "; only APPROVED or DENIED applications may be rated"));
  }
  std::optional<absl::Time> finished = FinishedAt(application);
  if (check_window && finished.has_value() &&
      now >= *finished + absl::Hours(24) * default_after_days) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rule ", kRatingRule, ": the rating window of application ", id, " closed ",
        default_after_days, " days after its decision (", absl::FormatTime(*finished),
        "); it counts as 基本满意"));
  }
  return absl::OkStatus();
}

v1::ApplicationRating DeriveRating(const v1::Application& application, absl::Time now,
                                   int default_after_days) {
  v1::ApplicationRating r;
  // A stored rating stands even if the state later reads otherwise.
  if (const v1::ApplicationEvent* e = FindRatingEvent(application.events())) {
    r.set_ratable(IsRatableState(application.state()));
    r.set_rated(true);
    // An unknown stored value is shown as UNSPECIFIED, never cast.
    r.set_level(IsKnownLevel(e->satisfaction()) ? e->satisfaction()
                                                : v1::SATISFACTION_LEVEL_UNSPECIFIED);
    r.set_comment(e->note());
    *r.mutable_rated_at() = e->at();
    r.set_event_id(e->event_id());
  }
  std::optional<absl::Time> finished = FinishedAt(application);
  if (!finished.has_value()) return r;
  r.set_ratable(true);
  *r.mutable_finished_at() = ToProto(*finished);
  if (r.rated()) return r;
  const absl::Time rate_by = *finished + absl::Hours(24) * default_after_days;
  if (now >= rate_by) {
    r.set_defaulted(true);
    r.set_level(v1::SATISFACTION_LEVEL_BASICALLY_SATISFIED);
  } else {
    *r.mutable_rate_by() = ToProto(rate_by);
  }
  return r;
}

}  // namespace tongban::node
