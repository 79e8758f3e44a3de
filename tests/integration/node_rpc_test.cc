// Every RPC of a real tongban-node (Hunan, 430000 — the seed article's
// window province) over mTLS: happy paths, the 无差别受理 and 容缺 rules,
// the state machine, citizen isolation, metrics, and the bad-input matrix.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "node_process.h"
#include "node_test_data.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/catalog.grpc.pb.h"

namespace tongban::testing {
namespace {

using grpc::StatusCode;

class NodeRpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    workdir_ = new std::string(MakeTempDir("node-rpc"));
    NodeOptions options;
    options.province = "430000";
    node_ = NodeProcess::Start(options, *workdir_).release();
    ASSERT_TRUE(node_->running()) << node_->ReadLog();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(node_->Terminate(), 0) << node_->ReadLog();
    delete node_;
    delete workdir_;
  }

  void SetUp() override {
    officer_ = IdentityAt("province/430000/officer/officer-01");
    gateway_ = IdentityAt("gateway");
    auto officer_channel = MakeChannel(node_->grpc_address(), &officer_);
    catalog_ = v1::CatalogService::NewStub(officer_channel);
    apps_ = v1::ApplicationService::NewStub(officer_channel);
    citizen_apps_ = v1::ApplicationService::NewStub(MakeChannel(node_->grpc_address(), &gateway_));
  }

  // A context acting for `citizen` through the gateway's certificate.
  static void AsCitizen(grpc::ClientContext* ctx, const std::string& citizen) {
    ctx->AddMetadata("x-tongban-citizen-id", citizen);
  }

