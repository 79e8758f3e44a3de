// Identities from SPIFFE ids, and from a verified peer's certificate SANs.
#include "peer_identity.h"
#include "tls_credentials.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::HasSubstr;

TEST(ParseSpiffeIdTest, Gateway) {
  absl::StatusOr<Principal> p = ParseSpiffeId("spiffe://tongban/gateway");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, Principal::Kind::kGateway);
  EXPECT_EQ(p->spiffe_id, "spiffe://tongban/gateway");
  EXPECT_EQ(p->province, "");
  EXPECT_EQ(p->officer_id, "");
}

TEST(ParseSpiffeIdTest, Node) {
  absl::StatusOr<Principal> p = ParseSpiffeId("spiffe://tongban/province/440000");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, Principal::Kind::kNode);
  EXPECT_EQ(p->province, "440000");
  EXPECT_EQ(p->officer_id, "");
  EXPECT_EQ(p->spiffe_id, "spiffe://tongban/province/440000");
}

TEST(ParseSpiffeIdTest, Officer) {
  absl::StatusOr<Principal> p = ParseSpiffeId("spiffe://tongban/province/650000/officer/li-na-07");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, Principal::Kind::kOfficer);
  EXPECT_EQ(p->province, "650000");
  EXPECT_EQ(p->officer_id, "li-na-07");
  EXPECT_EQ(p->spiffe_id, "spiffe://tongban/province/650000/officer/li-na-07");

  absl::StatusOr<Principal> longest =
      ParseSpiffeId("spiffe://tongban/province/110000/officer/" + std::string(32, 'a'));
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_EQ(longest->officer_id, std::string(32, 'a'));
}

TEST(ParseSpiffeIdTest, Operator) {
  absl::StatusOr<Principal> p = ParseSpiffeId("spiffe://tongban/province/310000/operator/operator-01");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, Principal::Kind::kOperator);
  EXPECT_EQ(p->province, "310000");
  EXPECT_EQ(p->operator_id, "operator-01");
  EXPECT_EQ(p->officer_id, "");
  EXPECT_EQ(p->spiffe_id, "spiffe://tongban/province/310000/operator/operator-01");
}

TEST(ParseSpiffeIdTest, NodeSpiffeIdIsWhatParsesAsTheNode) {
  EXPECT_EQ(NodeSpiffeId("430000"), "spiffe://tongban/province/430000");
  absl::StatusOr<Principal> p = ParseSpiffeId(NodeSpiffeId("430000"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, Principal::Kind::kNode);
  absl::StatusOr<Principal> g = ParseSpiffeId(kGatewaySpiffeId);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->kind, Principal::Kind::kGateway);
}

TEST(ParseSpiffeIdTest, NotTongbanIdentitiesAreInvalidArgument) {
  for (const std::string& bad : {
           // Bad province.
           std::string("spiffe://tongban/province/440001"),
           std::string("spiffe://tongban/province/990000"),
           std::string("spiffe://tongban/province/"),
           std::string("spiffe://tongban/province/440001/officer/zhang"),
           // Bad officer id.
           std::string("spiffe://tongban/province/440000/officer/"),
           std::string("spiffe://tongban/province/440000/officer/Zhang"),
           std::string("spiffe://tongban/province/440000/officer/zhang_wei"),
           std::string("spiffe://tongban/province/440000/officer/张伟"),
           std::string("spiffe://tongban/province/440000/officer/" + std::string(33, 'a')),
           std::string("spiffe://tongban/province/440000/officer/zhang/extra"),
           std::string("spiffe://tongban/province/440000/admin/zhang"),
           // Bad operator ids and shapes.
           std::string("spiffe://tongban/province/440000/operator/"),
           std::string("spiffe://tongban/province/440000/operator/Op-01"),
           std::string("spiffe://tongban/province/440000/operator/op_01"),
           std::string("spiffe://tongban/province/440000/operator/" + std::string(33, 'a')),
           std::string("spiffe://tongban/province/440000/operator/op-01/extra"),
           std::string("spiffe://tongban/province/440001/operator/op-01"),
           std::string("spiffe://tongban/operator/op-01"),
           // Other trust domains and shapes.
           std::string("spiffe://other/gateway"),
           std::string("spiffe://tongban.evil/gateway"),
           std::string("spiffe://tongbanx/gateway"),
           std::string("SPIFFE://tongban/gateway"),
           std::string("https://tongban/gateway"),
           std::string("spiffe://tongban/gateway/"),
           std::string("spiffe://tongban/gateway/extra"),
           std::string("spiffe://tongban/province/440000/"),
           std::string("spiffe://tongban/"),
           std::string(""),
       }) {
    SCOPED_TRACE(bad);
    absl::StatusOr<Principal> p = ParseSpiffeId(bad);
    ASSERT_FALSE(p.ok()) << PrincipalKindName(p->kind);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("not a tongban identity"));
  }
}

