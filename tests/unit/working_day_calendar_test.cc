// WorkingDayCalendar: the shipped national schedule, counting across holiday
// blocks and year ends, fallback for uncovered years, local layers, data
// validation, and properties against a day-by-day reference count.
#include "working_day_calendar.h"

#include <climits>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

absl::CivilDay D(int y, int m, int d) { return absl::CivilDay(y, m, d); }

const std::string kNationalPath = std::string(TONGBAN_WORKING_DAYS_DIR) + "/cn-national.tsv";

const WorkingDayCalendar& National() {
  static const WorkingDayCalendar* cal = [] {
    absl::StatusOr<WorkingDayCalendar> c = WorkingDayCalendar::FromFiles({kNationalPath});
    if (!c.ok()) {
      ADD_FAILURE() << c.status();
      c = WorkingDayCalendar::FromText("year\t2000\tempty", "empty");
    }
    return new WorkingDayCalendar(*std::move(c));
  }();
  return *cal;
}

// The reference: step one day at a time.
absl::CivilDay NaiveAdd(const WorkingDayCalendar& cal, absl::CivilDay day, int n) {
  const int step = n >= 0 ? 1 : -1;
  for (int left = n >= 0 ? n : -n; left > 0;) {
    day += step;
    if (cal.IsWorkingDay(day)) --left;
  }
  return day;
}

int NaiveBetween(const WorkingDayCalendar& cal, absl::CivilDay from, absl::CivilDay to) {
  int count = 0;
  for (absl::CivilDay d = from + 1; d <= to; ++d) count += cal.IsWorkingDay(d) ? 1 : 0;
  return count;
}

std::string ReadNational() {
  std::ifstream in(kNationalPath, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void ExpectRest(const WorkingDayCalendar& cal, absl::CivilDay first, absl::CivilDay last) {
  for (absl::CivilDay d = first; d <= last; ++d) EXPECT_FALSE(cal.IsWorkingDay(d)) << d;
}

TEST(ChinaTimeTest, DayChangesAtSixteenUtc) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_EQ(ChinaCivilDay(absl::FromCivil(absl::CivilSecond(2025, 12, 31, 15, 59, 59), utc)),
            D(2025, 12, 31));
  EXPECT_EQ(ChinaCivilDay(absl::FromCivil(absl::CivilSecond(2025, 12, 31, 16, 0, 0), utc)),
            D(2026, 1, 1));
  EXPECT_EQ(ChinaStartOfDay(D(2026, 1, 1)),
            absl::FromCivil(absl::CivilSecond(2025, 12, 31, 16, 0, 0), utc));
  for (absl::CivilDay d = D(2024, 2, 27); d <= D(2024, 3, 2); ++d) {
    EXPECT_EQ(ChinaCivilDay(ChinaStartOfDay(d)), d);
    EXPECT_EQ(ChinaCivilDay(ChinaStartOfDay(d) + absl::Hours(24) - absl::Nanoseconds(1)), d);
  }
}

TEST(WorkingDayCalendarTest, WithoutListedDaysMondayToFridayWork) {
  absl::StatusOr<WorkingDayCalendar> cal =
      WorkingDayCalendar::FromText("year\t2030\tno special days", "t");
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_TRUE(cal->IsWorkingDay(D(2030, 1, 7)));    // Monday
  EXPECT_TRUE(cal->IsWorkingDay(D(2030, 1, 11)));   // Friday
  EXPECT_FALSE(cal->IsWorkingDay(D(2030, 1, 12)));  // Saturday
  EXPECT_FALSE(cal->IsWorkingDay(D(2030, 1, 13)));  // Sunday
  EXPECT_EQ(cal->AddWorkingDays(D(2030, 1, 11), 1), D(2030, 1, 14));
  EXPECT_EQ(cal->AddWorkingDays(D(2030, 1, 12), 5), D(2030, 1, 18));
  EXPECT_EQ(cal->WorkingDaysBetween(D(2030, 1, 6), D(2030, 1, 13)), 5);
  EXPECT_TRUE(cal->Covers(2030));
  EXPECT_EQ(cal->LastCoveredYear(), 2030);
}

TEST(WorkingDayCalendarTest, ShippedDataCovers2024To2026) {
  const WorkingDayCalendar& cal = National();
  EXPECT_FALSE(cal.Covers(2023));
  EXPECT_TRUE(cal.Covers(2024));
  EXPECT_TRUE(cal.Covers(2025));
  EXPECT_TRUE(cal.Covers(2026));
  EXPECT_FALSE(cal.Covers(2027));
  EXPECT_EQ(cal.LastCoveredYear(), 2026);
}

TEST(WorkingDayCalendarTest, Shipped2025Schedule) {
  const WorkingDayCalendar& cal = National();
  EXPECT_FALSE(cal.IsWorkingDay(D(2025, 1, 1)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 1, 2)));
  // 春节 from 除夕 (added by the revised 放假办法) through 正月初七.
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 1, 26)));  // Sunday, 调休上班
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 1, 27)));
  ExpectRest(cal, D(2025, 1, 28), D(2025, 2, 4));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 2, 5)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 2, 8)));  // Saturday, 调休上班
  ExpectRest(cal, D(2025, 4, 4), D(2025, 4, 6));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 4, 27)));
  ExpectRest(cal, D(2025, 5, 1), D(2025, 5, 5));  // 劳动节 now 2 days (5月2日 added)
  ExpectRest(cal, D(2025, 5, 31), D(2025, 6, 2));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 9, 28)));
  ExpectRest(cal, D(2025, 10, 1), D(2025, 10, 8));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 10, 9)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2025, 10, 11)));
  EXPECT_EQ(cal.DayName(D(2025, 10, 5)), "国庆节、中秋节");
  EXPECT_EQ(cal.DayName(D(2025, 9, 28)), "国庆节、中秋节");
  EXPECT_EQ(cal.DayName(D(2025, 1, 28)), "春节");
  EXPECT_EQ(cal.DayName(D(2025, 10, 9)), "");
}

