// Start-up, shutdown and crash behaviour of a real node process.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

TEST(NodeLifecycleTest, RefusesToStartWhenCertificateNamesAnotherProvince) {
  NodeOptions options;
  options.province = "440000";
  options.cert_dir = "province/310000/node";
  auto node = NodeProcess::Start(options, MakeTempDir("node-mismatch"));
  EXPECT_FALSE(node->running());
  EXPECT_EQ(node->WaitExit(), 2);
  std::string log = node->ReadLog();
  EXPECT_NE(log.find("belongs to province 310000"), std::string::npos) << log;
}

TEST(NodeLifecycleTest, RefusesToStartWithAnOfficerCertificate) {
  NodeOptions options;
  options.province = "440000";
  options.cert_dir = "province/440000/officer/officer-01";
  auto node = NodeProcess::Start(options, MakeTempDir("node-officer-cert"));
  EXPECT_FALSE(node->running());
  EXPECT_NE(node->ReadLog().find("not a province node identity"), std::string::npos);
}

// gRPC would share a port between processes (SO_REUSEPORT) and both would
// "start"; a node must refuse a port that another node already serves.
TEST(NodeLifecycleTest, RefusesAPortAnotherNodeServes) {
  NodeOptions options;
  options.province = "440000";
  auto first = NodeProcess::Start(options, MakeTempDir("node-port-a"));
  ASSERT_TRUE(first->running()) << first->ReadLog();
  options.extra_flags = {"--listen=" + first->grpc_address()};  // the last --listen wins
  auto second = NodeProcess::Start(options, MakeTempDir("node-port-b"));
  if (second->running()) {
    second->Terminate();
    FAIL() << "a second node started on " << first->grpc_address() << " (port shared)";
  }
  EXPECT_EQ(second->WaitExit(), 2);
  EXPECT_NE(second->ReadLog().find("cannot listen"), std::string::npos) << second->ReadLog();
  EXPECT_EQ(first->Terminate(), 0);
}

// Kubernetes' native gRPC probes cannot do mTLS: the node can serve
// grpc.health.v1 alone on a plaintext port, and nothing else there.
TEST(NodeLifecycleTest, PlaintextHealthListenerServesOnlyHealth) {
  NodeOptions options;
  options.province = "440000";
  options.extra_flags = {"--health_listen=127.0.0.1:0"};
  auto node = NodeProcess::Start(options, MakeTempDir("node-health"));
  ASSERT_TRUE(node->running()) << node->ReadLog();
  ASSERT_FALSE(node->health_address().empty());
  auto channel = grpc::CreateChannel(node->health_address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  auto apps = v1::ApplicationService::NewStub(channel);
  grpc::ClientContext ctx2;
  v1::GetApplicationResponse app;
  EXPECT_EQ(apps->GetApplication(&ctx2, v1::GetApplicationRequest(), &app).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(node->Terminate(), 0);
}

TEST(NodeLifecycleTest, HelpDescribesTheFlags) {
  std::string out = MakeTempDir("node-help") + "/help.txt";
  std::string cmd = std::string(TONGBAN_NODE_BINARY_FOR_TESTS) + " --help > " + out + " 2>&1";
  int rc = std::system(cmd.c_str());
  (void)rc;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("--config"), std::string::npos) << text;
  EXPECT_NE(text.find("--province"), std::string::npos);
}

// An acknowledged submission survives SIGKILL: it was committed before the
// RPC returned. After a restart on the same database it is there, and a
// SIGTERM then stops the node cleanly with exit code 0.
TEST(NodeLifecycleTest, AcknowledgedApplicationSurvivesSigkillAndRestart) {
  const std::string dir = MakeTempDir("node-crash");
  NodeOptions options;
  options.province = "430000";
  options.database_path = dir + "/node.db";
  auto node = NodeProcess::Start(options, dir + "/run1");
  ASSERT_TRUE(node->running()) << node->ReadLog();
  Identity officer = IdentityAt("province/430000/officer/officer-01");
  auto apps = v1::ApplicationService::NewStub(MakeChannel(node->grpc_address(), &officer));
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    v1::SubmitApplicationResponse resp;
    grpc::Status s = apps->SubmitApplication(
        &ctx,
        Submission("crash-key-" + std::to_string(100 + i), kSocialSecurityCard,
                   i % 2 ? "310000" : "430000",
                   i % 2 ? std::vector<std::string>{"M01", "M02", "M03", "M09"}
                         : std::vector<std::string>{"M01", "M02", "M03"}),
        &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ids.push_back(resp.application().application_id());
  }
  node->Kill();

  auto restarted = NodeProcess::Start(options, dir + "/run2");
  ASSERT_TRUE(restarted->running()) << restarted->ReadLog();
  auto apps2 = v1::ApplicationService::NewStub(MakeChannel(restarted->grpc_address(), &officer));
  for (const auto& id : ids) {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    EXPECT_TRUE(apps2->GetApplication(&ctx, req, &resp).ok()) << id;
  }
  // Sequences continue after the crash: a new id is not a reused one.
  grpc::ClientContext ctx;
  v1::SubmitApplicationResponse resp;
  ASSERT_TRUE(apps2
                  ->SubmitApplication(&ctx,
                                      Submission("crash-key-after", kSocialSecurityCard, "430000",
                                                 {"M01", "M02", "M03"}),
                                      &resp)
                  .ok());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), resp.application().application_id()), 0);
  EXPECT_EQ(restarted->Terminate(), 0);
  EXPECT_NE(restarted->ReadLog().find("event=node.stopped"), std::string::npos);
}

}  // namespace
}  // namespace tongban::testing
