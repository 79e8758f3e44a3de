#include "service/application_clocks.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/time_util.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

bool StartedState(v1::ApplicationState s) {
  // 受理: accepted outright, accepted with deficiencies (容缺受理), or under
  // review after a pre-acceptance 补正 was completed (行政许可法 第三十二条:
  // accepted when the complete materials arrive).
  return s == v1::APPLICATION_STATE_ACCEPTED || s == v1::APPLICATION_STATE_PENDING_SUPPLEMENT ||
         s == v1::APPLICATION_STATE_IN_REVIEW;
}

bool WaitingForApplicant(v1::ApplicationState s) {
  return s == v1::APPLICATION_STATE_PENDING_SUPPLEMENT ||
         s == v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
}

// Counted days in (from, to].
struct Segment {
  absl::CivilDay from;
  absl::CivilDay to;
};

// The walk over the handling province's events: which days counted.
struct Timeline {
  bool started = false;
  absl::Time started_at;
  v1::TimeLimits limits;
  int extension_days = 0;
  std::vector<Segment> closed;               // finished running stretches, in order
  std::optional<absl::CivilDay> running_from;  // set while running
  std::optional<absl::CivilDay> paused_from;   // set while paused
  int paused_days = 0;
  bool waiting_for_applicant = false;
  v1::SpecialProcedureKind procedure = v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED;
  bool stopped = false;
  absl::Time stopped_at;
  absl::CivilDay last_day;  // the latest event day seen (events never go back in time)

  bool paused() const {
    return waiting_for_applicant || procedure != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED;
  }

  int UsedThrough(const WorkingDayCalendar& cal, absl::CivilDay day) const {
    int used = 0;
    for (const Segment& s : closed) used += cal.WorkingDaysBetween(s.from, s.to);
    if (running_from) used += cal.WorkingDaysBetween(*running_from, day);
    return used;
  }

  // Moves the pause/run bookkeeping to `day` after a change of `paused()`.
  void Switch(const WorkingDayCalendar& cal, bool was_paused, absl::CivilDay day) {
    const bool now_paused = paused();
    if (!was_paused && now_paused) {
      closed.push_back({*running_from, day});
      running_from.reset();
      paused_from = day;
    } else if (was_paused && !now_paused) {
      paused_days += cal.WorkingDaysBetween(*paused_from, day);
      paused_from.reset();
      running_from = day;
    }
  }

  void Start(const v1::ApplicationEvent& e, absl::CivilDay day) {
    started = true;
    started_at = FromProto(e.at());
    limits = e.time_limits();
    waiting_for_applicant = WaitingForApplicant(e.state_after());
    if (waiting_for_applicant) {
      paused_from = day;
    } else {
      running_from = day;
    }
  }

  void Stop(const WorkingDayCalendar& cal, absl::Time at, absl::CivilDay day) {
    stopped = true;
    stopped_at = at;
    if (running_from) {
      closed.push_back({*running_from, day});
      running_from.reset();
    }
    if (paused_from) {
      paused_days += cal.WorkingDaysBetween(*paused_from, day);
      paused_from.reset();
    }
  }
};

Timeline Walk(const std::string& handling, const Events& events, const WorkingDayCalendar& cal) {
  Timeline t;
  for (const v1::ApplicationEvent& e : events) {
    if (e.province_code() != handling) continue;
    if (!v1::ApplicationState_IsValid(e.state_after())) continue;
    const absl::CivilDay day = std::max(ChinaCivilDay(FromProto(e.at())), t.last_day);
    t.last_day = day;
    if (!t.started) {
      if (StartedState(e.state_after())) t.Start(e, day);
      continue;
    }
    const bool was_paused = t.paused();
    switch (e.action()) {
      case v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE:
        if (t.procedure == v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED &&
            v1::SpecialProcedureKind_IsValid(e.special_procedure()) &&
            e.special_procedure() != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED) {
          t.procedure = e.special_procedure();
        }
        break;
      case v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE:
        t.procedure = v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED;
        break;
      case v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT:
        // Once, 1..10 days, while the legal limit has not run out.
        if (t.extension_days == 0 && e.extension_days() >= 1 &&
            e.extension_days() <= kMaxExtensionDays && t.limits.legal_days() > 0 &&
            t.UsedThrough(cal, day) <= t.limits.legal_days()) {
          t.extension_days = e.extension_days();
        }
        break;
      default:
        break;
    }
    if (IsTerminal(e.state_after())) {
      t.Stop(cal, FromProto(e.at()), day);
      break;
    }
    t.waiting_for_applicant = WaitingForApplicant(e.state_after());
    t.Switch(cal, was_paused, day);
  }
  return t;
}

// The last day of a limit of `limit` working days (> 0) over the timeline,
// evaluated on `today`: inside a finished stretch, else continuing from where
// the count stands (while paused: as if the clocks ran again `today`).
absl::CivilDay DueDay(const Timeline& t, const WorkingDayCalendar& cal, int limit,
                      absl::CivilDay today) {
  int remaining = limit;
  for (const Segment& s : t.closed) {
    const int n = cal.WorkingDaysBetween(s.from, s.to);
    if (n >= remaining) return cal.AddWorkingDays(s.from, remaining);
    remaining -= n;
  }
  if (t.running_from) return cal.AddWorkingDays(*t.running_from, remaining);
  return cal.AddWorkingDays(today, remaining);
}

}  // namespace

