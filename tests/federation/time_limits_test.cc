// Time-limit clocks (docs/time-limits.md) across two real provinces behind a
// real gateway: an application filed at Hunan (430000) for Shanghai's
// (310000) 社会保障卡申领 (法定 30, 承诺 20 working days). The handling officer
// pauses and resumes the clocks (补正, special procedure), an approver
// extends the legal limit, and after each step the accepting node answers
// exactly the clocks the handling node answers. Then Shanghai is restarted
// "later" on the same database (--test_only_clock_offset_seconds): the
// overdue gauge, the overdue list and the optional auto-escalation to the
// 办不成事 queue.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "child_process.h"
#include "federation.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
// Shanghai's node lists officer-02 in time_limits.extension_approvers;
// officer-01 is an ordinary officer.
constexpr char kApprover[] = "officer-02";
const std::string kApproversFlag = std::string("--extension_approvers=") + kApprover;
constexpr char kOverdueLegal[] = "tongban_applications_overdue{clock=\"legal\"}";
constexpr char kEscalations[] = "tongban_clocks_overdue_escalations_total";

std::string Officer(const std::string& province, const std::string& id = "officer-01") {
  return "province/" + province + "/officer/" + id;
}

bool SameClocks(const v1::Application& a, const v1::Application& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a.clocks(), b.clocks());
}

class TimeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "time-limits";
    options.provinces = {kHunan, kShanghai};
    options.node_flags[kShanghai] = {kApproversFlag};
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << "the federation did not start: " << error;
  }
  void TearDown() override { KeepForPostMortem(federation_.get(), HasFailure()); }

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& province,
                                                     const std::string& officer = "officer-01") {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province, officer)));
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

  // DecideApplication at Shanghai (the handling node) as `officer`.
  grpc::Status Decide(const std::string& id, v1::ApplicationAction action,
                      const std::string& officer = "officer-01",
                      v1::SpecialProcedureKind kind = v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED,
                      int extension_days = 0, v1::Application* out = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note(absl::StrCat(v1::ApplicationAction_Name(action), " by the test"));
    req.set_special_procedure(kind);
    req.set_extension_days(extension_days);
    v1::DecideApplicationResponse resp;
    grpc::Status s = Apps(kShanghai, officer)->DecideApplication(&ctx, req, &resp);
    if (s.ok() && out != nullptr) *out = resp.application();
    return s;
  }

  // Files the 社保卡 item at Hunan for Shanghai with every material, waits
  // for Shanghai's copy and has Shanghai's officer accept it (受理: the
  // clocks start). Returns the id.
  std::string FileAndAccept(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::SubmitApplicationResponse resp;
    grpc::Status s = Apps(kHunan)->SubmitApplication(
        &ctx, Submission(key, kSocialSecurityCard, kShanghai, {"M01", "M02", "M03", "M09"}), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    const std::string id = resp.application().application_id();
    EXPECT_FALSE(resp.application().clocks().started())
        << "the accepting window's SUBMIT is not 受理";
    v1::Application at_shanghai;
    EXPECT_TRUE(WaitUntil(seconds(30),
                          [&] {
                            return Get(kShanghai, id, &at_shanghai).ok() &&
                                   at_shanghai.state() == v1::APPLICATION_STATE_RECEIVED;
                          }))
        << "never delivered to 310000: " << at_shanghai.ShortDebugString();
    EXPECT_FALSE(at_shanghai.clocks().started()) << "RECEIVED (接件) is before 受理";
    s = Decide(id, v1::APPLICATION_ACTION_ACCEPT);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  // Waits until Hunan holds every event Shanghai holds, then asserts both
  // nodes answer the same clocks; returns Shanghai's copy.
  v1::Application InStep(const std::string& id) {
    v1::Application at_shanghai, at_hunan;
    const bool same = WaitUntil(seconds(30), [&] {
      return Get(kShanghai, id, &at_shanghai).ok() && Get(kHunan, id, &at_hunan).ok() &&
             at_hunan.events_size() == at_shanghai.events_size() &&
             SameClocks(at_hunan, at_shanghai);
    });
    EXPECT_TRUE(same) << "Hunan never caught up:\n  310000 "
                      << at_shanghai.clocks().ShortDebugString() << " ("
                      << at_shanghai.events_size() << " events)\n  430000 "
                      << at_hunan.clocks().ShortDebugString() << " (" << at_hunan.events_size()
                      << " events)";
    return at_shanghai;
  }

  std::string Metrics(const std::string& province) {
    return HttpGet(federation_->node_metrics_address(province), "/metrics");
  }

  // Restarts Shanghai on the same database with its clock moved 15 days
  // past `due_date` (China civil date), plus `flags`.
  void RestartShanghaiAfter(const std::string& due_date, std::vector<std::string> flags) {
    absl::Time due;
    std::string err;
    ASSERT_TRUE(absl::ParseTime("%Y-%m-%d", due_date, absl::FixedTimeZone(8 * 3600), &due, &err))
        << due_date << ": " << err;
    const int64_t offset = absl::ToInt64Seconds(due + absl::Hours(24 * 15) - absl::Now());
    ASSERT_GT(offset, 0) << due_date;
    flags.push_back(kApproversFlag);
    flags.push_back(absl::StrCat("--test_only_clock_offset_seconds=", offset));
    federation_->SetNodeFlags(kShanghai, flags);
    std::string error;
    ASSERT_TRUE(federation_->RestartNode(kShanghai, &error)) << error;
  }

  std::vector<std::string> ListOverdue(v1::ClockKind clock) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::ListOverdueApplicationsRequest req;
    req.set_clock(clock);
    v1::ListOverdueApplicationsResponse resp;
    grpc::Status s = Apps(kShanghai)->ListOverdueApplications(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> ids;
    for (const auto& a : resp.applications()) {
      EXPECT_TRUE(a.clocks().legal_overdue()) << a.clocks().ShortDebugString();
      EXPECT_EQ(a.events_size(), 0) << "the list leaves the events out";
      ids.push_back(a.application_id());
    }
    return ids;
  }

  std::vector<std::string> OpenEscalations() {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::ListEscalationsResponse resp;
    grpc::Status s = Apps(kShanghai)->ListEscalations(&ctx, v1::ListEscalationsRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> ids;
    for (const auto& e : resp.escalations()) ids.push_back(e.application_id());
    return ids;
  }

  // tongbanctl overdue <args...> against Shanghai's node as `identity`.
  ProcessResult Ctl(std::vector<std::string> args,
                    const std::string& identity = Officer(kShanghai)) {
    std::vector<std::string> argv = {TONGBAN_TONGBANCTL, "overdue"};
    argv.insert(argv.end(), args.begin(), args.end());
    for (std::string& flag : TongbanctlNodeFlags(*federation_, kShanghai, identity)) {
      argv.push_back(std::move(flag));
    }
    return RunProcess(argv, {}, seconds(30));
  }

  std::unique_ptr<Federation> federation_;
};

TEST_F(TimeLimitsTest, ClocksPauseResumeAndExtendAlikeAtBothProvincesThenRunOut) {
  const std::string id = FileAndAccept("clocks-0001");
  ASSERT_FALSE(HasFailure());
  v1::Application app = InStep(id);
  ASSERT_EQ(app.state(), v1::APPLICATION_STATE_ACCEPTED);
  ASSERT_TRUE(app.clocks().started()) << app.clocks().ShortDebugString();
  EXPECT_EQ(app.clocks().limits().legal_days(), 30);
  EXPECT_EQ(app.clocks().limits().promised_days(), 20);
  EXPECT_EQ(app.clocks().paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED);
  EXPECT_FALSE(app.clocks().legal_overdue());
  EXPECT_FALSE(app.clocks().legal_due_date().empty());

  // 补正: the handling officer asks for materials — paused for the applicant.
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_START_REVIEW).ok());
  grpc::Status s = Decide(id, v1::APPLICATION_ACTION_REQUEST_MATERIALS);
  ASSERT_TRUE(s.ok()) << s.error_message();
  app = InStep(id);
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  EXPECT_EQ(app.clocks().paused(), v1::CLOCK_PAUSE_REASON_APPLICANT)
      << app.clocks().ShortDebugString();

  // The applicant supplements at the accepting window; Shanghai applies it
  // (its own SUPPLEMENT event) and the clocks run again at both ends.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::SupplementMaterialsRequest req;
    req.set_application_id(id);
    *req.add_materials() = Material("M02");
    req.set_note("补正: 新的申领登记表");
    v1::SupplementMaterialsResponse resp;
    s = Apps(kHunan)->SupplementMaterials(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::Application at_shanghai;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kShanghai, id, &at_shanghai).ok() &&
           at_shanghai.state() == v1::APPLICATION_STATE_IN_REVIEW;
  })) << at_shanghai.ShortDebugString();
  app = InStep(id);
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_IN_REVIEW);
  EXPECT_EQ(app.clocks().paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED)
      << app.clocks().ShortDebugString();

  // A special procedure (专家评审, 行政许可法 第四十五条): paused, then resumed.
  s = Decide(id, v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE, "officer-01",
             v1::SPECIAL_PROCEDURE_KIND_EXPERT_REVIEW);
  ASSERT_TRUE(s.ok()) << s.error_message();
  app = InStep(id);
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_IN_REVIEW) << "time-limit actions change no state";
  EXPECT_EQ(app.clocks().paused(), v1::CLOCK_PAUSE_REASON_SPECIAL_PROCEDURE)
      << app.clocks().ShortDebugString();
  EXPECT_EQ(app.clocks().special_procedure(), v1::SPECIAL_PROCEDURE_KIND_EXPERT_REVIEW);
  s = Decide(id, v1::APPLICATION_ACTION_END_SPECIAL_PROCEDURE);
  ASSERT_TRUE(s.ok()) << s.error_message();
  app = InStep(id);
  EXPECT_EQ(app.clocks().paused(), v1::CLOCK_PAUSE_REASON_UNSPECIFIED)
      << app.clocks().ShortDebugString();
  EXPECT_EQ(app.clocks().special_procedure(), v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED);

  // Extension (第四十二条, 负责人批准): an ordinary officer is refused by the
  // named rule and nothing changes; the configured approver extends.
  const int remaining = app.clocks().legal_remaining_working_days();
  const int events = app.events_size();
  s = Decide(id, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, "officer-01",
             v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED, 5);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("extension-approvers-only"), std::string::npos)
      << s.error_message();
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_EQ(at_shanghai.events_size(), events);
  EXPECT_EQ(at_shanghai.clocks().extension_days(), 0);

  s = Decide(id, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, kApprover,
             v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED, 5);
  ASSERT_TRUE(s.ok()) << s.error_message();
  app = InStep(id);
  EXPECT_EQ(app.clocks().extension_days(), 5);
  EXPECT_EQ(app.clocks().legal_remaining_working_days(), remaining + 5)
      << app.clocks().ShortDebugString();
  // Once only.
  s = Decide(id, v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT, kApprover,
             v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED, 1);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();

  // Nothing is overdue today...
  std::string metrics = Metrics(kShanghai);
  EXPECT_EQ(MetricValue(metrics, kOverdueLegal), 0) << metrics;
  EXPECT_TRUE(ListOverdue(v1::CLOCK_KIND_LEGAL).empty());
  ProcessResult ctl = Ctl({});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_NE(ctl.out.find("nothing overdue"), std::string::npos) << ctl.out;

  // ...but restarted past the (extended) legal due date, Shanghai's gauge
  // counts it from its first scrape (the monitor refreshes before the node
  // reports ready) and its overdue list names it.
  const std::string due = app.clocks().legal_due_date();
  RestartShanghaiAfter(due, {});
  ASSERT_FALSE(HasFailure());
  metrics = Metrics(kShanghai);
  EXPECT_GE(MetricValue(metrics, kOverdueLegal), 1) << metrics;
  EXPECT_EQ(ListOverdue(v1::CLOCK_KIND_LEGAL), std::vector<std::string>{id});
  EXPECT_EQ(ListOverdue(v1::CLOCK_KIND_UNSPECIFIED), std::vector<std::string>{id});
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_TRUE(at_shanghai.clocks().legal_overdue()) << at_shanghai.clocks().ShortDebugString();
  EXPECT_LT(at_shanghai.clocks().legal_remaining_working_days(), 0);
  EXPECT_EQ(at_shanghai.clocks().legal_due_date(), due) << "the due date does not move";
  // The same list for an officer's shell: tongbanctl overdue.
  ctl = Ctl({"--clock", "legal"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_NE(ctl.out.find(id), std::string::npos) << ctl.out;
  EXPECT_NE(ctl.out.find(due), std::string::npos) << ctl.out;
  EXPECT_NE(ctl.out.find("1 overdue"), std::string::npos) << ctl.out;
  ctl = Ctl({"--json"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_NE(ctl.out.find("\"legalOverdue\": true"), std::string::npos) << ctl.out;
  // Another province's officer is refused (exit 1, the status printed);
  // a missing connection flag is a usage error (exit 2).
  ctl = Ctl({}, Officer(kHunan));
  EXPECT_EQ(ctl.exit_code, 1) << ctl.out;
  EXPECT_NE(ctl.err.find("PERMISSION_DENIED"), std::string::npos) << ctl.err;
  ProcessResult usage =
      RunProcess({TONGBAN_TONGBANCTL, "overdue", "--clock", "late"}, {}, seconds(30));
  EXPECT_EQ(usage.exit_code, 2) << usage.out;
  EXPECT_NE(usage.err.find("--clock must be legal, promised or either"), std::string::npos)
      << usage.err;
  // Only the handling province counts it (a federation-wide sum counts each
  // application once).
  metrics = Metrics(kHunan);
  EXPECT_EQ(MetricValue(metrics, kOverdueLegal), 0) << metrics;
}

// time_limits.escalate_overdue: off (the default), an overdue case stays out
// of the 办不成事 queue; on, the handling node flags it at its refresh as an
// ESCALATE event of its own, counted, and the accepting node mirrors it.
TEST_F(TimeLimitsTest, OverdueCasesAreEscalatedOnlyWhenConfigured) {
  const std::string id = FileAndAccept("escalate-0001");
  ASSERT_FALSE(HasFailure());
  const v1::Application app = InStep(id);
  ASSERT_TRUE(app.clocks().started()) << app.clocks().ShortDebugString();
  const std::string due = app.clocks().legal_due_date();

  RestartShanghaiAfter(due, {});
  ASSERT_FALSE(HasFailure());
  std::string metrics = Metrics(kShanghai);
  EXPECT_GE(MetricValue(metrics, kOverdueLegal), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, kEscalations), 0) << metrics;
  EXPECT_TRUE(OpenEscalations().empty());
  v1::Application at_shanghai;
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_FALSE(at_shanghai.escalated());

  RestartShanghaiAfter(due, {"--escalate_overdue=true"});
  ASSERT_FALSE(HasFailure());
  metrics = Metrics(kShanghai);
  EXPECT_EQ(MetricValue(metrics, kEscalations), 1) << metrics;
  EXPECT_EQ(OpenEscalations(), std::vector<std::string>{id});
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_TRUE(at_shanghai.escalated());
  const v1::ApplicationEvent& last = at_shanghai.events(at_shanghai.events_size() - 1);
  EXPECT_EQ(last.action(), v1::APPLICATION_ACTION_ESCALATE) << last.ShortDebugString();
  EXPECT_EQ(last.actor(), absl::StrCat("spiffe://tongban/province/", kShanghai))
      << "escalated by the node, not an officer";
  EXPECT_EQ(last.province_code(), kShanghai);

  // The escalation flows to the accepting province like any other.
  v1::Application at_hunan;
  EXPECT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kHunan, id, &at_hunan).ok() && at_hunan.escalated();
  })) << at_hunan.ShortDebugString();

  // Flagged once: a later refresh (another restart) escalates nothing more.
  RestartShanghaiAfter(due, {"--escalate_overdue=true"});
  ASSERT_FALSE(HasFailure());
  metrics = Metrics(kShanghai);
  EXPECT_EQ(MetricValue(metrics, kEscalations), 0) << metrics;
  EXPECT_EQ(OpenEscalations(), std::vector<std::string>{id});
}

}  // namespace
}  // namespace tongban::testing
