// The node's authorization matrix (DESIGN.md §3), decided from principals
// parsed from SPIFFE ids exactly as the certificate check produces them.
#include "service/authz_policy.h"
#include "service/licence_service.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "peer_identity.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/catalog.pb.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCitizen[] = "11010519491231002X";

Principal Parse(const std::string& spiffe_id) {
  absl::StatusOr<Principal> p = ParseSpiffeId(spiffe_id);
  EXPECT_TRUE(p.ok()) << spiffe_id << ": " << p.status();
  return p.ok() ? *p : Principal{};
}

Principal Gateway() { return Parse("spiffe://tongban/gateway"); }
Principal Node(const std::string& province) {
  return Parse("spiffe://tongban/province/" + province);
}
Principal Officer(const std::string& province, const std::string& id = "zhang-wei") {
  return Parse("spiffe://tongban/province/" + province + "/officer/" + id);
}
Principal Operator(const std::string& province, const std::string& id = "operator-01") {
  return Parse("spiffe://tongban/province/" + province + "/operator/" + id);
}

// Full method names of one tongban.v1 service, read from the proto descriptors
// so that a new RPC shows up here without editing the test.
std::vector<std::string> Methods(const google::protobuf::FileDescriptor* file,
                                 const std::string& service) {
  const google::protobuf::ServiceDescriptor* s = file->FindServiceByName(service);
  EXPECT_NE(s, nullptr) << service;
  std::vector<std::string> out;
  if (s == nullptr) return out;
  for (int i = 0; i < s->method_count(); ++i) {
    out.push_back("/" + s->full_name() + "/" + s->method(i)->name());
  }
  return out;
}

std::vector<std::string> CatalogMethods() {
  return Methods(v1::GetItemRequest::descriptor()->file(), "CatalogService");
}
std::vector<std::string> ApplicationMethods() {
  return Methods(v1::SubmitApplicationRequest::descriptor()->file(), "ApplicationService");
}
std::vector<std::string> FederationMethods() {
  return Methods(v1::DeliverApplicationRequest::descriptor()->file(), "FederationService");
}

std::string Catalog(const std::string& m) { return "/tongban.v1.CatalogService/" + m; }
std::string App(const std::string& m) { return "/tongban.v1.ApplicationService/" + m; }
std::string Fed(const std::string& m) { return "/tongban.v1.FederationService/" + m; }

// The rule each RPC is under, written out from the design.
std::string ExpectedRule(const std::string& method) {
  for (const char* m :
       {"ListItems", "SearchItems", "GetItem", "GetGuide", "ListAlliances", "GetCatalogInfo"}) {
    if (method == Catalog(m)) return "own-officer-or-gateway";
  }
  // 好差评 statistics: the gateway fans out to every node.
  if (method == App("GetRatingStats")) return "own-officer-or-gateway";
  if (method == App("ListRectifications")) return "own-officer-or-operator";
  // A watch follows the rules of the read it streams.
  if (method == App("GetApplication") || method == App("WatchApplication")) {
    return "own-officer-citizen-or-relay";
  }
  for (const char* m :
       {"PrecheckApplication", "SubmitApplication", "ListApplicationsByApplicant",
        "SupplementMaterials", "WithdrawApplication", "EscalateApplication",
        "RateApplication"}) {
    if (method == App(m)) return "own-officer-or-citizen-via-gateway";
  }
  for (const char* m : {"DeliverApplication", "DeliverEvent", "FetchGuide", "CheckLicence",
                        "FetchLicencePreview", "ReleaseLicence"}) {
    if (method == Fed(m)) return "gateway-relay-only";
  }
  return "own-officer";  // AmendGuide, AbolishItem, ListApplicationsByState,
                         // DecideApplication, ListEscalations, ResolveEscalation,
                         // RecordRectificationFollowUp, CloseRectification
}

class AuthzPolicyTest : public ::testing::Test {
 protected:
  absl::StatusOr<Caller> Call(const Principal& p, const std::string& method) const {
    return policy_.Decide(p, "", "", false, false, method);
  }
  absl::StatusOr<Caller> CallAsCitizen(const Principal& p, const std::string& method,
                                       const std::string& citizen = kCitizen) const {
    return policy_.Decide(p, citizen, "", true, false, method);
  }
  absl::StatusOr<Caller> CallWithOrigin(const Principal& p, const std::string& method,
                                        const std::string& origin = "310000") const {
    return policy_.Decide(p, "", origin, false, true, method);
  }