TEST(WorkingDayCalendarTest, Shipped2026Schedule) {
  const WorkingDayCalendar& cal = National();
  ExpectRest(cal, D(2026, 1, 1), D(2026, 1, 3));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 1, 4)));  // Sunday
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 2, 14)));
  ExpectRest(cal, D(2026, 2, 15), D(2026, 2, 23));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 2, 24)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 2, 28)));
  ExpectRest(cal, D(2026, 4, 4), D(2026, 4, 6));
  ExpectRest(cal, D(2026, 5, 1), D(2026, 5, 5));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 5, 9)));
  ExpectRest(cal, D(2026, 6, 19), D(2026, 6, 21));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 9, 20)));
  ExpectRest(cal, D(2026, 9, 25), D(2026, 9, 27));
  ExpectRest(cal, D(2026, 10, 1), D(2026, 10, 7));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 10, 8)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2026, 10, 10)));
}

TEST(WorkingDayCalendarTest, Shipped2024Schedule) {
  const WorkingDayCalendar& cal = National();
  EXPECT_FALSE(cal.IsWorkingDay(D(2024, 1, 1)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 2, 4)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 2, 9)));  // 除夕 was not a holiday before 2025
  ExpectRest(cal, D(2024, 2, 10), D(2024, 2, 17));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 2, 18)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 4, 7)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 5, 11)));
  EXPECT_FALSE(cal.IsWorkingDay(D(2024, 6, 10)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 9, 14)));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 9, 29)));
  ExpectRest(cal, D(2024, 10, 1), D(2024, 10, 7));
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 10, 12)));
}

// The published yearly totals of 法定工作日 (weekdays − weekday holidays + 调休上班).
TEST(WorkingDayCalendarTest, WorkingDaysPerYear) {
  const WorkingDayCalendar& cal = National();
  EXPECT_EQ(cal.WorkingDaysBetween(D(2023, 12, 31), D(2024, 12, 31)), 251);
  EXPECT_EQ(cal.WorkingDaysBetween(D(2024, 12, 31), D(2025, 12, 31)), 248);
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 12, 31), D(2026, 12, 31)), 248);
}

