#include "service/joint_procedure.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "application_id.h"
#include "google/protobuf/util/time_util.h"
#include "input_validation.h"
#include "service/application_clocks.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

bool EndedWithoutApproval(v1::ApplicationState s) {
  return IsTerminal(s) && s != v1::APPLICATION_STATE_APPROVED;
}

bool Started(const v1::JointStepStatus& s) { return !s.task_application_id().empty(); }

// The lowest stage with a step not approved; 0 when every step is.
int CurrentStage(const v1::JointHandling& joint) {
  int stage = 0;
  for (const auto& s : joint.steps()) {
    if (s.task_state() == v1::APPLICATION_STATE_APPROVED) continue;
    if (stage == 0 || s.step().stage() < stage) stage = s.step().stage();
  }
  return stage;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

}  // namespace

absl::Status CheckJointRoles(const v1::JointProcedure& procedure, const JointRoles& roles,
                             const std::string& handling_province, const std::string& field) {
  if (procedure.steps_size() == 0) {
    return absl::FailedPreconditionError("the item's 多地联办 procedure declares no step");
  }
  std::vector<std::string> declared;
  for (const auto& r : procedure.roles()) {
    declared.push_back(absl::StrCat(r.role_id(), " (", r.name_zh(), ")"));
  }
  const std::string expected = absl::StrJoin(declared, ", ");
  std::set<std::string> seen, provinces;
  for (int i = 0; i < roles.size(); ++i) {
    const auto& a = roles.Get(i);
    const std::string at = absl::StrCat(field, "[", i, "]");
    bool known = false;
    for (const auto& r : procedure.roles()) known |= r.role_id() == a.role_id();
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".role_id \"", a.role_id().substr(0, 40),
                                                     "\" is not a role of this item: ", expected));
    }
    if (!seen.insert(a.role_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": role ", a.role_id(), " is assigned twice"));
    }
    absl::Status code = ValidateProvinceCode(absl::StrCat(at, ".province_code"), a.province_code());
    if (!code.ok()) return code;
    if (!provinces.insert(a.province_code()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".province_code ", a.province_code(),
          " plays another role already: each role of a 多地联办 procedure is a different province"));
    }
  }
  if (static_cast<int>(seen.size()) != procedure.roles_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must assign a province to every role of this 多地联办 item: ", expected));
  }
  const std::string lead = ProvinceOfRole(roles, procedure.steps(0).role_id());
  if (lead != handling_province) {
    return absl::InvalidArgumentError(absl::StrCat(
        "handling_province must be ", lead, ", the province of role ", procedure.steps(0).role_id(),
        " that does the first step (", procedure.steps(0).name_zh(), "), not ", handling_province));
  }
  return absl::OkStatus();
}

std::string ProvinceOfRole(const JointRoles& roles, const std::string& role_id) {
  for (const auto& a : roles) {
    if (a.role_id() == role_id) return a.province_code();
  }
  return "";
}

const v1::JointStep* FindJointStep(const v1::JointProcedure& procedure, int step) {
  for (const auto& s : procedure.steps()) {
    if (s.step() == step) return &s;
  }
  return nullptr;
}

v1::JointHandling NewJointHandling(const v1::JointProcedure& procedure, const JointRoles& roles) {
  v1::JointHandling joint;
  *joint.mutable_procedure() = procedure;
  *joint.mutable_roles() = roles;
  for (const auto& s : procedure.steps()) {
    v1::JointStepStatus* status = joint.add_steps();
    *status->mutable_step() = s;
    status->set_province_code(ProvinceOfRole(roles, s.role_id()));
    for (const auto& r : procedure.roles()) {
      if (r.role_id() == s.role_id()) status->set_role_name_zh(r.name_zh());
    }
  }
  return joint;
}

v1::ApplicationState DeriveJointState(const v1::JointHandling& joint) {
  bool all_approved = joint.steps_size() > 0, any_open = false;
  for (const auto& s : joint.steps()) {
    if (Started(s) && EndedWithoutApproval(s.task_state())) return s.task_state();
    all_approved &= s.task_state() == v1::APPLICATION_STATE_APPROVED;
    any_open |= Started(s) && !IsTerminal(s.task_state());
  }
  if (all_approved) return v1::APPLICATION_STATE_APPROVED;
  if (joint.withdrawn() && !any_open) return v1::APPLICATION_STATE_WITHDRAWN;
  const int stage = CurrentStage(joint);
  bool waiting = false, supplement = false, beyond_accepted = false, accepted = false;
  for (const auto& s : joint.steps()) {
    if (s.step().stage() != stage || !Started(s)) continue;
    waiting |= s.task_state() == v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
    supplement |= s.task_state() == v1::APPLICATION_STATE_PENDING_SUPPLEMENT;
    accepted |= s.task_state() == v1::APPLICATION_STATE_ACCEPTED;
    beyond_accepted |= s.task_state() == v1::APPLICATION_STATE_IN_REVIEW ||
                       s.task_state() == v1::APPLICATION_STATE_APPROVED;
  }
  if (waiting) return v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
  if (supplement) return v1::APPLICATION_STATE_PENDING_SUPPLEMENT;
  if (stage == 1 && !beyond_accepted) {
    return accepted ? v1::APPLICATION_STATE_ACCEPTED : v1::APPLICATION_STATE_RECEIVED;
  }
  return v1::APPLICATION_STATE_IN_REVIEW;
}

