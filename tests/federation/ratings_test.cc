// 好差评 across real provinces behind a real gateway (docs/ratings.md): a
// citizen files at Hunan (430000) for Shanghai's (310000) 社会保障卡申领
// through the public gRPC API; Shanghai decides; the citizen rates it 不满意
// (a 差评) through the public API; Hunan records the signed RATE event and
// forwards it; Shanghai stores the same event and opens a rectification with
// a deadline in working days; an officer records a 回访 and closes it; the
// gauges move and the gateway's statistics count the rating. Then forged
// ratings through the relay — from a third province (Sichuan, 510000), from
// the handling province, a second rating, a rating of an undecided case, an
// unknown level — are refused and nothing is written.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "citizen_token.h"
#include "federation.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "record_author.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/citizen.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"
#include "working_day_calendar.h"

namespace tongban::testing {
namespace {

using google::protobuf::util::TimeUtil;
using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kSichuan[] = "510000";
constexpr char kOpen[] = "tongban_rectifications_open";
constexpr char kOverdue[] = "tongban_rectifications_overdue";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }
std::string NodeIdentity(const std::string& p) { return "province/" + p + "/node"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Token(const std::string& citizen) { return TestCitizenToken(citizen); }

class RatingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "ratings";
    options.provinces = {kHunan, kShanghai, kSichuan};
    options.public_edge = true;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << "the federation did not start: " << error;
    ASSERT_FALSE(federation_->public_grpc_address().empty()) << "no public gRPC edge";
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = Slurp(CertsDir() + "/ca/ca.pem");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    citizen_api_ = v1::CitizenService::NewStub(grpc::CreateCustomChannel(
        federation_->public_grpc_address(), grpc::SslCredentials(tls), args));
    citizen_ = MakeResidentId("43010219900307051");
  }
  void TearDown() override {
    KeepForPostMortem(federation_.get(), HasFailure());
    ExpectEveryNodeRunning(federation_.get());
  }

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& province) {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
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

  grpc::Status Decide(const std::string& id, v1::ApplicationAction action) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note("checked");
    v1::DecideApplicationResponse resp;
    return Apps(kShanghai)->DecideApplication(&ctx, req, &resp);
  }

  grpc::Status RateMine(const std::string& id, int level, const std::string& comment,
                        v1::Application* out = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    ctx.AddMetadata("authorization", "Bearer " + Token(citizen_));
    v1::RateMyApplicationRequest req;
    req.set_application_id(id);
    req.set_level(static_cast<v1::SatisfactionLevel>(level));
    req.set_comment(comment);
    v1::RateMyApplicationResponse resp;
    grpc::Status s = citizen_api_->RateMyApplication(&ctx, req, &resp);
    if (s.ok() && out != nullptr) *out = resp.application();
    return s;
  }

  // Files the 社保卡 item through the public API (accepted at Hunan, handled
  // by Shanghai) and waits for Shanghai's copy; returns the id.
  std::string FileThroughTheApp(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    ctx.AddMetadata("authorization", "Bearer " + Token(citizen_));
    v1::SubmitMyApplicationRequest req;
    req.set_idempotency_key(key);
    req.set_accepting_province(kHunan);
    req.set_handling_province(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    req.mutable_applicant()->set_name("张三");
    for (const char* m : {"M01", "M02", "M03", "M09"}) *req.add_materials() = Material(m);
    v1::SubmitMyApplicationResponse resp;
    grpc::Status s = citizen_api_->SubmitMyApplication(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    const std::string id = resp.application().application_id();
    v1::Application at_shanghai;
    EXPECT_TRUE(WaitUntil(seconds(30), [&] { return Get(kShanghai, id, &at_shanghai).ok(); }))
        << "never delivered to 310000";
    return id;
  }

  // Waits until Hunan mirrors Shanghai's state.
  void WaitForHunanState(const std::string& id, v1::ApplicationState state) {
    v1::Application at_hunan;
    EXPECT_TRUE(WaitUntil(seconds(30), [&] {
      return Get(kHunan, id, &at_hunan).ok() && at_hunan.state() == state;
    })) << "Hunan never reached " << v1::ApplicationState_Name(state) << ": "
        << at_hunan.ShortDebugString();
  }

  grpc::Status Relay(const std::string& as, const v1::DeliverEventRequest& req) {
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), NodeIdentity(as)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DeliverEventResponse resp;
    return relay->DeliverEvent(&ctx, req, &resp);
  }

  double Metric(const std::string& province, const std::string& series) {
    return MetricValue(HttpGet(federation_->node_metrics_address(province), "/metrics"), series);
  }

  std::unique_ptr<Federation> federation_;
  std::unique_ptr<v1::CitizenService::Stub> citizen_api_;
  std::string citizen_;
};