  const AuthzPolicy policy_ = AuthzPolicy::ForNode("440000");
};

void ExpectDenied(const absl::StatusOr<Caller>& r, const std::string& in_message) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(in_message));
}

TEST_F(AuthzPolicyTest, ServicesHaveTheExpectedNumberOfMethods) {
  // A new RPC needs a rule; this makes the author look at this file.
  EXPECT_EQ(CatalogMethods().size(), 8u);
  EXPECT_EQ(ApplicationMethods().size(), 18u);
  EXPECT_EQ(FederationMethods().size(), 6u);
  EXPECT_EQ(policy_.own_province(), "440000");
}

TEST_F(AuthzPolicyTest, AnonymousIsUnauthenticated) {
  for (const std::string& m : CatalogMethods()) {
    absl::StatusOr<Caller> r = Call(Principal{}, m);
    ASSERT_FALSE(r.ok()) << m;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << m;
  }
  // Even with stamps, and even for a method nobody may call.
  absl::StatusOr<Caller> r = CallAsCitizen(Principal{}, App("SubmitApplication"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Call(Principal{}, "/x.Y/Z").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthzPolicyTest, UnrecognizedIsUnauthenticatedAndShowsWhatWasFound) {
  Principal p;
  p.kind = Principal::Kind::kUnrecognized;
  p.spiffe_id = "spiffe://other.org/province/440000";
  absl::StatusOr<Caller> r = Call(p, Catalog("GetItem"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("spiffe://other.org/province/440000"));

  Principal empty;
  empty.kind = Principal::Kind::kUnrecognized;
  EXPECT_EQ(Call(empty, App("GetApplication")).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthzPolicyTest, OwnOfficerMayCallEveryCatalogAndApplicationMethod) {
  std::vector<std::string> methods = CatalogMethods();
  for (const std::string& m : ApplicationMethods()) methods.push_back(m);
  ASSERT_EQ(methods.size(), 26u);
  for (const std::string& m : methods) {
    absl::StatusOr<Caller> r = Call(Officer("440000"), m);
    ASSERT_TRUE(r.ok()) << m << ": " << r.status();
    EXPECT_TRUE(r->is_officer());
    EXPECT_FALSE(r->is_citizen());
    EXPECT_EQ(r->principal.officer_id, "zhang-wei");
    EXPECT_EQ(r->actor(), "spiffe://tongban/province/440000/officer/zhang-wei");
  }
}

TEST_F(AuthzPolicyTest, OfficerOfAnotherProvinceIsDeniedNamingTheRule) {
  std::vector<std::string> methods = CatalogMethods();
  for (const std::string& m : ApplicationMethods()) methods.push_back(m);
  for (const std::string& m : FederationMethods()) methods.push_back(m);
  for (const std::string& m : methods) {
    SCOPED_TRACE(m);
    absl::StatusOr<Caller> r = Call(Officer("310000"), m);
    ExpectDenied(r, "rule " + ExpectedRule(m) + ":");
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(m));
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("spiffe://tongban/province/310000/officer/zhang-wei"));
  }
}

TEST_F(AuthzPolicyTest, NodeOnCatalogReadsIsSentToTheGateway) {
  for (const char* m :
       {"ListItems", "SearchItems", "GetItem", "GetGuide", "ListAlliances", "GetCatalogInfo"}) {
    SCOPED_TRACE(m);
    ExpectDenied(Call(Node("310000"), Catalog(m)), "gateway");
    ExpectDenied(Call(Node("440000"), Catalog(m)), "rule own-officer-or-gateway:");
  }
}

TEST_F(AuthzPolicyTest, NodeIsDeniedOnEveryMethod) {
  std::vector<std::string> methods = CatalogMethods();
  for (const std::string& m : ApplicationMethods()) methods.push_back(m);
  for (const std::string& m : FederationMethods()) methods.push_back(m);
  for (const std::string& m : methods) {
    SCOPED_TRACE(m);
    ExpectDenied(Call(Node("310000"), m), "rule " + ExpectedRule(m) + ":");
  }
}

// An operator runs the node; it is not an officer, so every method refuses
// it, own province included — but the work list of open 好差评
// rectifications, which the province's own operators may read.
TEST_F(AuthzPolicyTest, OperatorIsDeniedOnEveryMethod) {
  std::vector<std::string> methods = CatalogMethods();
  for (const std::string& m : ApplicationMethods()) methods.push_back(m);
  for (const std::string& m : FederationMethods()) methods.push_back(m);
  for (const std::string& m : methods) {
    SCOPED_TRACE(m);
    if (m == App("ListRectifications")) {
      EXPECT_TRUE(Call(Operator("440000"), m).ok());
      ExpectDenied(Call(Operator("310000"), m), "rule own-officer-or-operator:");
      continue;
    }
    for (const Principal& p : {Operator("440000"), Operator("310000")}) {
      ExpectDenied(Call(p, m), "rule " + ExpectedRule(m) + ":");
      ExpectDenied(Call(p, m), "caller is operator spiffe://tongban/province/");
    }
  }
}

TEST_F(AuthzPolicyTest, OperatorMayNotStamp) {
  ExpectDenied(CallWithOrigin(Operator("440000"), Fed("DeliverEvent"), "440000"),
               "rule gateway-stamps-only");
  ExpectDenied(CallAsCitizen(Operator("440000"), App("SubmitApplication")),
               "rule gateway-stamps-only");
}

TEST_F(AuthzPolicyTest, OwnOperatorRuleAdmitsOnlyThisProvincesOperators) {
  const std::string method = "/tongban.v1.NodeAdminService/ListDeadLetters";
  const AuthzPolicy admin("440000", {{method, Rule::kOwnOperator}});
  absl::StatusOr<Caller> own = admin.Decide(Operator("440000", "li-01"), "", "", false, false, method);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE(own->is_operator());
  EXPECT_FALSE(own->is_officer());
  EXPECT_EQ(own->principal.operator_id, "li-01");
  EXPECT_EQ(own->actor(), "spiffe://tongban/province/440000/operator/li-01");
  for (const Principal& p : {Operator("310000"), Officer("440000"), Gateway(), Node("440000")}) {
    SCOPED_TRACE(p.spiffe_id);
    absl::StatusOr<Caller> r = admin.Decide(p, "", "", false, false, method);
    ExpectDenied(r, "rule own-operator: " + method + " is for operators of province 440000");
  }
  ExpectDenied(admin.Decide(Gateway(), "", "310000", false, true, method), "rule own-operator:");
}

// 电子证照: the register is the issuing province's officers' alone; the
// national type list and the disclosure log (audit) are also its operators';
// 免证办 (preview, confirm) is also a stamped citizen's through the gateway.
TEST_F(AuthzPolicyTest, LicenceRegisterIsForThisProvincesOfficersAndTheLogAlsoForItsOperators) {
  const AuthzPolicy licences = LicenceServiceImpl::Policy("440000");
  const std::vector<std::string> methods =
      Methods(v1::LicenceType::descriptor()->file(), "LicenceService");
  ASSERT_EQ(methods.size(), 11u);
  for (const std::string& m : methods) {
    SCOPED_TRACE(m);
    EXPECT_TRUE(licences.Decide(Officer("440000"), "", "", false, false, m).ok());
    const bool audit = m == "/tongban.v1.LicenceService/ListLicenceDisclosures" ||
                       m == "/tongban.v1.LicenceService/ListLicenceTypes";
    EXPECT_EQ(licences.Decide(Operator("440000"), "", "", false, false, m).ok(), audit);
    for (const Principal& p : {Officer("310000"), Operator("310000"), Gateway(), Node("440000")}) {
      ExpectDenied(licences.Decide(p, "", "", false, false, m), "rule own-officer");
    }
    // 免证办 is also the citizen's own (through the gateway, stamped); the
    // register and the log are not.
    const bool citizen = m == "/tongban.v1.LicenceService/PreviewLicence" ||
                         m == "/tongban.v1.LicenceService/ConfirmLicence" ||
                         m == "/tongban.v1.LicenceService/ListHolderDisclosures";
    absl::StatusOr<Caller> stamped =
        licences.Decide(Gateway(), "430102199001011238", "", true, false, m);
    EXPECT_EQ(stamped.ok(), citizen) << stamped.status();
  }
}

TEST_F(AuthzPolicyTest, GatewayReadsTheCatalogWithoutStamps) {
  for (const char* m :
       {"ListItems", "SearchItems", "GetItem", "GetGuide", "ListAlliances", "GetCatalogInfo"}) {
    absl::StatusOr<Caller> r = Call(Gateway(), Catalog(m));
    ASSERT_TRUE(r.ok()) << m << ": " << r.status();
    EXPECT_EQ(r->actor(), "spiffe://tongban/gateway");
  }
  ExpectDenied(Call(Gateway(), Catalog("AmendGuide")), "rule own-officer:");
  ExpectDenied(Call(Gateway(), Catalog("AbolishItem")), "rule own-officer:");
}

TEST_F(AuthzPolicyTest, GatewayWithoutCitizenStampIsDeniedOnCitizenMethods) {
  absl::StatusOr<Caller> r = Call(Gateway(), App("SubmitApplication"));
  ExpectDenied(r, "rule own-officer-or-citizen-via-gateway:");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(kCitizenIdMetadata)));
}

