// JointCoordinator: moves 多地联办 applications along (docs/joint-handling.md).
// A joint application stays at its accepting node; each step is a task, an
// ordinary application to the step's province, forwarded and decided there
// exactly like any 异地代收代办 filing. The coordinator, at the accepting
// node only:
//   - files the tasks of each stage when the previous stage is approved in
//     full (idempotently: a task is keyed by joint application and step, so
//     a crash between filing and recording files nothing twice);
//   - mirrors every task event onto the joint application as a JOINT_STEP
//     event, so the applicant reads (and watches) one history, and stores
//     the overall state derived from the tasks;
//   - answers a joint application's steps and clocks from the tasks.
// It runs after every change of a task here (a decision, a delivered event)
// and sweeps all open joint applications at start and periodically, which
// finishes whatever a crash interrupted.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "service/guide_resolver.h"
#include "service/node_metrics.h"
#include "store/application_store.h"
#include "structured_log.h"
#include "tongban/v1/application.pb.h"
#include "working_day_calendar.h"

namespace tongban::signing {
class RecordSigner;  // common/record_signing.h
}  // namespace tongban::signing

namespace tongban::node {

struct JointCoordinatorDeps {
  std::string own_province;
  ApplicationStore* applications = nullptr;
  GuideResolver* guides = nullptr;
  const Clock* clock = nullptr;
  const WorkingDayCalendar* calendar = nullptr;
  signing::RecordSigner* signer = nullptr;
  EventLog* log = nullptr;
  // Optional: tongban_joint_steps_started_total, tongban_joint_advance_failures_total.
  NodeMetrics* metrics = nullptr;
  // Called after a task was filed with an outbox entry (wakes the forwarder).
  std::function<void()> on_outbox_written;
  // Between sweeps of the open joint applications.
  absl::Duration sweep_interval = absl::Seconds(30);
};

class JointCoordinator final {
 public:
  // Pointers are not owned and must outlive the coordinator.
  explicit JointCoordinator(JointCoordinatorDeps deps);
  ~JointCoordinator();

  // Files the due tasks of joint application `joint_id` and mirrors what its
  // tasks did since; nothing for an application that is not a joint one
  // accepted here. Safe to call any number of times, from any thread.
  absl::Status Advance(const std::string& joint_id);
  // Advance, counting and logging a failure (joint.advance_failed) for the
  // operator; the sweep retries.
  absl::Status AdvanceOrLog(const std::string& joint_id);
  // After `task` changed here: advances its joint application when it is a
  // task accepted here (errors are logged; the sweep retries).
  void TaskChanged(const v1::Application& task);
  // Fills a joint application's steps (task states and clocks, read from the
  // stored tasks) and its overall clocks, as of `now`. Nothing for others.
  absl::Status Describe(v1::Application& joint, absl::Time now) const;
  // Advances every open joint application accepted here (AdvanceOrLog each).
  absl::Status Sweep();

  // Sweeps now and then every sweep_interval on a thread of its own.
  void Start();
  void Stop();

 private:
  // One pass of Advance (advance_mu_ held): true when a step is due still.
  absl::StatusOr<bool> AdvanceOnce(const std::string& joint_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(advance_mu_);
  absl::StatusOr<v1::Application> FileTask(const v1::Application& joint, int step);
  void Run();

  const JointCoordinatorDeps d_;
  absl::Mutex advance_mu_;  // one Advance at a time: they read, then write

  absl::Mutex mu_;
  bool stopping_ = false;  // guarded by mu_
  std::unique_ptr<std::thread> thread_;
};

}  // namespace tongban::node
