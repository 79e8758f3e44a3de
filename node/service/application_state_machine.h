// The application state machine (DESIGN.md §4, step 4). One function says
// which action is legal in which state, so officers' decisions, applicants'
// actions and remote events are all checked by the same table.
//
//   RECEIVED ──ACCEPT──▶ ACCEPTED ──START_REVIEW──▶ IN_REVIEW ──APPROVE/DENY──▶ APPROVED/DENIED
//      │  └─REQUEST_MATERIALS─▶ WAITING_FOR_MATERIALS ◀──REQUEST_MATERIALS──┘
//      └─REJECT─▶ NOT_ACCEPTED        │ SUPPLEMENT ▶ IN_REVIEW; TERMINATE; DENY
//   PENDING_SUPPLEMENT (容缺) ──SUPPLEMENT (all)──▶ ACCEPTED; REJECT; TERMINATE (deadline passed)
//   WITHDRAW from every non-terminal state.
//   START_SPECIAL_PROCEDURE, END_SPECIAL_PROCEDURE, EXTEND_TIME_LIMIT (time-limit
//   actions): no state change, in every non-terminal state but RECEIVED.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

// The state after `action`, or FAILED_PRECONDITION naming the current state
// and the actions it allows. Actions that do not change state (ESCALATE,
// DELIVER, RESOLVE_ESCALATION) return `current` in every state.
// SUPPLEMENT from PENDING_SUPPLEMENT returns ACCEPTED: when materials are
// still missing the caller keeps PENDING_SUPPLEMENT (see SupplementOutcome).
absl::StatusOr<v1::ApplicationState> NextState(v1::ApplicationState current,
                                               v1::ApplicationAction action);

// The state after a legal SUPPLEMENT given whether materials are still missing.
v1::ApplicationState SupplementOutcome(v1::ApplicationState current, bool still_missing);

bool IsTerminal(v1::ApplicationState state);

// Actions legal in `state`, in enum order.
std::vector<v1::ApplicationAction> AllowedActions(v1::ApplicationState state);

// Officer actions accepted by DecideApplication (decisions and time-limit actions).
bool IsOfficerDecision(v1::ApplicationAction action);

// START_SPECIAL_PROCEDURE, END_SPECIAL_PROCEDURE, EXTEND_TIME_LIMIT: they
// change no state, only the clocks (application_clocks.h).
bool IsTimeLimitAction(v1::ApplicationAction action);

// "RECEIVED", "APPROVE", ... (the enum names without prefix), for messages.
std::string StateName(v1::ApplicationState state);
std::string ActionName(v1::ApplicationAction action);

}  // namespace tongban::node