std::string FormatCivilDay(absl::CivilDay day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

absl::Time ChinaEndOfDay(absl::CivilDay day) {
  return ChinaStartOfDay(day + 1) - absl::Seconds(1);
}

absl::Time SupplementDeadline(const WorkingDayCalendar& calendar, absl::Time now,
                              int working_days) {
  return ChinaEndOfDay(calendar.AddWorkingDays(ChinaCivilDay(now), std::max(working_days, 0)));
}

v1::ApplicationClocks ComputeClocks(const std::string& handling_province, const Events& events,
                                    const WorkingDayCalendar& calendar, absl::Time now) {
  v1::ApplicationClocks c;
  const Timeline t = Walk(handling_province, events, calendar);
  if (!t.started) return c;
  const absl::CivilDay start = ChinaCivilDay(t.started_at);
  const absl::CivilDay as_of =
      t.stopped ? ChinaCivilDay(t.stopped_at) : std::max(ChinaCivilDay(now), t.last_day);
  c.set_started(true);
  *c.mutable_started_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t.started_at));
  *c.mutable_limits() = t.limits;
  c.set_extension_days(t.extension_days);
  c.set_as_of_date(FormatCivilDay(as_of));
  if (t.stopped) {
    c.set_stopped(true);
    *c.mutable_stopped_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t.stopped_at));
  } else if (t.procedure != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED) {
    c.set_paused(v1::CLOCK_PAUSE_REASON_SPECIAL_PROCEDURE);
    c.set_special_procedure(t.procedure);
  } else if (t.waiting_for_applicant) {
    c.set_paused(v1::CLOCK_PAUSE_REASON_APPLICANT);
  }
  const int used = t.UsedThrough(calendar, as_of);
  const int paused_now = t.paused_from ? calendar.WorkingDaysBetween(*t.paused_from, as_of) : 0;
  c.set_used_working_days(used);
  c.set_paused_working_days(t.paused_days + paused_now);
  absl::CivilDay latest = as_of;
  const int legal = t.limits.legal_days() > 0 ? t.limits.legal_days() + t.extension_days : 0;
  if (legal > 0) {
    const absl::CivilDay due = DueDay(t, calendar, legal, as_of);
    c.set_legal_remaining_working_days(legal - used);
    c.set_legal_due_date(FormatCivilDay(due));
    c.set_legal_overdue(as_of > due);
    latest = std::max(latest, due);
  }
  const int promised = std::max(t.limits.promised_days(), 0);
  if (promised > 0) {
    const absl::CivilDay due = DueDay(t, calendar, promised, as_of);
    c.set_promised_remaining_working_days(promised - used);
    c.set_promised_due_date(FormatCivilDay(due));
    c.set_promised_overdue(as_of > due);
    latest = std::max(latest, due);
  }
  c.set_calendar_uncovered(calendar.AnyUncovered(start, latest));
  return c;
}

bool StartsClocks(const std::string& handling_province, const Events& events,
                  const v1::ApplicationEvent& event) {
  if (event.province_code() != handling_province || !StartedState(event.state_after())) {
    return false;
  }
  for (const v1::ApplicationEvent& e : events) {
    if (e.province_code() == handling_province && StartedState(e.state_after())) return false;
  }
  return true;
}

void StampTimeLimits(const v1::Application& application, const v1::Guide& guide,
                     v1::ApplicationEvent* event) {
  if (!StartsClocks(application.handling_province(), application.events(), *event)) return;
  event->mutable_time_limits()->set_legal_days(std::max(guide.legal_time_limit_days(), 0));
  event->mutable_time_limits()->set_promised_days(std::max(guide.promised_time_limit_days(), 0));
}

absl::Status CheckClockAction(const v1::ApplicationClocks& before, v1::ApplicationAction action,
                              const Events& events, const std::string& handling_province) {
  const std::string name = ActionName(action);
  if (!before.started()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", name, ": the time limit has not started (the application is not accepted yet)"));
  }
  if (before.stopped()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", name, ": the application is final and its clocks are stopped"));
  }
  const bool open = before.special_procedure() != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED;
  switch (action) {
    case v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE:
      if (open) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot START_SPECIAL_PROCEDURE: special procedure ",
            absl::StripPrefix(v1::SpecialProcedureKind_Name(before.special_procedure()),
                              "SPECIAL_PROCEDURE_KIND_"),
            " is still open (END_SPECIAL_PROCEDURE first)"));
      }
      return absl::OkStatus();
    case v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE:
      if (!open) {
        return absl::FailedPreconditionError(
            "cannot END_SPECIAL_PROCEDURE: no special procedure is open");
      }
      return absl::OkStatus();
    case v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT: {
      if (before.limits().legal_days() <= 0) {
        return absl::FailedPreconditionError(
            "cannot EXTEND_TIME_LIMIT: the guide sets no legal time limit for this item");
      }
      // Any earlier extension event counts, even one the clocks ignored.
      for (const v1::ApplicationEvent& e : events) {
        if (e.province_code() == handling_province &&
            e.action() == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT) {
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot EXTEND_TIME_LIMIT: the legal time limit was already extended (event ",
              e.event_id(), "); it may be extended once"));
        }
      }
      if (before.legal_overdue()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot EXTEND_TIME_LIMIT: the legal time limit ran out on ", before.legal_due_date(),
            "; an extension must be approved within it"));
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(name, " is not a time-limit action"));
  }
}

}  // namespace tongban::node