TEST(ParseSpiffeIdTest, OfficerIds) {
  EXPECT_TRUE(IsValidOfficerId("a"));
  EXPECT_TRUE(IsValidOfficerId("zhang-wei-01"));
  EXPECT_TRUE(IsValidOfficerId(std::string(32, '9')));
  EXPECT_FALSE(IsValidOfficerId(""));
  EXPECT_FALSE(IsValidOfficerId(std::string(33, '9')));
  EXPECT_FALSE(IsValidOfficerId("Zhang"));
  EXPECT_FALSE(IsValidOfficerId("zhang.wei"));
  EXPECT_FALSE(IsValidOfficerId("zhang wei"));
}

TEST(ParseSpiffeIdTest, KindNames) {
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kAnonymous), "anonymous");
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kUnrecognized), "unrecognized");
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kGateway), "gateway");
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kNode), "node");
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kOfficer), "officer");
  EXPECT_EQ(PrincipalKindName(Principal::Kind::kOperator), "operator");
}

// A verified peer with the properties gRPC's SSL handshaker reports: URI
// SANs under peer_uri, and every SAN (URI, DNS, e-mail, IP) mixed under
// x509_subject_alternative_name.
class FakeAuthContext final : public grpc::AuthContext {
 public:
  FakeAuthContext(bool authenticated, std::vector<std::string> uris,
                  std::vector<std::string> other_sans = {})
      : authenticated_(authenticated) {
    properties_[GRPC_PEER_URI_PROPERTY_NAME] = uris;
    std::vector<std::string>& all = properties_[GRPC_X509_SAN_PROPERTY_NAME];
    all = other_sans;
    all.insert(all.end(), uris.begin(), uris.end());
    properties_[GRPC_PEER_DNS_PROPERTY_NAME] = other_sans;
  }

  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto it = properties_.find(name);
    if (it == properties_.end()) return out;
    for (const std::string& s : it->second) out.emplace_back(s.data(), s.size());
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return Iterator(); }
  grpc::AuthPropertyIterator end() const override { return Iterator(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct Iterator : grpc::AuthPropertyIterator {};
  bool authenticated_;
  std::map<std::string, std::vector<std::string>> properties_;
};

TEST(PrincipalFromAuthContextTest, NoContextOrUnverifiedPeerIsAnonymous) {
  EXPECT_EQ(PrincipalFromAuthContext(nullptr).kind, Principal::Kind::kAnonymous);
  FakeAuthContext unverified(false, {"spiffe://tongban/gateway"});
  EXPECT_EQ(PrincipalFromAuthContext(&unverified).kind, Principal::Kind::kAnonymous);
}

TEST(PrincipalFromAuthContextTest, OneTongbanUriAmongDnsAndIpSans) {
  FakeAuthContext ctx(true, {"spiffe://tongban/province/440000"},
                      {"node-440000.tongban.svc", "127.0.0.1"});
  Principal p = PrincipalFromAuthContext(&ctx);
  EXPECT_EQ(p.kind, Principal::Kind::kNode);
  EXPECT_EQ(p.province, "440000");
}

TEST(PrincipalFromAuthContextTest, OperatorFromItsUri) {
  FakeAuthContext ctx(true, {"spiffe://tongban/province/440000/operator/operator-01"});
  Principal p = PrincipalFromAuthContext(&ctx);
  EXPECT_EQ(p.kind, Principal::Kind::kOperator);
  EXPECT_EQ(p.operator_id, "operator-01");
}

// The text of a DNS or e-mail SAN is not an identity, even when it reads like one.
TEST(PrincipalFromAuthContextTest, DnsOrEmailSanWithIdentityTextIsNobody) {
  FakeAuthContext dns(true, {}, {"spiffe://tongban/gateway"});
  Principal p = PrincipalFromAuthContext(&dns);
  EXPECT_EQ(p.kind, Principal::Kind::kUnrecognized);
  EXPECT_EQ(p.spiffe_id, "");

  FakeAuthContext with_foreign_uri(true, {"spiffe://elsewhere/x"}, {"spiffe://tongban/gateway"});
  EXPECT_EQ(PrincipalFromAuthContext(&with_foreign_uri).kind, Principal::Kind::kUnrecognized);
}

TEST(PrincipalFromAuthContextTest, SeveralUrisAreTrustedAsNone) {
  FakeAuthContext two_ids(
      true, {"spiffe://tongban/province/440000/officer/zhang", "spiffe://tongban/gateway"});
  EXPECT_EQ(PrincipalFromAuthContext(&two_ids).kind, Principal::Kind::kUnrecognized);
  // One tongban id and an unrelated URI: still ambiguous, still nobody.
  FakeAuthContext id_and_other(true, {"spiffe://tongban/gateway", "https://gateway.example"});
  EXPECT_EQ(PrincipalFromAuthContext(&id_and_other).kind, Principal::Kind::kUnrecognized);
  FakeAuthContext same_twice(true, {"spiffe://tongban/gateway", "spiffe://tongban/gateway"});
  EXPECT_EQ(PrincipalFromAuthContext(&same_twice).kind, Principal::Kind::kUnrecognized);
}

TEST(PrincipalFromAuthContextTest, ForeignSpiffeIdIsUnrecognizedAndReported) {
  FakeAuthContext ctx(true, {"spiffe://other.org/workload"});
  Principal p = PrincipalFromAuthContext(&ctx);
  EXPECT_EQ(p.kind, Principal::Kind::kUnrecognized);
  EXPECT_EQ(p.spiffe_id, "spiffe://other.org/workload");

  FakeAuthContext none(true, {}, {"node.example"});
  EXPECT_EQ(PrincipalFromAuthContext(&none).kind, Principal::Kind::kUnrecognized);
}

TEST(ServerIdentityMismatchTest, ExactlyTheExpectedUriPasses) {
  EXPECT_EQ(ServerIdentityMismatch("spiffe://tongban/province/310000",
                                   {"spiffe://tongban/province/310000"}),
            "");
}

TEST(ServerIdentityMismatchTest, MessagesNameExpectedAndPresented) {
  const std::string expected = "spiffe://tongban/province/310000";
  std::string other = ServerIdentityMismatch(expected, {"spiffe://tongban/province/430000"});
  EXPECT_THAT(other, HasSubstr("expected exactly one URI SAN spiffe://tongban/province/310000"));
  EXPECT_THAT(other, HasSubstr("presented URI SAN spiffe://tongban/province/430000"));
  EXPECT_THAT(ServerIdentityMismatch(expected, {}), HasSubstr("presented no URI SAN"));
  EXPECT_THAT(ServerIdentityMismatch(expected, {expected, "spiffe://tongban/gateway"}),
              HasSubstr("several URI SANs (ambiguous)"));
  EXPECT_NE(ServerIdentityMismatch(expected, {expected, expected}), "");
  EXPECT_NE(ServerIdentityMismatch(expected, {expected + "/officer/x"}), "");
}

}  // namespace
}  // namespace tongban
