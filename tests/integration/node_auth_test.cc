// The authentication and authorization matrix of a real node (Guangdong,
// 440000): who is refused at the TLS handshake, who gets UNAUTHENTICATED,
// who gets PERMISSION_DENIED, and that the messages name the rule.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "record_author.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/catalog.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;

class NodeAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    workdir_ = new std::string(MakeTempDir("node-auth"));
    NodeOptions options;
    options.province = "440000";
    node_ = NodeProcess::Start(options, *workdir_).release();
    ASSERT_TRUE(node_->running()) << node_->ReadLog();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(node_->Terminate(), 0);
    delete node_;
    delete workdir_;
  }

  // GetCatalogInfo as `identity` (nullptr = no client certificate).
  static grpc::Status CatalogInfoAs(const Identity* identity) {
    auto stub = v1::CatalogService::NewStub(MakeChannel(node_->grpc_address(), identity));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetCatalogInfoResponse resp;
    return stub->GetCatalogInfo(&ctx, v1::GetCatalogInfoRequest(), &resp);
  }

  static Identity WithOwnCa(const std::string& dir, const std::string& ca_dir) {
    Identity id = IdentityAt(dir);
    id.ca = CertsDir() + "/" + ca_dir + "/ca.pem";
    return id;
  }

  static std::string* workdir_;
  static NodeProcess* node_;
};

std::string* NodeAuthTest::workdir_ = nullptr;
NodeProcess* NodeAuthTest::node_ = nullptr;

TEST_F(NodeAuthTest, OwnOfficerIsServed) {
  Identity officer = IdentityAt("province/440000/officer/officer-02");
  EXPECT_TRUE(CatalogInfoAs(&officer).ok());
}