TEST_F(RatingsTest, PoorRatingReachesTheHandlingProvinceAndIsRectified) {
  const std::string id = FileThroughTheApp("rating-poor-0001");
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_ACCEPT).ok());
  WaitForHunanState(id, v1::APPLICATION_STATE_ACCEPTED);

  // Not finished yet: nothing to rate.
  grpc::Status s = RateMine(id, 2, "");
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("ratings-by-accepting-province"), std::string::npos)
      << s.error_message();

  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_START_REVIEW).ok());
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_APPROVE).ok());
  WaitForHunanState(id, v1::APPLICATION_STATE_APPROVED);

  // Unknown levels are refused at once and never stored.
  for (int bad : {0, 6, 99}) {
    s = RateMine(id, bad, "");
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << bad << ": " << s.error_message();
  }
  s = RateMine(id, 2, std::string(501, 'x'));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();

  v1::Application rated;
  s = RateMine(id, 2, "材料被退回三次", &rated);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_TRUE(rated.rating().rated());
  EXPECT_EQ(rated.rating().level(), v1::SATISFACTION_LEVEL_DISSATISFIED);
  EXPECT_EQ(rated.rating().comment(), "材料被退回三次");
  const std::string event_id = rated.rating().event_id();
  EXPECT_EQ(event_id.rfind("430000-", 0), 0u) << event_id;
  EXPECT_EQ(rated.state(), v1::APPLICATION_STATE_APPROVED) << "RATE changes no state";

  // Once.
  s = RateMine(id, 5, "");
  EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS) << s.error_message();

  // The same signed event at Shanghai, and the rectification it opened.
  v1::Application at_hunan, at_shanghai;
  ASSERT_TRUE(Get(kHunan, id, &at_hunan).ok());
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kShanghai, id, &at_shanghai).ok() && at_shanghai.rating().rated();
  })) << "the rating never reached 310000: " << at_shanghai.ShortDebugString();
  const v1::ApplicationEvent* sent = nullptr;
  const v1::ApplicationEvent* received = nullptr;
  for (const auto& e : at_hunan.events()) {
    if (e.event_id() == event_id) sent = &e;
  }
  for (const auto& e : at_shanghai.events()) {
    if (e.event_id() == event_id) received = &e;
  }
  ASSERT_NE(sent, nullptr);
  ASSERT_NE(received, nullptr) << at_shanghai.ShortDebugString();
  EXPECT_EQ(received->action(), v1::APPLICATION_ACTION_RATE);
  EXPECT_EQ(received->satisfaction(), v1::SATISFACTION_LEVEL_DISSATISFIED);
  EXPECT_FALSE(received->signature().signature().empty()) << "a cross-province event is signed";
  EXPECT_EQ(received->SerializeAsString(), sent->SerializeAsString());
  EXPECT_EQ(received->actor(), "citizen:" + citizen_);

  ASSERT_TRUE(at_shanghai.has_rectification()) << at_shanghai.ShortDebugString();
  const v1::Rectification& r = at_shanghai.rectification();
  EXPECT_FALSE(at_hunan.has_rectification()) << "rectified by the handling province only";
  EXPECT_EQ(r.level(), v1::SATISFACTION_LEVEL_DISSATISFIED);
  EXPECT_EQ(r.rating_event_id(), event_id);
  EXPECT_EQ(r.working_days(), 5);
  EXPECT_FALSE(r.closed());
  EXPECT_FALSE(r.overdue());
  {
    absl::StatusOr<WorkingDayCalendar> calendar = WorkingDayCalendar::FromFiles(
        {std::string(TONGBAN_WORKING_DAYS_DIR) + "/cn-national.tsv"});
    ASSERT_TRUE(calendar.ok()) << calendar.status();
    const absl::Time opened =
        absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(r.opened_at()));
    const absl::CivilDay due = calendar->AddWorkingDays(ChinaCivilDay(opened), 5);
    EXPECT_EQ(r.due_date(), absl::FormatCivilTime(due)) << "5 working days after opening";
  }

  // Operators see it.
  EXPECT_EQ(Metric(kShanghai, kOpen), 1);
  EXPECT_EQ(Metric(kShanghai, kOverdue), 0);
  EXPECT_EQ(Metric(kHunan, kOpen), 0);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::ListRectificationsResponse list;
    ASSERT_TRUE(Apps(kShanghai)->ListRectifications(&ctx, {}, &list).ok());
    ASSERT_EQ(list.rectifications_size(), 1);
    EXPECT_EQ(list.rectifications(0).application_id(), id);
    grpc::ClientContext ctx2;
    ctx2.set_deadline(DeadlineIn(5000));
    v1::ListRectificationsRequest overdue_only;
    overdue_only.set_overdue_only(true);
    ASSERT_TRUE(Apps(kShanghai)->ListRectifications(&ctx2, overdue_only, &list).ok());
    EXPECT_EQ(list.rectifications_size(), 0);
  }

  // Closing needs a 回访 first, at the handling node only.
  auto close = [&](const std::string& province) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::CloseRectificationRequest req;
    req.set_application_id(id);
    req.set_outcome(v1::RECTIFICATION_OUTCOME_RECTIFIED);
    req.set_note("已向申请人说明并改进材料退回流程");
    v1::CloseRectificationResponse resp;
    grpc::Status st = Apps(province)->CloseRectification(&ctx, req, &resp);
    return std::make_pair(st, resp.rectification());
  };
  s = close(kShanghai).first;
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  s = close(kHunan).first;
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::RecordRectificationFollowUpRequest req;
    req.set_application_id(id);
    req.set_note("电话回访：申请人确认已收到社保卡，对改进表示认可");
    v1::RecordRectificationFollowUpResponse resp;
    s = Apps(kShanghai)->RecordRectificationFollowUp(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.rectification().follow_ups_size(), 1);
    EXPECT_EQ(resp.rectification().follow_ups(0).officer(),
              "spiffe://tongban/province/310000/officer/officer-01");
  }
  auto [closed_status, closed] = close(kShanghai);
  ASSERT_TRUE(closed_status.ok()) << closed_status.error_message();
  EXPECT_TRUE(closed.closed());
  EXPECT_EQ(closed.outcome(), v1::RECTIFICATION_OUTCOME_RECTIFIED);
  EXPECT_FALSE(closed.overdue());
  s = close(kShanghai).first;
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << "closed once";
  EXPECT_EQ(Metric(kShanghai, kOpen), 0);
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_TRUE(at_shanghai.rectification().closed()) << "kept with the application";

  // The gateway's statistics count it for Shanghai and the item.
  {
    auto query = v1::FederationQueryService::NewStub(
        FastChannel(federation_->gateway_address(), Officer(kHunan)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(20000));
    v1::GetSatisfactionStatsRequest req;
    *req.mutable_from() = TimeUtil::NanosecondsToTimestamp(
        absl::ToUnixNanos(absl::Now() - absl::Hours(24)));
    *req.mutable_to() = TimeUtil::NanosecondsToTimestamp(
        absl::ToUnixNanos(absl::Now() + absl::Hours(24)));
    v1::GetSatisfactionStatsResponse stats;
    s = query->GetSatisfactionStats(&ctx, req, &stats);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(stats.missing_provinces_size(), 0) << stats.ShortDebugString();
    ASSERT_EQ(stats.total().per_level_size(), 5);
    EXPECT_EQ(stats.total().per_level(1), 1) << stats.ShortDebugString();  // level 2
    EXPECT_EQ(stats.total().defaulted(), 0);
    EXPECT_DOUBLE_EQ(stats.total().satisfaction_rate(), 0.0);
    bool shanghai_counted = false;
    for (const auto& p : stats.provinces()) {
      if (p.province_code() == kShanghai) shanghai_counted = p.total().per_level(1) == 1;
      if (p.province_code() == kHunan) {
        EXPECT_EQ(p.total().per_level(1), 0) << "counted once";
      }
    }
    EXPECT_TRUE(shanghai_counted) << stats.ShortDebugString();
    ASSERT_EQ(stats.items_size(), 1) << stats.ShortDebugString();
    EXPECT_EQ(stats.items(0).item_code(), kSocialSecurityCard);

    grpc::ClientContext bad_ctx;
    bad_ctx.set_deadline(DeadlineIn(5000));
    v1::GetSatisfactionStatsRequest backwards = req;
    std::swap(*backwards.mutable_from(), *backwards.mutable_to());
    s = query->GetSatisfactionStats(&bad_ctx, backwards, &stats);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
}

TEST_F(RatingsTest, ForgedRatingsThroughTheRelayAreRefused) {
  const std::string id = FileThroughTheApp("rating-forged-01");
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_ACCEPT).ok());
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_START_REVIEW).ok());
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_DENY).ok());
  WaitForHunanState(id, v1::APPLICATION_STATE_DENIED);
  const std::string undecided = FileThroughTheApp("rating-forged-02");

  RecordAuthor hunan(kHunan), shanghai(kShanghai), sichuan(kSichuan);
  v1::Application at_shanghai, at_hunan;
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  ASSERT_TRUE(Get(kHunan, id, &at_hunan).ok());
  auto rate = [](RecordAuthor& author, const v1::Application& app, int level) {
    v1::DeliverEventRequest req =
        author.Event(app, v1::APPLICATION_ACTION_RATE, app.state(), app.state());
    req.mutable_event()->set_satisfaction(static_cast<v1::SatisfactionLevel>(level));
    author.Resign(app.application_id(), req.mutable_event());
    return req;
  };
  auto unchanged = [&](const std::string& province, const std::string& app_id, int events) {
    v1::Application now;
    ASSERT_TRUE(Get(province, app_id, &now).ok());
    EXPECT_EQ(now.events_size(), events) << "nothing may be written";
    EXPECT_FALSE(now.rating().rated());
    EXPECT_FALSE(now.has_rectification());
  };

  // A province with no part in the application.
  grpc::Status s = Relay(kSichuan, rate(sichuan, at_shanghai, 1));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  // The relay refuses it before any node sees it (a node would answer
  // origin-must-match).
  EXPECT_NE(s.error_message().find("party-provinces-only"), std::string::npos)
      << s.error_message();
  unchanged(kShanghai, id, at_shanghai.events_size());

  // The handling province speaking for the applicant.
  s = Relay(kShanghai, rate(shanghai, at_hunan, 1));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("ratings-by-accepting-province"), std::string::npos)
      << s.error_message();
  unchanged(kHunan, id, at_hunan.events_size());

  // The accepting province, correctly signed, but an unknown level.
  s = Relay(kHunan, rate(hunan, at_shanghai, 99));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = Relay(kHunan, rate(hunan, at_shanghai, 0));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  unchanged(kShanghai, id, at_shanghai.events_size());

  // ... a rating of a case Shanghai has not decided.
  v1::Application open_case;
  ASSERT_TRUE(Get(kShanghai, undecided, &open_case).ok());
  s = Relay(kHunan, rate(hunan, open_case, 1));
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("ratings-by-accepting-province"), std::string::npos)
      << s.error_message();
  unchanged(kShanghai, undecided, open_case.events_size());

  // ... and a second rating after a genuine one.
  s = Relay(kHunan, rate(hunan, at_shanghai, 1));
  ASSERT_TRUE(s.ok()) << "a well-formed rating of a denied case: " << s.error_message();
  ASSERT_TRUE(Get(kShanghai, id, &at_shanghai).ok());
  EXPECT_TRUE(at_shanghai.has_rectification()) << "a 差评 of a DENIED case is rectified too";
  s = Relay(kHunan, rate(hunan, at_shanghai, 5));
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  v1::Application after;
  ASSERT_TRUE(Get(kShanghai, id, &after).ok());
  EXPECT_EQ(after.events_size(), at_shanghai.events_size());
  EXPECT_EQ(after.rating().level(), v1::SATISFACTION_LEVEL_VERY_DISSATISFIED);
}

}  // namespace
}  // namespace tongban::testing
