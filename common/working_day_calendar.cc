#include "working_day_calendar.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "input_validation.h"

namespace tongban {
namespace {

constexpr size_t kMaxNameChars = 32;
constexpr size_t kMaxYearSourceChars = 200;

bool IsWeekend(absl::CivilDay day) {
  absl::Weekday w = absl::GetWeekday(day);
  return w == absl::Weekday::saturday || w == absl::Weekday::sunday;
}

const char* WeekdayName(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return "Monday";
    case absl::Weekday::tuesday:
      return "Tuesday";
    case absl::Weekday::wednesday:
      return "Wednesday";
    case absl::Weekday::thursday:
      return "Thursday";
    case absl::Weekday::friday:
      return "Friday";
    case absl::Weekday::saturday:
      return "Saturday";
    case absl::Weekday::sunday:
      return "Sunday";
  }
  return "?";
}

// Mon–Fri days from a fixed Monday through `day`, negative before it: only
// differences are used, so the origin does not matter. Closed form so that
// counting over a long span costs nothing.
int64_t WeekdaysThrough(absl::CivilDay day) {
  const int64_t k = day - absl::CivilDay(1970, 1, 5);  // a Monday
  int64_t weeks = k / 7;
  int64_t r = k % 7;
  if (r < 0) {
    r += 7;
    --weeks;
  }
  return 5 * weeks + std::min<int64_t>(r + 1, 5);
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int ToInt(absl::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

// Four digits, no leading zero: catches "25" or "02025" typos.
bool ParseYear(absl::string_view s, int* year) {
  if (s.size() != 4 || !AllDigits(s) || s[0] == '0') return false;
  *year = ToInt(s);
  return true;
}

// Exactly YYYY-MM-DD naming a real date (absl would silently normalize
// 2025-02-29 to 2025-03-01).
absl::StatusOr<absl::CivilDay> ParseDate(absl::string_view s) {
  int y = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !ParseYear(s.substr(0, 4), &y) ||
      !AllDigits(s.substr(5, 2)) || !AllDigits(s.substr(8, 2))) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a date YYYY-MM-DD or the word year in the first column, found ",
                     Shown(s), " (are the columns separated by tabs?)"));
  }
  const int m = ToInt(s.substr(5, 2));
  const int d = ToInt(s.substr(8, 2));
  absl::CivilDay day(y, m, d);
  if (day.month() != m || day.day() != d) {
    return absl::InvalidArgumentError(absl::StrCat(s, " is not a date"));
  }
  return day;
}

struct ParsedDay {
  absl::CivilDay day;
  bool working;
  std::string name;
  int line;
};

struct Layer {
  std::string source;
  std::vector<ParsedDay> days;
  std::vector<int> years;  // sorted
};

absl::Status LineError(absl::string_view source, int line, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", line, ": ", problem));
}

