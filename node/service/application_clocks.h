// Time-limit clocks of an application (办理时限; docs/time-limits.md): a pure
// computation from the application's events, the working-day calendar and
// "now". Nothing here is stored or read from a message: every node derives
// the same clocks from the handling province's signed events (the limits are
// on the event that starts the clocks), so the accepting node mirrors them as
// it mirrors states.
//
//   ApplicationClocks clocks = ComputeClocks(app.handling_province(),
//                                            app.events(), calendar, clock.Now());
//
// Rules, in short: the clocks start on the day of the handling province's
// event that accepts the application (受理; that day not counted), count
// working days, pause while the applicant is asked for materials
// (PENDING_SUPPLEMENT, WAITING_FOR_MATERIALS) and while a special procedure
// is open (days in (pause day, resume day] not counted), the legal limit grows
// by the one approved extension, and they stop at a final state.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tongban/v1/application.pb.h"
#include "working_day_calendar.h"

namespace tongban::node {

// The most working days one extension may add (行政许可法 第四十二条, an
// ordinary case decided by one office).
inline constexpr int kMaxExtensionDays = 10;

using Events = google::protobuf::RepeatedPtrField<v1::ApplicationEvent>;

// The clocks of an application handled by `handling_province` with these
// events (in stored order), evaluated at `now`. Events of other provinces
// never move the clocks; extensions and special procedures that break the
// rules (a second extension, days outside 1..kMaxExtensionDays, an extension
// after the legal limit ran out, an END without an open procedure) are
// ignored, so a message cannot bend them.
v1::ApplicationClocks ComputeClocks(const std::string& handling_province, const Events& events,
                                    const WorkingDayCalendar& calendar, absl::Time now);

// Whether `event`, appended to `events` by the handling province, is the one
// that starts the clocks (so it must carry the guide's TimeLimits).
bool StartsClocks(const std::string& handling_province, const Events& events,
                  const v1::ApplicationEvent& event);

// Sets event->time_limits from the handling province's `guide` when `event`,
// about to be appended to `application` by its handling province, starts the
// clocks; otherwise leaves the event alone.
void StampTimeLimits(const v1::Application& application, const v1::Guide& guide,
                     v1::ApplicationEvent* event);

// Checks an officer's time-limit action against the clocks as they stand
// before it (FAILED_PRECONDITION naming the problem): the clocks must be
// running or paused (started, not stopped); START_SPECIAL_PROCEDURE needs no
// open procedure, END one; EXTEND_TIME_LIMIT once only and before the legal
// limit ran out, with a legal limit to extend.
absl::Status CheckClockAction(const v1::ApplicationClocks& before, v1::ApplicationAction action,
                              const Events& events, const std::string& handling_province);

// "YYYY-MM-DD".
std::string FormatCivilDay(absl::CivilDay day);

// The end of `day` in China (23:59:59 China time): a deadline "by that day".
absl::Time ChinaEndOfDay(absl::CivilDay day);

// 容缺 supplement deadline: the end of the `working_days`-th working day after
// the day of `now` (that day not counted).
absl::Time SupplementDeadline(const WorkingDayCalendar& calendar, absl::Time now,
                              int working_days);

}  // namespace tongban::node
