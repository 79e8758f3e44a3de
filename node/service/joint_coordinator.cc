#include "service/joint_coordinator.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "peer_identity.h"
#include "province_registry.h"
#include "service/application_clocks.h"
#include "service/application_events.h"
#include "service/application_filing.h"
#include "service/application_state_machine.h"
#include "service/guide_precheck.h"
#include "service/joint_procedure.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

// At most `max_chars` code points of well-formed UTF-8 `s`.
std::string Utf8Prefix(const std::string& s, size_t max_chars) {
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max_chars) break;
  }
  return s.substr(0, i);
}

std::string MirrorKey(const std::string& task_id, const std::string& task_event_id) {
  return absl::StrCat(task_id, "/", task_event_id);
}

// The task's own SUBMIT: the JOINT_STEP that records the step's start covers it.
bool IsTaskFiling(const v1::ApplicationEvent& e, const v1::Application& task) {
  return e.action() == v1::APPLICATION_ACTION_SUBMIT &&
         e.province_code() == task.accepting_province();
}

constexpr v1::ApplicationState kOpenStates[] = {
    v1::APPLICATION_STATE_RECEIVED, v1::APPLICATION_STATE_PENDING_SUPPLEMENT,
    v1::APPLICATION_STATE_ACCEPTED, v1::APPLICATION_STATE_IN_REVIEW,
    v1::APPLICATION_STATE_WAITING_FOR_MATERIALS};

}  // namespace

JointCoordinator::JointCoordinator(JointCoordinatorDeps deps) : d_(std::move(deps)) {}

JointCoordinator::~JointCoordinator() { Stop(); }

absl::StatusOr<v1::Application> JointCoordinator::FileTask(const v1::Application& joint,
                                                           int step) {
  const v1::JointStep* declared = FindJointStep(joint.joint().procedure(), step);
  if (declared == nullptr) {
    return absl::InternalError(absl::StrCat(joint.application_id(), " has no step ", step));
  }
  const std::string province = ProvinceOfRole(joint.joint().roles(), declared->role_id());
  absl::StatusOr<GuideResolver::GuidePtr> guide = d_.guides->Resolve(province, joint.item_code());
  if (!guide.ok()) return guide.status();
  // Checked against the step province's guide as it is now; ids it does not
  // know are forwarded all the same, and its node names them to its officer.
  std::set<std::string> known;
  for (const auto& m : joint.materials()) {
    for (const auto& r : (*guide)->materials()) {
      if (r.material_id() == m.material_id()) known.insert(m.material_id());
    }
  }
  absl::StatusOr<PrecheckResult> check = Precheck(**guide, known, "materials");
  if (!check.ok()) return check.status();

  FilingParams p;
  p.accepting = d_.own_province;
  p.guide = guide->get();
  p.check = &*check;
  p.applicant = joint.applicant();
  p.materials = joint.materials();
  p.actor = joint.events_size() > 0 ? joint.events(0).actor() : NodeSpiffeId(d_.own_province);
  p.note = absl::StrCat("多地联办 ", joint.application_id(), " step ", step, ": ",
                        declared->name_zh());
  p.now = d_.clock->Now();
  p.joint_task.set_joint_application_id(joint.application_id());
  p.joint_task.set_step(step);
  p.joint_task.set_role_id(declared->role_id());
  CreateRequest create = NewFilingRequest(p, *d_.calendar, d_.signer);
  // Keyed by joint application and step: filing it again returns the task.
  create.idempotency_scope = absl::StrCat("joint:", joint.application_id());
  create.idempotency_key = absl::StrCat("step-", step);
  create.request_fingerprint = create.idempotency_key;
  absl::StatusOr<CreateResult> created = d_.applications->CreateApplication(create);
  if (!created.ok()) return created.status();
  if (!created->replayed) {
    if (d_.metrics != nullptr) d_.metrics->JointStepStarted();
    if (d_.on_outbox_written && province != d_.own_province) d_.on_outbox_written();
    d_.log->Info("joint.step_started", {{"id", joint.application_id()},
                                        {"step", absl::StrCat(step)},
                                        {"province", province},
                                        {"task", created->application.application_id()}});
  }
  return std::move(created->application);
}