  v1::Application SubmitOk(const v1::SubmitApplicationRequest& req) {
    grpc::ClientContext ctx;
    v1::SubmitApplicationResponse resp;
    grpc::Status s = apps_->SubmitApplication(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.application();
  }

  grpc::Status Decide(const std::string& id, v1::ApplicationAction action,
                      v1::Application* out = nullptr, const std::string& note = "") {
    grpc::ClientContext ctx;
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    req.set_note(note);
    v1::DecideApplicationResponse resp;
    grpc::Status s = apps_->DecideApplication(&ctx, req, &resp);
    if (out != nullptr) *out = resp.application();
    return s;
  }

  static std::string* workdir_;
  static NodeProcess* node_;
  Identity officer_;
  Identity gateway_;
  std::unique_ptr<v1::CatalogService::Stub> catalog_;
  std::unique_ptr<v1::ApplicationService::Stub> apps_;
  std::unique_ptr<v1::ApplicationService::Stub> citizen_apps_;
};

std::string* NodeRpcTest::workdir_ = nullptr;
NodeProcess* NodeRpcTest::node_ = nullptr;

TEST_F(NodeRpcTest, ReportsServingOnStandardHealthCheck) {
  auto health = grpc::health::v1::Health::NewStub(MakeChannel(node_->grpc_address(), &officer_));
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(NodeRpcTest, ListItemsPagesThroughTheWholeCatalogOnce) {
  std::set<std::string> seen;
  std::string token;
  std::string last;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListItemsRequest req;
    req.set_page_size(10);
    req.set_page_token(token);
    v1::ListItemsResponse resp;
    ASSERT_TRUE(catalog_->ListItems(&ctx, req, &resp).ok());
    for (const auto& g : resp.guides()) {
      EXPECT_EQ(g.province_code(), "430000");
      EXPECT_GT(g.item().item_code(), last) << "items must come in item_code order";
      last = g.item().item_code();
      EXPECT_TRUE(seen.insert(last).second);
    }
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 100);
  EXPECT_GE(seen.size(), 40u);
  EXPECT_GT(pages, 4);
  EXPECT_EQ(seen.count(kSocialSecurityCard), 1u);
  EXPECT_EQ(seen.count(kBeijingClosedItem), 0u) << "another province's item is not Hunan's";
}

TEST_F(NodeRpcTest, SearchMatchesChineseAndEnglishNames) {
  grpc::ClientContext ctx;
  v1::SearchItemsRequest req;
  req.set_query("社会保障卡");
  v1::SearchItemsResponse resp;
  ASSERT_TRUE(catalog_->SearchItems(&ctx, req, &resp).ok());
  std::set<std::string> codes;
  for (const auto& g : resp.guides()) codes.insert(g.item().item_code());
  EXPECT_EQ(codes.count(kSocialSecurityCard), 1u);

  grpc::ClientContext ctx2;
  req.set_query("PENSION");
  v1::SearchItemsResponse resp2;
  ASSERT_TRUE(catalog_->SearchItems(&ctx2, req, &resp2).ok());
  ASSERT_GT(resp2.guides_size(), 0);
  for (const auto& g : resp2.guides()) {
    std::string en = g.item().name_en();
    for (char& c : en) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(en.find("pension"), std::string::npos) << en;
  }

  // An abbreviation, through the synonyms; ranked, with each result's relevance.
  grpc::ClientContext ctx3;
  req.set_query("社保");
  v1::SearchItemsResponse resp3;
  ASSERT_TRUE(catalog_->SearchItems(&ctx3, req, &resp3).ok());
  ASSERT_GE(resp3.guides_size(), 2);
  ASSERT_EQ(resp3.relevance_size(), resp3.guides_size());
  EXPECT_EQ(resp3.guides(0).item().item_code(), kSocialSecurityCard);
  for (int i = 1; i < resp3.relevance_size(); ++i) {
    EXPECT_GE(resp3.relevance(i - 1), resp3.relevance(i));
  }
}

TEST_F(NodeRpcTest, GetItemAndGuideOfOwnProvince) {
  grpc::ClientContext ctx;
  v1::GetGuideRequest req;
  req.set_item_code(kSocialSecurityCard);
  v1::GetGuideResponse resp;
  ASSERT_TRUE(catalog_->GetGuide(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.guide().item().name_zh(), "社会保障卡申领");
  EXPECT_EQ(resp.guide().province_code(), "430000");
  for (const auto& m : resp.guide().materials()) EXPECT_NE(m.material_id(), "M09");

  grpc::ClientContext ctx2;
  v1::GetItemRequest item_req;
  item_req.set_item_code("GG99999999");
  v1::GetItemResponse item_resp;
  grpc::Status s = catalog_->GetItem(&ctx2, item_req, &item_resp);
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("GG99999999"), std::string::npos);
}

TEST_F(NodeRpcTest, AlliancesAreListed) {
  grpc::ClientContext ctx;
  v1::ListAlliancesResponse resp;
  ASSERT_TRUE(catalog_->ListAlliances(&ctx, v1::ListAlliancesRequest(), &resp).ok());
  std::set<std::string> ids;
  for (const auto& a : resp.alliances()) ids.insert(a.alliance_id());
  EXPECT_EQ(ids.count("southwest-5"), 1u);
}

TEST_F(NodeRpcTest, AmendmentBumpsVersionAndStaleAmendmentIsAborted) {
  grpc::ClientContext c1;
  v1::GetCatalogInfoResponse before;
  ASSERT_TRUE(catalog_->GetCatalogInfo(&c1, v1::GetCatalogInfoRequest(), &before).ok());
  grpc::ClientContext c2;
  v1::GetGuideRequest greq;
  greq.set_item_code("GG00020100");
  v1::GetGuideResponse guide;
  ASSERT_TRUE(catalog_->GetGuide(&c2, greq, &guide).ok());

  v1::AmendGuideRequest amend;
  *amend.mutable_guide() = guide.guide();
  amend.mutable_guide()->set_promised_time_limit_days(1);
  amend.set_expected_version(guide.guide().version());
  grpc::ClientContext c3;
  v1::AmendGuideResponse amended;
  grpc::Status s = catalog_->AmendGuide(&c3, amend, &amended);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(amended.guide().version(), guide.guide().version());
  EXPECT_EQ(amended.guide().promised_time_limit_days(), 1);

  grpc::ClientContext c4;
  v1::GetCatalogInfoResponse after;
  ASSERT_TRUE(catalog_->GetCatalogInfo(&c4, v1::GetCatalogInfoRequest(), &after).ok());
  EXPECT_EQ(after.catalog_version(), amended.guide().version());
  EXPECT_GT(after.catalog_version(), before.catalog_version());

  grpc::ClientContext c5;  // same expected_version again: stale
  EXPECT_EQ(catalog_->AmendGuide(&c5, amend, &amended).error_code(), StatusCode::ABORTED);
}

// 电子证照 directory: a material's licence_types are codes of the national
// list, each once; the amendment states them (materials are replaced whole).
TEST_F(NodeRpcTest, AmendmentRefusesUnknownOrRepeatedLicenceTypesAndKeepsStatedOnes) {
  grpc::ClientContext c1;
  v1::GetGuideRequest greq;
  greq.set_item_code("QR00070104");  // 夫妻投靠: M02 居民户口簿 GA01, M03 结婚证 MZ01
  v1::GetGuideResponse guide;
  ASSERT_TRUE(catalog_->GetGuide(&c1, greq, &guide).ok());
  ASSERT_GE(guide.guide().materials_size(), 3);
  ASSERT_EQ(guide.guide().materials(1).material_id(), "M02");
  ASSERT_EQ(std::vector<std::string>(guide.guide().materials(1).licence_types().begin(),
                                     guide.guide().materials(1).licence_types().end()),
            std::vector<std::string>{"GA01"});
  ASSERT_EQ(guide.guide().materials(2).licence_types_size(), 1);
  EXPECT_EQ(guide.guide().materials(2).licence_types(0), "MZ01");

  struct Bad {
    std::vector<std::string> types;
    std::string field;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{"XX99"}, "guide.materials[1].licence_types[0]"},
           {{"GA01", "ga02"}, "guide.materials[1].licence_types[1]"},
           {{"GA01", "MZ01", "GA01"}, "guide.materials[1].licence_types[2]"},
           {{""}, "guide.materials[1].licence_types[0]"}}) {
    v1::AmendGuideRequest amend;
    *amend.mutable_guide() = guide.guide();
    amend.set_expected_version(guide.guide().version());
    amend.mutable_guide()->mutable_materials(1)->clear_licence_types();
    for (const std::string& t : bad.types) {
      amend.mutable_guide()->mutable_materials(1)->add_licence_types(t);
    }
    grpc::ClientContext ctx;
    v1::AmendGuideResponse amended;
    grpc::Status s = catalog_->AmendGuide(&ctx, amend, &amended);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << bad.field;
    EXPECT_EQ(s.error_message().rfind(bad.field + " ", 0), 0u) << s.error_message();
  }

  // Refused amendments changed nothing.
  grpc::ClientContext c2;
  v1::GetGuideResponse unchanged;
  ASSERT_TRUE(catalog_->GetGuide(&c2, greq, &unchanged).ok());
  EXPECT_EQ(unchanged.guide().version(), guide.guide().version());

  // The amendment states M02's types (two now) and leaves M03's out: stored as stated.
  v1::AmendGuideRequest amend;
  *amend.mutable_guide() = guide.guide();
  amend.set_expected_version(guide.guide().version());
  amend.mutable_guide()->mutable_materials(1)->add_licence_types("WJ01");
  amend.mutable_guide()->mutable_materials(2)->clear_licence_types();
  grpc::ClientContext c3;
  v1::AmendGuideResponse amended;
  grpc::Status s = catalog_->AmendGuide(&c3, amend, &amended);
  ASSERT_TRUE(s.ok()) << s.error_message();
  grpc::ClientContext c4;
  v1::GetGuideResponse after;
  ASSERT_TRUE(catalog_->GetGuide(&c4, greq, &after).ok());
  EXPECT_EQ(after.guide().version(), amended.guide().version());
  EXPECT_EQ(std::vector<std::string>(after.guide().materials(1).licence_types().begin(),
                                     after.guide().materials(1).licence_types().end()),
            (std::vector<std::string>{"GA01", "WJ01"}));
  EXPECT_EQ(after.guide().materials(2).licence_types_size(), 0);
}

