// Live status (issue 12) across real provinces behind a real gateway: a
// citizen files at Hunan (430000) for Shanghai's (310000) 社会保障卡申领
// through the public gRPC API and watches it (WatchMyApplication). Shanghai's
// officer accepts it: the watch receives Shanghai's ACCEPT event, relayed
// from Hunan's node, which got it through the outbox. The gateway is then
// SIGKILLed; while it is down Shanghai starts the review (its outbox waits
// for the gateway); the gateway restarts and the client resumes from its last
// sequence: it receives START_REVIEW and the later APPROVE, and the two
// streams together are exactly Hunan's history, in order — nothing twice,
// nothing missed. Heartbeats carry the resume point. Then the bounds and
// rules: a citizen's watch limit (RESOURCE_EXHAUSTED naming it), another
// citizen's application (NOT_FOUND), a malformed id (INVALID_ARGUMENT naming
// application_id), an officer's WatchApplication on the handling node (the
// internal API) and another province's officer refused there.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "citizen_token.h"
#include "federation.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Token(const std::string& citizen) { return TestCitizenToken(citizen); }

// One WatchMyApplication stream read on its own thread; the test waits on
// what it received (no sleeping).
class Watcher {
 public:
  Watcher(v1::CitizenService::Stub* api, const std::string& citizen, const std::string& id,
          int64_t after) {
    ctx_.AddMetadata("authorization", "Bearer " + Token(citizen));
    ctx_.set_deadline(DeadlineIn(120000));
    v1::WatchMyApplicationRequest req;
    req.set_application_id(id);
    req.set_after_sequence(after);
    reader_ = api->WatchMyApplication(&ctx_, req);
    thread_ = std::thread([this] {
      v1::WatchMyApplicationResponse m;
      while (reader_->Read(&m)) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(m);
        cv_.notify_all();
      }
      grpc::Status s = reader_->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      status_ = s;
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }

  // Waits until a message satisfies `pred` (or the stream ends / 60 s pass).
  bool WaitFor(const std::function<bool(const v1::WatchMyApplicationResponse&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(60), [&] {
      for (const auto& m : messages_) {
        if (pred(m)) return true;
      }
      return ended_;
    }) && std::any_of(messages_.begin(), messages_.end(), pred);
  }
  bool WaitEnded() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(60), [&] { return ended_; });
  }
  std::vector<v1::WatchMyApplicationResponse> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchMyApplicationResponse>> reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::WatchMyApplicationResponse> messages_;
  grpc::Status status_;
  bool ended_ = false;
  std::thread thread_;
};

auto HasAction(v1::ApplicationAction action, const std::string& province) {
  return [action, province](const v1::WatchMyApplicationResponse& m) {
    return m.has_event() && m.event().action() == action && m.event().province_code() == province;
  };
}

class LiveStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "live-status";
    options.provinces = {kHunan, kShanghai};
    options.public_edge = true;
    options.public_edge_extra = {"watch_heartbeat_seconds: 1", "max_watches_per_citizen: 3"};
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << "the federation did not start: " << error;
    Connect();
    citizen_ = MakeResidentId("43010219900307051");
  }
  void TearDown() override { KeepForPostMortem(federation_.get(), HasFailure()); }

  // The public gRPC edge's address changes with each gateway start.
  void Connect() {
    ASSERT_FALSE(federation_->public_grpc_address().empty()) << "no public gRPC edge";
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = Slurp(CertsDir() + "/ca/ca.pem");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    api_ = v1::CitizenService::NewStub(grpc::CreateCustomChannel(federation_->public_grpc_address(),
                                                                 grpc::SslCredentials(tls), args));
  }

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& node,
                                                     const std::string& officer_of) {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(node), Officer(officer_of)));
  }

  grpc::Status Get(const std::string& province, const std::string& id, v1::Application* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = Apps(province, province)->GetApplication(&ctx, req, &resp);
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
    return Apps(kShanghai, kShanghai)->DecideApplication(&ctx, req, &resp);
  }

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
    grpc::Status s = api_->SubmitMyApplication(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    const std::string id = resp.application().application_id();
    v1::Application at_shanghai;
    EXPECT_TRUE(WaitUntil(seconds(30), [&] { return Get(kShanghai, id, &at_shanghai).ok(); }))
        << "never delivered to 310000";
    return id;
  }

  std::unique_ptr<Federation> federation_;
  std::unique_ptr<v1::CitizenService::Stub> api_;
  std::string citizen_;
};