TEST(WorkingDayCalendarTest, StartDayIsNotCounted) {
  const WorkingDayCalendar& cal = National();
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 9), 0), D(2025, 10, 9));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 3), 0), D(2025, 10, 3));  // even a holiday
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 9), 1), D(2025, 10, 10));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 3), 1), D(2025, 10, 9));
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 10, 9), D(2025, 10, 9)), 0);
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 10, 10), D(2025, 10, 9)), 0);
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 10, 9), D(2025, 10, 10)), 1);
}

TEST(WorkingDayCalendarTest, NationalDayBlockAndItsMakeUpWeekends) {
  const WorkingDayCalendar& cal = National();
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 9, 30), 1), D(2025, 10, 9));
  // Fri 26 → Sun 28 (调休), Mon 29, Tue 30, Thu 9, Fri 10, Sat 11 (调休).
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 9, 26), D(2025, 10, 12)), 6);
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 9, 26), 1), D(2025, 9, 28));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 9, 26), 6), D(2025, 10, 11));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 9, 26), 7), D(2025, 10, 13));
}

TEST(WorkingDayCalendarTest, SpringFestivalBlock) {
  const WorkingDayCalendar& cal = National();
  // Filed Fri 24 Jan 2025: Sun 26 (调休), Mon 27, then Wed 5 .. Fri 7 Feb, Sat 8 (调休).
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 1, 24), 1), D(2025, 1, 26));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 1, 24), 2), D(2025, 1, 27));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 1, 24), 3), D(2025, 2, 5));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 1, 24), 6), D(2025, 2, 8));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 1, 24), 7), D(2025, 2, 10));
  // 2026: nine days from 腊月二十八.
  EXPECT_EQ(cal.AddWorkingDays(D(2026, 2, 13), 1), D(2026, 2, 14));
  EXPECT_EQ(cal.AddWorkingDays(D(2026, 2, 14), 1), D(2026, 2, 24));
}

TEST(WorkingDayCalendarTest, AcrossYearEnds) {
  const WorkingDayCalendar& cal = National();
  // 31 Dec 2025 (Wed) → 元旦 1–3 Jan 2026 → Sun 4 Jan is a make-up working day.
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 12, 31), 1), D(2026, 1, 4));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 12, 31), 2), D(2026, 1, 5));
  EXPECT_EQ(cal.WorkingDaysBetween(D(2025, 12, 30), D(2026, 1, 5)), 3);
  // 31 Dec 2024 (Tue) → 元旦 Wed 1 Jan 2025 → Thu 2 Jan.
  EXPECT_EQ(cal.AddWorkingDays(D(2024, 12, 31), 1), D(2025, 1, 2));
  EXPECT_FALSE(cal.AnyUncovered(D(2024, 12, 31), D(2025, 1, 2)));
  EXPECT_FALSE(cal.AnyUncovered(D(2025, 12, 31), D(2026, 1, 5)));
  // Fri 29 Dec 2023: the weekend is in 2023, which the data does not cover.
  EXPECT_EQ(cal.AddWorkingDays(D(2023, 12, 29), 1), D(2024, 1, 2));
  EXPECT_TRUE(cal.AnyUncovered(D(2023, 12, 29), D(2024, 1, 2)));
  EXPECT_FALSE(cal.AnyUncovered(D(2023, 12, 31), D(2024, 1, 2)));
}

TEST(WorkingDayCalendarTest, NegativeCountsGoBackwards) {
  const WorkingDayCalendar& cal = National();
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 9), -1), D(2025, 9, 30));
  EXPECT_EQ(cal.AddWorkingDays(D(2026, 1, 5), -1), D(2026, 1, 4));
  EXPECT_EQ(cal.AddWorkingDays(D(2026, 1, 5), -2), D(2025, 12, 31));
  EXPECT_EQ(cal.AddWorkingDays(D(2025, 10, 5), -1), D(2025, 9, 30));  // from inside a block
  EXPECT_FALSE(cal.AnyUncovered(cal.AddWorkingDays(D(2026, 1, 5), -2) - 1, D(2026, 1, 5) - 1));
}

