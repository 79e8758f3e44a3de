// NodeAdminService's authorization table (only operators of this province
// run the node) and the action its discards record (it changes nothing).
// The RPCs themselves run against real processes in
// tests/federation/dead_letter_test.cc.
#include "service/node_admin_service.h"

#include <string>

#include "gtest/gtest.h"
#include "peer_identity.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

constexpr char kOwn[] = "310000";

absl::StatusCode Decision(const std::string& spiffe_id, const std::string& method) {
  const AuthzPolicy policy = NodeAdminServiceImpl::Policy(kOwn);
  absl::StatusOr<Principal> principal = ParseSpiffeId(spiffe_id);
  EXPECT_TRUE(principal.ok()) << spiffe_id << ": " << principal.status();
  if (!principal.ok()) return absl::StatusCode::kUnknown;
  return policy.Decide(*principal, "", "", false, false, "/tongban.v1.NodeAdminService/" + method)
      .status()
      .code();
}

TEST(NodeAdminPolicyTest, OnlyThisProvincesOperatorsRunTheNode) {
  for (const char* method :
       {"ListOutbox", "GetOutboxEntry", "ReplayDeadLetter", "DiscardDeadLetter"}) {
    EXPECT_EQ(Decision("spiffe://tongban/province/310000/operator/operator-01", method),
              absl::StatusCode::kOk)
        << method;
    for (const char* refused : {"spiffe://tongban/province/310000/officer/officer-01",
                                "spiffe://tongban/province/430000/operator/operator-01",
                                "spiffe://tongban/province/310000", "spiffe://tongban/gateway"}) {
      EXPECT_EQ(Decision(refused, method), absl::StatusCode::kPermissionDenied)
          << refused << " " << method;
    }
  }
  // Deny by default: a method not in the table.
  EXPECT_EQ(Decision("spiffe://tongban/province/310000/operator/operator-01", "DropDatabase"),
            absl::StatusCode::kPermissionDenied);
}

TEST(NodeAdminPolicyTest, ADiscardChangesNoState) {
  for (v1::ApplicationState state :
       {v1::APPLICATION_STATE_RECEIVED, v1::APPLICATION_STATE_IN_REVIEW,
        v1::APPLICATION_STATE_APPROVED, v1::APPLICATION_STATE_WITHDRAWN}) {
    absl::StatusOr<v1::ApplicationState> next =
        NextState(state, v1::APPLICATION_ACTION_DISCARD_DELIVERY);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, state);
  }
  EXPECT_EQ(ActionName(v1::APPLICATION_ACTION_DISCARD_DELIVERY), "DISCARD_DELIVERY");
}

}  // namespace
}  // namespace tongban::node
