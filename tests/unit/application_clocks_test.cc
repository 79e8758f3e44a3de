// Time-limit clocks (node/service/application_clocks.h) over the real
// national working-day calendar: start at 受理, pauses for the applicant and
// for special procedures, the extension rules, freezing at a final state,
// year boundaries and 调休, and the uncovered-year flag. Time is a FakeClock.
#include "service/application_clocks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "clock.h"
#include "google/protobuf/util/time_util.h"
#include "working_day_calendar.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

constexpr char kAccepting[] = "430000";
constexpr char kHandling[] = "310000";

const WorkingDayCalendar& Calendar() {
  static const auto* cal = [] {
    auto c = WorkingDayCalendar::FromFiles({std::string(TONGBAN_WORKING_DAYS_DIR) + "/cn-national.tsv"});
    EXPECT_TRUE(c.ok()) << c.status();
    return new WorkingDayCalendar(*std::move(c));
  }();
  return *cal;
}

// 10:00 China time on that day.
absl::Time At(int y, int m, int d, int hour = 10) {
  return ChinaStartOfDay(absl::CivilDay(y, m, d)) + absl::Hours(hour);
}

class ClocksTest : public ::testing::Test {
 protected:
  v1::ApplicationEvent& Add(const std::string& province, v1::ApplicationAction action,
                            v1::ApplicationState before, v1::ApplicationState after, absl::Time at) {
    v1::ApplicationEvent* e = events_.Add();
    e->set_event_id(province + "-" + std::to_string(events_.size()));
    e->set_province_code(province);
    e->set_action(action);
    e->set_state_before(before);
    e->set_state_after(after);
    *e->mutable_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(at));
    return *e;
  }
  // Filed at the accepting window, delivered, accepted on 2025-11-04 (Tue)
  // with limits legal 20 / promised 10: legal due 2025-12-02, promised 2025-11-18.
  void FiledAndAccepted(int legal = 20, int promised = 10, absl::Time accepted = At(2025, 11, 4)) {
    Add(kAccepting, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
        v1::APPLICATION_STATE_RECEIVED, accepted - absl::Hours(24));
    Add(kHandling, v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_UNSPECIFIED,
        v1::APPLICATION_STATE_RECEIVED, accepted - absl::Hours(23));
    v1::ApplicationEvent& accept = Add(kHandling, v1::APPLICATION_ACTION_ACCEPT,
                                       v1::APPLICATION_STATE_RECEIVED,
                                       v1::APPLICATION_STATE_ACCEPTED, accepted);
    accept.mutable_time_limits()->set_legal_days(legal);
    accept.mutable_time_limits()->set_promised_days(promised);
  }
  v1::ApplicationClocks Clocks() const {
    return ComputeClocks(kHandling, events_, Calendar(), clock_.Now());
  }

  Events events_;
  FakeClock clock_{At(2025, 11, 4, 15)};
};

TEST_F(ClocksTest, NotStartedBeforeAcceptance) {
  Add(kAccepting, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
      v1::APPLICATION_STATE_RECEIVED, At(2025, 11, 3));
  Add(kHandling, v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_UNSPECIFIED,
      v1::APPLICATION_STATE_RECEIVED, At(2025, 11, 3));
  // Pre-acceptance 补正 does not start them either.
  Add(kHandling, v1::APPLICATION_ACTION_REQUEST_MATERIALS, v1::APPLICATION_STATE_RECEIVED,
      v1::APPLICATION_STATE_WAITING_FOR_MATERIALS, At(2025, 11, 3));
  const v1::ApplicationClocks c = Clocks();
  EXPECT_FALSE(c.started());
  EXPECT_EQ(c.legal_due_date(), "");
  EXPECT_FALSE(c.legal_overdue());
}