TEST(WorkingDayCalendarTest, LeapDays) {
  const WorkingDayCalendar& cal = National();
  EXPECT_EQ(absl::GetWeekday(D(2024, 2, 29)), absl::Weekday::thursday);
  EXPECT_TRUE(cal.IsWorkingDay(D(2024, 2, 29)));
  EXPECT_EQ(cal.AddWorkingDays(D(2024, 2, 28), 1), D(2024, 2, 29));
  EXPECT_EQ(cal.AddWorkingDays(D(2024, 2, 29), 1), D(2024, 3, 1));
  EXPECT_EQ(cal.WorkingDaysBetween(D(2024, 1, 31), D(2024, 2, 29)),
            21 - 5 + 2);  // 春节 weekdays out, two 调休 Sundays in
  // 2100 is not a leap year: Fri 26 Feb → Mon 1 Mar, by the weekend rule.
  EXPECT_EQ(cal.AddWorkingDays(D(2100, 2, 26), 1), D(2100, 3, 1));
  EXPECT_EQ(cal.WorkingDaysBetween(D(2100, 2, 1), D(2100, 3, 31)), 42);
  EXPECT_TRUE(cal.AnyUncovered(D(2100, 2, 1), D(2100, 3, 31)));
}

TEST(WorkingDayCalendarTest, UncoveredYearsFallBackToTheWeekendRule) {
  const WorkingDayCalendar& cal = National();
  // 1 Jan 2027 (Friday) is surely 元旦, but without data it counts as working:
  // the clock keeps running and the caller is told.
  EXPECT_TRUE(cal.IsWorkingDay(D(2027, 1, 1)));
  EXPECT_FALSE(cal.IsWorkingDay(D(2027, 1, 2)));
  EXPECT_EQ(cal.AddWorkingDays(D(2026, 12, 31), 1), D(2027, 1, 1));
  EXPECT_TRUE(cal.AnyUncovered(D(2026, 12, 31), D(2027, 1, 1)));
  EXPECT_FALSE(cal.AnyUncovered(D(2026, 12, 30), D(2026, 12, 31)));
  EXPECT_FALSE(cal.AnyUncovered(D(2026, 12, 31), D(2026, 12, 31)));
  EXPECT_TRUE(cal.AnyUncovered(D(2024, 6, 1), D(2030, 1, 1)));
  EXPECT_TRUE(cal.AnyUncovered(D(1, 1, 1), D(9999, 1, 1)));
  EXPECT_EQ(cal.WorkingDaysBetween(D(2027, 12, 31), D(2028, 12, 31)), 260);
}