absl::Status JointCoordinator::Advance(const std::string& joint_id) {
  absl::MutexLock lock(&advance_mu_);
  // A pass that ends a stage starts the next one in the same pass; another
  // pass is needed only when a task changed meanwhile.
  for (int pass = 0; pass <= kMaxJointSteps; ++pass) {
    absl::StatusOr<bool> more = AdvanceOnce(joint_id);
    if (!more.ok() || !*more) return more.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> JointCoordinator::AdvanceOnce(const std::string& joint_id) {
  absl::StatusOr<v1::Application> joint = d_.applications->GetApplication(joint_id, true);
  if (!joint.ok()) return joint.status();
  if (!joint->has_joint() || joint->accepting_province() != d_.own_province) return false;
  // The tasks as stored now: their states decide, never a message.
  v1::JointHandling working = joint->joint();
  std::map<int, v1::Application> tasks;
  for (auto& s : *working.mutable_steps()) {
    if (s.task_application_id().empty()) continue;
    absl::StatusOr<v1::Application> task =
        d_.applications->GetApplication(s.task_application_id(), true);
    if (!task.ok()) return task.status();
    s.set_task_state(task->state());
    tasks[s.step().step()] = std::move(*task);
  }
  for (int step : JointStepsToStart(working)) {
    absl::StatusOr<v1::Application> task = FileTask(*joint, step);
    if (!task.ok()) return task.status();
    tasks[step] = std::move(*task);
  }
  if (tasks.empty()) return false;

  const absl::Time now = d_.clock->Now();
  const std::string actor = NodeSpiffeId(d_.own_province);
  absl::StatusOr<v1::Application> stored = d_.applications->MutateApplication(
      joint_id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        std::set<std::string> mirrored;
        for (const auto& e : app.events()) {
          if (e.action() == v1::APPLICATION_ACTION_JOINT_STEP) {
            mirrored.insert(MirrorKey(e.joint_step().task_application_id(),
                                      e.joint_step().task_event_id()));
          }
        }
        Mutation m;
        v1::JointHandling& j = *app.mutable_joint();
        for (auto& s : *j.mutable_steps()) {
          auto found = tasks.find(s.step().step());
          if (found == tasks.end()) continue;
          const v1::Application& task = found->second;
          if (s.task_application_id().empty()) {
            s.set_task_application_id(task.application_id());
          } else if (s.task_application_id() != task.application_id()) {
            return absl::InternalError(absl::StrCat("step ", s.step().step(), " of ", joint_id,
                                                    " has two tasks"));
          }
          auto record = [&](const v1::ApplicationEvent* te) -> absl::Status {
            const v1::ApplicationState before = app.state();
            s.set_task_state(te != nullptr              ? te->state_after()
                             : task.events_size() > 0 ? task.events(0).state_after()
                                                      : task.state());
            app.set_state(DeriveJointState(j));
            const Province* province = FindProvince(s.province_code());
            std::string note = absl::StrCat(
                "step ", s.step().step(), " ", s.role_name_zh(), " ",
                province != nullptr ? std::string(province->name_zh) : s.province_code(), " (",
                s.step().name_zh(), "): ");
            if (te == nullptr) {
              absl::StrAppend(&note, "started as task ", task.application_id());
            } else {
              absl::StrAppend(&note, ActionName(te->action()), " by ", te->province_code(),
                              " → ", StateName(te->state_after()));
              if (!te->note().empty()) absl::StrAppend(&note, ": ", te->note());
            }
            v1::ApplicationEvent e =
                MakeEvent(app, d_.own_province, v1::APPLICATION_ACTION_JOINT_STEP, before,
                          app.state(), actor, now, Utf8Prefix(note, 500));
            v1::JointStepUpdate* u = e.mutable_joint_step();
            u->set_step(s.step().step());
            u->set_task_application_id(task.application_id());
            if (te != nullptr) {
              u->set_task_event_id(te->event_id());
              u->set_task_action(te->action());
            }
            u->set_task_state(s.task_state());
            absl::Status sealed = SealEvent(app, d_.signer, &e);
            if (!sealed.ok()) return sealed;
            *app.add_events() = e;  // so the next event's id and hash link follow it
            m.events.push_back(std::move(e));
            return absl::OkStatus();
          };
          if (mirrored.count(MirrorKey(task.application_id(), "")) == 0) {
            if (absl::Status s1 = record(nullptr); !s1.ok()) return s1;
          }
          for (const auto& te : task.events()) {
            if (IsTaskFiling(te, task) ||
                mirrored.count(MirrorKey(task.application_id(), te.event_id())) != 0) {
              continue;
            }
            if (absl::Status s1 = record(&te); !s1.ok()) return s1;
          }
          s.set_task_state(task.state());
        }
        app.set_state(DeriveJointState(j));
        if (!m.events.empty()) {
          *app.mutable_updated_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
        }
        return m;
      });
  if (!stored.ok()) return stored.status();
  return !JointStepsToStart(stored->joint()).empty();
}

absl::Status JointCoordinator::AdvanceOrLog(const std::string& joint_id) {
  absl::Status s = Advance(joint_id);
  if (!s.ok()) {
    if (d_.metrics != nullptr) d_.metrics->JointAdvanceFailed();
    d_.log->Warn("joint.advance_failed", {{"id", joint_id}, {"error", s.ToString()}});
  }
  return s;
}

void JointCoordinator::TaskChanged(const v1::Application& task) {
  if (!task.filing().has_joint_task() || task.accepting_province() != d_.own_province) return;
  (void)AdvanceOrLog(task.filing().joint_task().joint_application_id());
}

absl::Status JointCoordinator::Describe(v1::Application& joint, absl::Time now) const {
  if (!joint.has_joint()) return absl::OkStatus();
  for (auto& s : *joint.mutable_joint()->mutable_steps()) {
    if (s.task_application_id().empty()) continue;
    absl::StatusOr<v1::Application> task =
        d_.applications->GetApplication(s.task_application_id(), true);
    if (!task.ok()) return task.status();
    s.set_task_state(task->state());
    *s.mutable_task_clocks() =
        ComputeClocks(task->handling_province(), task->events(), *d_.calendar, now);
  }
  const bool final_state = IsTerminal(joint.state());
  absl::Time final_at = now;
  if (final_state && joint.has_updated_at()) {
    final_at = absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(joint.updated_at()));
  }
  *joint.mutable_clocks() =
      AggregateJointClocks(joint.joint(), *d_.calendar, now, final_state, final_at);
  return absl::OkStatus();
}

absl::Status JointCoordinator::Sweep() {
  absl::Status first;
  for (v1::ApplicationState state : kOpenStates) {
    std::string cursor;
    do {
      absl::StatusOr<Page<v1::Application>> page =
          d_.applications->ListByState(state, cursor, 200);
      if (!page.ok()) return page.status();
      for (const v1::Application& app : page->items) {
        if (!app.has_joint() || app.accepting_province() != d_.own_province) continue;
        absl::Status s = AdvanceOrLog(app.application_id());
        if (!s.ok() && first.ok()) first = s;
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
  return first;
}

void JointCoordinator::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_ != nullptr) return;
  stopping_ = false;
  thread_ = std::make_unique<std::thread>([this] { Run(); });
}

void JointCoordinator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
  thread_.reset();
}

void JointCoordinator::Run() {
  for (bool first = true;; first = false) {
    {
      absl::MutexLock lock(&mu_);
      // At once the first time (finish what a crash interrupted), then
      // every interval; wakes at once on Stop().
      if (!first) mu_.AwaitWithTimeout(absl::Condition(&stopping_), d_.sweep_interval);
      if (stopping_) return;
    }
    (void)Sweep();  // failures are logged; the next sweep retries
  }
}

}  // namespace tongban::node