TEST_F(AuthzPolicyTest, GatewayWithCitizenStampActsForTheCitizen) {
  for (const char* m :
       {"PrecheckApplication", "SubmitApplication", "GetApplication", "ListApplicationsByApplicant",
        "SupplementMaterials", "WithdrawApplication", "EscalateApplication"}) {
    SCOPED_TRACE(m);
    absl::StatusOr<Caller> r = CallAsCitizen(Gateway(), App(m));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->is_citizen());
    EXPECT_FALSE(r->is_officer());
    EXPECT_EQ(r->citizen_id, kCitizen);
    EXPECT_EQ(r->actor(), std::string("citizen:") + kCitizen);
    EXPECT_THAT(r->origin_province, IsEmpty());
  }
}

TEST_F(AuthzPolicyTest, GatewayRelaysApplicationReadsOnlyForAStampedProvince) {
  absl::StatusOr<Caller> r = CallWithOrigin(Gateway(), App("GetApplication"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->origin_province.empty());
  ExpectDenied(Call(Gateway(), App("GetApplication")), "rule own-officer-citizen-or-relay:");
  // The relay stamp opens only reads, never changes.
  for (const char* m : {"SubmitApplication", "SupplementMaterials", "WithdrawApplication",
                        "DecideApplication"}) {
    SCOPED_TRACE(m);
    EXPECT_FALSE(CallWithOrigin(Gateway(), App(m)).ok());
  }
}

TEST_F(AuthzPolicyTest, CitizenViaGatewayMayNotDoOfficersWork) {
  for (const char* m :
       {"ListApplicationsByState", "DecideApplication", "ListEscalations", "ResolveEscalation",
        "ListOverdueApplications"}) {
    ExpectDenied(CallAsCitizen(Gateway(), App(m)), "rule own-officer:");
  }
  ExpectDenied(CallAsCitizen(Gateway(), Catalog("AmendGuide")), "rule own-officer:");
}

// Issue 12: an extension needs an approving officer of this province, named
// in the config and identified by the verified certificate's officer id.
TEST_F(AuthzPolicyTest, OnlyListedOfficersOfThisProvinceApproveExtensions) {
  AuthzPolicy policy = AuthzPolicy::ForNode("440000");
  auto caller = [](const Principal& p) {
    Caller c;
    c.principal = p;
    return c;
  };
  absl::Status none = policy.CheckExtensionApprover(caller(Officer("440000", "chief-01")));
  EXPECT_EQ(none.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(none.message()), HasSubstr("extension-approvers-only"));
  EXPECT_THAT(std::string(none.message()), HasSubstr("nobody may extend"));
  policy.set_extension_approvers({"chief-01"});
  EXPECT_TRUE(policy.CheckExtensionApprover(caller(Officer("440000", "chief-01"))).ok());
  EXPECT_EQ(policy.CheckExtensionApprover(caller(Officer("440000", "zhang-wei"))).code(),
            absl::StatusCode::kPermissionDenied);
  // The same id in another province, an operator or the node itself: no.
  EXPECT_FALSE(policy.CheckExtensionApprover(caller(Officer("310000", "chief-01"))).ok());
  EXPECT_FALSE(policy.CheckExtensionApprover(caller(Operator("440000", "chief-01"))).ok());
  EXPECT_FALSE(policy.CheckExtensionApprover(caller(Node("440000"))).ok());
}

TEST_F(AuthzPolicyTest, OnlyTheGatewayMayStamp) {
  for (const Principal& p :
       {Officer("440000"), Officer("310000"), Node("440000"), Node("310000")}) {
    SCOPED_TRACE(p.spiffe_id);
    absl::StatusOr<Caller> r = CallAsCitizen(p, App("SubmitApplication"));
    ExpectDenied(r, "gateway-stamps-only");
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(kCitizenIdMetadata)));

    r = CallWithOrigin(p, Fed("DeliverApplication"));
    ExpectDenied(r, "gateway-stamps-only");
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(kOriginProvinceMetadata)));

    // Presence is what counts: an empty value is still a stamp.
    ExpectDenied(policy_.Decide(p, "", "", true, false, Catalog("GetItem")), "gateway-stamps-only");
    ExpectDenied(policy_.Decide(p, "", "", false, true, Catalog("GetItem")), "gateway-stamps-only");
  }
}