TEST(WorkingDayCalendarTest, LocalDaysLayerOnTheNationalFile) {
  const std::string local =
      "# a province's own days (made up for the test)\n"
      "year\t2025\tlocal notice 2025\n"
      "year\t2026\tlocal notice 2026\n"
      "2025-03-31\tholiday\t地方节日\n"
      "2025-04-01\tholiday\t地方节日\n"
      "2025-03-29\tworkday\t地方节日\n";
  absl::StatusOr<WorkingDayCalendar> national = WorkingDayCalendar::FromFiles({kNationalPath});
  ASSERT_TRUE(national.ok()) << national.status();
  const std::string national_text = ReadNational();
  ASSERT_FALSE(national_text.empty());
  std::vector<CalendarSource> sources;
  sources.push_back({"cn-national.tsv", national_text});
  sources.push_back({"local.tsv", local});
  absl::StatusOr<WorkingDayCalendar> cal = WorkingDayCalendar::FromSources(sources);
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_FALSE(cal->IsWorkingDay(D(2025, 3, 31)));
  EXPECT_FALSE(cal->IsWorkingDay(D(2025, 4, 1)));
  EXPECT_TRUE(cal->IsWorkingDay(D(2025, 3, 29)));
  EXPECT_TRUE(national->IsWorkingDay(D(2025, 3, 31)));
  EXPECT_FALSE(cal->IsWorkingDay(D(2025, 10, 1)));  // national days still apply
  EXPECT_TRUE(cal->IsWorkingDay(D(2025, 9, 28)));
  EXPECT_EQ(cal->DayName(D(2025, 4, 1)), "地方节日");
  EXPECT_EQ(cal->AddWorkingDays(D(2025, 3, 28), 2), D(2025, 4, 2));
  // 2024 is covered nationally but not confirmed by the local file.
  EXPECT_FALSE(cal->Covers(2024));
  EXPECT_TRUE(cal->Covers(2025));
  EXPECT_EQ(cal->LastCoveredYear(), 2026);

  // A local file still at 2025 leaves 2026 uncovered, though the national file has it.
  absl::StatusOr<WorkingDayCalendar> stale = WorkingDayCalendar::FromSources(
      {{"cn-national.tsv", national_text}, {"local.tsv", "year\t2025\tlocal notice\n"}});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->LastCoveredYear(), 2025);
  EXPECT_TRUE(stale->AnyUncovered(D(2025, 12, 30), D(2026, 1, 5)));

  // No year in common: nothing is covered, and the gauge shows 0.
  absl::StatusOr<WorkingDayCalendar> disjoint =
      WorkingDayCalendar::FromSources({{"a", "year\t2025\ta\n"}, {"b", "year\t2026\tb\n"}});
  ASSERT_TRUE(disjoint.ok()) << disjoint.status();
  EXPECT_EQ(disjoint->LastCoveredYear(), 0);
  EXPECT_FALSE(disjoint->Covers(2025));

  // A local file may not repeat or contradict a national day.
  absl::StatusOr<WorkingDayCalendar> repeat = WorkingDayCalendar::FromSources(
      {{"cn-national.tsv", national_text},
       {"local.tsv", "year\t2025\tx\n\n2025-10-01\tholiday\t国庆节\n"}});
  ASSERT_FALSE(repeat.ok());
  EXPECT_EQ(repeat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(repeat.status().message()),
              HasSubstr("local.tsv:3: 2025-10-01 is listed twice (also at cn-national.tsv:"));
  absl::StatusOr<WorkingDayCalendar> contradict = WorkingDayCalendar::FromSources(
      {{"cn-national.tsv", national_text},
       {"local.tsv", "year\t2025\tx\n2025-10-11\tholiday\t地方节日\n"}});
  ASSERT_FALSE(contradict.ok());
  EXPECT_THAT(std::string(contradict.status().message()),
              HasSubstr("local.tsv:2: 2025-10-11 is listed as a holiday here and as a workday at "
                        "cn-national.tsv:"));
}

TEST(WorkingDayCalendarTest, AcceptsCommentsBlankLinesCrlfAndByteOrderMark) {
  absl::StatusOr<WorkingDayCalendar> cal = WorkingDayCalendar::FromText(
      "\xEF\xBB\xBF# header\r\n\r\n   # indented comment\r\nyear\t2025\tsrc\r\n"
      "2025-10-01\tholiday\t国庆节\r\n"
      "2025-10-04\tholiday\t国庆节 \r\n"  // a Saturday holiday: harmless
      "2025-10-11\tworkday\t国庆节\r\n",
      "t");
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_FALSE(cal->IsWorkingDay(D(2025, 10, 1)));
  EXPECT_FALSE(cal->IsWorkingDay(D(2025, 10, 4)));
  EXPECT_TRUE(cal->IsWorkingDay(D(2025, 10, 11)));
  EXPECT_EQ(cal->DayName(D(2025, 10, 4)), "国庆节");
}

struct BadData {
  const char* text;
  const char* message;
};

