// 多地联办 across real provinces behind a real gateway (docs/joint-handling.md).
//
// Pension transfer (企业职工基本养老保险关系转移接续, three steps): filed at a
// Hunan (430000) window for a worker moving from Guangdong (440000, 转出地)
// to Shanghai (310000, 转入地). Shanghai reviews and sends the 联系函 (step
// 1), Guangdong transfers record and funds (step 2), Shanghai closes (step
// 3); each decides only its own task. Hunan hangs while Shanghai approves
// step 1 and is SIGKILLed with the decisions undelivered; Guangdong is
// SIGKILLed right after its task arrives: every
// step is filed once, reaches its province once, and the joint application
// ends APPROVED with one history and clocks derived from the tasks.
//
// The same with Hunan as two replicas on one PostgreSQL database.
//
// 户口迁移 (two steps) with the destination at the accepting province
// itself: Hunan's own officers decide step 1 locally, Shanghai (迁出地)
// refuses step 2, and the joint application ends DENIED with nothing more
// started. Filings that name the roles wrongly are refused with the field.
// A withdrawal of the joint application withdraws its open task.
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "postgres_test_server.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kGuangdong[] = "440000";
constexpr char kPensionTransfer[] = "GG00010101";
constexpr char kHukouTransfer[] = "QR00070100";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }

v1::JointRoleAssignment Role(const std::string& role, const std::string& province) {
  v1::JointRoleAssignment a;
  a.set_role_id(role);
  a.set_province_code(province);
  return a;
}

class JointHandlingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "joint";
    options.provinces = {kHunan, kShanghai, kGuangdong};
    Configure(options);
    if (HasFatalFailure()) return;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << "the federation did not start: " << error;
  }
  void TearDown() override {
    KeepForPostMortem(federation_.get(), HasFailure());
    ExpectEveryNodeRunning(federation_.get());
  }

  // Changes the federation before it starts (the PostgreSQL variant).
  virtual void Configure(FederationOptions&) {}

  void RunPensionTransfer();

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& province) {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
  }

  grpc::Status Submit(const v1::SubmitApplicationRequest& req, v1::Application* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(15000));
    v1::SubmitApplicationResponse resp;
    grpc::Status s = Apps(kHunan)->SubmitApplication(&ctx, req, &resp);
    if (s.ok() && out != nullptr) *out = resp.application();
    return s;
  }

  grpc::Status Get(const std::string& province, const std::string& id, v1::Application* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = Apps(province)->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  }

  grpc::Status Decide(const std::string& province, const std::string& id,
                      v1::ApplicationAction action) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note(action == v1::APPLICATION_ACTION_DENY ? "原户籍信息与申请不符" : "核对无误");
    v1::DecideApplicationResponse resp;
    return Apps(province)->DecideApplication(&ctx, req, &resp);
  }

  // Accepts, reviews and approves a task at its handling province.
  void Approve(const std::string& province, const std::string& task) {
    for (auto action : {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_START_REVIEW,
                        v1::APPLICATION_ACTION_APPROVE}) {
      grpc::Status s = Decide(province, task, action);
      ASSERT_TRUE(s.ok()) << province << " " << v1::ApplicationAction_Name(action) << " " << task
                          << ": " << s.error_message();
    }
  }

  // Waits until the joint application at Hunan has a task for `step` (1-based)
  // and that task has reached its province; returns the task id.
  std::string WaitForTask(const std::string& joint_id, int step, const std::string& province) {
    v1::Application joint;
    std::string task;
    EXPECT_TRUE(WaitUntil(seconds(60), [&] {
      if (!Get(kHunan, joint_id, &joint).ok() || joint.joint().steps_size() < step) return false;
      task = joint.joint().steps(step - 1).task_application_id();
      v1::Application there;
      return !task.empty() && Get(province, task, &there).ok();
    })) << "step " << step << " never reached " << province << ": " << joint.ShortDebugString();
    return task;
  }

  v1::Application WaitForJointState(const std::string& joint_id, v1::ApplicationState state) {
    v1::Application joint;
    EXPECT_TRUE(WaitUntil(seconds(60), [&] {
      return Get(kHunan, joint_id, &joint).ok() && joint.state() == state;
    })) << "never " << v1::ApplicationState_Name(state) << ": " << joint.ShortDebugString();
    return joint;
  }

  // Every application of the applicant stored at `province`.
  std::vector<v1::Application> Stored(const std::string& province) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::ListApplicationsByApplicantRequest req;
    req.set_applicant_id_number(Applicant().id_number());
    req.set_page_size(200);
    v1::ListApplicationsByApplicantResponse resp;
    grpc::Status s = Apps(province)->ListApplicationsByApplicant(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.applications().begin(), resp.applications().end()};
  }

  void Restart(const std::string& province) {
    std::string error;
    ASSERT_TRUE(federation_->RestartNode(province, &error)) << province << ": " << error;
  }

  std::unique_ptr<Federation> federation_;
};

