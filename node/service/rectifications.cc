#include "service/rectifications.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "input_validation.h"
#include "service/application_clocks.h"
#include "service/application_request_validation.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

}  // namespace

v1::Rectification OpenRectification(const v1::Application& application,
                                    const v1::ApplicationEvent& rating, absl::Time now,
                                    const WorkingDayCalendar& calendar, int working_days) {
  v1::Rectification r;
  r.set_application_id(application.application_id());
  r.set_item_code(application.item_code());
  r.set_level(rating.satisfaction());
  r.set_comment(rating.note());
  r.set_rating_event_id(rating.event_id());
  *r.mutable_opened_at() = ToProto(now);
  r.set_working_days(working_days);
  // The same rule as a 容缺 deadline: the opening day is not counted, the
  // deadline is the end of the last working day (China time).
  const absl::Time due = SupplementDeadline(calendar, now, working_days);
  *r.mutable_due_at() = ToProto(due);
  r.set_due_date(FormatCivilDay(ChinaCivilDay(due)));
  return r;
}

absl::Status CheckRectificationOpen(const v1::Application& application) {
  if (!application.has_rectification()) {
    return absl::NotFoundError(absl::StrCat("application ", application.application_id(),
                                            " has no rectification at province ",
                                            application.handling_province(),
                                            " (only a 差评 of level 1 or 2 opens one)"));
  }
  if (application.rectification().closed()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the rectification of application ", application.application_id(), " is closed (",
        v1::RectificationOutcome_Name(application.rectification().outcome()), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRectificationClose(int outcome, const std::string& note) {
  // Compared as a number: an unknown value is never cast through the enum.
  if (outcome < v1::RECTIFICATION_OUTCOME_RECTIFIED ||
      outcome > v1::RECTIFICATION_OUTCOME_UNRESOLVED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "outcome ", outcome, " is not a rectification outcome: RECTIFIED, EXPLAINED or UNRESOLVED"));
  }
  return ValidateText("note", note, kMaxNoteChars, /*required=*/true);
}

v1::Rectification WithOverdue(v1::Rectification r, absl::Time now) {
  const absl::Time due = FromProto(r.due_at());
  r.set_overdue(r.closed() ? FromProto(r.closed_at()) > due : now > due);
  return r;
}

}  // namespace tongban::node