TEST_F(AuthzPolicyTest, MalformedStampsFromTheGatewayAreInvalidArgument) {
  for (const std::string& bad : {std::string(""), std::string("110105194912310021"),
                                 std::string("11010519491231002"), std::string("张三")}) {
    absl::StatusOr<Caller> r = CallAsCitizen(Gateway(), App("SubmitApplication"), bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(kCitizenIdMetadata)));
  }
  for (const std::string& bad : {std::string(""), std::string("440001"), std::string("gd")}) {
    absl::StatusOr<Caller> r = CallWithOrigin(Gateway(), Fed("DeliverApplication"), bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(kOriginProvinceMetadata)));
  }
}

TEST_F(AuthzPolicyTest, FederationMethodsAreForTheGatewayRelayingWithAnOrigin) {
  for (const std::string& m : FederationMethods()) {
    SCOPED_TRACE(m);
    absl::StatusOr<Caller> r = CallWithOrigin(Gateway(), m, "310000");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->origin_province, "310000");
    EXPECT_FALSE(r->is_citizen());

    absl::StatusOr<Caller> no_origin = Call(Gateway(), m);
    ExpectDenied(no_origin, "rule gateway-relay-only:");
    EXPECT_THAT(std::string(no_origin.status().message()),
                HasSubstr(std::string(kOriginProvinceMetadata)));

    ExpectDenied(CallAsCitizen(Gateway(), m), "rule gateway-relay-only:");
    ExpectDenied(Call(Node("310000"), m), "rule gateway-relay-only:");
    ExpectDenied(Call(Officer("440000"), m), "rule gateway-relay-only:");
    ExpectDenied(Call(Officer("310000"), m), "rule gateway-relay-only:");
  }
}

