// 多地联办 rules as pure functions (docs/joint-handling.md): what a declared
// procedure must look like, which role assignments a filing may carry, and
// how a joint application's state, next steps and clocks derive from its
// tasks. JointCoordinator (joint_coordinator.h) applies them to the store.
//
// A joint application lives at its accepting node. Each step is a task: an
// ordinary application from the accepting province to the step's province,
// forwarded, decided and mirrored back like any other, whose filing names
// the joint application and the step (v1::JointTaskOf). Nothing here trusts
// a state carried in a message: task states are those of the stored tasks.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/catalog.pb.h"
#include "catalog/joint_procedure_rules.h"
#include "working_day_calendar.h"

namespace tongban::node {

using JointRoles = google::protobuf::RepeatedPtrField<v1::JointRoleAssignment>;

// Checks the role assignments of a filing against `procedure`:
// INVALID_ARGUMENT naming `field` unless every role is assigned exactly once
// to a province code, the provinces differ, and `handling_province` is the
// province of the first step's role; FAILED_PRECONDITION for a procedure
// without steps (a guide is another province's word, not trusted).
absl::Status CheckJointRoles(const v1::JointProcedure& procedure, const JointRoles& roles,
                             const std::string& handling_province, const std::string& field);

// The province assigned to `role_id` ("" when none).
std::string ProvinceOfRole(const JointRoles& roles, const std::string& role_id);

// The step numbered `step` of `procedure`, or null.
const v1::JointStep* FindJointStep(const v1::JointProcedure& procedure, int step);

// The joint part of a new joint application: procedure, roles, and every
// step (not started) with its province.
v1::JointHandling NewJointHandling(const v1::JointProcedure& procedure, const JointRoles& roles);

// The overall state of a joint application from its steps' task states
// (JointStepStatus.task_state; a step without a task has not started):
// the first task that ended without approval decides it (DENIED,
// NOT_ACCEPTED, WITHDRAWN, TERMINATED); APPROVED when every step is;
// WITHDRAWN when the applicant withdrew and no task is open any more;
// otherwise the current stage's tasks: WAITING_FOR_MATERIALS or
// PENDING_SUPPLEMENT when one waits for the applicant, RECEIVED / ACCEPTED
// while the first stage has not gone further, else IN_REVIEW.
v1::ApplicationState DeriveJointState(const v1::JointHandling& joint);

// Steps that should have a task now and have none: every step of the first
// stage not yet approved in full, unless a task failed or the applicant
// withdrew.
std::vector<int> JointStepsToStart(const v1::JointHandling& joint);

// The overall clocks from the steps' task clocks (JointStepStatus.task_clocks):
// limits are the sums over stages of the longest step limit of each stage,
// days used (and paused) the sums over stages of the stage's most; the due
// dates count the remaining working days from `now` (or from the day the
// joint application reached `final_state` at `final_at`). Overdue when the
// whole ran out or any task is overdue.
v1::ApplicationClocks AggregateJointClocks(const v1::JointHandling& joint,
                                           const WorkingDayCalendar& calendar, absl::Time now,
                                           bool final_state, absl::Time final_at);

// `guide` with its time limits replaced by those of the step a task does,
// when `filing` is a task's (and `guide` declares that step); otherwise
// `guide` unchanged. The task's clocks count against its step, not the item.
v1::Guide WithStepLimits(v1::Guide guide, const v1::ApplicationFiling& filing);

// Checks a delivered task's filing against this province's own guide: the
// guide declares a procedure whose step `joint_task.step` is done by
// `joint_task.role_id`, and the joint application id names the same
// accepting province. FAILED_PRECONDITION otherwise (naming what differs).
absl::Status CheckDeliveredTask(const v1::ApplicationFiling& filing, const v1::Guide& own_guide);

}  // namespace tongban::node
