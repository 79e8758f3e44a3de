// Start-up, shutdown and crash behaviour of a real node process.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include <sqlite3.h>

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


// Rows already holding a value no enum knows (written by a buggy or newer
// version, or by hand) must not crash the node: not at start-up, not when
// read, listed or counted, not when a transition is refused (issue 10: the
// refusal message threw std::out_of_range and the node aborted at every
// restart).
TEST(NodeLifecycleTest, PoisonedRowsDoNotCrashTheNode) {
  const std::string dir = MakeTempDir("node-poisoned");
  NodeOptions options;
  options.province = "430000";
  options.database_path = dir + "/node.db";
  auto node = NodeProcess::Start(options, dir + "/run1");
  ASSERT_TRUE(node->running()) << node->ReadLog();
  Identity officer = IdentityAt("province/430000/officer/officer-01");
  std::string id;
  {
    auto apps = v1::ApplicationService::NewStub(MakeChannel(node->grpc_address(), &officer));
    grpc::ClientContext ctx;
    v1::SubmitApplicationResponse resp;
    ASSERT_TRUE(apps->SubmitApplication(&ctx,
                                        Submission("poison-1", kSocialSecurityCard, "430000",
                                                   {"M01", "M02", "M03"}),
                                        &resp)
                    .ok());
    id = resp.application().application_id();
  }
  ASSERT_EQ(node->Terminate(), 0);

  // Poison the row and its event behind the node's back.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options.database_path.c_str(), &db), SQLITE_OK);
  auto rewrite = [&](const char* select, const char* update, auto&& change) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, select, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    std::string blob(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                     sqlite3_column_bytes(stmt, 0));
    sqlite3_finalize(stmt);
    blob = change(blob);
    ASSERT_EQ(sqlite3_prepare_v2(db, update, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_bind_blob(stmt, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, id.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
  };
  rewrite("SELECT application FROM applications WHERE application_id = ?",
          "UPDATE applications SET application = ?, state = 99 WHERE application_id = ?",
          [](const std::string& bytes) {
            v1::Application a;
            EXPECT_TRUE(a.ParseFromString(bytes));
            a.set_state(static_cast<v1::ApplicationState>(99));
            return a.SerializeAsString();
          });
  rewrite("SELECT event FROM application_events WHERE application_id = ? AND ordinal = 0",
          "UPDATE application_events SET event = ? WHERE application_id = ? AND ordinal = 0",
          [](const std::string& bytes) {
            v1::ApplicationEvent e;
            EXPECT_TRUE(e.ParseFromString(bytes));
            e.set_state_after(static_cast<v1::ApplicationState>(99));
            e.set_action(static_cast<v1::ApplicationAction>(77));
            return e.SerializeAsString();
          });
  sqlite3_close(db);

  auto restarted = NodeProcess::Start(options, dir + "/run2");
  ASSERT_TRUE(restarted->running()) << restarted->ReadLog();
  auto apps = v1::ApplicationService::NewStub(MakeChannel(restarted->grpc_address(), &officer));
  {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = apps->GetApplication(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(static_cast<int>(resp.application().state()), 99);
  }
  {
    grpc::ClientContext ctx;
    v1::ListApplicationsByApplicantRequest req;
    req.set_applicant_id_number(Applicant().id_number());
    v1::ListApplicationsByApplicantResponse resp;
    grpc::Status s = apps->ListApplicationsByApplicant(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.applications_size(), 1);
  }
  for (v1::ApplicationAction action : {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_APPROVE}) {
    grpc::ClientContext ctx;
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note("n");
    v1::DecideApplicationResponse resp;
    grpc::Status s = apps->DecideApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_NE(s.error_message().find("UNKNOWN(99)"), std::string::npos) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::WithdrawApplicationRequest req;
    req.set_application_id(id);
    v1::WithdrawApplicationResponse resp;
    EXPECT_EQ(apps->WithdrawApplication(&ctx, req, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  EXPECT_FALSE(HttpGet(restarted->metrics_address(), "/metrics").empty());
  EXPECT_TRUE(restarted->running());
  EXPECT_EQ(restarted->Terminate(), 0) << restarted->ReadLog();
}

}  // namespace
}  // namespace tongban::testing
