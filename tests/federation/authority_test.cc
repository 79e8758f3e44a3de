// The authority matrix of federation messages (docs/protocol.md, "Authority
// of federation messages") against real processes with real certificates:
// every message is sent through the real gateway relay with a province
// node's certificate (so the gateway stamps the verified origin), signed by
// the test with that province's node key, and each refusal leaves nothing
// written. Includes the two attacks of issue 10: the accepting province
// approving the handling province's case, and a state_after of 99.
//
// Provinces: 430000 Hunan (accepting window), 310000 Shanghai (handling),
// 510000 Sichuan (a third province with no part in these applications).
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "child_process.h"
#include "federation.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "record_author.h"
#include "record_signing.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kSichuan[] = "510000";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }
std::string NodeIdentity(const std::string& p) { return "province/" + p + "/node"; }

class AuthorityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FederationOptions options;
    options.name = "authority";
    options.provinces = {kHunan, kShanghai, kSichuan};
    federation_ = new Federation(options);
    start_error_ = new std::string();
    if (!federation_->Start(start_error_)) return;
    hunan_ = new RecordAuthor(kHunan);
    shanghai_ = new RecordAuthor(kShanghai);
    sichuan_ = new RecordAuthor(kSichuan);
  }
  static void TearDownTestSuite() {
    delete federation_;
    delete start_error_;
    delete hunan_;
    delete shanghai_;
    delete sichuan_;
  }
  void SetUp() override {
    ASSERT_TRUE(start_error_->empty()) << "the federation did not start: " << *start_error_;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
    }
    // A refused message must never cost a node its life.
    for (const std::string& p : federation_->provinces()) {
      EXPECT_TRUE(federation_->node_running(p)) << p << " died";
    }
  }

  // A fresh id of an application Hunan "accepted" for Shanghai that the real
  // Hunan node never filed (its sequence numbers stay far below).
  static std::string NewForeignId() {
    static std::atomic<int> n{0};
    return absl::StrCat("TB-430000-310000-20261205-9", absl::Dec(1000000 + ++n, absl::kZeroPad7));
  }

  static grpc::Status DeliverApp(const std::string& as, const v1::DeliverApplicationRequest& req) {
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), NodeIdentity(as)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DeliverApplicationResponse resp;
    return relay->DeliverApplication(&ctx, req, &resp);
  }
  static grpc::Status DeliverEvent(const std::string& as, const v1::DeliverEventRequest& req) {
    auto relay = v1::FederationService::NewStub(
        FastChannel(federation_->gateway_address(), NodeIdentity(as)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DeliverEventResponse resp;
    return relay->DeliverEvent(&ctx, req, &resp);
  }
  static grpc::Status Get(const std::string& province, const std::string& id, v1::Application* out) {
    auto apps = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = apps->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  }
  static grpc::Status Decide(const std::string& province, const std::string& id,
                             v1::ApplicationAction action, v1::Application* out = nullptr) {
    auto apps = v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note("checked");
    v1::DecideApplicationResponse resp;
    grpc::Status s = apps->DecideApplication(&ctx, req, &resp);
    if (s.ok() && out != nullptr) *out = resp.application();
    return s;
  }

  // A filing by Hunan of the 社保卡 item with `materials`, delivered to
  // Shanghai; returns Shanghai's copy.
  static v1::Application Delivered(const std::vector<std::string>& materials,
                                   v1::ApplicationState claimed = v1::APPLICATION_STATE_RECEIVED) {
    std::vector<v1::SuppliedMaterial> supplied;
    for (const auto& m : materials) supplied.push_back(Material(m));
    v1::DeliverApplicationRequest req =
        hunan_->Filing(NewForeignId(), kSocialSecurityCard, Applicant(), supplied, claimed);
    grpc::Status s = DeliverApp(kHunan, req);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::Application stored;
    EXPECT_TRUE(Get(kShanghai, req.application().application_id(), &stored).ok());
    return stored;
  }

  // Asserts that `id` at `province` still has exactly `events` events and `state`.
  static void ExpectUnchanged(const std::string& province, const v1::Application& before) {
    v1::Application now;
    ASSERT_TRUE(Get(province, before.application_id(), &now).ok());
    EXPECT_EQ(now.state(), before.state());
    EXPECT_EQ(now.events_size(), before.events_size()) << now.ShortDebugString();
  }

  static Federation* federation_;
  static std::string* start_error_;
  static RecordAuthor* hunan_;
  static RecordAuthor* shanghai_;
  static RecordAuthor* sichuan_;
};

Federation* AuthorityTest::federation_ = nullptr;
std::string* AuthorityTest::start_error_ = nullptr;
RecordAuthor* AuthorityTest::hunan_ = nullptr;
RecordAuthor* AuthorityTest::shanghai_ = nullptr;
RecordAuthor* AuthorityTest::sichuan_ = nullptr;

// DeliverApplication, author: accepting. The handling node ignores the
// carried state and re-runs the pre-check against its own guide.
TEST_F(AuthorityTest, DeliveredApplicationEntersAtTheStateTheHandlingNodeDerives) {
  // Issue 10: "state APPROVED and no materials was stored as it came".
  v1::Application bare = Delivered({}, v1::APPLICATION_STATE_APPROVED);
  EXPECT_EQ(bare.state(), v1::APPLICATION_STATE_RECEIVED);
  ASSERT_EQ(bare.events_size(), 2);
  EXPECT_EQ(bare.events(1).action(), v1::APPLICATION_ACTION_DELIVER);
  EXPECT_EQ(bare.events(1).state_after(), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_NE(bare.events(1).note().find("key materials missing"), std::string::npos)
      << bare.events(1).note();

  // Complete per Hunan's claim, but Shanghai's guide lets M03 come later and
  // M03 is missing: PENDING_SUPPLEMENT with Shanghai's own missing list.
  v1::Application deficient = Delivered({"M01", "M02", "M09"}, v1::APPLICATION_STATE_RECEIVED);
  EXPECT_EQ(deficient.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  ASSERT_EQ(deficient.missing_material_ids_size(), 1);
  EXPECT_EQ(deficient.missing_material_ids(0), "M03");
  EXPECT_TRUE(deficient.has_supplement_deadline());

  v1::Application complete = Delivered({"M01", "M02", "M03", "M09"},
                                       v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  EXPECT_EQ(complete.state(), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_EQ(complete.missing_material_ids_size(), 0);
}

TEST_F(AuthorityTest, OnlyTheAcceptingProvinceDeliversAFiling) {
  // Hunan's genuine signed filing, delivered by Shanghai (the handling
  // province, the relay's target itself): only the accepting province may.
  v1::DeliverApplicationRequest genuine =
      hunan_->Filing(NewForeignId(), kSocialSecurityCard, Applicant(), {Material("M01")});
  grpc::Status s = DeliverApp(kShanghai, genuine);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("filings-from-accepting-province"), std::string::npos)
      << s.error_message();
  v1::Application none;
  EXPECT_EQ(Get(kShanghai, genuine.application().application_id(), &none).error_code(),
            StatusCode::NOT_FOUND);
  // A third province.
  s = DeliverApp(kSichuan, hunan_->Filing(NewForeignId(), kSocialSecurityCard, Applicant(), {}));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("origin-must-match"), std::string::npos) << s.error_message();
}

// Issue 10: Hunan sent APPROVE for Shanghai's case and Shanghai stored it.
TEST_F(AuthorityTest, AcceptingProvinceCannotDecideTheHandlingProvincesCase) {
  v1::Application app = Delivered({"M01", "M02", "M03", "M09"});
  for (v1::ApplicationAction action :
       {v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_ACTION_ACCEPT,
        v1::APPLICATION_ACTION_REJECT, v1::APPLICATION_ACTION_START_REVIEW,
        v1::APPLICATION_ACTION_REQUEST_MATERIALS, v1::APPLICATION_ACTION_DENY,
        v1::APPLICATION_ACTION_TERMINATE, v1::APPLICATION_ACTION_DELIVER}) {
    SCOPED_TRACE(v1::ApplicationAction_Name(action));
    v1::DeliverEventRequest req = hunan_->Event(app, action, v1::APPLICATION_STATE_RECEIVED,
                                                v1::APPLICATION_STATE_APPROVED);
    grpc::Status s = DeliverEvent(kHunan, req);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("decisions-by-handling-province"), std::string::npos)
        << s.error_message();
    ExpectUnchanged(kShanghai, app);
  }
}

TEST_F(AuthorityTest, ApplicantActionsAreRecheckedByTheHandlingStateMachine) {
  v1::Application app = Delivered({"M01", "M02", "M09"});
  ASSERT_EQ(app.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  // Hunan claims the supplement made it APPROVED; Shanghai applies the
  // supplement itself: all materials now there → ACCEPTED.
  v1::DeliverEventRequest sup =
      hunan_->Event(app, v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_STATE_PENDING_SUPPLEMENT,
                    v1::APPLICATION_STATE_APPROVED, {Material("M03")});
  grpc::Status s = DeliverEvent(kHunan, sup);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::Application after;
  ASSERT_TRUE(Get(kShanghai, app.application_id(), &after).ok());
  EXPECT_EQ(after.state(), v1::APPLICATION_STATE_ACCEPTED);
  ASSERT_EQ(after.events_size(), 4);
  EXPECT_EQ(after.events(2).event_id(), "430000-2");  // as Hunan signed it
  EXPECT_EQ(after.events(3).event_id(), "310000-2");  // Shanghai's result
  EXPECT_EQ(after.events(3).state_after(), v1::APPLICATION_STATE_ACCEPTED);

  // Shanghai decides to the end; a WITHDRAW relayed afterwards is recorded
  // but changes nothing.
  ASSERT_TRUE(Decide(kShanghai, app.application_id(), v1::APPLICATION_ACTION_START_REVIEW).ok());
  ASSERT_TRUE(Decide(kShanghai, app.application_id(), v1::APPLICATION_ACTION_APPROVE, &after).ok());
  v1::DeliverEventRequest late = hunan_->Event(after, v1::APPLICATION_ACTION_WITHDRAW,
                                               v1::APPLICATION_STATE_IN_REVIEW,
                                               v1::APPLICATION_STATE_WITHDRAWN);
  s = DeliverEvent(kHunan, late);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Get(kShanghai, app.application_id(), &after).ok());
  EXPECT_EQ(after.state(), v1::APPLICATION_STATE_APPROVED);
  const v1::ApplicationEvent& result = after.events(after.events_size() - 1);
  EXPECT_EQ(result.province_code(), kShanghai);
  EXPECT_NE(result.note().find("not applied"), std::string::npos) << result.note();
}

// Issue 10: state_after 99 was stored and later aborted the node.
TEST_F(AuthorityTest, UnknownEnumValuesAreRefusedAndNeverStored) {
  v1::Application app = Delivered({"M01", "M02", "M03", "M09"});
  struct Case {
    const char* what;
    int action, before, after;
  };
  for (const Case& c : std::vector<Case>{{"state_after 99", v1::APPLICATION_ACTION_WITHDRAW, 1, 99},
                                         {"state_before -3", v1::APPLICATION_ACTION_WITHDRAW, -3, 1},
                                         {"action 99", 99, 1, 1},
                                         {"action SUBMIT", v1::APPLICATION_ACTION_SUBMIT, 0, 1},
                                         {"action UNSPECIFIED", 0, 1, 1}}) {
    SCOPED_TRACE(c.what);
    v1::DeliverEventRequest req = hunan_->Event(app, static_cast<v1::ApplicationAction>(c.action),
                                                static_cast<v1::ApplicationState>(c.before),
                                                static_cast<v1::ApplicationState>(c.after));
    grpc::Status s = DeliverEvent(kHunan, req);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
    ExpectUnchanged(kShanghai, app);
  }
  // The next refused transition names the state and the node lives on.
  grpc::Status s = Decide(kShanghai, app.application_id(), v1::APPLICATION_ACTION_APPROVE);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST_F(AuthorityTest, ForgedAlteredAndReplayedSignaturesAreRefused) {
  v1::Application app = Delivered({"M01", "M02", "M09"});
  v1::Application other = Delivered({"M01", "M02", "M09"});
  const auto supplement = [&](const v1::Application& a) {
    return hunan_->Event(a, v1::APPLICATION_ACTION_SUPPLEMENT,
                         v1::APPLICATION_STATE_PENDING_SUPPLEMENT,
                         v1::APPLICATION_STATE_PENDING_SUPPLEMENT, {Material("M03")});
  };
  {
    v1::DeliverEventRequest altered = supplement(app);
    altered.mutable_event()->mutable_materials(0)->set_content_sha256(std::string(64, 'b'));
    grpc::Status s = DeliverEvent(kHunan, altered);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("does not verify"), std::string::npos) << s.error_message();
  }
  {
    v1::DeliverEventRequest unsigned_event = supplement(app);
    unsigned_event.mutable_event()->clear_signature();
    grpc::Status s = DeliverEvent(kHunan, unsigned_event);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  {
    // Sichuan's key signing an event that claims to be Hunan's.
    v1::DeliverEventRequest wrong_signer = supplement(app);
    *wrong_signer.mutable_event()->mutable_signature() =
        sichuan_->Event(app, v1::APPLICATION_ACTION_WITHDRAW, v1::APPLICATION_STATE_UNSPECIFIED,
                        v1::APPLICATION_STATE_UNSPECIFIED)
            .event()
            .signature();
    grpc::Status s = DeliverEvent(kHunan, wrong_signer);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  {
    // A valid event of `other`, replayed against `app` (same chain position).
    v1::DeliverEventRequest replayed = supplement(other);
    replayed.set_application_id(app.application_id());
    grpc::Status s = DeliverEvent(kHunan, replayed);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("does not verify"), std::string::npos) << s.error_message();
  }
  {
    // A filing altered after signing (another applicant's name).
    v1::DeliverApplicationRequest filing =
        hunan_->Filing(NewForeignId(), kSocialSecurityCard, Applicant(), {Material("M01")});
    filing.mutable_application()->mutable_filing()->mutable_applicant()->set_name("李四");
    grpc::Status s = DeliverApp(kHunan, filing);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
    v1::Application none;
    EXPECT_EQ(Get(kShanghai, filing.application().application_id(), &none).error_code(),
              StatusCode::NOT_FOUND);
  }
  ExpectUnchanged(kShanghai, app);
}

TEST_F(AuthorityTest, ReorderedRemovedAndRewrittenEventsBreakTheChain) {
  v1::Application app = Delivered({"M01", "M02", "M03", "M09"});
  v1::DeliverEventRequest esc = hunan_->Event(app, v1::APPLICATION_ACTION_ESCALATE,
                                              v1::APPLICATION_STATE_RECEIVED,
                                              v1::APPLICATION_STATE_RECEIVED);
  // Build Hunan's second event on a copy that already holds the first, then
  // send the second alone: 430000-3 arrives before 430000-2.
  v1::Application with_first = app;
  *with_first.add_events() = esc.event();
  v1::DeliverEventRequest resolve = hunan_->Event(
      with_first, v1::APPLICATION_ACTION_RESOLVE_ESCALATION, v1::APPLICATION_STATE_RECEIVED,
      v1::APPLICATION_STATE_RECEIVED);
  grpc::Status s = DeliverEvent(kHunan, resolve);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  ExpectUnchanged(kShanghai, app);
  // A re-signed event pointing at the filing instead of 430000-1 (as if 430000-1 were removed).
  v1::DeliverEventRequest skipped = esc;
  skipped.mutable_event()->set_previous_hash(app.events(1).previous_hash());
  hunan_->Resign(app.application_id(), skipped.mutable_event());
  s = DeliverEvent(kHunan, skipped);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  // In order, both apply; the same id again with different content is refused.
  ASSERT_TRUE(DeliverEvent(kHunan, esc).ok());
  ASSERT_TRUE(DeliverEvent(kHunan, resolve).ok());
  EXPECT_TRUE(DeliverEvent(kHunan, esc).ok());  // an identical retry is fine
  v1::DeliverEventRequest rewritten = esc;
  rewritten.mutable_event()->set_note("rewritten after the fact");
  hunan_->Resign(app.application_id(), rewritten.mutable_event());
  s = DeliverEvent(kHunan, rewritten);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
}

// The accepting node mirrors only the handling province's legal steps.
TEST_F(AuthorityTest, AcceptingNodeMirrorsOnlyLegalHandlingDecisions) {
  auto apps = v1::ApplicationService::NewStub(
      FastChannel(federation_->node_address(kHunan), Officer(kHunan)));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(10000));
  v1::SubmitApplicationResponse submitted;
  ASSERT_TRUE(apps->SubmitApplication(&ctx,
                                      Submission("authority-mirror-1", kSocialSecurityCard,
                                                 kShanghai, {"M01", "M02", "M03", "M09"}),
                                      &submitted)
                  .ok());
  const std::string id = submitted.application().application_id();
  v1::Application at_hunan;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kHunan, id, &at_hunan).ok() &&
           at_hunan.forwarding() == v1::FORWARDING_STATE_DELIVERED;
  })) << at_hunan.ShortDebugString();

  // Sichuan may say nothing about it.
  grpc::Status s = DeliverEvent(
      kSichuan, sichuan_->Event(at_hunan, v1::APPLICATION_ACTION_APPROVE,
                                v1::APPLICATION_STATE_RECEIVED, v1::APPLICATION_STATE_APPROVED));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  // Shanghai's event must be a legal step: RECEIVED → APPROVED is not.
  s = DeliverEvent(kShanghai, shanghai_->Event(at_hunan, v1::APPLICATION_ACTION_APPROVE,
                                               v1::APPLICATION_STATE_RECEIVED,
                                               v1::APPLICATION_STATE_APPROVED));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  ExpectUnchanged(kHunan, at_hunan);
  // Hunan cannot approve its own window's copy either.
  s = Decide(kHunan, id, v1::APPLICATION_ACTION_ACCEPT);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  // The real Shanghai officer's decision is mirrored.
  ASSERT_TRUE(Decide(kShanghai, id, v1::APPLICATION_ACTION_ACCEPT).ok());
  EXPECT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kHunan, id, &at_hunan).ok() && at_hunan.state() == v1::APPLICATION_STATE_ACCEPTED;
  })) << at_hunan.ShortDebugString();

  // Either province can later prove what the other said: each exports the
  // signed history with tongbanctl and it verifies offline with only the CA.
  for (const std::string& province : {std::string(kHunan), std::string(kShanghai)}) {
    SCOPED_TRACE(province);
    Identity officer = IdentityAt(Officer(province));
    const std::string file = MakeTempDir("authority-export") + "/history.json";
    ProcessResult exported = RunProcess(
        {TONGBAN_TONGBANCTL, "history", "export", "--node", federation_->node_address(province),
         "--id", id, "--cert", officer.cert, "--key", officer.key, "--ca", officer.ca, "--out",
         file});
    ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err << exported.start_error;
    ProcessResult verified =
        RunProcess({TONGBAN_TONGBANCTL, "history", "verify", file, "--ca", officer.ca});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("VERIFIED"), std::string::npos) << verified.out;
  }
}

}  // namespace
}  // namespace tongban::testing
