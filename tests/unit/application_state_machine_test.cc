// The application state machine, checked against a table written out here
// independently of the implementation: every (state, action) pair, the
// message of every refused transition, and the helpers built on the table.
#include "service/application_state_machine.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using v1::ApplicationAction;
using v1::ApplicationState;

constexpr ApplicationState R = v1::APPLICATION_STATE_RECEIVED;
constexpr ApplicationState PS = v1::APPLICATION_STATE_PENDING_SUPPLEMENT;
constexpr ApplicationState AC = v1::APPLICATION_STATE_ACCEPTED;
constexpr ApplicationState IR = v1::APPLICATION_STATE_IN_REVIEW;
constexpr ApplicationState WM = v1::APPLICATION_STATE_WAITING_FOR_MATERIALS;
constexpr ApplicationState AP = v1::APPLICATION_STATE_APPROVED;
constexpr ApplicationState DN = v1::APPLICATION_STATE_DENIED;
constexpr ApplicationState NA = v1::APPLICATION_STATE_NOT_ACCEPTED;
constexpr ApplicationState WD = v1::APPLICATION_STATE_WITHDRAWN;
constexpr ApplicationState TM = v1::APPLICATION_STATE_TERMINATED;

// All 11 states (UNSPECIFIED included) and all 13 actions after UNSPECIFIED.
std::vector<ApplicationState> AllStates() {
  std::vector<ApplicationState> out;
  for (int s = v1::ApplicationState_MIN; s <= v1::ApplicationState_MAX; ++s) {
    out.push_back(static_cast<ApplicationState>(s));
  }
  return out;
}

std::vector<ApplicationAction> AllActions() {
  std::vector<ApplicationAction> out;
  for (int a = v1::APPLICATION_ACTION_SUBMIT; a <= v1::ApplicationAction_MAX; ++a) {
    out.push_back(static_cast<ApplicationAction>(a));
  }
  return out;
}

bool KeepsState(ApplicationAction a) {
  return a == v1::APPLICATION_ACTION_ESCALATE || a == v1::APPLICATION_ACTION_DELIVER ||
         a == v1::APPLICATION_ACTION_RESOLVE_ESCALATION ||
         a == v1::APPLICATION_ACTION_DISCARD_DELIVERY;
}

// The documented state changes (header diagram): anything not listed here is
// refused, except the three actions that keep the state.
const std::map<std::pair<ApplicationState, ApplicationAction>, ApplicationState>& Expected() {
  static auto* const table =
      new std::map<std::pair<ApplicationState, ApplicationAction>, ApplicationState>{
          {{R, v1::APPLICATION_ACTION_ACCEPT}, AC},
          {{R, v1::APPLICATION_ACTION_REJECT}, NA},
          {{R, v1::APPLICATION_ACTION_REQUEST_MATERIALS}, WM},
          {{R, v1::APPLICATION_ACTION_WITHDRAW}, WD},

          {{PS, v1::APPLICATION_ACTION_SUPPLEMENT}, AC},
          {{PS, v1::APPLICATION_ACTION_REJECT}, NA},
          {{PS, v1::APPLICATION_ACTION_TERMINATE}, TM},
          {{PS, v1::APPLICATION_ACTION_WITHDRAW}, WD},

          {{AC, v1::APPLICATION_ACTION_START_REVIEW}, IR},
          {{AC, v1::APPLICATION_ACTION_WITHDRAW}, WD},

          {{IR, v1::APPLICATION_ACTION_APPROVE}, AP},
          {{IR, v1::APPLICATION_ACTION_DENY}, DN},
          {{IR, v1::APPLICATION_ACTION_REQUEST_MATERIALS}, WM},
          {{IR, v1::APPLICATION_ACTION_WITHDRAW}, WD},

          {{WM, v1::APPLICATION_ACTION_SUPPLEMENT}, IR},
          {{WM, v1::APPLICATION_ACTION_DENY}, DN},
          {{WM, v1::APPLICATION_ACTION_TERMINATE}, TM},
          {{WM, v1::APPLICATION_ACTION_WITHDRAW}, WD},
      };
  // Time-limit actions (START/END_SPECIAL_PROCEDURE, EXTEND_TIME_LIMIT) keep
  // the state, in every accepted non-terminal state (not RECEIVED).
  static bool added = [] {
    for (ApplicationState s : {PS, AC, IR, WM}) {
      for (ApplicationAction a : {v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE,
                                  v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE,
                                  v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT}) {
        table->emplace(std::make_pair(s, a), s);
      }
    }
    return true;
  }();
  (void)added;
  return *table;
}