std::vector<int> JointStepsToStart(const v1::JointHandling& joint) {
  std::vector<int> due;
  if (joint.withdrawn()) return due;
  for (const auto& s : joint.steps()) {
    if (Started(s) && EndedWithoutApproval(s.task_state())) return due;
  }
  const int stage = CurrentStage(joint);
  for (const auto& s : joint.steps()) {
    if (s.step().stage() == stage && !Started(s)) due.push_back(s.step().step());
  }
  return due;
}

v1::ApplicationClocks AggregateJointClocks(const v1::JointHandling& joint,
                                           const WorkingDayCalendar& calendar, absl::Time now,
                                           bool final_state, absl::Time final_at) {
  struct Stage {
    int legal = 0, promised = 0, extension = 0, used = 0, paused = 0;
  };
  std::map<int, Stage> stages;
  v1::ApplicationClocks out;
  absl::Time started_at = absl::InfiniteFuture();
  const int current = CurrentStage(joint);
  for (const auto& s : joint.steps()) {
    Stage& st = stages[s.step().stage()];
    st.legal = std::max(st.legal, s.step().legal_days());
    st.promised = std::max(st.promised, s.step().promised_days());
    const v1::ApplicationClocks& c = s.task_clocks();
    if (!c.started()) continue;
    started_at = std::min(started_at, FromProto(c.started_at()));
    st.extension = std::max(st.extension, c.extension_days());
    st.used = std::max(st.used, c.used_working_days());
    st.paused = std::max(st.paused, c.paused_working_days());
    out.set_legal_overdue(out.legal_overdue() || c.legal_overdue());
    out.set_promised_overdue(out.promised_overdue() || c.promised_overdue());
    out.set_calendar_uncovered(out.calendar_uncovered() || c.calendar_uncovered());
    if (!final_state && s.step().stage() == current &&
        c.paused() != v1::CLOCK_PAUSE_REASON_UNSPECIFIED &&
        out.paused() != v1::CLOCK_PAUSE_REASON_APPLICANT) {
      out.set_paused(c.paused());
      out.set_special_procedure(c.special_procedure());
    }
  }
  int legal = 0, promised = 0, extension = 0, used = 0, paused = 0;
  for (const auto& [stage, st] : stages) {
    legal += st.legal, promised += st.promised, extension += st.extension;
    used += st.used, paused += st.paused;
  }
  out.mutable_limits()->set_legal_days(legal);
  out.mutable_limits()->set_promised_days(promised);
  out.set_extension_days(extension);
  const absl::CivilDay as_of = ChinaCivilDay(final_state ? final_at : now);
  out.set_as_of_date(FormatCivilDay(as_of));
  if (started_at == absl::InfiniteFuture()) return out;
  out.set_started(true);
  *out.mutable_started_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(started_at));
  out.set_used_working_days(used);
  out.set_paused_working_days(paused);
  const int legal_left = legal + extension - used, promised_left = promised - used;
  out.set_legal_remaining_working_days(legal_left);
  out.set_promised_remaining_working_days(promised_left);
  out.set_legal_due_date(FormatCivilDay(calendar.AddWorkingDays(as_of, legal_left)));
  out.set_promised_due_date(FormatCivilDay(calendar.AddWorkingDays(as_of, promised_left)));
  out.set_legal_overdue(out.legal_overdue() || legal_left < 0);
  out.set_promised_overdue(out.promised_overdue() || promised_left < 0);
  if (final_state) {
    out.set_stopped(true);
    out.clear_paused();
    out.clear_special_procedure();
    *out.mutable_stopped_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(final_at));
  }
  return out;
}

v1::Guide WithStepLimits(v1::Guide guide, const v1::ApplicationFiling& filing) {
  if (!filing.has_joint_task()) return guide;
  const v1::JointStep* step = FindJointStep(guide.joint_procedure(), filing.joint_task().step());
  if (step == nullptr) return guide;
  guide.set_legal_time_limit_days(step->legal_days());
  guide.set_promised_time_limit_days(step->promised_days());
  return guide;
}

absl::Status CheckDeliveredTask(const v1::ApplicationFiling& filing, const v1::Guide& own_guide) {
  const v1::JointTaskOf& task = filing.joint_task();
  absl::StatusOr<ApplicationIdParts> parent =
      ParseApplicationId(task.joint_application_id(), "application.filing.joint_task.joint_application_id");
  if (!parent.ok()) return parent.status();
  if (parent->accepting_province != filing.accepting_province()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "application.filing.joint_task.joint_application_id ", task.joint_application_id(),
        " was not accepted by ", filing.accepting_province(), ", the task's accepting province"));
  }
  if (!own_guide.has_joint_procedure()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "item ", filing.item_code(), " is not a 多地联办 item in the catalog of province ",
        filing.handling_province(), ": its guide declares no joint procedure, so it has no step ",
        task.step(), " to do"));
  }
  const v1::JointStep* step = FindJointStep(own_guide.joint_procedure(), task.step());
  if (step == nullptr || step->role_id() != task.role_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the joint procedure of item ", filing.item_code(), " at province ",
        filing.handling_province(), " has no step ", task.step(), " done by role ",
        task.role_id().substr(0, 40)));
  }
  return absl::OkStatus();
}

}  // namespace tongban::node