TEST_F(LiveStatusTest, WatchSeesTheOtherProvincesDecisionAndResumesAfterAGatewayRestart) {
  const std::string id = FileThroughTheApp("live-0001");
  ASSERT_FALSE(id.empty());

  auto first = std::make_unique<Watcher>(api_.get(), citizen_, id, 0);
  // The history so far: Hunan's SUBMIT, then Shanghai's DELIVER once it came back.
  ASSERT_TRUE(first->WaitFor(HasAction(v1::APPLICATION_ACTION_SUBMIT, kHunan)));
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_ACCEPT).ok());
  ASSERT_TRUE(first->WaitFor(HasAction(v1::APPLICATION_ACTION_ACCEPT, kShanghai)))
      << "the decision made at 310000 never reached the watch: " << first->status().error_message();
  // Heartbeats (every second here) name the last sequence sent.
  ASSERT_TRUE(
      first->WaitFor([](const v1::WatchMyApplicationResponse& m) { return m.heartbeat(); }));

  // The gateway dies: the watch ends UNAVAILABLE; the client keeps its last
  // sequence.
  federation_->KillGateway();
  ASSERT_TRUE(first->WaitEnded());
  EXPECT_EQ(first->status().error_code(), StatusCode::UNAVAILABLE)
      << first->status().error_message();
  int64_t last = 0;
  std::vector<v1::WatchMyApplicationResponse> before = first->messages();
  for (const auto& m : before) {
    if (m.heartbeat()) {
      EXPECT_EQ(m.sequence(), last) << "a heartbeat names the last sequence sent";
      EXPECT_FALSE(m.has_event());
    } else {
      EXPECT_EQ(m.sequence(), last + 1) << "sequences are consecutive";
      last = m.sequence();
    }
  }
  first.reset();

  // Decided while the gateway is down: Shanghai's outbox waits for it.
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_START_REVIEW).ok());
  std::string error;
  ASSERT_TRUE(federation_->RestartGateway(&error)) << error;
  Connect();
  auto second = std::make_unique<Watcher>(api_.get(), citizen_, id, last);
  ASSERT_TRUE(second->WaitFor(HasAction(v1::APPLICATION_ACTION_START_REVIEW, kShanghai)))
      << second->status().error_message();
  ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_APPROVE).ok());
  ASSERT_TRUE(second->WaitFor(HasAction(v1::APPLICATION_ACTION_APPROVE, kShanghai)))
      << second->status().error_message();
  second->Cancel();
  ASSERT_TRUE(second->WaitEnded());

  // Both streams together: exactly Hunan's history, in order.
  std::vector<std::string> seen;
  for (const auto& m : before) {
    if (!m.heartbeat()) seen.push_back(m.event().event_id());
  }
  int64_t next = last + 1;  // resumed right after the last sequence received
  for (const auto& m : second->messages()) {
    if (m.heartbeat()) {
      EXPECT_EQ(m.sequence(), next - 1);
      continue;
    }
    EXPECT_EQ(m.sequence(), next++);
    seen.push_back(m.event().event_id());
  }
  v1::Application at_hunan;
  ASSERT_TRUE(Get(kHunan, id, &at_hunan).ok());
  std::vector<std::string> history;
  for (const auto& e : at_hunan.events()) history.push_back(e.event_id());
  EXPECT_EQ(seen, history) << "nothing twice, nothing missed";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
  EXPECT_EQ(at_hunan.state(), v1::APPLICATION_STATE_APPROVED);
}