// The TLS handshake refuses these before any handler runs: the client sees
// UNAVAILABLE (gRPC's code for a connection that could not be made).
TEST_F(NodeAuthTest, NoClientCertificateIsRefusedAtHandshake) {
  EXPECT_EQ(CatalogInfoAs(nullptr).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(NodeAuthTest, CertificateFromAnotherCaIsRefusedAtHandshake) {
  Identity forged = WithOwnCa("test/other-ca-officer", "ca");  // trusts our CA, presents theirs
  EXPECT_EQ(CatalogInfoAs(&forged).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(NodeAuthTest, ExpiredCertificateIsRefusedAtHandshake) {
  Identity expired = IdentityAt("test/expired-officer");
  EXPECT_EQ(CatalogInfoAs(&expired).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(NodeAuthTest, CertificateWithoutTongbanIdentityIsUnauthenticated) {
  for (const char* dir : {"test/no-identity", "test/foreign-uri"}) {
    Identity id = IdentityAt(dir);
    grpc::Status s = CatalogInfoAs(&id);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << dir;
    EXPECT_NE(s.error_message().find("spiffe://tongban"), std::string::npos) << s.error_message();
  }
}

// FetchGuide relayed "for" Hunan, as whoever `identity` names: only the
// gateway may do this, so it tells whether a certificate passes as the gateway.
static grpc::Status RelayAs(const std::string& address, const Identity& identity) {
  auto fed = v1::FederationService::NewStub(MakeChannel(address, &identity));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ctx.AddMetadata("x-tongban-origin-province", "430000");
  v1::FetchGuideRequest req;
  req.set_province_code("440000");
  req.set_item_code(kSocialSecurityCard);
  v1::FetchGuideResponse resp;
  return fed->FetchGuide(&ctx, req, &resp);
}

// Only URI SANs name a caller: the gateway's id written as a DNS or e-mail
// SAN, or next to a second URI SAN, is nobody (issue 10).
TEST_F(NodeAuthTest, GatewayIdOutsideASingleUriSanIsNobody) {
  for (const char* dir : {"test/dns-gateway", "test/email-gateway", "test/two-uris"}) {
    SCOPED_TRACE(dir);
    Identity id = IdentityAt(dir);
    grpc::Status s = CatalogInfoAs(&id);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("one URI SAN spiffe://tongban"), std::string::npos)
        << s.error_message();
    s = RelayAs(node_->grpc_address(), id);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << s.error_message();
  }
}

// A DNS SAN is never read, so it neither adds a second identity nor replaces
// the URI SAN's: the caller is who the one URI SAN names.
TEST_F(NodeAuthTest, TheSingleUriSanNamesTheCallerWhateverTheDnsSansSay) {
  Identity gateway_with_dns_copy = IdentityAt("test/uri-and-dns-gateway");
  grpc::Status s = RelayAs(node_->grpc_address(), gateway_with_dns_copy);
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();

  Identity officer_with_dns_gateway = IdentityAt("test/officer-with-dns-gateway");
  EXPECT_TRUE(CatalogInfoAs(&officer_with_dns_gateway).ok());
  s = RelayAs(node_->grpc_address(), officer_with_dns_gateway);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("caller is officer spiffe://tongban/province/440000/officer/"
                                   "officer-03"),
            std::string::npos)
      << s.error_message();
}

// An operator runs the node; it is not an officer and no rule of the node's
// table admits it yet (the admin RPCs will, with rule own-operator).
TEST_F(NodeAuthTest, OperatorIsNoOfficer) {
  Identity op = IdentityAt("province/440000/operator/operator-01");
  grpc::Status s = CatalogInfoAs(&op);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("caller is operator spiffe://tongban/province/440000/operator/"
                                   "operator-01"),
            std::string::npos)
      << s.error_message();

  auto apps = v1::ApplicationService::NewStub(MakeChannel(node_->grpc_address(), &op));
  grpc::ClientContext ctx;
  v1::DecideApplicationRequest decide;
  decide.set_application_id("TB-430000-440000-20261125-00000077");
  decide.set_action(v1::APPLICATION_ACTION_ACCEPT);
  v1::DecideApplicationResponse decided;
  s = apps->DecideApplication(&ctx, decide, &decided);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("rule own-officer:"), std::string::npos) << s.error_message();
}

// A node dials the gateway and checks that the server is spiffe://tongban/gateway:
// another member of the federation CA at the gateway's address (here the
// Guangdong node) is refused at the handshake, and the node logs who was
// expected and who answered.
TEST_F(NodeAuthTest, NodeRefusesAGatewayAddressServingAnotherIdentity) {
  NodeOptions options;
  options.province = "430000";
  options.extra_flags = {"--gateway=" + node_->grpc_address()};
  std::unique_ptr<NodeProcess> hunan =
      NodeProcess::Start(options, MakeTempDir("node-auth-wrong-gateway"));
  ASSERT_TRUE(hunan->running()) << hunan->ReadLog();

  // Filing Guangdong's item makes Hunan ask "the gateway" for the guide.
  Identity officer = IdentityAt("province/430000/officer/officer-01");
  auto apps = v1::ApplicationService::NewStub(MakeChannel(hunan->grpc_address(), &officer));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubmitApplicationResponse resp;
  grpc::Status s = apps->SubmitApplication(
      &ctx, Submission("wrong-gateway-1", kSocialSecurityCard, "440000", {"M01", "M02", "M03"}),
      &resp);
  std::cout << "submission through a node posing as the gateway: " << s.error_code() << " "
            << s.error_message() << std::endl;

  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = hunan->ReadLog();
    if (log.find("gateway.identity_refused") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(log.find("gateway.identity_refused"), std::string::npos) << log;
  EXPECT_NE(log.find("expected exactly one URI SAN spiffe://tongban/gateway"), std::string::npos)
      << log;
  EXPECT_NE(log.find("presented URI SAN spiffe://tongban/province/440000"), std::string::npos)
      << log;
  EXPECT_EQ(hunan->Terminate(), 0);
}

TEST_F(NodeAuthTest, OfficerOfAnotherProvinceIsDenied) {
  Identity other = IdentityAt("province/310000/officer/officer-01");
  grpc::Status s = CatalogInfoAs(&other);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("own-officer-or-gateway"), std::string::npos);

  auto apps = v1::ApplicationService::NewStub(MakeChannel(node_->grpc_address(), &other));
  grpc::ClientContext ctx;
  v1::SubmitApplicationResponse resp;
  s = apps->SubmitApplication(&ctx, Submission("other-officer-1", kSocialSecurityCard, "440000",
                                               {"M01", "M02", "M03"}),
                              &resp);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("440000"), std::string::npos);
}

TEST_F(NodeAuthTest, NodeCallingAnotherNodeDirectlyIsDenied) {
  Identity hunan_node = IdentityAt("province/430000/node");
  grpc::Status s = CatalogInfoAs(&hunan_node);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("through the gateway"), std::string::npos);

  auto fed = v1::FederationService::NewStub(MakeChannel(node_->grpc_address(), &hunan_node));
  grpc::ClientContext ctx;
  v1::FetchGuideRequest req;
  req.set_province_code("440000");
  req.set_item_code(kSocialSecurityCard);
  v1::FetchGuideResponse resp;
  s = fed->FetchGuide(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("gateway-relay-only"), std::string::npos);
}

TEST_F(NodeAuthTest, OnlyTheGatewayMayStampOriginOrCitizen) {
  Identity officer = IdentityAt("province/440000/officer/officer-01");
  auto stub = v1::CatalogService::NewStub(MakeChannel(node_->grpc_address(), &officer));
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-tongban-origin-province", "310000");
  v1::GetCatalogInfoResponse resp;
  grpc::Status s = stub->GetCatalogInfo(&ctx, v1::GetCatalogInfoRequest(), &resp);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("gateway-stamps-only"), std::string::npos);
}