absl::StatusOr<Layer> ParseLayer(const CalendarSource& source) {
  Layer layer;
  layer.source = source.name;
  absl::string_view text = source.text;
  // Editors on Windows may save UTF-8 with a byte-order mark.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

  std::map<int, int> year_lines;  // declared year → its line
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;

    std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    for (absl::string_view& f : fields) f = absl::StripAsciiWhitespace(f);
    if (fields.size() != 3) {
      return LineError(source.name, line_no,
                       absl::StrCat("expected 3 tab-separated columns (YYYY-MM-DD, holiday or "
                                    "workday, name; or year, YYYY, source), found ",
                                    fields.size()));
    }

    if (fields[0] == "year") {
      int year = 0;
      if (!ParseYear(fields[1], &year)) {
        return LineError(source.name, line_no,
                         absl::StrCat("expected a four-digit year, found ", Shown(fields[1])));
      }
      if (absl::Status s = ValidateText("the source of the year", fields[2], kMaxYearSourceChars,
                                        /*required=*/true);
          !s.ok()) {
        return LineError(source.name, line_no, s.message());
      }
      auto [it, inserted] = year_lines.emplace(year, line_no);
      if (!inserted) {
        return LineError(source.name, line_no,
                         absl::StrCat("year ", year, " is already declared at line ", it->second));
      }
      continue;
    }

    absl::StatusOr<absl::CivilDay> day = ParseDate(fields[0]);
    if (!day.ok()) return LineError(source.name, line_no, day.status().message());
    bool working;
    if (fields[1] == "holiday") {
      working = false;
    } else if (fields[1] == "workday") {
      working = true;
    } else {
      return LineError(source.name, line_no,
                       absl::StrCat("expected holiday or workday in the second column, found ",
                                    Shown(fields[1])));
    }
    if (absl::Status s = ValidateText("the holiday name", fields[2], kMaxNameChars,
                                      /*required=*/true);
        !s.ok()) {
      return LineError(source.name, line_no, s.message());
    }
    // A holiday on a weekend changes nothing but is how notices list whole
    // blocks; a make-up day on a weekday would change nothing either, and
    // is certainly a typo.
    if (working && !IsWeekend(*day)) {
      return LineError(source.name, line_no,
                       absl::StrCat(fields[0], " is a ", WeekdayName(*day),
                                    ": a make-up working day (workday) is a Saturday or Sunday"));
    }
    layer.days.push_back(ParsedDay{*day, working, std::string(fields[2]), line_no});
  }

  if (year_lines.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.name,
        ": declares no year: add a line year<TAB>YYYY<TAB>source for each year the file is "
        "complete for"));
  }
  for (const ParsedDay& d : layer.days) {
    const int year = static_cast<int>(d.day.year());
    if (year_lines.count(year) == 0) {
      return LineError(source.name, d.line,
                       absl::StrCat(absl::FormatCivilTime(d.day), " is in ", year,
                                    ", which this file does not declare (add a line year<TAB>",
                                    year, "<TAB>source once the year is complete)"));
    }
  }
  for (const auto& [year, line] : year_lines) layer.years.push_back(year);
  return layer;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read working-day calendar file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read working-day calendar file ", path));
  }
  return text.str();
}

}  // namespace

absl::TimeZone ChinaTimeZone() {
  static const absl::TimeZone tz = absl::FixedTimeZone(8 * 3600);
  return tz;
}

absl::CivilDay ChinaCivilDay(absl::Time t) { return absl::ToCivilDay(t, ChinaTimeZone()); }

absl::Time ChinaStartOfDay(absl::CivilDay day) { return absl::FromCivil(day, ChinaTimeZone()); }

absl::StatusOr<WorkingDayCalendar> WorkingDayCalendar::FromText(absl::string_view text,
                                                                absl::string_view source_name) {
  return FromSources({CalendarSource{std::string(source_name), std::string(text)}});
}

absl::StatusOr<WorkingDayCalendar> WorkingDayCalendar::FromFiles(
    const std::vector<std::string>& paths) {
  std::vector<CalendarSource> sources;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    sources.push_back(CalendarSource{path, *std::move(text)});
  }
  return FromSources(sources);
}

absl::StatusOr<WorkingDayCalendar> WorkingDayCalendar::FromSources(
    const std::vector<CalendarSource>& sources) {
  if (sources.empty()) {
    return absl::InvalidArgumentError("no working-day calendar file given");
  }
  std::vector<Layer> layers;
  for (const CalendarSource& source : sources) {
    absl::StatusOr<Layer> layer = ParseLayer(source);
    if (!layer.ok()) return layer.status();
    layers.push_back(*std::move(layer));
  }

  // A date may be listed once across all layers: a local file that repeats
  // or contradicts the national one is a mistake to fix, not to arbitrate.
  struct Seen {
    const Layer* layer;
    const ParsedDay* day;
  };
  std::map<absl::CivilDay, Seen> seen;
  for (const Layer& layer : layers) {
    for (const ParsedDay& d : layer.days) {
      auto [it, inserted] = seen.emplace(d.day, Seen{&layer, &d});
      if (inserted) continue;
      const Seen& first = it->second;
      const std::string where = absl::StrCat(first.layer->source, ":", first.day->line);
      const std::string date = absl::FormatCivilTime(d.day);
      if (first.day->working == d.working) {
        return LineError(layer.source, d.line,
                         absl::StrCat(date, " is listed twice (also at ", where, ")"));
      }
      return LineError(layer.source, d.line,
                       absl::StrCat(date, " is listed as a ", d.working ? "workday" : "holiday",
                                    " here and as a ", first.day->working ? "workday" : "holiday",
                                    " at ", where));
    }
  }

  WorkingDayCalendar cal;
  for (const auto& [day, s] : seen) {  // std::map: in date order
    cal.listed_.push_back(ListedDay{day, s.day->working, s.day->name});
    if (s.day->working) {
      cal.weekend_workdays_.push_back(day);
    } else if (!IsWeekend(day)) {
      cal.weekday_holidays_.push_back(day);
    }
  }
  cal.covered_years_ = layers.front().years;
  for (size_t i = 1; i < layers.size(); ++i) {
    std::vector<int> both;
    std::set_intersection(cal.covered_years_.begin(), cal.covered_years_.end(),
                          layers[i].years.begin(), layers[i].years.end(), std::back_inserter(both));
    cal.covered_years_ = std::move(both);
  }
  return cal;
}