TEST_F(NodeRpcTest, AbolishedItemCanNoLongerBeFiled) {
  {
    // Filing checks first load the guide into the node's memory; the
    // abolition below must still be seen by the next submission.
    grpc::ClientContext ctx;
    v1::PrecheckApplicationRequest pre;
    pre.set_item_code("GG00030102");
    pre.set_handling_province("430000");
    v1::PrecheckApplicationResponse resp;
    ASSERT_TRUE(apps_->PrecheckApplication(&ctx, pre, &resp).ok());
  }
  v1::AbolishItemRequest req;
  req.set_item_code("GG00030102");
  req.set_reason_zh("测试：事项取消");
  grpc::ClientContext c1;
  v1::AbolishItemResponse resp;
  grpc::Status s = catalog_->AbolishItem(&c1, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.guide().status(), v1::ITEM_STATUS_ABOLISHED);

  grpc::ClientContext c2;
  EXPECT_EQ(catalog_->AbolishItem(&c2, req, &resp).error_code(), StatusCode::FAILED_PRECONDITION);

  grpc::ClientContext c3;
  v1::SubmitApplicationResponse sresp;
  s = apps_->SubmitApplication(&c3, Submission("abolished-0001", "GG00030102", "430000", {"M01"}),
                               &sresp);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("abolished"), std::string::npos) << s.error_message();
}

