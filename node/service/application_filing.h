// A new filing (办件) as the accepting node stores it: the application, its
// filing record, the signed SUBMIT event and the outbox entry that forwards
// it. Shared by SubmitApplication and by the 多地联办 coordinator, which files
// each step's task the same way (docs/joint-handling.md).
#pragma once

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "service/guide_precheck.h"
#include "store/application_store.h"
#include "tongban/v1/application.pb.h"
#include "working_day_calendar.h"

namespace tongban::signing {
class RecordSigner;  // common/record_signing.h
}  // namespace tongban::signing

namespace tongban::node {

struct FilingParams {
  std::string accepting;                // this node's province
  const v1::Guide* guide = nullptr;     // the handling province's guide, as checked
  const PrecheckResult* check = nullptr;  // COMPLETE or ACCEPT_WITH_DEFICIENCY
  v1::Applicant applicant;
  google::protobuf::RepeatedPtrField<v1::SuppliedMaterial> materials;
  std::string actor;                    // who filed (SPIFFE id or citizen:<id>)
  std::string note;
  absl::Time now;
  // A joint application: its role assignments (and `joint`, set on the
  // application). A task: its place in the joint application.
  google::protobuf::RepeatedPtrField<v1::JointRoleAssignment> joint_roles;
  v1::JointHandling joint;
  v1::JointTaskOf joint_task;
  // The handling province: guide->province_code(), except for a joint
  // application, which this node keeps (its steps are the tasks).
  std::string handling;
};

// The store's request for the new application (no id yet; the store assigns
// it, then `finalize` completes the filing record and signs the SUBMIT event,
// and `make_outbox` forwards it when it is cross-province). The caller adds
// the idempotency scope, key and fingerprint.
CreateRequest NewFilingRequest(const FilingParams& params, const WorkingDayCalendar& calendar,
                               signing::RecordSigner* signer);

}  // namespace tongban::node
