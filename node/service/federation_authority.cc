#include "service/federation_authority.h"

#include "absl/strings/str_cat.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

using Role = FederationRole;
using Effect = AuthorityEffect;

constexpr absl::string_view kDeliverApplication = "DeliverApplication";
constexpr absl::string_view kDeliverEvent = "DeliverEvent";

std::vector<AuthorityRule> BuildTable() {
  std::vector<AuthorityRule> t;
  t.push_back({kDeliverApplication, v1::APPLICATION_ACTION_UNSPECIFIED, Role::kAccepting,
               Effect::kStoreFiling, "filings-from-accepting-province"});
  for (v1::ApplicationAction a : {v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_ACTION_WITHDRAW}) {
    t.push_back({kDeliverEvent, a, Role::kAccepting, Effect::kApplyApplicantAction,
                 "applicant-actions-rechecked-by-handling-province"});
  }
  for (v1::ApplicationAction a :
       {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_REJECT,
        v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_ACTION_REQUEST_MATERIALS,
        v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_ACTION_DENY,
        v1::APPLICATION_ACTION_TERMINATE, v1::APPLICATION_ACTION_DELIVER,
        // Time limits are the handling province's: its officers pause the
        // clocks for special procedures and approve extensions.
        v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE,
        v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT}) {
    t.push_back({kDeliverEvent, a, Role::kHandling, Effect::kMirrorHandlingState,
                 "decisions-by-handling-province"});
  }
  // Applicant actions the handling node took itself (e.g. a supplement filed
  // through its own window) and its results of relayed ones: decided there.
  for (v1::ApplicationAction a : {v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_ACTION_WITHDRAW}) {
    t.push_back({kDeliverEvent, a, Role::kHandling, Effect::kMirrorHandlingState,
                 "decisions-by-handling-province"});
  }
  // Either party may flag an application to its 办不成事 window.
  for (v1::ApplicationAction a :
       {v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_ACTION_RESOLVE_ESCALATION}) {
    for (Role r : {Role::kAccepting, Role::kHandling}) {
      t.push_back({kDeliverEvent, a, r, Effect::kFlagEscalation, "escalation-by-either-party"});
    }
  }
  // 好差评: the applicant rates at the window that took the filing; the
  // accepting province records it on the applicant's behalf and forwards it
  // to the handling province (which rectifies a 差评).
  t.push_back({kDeliverEvent, v1::APPLICATION_ACTION_RATE, Role::kAccepting,
               Effect::kRecordRating, "ratings-by-accepting-province"});
  return t;
}

bool IsFollowUpAction(v1::ApplicationAction a) {
  return v1::ApplicationAction_IsValid(a) && a != v1::APPLICATION_ACTION_UNSPECIFIED &&
         a != v1::APPLICATION_ACTION_SUBMIT;
}

}  // namespace

absl::string_view RoleName(FederationRole role) {
  return role == FederationRole::kAccepting ? "accepting" : "handling";
}

const std::vector<AuthorityRule>& FederationAuthorityTable() {
  static const auto* const kTable = new std::vector<AuthorityRule>(BuildTable());
  return *kTable;
}

absl::StatusOr<const AuthorityRule*> FindAuthority(absl::string_view message,
                                                   v1::ApplicationAction action,
                                                   FederationRole author) {
  if (message == kDeliverEvent && !IsFollowUpAction(action)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event.action ", ActionName(action),
        " is not a follow-up action (a filing travels only as DeliverApplication)"));
  }
  const AuthorityRule* other_role = nullptr;
  for (const AuthorityRule& r : FederationAuthorityTable()) {
    if (r.message != message || r.action != action) continue;
    if (r.author == author) return &r;
    other_role = &r;
  }
  if (other_role == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule no-authority: no province may send ", message, " with action ", ActionName(action),
        " to another province"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "rule ", other_role->rule, ": ", message,
      message == kDeliverEvent ? absl::StrCat(" ", ActionName(action)) : std::string(),
      " may be authored only by the ", RoleName(other_role->author),
      " province of the application, not the ", RoleName(author), " province"));
}

}  // namespace tongban::node
