// Structured errors on the public gRPC face of a real federation (gateway
// with the public edge, two nodes, mTLS with the test PKI): a stock gRPC
// client finds google.rpc.Status in the grpc-status-details-bin trailer,
// with a google.rpc.BadRequest naming the field at fault, whether the edge
// (accepting_province) or a node (materials[0].content_sha256) refused it;
// other errors carry the Status without a BadRequest.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "citizen_token.h"
#include "federation.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_test_data.h"
#include "resident_id.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::testing {
namespace {

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Token(const std::string& citizen) { return TestCitizenToken(citizen); }

// What a client reads from an error: the rich status and its BadRequest.
struct Received {
  grpc::Status status;
  google::rpc::Status rich;
  bool has_rich = false;
  google::rpc::BadRequest bad_request;
  int bad_requests = 0;
};

Received Read(const grpc::Status& status) {
  Received r;
  r.status = status;
  r.has_rich = r.rich.ParseFromString(status.error_details()) && !status.error_details().empty();
  for (const auto& any : r.rich.details()) {
    if (any.UnpackTo(&r.bad_request)) ++r.bad_requests;
  }
  return r;
}

class EdgeGrpcErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_error_ = new std::string();
    FederationOptions options;
    options.name = "edge-grpc-errors";
    options.provinces = {kHunan, kShanghai};
    options.public_edge = true;
    federation_ = new Federation(options);
    if (!federation_->Start(start_error_)) return;
    if (federation_->public_grpc_address().empty()) *start_error_ = "no public gRPC edge";
  }
  static void TearDownTestSuite() {
    delete federation_;
    delete start_error_;
  }
  void SetUp() override {
    ASSERT_TRUE(start_error_->empty()) << "the federation did not start: " << *start_error_;
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = Slurp(CertsDir() + "/ca/ca.pem");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    stub_ = v1::CitizenService::NewStub(grpc::CreateCustomChannel(
        federation_->public_grpc_address(), grpc::SslCredentials(tls), args));
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
    }
  }

  void Prepare(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx->AddMetadata("authorization", "Bearer " + Token(MakeResidentId("43010219900307051")));
  }
  static v1::SubmitMyApplicationRequest Valid(const std::string& key) {
    v1::SubmitMyApplicationRequest req;
    req.set_idempotency_key(key);
    req.set_accepting_province(kHunan);
    req.set_handling_province(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    req.mutable_applicant()->set_name("张三");
    for (const char* id : {"M01", "M02", "M09"}) *req.add_materials() = Material(id);
    return req;
  }
  Received Submit(const v1::SubmitMyApplicationRequest& req) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::SubmitMyApplicationResponse resp;
    return Read(stub_->SubmitMyApplication(&ctx, req, &resp));
  }

  static Federation* federation_;
  static std::string* start_error_;
  std::unique_ptr<v1::CitizenService::Stub> stub_;
};

Federation* EdgeGrpcErrorsTest::federation_ = nullptr;
std::string* EdgeGrpcErrorsTest::start_error_ = nullptr;

TEST_F(EdgeGrpcErrorsTest, NodeRefusalNamesTheFieldInABadRequest) {
  v1::SubmitMyApplicationRequest req = Valid("grpc-errors-0001");
  req.mutable_materials(0)->set_content_sha256("not-a-hash");
  Received r = Submit(req);
  ASSERT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
  ASSERT_TRUE(r.has_rich) << "no grpc-status-details-bin";
  EXPECT_EQ(r.rich.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(r.rich.message(), r.status.error_message());
  ASSERT_EQ(r.bad_requests, 1);
  ASSERT_EQ(r.bad_request.field_violations_size(), 1);
  EXPECT_EQ(r.bad_request.field_violations(0).field(), "materials[0].content_sha256");
  EXPECT_EQ(r.bad_request.field_violations(0).description(), r.status.error_message());
}

TEST_F(EdgeGrpcErrorsTest, EdgeRefusalNamesTheFieldInABadRequest) {
  v1::SubmitMyApplicationRequest req = Valid("grpc-errors-0002");
  req.set_accepting_province("999999");
  Received r = Submit(req);
  ASSERT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
  ASSERT_TRUE(r.has_rich) << "no grpc-status-details-bin";
  ASSERT_EQ(r.bad_requests, 1);
  ASSERT_EQ(r.bad_request.field_violations_size(), 1);
  EXPECT_EQ(r.bad_request.field_violations(0).field(), "accepting_province");
}

TEST_F(EdgeGrpcErrorsTest, OtherErrorsCarryTheStatusWithoutABadRequest) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  v1::GetMyApplicationRequest req;
  req.set_application_id("TB-430000-310000-20261125-00000042");
  v1::GetMyApplicationResponse resp;
  Received r = Read(stub_->GetMyApplication(&ctx, req, &resp));
  ASSERT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND) << r.status.error_message();
  ASSERT_TRUE(r.has_rich);
  EXPECT_EQ(r.rich.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(r.bad_requests, 0);

  // Refused by the gate (no token): the Status is there too.
  grpc::ClientContext anonymous;
  anonymous.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  Received gate = Read(stub_->GetMyApplication(&anonymous, req, &resp));
  ASSERT_EQ(gate.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(gate.has_rich);
  EXPECT_EQ(gate.rich.code(), static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
}

}  // namespace
}  // namespace tongban::testing
