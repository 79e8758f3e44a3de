// WorkingDayCalendar: which days are 工作日 in mainland China, and working-day
// arithmetic for the time limits of the 行政许可法 (第八十二条: limits in
// working days, 法定节假日 excluded).
//
// A day is a working day when it is Monday–Friday and not listed as a holiday,
// or Saturday/Sunday and listed as a 调休 make-up working day. The lists come
// from data files (docs/working-days.md): the national file
// common/working_days/cn-national.tsv, optionally with a province's local file
// layered on top.
//
// Counting follows 民法典 第二百零一条 (期间开始的当日不计入): the start day
// itself is never counted, so a limit of n working days from a filing on day s
// ends on AddWorkingDays(s, n), the n-th working day after s. That end day is
// always a working day, which also gives 第二百零三条 (a period ending on a rest
// day ends on the next working day) for free.
//
// Years the data does not cover are counted with the weekend rule alone
// (Mon–Fri working) rather than refused: clocks must keep running on 1 January
// even if next year's schedule was not loaded. Callers flag such results with
// AnyUncovered(), and operators watch LastCoveredYear().
//
//   absl::StatusOr<WorkingDayCalendar> cal = WorkingDayCalendar::FromFiles(
//       {"common/working_days/cn-national.tsv", "/etc/tongban/working-days-450000.tsv"});
//   if (!cal.ok()) return cal.status();
//   absl::CivilDay due = cal->AddWorkingDays(ChinaCivilDay(filed_at), 20);
//   bool approximate = cal->AnyUncovered(ChinaCivilDay(filed_at), due);
//
// Immutable once built; every method is const and safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace tongban {

// China has one time zone, UTC+8 without daylight saving: a fixed offset, so
// no tzdata is needed on the host.
absl::TimeZone ChinaTimeZone();
// The calendar day in China at `t`.
absl::CivilDay ChinaCivilDay(absl::Time t);
// 00:00 China time of `day`.
absl::Time ChinaStartOfDay(absl::CivilDay day);

// One calendar data file: `name` is used in error messages (a path, usually).
struct CalendarSource {
  std::string name;
  std::string text;
};

class WorkingDayCalendar final {
 public:
  // One data file. INVALID_ARGUMENT "<source_name>:<line>: <problem>" for
  // malformed data.
  static absl::StatusOr<WorkingDayCalendar> FromText(absl::string_view text,
                                                     absl::string_view source_name);
  // Layers: the national file first, then local ones. A date may appear in
  // only one layer, and a year is covered only if every layer declares it
  // (a province's local file must confirm each year, even one without local
  // days). Refuses an empty list.
  static absl::StatusOr<WorkingDayCalendar> FromSources(const std::vector<CalendarSource>& sources);
  // FromSources over files read from `paths`; FAILED_PRECONDITION when one
  // cannot be read.
  static absl::StatusOr<WorkingDayCalendar> FromFiles(const std::vector<std::string>& paths);

  bool IsWorkingDay(absl::CivilDay day) const;

  // n > 0: the n-th working day after `start` (start not counted).
  // n < 0: the |n|-th working day before `start` (start not counted), so for
  // a working day s, AddWorkingDays(AddWorkingDays(s, n), -n) == s.
  // n == 0: `start`, whether or not it is a working day.
  // Logarithmic in the number of listed days, whatever n.
  absl::CivilDay AddWorkingDays(absl::CivilDay start, int n) const;

  // The number of working days d with from < d <= to; 0 when to <= from.
  // For a working day e > s: AddWorkingDays(s, WorkingDaysBetween(s, e)) == e.
  // Saturates at INT_MAX (ranges of millions of years).
  int WorkingDaysBetween(absl::CivilDay from, absl::CivilDay to) const;

  // Whether every layer declared `year` complete.
  bool Covers(int year) const;
  // The latest covered year; 0 when none is (layers with no year in common).
  int LastCoveredYear() const;
  // Whether a day d with from < d <= to (the days WorkingDaysBetween looks
  // at) falls in a year that is not covered, i.e. was counted by the weekend
  // rule alone. For AddWorkingDays(s, n): AnyUncovered(s, result) when n > 0,
  // AnyUncovered(result - 1, s - 1) when n < 0.
  bool AnyUncovered(absl::CivilDay from, absl::CivilDay to) const;

  // The holiday name of a listed day (e.g. "国庆节", also for its make-up
  // working days); empty for a day the data does not list.
  absl::string_view DayName(absl::CivilDay day) const;

 private:
  struct ListedDay {
    absl::CivilDay day;
    bool working;
    std::string name;
  };

  WorkingDayCalendar() = default;
  // Working days in (from, to], from <= to; 64-bit so huge spans cannot overflow.
  int64_t Count(absl::CivilDay from, absl::CivilDay to) const;

  std::vector<ListedDay> listed_;                 // sorted by day, one entry per day
  std::vector<absl::CivilDay> weekday_holidays_;  // sorted; holidays on Mon–Fri only
  std::vector<absl::CivilDay> weekend_workdays_;  // sorted
  std::vector<int> covered_years_;                // sorted
};

}  // namespace tongban