TEST_F(NodeRpcTest, PrecheckNamesShanghaisExtraKeyMaterial) {
  grpc::ClientContext ctx;
  v1::PrecheckApplicationRequest req;
  req.set_item_code(kSocialSecurityCard);
  req.set_handling_province("310000");
  req.add_material_ids("M01");
  req.add_material_ids("M02");
  v1::PrecheckApplicationResponse resp;
  ASSERT_TRUE(apps_->PrecheckApplication(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.outcome(), v1::PRECHECK_OUTCOME_REFUSE);
  ASSERT_EQ(resp.missing_key_size(), 1);
  EXPECT_EQ(resp.missing_key(0).material_id(), "M09");
}

TEST_F(NodeRpcTest, CrossProvinceSubmissionMissingKeyMaterialIsRefusedWithTheList) {
  grpc::ClientContext ctx;
  v1::SubmitApplicationResponse resp;
  grpc::Status s = apps_->SubmitApplication(
      &ctx, Submission("refused-key-01", kSocialSecurityCard, "310000", {"M01", "M02", "M03"}),
      &resp);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("M09"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("社会保障卡数码照片回执"), std::string::npos);
}

TEST_F(NodeRpcTest, CrossProvinceDeficiencyIsAcceptedWithDeadlineAndOutboxEntry) {
  std::string before = HttpGet(node_->metrics_address(), "/metrics");
  double depth_before = MetricValue(before, "tongban_outbox_depth");
  v1::Application app =
      SubmitOk(Submission("cross-deficient-1", kSocialSecurityCard, "310000", {"M01", "M02", "M09"}));
  EXPECT_EQ(app.application_id().substr(0, 17), "TB-430000-310000-");
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  ASSERT_EQ(app.missing_material_ids_size(), 1);
  EXPECT_EQ(app.missing_material_ids(0), "M03");
  EXPECT_TRUE(app.has_supplement_deadline());
  EXPECT_EQ(app.forwarding(), v1::FORWARDING_STATE_PENDING);
  ASSERT_EQ(app.events_size(), 1);
  EXPECT_EQ(app.events(0).action(), v1::APPLICATION_ACTION_SUBMIT);
  EXPECT_EQ(app.events(0).actor(), "spiffe://tongban/province/430000/officer/officer-01");

  std::string after = HttpGet(node_->metrics_address(), "/metrics");
  EXPECT_EQ(MetricValue(after, "tongban_outbox_depth"), depth_before + 1);
  EXPECT_GE(MetricValue(after, "tongban_applications_submitted_total{outcome=\"deficiency\","
                               "route=\"cross_province\"}"),
            1);
}

TEST_F(NodeRpcTest, SubmissionIsIdempotentByKey) {
  auto req = Submission("idempotent-0001", kSocialSecurityCard, "430000", {"M01", "M02", "M03"});
  v1::Application first = SubmitOk(req);
  grpc::ClientContext ctx;
  v1::SubmitApplicationResponse again;
  ASSERT_TRUE(apps_->SubmitApplication(&ctx, req, &again).ok());
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(again.application().application_id(), first.application_id());

  req.set_note("a different request under the same key");
  grpc::ClientContext ctx2;
  grpc::Status s = apps_->SubmitApplication(&ctx2, req, &again);
  EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("idempotency_key"), std::string::npos);
}

TEST_F(NodeRpcTest, FilingFollowsAllianceAndProvinceRules) {
  struct Case {
    const char* item;
    const char* handling;
    StatusCode want;
  } cases[] = {
      {kSouthwestItem, "510000", StatusCode::FAILED_PRECONDITION},  // Hunan not in southwest-5
      {kGuangxiOpenItem, "450000", StatusCode::OK},                 // open province item
      {kBeijingClosedItem, "110000", StatusCode::FAILED_PRECONDITION},
      {kSocialSecurityCard, "650000", StatusCode::OK},              // national: anywhere
  };
  int n = 0;
  for (const Case& c : cases) {
    grpc::ClientContext ctx;
    v1::PrecheckApplicationRequest req;
    req.set_item_code(c.item);
    req.set_handling_province(c.handling);
    v1::PrecheckApplicationResponse resp;
    grpc::Status s = apps_->PrecheckApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), c.want) << c.item << " " << s.error_message() << " #" << n++;
  }
}