TEST(WorkingDayCalendarTest, RefusesBadDataNamingFileAndLine) {
  const BadData cases[] = {
      {"year\t2025\ts\n2025-10-01 holiday 国庆节\n", "f.tsv:2: expected 3 tab-separated columns"},
      {"year\t2025\ts\n2025-10-01\tholiday\t国庆节\textra\n",
       "f.tsv:2: expected 3 tab-separated columns"},
      {"year\t2025\ts\n2025-10-01\tholiday\n", "f.tsv:2: expected 3 tab-separated columns"},
      {"year\t2025\ts\n2025/10/01\tholiday\t国庆节\n", "f.tsv:2: expected a date YYYY-MM-DD"},
      {"year\t2025\ts\n# c\n2025-02-29\tholiday\tx\n", "f.tsv:3: 2025-02-29 is not a date"},
      {"year\t2025\ts\n2025-13-01\tholiday\tx\n", "f.tsv:2: 2025-13-01 is not a date"},
      {"year\t2025\ts\n2025-04-31\tholiday\tx\n", "f.tsv:2: 2025-04-31 is not a date"},
      {"year\t2025\ts\n2025-10-01\trest\t国庆节\n",
       "f.tsv:2: expected holiday or workday in the second column, found \"rest\""},
      {"year\t2025\ts\n2025-09-29\tworkday\t国庆节\n",
       "f.tsv:2: 2025-09-29 is a Monday: a make-up working day (workday) is a Saturday or "
       "Sunday"},
      {"year\t2025\ts\n2025-10-01\tholiday\t国庆节\n2025-10-01\tholiday\t国庆节\n",
       "f.tsv:3: 2025-10-01 is listed twice (also at f.tsv:2)"},
      {"year\t2025\ts\n2025-10-11\tworkday\t国庆节\n\n2025-10-11\tholiday\t国庆节\n",
       "f.tsv:4: 2025-10-11 is listed as a holiday here and as a workday at f.tsv:2"},
      {"year\t2025\ts\n2026-01-01\tholiday\t元旦\n",
       "f.tsv:2: 2026-01-01 is in 2026, which this file does not declare"},
      {"year\t2025\ts\nyear\t2025\ts\n", "f.tsv:2: year 2025 is already declared at line 1"},
      {"year\t25\ts\n", "f.tsv:1: expected a four-digit year, found \"25\""},
      {"year\t2025\t\n", "f.tsv:1: the source of the year is required"},
      {"year\t2025\ts\n2025-10-01\tholiday\t\n", "f.tsv:2: the holiday name is required"},
      {"year\t2025\ts\n2025-10-01\tholiday\t\xE5\x9B\n", "f.tsv:2: the holiday name is not valid"},
      {"# nothing but a comment\n", "f.tsv: declares no year"},
      {"", "f.tsv: declares no year"},
  };
  for (const BadData& c : cases) {
    absl::StatusOr<WorkingDayCalendar> cal = WorkingDayCalendar::FromText(c.text, "f.tsv");
    ASSERT_FALSE(cal.ok()) << c.text;
    EXPECT_EQ(cal.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(cal.status().message()), HasSubstr(c.message)) << c.text;
  }
}