TEST_F(ClocksTest, StartDayIsNotCountedAndDaysRunOnWorkingDaysOnly) {
  FiledAndAccepted();
  v1::ApplicationClocks c = Clocks();
  ASSERT_TRUE(c.started());
  EXPECT_EQ(c.limits().legal_days(), 20);
  EXPECT_EQ(c.used_working_days(), 0);
  EXPECT_EQ(c.legal_remaining_working_days(), 20);
  EXPECT_EQ(c.promised_remaining_working_days(), 10);
  EXPECT_EQ(c.legal_due_date(), "2025-12-02");
  EXPECT_EQ(c.promised_due_date(), "2025-11-18");
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_FALSE(c.calendar_uncovered());
  clock_.Advance(absl::Hours(24 * 6));  // Mon 2025-11-10: Wed, Thu, Fri, Mon counted
  c = Clocks();
  EXPECT_EQ(c.used_working_days(), 4);
  EXPECT_EQ(c.legal_remaining_working_days(), 16);
  EXPECT_EQ(c.as_of_date(), "2025-11-10");
}

TEST_F(ClocksTest, OverdueTheDayAfterTheDueDate) {
  FiledAndAccepted();
  clock_.Advance(At(2025, 12, 2, 23) - clock_.Now());
  v1::ApplicationClocks c = Clocks();
  EXPECT_FALSE(c.legal_overdue());
  EXPECT_EQ(c.legal_remaining_working_days(), 0);
  EXPECT_TRUE(c.promised_overdue());
  clock_.Advance(absl::Hours(2));  // Wed 2025-12-03, 01:00
  c = Clocks();
  EXPECT_TRUE(c.legal_overdue());
  EXPECT_EQ(c.legal_remaining_working_days(), -1);
  EXPECT_EQ(c.legal_due_date(), "2025-12-02");
}

TEST_F(ClocksTest, PausedWhileWaitingForTheApplicantAndResumedBySupplement) {
  FiledAndAccepted();
  Add(kHandling, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_IN_REVIEW, At(2025, 11, 5));
  Add(kHandling, v1::APPLICATION_ACTION_REQUEST_MATERIALS, v1::APPLICATION_STATE_IN_REVIEW,
      v1::APPLICATION_STATE_WAITING_FOR_MATERIALS, At(2025, 11, 6));
  clock_.Advance(At(2025, 11, 10) - clock_.Now());
  v1::ApplicationClocks c = Clocks();
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_APPLICANT);
  EXPECT_EQ(c.used_working_days(), 2);        // Wed 5, Thu 6
  EXPECT_EQ(c.paused_working_days(), 2);      // Fri 7, Mon 10
  EXPECT_EQ(c.legal_remaining_working_days(), 18);
  // Projected as if resumed today.
  EXPECT_EQ(c.legal_due_date(), FormatCivilDay(Calendar().AddWorkingDays(absl::CivilDay(2025, 11, 10), 18)));
  // The applicant's supplement at the accepting window changes nothing by itself…
  Add(kAccepting, v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS,
      v1::APPLICATION_STATE_WAITING_FOR_MATERIALS, At(2025, 11, 11));
  clock_.Advance(At(2025, 11, 12) - clock_.Now());
  EXPECT_EQ(Clocks().paused(), v1::CLOCK_PAUSE_REASON_APPLICANT);
  // … the handling province's result resumes them (Wed 12 not counted).
  Add(kHandling, v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS,
      v1::APPLICATION_STATE_IN_REVIEW, At(2025, 11, 12));
  clock_.Advance(absl::Hours(24));  // Thu 13
  c = Clocks();
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_EQ(c.paused_working_days(), 4);  // Fri 7, Mon 10, Tue 11, Wed 12
  EXPECT_EQ(c.used_working_days(), 3);
  EXPECT_EQ(c.legal_due_date(), "2025-12-08");  // 2025-12-02 + 4 working days
  EXPECT_EQ(c.promised_due_date(), "2025-11-24");
}