// Actions that change the state and are legal in `s`, in enum order.
std::vector<ApplicationAction> ExpectedAllowed(ApplicationState s) {
  std::vector<ApplicationAction> out;
  for (ApplicationAction a : AllActions()) {
    if (Expected().count({s, a}) > 0) out.push_back(a);
  }
  return out;
}

const std::set<ApplicationState>& Terminal() {
  static const auto* terminal = new std::set<ApplicationState>{AP, DN, NA, WD, TM};
  return *terminal;
}

TEST(ApplicationStateMachineTest, EnumsHaveTheSizesTheTableCovers) {
  // If a state or action is added, this table (and the machine) need a look.
  EXPECT_EQ(AllStates().size(), 11u);
  EXPECT_EQ(AllActions().size(), 19u);
}

TEST(ApplicationStateMachineTest, EveryStateActionPairFollowsTheTable) {
  int legal = 0;
  int refused = 0;
  for (ApplicationState s : AllStates()) {
    for (ApplicationAction a : AllActions()) {
      SCOPED_TRACE(StateName(s) + " x " + ActionName(a));
      absl::StatusOr<ApplicationState> next = NextState(s, a);
      auto it = Expected().find({s, a});
      if (KeepsState(a)) {
        ASSERT_TRUE(next.ok()) << next.status();
        EXPECT_EQ(*next, s);
        ++legal;
      } else if (it != Expected().end()) {
        ASSERT_TRUE(next.ok()) << next.status();
        EXPECT_EQ(StateName(*next), StateName(it->second));
        ++legal;
      } else {
        ASSERT_FALSE(next.ok()) << "unexpectedly moved to " << StateName(*next);
        EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
        const std::string msg(next.status().message());
        EXPECT_THAT(msg, HasSubstr(ActionName(a)));
        EXPECT_THAT(msg, HasSubstr("state " + StateName(s)));
        for (ApplicationAction allowed : ExpectedAllowed(s)) {
          EXPECT_THAT(msg, HasSubstr(ActionName(allowed)));
        }
        ++refused;
      }
    }
  }
  // 18 documented changes + 3 time-limit actions in 4 states + 4
  // state-keeping actions in each of 11 states. RATE is refused everywhere
  // here: a rating is not a step of the machine, its rules are
  // application_ratings.h (APPROVED/DENIED, once). So is JOINT_STEP: a
  // 多地联办 application's state is derived from its tasks
  // (joint_procedure.h), never moved by the machine.
  EXPECT_EQ(legal, 18 + 3 * 4 + 4 * 11);
  EXPECT_EQ(refused, 11 * 19 - legal);
}

