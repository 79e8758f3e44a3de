// 多地联办 rules (node/service/joint_procedure, node/catalog/joint_procedure_rules):
// what a procedure may declare, which role assignments a filing may carry,
// and how a joint application's state, next steps and clocks derive from
// its tasks.
#include "service/joint_procedure.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "google/protobuf/util/time_util.h"
#include "working_day_calendar.h"

namespace tongban::node {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using v1::ApplicationState;

const WorkingDayCalendar& Calendar() {
  static const WorkingDayCalendar* calendar = [] {
    auto c = WorkingDayCalendar::FromFiles(
        {std::string(TONGBAN_WORKING_DAYS_DIR) + "/cn-national.tsv"});
    EXPECT_TRUE(c.ok()) << c.status();
    return new WorkingDayCalendar(*std::move(c));
  }();
  return *calendar;
}

v1::JointStep Step(int n, int stage, const std::string& role, int legal, int promised) {
  v1::JointStep s;
  s.set_step(n);
  s.set_stage(stage);
  s.set_role_id(role);
  s.set_name_zh("第" + std::to_string(n) + "步");
  s.set_legal_days(legal);
  s.set_promised_days(promised);
  return s;
}

// The shipped pension transfer: 转入地, 转出地, 转入地, one step per stage.
v1::JointProcedure Pension() {
  v1::JointProcedure p;
  auto* in = p.add_roles();
  in->set_role_id("transfer_in");
  in->set_name_zh("转入地");
  auto* out = p.add_roles();
  out->set_role_id("transfer_out");
  out->set_name_zh("转出地");
  *p.add_steps() = Step(1, 1, "transfer_in", 15, 10);
  *p.add_steps() = Step(2, 2, "transfer_out", 15, 10);
  *p.add_steps() = Step(3, 3, "transfer_in", 15, 10);
  return p;
}

// Three roles; steps 2 and 3 run in parallel in stage 2.
v1::JointProcedure Parallel() {
  v1::JointProcedure p;
  for (const char* r : {"lead", "a", "b"}) {
    auto* role = p.add_roles();
    role->set_role_id(r);
    role->set_name_zh(r);
  }
  *p.add_steps() = Step(1, 1, "lead", 10, 5);
  *p.add_steps() = Step(2, 2, "a", 20, 10);
  *p.add_steps() = Step(3, 2, "b", 15, 12);
  return p;
}

JointRoles Roles(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  JointRoles roles;
  for (const auto& [role, province] : pairs) {
    auto* a = roles.Add();
    a->set_role_id(role);
    a->set_province_code(province);
  }
  return roles;
}

v1::JointHandling PensionJoint() {
  return NewJointHandling(Pension(),
                          Roles({{"transfer_in", "310000"}, {"transfer_out", "440000"}}));
}

// Marks step `n` (1-based) started with its task in `state`.
void SetTask(v1::JointHandling& joint, int n, ApplicationState state) {
  auto* s = joint.mutable_steps(n - 1);
  s->set_task_application_id("TB-430000-310000-20261201-0000000" + std::to_string(n));
  s->set_task_state(state);
}

TEST(JointProcedureProblems, AcceptsTheShippedShapes) {
  EXPECT_THAT(JointProcedureProblems(Pension()), IsEmpty());
  EXPECT_THAT(JointProcedureProblems(Parallel()), IsEmpty());
}

TEST(JointProcedureProblems, NamesEachMistake) {
  v1::JointProcedure gap = Pension();
  gap.mutable_steps(2)->set_stage(4);
  EXPECT_THAT(JointProcedureProblems(gap), ElementsAre(HasSubstr("steps[2].stage must be 2 or 3")));

  v1::JointProcedure unknown = Pension();
  unknown.mutable_steps(1)->set_role_id("nowhere");
  EXPECT_THAT(JointProcedureProblems(unknown),
              ElementsAre(HasSubstr("steps[1].role_id \"nowhere\" is not a declared role"),
                          HasSubstr("transfer_out does no step")));

  v1::JointProcedure limits = Pension();
  limits.mutable_steps(0)->set_promised_days(20);
  EXPECT_THAT(JointProcedureProblems(limits),
              ElementsAre(HasSubstr("promised_days (20) ≤ legal_days (15)")));

  v1::JointProcedure twice = Pension();
  *twice.add_roles() = twice.roles(0);
  EXPECT_THAT(JointProcedureProblems(twice), ElementsAre(HasSubstr("declared twice")));

  v1::JointProcedure alone;
  *alone.add_roles() = Pension().roles(0);
  EXPECT_THAT(JointProcedureProblems(alone), ElementsAre(HasSubstr("2 to 10 roles, not 1"),
                                                         HasSubstr("1 to 20 steps, not 0"),
                                                         HasSubstr("transfer_in does no step")));
}

TEST(CheckJointRoles, NeedsEveryRoleOnceInDistinctProvincesWithTheLeadHandling) {
  const v1::JointProcedure p = Pension();
  EXPECT_TRUE(CheckJointRoles(p, Roles({{"transfer_in", "310000"}, {"transfer_out", "440000"}}),
                              "310000", "joint_roles")
                  .ok());
  auto error = [&](JointRoles roles, const std::string& handling) {
    absl::Status s = CheckJointRoles(p, roles, handling, "joint_roles");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  };
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}}), "310000"),
              HasSubstr("must assign a province to every role"));
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}, {"transfer_out", "310000"}}), "310000"),
              HasSubstr("joint_roles[1].province_code 310000 plays another role already"));
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}, {"mover", "440000"}}), "310000"),
              HasSubstr("joint_roles[1].role_id \"mover\" is not a role of this item"));
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}, {"transfer_in", "440000"}}), "310000"),
              HasSubstr("assigned twice"));
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}, {"transfer_out", "99"}}), "310000"),
              HasSubstr("joint_roles[1].province_code"));
  EXPECT_THAT(error(Roles({{"transfer_in", "310000"}, {"transfer_out", "440000"}}), "440000"),
              HasSubstr("handling_province must be 310000"));
}

