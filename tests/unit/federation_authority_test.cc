// The authority table of federation messages (docs/protocol.md): every
// (author role × message × action) is allowed or refused as documented.
#include "service/federation_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;
using Role = FederationRole;

TEST(FederationAuthorityTest, OnlyTheAcceptingProvinceDeliversAFiling) {
  auto ok = FindAuthority("DeliverApplication", v1::APPLICATION_ACTION_UNSPECIFIED, Role::kAccepting);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->effect, AuthorityEffect::kStoreFiling);
  auto denied =
      FindAuthority("DeliverApplication", v1::APPLICATION_ACTION_UNSPECIFIED, Role::kHandling);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.status().message(), HasSubstr("filings-from-accepting-province"));
}

// The first case of issue 10: the accepting province sent APPROVE.
TEST(FederationAuthorityTest, OfficerDecisionsComeOnlyFromTheHandlingProvince) {
  for (v1::ApplicationAction a :
       {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_REJECT,
        v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_ACTION_REQUEST_MATERIALS,
        v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_ACTION_DENY,
        v1::APPLICATION_ACTION_TERMINATE, v1::APPLICATION_ACTION_DELIVER}) {
    SCOPED_TRACE(ActionName(a));
    auto from_handling = FindAuthority("DeliverEvent", a, Role::kHandling);
    ASSERT_TRUE(from_handling.ok()) << from_handling.status();
    EXPECT_EQ((*from_handling)->effect, AuthorityEffect::kMirrorHandlingState);
    auto from_accepting = FindAuthority("DeliverEvent", a, Role::kAccepting);
    EXPECT_EQ(from_accepting.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(from_accepting.status().message(), HasSubstr("decisions-by-handling-province"));
    EXPECT_THAT(from_accepting.status().message(), HasSubstr(ActionName(a)));
  }
}

// Issue 12: the clocks are the handling province's; the accepting province
// can neither pause them for a special procedure nor extend them.
TEST(FederationAuthorityTest, TimeLimitActionsComeOnlyFromTheHandlingProvince) {
  for (v1::ApplicationAction a :
       {v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE, v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE,
        v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT}) {
    SCOPED_TRACE(ActionName(a));
    auto from_handling = FindAuthority("DeliverEvent", a, Role::kHandling);
    ASSERT_TRUE(from_handling.ok()) << from_handling.status();
    EXPECT_EQ((*from_handling)->effect, AuthorityEffect::kMirrorHandlingState);
    EXPECT_EQ((*from_handling)->rule, "decisions-by-handling-province");
    auto from_accepting = FindAuthority("DeliverEvent", a, Role::kAccepting);
    EXPECT_EQ(from_accepting.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(from_accepting.status().message(), HasSubstr("decisions-by-handling-province"));
  }
}

TEST(FederationAuthorityTest, ApplicantActionsAreRecheckedAtTheHandlingNode) {
  for (v1::ApplicationAction a : {v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_ACTION_WITHDRAW}) {
    auto from_accepting = FindAuthority("DeliverEvent", a, Role::kAccepting);
    ASSERT_TRUE(from_accepting.ok());
    EXPECT_EQ((*from_accepting)->effect, AuthorityEffect::kApplyApplicantAction);
    auto from_handling = FindAuthority("DeliverEvent", a, Role::kHandling);
    ASSERT_TRUE(from_handling.ok());
    EXPECT_EQ((*from_handling)->effect, AuthorityEffect::kMirrorHandlingState);
  }
}

TEST(FederationAuthorityTest, EitherPartyEscalates) {
  for (v1::ApplicationAction a :
       {v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_ACTION_RESOLVE_ESCALATION}) {
    for (Role r : {Role::kAccepting, Role::kHandling}) {
      auto rule = FindAuthority("DeliverEvent", a, r);
      ASSERT_TRUE(rule.ok());
      EXPECT_EQ((*rule)->effect, AuthorityEffect::kFlagEscalation);
    }
  }
}

// The second case of issue 10: unknown enum values are refused, never stored,
// and naming them does not throw.
TEST(FederationAuthorityTest, UnknownAndNonFollowUpActionsAreInvalid) {
  for (int a : {0, 1, 99, -1, 1 << 20}) {
    auto rule = FindAuthority("DeliverEvent", static_cast<v1::ApplicationAction>(a), Role::kAccepting);
    EXPECT_EQ(rule.status().code(), absl::StatusCode::kInvalidArgument) << a;
  }
  EXPECT_EQ(ActionName(static_cast<v1::ApplicationAction>(99)), "UNKNOWN(99)");
  EXPECT_EQ(StateName(static_cast<v1::ApplicationState>(99)), "UNKNOWN(99)");
}

// Every known follow-up action has a row or is refused by name: none falls
// through to an implicit default.
TEST(FederationAuthorityTest, EveryActionIsDecidedByTheTable) {
  for (int a = v1::ApplicationAction_MIN; a <= v1::ApplicationAction_MAX; ++a) {
    if (!v1::ApplicationAction_IsValid(a)) continue;
    for (Role r : {Role::kAccepting, Role::kHandling}) {
      auto rule = FindAuthority("DeliverEvent", static_cast<v1::ApplicationAction>(a), r);
      if (rule.ok()) {
        EXPECT_EQ((*rule)->author, r);
      } else {
        EXPECT_TRUE(absl::IsPermissionDenied(rule.status()) ||
                    absl::IsInvalidArgument(rule.status()))
            << rule.status();
      }
    }
  }
}

}  // namespace
}  // namespace tongban::node