TEST(WorkingDayCalendarTest, FileErrors) {
  absl::StatusOr<WorkingDayCalendar> missing =
      WorkingDayCalendar::FromFiles({kNationalPath, "/nonexistent/local.tsv"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/local.tsv"));
  absl::StatusOr<WorkingDayCalendar> none = WorkingDayCalendar::FromFiles({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
}

// A year that is all holiday: counting must jump over it, not give up.
TEST(WorkingDayCalendarTest, ManyHolidaysInARow) {
  std::string text = "year\t2030\tsrc\n";
  for (absl::CivilDay d = D(2030, 1, 1); d <= D(2030, 12, 31); ++d) {
    absl::StrAppend(&text, absl::FormatCivilTime(d), "\tholiday\tx\n");
  }
  absl::StatusOr<WorkingDayCalendar> cal = WorkingDayCalendar::FromText(text, "t");
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_EQ(cal->AddWorkingDays(D(2029, 12, 31), 1), D(2031, 1, 1));
  EXPECT_EQ(cal->AddWorkingDays(D(2031, 1, 1), -1), D(2029, 12, 31));
  EXPECT_EQ(cal->AddWorkingDays(D(2029, 12, 28), 2), D(2031, 1, 1));  // Mon 31 Dec, then 2031
  EXPECT_EQ(cal->WorkingDaysBetween(D(2029, 12, 31), D(2030, 12, 31)), 0);
}

TEST(WorkingDayCalendarTest, HugeCountsStayFastAndSaturate) {
  const WorkingDayCalendar& cal = National();
  const absl::CivilDay start = D(2025, 1, 1);
  const absl::CivilDay far = cal.AddWorkingDays(start, INT_MAX);
  EXPECT_EQ(cal.WorkingDaysBetween(start, far), INT_MAX);
  EXPECT_TRUE(cal.IsWorkingDay(far));
  EXPECT_EQ(cal.WorkingDaysBetween(start, far - 1), INT_MAX - 1);
  const absl::CivilDay back = cal.AddWorkingDays(start, INT_MIN);
  EXPECT_TRUE(cal.IsWorkingDay(back));
  EXPECT_EQ(cal.WorkingDaysBetween(back, start - 1), INT_MAX);  // saturated: INT_MAX + 1 days
  EXPECT_EQ(cal.WorkingDaysBetween(back - 1, start), INT_MAX);
}

// Properties over random start days from mid-2023 (uncovered) to 2028
// (uncovered), against the day-by-day reference.
TEST(WorkingDayCalendarTest, PropertiesAgainstDayByDayReference) {
  const WorkingDayCalendar& cal = National();
  std::mt19937 rng(20250101);
  std::uniform_int_distribution<int> offset(0, D(2028, 6, 30) - D(2023, 6, 1));
  std::uniform_int_distribution<int> count(0, 300);
  for (int i = 0; i < 3000; ++i) {
    const absl::CivilDay s = D(2023, 6, 1) + offset(rng);
    const int n = count(rng);
    const absl::CivilDay end = cal.AddWorkingDays(s, n);
    ASSERT_EQ(end, NaiveAdd(cal, s, n)) << s << " + " << n;
    ASSERT_EQ(cal.AddWorkingDays(s, -n), NaiveAdd(cal, s, -n)) << s << " - " << n;
    if (n >= 1) {
      ASSERT_TRUE(cal.IsWorkingDay(end)) << s << " + " << n;
      ASSERT_LT(cal.AddWorkingDays(s, n - 1), end) << s << " + " << n;
      ASSERT_TRUE(cal.IsWorkingDay(cal.AddWorkingDays(s, -n))) << s << " - " << n;
    }
    ASSERT_EQ(cal.WorkingDaysBetween(s, end), n) << s << " + " << n;
    // Back from the end lands on s, or on the last working day before s.
    const absl::CivilDay round_trip = cal.AddWorkingDays(end, -n);
    if (n >= 1) {
      ASSERT_EQ(round_trip, cal.IsWorkingDay(s) ? s : cal.AddWorkingDays(s, -1)) << s;
    }

    const absl::CivilDay e = D(2023, 6, 1) + offset(rng);
    const int between = cal.WorkingDaysBetween(s, e);
    ASSERT_EQ(between, NaiveBetween(cal, s, e)) << s << " .. " << e;
    if (e > s && cal.IsWorkingDay(e)) {
      ASSERT_EQ(cal.AddWorkingDays(s, between), e) << s << " .. " << e;
    }
    bool uncovered = false;
    for (absl::CivilDay d = s + 1; d <= e; ++d) uncovered |= !cal.Covers(d.year());
    ASSERT_EQ(cal.AnyUncovered(s, e), uncovered) << s << " .. " << e;
  }
}

}  // namespace
}  // namespace tongban
