#include "application_state_machine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace tongban::node {
namespace {

using v1::ApplicationAction;
using v1::ApplicationState;

bool ChangesNothing(ApplicationAction a) {
  return a == v1::APPLICATION_ACTION_ESCALATE || a == v1::APPLICATION_ACTION_DELIVER ||
         a == v1::APPLICATION_ACTION_RESOLVE_ESCALATION ||
         a == v1::APPLICATION_ACTION_DISCARD_DELIVERY;
}

// The transition table; UNSPECIFIED = not allowed.
ApplicationState Lookup(ApplicationState s, ApplicationAction a) {
  // An unknown state (a damaged row) allows nothing, not even WITHDRAW.
  if (IsTerminal(s) || s == v1::APPLICATION_STATE_UNSPECIFIED || !v1::ApplicationState_IsValid(s)) {
    return v1::APPLICATION_STATE_UNSPECIFIED;
  }
  if (a == v1::APPLICATION_ACTION_WITHDRAW) return v1::APPLICATION_STATE_WITHDRAWN;
  // Time-limit actions change no state; they need an application the
  // handling province has accepted (RECEIVED is before 受理). Whether the
  // clocks actually started (WAITING_FOR_MATERIALS may precede 受理) is
  // checked against the clocks (CheckClockAction).
  if (IsTimeLimitAction(a)) return s == v1::APPLICATION_STATE_RECEIVED ? v1::APPLICATION_STATE_UNSPECIFIED : s;
  switch (s) {
    case v1::APPLICATION_STATE_RECEIVED:
      if (a == v1::APPLICATION_ACTION_ACCEPT) return v1::APPLICATION_STATE_ACCEPTED;
      if (a == v1::APPLICATION_ACTION_REJECT) return v1::APPLICATION_STATE_NOT_ACCEPTED;
      if (a == v1::APPLICATION_ACTION_REQUEST_MATERIALS) return v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
      break;
    case v1::APPLICATION_STATE_PENDING_SUPPLEMENT:
      if (a == v1::APPLICATION_ACTION_SUPPLEMENT) return v1::APPLICATION_STATE_ACCEPTED;
      if (a == v1::APPLICATION_ACTION_REJECT) return v1::APPLICATION_STATE_NOT_ACCEPTED;
      if (a == v1::APPLICATION_ACTION_TERMINATE) return v1::APPLICATION_STATE_TERMINATED;
      break;
    case v1::APPLICATION_STATE_ACCEPTED:
      if (a == v1::APPLICATION_ACTION_START_REVIEW) return v1::APPLICATION_STATE_IN_REVIEW;
      break;
    case v1::APPLICATION_STATE_IN_REVIEW:
      if (a == v1::APPLICATION_ACTION_APPROVE) return v1::APPLICATION_STATE_APPROVED;
      if (a == v1::APPLICATION_ACTION_DENY) return v1::APPLICATION_STATE_DENIED;
      if (a == v1::APPLICATION_ACTION_REQUEST_MATERIALS) return v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
      break;
    case v1::APPLICATION_STATE_WAITING_FOR_MATERIALS:
      if (a == v1::APPLICATION_ACTION_SUPPLEMENT) return v1::APPLICATION_STATE_IN_REVIEW;
      if (a == v1::APPLICATION_ACTION_DENY) return v1::APPLICATION_STATE_DENIED;
      if (a == v1::APPLICATION_ACTION_TERMINATE) return v1::APPLICATION_STATE_TERMINATED;
      break;
    default:
      break;
  }
  return v1::APPLICATION_STATE_UNSPECIFIED;
}

}  // namespace

// Never throws: a value from a newer peer or a damaged row is named by its
// number ("UNKNOWN(99)") instead of aborting the message that reports it.
std::string StateName(ApplicationState state) {
  if (!v1::ApplicationState_IsValid(state)) return absl::StrCat("UNKNOWN(", state, ")");
  return std::string(absl::StripPrefix(v1::ApplicationState_Name(state), "APPLICATION_STATE_"));
}

std::string ActionName(ApplicationAction action) {
  if (!v1::ApplicationAction_IsValid(action)) return absl::StrCat("UNKNOWN(", action, ")");
  return std::string(absl::StripPrefix(v1::ApplicationAction_Name(action), "APPLICATION_ACTION_"));
}

bool IsTerminal(ApplicationState s) {
  return s == v1::APPLICATION_STATE_APPROVED || s == v1::APPLICATION_STATE_DENIED ||
         s == v1::APPLICATION_STATE_NOT_ACCEPTED || s == v1::APPLICATION_STATE_WITHDRAWN ||
         s == v1::APPLICATION_STATE_TERMINATED;
}

bool IsOfficerDecision(ApplicationAction a) {
  return a == v1::APPLICATION_ACTION_ACCEPT || a == v1::APPLICATION_ACTION_REJECT ||
         a == v1::APPLICATION_ACTION_START_REVIEW ||
         a == v1::APPLICATION_ACTION_REQUEST_MATERIALS || a == v1::APPLICATION_ACTION_APPROVE ||
         a == v1::APPLICATION_ACTION_DENY || a == v1::APPLICATION_ACTION_TERMINATE ||
         IsTimeLimitAction(a);
}

bool IsTimeLimitAction(ApplicationAction a) {
  return a == v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE ||
         a == v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE ||
         a == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT;
}

std::vector<ApplicationAction> AllowedActions(ApplicationState state) {
  std::vector<ApplicationAction> out;
  for (int a = v1::APPLICATION_ACTION_SUBMIT; a <= v1::ApplicationAction_MAX; ++a) {
    auto action = static_cast<ApplicationAction>(a);
    if (ChangesNothing(action) || action == v1::APPLICATION_ACTION_SUBMIT) continue;
    if (Lookup(state, action) != v1::APPLICATION_STATE_UNSPECIFIED) out.push_back(action);
  }
  return out;
}

absl::StatusOr<ApplicationState> NextState(ApplicationState current, ApplicationAction action) {
  if (!v1::ApplicationAction_IsValid(action)) {
    return absl::InvalidArgumentError(absl::StrCat("action ", ActionName(action), " is not an action"));
  }
  if (ChangesNothing(action)) return current;
  ApplicationState next = Lookup(current, action);
  if (next != v1::APPLICATION_STATE_UNSPECIFIED) return next;
  std::vector<std::string> allowed;
  for (ApplicationAction a : AllowedActions(current)) allowed.push_back(ActionName(a));
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot ", ActionName(action), " an application in state ", StateName(current),
      current == v1::APPLICATION_STATE_UNSPECIFIED ? std::string(" (the state is unset)")
      : !v1::ApplicationState_IsValid(current)
          ? std::string(" (the stored state is not a known state: ask the operators to repair it)")
      : allowed.empty() ? std::string(" (a final state: nothing more can happen)")
                      : absl::StrCat("; allowed in ", StateName(current), ": ",
                                     absl::StrJoin(allowed, ", "))));
}

ApplicationState SupplementOutcome(ApplicationState current, bool still_missing) {
  if (current == v1::APPLICATION_STATE_PENDING_SUPPLEMENT && still_missing) return current;
  absl::StatusOr<ApplicationState> next = NextState(current, v1::APPLICATION_ACTION_SUPPLEMENT);
  return next.ok() ? *next : current;
}

}  // namespace tongban::node