TEST_F(NodeRpcTest, OfficerTakesLocalApplicationThroughToApproval) {
  v1::Application app =
      SubmitOk(Submission("local-approve-01", kSocialSecurityCard, "430000", {"M01", "M02", "M03"}));
  ASSERT_EQ(app.state(), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_EQ(app.forwarding(), v1::FORWARDING_STATE_NOT_NEEDED);
  v1::Application out;
  ASSERT_TRUE(Decide(app.application_id(), v1::APPLICATION_ACTION_ACCEPT, &out).ok());
  EXPECT_EQ(out.state(), v1::APPLICATION_STATE_ACCEPTED);
  ASSERT_TRUE(Decide(app.application_id(), v1::APPLICATION_ACTION_START_REVIEW, &out).ok());
  ASSERT_TRUE(Decide(app.application_id(), v1::APPLICATION_ACTION_APPROVE, &out).ok());
  EXPECT_EQ(out.state(), v1::APPLICATION_STATE_APPROVED);
  ASSERT_EQ(out.events_size(), 4);
  EXPECT_EQ(out.events(3).event_id(), "430000-4");
  EXPECT_EQ(out.events(3).state_before(), v1::APPLICATION_STATE_IN_REVIEW);

  grpc::Status again = Decide(app.application_id(), v1::APPLICATION_ACTION_APPROVE);
  EXPECT_EQ(again.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(again.error_message().find("APPROVED"), std::string::npos) << again.error_message();

  grpc::ClientContext ctx;
  v1::GetApplicationRequest get;
  get.set_application_id(app.application_id());
  v1::GetApplicationResponse got;
  ASSERT_TRUE(apps_->GetApplication(&ctx, get, &got).ok());
  EXPECT_EQ(got.application().events_size(), 4);
}

TEST_F(NodeRpcTest, IllegalTransitionNamesTheCurrentState) {
  v1::Application app =
      SubmitOk(Submission("illegal-trans-01", kSocialSecurityCard, "430000", {"M01", "M02", "M03"}));
  grpc::Status s = Decide(app.application_id(), v1::APPLICATION_ACTION_APPROVE);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("RECEIVED"), std::string::npos) << s.error_message();
  // A rejection needs a reason.
  EXPECT_EQ(Decide(app.application_id(), v1::APPLICATION_ACTION_REJECT).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Decide(app.application_id(), v1::APPLICATION_ACTION_REJECT, nullptr, "不属于本机关职权范围").ok());
}

TEST_F(NodeRpcTest, DecisionsOnCrossProvinceApplicationsBelongToTheHandlingProvince) {
  v1::Application app = SubmitOk(
      Submission("cross-decide-01", kSocialSecurityCard, "310000", {"M01", "M02", "M03", "M09"}));
  grpc::Status s = Decide(app.application_id(), v1::APPLICATION_ACTION_ACCEPT);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("310000"), std::string::npos);
}

TEST_F(NodeRpcTest, SupplementCompletesADeficientApplication) {
  v1::Application app =
      SubmitOk(Submission("supplement-0001", kSocialSecurityCard, "430000", {"M01", "M02"}));
  ASSERT_EQ(app.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  grpc::ClientContext ctx;
  v1::SupplementMaterialsRequest req;
  req.set_application_id(app.application_id());
  *req.add_materials() = Material("M03");
  v1::SupplementMaterialsResponse resp;
  grpc::Status s = apps_->SupplementMaterials(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.application().state(), v1::APPLICATION_STATE_ACCEPTED);
  EXPECT_EQ(resp.application().missing_material_ids_size(), 0);
  EXPECT_FALSE(resp.application().has_supplement_deadline());

  // A material the guide does not ask for is refused, naming it.
  grpc::ClientContext ctx2;
  *req.mutable_materials(0) = Material("M77");
  s = apps_->SupplementMaterials(&ctx2, req, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("M77"), std::string::npos);
}

TEST_F(NodeRpcTest, TerminateBeforeDeadlineIsRefused) {
  v1::Application app =
      SubmitOk(Submission("terminate-early1", kSocialSecurityCard, "430000", {"M01", "M02"}));
  grpc::Status s = Decide(app.application_id(), v1::APPLICATION_ACTION_TERMINATE);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("deadline"), std::string::npos);
}

