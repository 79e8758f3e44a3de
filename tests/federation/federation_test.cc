// A real federation of five provinces behind a real gateway (every hop
// mTLS): routed reads, history events flowing both ways through the relay,
// fan-out searches that name a killed province and recover when it returns,
// the relay's origin stamping, and catalog changes reaching the gateway.
//
// Provinces: 430000 Hunan (the seed article's window province), 310000
// Shanghai (adds key material M09 to GG00020600), 510000 Sichuan and
// 500000 Chongqing (south-west alliance), 440000 Guangdong (a bystander).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "federation.h"
#include "gtest/gtest.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/catalog.grpc.pb.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kSichuan[] = "510000";
constexpr char kChongqing[] = "500000";
constexpr char kGuangdong[] = "440000";

std::string Officer(const std::string& province) {
  return "province/" + province + "/officer/officer-01";
}
std::string NodeIdentity(const std::string& province) { return "province/" + province + "/node"; }

// (event_id, action, state_after) of every event, for comparing histories.
std::vector<std::string> History(const v1::Application& app) {
  std::vector<std::string> out;
  for (const auto& e : app.events()) {
    out.push_back(e.event_id() + "/" + v1::ApplicationAction_Name(e.action()) + "/" +
                  v1::ApplicationState_Name(e.state_after()));
  }
  return out;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class FederationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FederationOptions options;
    options.name = "federation";
    options.provinces = {kHunan, kShanghai, kSichuan, kChongqing, kGuangdong};
    federation_ = new Federation(options);
    start_error_ = new std::string();
    if (!federation_->Start(start_error_)) return;
    std::cout << "federation up in " << federation_->workdir() << ", gateway "
              << federation_->gateway_address() << std::endl;
  }
  static void TearDownTestSuite() {
    delete federation_;  // SIGKILLs every process
    federation_ = nullptr;
    delete start_error_;
  }

  void SetUp() override {
    ASSERT_TRUE(start_error_->empty()) << "the federation did not start: " << *start_error_;
  }
  // A test that failed half-way may leave a process down: bring everything
  // back so the next test of the suite starts from a whole federation.
  void TearDown() override {
    if (!start_error_->empty()) {
      federation_->KeepWorkdir();
      return;
    }
    std::string error;
    bool repaired = false;
    for (const std::string& p : federation_->provinces()) {
      if (!federation_->node_running(p)) {
        EXPECT_TRUE(federation_->RestartNode(p, &error)) << error;
        repaired = true;
      }
    }
    if (!federation_->gateway_running()) {
      EXPECT_TRUE(federation_->RestartGateway(&error)) << error;
      repaired = true;
    }
    if (!federation_->directory_complete()) {
      EXPECT_TRUE(federation_->RewriteDirectory(federation_->provinces(), &error)) << error;
      repaired = true;
    }
    if (repaired) {
      EXPECT_TRUE(federation_->WaitAllUp(std::chrono::seconds(60)));
    }
    if (HasFailure()) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
      std::cout << "kept " << federation_->workdir() << " for a post-mortem" << std::endl;
    }
  }

  // Stubs, each on its own connection with the given identity.
  static std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& province,
                                                           const std::string& identity) {
    return v1::ApplicationService::NewStub(
        FastChannel(federation_->node_address(province), identity));
  }
  static std::unique_ptr<v1::CatalogService::Stub> Catalog(const std::string& province) {
    return v1::CatalogService::NewStub(
        FastChannel(federation_->node_address(province), Officer(province)));
  }
  static std::unique_ptr<v1::FederationQueryService::Stub> Query(const std::string& identity) {
    return v1::FederationQueryService::NewStub(
        FastChannel(federation_->gateway_address(), identity));
  }
  static std::unique_ptr<v1::FederationService::Stub> Relay(const std::string& identity) {
    return v1::FederationService::NewStub(FastChannel(federation_->gateway_address(), identity));
  }

  static v1::Application Submit(const std::string& accepting, const std::string& key,
                                const std::string& handling,
                                const std::vector<std::string>& materials) {
    auto apps = Apps(accepting, Officer(accepting));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::SubmitApplicationResponse resp;
    grpc::Status s = apps->SubmitApplication(
        &ctx, Submission(key, kSocialSecurityCard, handling, materials), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.application();
  }

  // GetApplication at `province`'s node as its officer-01.
  static grpc::Status Get(const std::string& province, const std::string& id,
                          v1::Application* out) {
    auto apps = Apps(province, Officer(province));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = apps->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  }

  // Polls `province`'s copy until `done` holds (at most `timeout`).
  static bool WaitForCopy(const std::string& province, const std::string& id,
                          const std::function<bool(const v1::Application&)>& done,
                          v1::Application* last, milliseconds timeout = seconds(30)) {
    return WaitUntil(timeout, [&] { return Get(province, id, last).ok() && done(*last); });
  }

  static grpc::Status Search(v1::FederationQueryService::Stub* query, const std::string& text,
                             std::vector<v1::Guide>* guides,
                             std::vector<v1::MissingProvince>* missing,
                             std::vector<v1::StaleProvince>* stale = nullptr) {
    guides->clear();
    missing->clear();
    if (stale != nullptr) stale->clear();
    std::string token;
    for (int page = 0; page < 20; ++page) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(5000));
      v1::SearchFederationRequest req;
      req.set_query(text);
      req.set_page_size(200);
      req.set_page_token(token);
      v1::SearchFederationResponse resp;
      grpc::Status s = query->SearchFederation(&ctx, req, &resp);
      if (!s.ok()) return s;
      for (const auto& g : resp.guides()) guides->push_back(g);
      if (page == 0) missing->assign(resp.missing_provinces().begin(), resp.missing_provinces().end());
      if (page == 0 && stale != nullptr) {
        stale->assign(resp.stale_provinces().begin(), resp.stale_provinces().end());
      }
      token = resp.next_page_token();
      if (token.empty()) break;
    }
    return grpc::Status::OK;
  }

  // A search for 社会保障 (every province has GG00020600) and what it named.
  struct Searched {
    grpc::Status status;
    std::vector<v1::Guide> guides;
    std::vector<v1::MissingProvince> missing;
    std::vector<v1::StaleProvince> stale;
    // Every province answered, from fresh copies or live.
    bool whole() const { return status.ok() && missing.empty() && stale.empty(); }
  };
  // Searches until `done` holds (at most `timeout`); *last is the last answer.
  static bool SearchUntil(v1::FederationQueryService::Stub* query,
                          const std::function<bool(const Searched&)>& done, Searched* last,
                          milliseconds timeout = seconds(15)) {
    return WaitUntil(timeout, [&] {
      last->status = Search(query, "社会保障", &last->guides, &last->missing, &last->stale);
      return done(*last);
    });
  }
  static std::string Describe(const Searched& s) {
    std::string out = s.status.error_message();
    for (const auto& m : s.missing) out += " missing " + m.ShortDebugString();
    for (const auto& st : s.stale) out += " stale " + st.ShortDebugString();
    return out;
  }

  static std::set<std::string> ProvincesWithItem(const std::vector<v1::Guide>& guides,
                                                 const std::string& item) {
    std::set<std::string> out;
    for (const auto& g : guides) {
      if (g.item().item_code() == item) out.insert(g.province_code());
    }
    return out;
  }

  static Federation* federation_;
  static std::string* start_error_;
};

