// 好差评 rectification (整改) of a 差评 at the handling province
// (docs/ratings.md): opened when a rating of level 1 or 2 reaches the
// handling node, due at the end of the N-th working day after that day
// (rating.rectification_working_days, the node's WorkingDayCalendar), with
// 回访 (follow-up) records and a closing outcome. The rectification is part
// of the application row (Application.rectification), so it is written in
// the same transaction as the rating that opens it; the store mirrors
// "open" and the deadline in indexed columns for the gauges and the list.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tongban/v1/application.pb.h"
#include "working_day_calendar.h"

namespace tongban::node {

// The rectification a poor `rating` (a RATE event of level 1 or 2) opens
// on `application` at `now`.
v1::Rectification OpenRectification(const v1::Application& application,
                                    const v1::ApplicationEvent& rating, absl::Time now,
                                    const WorkingDayCalendar& calendar, int working_days);

// NOT_FOUND when the application has no rectification, FAILED_PRECONDITION
// when it is closed (nothing more may be recorded on it).
absl::Status CheckRectificationOpen(const v1::Application& application);

// INVALID_ARGUMENT naming the field: a known outcome other than
// UNSPECIFIED and a note of 1..500 characters.
absl::Status ValidateRectificationClose(int outcome, const std::string& note);

// `rectification` with `overdue` computed at `now`: open past due_at, or
// closed after it.
v1::Rectification WithOverdue(v1::Rectification rectification, absl::Time now);

}  // namespace tongban::node