TEST_F(NodeRpcTest, WithdrawEndsTheApplication) {
  v1::Application app =
      SubmitOk(Submission("withdraw-000001", kSocialSecurityCard, "430000", {"M01", "M02", "M03"}));
  grpc::ClientContext ctx;
  v1::WithdrawApplicationRequest req;
  req.set_application_id(app.application_id());
  req.set_reason("申请人改在户籍地办理");
  v1::WithdrawApplicationResponse resp;
  ASSERT_TRUE(apps_->WithdrawApplication(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.application().state(), v1::APPLICATION_STATE_WITHDRAWN);
  grpc::ClientContext ctx2;
  EXPECT_EQ(apps_->WithdrawApplication(&ctx2, req, &resp).error_code(),
            StatusCode::FAILED_PRECONDITION);
}

TEST_F(NodeRpcTest, EscalationQueueListsAndResolves) {
  v1::Application app =
      SubmitOk(Submission("escalate-000001", kSocialSecurityCard, "430000", {"M01", "M02", "M03"}));
  v1::EscalateApplicationRequest req;
  req.set_application_id(app.application_id());
  req.set_reason("两地材料要求不一致，群众多次往返");
  grpc::ClientContext c1;
  v1::EscalateApplicationResponse resp;
  ASSERT_TRUE(apps_->EscalateApplication(&c1, req, &resp).ok());
  grpc::ClientContext c2;
  EXPECT_EQ(apps_->EscalateApplication(&c2, req, &resp).error_code(), StatusCode::ALREADY_EXISTS);

  grpc::ClientContext c3;
  v1::ListEscalationsResponse list;
  ASSERT_TRUE(apps_->ListEscalations(&c3, v1::ListEscalationsRequest(), &list).ok());
  bool found = false;
  for (const auto& e : list.escalations()) {
    if (e.application_id() == app.application_id()) {
      found = true;
      EXPECT_EQ(e.reason(), req.reason());
      EXPECT_FALSE(e.resolved());
    }
  }
  EXPECT_TRUE(found);

  v1::ResolveEscalationRequest resolve;
  resolve.set_application_id(app.application_id());
  resolve.set_resolution("已协调两地按统一标准受理");
  grpc::ClientContext c4;
  v1::ResolveEscalationResponse resolved;
  ASSERT_TRUE(apps_->ResolveEscalation(&c4, resolve, &resolved).ok());
  EXPECT_TRUE(resolved.escalation().resolved());
  grpc::ClientContext c5;
  v1::ListEscalationsResponse open;
  ASSERT_TRUE(apps_->ListEscalations(&c5, v1::ListEscalationsRequest(), &open).ok());
  for (const auto& e : open.escalations()) EXPECT_NE(e.application_id(), app.application_id());
}

TEST_F(NodeRpcTest, ListsByApplicantAndByStatePage) {
  auto req = Submission("by-applicant-001", kSocialSecurityCard, "430000", {"M01", "M02", "M03"});
  *req.mutable_applicant() = Applicant("43122619850505111", "李四");
  for (int i = 0; i < 5; ++i) {
    req.set_idempotency_key("by-applicant-00" + std::to_string(i));
    SubmitOk(req);
  }
  std::set<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    v1::ListApplicationsByApplicantRequest list;
    list.set_applicant_id_number(req.applicant().id_number());
    list.set_page_size(2);
    list.set_page_token(token);
    v1::ListApplicationsByApplicantResponse resp;
    ASSERT_TRUE(apps_->ListApplicationsByApplicant(&ctx, list, &resp).ok());
    for (const auto& a : resp.applications()) {
      EXPECT_EQ(a.applicant().name(), "李四");
      ids.insert(a.application_id());
    }
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(pages, 3);

  grpc::ClientContext ctx;
  v1::ListApplicationsByStateRequest by_state;
  by_state.set_state(v1::APPLICATION_STATE_RECEIVED);
  by_state.set_page_size(200);
  v1::ListApplicationsByStateResponse resp;
  ASSERT_TRUE(apps_->ListApplicationsByState(&ctx, by_state, &resp).ok());
  int mine = 0;
  for (const auto& a : resp.applications()) {
    EXPECT_EQ(a.state(), v1::APPLICATION_STATE_RECEIVED);
    mine += ids.count(a.application_id());
  }
  EXPECT_EQ(mine, 5);
}

TEST_F(NodeRpcTest, CitizenSeesOnlyTheirOwnApplications) {
  const std::string alice = MakeResidentId("11010519880808222");
  const std::string bob = MakeResidentId("11010519770707333");
  auto req = Submission("citizen-alice-01", kSocialSecurityCard, "430000", {"M01", "M02", "M03"});
  req.mutable_applicant()->set_id_number(alice);
  grpc::ClientContext c1;
  AsCitizen(&c1, alice);
  v1::SubmitApplicationResponse submitted;
  grpc::Status s = citizen_apps_->SubmitApplication(&c1, req, &submitted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(submitted.application().events(0).actor(), "citizen:" + alice);

  v1::GetApplicationRequest get;
  get.set_application_id(submitted.application().application_id());
  v1::GetApplicationResponse got;
  grpc::ClientContext c2;
  AsCitizen(&c2, alice);
  EXPECT_TRUE(citizen_apps_->GetApplication(&c2, get, &got).ok());
  grpc::ClientContext c3;
  AsCitizen(&c3, bob);
  EXPECT_EQ(citizen_apps_->GetApplication(&c3, get, &got).error_code(), StatusCode::NOT_FOUND);

  // Bob cannot file in Alice's name.
  grpc::ClientContext c4;
  AsCitizen(&c4, bob);
  req.set_idempotency_key("citizen-bob-0001");
  EXPECT_EQ(citizen_apps_->SubmitApplication(&c4, req, &submitted).error_code(),
            StatusCode::PERMISSION_DENIED);

  // Listing uses the stamp, whatever the request says.
  grpc::ClientContext c5;
  AsCitizen(&c5, bob);
  v1::ListApplicationsByApplicantRequest list;
  list.set_applicant_id_number(alice);
  v1::ListApplicationsByApplicantResponse listed;
  ASSERT_TRUE(citizen_apps_->ListApplicationsByApplicant(&c5, list, &listed).ok());
  EXPECT_EQ(listed.applications_size(), 0);
}

TEST_F(NodeRpcTest, ServerMetricsCountCallsByMethodAndCode) {
  const std::string ok_series =
      "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetCatalogInfo\","
      "grpc_service=\"tongban.v1.CatalogService\",grpc_type=\"unary\"}";
  double before = MetricValue(HttpGet(node_->metrics_address(), "/metrics"), ok_series);
  ASSERT_GE(before, 0);
  grpc::ClientContext ctx;
  v1::GetCatalogInfoResponse resp;
  ASSERT_TRUE(catalog_->GetCatalogInfo(&ctx, v1::GetCatalogInfoRequest(), &resp).ok());
  std::string after = HttpGet(node_->metrics_address(), "/metrics");
  EXPECT_EQ(MetricValue(after, ok_series), before + 1);
  EXPECT_NE(after.find("grpc_server_started_total"), std::string::npos);
  EXPECT_NE(after.find("grpc_server_handling_seconds_bucket"), std::string::npos);
  EXPECT_NE(after.find("tongban_cert_expiry_timestamp_seconds"), std::string::npos);
}

// ---- bad input: every case gets the right code and a message naming the field ----

struct BadSubmit {
  const char* name;
  void (*mutate)(v1::SubmitApplicationRequest*);
  StatusCode code;
  const char* field;
};

TEST_F(NodeRpcTest, BadSubmissionsAreRejectedNamingTheField) {
  const BadSubmit cases[] = {
      {"short key", [](auto* r) { r->set_idempotency_key("k"); }, StatusCode::INVALID_ARGUMENT,
       "idempotency_key"},
      {"bad item", [](auto* r) { r->set_item_code("ZZ123"); }, StatusCode::INVALID_ARGUMENT,
       "item_code"},
      {"unknown province", [](auto* r) { r->set_handling_province("990000"); },
       StatusCode::INVALID_ARGUMENT, "handling_province"},
      {"no applicant", [](auto* r) { r->clear_applicant(); }, StatusCode::INVALID_ARGUMENT,
       "applicant"},
      {"bad id checksum",
       [](auto* r) {
         std::string id = r->applicant().id_number();
         id[17] = id[17] == '0' ? '1' : '0';
         r->mutable_applicant()->set_id_number(id);
       },
       StatusCode::INVALID_ARGUMENT, "applicant.id_number"},
      {"empty name", [](auto* r) { r->mutable_applicant()->set_name(""); },
       StatusCode::INVALID_ARGUMENT, "applicant.name"},
      {"long name", [](auto* r) { r->mutable_applicant()->set_name(std::string(51 * 3, 'x')); },
       StatusCode::INVALID_ARGUMENT, "applicant.name"},
      {"bad phone", [](auto* r) { r->mutable_applicant()->set_phone("12345"); },
       StatusCode::INVALID_ARGUMENT, "applicant.phone"},
      {"bad material id", [](auto* r) { r->mutable_materials(0)->set_material_id("X1"); },
       StatusCode::INVALID_ARGUMENT, "materials[0].material_id"},
      {"duplicate material", [](auto* r) { *r->add_materials() = r->materials(0); },
       StatusCode::INVALID_ARGUMENT, "materials[3].material_id"},
      {"bad hash", [](auto* r) { r->mutable_materials(1)->set_content_sha256("abc"); },
       StatusCode::INVALID_ARGUMENT, "materials[1].content_sha256"},
      {"zero size", [](auto* r) { r->mutable_materials(2)->set_size_bytes(0); },
       StatusCode::INVALID_ARGUMENT, "materials[2].size_bytes"},
      {"huge material", [](auto* r) { r->mutable_materials(2)->set_size_bytes(1LL << 40); },
       StatusCode::INVALID_ARGUMENT, "materials[2].size_bytes"},
      {"too many materials",
       [](auto* r) {
         for (int i = 10; i < 62; ++i) *r->add_materials() = Material("M" + std::to_string(i));
       },
       StatusCode::INVALID_ARGUMENT, "materials"},
      {"unknown material", [](auto* r) { *r->add_materials() = Material("M55"); },
       StatusCode::INVALID_ARGUMENT, "M55"},
      {"long note", [](auto* r) { r->set_note(std::string(501, 'n')); },
       StatusCode::INVALID_ARGUMENT, "note"},
      {"control char", [](auto* r) { r->set_note("a\x01" "b"); }, StatusCode::INVALID_ARGUMENT,
       "note"},
      {"unknown item", [](auto* r) { r->set_item_code("GG09999999"); }, StatusCode::NOT_FOUND,
       "GG09999999"},
      {"oversized message", [](auto* r) { r->set_note(std::string(5 * 1024 * 1024, 'x')); },
       StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const BadSubmit& c : cases) {
    auto req = Submission("bad-input-case-1", kSocialSecurityCard, "430000", {"M01", "M02", "M03"});
    c.mutate(&req);
    grpc::ClientContext ctx;
    v1::SubmitApplicationResponse resp;
    grpc::Status s = apps_->SubmitApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.name << ": " << s.error_message();
  }
}

TEST_F(NodeRpcTest, BadIdsPagesAndEnumsAreRejected) {
  {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest req;
    req.set_application_id("TB-430000-310000-2026-1");
    v1::GetApplicationResponse resp;
    grpc::Status s = apps_->GetApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("application_id"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::GetApplicationRequest req;
    req.set_application_id("TB-430000-310000-20261125-99999999");
    v1::GetApplicationResponse resp;
    EXPECT_EQ(apps_->GetApplication(&ctx, req, &resp).error_code(), StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::ListItemsRequest req;
    req.set_page_size(500);
    v1::ListItemsResponse resp;
    grpc::Status s = catalog_->ListItems(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("page_size"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::ListItemsRequest req;
    req.set_page_token("bm90LWEtdG9rZW4");
    v1::ListItemsResponse resp;
    grpc::Status s = catalog_->ListItems(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("page_token"), std::string::npos);
  }
  {
    // A token of the national listing does not work for the alliance listing.
    grpc::ClientContext c1;
    v1::ListItemsRequest req;
    req.set_page_size(1);
    req.set_scope(v1::ITEM_SCOPE_NATIONAL);
    v1::ListItemsResponse resp;
    ASSERT_TRUE(catalog_->ListItems(&c1, req, &resp).ok());
    req.set_scope(v1::ITEM_SCOPE_PROVINCE);
    req.set_page_token(resp.next_page_token());
    grpc::ClientContext c2;
    EXPECT_EQ(catalog_->ListItems(&c2, req, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v1::ListApplicationsByStateRequest req;
    v1::ListApplicationsByStateResponse resp;
    grpc::Status s = apps_->ListApplicationsByState(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("state"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::SearchItemsRequest req;
    req.set_query("");
    v1::SearchItemsResponse resp;
    grpc::Status s = catalog_->SearchItems(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("query"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    v1::DecideApplicationRequest req;
    req.set_application_id("TB-430000-430000-20261125-00000001");
    req.set_action(v1::APPLICATION_ACTION_SUBMIT);
    v1::DecideApplicationResponse resp;
    grpc::Status s = apps_->DecideApplication(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("action"), std::string::npos);
  }
}

}  // namespace
}  // namespace tongban::testing