Federation* FederationTest::federation_ = nullptr;
std::string* FederationTest::start_error_ = nullptr;

// 1. A cross-province application accepted at Hunan is readable through the
// gateway from its handling province once delivered, with the same history
// as at Hunan; a province that is not a party cannot read it.
TEST_F(FederationTest, RoutedGetAnswersFromHandlingProvinceOnceDelivered) {
  v1::Application app =
      Submit(kHunan, "routed-get-0001", kShanghai, {"M01", "M02", "M03", "M09"});
  const std::string id = app.application_id();
  ASSERT_EQ(id.substr(0, 17), "TB-430000-310000-");
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_EQ(app.forwarding(), v1::FORWARDING_STATE_PENDING);

  auto query = Query(Officer(kHunan));
  v1::GetRoutedApplicationResponse routed;
  grpc::Status last;
  // Readiness: delivered = the handling node answers.
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetRoutedApplicationRequest req;
    req.set_application_id(id);
    last = query->GetRoutedApplication(&ctx, req, &routed);
    return last.ok() && routed.answered_by() == kShanghai;
  })) << "never answered by 310000; last: " << last.error_message() << " "
      << routed.ShortDebugString();
  EXPECT_EQ(routed.application().application_id(), id);
  EXPECT_EQ(routed.application().accepting_province(), kHunan);
  EXPECT_EQ(routed.application().handling_province(), kShanghai);
  EXPECT_EQ(routed.application().forwarding(), v1::FORWARDING_STATE_DELIVERED);

  // Hunan's copy is marked DELIVERED when Shanghai acknowledges, and gets
  // Shanghai's DELIVER event back (through the gateway, from Shanghai's
  // outbox) a little later; then it holds exactly the history the gateway
  // shows from the handling province.
  v1::Application at_hunan;
  ASSERT_TRUE(WaitForCopy(kHunan, id, [&](const v1::Application& a) {
    return a.forwarding() == v1::FORWARDING_STATE_DELIVERED &&
           History(a) == History(routed.application());
  }, &at_hunan)) << at_hunan.ShortDebugString() << "\nvs\n" << routed.ShortDebugString();
  v1::GetRoutedApplicationRequest req;
  req.set_application_id(id);
  ASSERT_EQ(at_hunan.events_size(), 2) << at_hunan.ShortDebugString();
  EXPECT_EQ(at_hunan.events(0).action(), v1::APPLICATION_ACTION_SUBMIT);
  EXPECT_EQ(at_hunan.events(0).event_id(), "430000-1");
  EXPECT_EQ(at_hunan.events(1).action(), v1::APPLICATION_ACTION_DELIVER);
  EXPECT_EQ(at_hunan.events(1).event_id(), "310000-1");

  // The handling province's officer reads it through the gateway too.
  auto shanghai_query = Query(Officer(kShanghai));
  grpc::ClientContext ctx_sh;
  v1::GetRoutedApplicationResponse as_shanghai;
  ASSERT_TRUE(shanghai_query->GetRoutedApplication(&ctx_sh, req, &as_shanghai).ok());
  EXPECT_EQ(as_shanghai.application().application_id(), id);

  // Guangdong is not a party: NOT_FOUND (ids cannot be probed), from both
  // the handling node and the accepting node the gateway falls back to.
  auto guangdong_query = Query(Officer(kGuangdong));
  grpc::ClientContext ctx_gd;
  v1::GetRoutedApplicationResponse as_guangdong;
  grpc::Status s = guangdong_query->GetRoutedApplication(&ctx_gd, req, &as_guangdong);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_FALSE(as_guangdong.has_application());
}