TEST_F(AuthzPolicyTest, UnknownMethodIsDeniedByDefault) {
  for (const std::string& m :
       {App("DeleteApplication"), Catalog("getItem"), Catalog("GetItem/"),
        std::string("/tongban.v1.CatalogService"), std::string("/grpc.health.v1.Health/Check"),
        std::string("/tongban.v2.CatalogService/GetItem"), std::string("")}) {
    SCOPED_TRACE(m);
    for (const Principal& p : {Officer("440000"), Gateway()}) {
      ExpectDenied(Call(p, m), "deny-by-default");
    }
    ExpectDenied(CallWithOrigin(Gateway(), m), "deny-by-default");
  }
}

TEST_F(AuthzPolicyTest, PolicyIsPerProvince) {
  const AuthzPolicy shanghai = AuthzPolicy::ForNode("310000");
  EXPECT_TRUE(
      shanghai.Decide(Officer("310000"), "", "", false, false, App("DecideApplication")).ok());
  absl::StatusOr<Caller> r =
      shanghai.Decide(Officer("440000"), "", "", false, false, App("DecideApplication"));
  ExpectDenied(r, "officers of province 310000");
}

TEST_F(AuthzPolicyTest, RuleNames) {
  EXPECT_EQ(RuleName(Rule::kOwnOfficerOrGateway), "own-officer-or-gateway");
  EXPECT_EQ(RuleName(Rule::kOwnOfficer), "own-officer");
  EXPECT_EQ(RuleName(Rule::kOwnOfficerOrCitizen), "own-officer-or-citizen-via-gateway");
  EXPECT_EQ(RuleName(Rule::kGatewayRelay), "gateway-relay-only");
  EXPECT_EQ(RuleName(Rule::kOwnOfficerCitizenOrRelay), "own-officer-citizen-or-relay");
  EXPECT_EQ(RuleName(Rule::kOwnOperator), "own-operator");
}

TEST_F(AuthzPolicyTest, CustomTableIsDenyByDefaultToo) {
  AuthzPolicy only_get("440000",
                       {{"/tongban.v1.CatalogService/GetItem", Rule::kOwnOfficerOrGateway}});
  EXPECT_TRUE(only_get.Decide(Gateway(), "", "", false, false, Catalog("GetItem")).ok());
  ExpectDenied(only_get.Decide(Gateway(), "", "", false, false, Catalog("ListItems")),
               "deny-by-default");
  ExpectDenied(only_get.Decide(Officer("440000"), "", "", false, false, App("DecideApplication")),
               "deny-by-default");
}

}  // namespace
}  // namespace tongban::node
