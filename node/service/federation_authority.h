// Who may say what across provinces (DESIGN.md §3–5; the same table is in
// docs/protocol.md, "Authority of federation messages"). Every federation
// message a node receives is looked up here before anything is written:
// the province that authored it must hold the role the table names for that
// message (and action), or the receiver answers PERMISSION_DENIED naming the
// rule. What the receiver then re-derives itself (instead of believing the
// message) is the `effect` of the row; FederationServiceImpl implements each
// effect.
//
// Roles are read from the application id (TB-<accepting>-<handling>-...),
// never from fields of the message: the accepting province is the one whose
// window took the filing, the handling province decides it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

enum class FederationRole { kAccepting, kHandling };

// What the receiver does with a message the table allows.
enum class AuthorityEffect {
  // Handling node stores a new application: entry state re-derived by its own
  // pre-check against its own guide; the carried state, missing materials,
  // deadline and later events are ignored.
  kStoreFiling,
  // Handling node applies an applicant's action relayed from the accepting
  // window through its own state machine and records the result as its own
  // event (which flows back).
  kApplyApplicantAction,
  // Either node sets or clears the 办不成事 flag; no state change.
  kFlagEscalation,
  // Accepting node mirrors the handling province's decision (state_after,
  // after checking it is a legal transition from state_before).
  kMirrorHandlingState,
  // Handling node stores the applicant's 好差评 rating the accepting province
  // recorded, after re-checking against its own copy: the application is
  // APPROVED or DENIED, not rated yet, the level 1..5 (docs/ratings.md).
  kRecordRating,
};

struct AuthorityRule {
  absl::string_view message;      // "DeliverApplication", "DeliverEvent"
  v1::ApplicationAction action;   // UNSPECIFIED for DeliverApplication
  FederationRole author;          // the only province role that may author it
  AuthorityEffect effect;         // what the receiver re-derives
  absl::string_view rule;         // named in PERMISSION_DENIED answers
};

// The whole table, in the order docs/protocol.md shows it.
const std::vector<AuthorityRule>& FederationAuthorityTable();

// The rule allowing `author` to send `message` (with `action` for
// DeliverEvent) about an application, or:
// - INVALID_ARGUMENT for an action that is not a known follow-up action
//   (unknown enum value, UNSPECIFIED, SUBMIT — a filing travels only as
//   DeliverApplication);
// - PERMISSION_DENIED naming the rule when another role must author it.
absl::StatusOr<const AuthorityRule*> FindAuthority(absl::string_view message,
                                                   v1::ApplicationAction action,
                                                   FederationRole author);

absl::string_view RoleName(FederationRole role);

}  // namespace tongban::node