TEST_F(ClocksTest, RongQueStartIsPausedUntilComplete) {
  Add(kAccepting, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
      v1::APPLICATION_STATE_PENDING_SUPPLEMENT, At(2025, 11, 3));
  v1::ApplicationEvent& deliver =
      Add(kHandling, v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_UNSPECIFIED,
          v1::APPLICATION_STATE_PENDING_SUPPLEMENT, At(2025, 11, 3));
  deliver.mutable_time_limits()->set_legal_days(20);
  clock_.Advance(At(2025, 11, 6) - clock_.Now());
  v1::ApplicationClocks c = Clocks();
  ASSERT_TRUE(c.started());
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_APPLICANT);
  EXPECT_EQ(c.used_working_days(), 0);
  EXPECT_EQ(c.promised_due_date(), "");  // the guide sets no promised limit
  Add(kHandling, v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_STATE_PENDING_SUPPLEMENT,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 6));
  clock_.Advance(absl::Hours(24));
  c = Clocks();
  EXPECT_EQ(c.used_working_days(), 1);
  EXPECT_EQ(c.paused_working_days(), 3);
}

TEST_F(ClocksTest, SpecialProcedurePausesWithItsKind) {
  FiledAndAccepted();
  v1::ApplicationEvent& start = Add(kHandling, v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE,
                                    v1::APPLICATION_STATE_ACCEPTED,
                                    v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 7));
  start.set_special_procedure(v1::SPECIAL_PROCEDURE_KIND_EXPERT_REVIEW);
  clock_.Advance(At(2025, 11, 12) - clock_.Now());
  v1::ApplicationClocks c = Clocks();
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_SPECIAL_PROCEDURE);
  EXPECT_EQ(c.special_procedure(), v1::SPECIAL_PROCEDURE_KIND_EXPERT_REVIEW);
  EXPECT_EQ(c.used_working_days(), 3);  // Wed 5, Thu 6, Fri 7
  Add(kHandling, v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 14));
  clock_.Advance(At(2025, 11, 17) - clock_.Now());
  c = Clocks();
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_EQ(c.special_procedure(), v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED);
  EXPECT_EQ(c.paused_working_days(), 5);  // Mon 10 … Fri 14
  EXPECT_EQ(c.used_working_days(), 4);
  EXPECT_EQ(c.legal_due_date(), "2025-12-09");
}

TEST_F(ClocksTest, TheAcceptingProvinceCannotMoveTheClocks) {
  FiledAndAccepted();
  v1::ApplicationEvent& start = Add(kAccepting, v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE,
                                    v1::APPLICATION_STATE_ACCEPTED,
                                    v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 5));
  start.set_special_procedure(v1::SPECIAL_PROCEDURE_KIND_HEARING);
  v1::ApplicationEvent& extend = Add(kAccepting, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT,
                                     v1::APPLICATION_STATE_ACCEPTED,
                                     v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 5));
  extend.set_extension_days(10);
  clock_.Advance(At(2025, 11, 10) - clock_.Now());
  const v1::ApplicationClocks c = Clocks();
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_EQ(c.extension_days(), 0);
  EXPECT_EQ(c.legal_due_date(), "2025-12-02");
}

TEST_F(ClocksTest, ExtensionOnceByUpToTenDaysWithinTheLimit) {
  FiledAndAccepted();
  auto extend = [&](int days, absl::Time at) {
    Add(kHandling, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, v1::APPLICATION_STATE_ACCEPTED,
        v1::APPLICATION_STATE_ACCEPTED, at)
        .set_extension_days(days);
  };
  extend(11, At(2025, 11, 20));  // beyond the law: ignored
  EXPECT_EQ(Clocks().extension_days(), 0);
  extend(10, At(2025, 11, 21));
  extend(5, At(2025, 11, 24));  // a second extension: ignored
  clock_.Advance(At(2025, 11, 24) - clock_.Now());
  const v1::ApplicationClocks c = Clocks();
  EXPECT_EQ(c.extension_days(), 10);
  EXPECT_EQ(c.legal_due_date(), "2025-12-16");
  EXPECT_EQ(c.legal_remaining_working_days(), 30 - c.used_working_days());
  EXPECT_EQ(c.promised_due_date(), "2025-11-18");  // the promise is not extended
  EXPECT_TRUE(c.promised_overdue());
}