bool WorkingDayCalendar::IsWorkingDay(absl::CivilDay day) const {
  if (IsWeekend(day)) {
    return std::binary_search(weekend_workdays_.begin(), weekend_workdays_.end(), day);
  }
  return !std::binary_search(weekday_holidays_.begin(), weekday_holidays_.end(), day);
}

int64_t WorkingDayCalendar::Count(absl::CivilDay from, absl::CivilDay to) const {
  auto listed_in_range = [&](const std::vector<absl::CivilDay>& days) {
    return static_cast<int64_t>(std::upper_bound(days.begin(), days.end(), to) -
                                std::upper_bound(days.begin(), days.end(), from));
  };
  return WeekdaysThrough(to) - WeekdaysThrough(from) - listed_in_range(weekday_holidays_) +
         listed_in_range(weekend_workdays_);
}

absl::CivilDay WorkingDayCalendar::AddWorkingDays(absl::CivilDay start, int n) const {
  if (n == 0) return start;
  const int64_t m = n > 0 ? int64_t{n} : -int64_t{n};
  // Every week has 5 weekdays and each listed weekday holiday removes at most
  // one, so m working days lie within this many whole weeks of `start`.
  const int64_t weekday_holidays = static_cast<int64_t>(weekday_holidays_.size());
  int64_t lo = 1;
  int64_t hi = 7 * ((m + weekday_holidays) / 5 + 1);
  // The smallest offset whose span holds m working days: the count grows by
  // at most one a day, so the day at that offset is the m-th working day.
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    const int64_t count = n > 0 ? Count(start, start + mid) : Count(start - 1 - mid, start - 1);
    if (count >= m) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return n > 0 ? start + lo : start - lo;
}

int WorkingDayCalendar::WorkingDaysBetween(absl::CivilDay from, absl::CivilDay to) const {
  if (to <= from) return 0;
  return static_cast<int>(std::min<int64_t>(Count(from, to), INT_MAX));
}

bool WorkingDayCalendar::Covers(int year) const {
  return std::binary_search(covered_years_.begin(), covered_years_.end(), year);
}

int WorkingDayCalendar::LastCoveredYear() const {
  return covered_years_.empty() ? 0 : covered_years_.back();
}

bool WorkingDayCalendar::AnyUncovered(absl::CivilDay from, absl::CivilDay to) const {
  if (to <= from) return false;
  const absl::civil_year_t first = (from + 1).year();
  const absl::civil_year_t last = to.year();
  // More years than are covered at all: one of them is not (and this bounds
  // the loop below for absurd spans).
  if (last - first + 1 > static_cast<absl::civil_year_t>(covered_years_.size())) return true;
  for (absl::civil_year_t y = first; y <= last; ++y) {
    if (y < INT_MIN || y > INT_MAX || !Covers(static_cast<int>(y))) return true;
  }
  return false;
}

absl::string_view WorkingDayCalendar::DayName(absl::CivilDay day) const {
  auto it = std::lower_bound(listed_.begin(), listed_.end(), day,
                             [](const ListedDay& l, absl::CivilDay d) { return l.day < d; });
  if (it == listed_.end() || it->day != day) return {};
  return it->name;
}

}  // namespace tongban
