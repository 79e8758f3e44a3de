// 好差评 (docs/ratings.md): rating validation, which applications are
// ratable, the default rule (基本满意 after rating.default_after_days), the
// rectification deadline in working days over the shipped national
// calendar (weekends, 国庆 holidays and their make-up Saturday), the
// statistics arithmetic, and the authority row of a forwarded RATE.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "google/protobuf/util/time_util.h"
#include "rating_counts.h"
#include "service/application_clocks.h"
#include "service/application_ratings.h"
#include "service/federation_authority.h"
#include "service/rectifications.h"
#include "working_day_calendar.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

const WorkingDayCalendar& Calendar() {
  static const auto* cal = [] {
    auto c = WorkingDayCalendar::FromFiles(
        {std::string(TONGBAN_WORKING_DAYS_DIR) + "/cn-national.tsv"});
    EXPECT_TRUE(c.ok()) << c.status();
    return new WorkingDayCalendar(*std::move(c));
  }();
  return *cal;
}

absl::Time At(int y, int m, int d, int hour = 10) {
  return ChinaStartOfDay(absl::CivilDay(y, m, d)) + absl::Hours(hour);
}

google::protobuf::Timestamp Ts(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

v1::ApplicationEvent* AddEvent(v1::Application& app, v1::ApplicationAction action,
                               v1::ApplicationState before, v1::ApplicationState after,
                               absl::Time at, const std::string& province = "310000") {
  v1::ApplicationEvent* e = app.add_events();
  e->set_event_id(province + "-" + std::to_string(app.events_size()));
  e->set_province_code(province);
  e->set_action(action);
  e->set_state_before(before);
  e->set_state_after(after);
  *e->mutable_at() = Ts(at);
  return e;
}

// Filed at Hunan for Shanghai, approved by Shanghai at `decided`.
v1::Application Approved(absl::Time decided) {
  v1::Application app;
  app.set_application_id("TB-430000-310000-20251101-00000001");
  app.set_accepting_province("430000");
  app.set_handling_province("310000");
  app.set_item_code("310000-SB-001");
  AddEvent(app, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
           v1::APPLICATION_STATE_RECEIVED, decided - absl::Hours(72), "430000");
  AddEvent(app, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_ACCEPTED,
           v1::APPLICATION_STATE_IN_REVIEW, decided - absl::Hours(24));
  AddEvent(app, v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_IN_REVIEW,
           v1::APPLICATION_STATE_APPROVED, decided);
  app.set_state(v1::APPLICATION_STATE_APPROVED);
  return app;
}

void Rate(v1::Application& app, v1::SatisfactionLevel level, absl::Time at,
          const std::string& comment = "") {
  v1::ApplicationEvent* e = AddEvent(app, v1::APPLICATION_ACTION_RATE, app.state(), app.state(),
                                     at, "430000");
  e->set_satisfaction(level);
  e->set_note(comment);
}

TEST(RatingValidationTest, LevelsOneToFiveAndAShortComment) {
  for (int level = 1; level <= 5; ++level) EXPECT_TRUE(ValidateRating(level, "").ok()) << level;
  for (int level : {0, -1, 6, 99, 1 << 30}) {
    absl::Status s = ValidateRating(level, "");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << level;
    EXPECT_THAT(s.message(), HasSubstr("level"));
  }
  EXPECT_TRUE(ValidateRating(4, "窗口人员态度很好").ok());
  EXPECT_TRUE(ValidateRating(4, std::string(500, 'a')).ok());
  absl::Status long_comment = ValidateRating(4, std::string(501, 'a'));
  EXPECT_EQ(long_comment.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(long_comment.message(), HasSubstr("comment"));
  EXPECT_EQ(ValidateRating(4, "bad \xff utf-8").code(), absl::StatusCode::kInvalidArgument);
}

TEST(RatingValidationTest, PoorRatingsAreTheTwoLowestLevels) {
  EXPECT_TRUE(IsPoorRating(v1::SATISFACTION_LEVEL_VERY_DISSATISFIED));
  EXPECT_TRUE(IsPoorRating(v1::SATISFACTION_LEVEL_DISSATISFIED));
  EXPECT_FALSE(IsPoorRating(v1::SATISFACTION_LEVEL_BASICALLY_SATISFIED));
  EXPECT_FALSE(IsPoorRating(v1::SATISFACTION_LEVEL_UNSPECIFIED));
  EXPECT_FALSE(IsPoorRating(static_cast<v1::SatisfactionLevel>(99)));
  EXPECT_FALSE(IsKnownLevel(static_cast<v1::SatisfactionLevel>(99)));
}

TEST(RatableTest, OnlyApprovedOrDeniedAndOnlyOnce) {
  const absl::Time decided = At(2025, 11, 3);
  v1::Application app = Approved(decided);
  EXPECT_TRUE(CheckRatable(app, decided + absl::Hours(1), 7, true).ok());
  app.set_state(v1::APPLICATION_STATE_DENIED);
  app.mutable_events()->rbegin()->set_state_after(v1::APPLICATION_STATE_DENIED);
  EXPECT_TRUE(CheckRatable(app, decided + absl::Hours(1), 7, true).ok());
  for (v1::ApplicationState s :
       {v1::APPLICATION_STATE_NOT_ACCEPTED, v1::APPLICATION_STATE_TERMINATED,
        v1::APPLICATION_STATE_WITHDRAWN, v1::APPLICATION_STATE_IN_REVIEW,
        static_cast<v1::ApplicationState>(99)}) {
    app.set_state(s);
    absl::Status st = CheckRatable(app, decided + absl::Hours(1), 7, true);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(st.message(), HasSubstr("ratings-by-accepting-province"));
  }
  v1::Application rated = Approved(decided);
  Rate(rated, v1::SATISFACTION_LEVEL_SATISFIED, decided + absl::Hours(2));
  EXPECT_EQ(CheckRatable(rated, decided + absl::Hours(3), 7, true).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CheckRatable(rated, decided + absl::Hours(3), 7, false).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(RatableTest, TheWindowClosesAfterTheDefaultDays) {
  const absl::Time decided = At(2025, 11, 3);
  v1::Application app = Approved(decided);
  EXPECT_TRUE(CheckRatable(app, decided + absl::Hours(24 * 7) - absl::Seconds(1), 7, true).ok());
  absl::Status closed = CheckRatable(app, decided + absl::Hours(24 * 7), 7, true);
  EXPECT_EQ(closed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(closed.message(), HasSubstr("基本满意"));
  // The handling node receiving a rating does not apply its own window.
  EXPECT_TRUE(CheckRatable(app, decided + absl::Hours(24 * 30), 7, false).ok());
}

TEST(DefaultRatingTest, UnratedCountsAsBasicallySatisfiedAfterTheWindow) {
  const absl::Time decided = At(2025, 11, 3);
  v1::Application app = Approved(decided);
  v1::ApplicationRating open = DeriveRating(app, decided + absl::Hours(24), 7);
  EXPECT_TRUE(open.ratable());
  EXPECT_FALSE(open.rated());
  EXPECT_FALSE(open.defaulted());
  EXPECT_EQ(open.level(), v1::SATISFACTION_LEVEL_UNSPECIFIED);
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(open.rate_by()),
            absl::ToUnixNanos(decided + absl::Hours(24 * 7)));
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(open.finished_at()), absl::ToUnixNanos(decided));

  v1::ApplicationRating defaulted = DeriveRating(app, decided + absl::Hours(24 * 7), 7);
  EXPECT_TRUE(defaulted.defaulted());
  EXPECT_EQ(defaulted.level(), v1::SATISFACTION_LEVEL_BASICALLY_SATISFIED);
  // A province with a longer window has not defaulted it yet.
  EXPECT_FALSE(DeriveRating(app, decided + absl::Hours(24 * 7), 15).defaulted());

  // A real rating stands, however late it is read.
  Rate(app, v1::SATISFACTION_LEVEL_DISSATISFIED, decided + absl::Hours(5), "等了太久");
  v1::ApplicationRating rated = DeriveRating(app, decided + absl::Hours(24 * 100), 7);
  EXPECT_TRUE(rated.rated());
  EXPECT_FALSE(rated.defaulted());
  EXPECT_EQ(rated.level(), v1::SATISFACTION_LEVEL_DISSATISFIED);
  EXPECT_EQ(rated.comment(), "等了太久");
  EXPECT_EQ(rated.event_id(), app.events(3).event_id());
}

TEST(DefaultRatingTest, UnfinishedAndUnratableApplicationsHaveNoRating) {
  v1::Application app = Approved(At(2025, 11, 3));
  app.set_state(v1::APPLICATION_STATE_IN_REVIEW);
  v1::ApplicationRating r = DeriveRating(app, At(2026, 1, 1), 7);
  EXPECT_FALSE(r.ratable());
  EXPECT_FALSE(r.defaulted());
  app.set_state(v1::APPLICATION_STATE_TERMINATED);
  EXPECT_FALSE(DeriveRating(app, At(2026, 1, 1), 7).defaulted());
}

TEST(DefaultRatingTest, AnUnknownStoredLevelIsShownUnspecifiedWithoutCrashing) {
  v1::Application app = Approved(At(2025, 11, 3));
  Rate(app, static_cast<v1::SatisfactionLevel>(99), At(2025, 11, 4));
  v1::ApplicationRating r = DeriveRating(app, At(2025, 11, 5), 7);
  EXPECT_TRUE(r.rated());
  EXPECT_EQ(r.level(), v1::SATISFACTION_LEVEL_UNSPECIFIED);
}

TEST(RectificationTest, DeadlineInWorkingDaysOverAWeekend) {
  // Rated 2025-11-07 (Fri): Mon 10 … Fri 14 are the 5 working days.
  v1::Application app = Approved(At(2025, 11, 3));
  Rate(app, v1::SATISFACTION_LEVEL_VERY_DISSATISFIED, At(2025, 11, 7), "没人接电话");
  v1::Rectification r = OpenRectification(app, app.events(3), At(2025, 11, 7, 16), Calendar(), 5);
  EXPECT_EQ(r.due_date(), "2025-11-14");
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(r.due_at()),
            absl::ToUnixNanos(ChinaEndOfDay(absl::CivilDay(2025, 11, 14))));
  EXPECT_EQ(r.level(), v1::SATISFACTION_LEVEL_VERY_DISSATISFIED);
  EXPECT_EQ(r.comment(), "没人接电话");
  EXPECT_EQ(r.rating_event_id(), app.events(3).event_id());
  EXPECT_EQ(r.working_days(), 5);
  EXPECT_FALSE(r.closed());
}

TEST(RectificationTest, DeadlineSkipsTheNationalDayHolidayAndCountsTheMakeUpSaturday) {
  // Opened 2025-09-30 (Tue). 10-01..10-08 are holidays; Thu 9, Fri 10,
  // Sat 11 (调休 working day), Mon 13, Tue 14 are the 5 working days.
  v1::Application app = Approved(At(2025, 9, 29));
  Rate(app, v1::SATISFACTION_LEVEL_DISSATISFIED, At(2025, 9, 30));
  v1::Rectification r = OpenRectification(app, app.events(3), At(2025, 9, 30), Calendar(), 5);
  EXPECT_EQ(r.due_date(), "2025-10-14");
  // 15 working days (a province's longer rule), across the same holiday.
  r = OpenRectification(app, app.events(3), At(2025, 9, 30), Calendar(), 15);
  EXPECT_EQ(r.due_date(), "2025-10-28");
}

TEST(RectificationTest, OverdueWhileOpenPastTheDeadlineOrClosedLate) {
  v1::Application app = Approved(At(2025, 11, 3));
  Rate(app, v1::SATISFACTION_LEVEL_DISSATISFIED, At(2025, 11, 7));
  v1::Rectification r = OpenRectification(app, app.events(3), At(2025, 11, 7), Calendar(), 5);
  EXPECT_FALSE(WithOverdue(r, At(2025, 11, 14, 23)).overdue());
  EXPECT_TRUE(WithOverdue(r, At(2025, 11, 15, 0) + absl::Minutes(1)).overdue());
  r.set_closed(true);
  *r.mutable_closed_at() = Ts(At(2025, 11, 13));
  EXPECT_FALSE(WithOverdue(r, At(2025, 12, 1)).overdue());
  *r.mutable_closed_at() = Ts(At(2025, 11, 17));
  EXPECT_TRUE(WithOverdue(r, At(2025, 12, 1)).overdue());
}

TEST(RectificationTest, FollowUpsNeedAnOpenRectificationAndCloseNeedsAnOutcome) {
  v1::Application app = Approved(At(2025, 11, 3));
  EXPECT_EQ(CheckRectificationOpen(app).code(), absl::StatusCode::kNotFound);
  app.mutable_rectification()->set_application_id(app.application_id());
  EXPECT_TRUE(CheckRectificationOpen(app).ok());
  app.mutable_rectification()->set_closed(true);
  EXPECT_EQ(CheckRectificationOpen(app).code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_TRUE(ValidateRectificationClose(v1::RECTIFICATION_OUTCOME_RECTIFIED, "已整改").ok());
  for (int outcome : {0, 4, 99, -1}) {
    absl::Status s = ValidateRectificationClose(outcome, "x");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << outcome;
    EXPECT_THAT(s.message(), HasSubstr("outcome"));
  }
  EXPECT_THAT(ValidateRectificationClose(v1::RECTIFICATION_OUTCOME_EXPLAINED, "").message(),
              HasSubstr("note"));
}

TEST(RatingStatsTest, CountsPerLevelDefaultsAndTheSatisfactionRate) {
  v1::RatingCounts c;
  FinishRatingCounts(&c);
  EXPECT_EQ(c.per_level_size(), 5);
  EXPECT_EQ(c.satisfaction_rate(), 0.0);
  auto rating = [](int level, bool defaulted = false) {
    v1::ApplicationRating r;
    r.set_level(static_cast<v1::SatisfactionLevel>(level));
    r.set_defaulted(defaulted);
    return r;
  };
  CountRating(rating(5), &c);
  CountRating(rating(1), &c);
  CountRating(rating(3, /*defaulted=*/true), &c);
  CountRating(rating(2), &c);
  CountRating(rating(0), &c);   // pending: not in the rate
  CountRating(rating(99), &c);  // unreadable: pending, no crash
  EXPECT_EQ(c.per_level(0), 1);
  EXPECT_EQ(c.per_level(1), 1);
  EXPECT_EQ(c.per_level(2), 1);
  EXPECT_EQ(c.per_level(3), 0);
  EXPECT_EQ(c.per_level(4), 1);
  EXPECT_EQ(c.defaulted(), 1);
  EXPECT_EQ(c.pending(), 2);
  EXPECT_DOUBLE_EQ(c.satisfaction_rate(), 0.5);  // (3 + 5) of 4

  v1::RatingCounts sum;
  AddRatingCounts(c, &sum);
  v1::RatingCounts other;
  CountRating(rating(4), &other);
  CountRating(rating(4), &other);
  AddRatingCounts(other, &sum);
  EXPECT_EQ(sum.per_level(3), 2);
  EXPECT_DOUBLE_EQ(sum.satisfaction_rate(), 4.0 / 6.0);
  // A peer's malformed answer with extra levels adds only the first five.
  v1::RatingCounts odd;
  for (int i = 0; i < 7; ++i) odd.add_per_level(1);
  AddRatingCounts(odd, &sum);
  EXPECT_EQ(sum.per_level_size(), 5);
}

TEST(RatingAuthorityTest, OnlyTheAcceptingProvinceForwardsARating) {
  auto ok = FindAuthority("DeliverEvent", v1::APPLICATION_ACTION_RATE, FederationRole::kAccepting);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->effect, AuthorityEffect::kRecordRating);
  EXPECT_EQ((*ok)->rule, "ratings-by-accepting-province");
  auto denied =
      FindAuthority("DeliverEvent", v1::APPLICATION_ACTION_RATE, FederationRole::kHandling);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.status().message(), HasSubstr("ratings-by-accepting-province"));
}

}  // namespace
}  // namespace tongban::node