TEST_F(ClocksTest, ExtensionAfterTheLimitRanOutIsIgnored) {
  FiledAndAccepted();
  Add(kHandling, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 12, 3))
      .set_extension_days(10);
  clock_.Advance(At(2025, 12, 4) - clock_.Now());
  EXPECT_EQ(Clocks().extension_days(), 0);
  EXPECT_TRUE(Clocks().legal_overdue());
}

TEST_F(ClocksTest, CheckClockActionRefusals) {
  const auto check = [&](v1::ApplicationAction a) {
    return CheckClockAction(Clocks(), a, events_, kHandling);
  };
  Add(kHandling, v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_UNSPECIFIED,
      v1::APPLICATION_STATE_RECEIVED, At(2025, 11, 3));
  absl::Status s = check(v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has not started"));
  events_.Clear();
  FiledAndAccepted();
  EXPECT_EQ(check(v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(check(v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE).ok());
  Add(kHandling, v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 4, 16))
      .set_special_procedure(v1::SPECIAL_PROCEDURE_KIND_HEARING);
  s = check(v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE);
  EXPECT_THAT(s.message(), HasSubstr("HEARING is still open"));
  EXPECT_TRUE(check(v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE).ok());
  EXPECT_TRUE(check(v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT).ok());
  Add(kHandling, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 4, 17))
      .set_extension_days(3);
  s = check(v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("once"));
  // Overdue: too late to extend.
  events_.Clear();
  FiledAndAccepted();
  clock_.Advance(At(2025, 12, 5) - clock_.Now());
  s = check(v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT);
  EXPECT_THAT(s.message(), HasSubstr("ran out on 2025-12-02"));
  // No legal limit: nothing to extend.
  events_.Clear();
  FiledAndAccepted(/*legal=*/0, /*promised=*/5);
  EXPECT_THAT(check(v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT).message(),
              HasSubstr("no legal time limit"));
}

TEST_F(ClocksTest, FinalStateFreezesTheClocks) {
  FiledAndAccepted();
  Add(kHandling, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_IN_REVIEW, At(2025, 11, 5));
  Add(kHandling, v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_IN_REVIEW,
      v1::APPLICATION_STATE_APPROVED, At(2025, 11, 20));
  clock_.Advance(At(2026, 3, 1) - clock_.Now());
  const v1::ApplicationClocks c = Clocks();
  EXPECT_TRUE(c.stopped());
  EXPECT_EQ(c.as_of_date(), "2025-11-20");
  EXPECT_EQ(c.used_working_days(), 12);
  EXPECT_FALSE(c.legal_overdue());
  EXPECT_TRUE(c.promised_overdue());  // decided after the promised 2025-11-18
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  // Later events (a mirrored escalation, say) do not move a stopped clock.
  Add(kHandling, v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_STATE_APPROVED,
      v1::APPLICATION_STATE_APPROVED, At(2026, 2, 1));
  EXPECT_EQ(Clocks().used_working_days(), 12);
}

TEST_F(ClocksTest, WithdrawnWhilePausedStopsThePause) {
  FiledAndAccepted();
  Add(kHandling, v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_ACCEPTED, At(2025, 11, 5))
      .set_special_procedure(v1::SPECIAL_PROCEDURE_KIND_INSPECTION_TESTING);
  Add(kHandling, v1::APPLICATION_ACTION_WITHDRAW, v1::APPLICATION_STATE_ACCEPTED,
      v1::APPLICATION_STATE_WITHDRAWN, At(2025, 11, 7));
  const v1::ApplicationClocks c = Clocks();
  EXPECT_TRUE(c.stopped());
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_EQ(c.used_working_days(), 1);
  EXPECT_EQ(c.paused_working_days(), 2);
}

TEST_F(ClocksTest, YearBoundaryWithTiaoXiuWorkday) {
  // Accepted Tue 2025-12-30; 2026-01-01..03 are holidays, Sun 2026-01-04 a
  // 调休 working day: 31 Dec, 4 Jan, 5, 6, 7.
  FiledAndAccepted(/*legal=*/5, /*promised=*/2, At(2025, 12, 30));
  clock_.Advance(At(2026, 1, 4) - clock_.Now());
  const v1::ApplicationClocks c = Clocks();
  EXPECT_EQ(c.legal_due_date(), "2026-01-07");
  EXPECT_EQ(c.promised_due_date(), "2026-01-04");
  EXPECT_EQ(c.used_working_days(), 2);
  EXPECT_FALSE(c.calendar_uncovered());
}

TEST_F(ClocksTest, NationalDayHolidayAndSaturdayWorkday) {
  FiledAndAccepted(/*legal=*/3, /*promised=*/0, At(2025, 9, 30));
  EXPECT_EQ(Clocks().legal_due_date(), "2025-10-11");  // Thu 9, Fri 10, Sat 11 (调休)
}

TEST_F(ClocksTest, UncoveredYearIsFlagged) {
  ASSERT_EQ(Calendar().LastCoveredYear(), 2026);
  FiledAndAccepted(/*legal=*/20, /*promised=*/5, At(2026, 12, 21));
  clock_.Advance(At(2026, 12, 22) - clock_.Now());
  v1::ApplicationClocks c = Clocks();
  EXPECT_TRUE(c.calendar_uncovered());  // the legal limit ends in 2027
  EXPECT_EQ(c.promised_due_date(), "2026-12-28");
}

TEST_F(ClocksTest, StartsClocksAndStampTimeLimits) {
  v1::Application app;
  app.set_handling_province(kHandling);
  v1::Guide guide;
  guide.set_legal_time_limit_days(20);
  guide.set_promised_time_limit_days(7);
  v1::ApplicationEvent deliver;
  deliver.set_province_code(kHandling);
  deliver.set_state_after(v1::APPLICATION_STATE_RECEIVED);
  StampTimeLimits(app, guide, &deliver);
  EXPECT_FALSE(deliver.has_time_limits());
  *app.add_events() = deliver;
  v1::ApplicationEvent accept = deliver;
  accept.set_state_after(v1::APPLICATION_STATE_ACCEPTED);
  StampTimeLimits(app, guide, &accept);
  EXPECT_EQ(accept.time_limits().legal_days(), 20);
  EXPECT_EQ(accept.time_limits().promised_days(), 7);
  *app.add_events() = accept;
  v1::ApplicationEvent review = accept;
  review.clear_time_limits();
  review.set_state_after(v1::APPLICATION_STATE_IN_REVIEW);
  EXPECT_FALSE(StartsClocks(kHandling, app.events(), review));
  v1::ApplicationEvent other = accept;
  other.set_province_code(kAccepting);
  EXPECT_FALSE(StartsClocks(kHandling, {}, other));
}

TEST(SupplementDeadlineTest, WorkingDaysToTheEndOfTheDayChinaTime) {
  const absl::Time now = At(2025, 9, 30);
  const absl::Time deadline = SupplementDeadline(Calendar(), now, 3);
  EXPECT_EQ(deadline, ChinaStartOfDay(absl::CivilDay(2025, 10, 12)) - absl::Seconds(1));
  EXPECT_EQ(FormatCivilDay(ChinaCivilDay(deadline)), "2025-10-11");
}

}  // namespace
}  // namespace tongban::node