TEST(CheckJointRoles, AProcedureWithoutStepsIsRefusedNotFollowed) {
  v1::JointProcedure empty;
  *empty.add_roles() = Pension().roles(0);
  *empty.add_roles() = Pension().roles(1);
  EXPECT_EQ(CheckJointRoles(empty, Roles({{"transfer_in", "310000"}, {"transfer_out", "440000"}}),
                            "310000", "joint_roles")
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(NewJointHandling, ListsEveryStepWithItsProvinceNotStarted) {
  const v1::JointHandling j = PensionJoint();
  ASSERT_EQ(j.steps_size(), 3);
  EXPECT_EQ(j.steps(0).province_code(), "310000");
  EXPECT_EQ(j.steps(1).province_code(), "440000");
  EXPECT_EQ(j.steps(1).role_name_zh(), "转出地");
  EXPECT_EQ(j.steps(2).province_code(), "310000");
  for (const auto& s : j.steps()) EXPECT_TRUE(s.task_application_id().empty());
}

TEST(DeriveJointState, FollowsTheTasksThroughASequentialProcedure) {
  v1::JointHandling j = PensionJoint();
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_THAT(JointStepsToStart(j), ElementsAre(1));
  SetTask(j, 1, v1::APPLICATION_STATE_RECEIVED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_THAT(JointStepsToStart(j), IsEmpty());
  SetTask(j, 1, v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  SetTask(j, 1, v1::APPLICATION_STATE_ACCEPTED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_ACCEPTED);
  SetTask(j, 1, v1::APPLICATION_STATE_IN_REVIEW);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_IN_REVIEW);
  SetTask(j, 1, v1::APPLICATION_STATE_APPROVED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_IN_REVIEW);
  EXPECT_THAT(JointStepsToStart(j), ElementsAre(2));
  SetTask(j, 2, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  SetTask(j, 2, v1::APPLICATION_STATE_APPROVED);
  EXPECT_THAT(JointStepsToStart(j), ElementsAre(3));
  SetTask(j, 3, v1::APPLICATION_STATE_ACCEPTED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_IN_REVIEW);  // past the first stage
  SetTask(j, 3, v1::APPLICATION_STATE_APPROVED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_APPROVED);
  EXPECT_THAT(JointStepsToStart(j), IsEmpty());
}

TEST(DeriveJointState, AFailedStepEndsItAndStartsNothingMore) {
  v1::JointHandling j = PensionJoint();
  SetTask(j, 1, v1::APPLICATION_STATE_APPROVED);
  SetTask(j, 2, v1::APPLICATION_STATE_DENIED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_DENIED);
  EXPECT_THAT(JointStepsToStart(j), IsEmpty());
  SetTask(j, 2, v1::APPLICATION_STATE_NOT_ACCEPTED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_NOT_ACCEPTED);
}

TEST(DeriveJointState, AWithdrawalEndsItOnceNoTaskIsOpen) {
  v1::JointHandling j = PensionJoint();
  SetTask(j, 1, v1::APPLICATION_STATE_IN_REVIEW);
  j.set_withdrawn(true);
  // The handling province has not answered the task's WITHDRAW yet.
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_IN_REVIEW);
  SetTask(j, 1, v1::APPLICATION_STATE_WITHDRAWN);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_WITHDRAWN);
  // Approved before the withdrawal arrived: nothing further starts all the same.
  SetTask(j, 1, v1::APPLICATION_STATE_APPROVED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_WITHDRAWN);
  EXPECT_THAT(JointStepsToStart(j), IsEmpty());
}

TEST(JointStepsToStart, StartsAParallelStageWholeAndWaitsForAllOfIt) {
  v1::JointHandling j = NewJointHandling(
      Parallel(), Roles({{"lead", "430000"}, {"a", "310000"}, {"b", "440000"}}));
  SetTask(j, 1, v1::APPLICATION_STATE_APPROVED);
  EXPECT_THAT(JointStepsToStart(j), ElementsAre(2, 3));
  SetTask(j, 2, v1::APPLICATION_STATE_APPROVED);
  EXPECT_THAT(JointStepsToStart(j), ElementsAre(3));
  SetTask(j, 3, v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  EXPECT_THAT(JointStepsToStart(j), IsEmpty());
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  SetTask(j, 3, v1::APPLICATION_STATE_APPROVED);
  EXPECT_EQ(DeriveJointState(j), v1::APPLICATION_STATE_APPROVED);
}

v1::ApplicationClocks TaskClocks(int used, int paused, bool legal_overdue = false) {
  v1::ApplicationClocks c;
  c.set_started(true);
  *c.mutable_started_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1764547200);
  c.set_used_working_days(used);
  c.set_paused_working_days(paused);
  c.set_legal_overdue(legal_overdue);
  return c;
}

TEST(AggregateJointClocks, SumsStagesAndTakesTheLongestStepOfEachStage) {
  v1::JointHandling j = NewJointHandling(
      Parallel(), Roles({{"lead", "430000"}, {"a", "310000"}, {"b", "440000"}}));
  const absl::Time now = absl::FromCivil(absl::CivilSecond(2026, 12, 7, 10, 0, 0),
                                         absl::FixedTimeZone(8 * 3600));  // a Monday
  v1::ApplicationClocks none = AggregateJointClocks(j, Calendar(), now, false, now);
  EXPECT_FALSE(none.started());
  EXPECT_EQ(none.limits().legal_days(), 10 + 20);  // stage 2: the longer of 20 and 15
  EXPECT_EQ(none.limits().promised_days(), 5 + 12);

  SetTask(j, 1, v1::APPLICATION_STATE_APPROVED);
  *j.mutable_steps(0)->mutable_task_clocks() = TaskClocks(4, 0);
  SetTask(j, 2, v1::APPLICATION_STATE_IN_REVIEW);
  *j.mutable_steps(1)->mutable_task_clocks() = TaskClocks(3, 1);
  SetTask(j, 3, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  *j.mutable_steps(2)->mutable_task_clocks() = TaskClocks(6, 2);
  j.mutable_steps(2)->mutable_task_clocks()->set_paused(v1::CLOCK_PAUSE_REASON_APPLICANT);
  v1::ApplicationClocks c = AggregateJointClocks(j, Calendar(), now, false, now);
  EXPECT_TRUE(c.started());
  EXPECT_EQ(c.used_working_days(), 4 + 6);
  EXPECT_EQ(c.paused_working_days(), 0 + 2);
  EXPECT_EQ(c.paused(), v1::CLOCK_PAUSE_REASON_APPLICANT);
  EXPECT_EQ(c.legal_remaining_working_days(), 30 - 10);
  EXPECT_EQ(c.promised_remaining_working_days(), 17 - 10);
  EXPECT_EQ(c.as_of_date(), "2026-12-07");
  EXPECT_EQ(c.promised_due_date(), "2026-12-16");  // 7 working days after Monday 7 December
  EXPECT_FALSE(c.legal_overdue());
  EXPECT_FALSE(c.stopped());

  // One task over its own limit makes the whole overdue.
  j.mutable_steps(1)->mutable_task_clocks()->set_legal_overdue(true);
  EXPECT_TRUE(AggregateJointClocks(j, Calendar(), now, false, now).legal_overdue());
  // Stopped: evaluated at the end, not paused any more.
  v1::ApplicationClocks stopped = AggregateJointClocks(j, Calendar(), now + absl::Hours(240),
                                                       true, now);
  EXPECT_TRUE(stopped.stopped());
  EXPECT_EQ(stopped.as_of_date(), "2026-12-07");
  EXPECT_EQ(stopped.paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
}

v1::ApplicationFiling TaskFiling(int step, const std::string& role) {
  v1::ApplicationFiling f;
  f.set_application_id("TB-430000-440000-20261201-00000002");
  f.set_accepting_province("430000");
  f.set_handling_province("440000");
  f.set_item_code("GG00010101");
  f.mutable_joint_task()->set_joint_application_id("TB-430000-430000-20261201-00000001");
  f.mutable_joint_task()->set_step(step);
  f.mutable_joint_task()->set_role_id(role);
  return f;
}

TEST(WithStepLimits, GivesATaskItsStepsLimitsAndLeavesOthersAlone) {
  v1::Guide g;
  g.set_legal_time_limit_days(45);
  g.set_promised_time_limit_days(30);
  *g.mutable_joint_procedure() = Pension();
  v1::JointProcedure p = Pension();
  g.mutable_joint_procedure()->mutable_steps(1)->set_legal_days(12);
  g.mutable_joint_procedure()->mutable_steps(1)->set_promised_days(8);
  const v1::Guide task = WithStepLimits(g, TaskFiling(2, "transfer_out"));
  EXPECT_EQ(task.legal_time_limit_days(), 12);
  EXPECT_EQ(task.promised_time_limit_days(), 8);
  const v1::Guide plain = WithStepLimits(g, v1::ApplicationFiling());
  EXPECT_EQ(plain.legal_time_limit_days(), 45);
}

TEST(CheckDeliveredTask, TheHandlingGuideMustDeclareTheStepForThatRole) {
  v1::Guide g;
  g.set_province_code("440000");
  *g.mutable_joint_procedure() = Pension();
  EXPECT_TRUE(CheckDeliveredTask(TaskFiling(2, "transfer_out"), g).ok());
  EXPECT_EQ(CheckDeliveredTask(TaskFiling(2, "transfer_in"), g).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckDeliveredTask(TaskFiling(9, "transfer_out"), g).code(),
            absl::StatusCode::kFailedPrecondition);
  v1::ApplicationFiling other_parent = TaskFiling(2, "transfer_out");
  other_parent.mutable_joint_task()->set_joint_application_id(
      "TB-110000-110000-20261201-00000001");
  EXPECT_EQ(CheckDeliveredTask(other_parent, g).code(), absl::StatusCode::kInvalidArgument);
  v1::Guide single;
  EXPECT_THAT(CheckDeliveredTask(TaskFiling(2, "transfer_out"), single).message(),
              HasSubstr("declares no joint procedure"));
}

}  // namespace
}  // namespace tongban::node