// Hunan, where the joint application and its coordinator live, as two node
// replicas on one PostgreSQL database: either replica may advance it, and
// both do (each delivered event lands at one of them, and both sweep).
class JointHandlingOnPostgresTest : public JointHandlingTest {
 protected:
  void Configure(FederationOptions& options) override {
    auto database = node::testing::ScratchPostgresDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    options.name = "joint-pg";
    options.postgres[kHunan] = database_->conninfo();
    options.replicas[kHunan] = 2;
  }
  void TearDown() override {
    JointHandlingTest::TearDown();
    federation_.reset();  // the nodes stop before their database goes
  }

  std::unique_ptr<node::testing::ScratchPostgresDatabase> database_;
};

TEST_F(JointHandlingTest, PensionTransferRunsItsThreeStepsThroughSigkills) { RunPensionTransfer(); }

TEST_F(JointHandlingOnPostgresTest, PensionTransferRunsItsThreeStepsAcrossTwoReplicas) {
  RunPensionTransfer();
}

void JointHandlingTest::RunPensionTransfer() {
  v1::SubmitApplicationRequest req =
      Submission("joint-pension-0001", kPensionTransfer, kShanghai, {"M01", "M02", "M03"});
  *req.add_joint_roles() = Role("transfer_in", kShanghai);
  *req.add_joint_roles() = Role("transfer_out", kGuangdong);
  v1::Application filed;
  grpc::Status s = Submit(req, &filed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string joint_id = filed.application_id();
  // The joint application stays at Hunan; the first step has started.
  EXPECT_EQ(joint_id.substr(0, 17), "TB-430000-430000-") << joint_id;
  ASSERT_EQ(filed.joint().steps_size(), 3);
  EXPECT_EQ(filed.joint().steps(0).province_code(), kShanghai);
  EXPECT_EQ(filed.joint().steps(1).province_code(), kGuangdong);
  EXPECT_EQ(filed.joint().steps(1).role_name_zh(), "转出地");
  EXPECT_FALSE(filed.joint().steps(0).task_application_id().empty());
  EXPECT_TRUE(filed.joint().steps(1).task_application_id().empty());
  EXPECT_EQ(filed.state(), v1::APPLICATION_STATE_RECEIVED);
  // Filing again with the same key files nothing new.
  v1::Application again;
  ASSERT_TRUE(Submit(req, &again).ok());
  EXPECT_EQ(again.application_id(), joint_id);

  // Step 1 at Shanghai, which may decide only its own task.
  const std::string step1 = WaitForTask(joint_id, 1, kShanghai);
  EXPECT_EQ(step1.substr(0, 17), "TB-430000-310000-");
  v1::Application task1;
  ASSERT_TRUE(Get(kShanghai, step1, &task1).ok());
  EXPECT_EQ(task1.filing().joint_task().joint_application_id(), joint_id);
  EXPECT_EQ(task1.filing().joint_task().step(), 1);
  EXPECT_EQ(Decide(kGuangdong, step1, v1::APPLICATION_ACTION_ACCEPT).error_code(),
            StatusCode::NOT_FOUND);
  s = Decide(kHunan, joint_id, v1::APPLICATION_ACTION_APPROVE);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find(step1), std::string::npos) << s.error_message();
  // The accepting node hangs while Shanghai decides, and dies with the
  // decisions still on their way to it.
  federation_->FreezeNode(kHunan);
  Approve(kShanghai, step1);
  // The step's clocks count against the step (15/10), not the item (45/30).
  ASSERT_TRUE(Get(kShanghai, step1, &task1).ok());
  EXPECT_EQ(task1.clocks().limits().legal_days(), 15);
  EXPECT_EQ(task1.clocks().limits().promised_days(), 10);
  federation_->KillNode(kHunan);
  Restart(kHunan);
  const std::string step2 = WaitForTask(joint_id, 2, kGuangdong);
  EXPECT_EQ(step2.substr(0, 17), "TB-430000-440000-");
  // And the transfer-out province dies with its task just arrived.
  federation_->KillNode(kGuangdong);
  Restart(kGuangdong);
  Approve(kGuangdong, step2);

  const std::string step3 = WaitForTask(joint_id, 3, kShanghai);
  EXPECT_NE(step3, step1);
  Approve(kShanghai, step3);
  const v1::Application joint = WaitForJointState(joint_id, v1::APPLICATION_STATE_APPROVED);

  // One history: every task event mirrored exactly once, in JOINT_STEP
  // events that name their step and task.
  std::set<std::string> mirrored;
  std::map<int, int> starts;
  for (const auto& e : joint.events()) {
    if (e.action() != v1::APPLICATION_ACTION_JOINT_STEP) continue;
    const auto& u = e.joint_step();
    EXPECT_TRUE(mirrored.insert(u.task_application_id() + "/" + u.task_event_id()).second)
        << "mirrored twice: " << e.ShortDebugString();
    if (u.task_event_id().empty()) ++starts[u.step()];
  }
  EXPECT_EQ(starts, (std::map<int, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(joint.events(joint.events_size() - 1).state_after(), v1::APPLICATION_STATE_APPROVED);
  for (const auto& step : joint.joint().steps()) {
    EXPECT_EQ(step.task_state(), v1::APPLICATION_STATE_APPROVED) << step.ShortDebugString();
    EXPECT_TRUE(step.task_clocks().stopped()) << step.ShortDebugString();
  }
  // Clocks derived from the tasks: the three steps' limits added up.
  EXPECT_TRUE(joint.clocks().started());
  EXPECT_TRUE(joint.clocks().stopped());
  EXPECT_EQ(joint.clocks().limits().legal_days(), 45);
  EXPECT_EQ(joint.clocks().limits().promised_days(), 30);
  EXPECT_FALSE(joint.clocks().legal_overdue());

  // Exactly once everywhere: Hunan keeps the joint application and its three
  // tasks; Shanghai has its two tasks, Guangdong its one.
  std::map<std::string, int> at_hunan;
  for (const auto& a : Stored(kHunan)) ++at_hunan[a.handling_province()];
  EXPECT_EQ(at_hunan, (std::map<std::string, int>{{kHunan, 1}, {kShanghai, 2}, {kGuangdong, 1}}));
  EXPECT_EQ(Stored(kShanghai).size(), 2u);
  EXPECT_EQ(Stored(kGuangdong).size(), 1u);
}

TEST_F(JointHandlingTest, HukouTransferDeniedAtTheOriginEndsTheJointApplication) {
  // Roles named wrongly are refused with the field, and nothing is stored.
  v1::SubmitApplicationRequest bad =
      Submission("joint-hukou-bad-01", kHukouTransfer, kHunan, {"M01", "M02", "M03"});
  *bad.add_joint_roles() = Role("move_in", kHunan);
  grpc::Status s = Submit(bad, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("joint_roles"), std::string::npos) << s.error_message();
  *bad.add_joint_roles() = Role("move_out", kHunan);
  s = Submit(bad, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("joint_roles[1].province_code"), std::string::npos)
      << s.error_message();
  bad.mutable_joint_roles(1)->set_province_code(kShanghai);
  bad.set_handling_province(kShanghai);
  s = Submit(bad, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("handling_province must be 430000"), std::string::npos)
      << s.error_message();
  v1::SubmitApplicationRequest single =
      Submission("joint-single-0001", kSocialSecurityCard, kShanghai, {"M01", "M02", "M03"});
  *single.add_joint_roles() = Role("move_in", kHunan);
  s = Submit(single, nullptr);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("joint_roles is only for 多地联办 items"), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(Stored(kHunan).empty());

  // Moving to Hunan from Shanghai, filed at Hunan: step 1 is Hunan's own task.
  v1::SubmitApplicationRequest req =
      Submission("joint-hukou-0001", kHukouTransfer, kHunan, {"M01", "M02", "M03"});
  *req.add_joint_roles() = Role("move_in", kHunan);
  *req.add_joint_roles() = Role("move_out", kShanghai);
  v1::Application filed;
  s = Submit(req, &filed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string joint_id = filed.application_id();
  const std::string step1 = filed.joint().steps(0).task_application_id();
  ASSERT_EQ(step1.substr(0, 17), "TB-430000-430000-") << filed.ShortDebugString();
  Approve(kHunan, step1);

  const std::string step2 = WaitForTask(joint_id, 2, kShanghai);
  ASSERT_TRUE(Decide(kShanghai, step2, v1::APPLICATION_ACTION_ACCEPT).ok());
  // The joint application is IN_REVIEW from step 1's approval on (past its
  // first stage): wait for Shanghai's ACCEPT itself to reach Hunan.
  v1::Application reviewing;
  EXPECT_TRUE(WaitUntil(seconds(60), [&] {
    return Get(kHunan, joint_id, &reviewing).ok() &&
           reviewing.joint().steps(1).task_state() == v1::APPLICATION_STATE_ACCEPTED;
  })) << reviewing.ShortDebugString();
  EXPECT_EQ(reviewing.state(), v1::APPLICATION_STATE_IN_REVIEW);
  ASSERT_TRUE(Decide(kShanghai, step2, v1::APPLICATION_ACTION_START_REVIEW).ok());
  ASSERT_TRUE(Decide(kShanghai, step2, v1::APPLICATION_ACTION_DENY).ok());
  const v1::Application joint = WaitForJointState(joint_id, v1::APPLICATION_STATE_DENIED);
  EXPECT_TRUE(joint.clocks().stopped());
  EXPECT_EQ(joint.clocks().limits().legal_days(), 30);
  // The refusal is in the one history, with Shanghai's reason.
  bool seen = false;
  for (const auto& e : joint.events()) {
    seen |= e.joint_step().task_action() == v1::APPLICATION_ACTION_DENY &&
            e.note().find("原户籍信息与申请不符") != std::string::npos;
  }
  EXPECT_TRUE(seen) << joint.ShortDebugString();
  // Withdrawing a finished joint application is refused.
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(5000));
  v1::WithdrawApplicationRequest withdraw;
  withdraw.set_application_id(joint_id);
  v1::WithdrawApplicationResponse withdrawn;
  EXPECT_EQ(Apps(kHunan)->WithdrawApplication(&ctx, withdraw, &withdrawn).error_code(),
            StatusCode::FAILED_PRECONDITION);
  // Two tasks filed in all, nothing more started; the operators' counter agrees.
  EXPECT_EQ(Stored(kHunan).size(), 3u);
  EXPECT_EQ(MetricValue(HttpGet(federation_->node_metrics_address(kHunan), "/metrics"),
                        "tongban_joint_steps_started_total"),
            2);
  EXPECT_EQ(MetricValue(HttpGet(federation_->node_metrics_address(kHunan), "/metrics"),
                        "tongban_joint_advance_failures_total"),
            0);
}

// The applicant withdraws the joint application while Shanghai has step 1:
// the task is withdrawn at Shanghai (which decides it still applies), the
// joint application ends WITHDRAWN, and no further step starts.
TEST_F(JointHandlingTest, WithdrawingTheJointApplicationWithdrawsItsOpenTask) {
  v1::SubmitApplicationRequest req =
      Submission("joint-withdraw-01", kPensionTransfer, kShanghai, {"M01", "M02", "M03"});
  *req.add_joint_roles() = Role("transfer_in", kShanghai);
  *req.add_joint_roles() = Role("transfer_out", kGuangdong);
  v1::Application filed;
  ASSERT_TRUE(Submit(req, &filed).ok());
  const std::string joint_id = filed.application_id();
  const std::string step1 = WaitForTask(joint_id, 1, kShanghai);
  ASSERT_TRUE(Decide(kShanghai, step1, v1::APPLICATION_ACTION_ACCEPT).ok());

  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(10000));
  v1::WithdrawApplicationRequest withdraw;
  withdraw.set_application_id(joint_id);
  withdraw.set_reason("已在转入地另行办理");
  v1::WithdrawApplicationResponse resp;
  grpc::Status s = Apps(kHunan)->WithdrawApplication(&ctx, withdraw, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.application().joint().withdrawn());

  const v1::Application joint = WaitForJointState(joint_id, v1::APPLICATION_STATE_WITHDRAWN);
  v1::Application at_shanghai;
  ASSERT_TRUE(Get(kShanghai, step1, &at_shanghai).ok());
  EXPECT_EQ(at_shanghai.state(), v1::APPLICATION_STATE_WITHDRAWN);
  EXPECT_TRUE(joint.joint().steps(1).task_application_id().empty());
  EXPECT_TRUE(Stored(kGuangdong).empty());
}

}  // namespace
}  // namespace tongban::testing