TEST_F(LiveStatusTest, WatchesAreBoundedPerCitizenAndFollowTheReadRules) {
  const std::string id = FileThroughTheApp("live-0002");
  ASSERT_FALSE(id.empty());
  std::vector<std::unique_ptr<Watcher>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<Watcher>(api_.get(), citizen_, id, 0));
    ASSERT_TRUE(open.back()->WaitFor(HasAction(v1::APPLICATION_ACTION_SUBMIT, kHunan)));
  }
  Watcher fourth(api_.get(), citizen_, id, 0);
  ASSERT_TRUE(fourth.WaitEnded());
  EXPECT_EQ(fourth.status().error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(fourth.status().error_message().find("public_edge.max_watches_per_citizen = 3"),
            std::string::npos)
      << fourth.status().error_message();
  // The metrics see them.
  const std::string metrics = HttpGet(federation_->gateway_metrics_address(), "/metrics");
  EXPECT_EQ(MetricValue(metrics, "tongban_edge_watches_open"), 3) << metrics;
  EXPECT_EQ(MetricValue(metrics, "tongban_edge_watch_refused_total{limit=\"per_citizen\"}"), 1);
  EXPECT_EQ(MetricValue(HttpGet(federation_->node_metrics_address(kHunan), "/metrics"),
                        "tongban_watch_streams_open"),
            3);
  open.clear();

  // Someone else's application is not found; a malformed id names the field.
  Watcher other(api_.get(), MakeResidentId("11010119900307447"), id, 0);
  ASSERT_TRUE(other.WaitEnded());
  EXPECT_EQ(other.status().error_code(), StatusCode::NOT_FOUND) << other.status().error_message();
  Watcher malformed(api_.get(), citizen_, "TB-1", 0);
  ASSERT_TRUE(malformed.WaitEnded());
  EXPECT_EQ(malformed.status().error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(malformed.status().error_message().find("application_id"), std::string::npos)
      << malformed.status().error_message();
  Watcher negative(api_.get(), citizen_, id, -1);
  ASSERT_TRUE(negative.WaitEnded());
  EXPECT_EQ(negative.status().error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(negative.status().error_message().find("after_sequence"), std::string::npos);

  // The internal API: Shanghai's officer watches at Shanghai's node and sees
  // the decision; the sequences are Shanghai's own history.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(60000));
    v1::WatchApplicationRequest req;
    req.set_application_id(id);
    auto stub = Apps(kShanghai, kShanghai);
    auto reader = stub->WatchApplication(&ctx, req);
    v1::WatchApplicationResponse m;
    ASSERT_TRUE(reader->Read(&m)) << reader->Finish().error_message();
    EXPECT_EQ(m.sequence(), 1);
    ASSERT_TRUE(Decide(id, v1::APPLICATION_ACTION_ACCEPT).ok());
    bool accepted = false;
    while (!accepted && reader->Read(&m)) {
      accepted = m.has_event() && m.event().action() == v1::APPLICATION_ACTION_ACCEPT;
    }
    EXPECT_TRUE(accepted);
    ctx.TryCancel();
    reader->Finish();
  }
  // Hunan's officer may not watch at Shanghai's node (officers work at their own).
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::WatchApplicationRequest req;
    req.set_application_id(id);
    auto stub = Apps(kShanghai, kHunan);
    auto reader = stub->WatchApplication(&ctx, req);
    v1::WatchApplicationResponse m;
    EXPECT_FALSE(reader->Read(&m));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  // A resume point beyond the node's history is refused, naming it.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::WatchApplicationRequest req;
    req.set_application_id(id);
    req.set_after_sequence(1000);
    auto stub = Apps(kShanghai, kShanghai);
    auto reader = stub->WatchApplication(&ctx, req);
    v1::WatchApplicationResponse m;
    EXPECT_FALSE(reader->Read(&m));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), StatusCode::OUT_OF_RANGE) << s.error_message();
    EXPECT_NE(s.error_message().find("after_sequence 1000"), std::string::npos);
  }
}

}  // namespace
}  // namespace tongban::testing