TEST(ApplicationStateMachineTest, UnspecifiedActionIsRefusedEverywhere) {
  for (ApplicationState s : AllStates()) {
    SCOPED_TRACE(StateName(s));
    absl::StatusOr<ApplicationState> next = NextState(s, v1::APPLICATION_ACTION_UNSPECIFIED);
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(ApplicationStateMachineTest, RefusalNamesCurrentStateAndListsAllowedActions) {
  absl::StatusOr<ApplicationState> next = NextState(R, v1::APPLICATION_ACTION_APPROVE);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(next.status().message());
  EXPECT_THAT(msg, HasSubstr("APPROVE"));
  EXPECT_THAT(msg, HasSubstr("RECEIVED"));
  EXPECT_THAT(msg, HasSubstr("WITHDRAW, ACCEPT, REJECT, REQUEST_MATERIALS"));
  // The refused action is not offered as an alternative.
  EXPECT_THAT(msg.substr(msg.find("allowed")), Not(HasSubstr("APPROVE")));
}

TEST(ApplicationStateMachineTest, TerminalStatesAllowNothing) {
  for (ApplicationState s : AllStates()) {
    SCOPED_TRACE(StateName(s));
    EXPECT_EQ(IsTerminal(s), Terminal().count(s) > 0);
  }
  for (ApplicationState s : Terminal()) {
    SCOPED_TRACE(StateName(s));
    EXPECT_TRUE(AllowedActions(s).empty());
    for (ApplicationAction a : AllActions()) {
      if (KeepsState(a)) continue;
      absl::StatusOr<ApplicationState> next = NextState(s, a);
      ASSERT_FALSE(next.ok()) << ActionName(a);
      EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(std::string(next.status().message()), HasSubstr("final state"));
    }
  }
}

TEST(ApplicationStateMachineTest, WithdrawIsLegalFromEveryNonTerminalState) {
  for (ApplicationState s : {R, PS, AC, IR, WM}) {
    SCOPED_TRACE(StateName(s));
    absl::StatusOr<ApplicationState> next = NextState(s, v1::APPLICATION_ACTION_WITHDRAW);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, WD);
  }
}

TEST(ApplicationStateMachineTest, EscalateDeliverResolveKeepTheState) {
  for (ApplicationState s : AllStates()) {
    for (ApplicationAction a : {v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_ACTION_DELIVER,
                                v1::APPLICATION_ACTION_RESOLVE_ESCALATION}) {
      SCOPED_TRACE(StateName(s) + " x " + ActionName(a));
      absl::StatusOr<ApplicationState> next = NextState(s, a);
      ASSERT_TRUE(next.ok()) << next.status();
      EXPECT_EQ(*next, s);
    }
  }
}

TEST(ApplicationStateMachineTest, SubmitIsNeverATransition) {
  for (ApplicationState s : AllStates()) {
    EXPECT_FALSE(NextState(s, v1::APPLICATION_ACTION_SUBMIT).ok()) << StateName(s);
  }
}

TEST(ApplicationStateMachineTest, AllowedActionsMatchTheTableInEnumOrder) {
  using A = ApplicationAction;
  constexpr A SP = v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE;
  constexpr A EP = v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE;
  constexpr A EX = v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT;
  const std::map<ApplicationState, std::vector<A>> want = {
      {R,
       {v1::APPLICATION_ACTION_WITHDRAW, v1::APPLICATION_ACTION_ACCEPT,
        v1::APPLICATION_ACTION_REJECT, v1::APPLICATION_ACTION_REQUEST_MATERIALS}},
      {PS,
       {v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_ACTION_WITHDRAW,
        v1::APPLICATION_ACTION_REJECT, v1::APPLICATION_ACTION_TERMINATE, SP, EP, EX}},
      {AC, {v1::APPLICATION_ACTION_WITHDRAW, v1::APPLICATION_ACTION_START_REVIEW, SP, EP, EX}},
      {IR,
       {v1::APPLICATION_ACTION_WITHDRAW, v1::APPLICATION_ACTION_REQUEST_MATERIALS,
        v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_ACTION_DENY, SP, EP, EX}},
      {WM,
       {v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_ACTION_WITHDRAW,
        v1::APPLICATION_ACTION_DENY, v1::APPLICATION_ACTION_TERMINATE, SP, EP, EX}},
  };
  for (ApplicationState s : AllStates()) {
    SCOPED_TRACE(StateName(s));
    auto it = want.find(s);
    const std::vector<A> expected = it == want.end() ? std::vector<A>{} : it->second;
    EXPECT_EQ(AllowedActions(s), expected);
    EXPECT_EQ(AllowedActions(s), ExpectedAllowed(s));
    for (A a : AllowedActions(s)) EXPECT_TRUE(NextState(s, a).ok()) << ActionName(a);
  }
}

TEST(ApplicationStateMachineTest, SupplementOutcome) {
  // 容缺: supplementing some but not all materials keeps PENDING_SUPPLEMENT.
  EXPECT_EQ(SupplementOutcome(PS, /*still_missing=*/true), PS);
  EXPECT_EQ(SupplementOutcome(PS, /*still_missing=*/false), AC);
  // 补正: a supplement answers the officer's request and goes back to review.
  EXPECT_EQ(SupplementOutcome(WM, /*still_missing=*/false), IR);
  EXPECT_EQ(SupplementOutcome(WM, /*still_missing=*/true), IR);
  // Where SUPPLEMENT is not legal, the state does not move.
  for (ApplicationState s : {R, AC, IR, AP, DN, NA, WD, TM}) {
    EXPECT_EQ(SupplementOutcome(s, false), s) << StateName(s);
    EXPECT_EQ(SupplementOutcome(s, true), s) << StateName(s);
  }
}

TEST(ApplicationStateMachineTest, IsOfficerDecision) {
  const std::set<ApplicationAction> officer = {
      v1::APPLICATION_ACTION_ACCEPT,       v1::APPLICATION_ACTION_REJECT,
      v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_ACTION_REQUEST_MATERIALS,
      v1::APPLICATION_ACTION_APPROVE,      v1::APPLICATION_ACTION_DENY,
      v1::APPLICATION_ACTION_TERMINATE,
      v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE,
      v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE,
      v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT};
  EXPECT_FALSE(IsOfficerDecision(v1::APPLICATION_ACTION_UNSPECIFIED));
  for (ApplicationAction a : AllActions()) {
    EXPECT_EQ(IsOfficerDecision(a), officer.count(a) > 0) << ActionName(a);
  }
}

TEST(ApplicationStateMachineTest, NamesDropTheEnumPrefix) {
  EXPECT_EQ(StateName(R), "RECEIVED");
  EXPECT_EQ(StateName(WM), "WAITING_FOR_MATERIALS");
  EXPECT_EQ(ActionName(v1::APPLICATION_ACTION_REQUEST_MATERIALS), "REQUEST_MATERIALS");
  EXPECT_EQ(ActionName(v1::APPLICATION_ACTION_RESOLVE_ESCALATION), "RESOLVE_ESCALATION");
}

// A value from a newer peer or a damaged row: named by number, never thrown
// (issue 10: StateName threw std::out_of_range and aborted the node).
TEST(ApplicationStateMachineTest, UnknownValuesAreNamedAndAllowNothing) {
  const auto bad_state = static_cast<ApplicationState>(99);
  const auto bad_action = static_cast<ApplicationAction>(99);
  EXPECT_EQ(StateName(bad_state), "UNKNOWN(99)");
  EXPECT_EQ(ActionName(bad_action), "UNKNOWN(99)");
  EXPECT_EQ(StateName(static_cast<ApplicationState>(-7)), "UNKNOWN(-7)");
  EXPECT_TRUE(AllowedActions(bad_state).empty());
  for (ApplicationAction a : AllActions()) {
    absl::StatusOr<ApplicationState> next = NextState(bad_state, a);
    if (KeepsState(a)) continue;  // changes nothing, in every state
    ASSERT_FALSE(next.ok()) << ActionName(a);
    EXPECT_THAT(std::string(next.status().message()), HasSubstr("UNKNOWN(99)"));
  }
  absl::StatusOr<ApplicationState> next = NextState(R, bad_action);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SupplementOutcome(bad_state, false), bad_state);
}

}  // namespace
}  // namespace tongban::node
