// Request ids end to end on a real federation (gateway with the public edge,
// two nodes, mTLS with the test PKI): a citizen's call over the public gRPC
// face with x-request-id (or traceparent) gets the id back in the initial
// metadata, and the same id is on the gateway's log line for the call and
// on the accepting node's. A hostile id is replaced, never logged.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "citizen_token.h"
#include "federation.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "resident_id.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::testing {
namespace {

using ::testing::MatchesRegex;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Token(const std::string& citizen) { return TestCitizenToken(citizen); }

class EdgeRequestIdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_error_ = new std::string();
    FederationOptions options;
    options.name = "edge-request-id";
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

  // Files a cross-province application (Hunan accepts, Shanghai handles)
  // with `metadata`; returns the x-request-id of the answer's initial metadata.
  std::string Submit(const std::string& key,
                     const std::vector<std::pair<std::string, std::string>>& metadata) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + Token(MakeResidentId("43010219900307051")));
    for (const auto& [name, value] : metadata) ctx.AddMetadata(name, value);
    v1::SubmitMyApplicationRequest req;
    req.set_idempotency_key(key);
    req.set_accepting_province(kHunan);
    req.set_handling_province(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    req.mutable_applicant()->set_name("张三");
    for (const char* id : {"M01", "M02", "M09"}) *req.add_materials() = Material(id);
    v1::SubmitMyApplicationResponse resp;
    grpc::Status s = stub_->SubmitMyApplication(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    auto found = ctx.GetServerInitialMetadata().find("x-request-id");
    if (found == ctx.GetServerInitialMetadata().end()) return "<none>";
    return std::string(found->second.data(), found->second.size());
  }

  // The lines of the gateway's logs, and of the Hunan node's, that carry
  // request_id=<id>.
  struct Lines {
    std::vector<std::string> gateway, hunan;
  };
  static Lines LinesWith(const std::string& id) {
    Lines out;
    for (const std::string& path : federation_->AllLogPaths()) {
      const bool gateway = absl::StrContains(path, "gateway");
      const bool hunan = absl::StrContains(path, kHunan);
      std::istringstream log(Slurp(path));
      for (std::string line; std::getline(log, line);) {
        if (!absl::StrContains(line, " request_id=" + id)) continue;
        if (gateway) out.gateway.push_back(line);
        if (hunan) out.hunan.push_back(line);
      }
    }
    return out;
  }

  static Federation* federation_;
  static std::string* start_error_;
  std::unique_ptr<v1::CitizenService::Stub> stub_;
};

Federation* EdgeRequestIdTest::federation_ = nullptr;
std::string* EdgeRequestIdTest::start_error_ = nullptr;

TEST_F(EdgeRequestIdTest, XRequestIdIsAnsweredAndLoggedByTheGatewayAndTheNode) {
  const std::string id = "app-7f3a9c-req-0001";
  EXPECT_EQ(Submit("rid-grpc-0001", {{"x-request-id", id}}), id);
  // Both processes wrote their lines before the answer left them.
  Lines lines = LinesWith(id);
  ASSERT_EQ(lines.gateway.size(), 1u) << federation_->LogTails(2000);
  EXPECT_THAT(lines.gateway[0],
              ::testing::HasSubstr("event=citizen.call method=SubmitMyApplication code=OK"));
  ASSERT_EQ(lines.hunan.size(), 1u) << federation_->LogTails(2000);
  EXPECT_THAT(lines.hunan[0], ::testing::HasSubstr("event=application.submitted"));
}

TEST_F(EdgeRequestIdTest, TraceparentGivesItsTraceId) {
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  EXPECT_EQ(Submit("rid-grpc-0002", {{"traceparent", "00-" + trace_id + "-00f067aa0ba902b7-01"}}),
            trace_id);
  Lines lines = LinesWith(trace_id);
  EXPECT_EQ(lines.gateway.size(), 1u);
  EXPECT_EQ(lines.hunan.size(), 1u);
}

TEST_F(EdgeRequestIdTest, MissingOrHostileIdsAreReplacedByANewOne) {
  const std::string fresh = Submit("rid-grpc-0003", {});
  EXPECT_THAT(fresh, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(LinesWith(fresh).hunan.size(), 1u);

  const std::string hostile = "x\" level=error event=forged";
  const std::string replaced = Submit("rid-grpc-0004", {{"x-request-id", hostile}});
  EXPECT_THAT(replaced, MatchesRegex("[0-9a-f]{32}"));
  Lines lines = LinesWith(replaced);
  EXPECT_EQ(lines.gateway.size(), 1u);
  EXPECT_EQ(lines.hunan.size(), 1u);
  for (const std::string& path : federation_->AllLogPaths()) {
    EXPECT_FALSE(absl::StrContains(Slurp(path), "forged")) << path;
  }
}

}  // namespace
}  // namespace tongban::testing