TEST_F(NodeAuthTest, GatewayRelayFetchesGuideAndIsCheckedForOrigin) {
  Identity gateway = IdentityAt("gateway");
  auto fed = v1::FederationService::NewStub(MakeChannel(node_->grpc_address(), &gateway));
  {
    grpc::ClientContext ctx;  // no origin stamp
    v1::FetchGuideRequest req;
    req.set_province_code("440000");
    req.set_item_code(kSocialSecurityCard);
    v1::FetchGuideResponse resp;
    EXPECT_EQ(fed->FetchGuide(&ctx, req, &resp).error_code(), StatusCode::PERMISSION_DENIED);
  }
  v1::FetchGuideResponse fetched;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-tongban-origin-province", "430000");
    v1::FetchGuideRequest req;
    req.set_province_code("440000");
    req.set_item_code(kSocialSecurityCard);
    grpc::Status s = fed->FetchGuide(&ctx, req, &fetched);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(fetched.guide().province_code(), "440000");
  }
  {
    grpc::ClientContext ctx;  // up to date: not modified
    ctx.AddMetadata("x-tongban-origin-province", "430000");
    v1::FetchGuideRequest req;
    req.set_province_code("440000");
    req.set_item_code(kSocialSecurityCard);
    req.set_cached_version(fetched.guide().version());
    v1::FetchGuideResponse resp;
    ASSERT_TRUE(fed->FetchGuide(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.not_modified());
  }
  {
    // A delivery claiming to come from Hunan, stamped as coming from Hubei.
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-tongban-origin-province", "420000");
    v1::DeliverApplicationRequest req;
    v1::Application* app = req.mutable_application();
    app->set_application_id("TB-430000-440000-20261125-00000001");
    app->set_accepting_province("430000");
    app->set_handling_province("440000");
    v1::DeliverApplicationResponse resp;
    grpc::Status s = fed->DeliverApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
    EXPECT_NE(s.error_message().find("origin"), std::string::npos);
  }
}

TEST_F(NodeAuthTest, ForwardedApplicationIsStoredOnceAndItsEventsDeduplicated) {
  Identity gateway = IdentityAt("gateway");
  auto fed = v1::FederationService::NewStub(MakeChannel(node_->grpc_address(), &gateway));
  RecordAuthor hunan("430000");
  v1::DeliverApplicationRequest req = hunan.Filing(
      "TB-430000-440000-20261125-00000077", kSocialSecurityCard, Applicant(),
      {Material("M01"), Material("M02"), Material("M03"), Material("M09")});
  const v1::Application* app = &req.application();
  for (bool expect_duplicate : {false, true}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-tongban-origin-province", "430000");
    v1::DeliverApplicationResponse resp;
    grpc::Status s = fed->DeliverApplication(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.already_delivered(), expect_duplicate);
    EXPECT_EQ(resp.delivered_event().event_id(), "440000-1");
  }
  // Guangdong's officer sees it and may decide it: it is handled here.
  Identity officer = IdentityAt("province/440000/officer/officer-01");
  auto apps = v1::ApplicationService::NewStub(MakeChannel(node_->grpc_address(), &officer));
  grpc::ClientContext ctx;
  v1::DecideApplicationRequest decide;
  decide.set_application_id(app->application_id());
  decide.set_action(v1::APPLICATION_ACTION_ACCEPT);
  v1::DecideApplicationResponse decided;
  grpc::Status s = apps->DecideApplication(&ctx, decide, &decided);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(decided.application().state(), v1::APPLICATION_STATE_ACCEPTED);
  EXPECT_EQ(decided.application().events_size(), 3);  // SUBMIT, DELIVER, ACCEPT

  // An applicant's withdrawal relayed from Hunan, delivered twice, applies
  // once: Hunan's event is stored as signed, and Guangdong records its own
  // result (which goes back to Hunan).
  v1::DeliverEventRequest event =
      hunan.Event(decided.application(), v1::APPLICATION_ACTION_WITHDRAW,
                  v1::APPLICATION_STATE_ACCEPTED, v1::APPLICATION_STATE_ACCEPTED);
  for (bool expect_duplicate : {false, true}) {
    grpc::ClientContext c;
    c.AddMetadata("x-tongban-origin-province", "430000");
    v1::DeliverEventResponse resp;
    grpc::Status es = fed->DeliverEvent(&c, event, &resp);
    ASSERT_TRUE(es.ok()) << es.error_message();
    EXPECT_EQ(resp.already_delivered(), expect_duplicate);
  }
  grpc::ClientContext g;
  v1::GetApplicationRequest get;
  get.set_application_id(app->application_id());
  v1::GetApplicationResponse got;
  ASSERT_TRUE(apps->GetApplication(&g, get, &got).ok());
  EXPECT_EQ(got.application().state(), v1::APPLICATION_STATE_WITHDRAWN);
  ASSERT_EQ(got.application().events_size(), 5);  // SUBMIT DELIVER ACCEPT WITHDRAW(430000) WITHDRAW(440000)
  EXPECT_EQ(got.application().events(3).event_id(), "430000-2");
  EXPECT_EQ(got.application().events(4).event_id(), "440000-3");
  EXPECT_EQ(got.application().events(4).state_after(), v1::APPLICATION_STATE_WITHDRAWN);
}

}  // namespace
}  // namespace tongban::testing
