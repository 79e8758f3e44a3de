#include "service/application_filing.h"

#include "google/protobuf/util/time_util.h"
#include "service/application_clocks.h"
#include "service/application_events.h"
#include "service/joint_procedure.h"

namespace tongban::node {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

CreateRequest NewFilingRequest(const FilingParams& p, const WorkingDayCalendar& calendar,
                               signing::RecordSigner* signer) {
  const v1::Guide& guide = *p.guide;
  v1::Application app;
  app.set_accepting_province(p.accepting);
  app.set_handling_province(p.handling.empty() ? guide.province_code() : p.handling);
  app.set_item_code(guide.item().item_code());
  app.set_item_name_zh(guide.item().name_zh());
  *app.mutable_applicant() = p.applicant;
  *app.mutable_materials() = p.materials;
  const bool joint = p.joint.steps_size() > 0;
  const bool deficient = !joint && p.check->outcome == v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY;
  if (deficient) {
    for (const auto& m : p.check->missing_deferred) app.add_missing_material_ids(m.material_id());
    *app.mutable_supplement_deadline() =
        ToProto(SupplementDeadline(calendar, p.now, p.check->supplement_days));
  }
  app.set_state(deficient ? v1::APPLICATION_STATE_PENDING_SUPPLEMENT
                          : v1::APPLICATION_STATE_RECEIVED);
  app.set_guide_version(guide.version());
  *app.mutable_created_at() = ToProto(p.now);
  *app.mutable_updated_at() = ToProto(p.now);
  const bool cross = app.handling_province() != p.accepting;
  app.set_forwarding(cross ? v1::FORWARDING_STATE_PENDING : v1::FORWARDING_STATE_NOT_NEEDED);
  if (joint) *app.mutable_joint() = p.joint;
  *app.mutable_filing() = FilingOf(app);
  *app.mutable_filing()->mutable_joint_roles() = p.joint_roles;
  if (!p.joint_task.joint_application_id().empty()) {
    *app.mutable_filing()->mutable_joint_task() = p.joint_task;
  }
  v1::ApplicationEvent submitted =
      MakeEvent(app, p.accepting, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
                app.state(), p.actor, p.now, p.note);
  for (const auto& m : p.materials) submitted.add_material_ids(m.material_id());
  // Filed at the handling province's own window with 容缺: accepted (受理)
  // now, against the step's limits when it is a task.
  if (!joint) StampTimeLimits(app, WithStepLimits(guide, app.filing()), &submitted);
  *app.add_events() = submitted;

  CreateRequest create;
  create.application = std::move(app);
  // The id is the store's: the filing names it and the SUBMIT event, which
  // starts the accepting province's hash chain, is signed over it.
  create.finalize = [signer](v1::Application& stored, std::vector<v1::ApplicationEvent>& events) {
    stored.mutable_filing()->set_application_id(stored.application_id());
    return SealEvent(stored, signer, &events.front());
  };
  create.make_outbox = [cross](const v1::Application& stored) {
    std::vector<OutboxEntry> out;
    if (cross) out.push_back(ApplicationDelivery(stored));
    return out;
  };
  return create;
}

}  // namespace tongban::node