// 2. Decisions at the handling node flow back to the accepting node (same
// event ids); a supplement at the accepting window flows to the handler.
TEST_F(FederationTest, EventsFlowBackAndSupplementsFlowForward) {
  v1::Application app = Submit(kHunan, "flow-back-0001", kShanghai, {"M01", "M02", "M03", "M09"});
  const std::string id = app.application_id();
  v1::Application at_shanghai;
  ASSERT_TRUE(WaitForCopy(kShanghai, id, [](const v1::Application&) { return true; },
                          &at_shanghai))
      << "never delivered to 310000";

  auto shanghai_apps = Apps(kShanghai, Officer(kShanghai));
  for (v1::ApplicationAction action :
       {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_START_REVIEW,
        v1::APPLICATION_ACTION_APPROVE}) {
    grpc::ClientContext ctx;
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    v1::DecideApplicationResponse resp;
    grpc::Status s = shanghai_apps->DecideApplication(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << v1::ApplicationAction_Name(action) << ": " << s.error_message();
    at_shanghai = resp.application();
  }
  ASSERT_EQ(at_shanghai.state(), v1::APPLICATION_STATE_APPROVED);
  ASSERT_EQ(at_shanghai.events_size(), 5);  // SUBMIT DELIVER ACCEPT START_REVIEW APPROVE

  // Hunan mirrors every decision, in order, under the same event ids.
  v1::Application at_hunan;
  ASSERT_TRUE(WaitForCopy(kHunan, id, [&](const v1::Application& a) {
    return a.state() == v1::APPLICATION_STATE_APPROVED && a.events_size() == 5;
  }, &at_hunan)) << at_hunan.ShortDebugString();
  EXPECT_EQ(History(at_hunan), History(at_shanghai));
  EXPECT_EQ(at_hunan.forwarding(), v1::FORWARDING_STATE_DELIVERED);

  // Only the handling province decides.
  {
    auto hunan_apps = Apps(kHunan, Officer(kHunan));
    grpc::ClientContext ctx;
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(v1::APPLICATION_ACTION_DENY);
    req.set_note("not ours to decide");
    v1::DecideApplicationResponse resp;
    grpc::Status s = hunan_apps->DecideApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  }

  // 容缺: M03 missing at the window, supplemented there later.
  v1::Application deficient = Submit(kHunan, "flow-supplement-0001", kShanghai, {"M01", "M02", "M09"});
  const std::string did = deficient.application_id();
  ASSERT_EQ(deficient.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  ASSERT_TRUE(WaitForCopy(kShanghai, did, [](const v1::Application& a) {
    return a.state() == v1::APPLICATION_STATE_PENDING_SUPPLEMENT;
  }, &at_shanghai)) << at_shanghai.ShortDebugString();
  ASSERT_EQ(at_shanghai.missing_material_ids_size(), 1);
  EXPECT_EQ(at_shanghai.missing_material_ids(0), "M03");

  auto hunan_apps = Apps(kHunan, Officer(kHunan));
  grpc::ClientContext ctx;
  v1::SupplementMaterialsRequest sup;
  sup.set_application_id(did);
  *sup.add_materials() = Material("M03");
  sup.set_note("补齐银行结算账户信息");
  v1::SupplementMaterialsResponse sup_resp;
  grpc::Status s = hunan_apps->SupplementMaterials(&ctx, sup, &sup_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The window records and relays the supplement; only Shanghai decides the
  // state, and Hunan mirrors its answer.
  EXPECT_EQ(sup_resp.application().state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  std::string supplement_event;
  for (const auto& e : sup_resp.application().events()) {
    if (e.action() == v1::APPLICATION_ACTION_SUPPLEMENT) supplement_event = e.event_id();
  }
  ASSERT_FALSE(supplement_event.empty());
  EXPECT_EQ(supplement_event.substr(0, 7), "430000-");

  ASSERT_TRUE(WaitForCopy(kShanghai, did, [](const v1::Application& a) {
    return a.state() == v1::APPLICATION_STATE_ACCEPTED;
  }, &at_shanghai)) << at_shanghai.ShortDebugString();
  EXPECT_EQ(at_shanghai.missing_material_ids_size(), 0);
  bool has_m03 = false;
  for (const auto& m : at_shanghai.materials()) has_m03 |= m.material_id() == "M03";
  EXPECT_TRUE(has_m03) << at_shanghai.ShortDebugString();
  bool has_event = false;
  for (const auto& e : at_shanghai.events()) has_event |= e.event_id() == supplement_event;
  EXPECT_TRUE(has_event) << at_shanghai.ShortDebugString();

  // Both sides end with the same set of events (DELIVER and SUPPLEMENT may
  // have crossed, so the order can differ).
  ASSERT_TRUE(WaitForCopy(kHunan, did, [&](const v1::Application& a) {
    return Sorted(History(a)) == Sorted(History(at_shanghai));
  }, &at_hunan)) << at_hunan.ShortDebugString() << "\nvs\n" << at_shanghai.ShortDebugString();
  EXPECT_EQ(at_hunan.state(), v1::APPLICATION_STATE_ACCEPTED);
  // Shanghai's own record of applying the supplement closes the history.
  const v1::ApplicationEvent& last = at_hunan.events(at_hunan.events_size() - 1);
  bool result_event = false;
  for (const auto& e : at_hunan.events()) {
    result_event |= e.province_code() == kShanghai &&
                    e.action() == v1::APPLICATION_ACTION_SUPPLEMENT &&
                    e.state_after() == v1::APPLICATION_STATE_ACCEPTED;
  }
  EXPECT_TRUE(result_event) << last.ShortDebugString();
}

// 3. A SIGKILLed node: searches answer for it from the gateway's copy of its
// catalog, marked stale (not missing, and without waiting for it); the
// gateway ejects it; restarted on the same database and port it is probed
// back and the next search is fresh again.
TEST_F(FederationTest, FanOutSearchServesAKilledProvinceStaleAndRecovers) {
  auto query = Query(Officer(kHunan));
  const std::set<std::string> all(federation_->provinces().begin(),
                                  federation_->provinces().end());
  Searched found;
  auto whole = [](const Searched& f) { return f.whole(); };
  ASSERT_TRUE(SearchUntil(query.get(), whole, &found)) << Describe(found);
  EXPECT_EQ(ProvincesWithItem(found.guides, kSocialSecurityCard), all);
  // Shanghai's Yangtze-delta item matches too.
  EXPECT_EQ(ProvincesWithItem(found.guides, "GG96000100"), std::set<std::string>{kShanghai});

  federation_->KillNode(kSichuan);
  // The copy counts as fresh for 3 refresh intervals; then it is served stale.
  auto stale_only = [](const Searched& f) { return f.status.ok() && f.stale.size() == 1; };
  ASSERT_TRUE(SearchUntil(query.get(), stale_only, &found)) << Describe(found);
  EXPECT_EQ(found.stale[0].province_code(), kSichuan);
  EXPECT_GT(found.stale[0].catalog_version(), 0);
  EXPECT_GT(found.stale[0].confirmed_unix_seconds(), 1700000000);
  EXPECT_TRUE(found.missing.empty()) << Describe(found);
  EXPECT_EQ(ProvincesWithItem(found.guides, kSocialSecurityCard), all);

  // The gateway's view: Sichuan down (ejected), the others up.
  v1::GetFederationStatusResponse status;
  auto sichuan = [&]() -> const v1::NodeStatus* {
    for (const auto& n : status.nodes()) {
      if (n.province_code() == kSichuan) return &n;
    }
    return nullptr;
  };
  ASSERT_TRUE(WaitUntil(seconds(15), [&] {
    grpc::ClientContext ctx;
    status.Clear();
    return query->GetFederationStatus(&ctx, v1::GetFederationStatusRequest(), &status).ok() &&
           sichuan() != nullptr && !sichuan()->up();
  })) << status.ShortDebugString();
  EXPECT_FALSE(sichuan()->last_error().empty());
  EXPECT_EQ(sichuan()->address(), federation_->node_address(kSichuan));
  for (const auto& n : status.nodes()) {
    if (n.province_code() != kSichuan) {
      EXPECT_TRUE(n.up()) << n.ShortDebugString();
    }
  }
  // Still served stale once ejected.
  ASSERT_TRUE(SearchUntil(query.get(), stale_only, &found, seconds(0))) << Describe(found);
  EXPECT_EQ(found.stale[0].province_code(), kSichuan);

  // Back on the same database and port: the prober reinstates it.
  std::string error;
  ASSERT_TRUE(federation_->RestartNode(kSichuan, &error)) << error;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    grpc::ClientContext ctx;
    status.Clear();
    return query->GetFederationStatus(&ctx, v1::GetFederationStatusRequest(), &status).ok() &&
           sichuan() != nullptr && sichuan()->up();
  })) << status.ShortDebugString();
  ASSERT_TRUE(SearchUntil(query.get(), whole, &found, seconds(30))) << Describe(found);
  EXPECT_EQ(ProvincesWithItem(found.guides, kSocialSecurityCard), all);
}

// 3b. A frozen node (SIGSTOP: its connections stay open, nothing answers):
// searches never wait for it (its copy answers, stale once unconfirmed),
// routed reads to it fail with the per-node deadline while the others'
// answer, and once thawed it is fresh again.
TEST_F(FederationTest, AFrozenProvinceIsServedStaleAndRoutedReadsToOthersGoOn) {
  auto query = Query(Officer(kHunan));
  const std::set<std::string> all(federation_->provinces().begin(),
                                  federation_->provinces().end());
  Searched found;
  auto whole = [](const Searched& f) { return f.whole(); };
  ASSERT_TRUE(SearchUntil(query.get(), whole, &found)) << Describe(found);

  struct Thaw {
    ~Thaw() { federation_->ThawNode(kChongqing); }
  } thaw_on_exit;
  federation_->FreezeNode(kChongqing);
  ASSERT_TRUE(SearchUntil(
      query.get(), [](const Searched& f) { return f.status.ok() && f.stale.size() == 1; },
      &found))
      << Describe(found);
  EXPECT_EQ(found.stale[0].province_code(), kChongqing);
  EXPECT_TRUE(found.missing.empty()) << Describe(found);
  EXPECT_EQ(ProvincesWithItem(found.guides, kSocialSecurityCard), all);

  // A routed read to the frozen province ends with the per-node deadline
  // (or UNAVAILABLE once ejected), not the caller's.
  auto guide = [&](const std::string& province, v1::GetProvinceGuideResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::GetProvinceGuideRequest req;
    req.set_province_code(province);
    req.set_item_code(kSocialSecurityCard);
    return query->GetProvinceGuide(&ctx, req, out);
  };
  v1::GetProvinceGuideResponse frozen;
  grpc::Status s = guide(kChongqing, &frozen);
  EXPECT_TRUE(s.error_code() == StatusCode::DEADLINE_EXCEEDED ||
              s.error_code() == StatusCode::UNAVAILABLE)
      << s.error_code() << " " << s.error_message();
  v1::GetProvinceGuideResponse sichuan;
  s = guide(kSichuan, &sichuan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(sichuan.guide().province_code(), kSichuan);
  EXPECT_EQ(sichuan.guide().item().item_code(), kSocialSecurityCard);

  federation_->ThawNode(kChongqing);
  ASSERT_TRUE(SearchUntil(query.get(), whole, &found, seconds(30))) << Describe(found);
  ASSERT_TRUE(WaitUntil(seconds(30), [&] { return guide(kChongqing, &frozen).ok(); }));
  EXPECT_EQ(frozen.guide().province_code(), kChongqing);
}

// 3c. GetProvinceGuide is routed by the request's bytes: the named
// province's guide, byte for byte what its node answers; bad fields are
// refused naming them; a province not in the directory is UNAVAILABLE (a
// routing gap, not an answer); bytes that are not the message are refused.
TEST_F(FederationTest, ProvinceGuideIsRoutedByTheRequestBytes) {
  auto query = Query(Officer(kHunan));
  auto ask = [&](const std::string& province, const std::string& item,
                 v1::GetProvinceGuideResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::GetProvinceGuideRequest req;
    req.set_province_code(province);
    req.set_item_code(item);
    return query->GetProvinceGuide(&ctx, req, out);
  };
  v1::GetProvinceGuideResponse routed;
  grpc::Status s = ask(kShanghai, kSocialSecurityCard, &routed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetGuideResponse direct;
  {
    grpc::ClientContext ctx;
    v1::GetGuideRequest req;
    req.set_item_code(kSocialSecurityCard);
    ASSERT_TRUE(Catalog(kShanghai)->GetGuide(&ctx, req, &direct).ok());
  }
  EXPECT_EQ(routed.guide().SerializeAsString(), direct.guide().SerializeAsString());
  // Shanghai's own key material M09.
  bool m09 = false;
  for (const auto& m : routed.guide().materials()) m09 |= m.material_id() == "M09";
  EXPECT_TRUE(m09) << routed.ShortDebugString();

  s = ask(kShanghai, "GG0002060", &routed);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("item_code"), std::string::npos) << s.error_message();
  s = ask("31000", kSocialSecurityCard, &routed);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("province_code"), std::string::npos) << s.error_message();
  s = ask("650000", kSocialSecurityCard, &routed);
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
  s = ask(kShanghai, "GG99999999", &routed);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND) << s.error_message();

  // Not a protobuf message (a length past the end): refused, nothing forwarded.
  grpc::GenericStub generic(FastChannel(federation_->gateway_address(), Officer(kHunan)));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(10000));
  const std::string garbage("\x0a\x7f" "310000", 8);
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status raw;
  generic.UnaryCall(&ctx, "/tongban.v1.FederationQueryService/GetProvinceGuide",
                    grpc::StubOptions(), &request, &response, [&](grpc::Status st) {
                      raw = std::move(st);
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_EQ(raw.error_code(), StatusCode::INVALID_ARGUMENT) << raw.error_message();
  EXPECT_NE(raw.error_message().find("tongban.v1.GetProvinceGuideRequest"), std::string::npos)
      << raw.error_message();
}

// 4. The relay stamps the verified origin province, and nobody else may.
TEST_F(FederationTest, RelayStampsTheVerifiedOriginProvince) {
  // An application accepted by Hunan, handled by Shanghai, that Hunan never sent.
  v1::Application forged;
  forged.set_application_id("TB-430000-310000-20260101-99999999");
  forged.set_accepting_province(kHunan);
  forged.set_handling_province(kShanghai);
  forged.set_item_code(kSocialSecurityCard);
  forged.set_item_name_zh("社会保障卡申领");
  *forged.mutable_applicant() = Applicant();
  for (const char* m : {"M01", "M02", "M03", "M09"}) *forged.add_materials() = Material(m);
  forged.set_state(v1::APPLICATION_STATE_RECEIVED);
  forged.set_guide_version(1);
  v1::ApplicationEvent* submit = forged.add_events();
  submit->set_event_id("430000-1");
  submit->set_action(v1::APPLICATION_ACTION_SUBMIT);
  submit->set_state_after(v1::APPLICATION_STATE_RECEIVED);
  submit->set_actor("spiffe://tongban/province/430000/officer/officer-01");
  submit->set_province_code(kHunan);
  v1::DeliverApplicationRequest deliver;
  *deliver.mutable_application() = forged;

  // (a) Sichuan's node delivers it through the gateway: stamped 510000, so
  // Shanghai refuses — the origin is not the accepting province.
  {
    auto relay = Relay(NodeIdentity(kSichuan));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::DeliverApplicationResponse resp;
    grpc::Status s = relay->DeliverApplication(&ctx, deliver, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("origin"), std::string::npos) << s.error_message();
    EXPECT_NE(s.error_message().find("510000"), std::string::npos) << s.error_message();
    v1::Application stored;
    EXPECT_EQ(Get(kShanghai, forged.application_id(), &stored).error_code(), StatusCode::NOT_FOUND);
  }
  // ... nor may Sichuan push events into it.
  {
    auto relay = Relay(NodeIdentity(kSichuan));
    grpc::ClientContext ctx;
    v1::DeliverEventRequest req;
    req.set_application_id(forged.application_id());
    v1::ApplicationEvent* e = req.mutable_event();
    e->set_event_id("510000-1");
    e->set_action(v1::APPLICATION_ACTION_WITHDRAW);
    e->set_province_code(kSichuan);
    v1::DeliverEventResponse resp;
    grpc::Status s = relay->DeliverEvent(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  // (b) A node that sends its own origin stamp to the gateway is refused by it.
  {
    auto relay = Relay(NodeIdentity(kHunan));
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-tongban-origin-province", kHunan);
    v1::DeliverApplicationResponse resp;
    grpc::Status s = relay->DeliverApplication(&ctx, deliver, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("gateway-stamps-only"), std::string::npos)
        << s.error_message();
  }
  // (c) An officer calling the relay.
  {
    auto relay = Relay(Officer(kHunan));
    grpc::ClientContext ctx;
    v1::FetchGuideRequest req;
    req.set_province_code(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    v1::FetchGuideResponse resp;
    grpc::Status s = relay->FetchGuide(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("nodes-only"), std::string::npos) << s.error_message();
  }
  // (d) A node calling another node's FederationService directly.
  {
    auto direct = v1::FederationService::NewStub(
        FastChannel(federation_->node_address(kShanghai), NodeIdentity(kHunan)));
    grpc::ClientContext ctx;
    v1::DeliverApplicationResponse resp;
    grpc::Status s = direct->DeliverApplication(&ctx, deliver, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    grpc::ClientContext ctx2;
    ctx2.AddMetadata("x-tongban-origin-province", kHunan);
    s = direct->DeliverApplication(&ctx2, deliver, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("gateway-stamps-only"), std::string::npos)
        << s.error_message();
    v1::Application stored;
    EXPECT_EQ(Get(kShanghai, forged.application_id(), &stored).error_code(), StatusCode::NOT_FOUND);
  }
  // Control: the same relay serves a node's legitimate call.
  {
    auto relay = Relay(NodeIdentity(kHunan));
    grpc::ClientContext ctx;
    v1::FetchGuideRequest req;
    req.set_province_code(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    v1::FetchGuideResponse resp;
    grpc::Status s = relay->FetchGuide(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.guide().province_code(), kShanghai);
    bool m09 = false;
    for (const auto& m : resp.guide().materials()) m09 |= m.material_id() == "M09";
    EXPECT_TRUE(m09);
  }
  // The relay forwards request bytes and reads only the route key from the
  // wire: bytes that are not a message along that key are refused there,
  // naming why; a route key in a merged second copy of the field wins, as
  // in protobuf's own parser (the node reads the same key).
  {
    grpc::GenericStub generic(FastChannel(federation_->gateway_address(), NodeIdentity(kHunan)));
    auto call = [&](const std::string& bytes, grpc::ByteBuffer* out) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(5000));
      grpc::Slice slice(bytes);
      grpc::ByteBuffer request(&slice, 1);
      absl::Notification done;
      grpc::Status status;
      generic.UnaryCall(&ctx, "/tongban.v1.FederationService/FetchGuide", grpc::StubOptions(),
                        &request, out, [&](grpc::Status s) {
                          status = std::move(s);
                          done.Notify();
                        });
      done.WaitForNotification();
      return status;
    };
    grpc::ByteBuffer out;
    grpc::Status s = call(std::string("\x0a\x09" "310000", 8), &out);  // length past the end
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("not a valid protobuf message"), std::string::npos)
        << s.error_message();

    v1::FetchGuideRequest first, second;
    first.set_province_code("440000");  // overridden by the second copy
    first.set_item_code(kSocialSecurityCard);
    second.set_province_code(kShanghai);
    s = call(first.SerializeAsString() + second.SerializeAsString(), &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::FetchGuideResponse resp;
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(out.Dump(&slices).ok());
    std::string answer;
    for (const grpc::Slice& slice : slices) {
      answer.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    ASSERT_TRUE(resp.ParseFromString(answer));
    EXPECT_EQ(resp.guide().province_code(), kShanghai);
  }
}

// 5. An amended guide and an abolished item are visible through the gateway
// (catalog cache refreshed by version) within seconds.
TEST_F(FederationTest, CatalogChangesReachTheGatewayWithinSeconds) {
  auto query = Query(Officer(kHunan));
  auto compare = [&](const std::string& item, v1::CompareGuidesResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::CompareGuidesRequest req;
    req.set_item_code(item);
    out->Clear();
    return query->CompareGuides(&ctx, req, out);
  };
  auto of = [](const v1::CompareGuidesResponse& r, const std::string& province) {
    for (const auto& c : r.provinces()) {
      if (c.province_code() == province) return c;
    }
    return v1::GuideComparison();
  };
  v1::CompareGuidesResponse cmp;
  ASSERT_TRUE(compare(kSocialSecurityCard, &cmp).ok());
  const v1::GuideComparison before = of(cmp, kShanghai);
  ASSERT_EQ(before.promised_time_limit_days(), 20);
  EXPECT_EQ(of(cmp, kChongqing).promised_time_limit_days(), 1);
  EXPECT_EQ(cmp.longest_promised_days(), 20);

  // Another province's precheck reads the guide through the relay
  // (FederationService.FetchGuide, answered from Shanghai's kept answers).
  auto relay = Relay(NodeIdentity(kHunan));
  auto fetch = [&](int64_t cached_version, v1::FetchGuideResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::FetchGuideRequest req;
    req.set_province_code(kShanghai);
    req.set_item_code(kSocialSecurityCard);
    req.set_cached_version(cached_version);
    return relay->FetchGuide(&ctx, req, out);
  };
  v1::FetchGuideResponse fetched;
  ASSERT_TRUE(fetch(0, &fetched).ok());
  EXPECT_EQ(fetched.guide().version(), before.guide_version());
  EXPECT_EQ(fetched.guide().promised_time_limit_days(), 20);

  // Shanghai promises 15 days instead of 20.
  auto catalog = Catalog(kShanghai);
  v1::GetGuideResponse guide;
  {
    grpc::ClientContext ctx;
    v1::GetGuideRequest req;
    req.set_item_code(kSocialSecurityCard);
    ASSERT_TRUE(catalog->GetGuide(&ctx, req, &guide).ok());
  }
  v1::AmendGuideRequest amend;
  *amend.mutable_guide() = guide.guide();
  amend.mutable_guide()->set_promised_time_limit_days(15);
  amend.set_expected_version(guide.guide().version());
  v1::AmendGuideResponse amended;
  {
    grpc::ClientContext ctx;
    grpc::Status s = catalog->AmendGuide(&ctx, amend, &amended);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const int64_t version = amended.guide().version();
  ASSERT_GT(version, before.guide_version());
  // FetchGuide answers the amendment at once (the kept answer was dropped),
  // and "not modified" only for the new version.
  {
    v1::FetchGuideResponse after;
    ASSERT_TRUE(fetch(before.guide_version(), &after).ok());
    EXPECT_FALSE(after.not_modified());
    EXPECT_EQ(after.guide().version(), version);
    EXPECT_EQ(after.guide().promised_time_limit_days(), 15);
    ASSERT_TRUE(fetch(version, &after).ok());
    EXPECT_TRUE(after.not_modified());
    EXPECT_FALSE(after.has_guide());
  }
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil(seconds(10), [&] {
    return compare(kSocialSecurityCard, &cmp).ok() &&
           of(cmp, kShanghai).guide_version() == version;
  })) << cmp.ShortDebugString();
  std::cout << "amendment visible through the gateway after "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms" << std::endl;
  EXPECT_EQ(of(cmp, kShanghai).promised_time_limit_days(), 15);
  std::vector<v1::Guide> guides;
  std::vector<v1::MissingProvince> missing;
  ASSERT_TRUE(Search(query.get(), "社会保障卡申领", &guides, &missing).ok());
  bool seen = false;
  for (const auto& g : guides) {
    if (g.province_code() == kShanghai && g.item().item_code() == kSocialSecurityCard) {
      seen = true;
      EXPECT_EQ(g.version(), version);
      EXPECT_EQ(g.promised_time_limit_days(), 15);
    }
  }
  EXPECT_TRUE(seen);

  // Shanghai abolishes 跨区域涉税事项报告 (QT00090100, national).
  const std::string item = "QT00090100";
  const std::string text = "跨区域涉税";
  ASSERT_TRUE(Search(query.get(), text, &guides, &missing).ok());
  ASSERT_EQ(ProvincesWithItem(guides, item).count(kShanghai), 1u);
  {
    grpc::ClientContext ctx;
    v1::AbolishItemRequest req;
    req.set_item_code(item);
    req.set_reason_zh("测试：上海市取消本事项");
    v1::AbolishItemResponse resp;
    grpc::Status s = catalog->AbolishItem(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.guide().status(), v1::ITEM_STATUS_ABOLISHED);
  }
  t0 = std::chrono::steady_clock::now();
  std::set<std::string> others(federation_->provinces().begin(), federation_->provinces().end());
  others.erase(kShanghai);
  ASSERT_TRUE(WaitUntil(seconds(10), [&] {
    return Search(query.get(), text, &guides, &missing).ok() &&
           ProvincesWithItem(guides, item) == others;
  })) << guides.size();
  std::cout << "abolition visible through the gateway after "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms" << std::endl;
  ASSERT_TRUE(compare(item, &cmp).ok());
  EXPECT_TRUE(of(cmp, kShanghai).abolished()) << cmp.ShortDebugString();
  EXPECT_FALSE(of(cmp, kHunan).abolished());
}

// A province that the gateway's directory does not list (a staged rollout,
// a node being moved) is unreachable, not unknown: the accepting node has
// the handling province's published guide cached, so by DESIGN.md §5 ("a
// node down ... submissions to it queue at the accepting node") the
// submission should be accepted and wait in the outbox until the directory
// lists the province again.
//
// A routing gap at the gateway is UNAVAILABLE (retry), never NOT_FOUND ("does
// not implement"): the accepting node falls back to its cached guide and queues.
TEST_F(FederationTest, SubmissionForAProvinceMissingFromTheDirectoryQueues) {
  std::vector<std::string> without_shanghai;
  for (const std::string& p : federation_->provinces()) {
    if (p != kShanghai) without_shanghai.push_back(p);
  }
  std::string error;
  ASSERT_TRUE(federation_->RewriteDirectory(without_shanghai, &error)) << error;
  auto query = Query(Officer(kHunan));
  ASSERT_TRUE(WaitUntil(seconds(10), [&] {
    grpc::ClientContext ctx;
    v1::GetFederationStatusResponse status;
    return query->GetFederationStatus(&ctx, v1::GetFederationStatusRequest(), &status).ok() &&
           status.nodes_size() == static_cast<int>(without_shanghai.size());
  }));

  // Filed at Guangdong, which no other test files from: its node has not
  // re-validated Shanghai's guide yet, so it asks the gateway (a node asks
  // at most every 30 s per guide).
  auto apps = Apps(kGuangdong, Officer(kGuangdong));
  grpc::ClientContext ctx;
  v1::SubmitApplicationResponse resp;
  grpc::Status s = apps->SubmitApplication(
      &ctx, Submission("not-in-directory-0001", kSocialSecurityCard, kShanghai,
                       {"M01", "M02", "M03", "M09"}),
      &resp);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(resp.application().forwarding(), v1::FORWARDING_STATE_PENDING);

  ASSERT_TRUE(federation_->RewriteDirectory(federation_->provinces(), &error)) << error;
  v1::Application at_shanghai;
  EXPECT_TRUE(WaitForCopy(kShanghai, resp.application().application_id(),
                          [](const v1::Application&) { return true; }, &at_shanghai,
                          seconds(60)));
}

}  // namespace
}  // namespace tongban::testing
