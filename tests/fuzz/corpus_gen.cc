// Writes the generated seed corpora of the fuzz targets into
// <out>/<target>/ (tests/fuzz/corpus/ in the repository):
//   citizen_token        tokens minted with the target's test key, claims to sign
//   id_parsers           application ids, resident ids, page tokens
//   node_requests        one valid request per RPC (and some refused ones)
//   federation_delivery  what nodes 310000 and 430000 really forward to each
//                        other (their outbox payloads), plus hostile variants
// rest_binder's seeds are written by hand (text). Existing files of the same
// name are overwritten; crash regressions (named crash-*) are left alone.
//   cmake --build build --target fuzz_corpus_gen
//   build/tests/fuzz/fuzz_corpus_gen tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "application_id.h"
#include "citizen_token.h"
#include "node_fixture.h"
#include "page_token.h"
#include "tongban/v1/licence.pb.h"
#include "tongban/v1/node_admin.pb.h"
#include "resident_id.h"

namespace tongban::fuzz {
namespace {

std::string g_out;
int g_written = 0;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(g_out + "/" + target);
  std::ofstream f(g_out + "/" + target + "/" + name, std::ios::binary | std::ios::trunc);
  f << bytes;
  ++g_written;
}

void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) {
    std::fprintf(stderr, "corpus_gen: %s: %d %s\n", what.c_str(), static_cast<int>(s.error_code()),
                 s.error_message().c_str());
    std::exit(1);
  }
}

// ---------------------------------------------------------------- id_parsers
void IdParsers() {
  const std::string t = "id_parsers";
  Write(t, "app-id-valid", "TB-430000-310000-20261125-00000042");
  Write(t, "app-id-leap-day", "TB-110000-650000-20240229-99999999");
  Write(t, "app-id-bad-date", "TB-430000-310000-20230229-00000001");
  Write(t, "app-id-unknown-province", "TB-990000-310000-20261125-00000042");
  Write(t, "app-id-signed-sequence", "TB-430000-310000-20261125-+0000042");
  Write(t, "resident-id-valid", MakeResidentId("43122619900101123"));
  Write(t, "resident-id-x", "11010519491231002X");
  Write(t, "resident-id-lower-x", "11010519491231002x");
  Write(t, "resident-id-bad-check", "110105194912310021");
  Write(t, "page-token-items", EncodePageToken("items:NATIONAL:0", "GG00020600"));
  Write(t, "page-token-applicant",
        EncodePageToken("by-applicant:11010519491231002X", "TB-430000-310000-20261125-00000042"));
  Write(t, "page-token-roundtrip", "items:NATIONAL:0\nGG00020600");
  Write(t, "page-token-separator", std::string("v1\x1f" "items\x1f" "a\x1f" "b\x1f" "1", 15));
  Write(t, "text-utf8", "社会保障卡申领\t办理\n");
  Write(t, "text-bad-utf8", std::string("\xe7\xa4\xbe\xff\xc0\x80", 6));
  Write(t, "sha256", std::string(64, 'a'));
}

// ---------------------------------------------------------------- citizen_token
const std::string& FuzzTokenKeyPem() {
  static const std::string* k =
      new std::string(tongban::fuzzing::DerivedTestKeyPem("tongban-fuzz-citizen-token"));
  return *k;
}

void CitizenTokens() {
  const std::string t = "citizen_token";
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  CitizenTokenClaims claims;
  claims.subject = "11010519491231002X";
  claims.issuer = "https://id.tongban.dev";
  claims.audience = "tongban-public-api";
  claims.issued_at = now - absl::Minutes(5);
  claims.not_before = absl::InfinitePast();
  claims.expires_at = now + absl::Hours(1);
  claims.kid = "k1";
  auto token = MintCitizenToken(FuzzTokenKeyPem(), claims);
  if (!token.ok()) {
    std::fprintf(stderr, "mint: %s\n", token.status().ToString().c_str());
    std::exit(1);
  }
  Write(t, "0-valid", "\x00" + *token);
  Write(t, "1-bearer-valid", "\x01" "Bearer " + *token);
  Write(t, "1-bearer-lowercase", "\x01" "bearer " + *token);
  claims.kid = "";
  claims.jti = "a1b2c3";
  claims.not_before = now - absl::Minutes(1);
  Write(t, "0-valid-no-kid", "\x00" + *MintCitizenToken(FuzzTokenKeyPem(), claims));
  claims.expires_at = now - absl::Hours(2);
  claims.issued_at = now - absl::Hours(3);
  Write(t, "0-expired", "\x00" + *MintCitizenToken(FuzzTokenKeyPem(), claims));
  Write(t, "0-alg-none",
        std::string("\x00", 1) + "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMTAxMDUxOTQ5MTIzMTAwMlgifQ.");
  Write(t, "0-three-dots", std::string("\x00", 1) + "a.b.c.d");
  Write(t, "1-basic", "\x01" "Basic dXNlcjpwYXNz");
  // Claims signed by the target (mode 2) and by an unknown key (mode 3).
  const std::string header = R"({"alg":"ES256","typ":"JWT","kid":"k1"})";
  const std::string good = R"({"sub":"11010519491231002X","iss":"https://id.tongban.dev","aud":"tongban-public-api","iat":1699999700,"exp":1700003600})";
  Write(t, "2-claims-valid", "\x02" + good);
  Write(t, "2-header-and-claims", "\x02" + header + "\n" + good);
  Write(t, "3-unknown-key", "\x03" + good);
  Write(t, "2-aud-list", "\x02" R"({"sub":"11010519491231002X","iss":"https://id.tongban.dev","aud":["x","tongban-public-api"],"exp":1700000600,"nbf":1699999000})");
  Write(t, "2-exp-huge", "\x02" R"({"sub":"11010519491231002X","iss":"https://id.tongban.dev","aud":"tongban-public-api","exp":1e300,"iat":-1e300})");
  Write(t, "2-exp-fraction", "\x02" R"({"sub":"11010519491231002X","iss":"https://id.tongban.dev","aud":"tongban-public-api","exp":1700000600.75,"nbf":"soon"})");
  Write(t, "2-exp-nan-like", "\x02" R"({"sub":"11010519491231002X","iss":"https://id.tongban.dev","aud":"tongban-public-api","exp":9223372036854775807,"iat":-9223372036854775808})");
  Write(t, "2-bad-sub", "\x02" R"({"sub":"110105194912310021","iss":"https://id.tongban.dev","aud":"tongban-public-api","exp":1700000600})");
  Write(t, "2-crit", "\x02" R"({"alg":"ES256","crit":["exp"]})" "\n" + good);
  Write(t, "2-hs256", "\x02" R"({"alg":"HS256","typ":"JWT"})" "\n" + good);
  Write(t, "2-typ-number", "\x02" R"({"alg":"ES256","typ":7,"kid":"k1"})" "\n" + good);
  Write(t, "2-kid-unknown", "\x02" R"({"alg":"ES256","kid":"k2"})" "\n" + good);
  Write(t, "2-not-json", "\x02" "\n[1,2,3]");
}

// ---------------------------------------------------------------- node fixtures
constexpr char kOfficer310[] = "spiffe://tongban/province/310000/officer/officer-01";
constexpr char kOfficer430[] = "spiffe://tongban/province/430000/officer/officer-01";
constexpr char kGateway[] = "spiffe://tongban/gateway";

v1::SuppliedMaterial Material(const std::string& id) {
  v1::SuppliedMaterial m;
  m.set_material_id(id);
  m.set_content_sha256(std::string(64, 'a'));
  m.set_size_bytes(123456);
  m.set_media_type("application/pdf");
  return m;
}

v1::SubmitApplicationRequest Submission(const std::string& key, const std::string& item,
                                        const std::string& handling,
                                        const std::vector<std::string>& materials) {
  v1::SubmitApplicationRequest r;
  r.set_idempotency_key(key);
  r.set_item_code(item);
  r.set_handling_province(handling);
  r.mutable_applicant()->set_id_number(MakeResidentId("43122619900101123"));
  r.mutable_applicant()->set_name("张三");
  r.mutable_applicant()->set_phone("13800138000");
  for (const auto& id : materials) *r.add_materials() = Material(id);
  return r;
}

// node_requests input: RPC index, caller index, request bytes (indices as in
// node_requests_fuzzer.cc).
enum RpcIndex {
  kPrecheck, kSubmit, kGet, kListByApplicant, kListByState, kSupplement, kWithdraw, kDecide,
  kEscalate, kListEscalations, kResolve, kListItems, kSearchItems, kGetItem, kGetGuide,
  kListAlliances, kGetCatalogInfo, kAmendGuide, kAbolishItem, kDeliverApplication, kDeliverEvent,
  kFetchGuide, kListOutbox, kGetOutboxEntry, kReplayDeadLetter, kDiscardDeadLetter,
  kCheckLicence, kListLicenceTypes, kIssueLicence, kRevokeLicence, kGetLicence, kListLicences,
  kVerifyLicence, kListLicenceDisclosures, kFetchLicencePreview, kReleaseLicence,
  kPreviewLicence, kConfirmLicence, kListHolderDisclosures, kCheckApplicationLicences,
};
enum CallerIndex { kOwnOfficer, kCitizen, kRelay430, kGatewayBare, kNode430, kOfficer430Idx,
                   kOperator, kBothStamps, kAnonymous, kBadStamps };

void NodeRequest(const std::string& name, int rpc, int caller,
                 const google::protobuf::Message& req) {
  std::string bytes;
  bytes.push_back(static_cast<char>(rpc));
  bytes.push_back(static_cast<char>(caller));
  bytes += req.SerializeAsString();
  // Numbered in the order written: replay runs files in name order, and the
  // later requests act on the applications the earlier ones filed.
  static int order = 0;
  char prefix[8];
  std::snprintf(prefix, sizeof(prefix), "%02d-", order++);
  Write("node_requests", prefix + name, bytes);
}

void NodeRequests() {
  const std::string app = "TB-310000-310000-20260301-00000001";
  const std::string citizen = MakeResidentId("43122619900101123");
  auto local = Submission("fuzz-node-local-0001", "GG00020600", "310000",
                          {"M01", "M02", "M03", "M09"});
  NodeRequest("submit-local-officer", kSubmit, kOwnOfficer, local);
  auto rongque = Submission("fuzz-node-rongque-01", "GG00020600", "310000", {"M01", "M02", "M09"});
  NodeRequest("submit-rongque-citizen", kSubmit, kCitizen, rongque);
  auto cross = Submission("fuzz-node-cross-0001", "GG00020600", "430000", {"M01", "M02", "M03"});
  NodeRequest("submit-cross-officer", kSubmit, kOwnOfficer, cross);
  auto refused = Submission("fuzz-node-refused-01", "GG00020600", "310000", {"M01"});
  NodeRequest("submit-missing-key-material", kSubmit, kOwnOfficer, refused);
  auto closed = Submission("fuzz-node-closed-001", "GG11000100", "110000", {"M01"});
  NodeRequest("submit-closed-item", kSubmit, kCitizen, closed);

  v1::PrecheckApplicationRequest pre;
  pre.set_item_code("GG00020600");
  pre.set_handling_province("310000");
  for (const char* m : {"M01", "M02", "M09"}) pre.add_material_ids(m);
  NodeRequest("precheck-citizen", kPrecheck, kCitizen, pre);

  v1::GetApplicationRequest get;
  get.set_application_id(app);
  NodeRequest("get-officer", kGet, kOwnOfficer, get);
  NodeRequest("get-relay", kGet, kRelay430, get);
  NodeRequest("get-anonymous", kGet, kAnonymous, get);

  v1::ListApplicationsByApplicantRequest by_applicant;
  by_applicant.set_applicant_id_number(citizen);
  by_applicant.set_page_size(1);
  NodeRequest("list-by-applicant-officer", kListByApplicant, kOwnOfficer, by_applicant);
  by_applicant.set_page_token(EncodePageToken(absl::StrCat("by-applicant:", citizen), app));
  NodeRequest("list-by-applicant-page-2", kListByApplicant, kCitizen, by_applicant);

  v1::ListApplicationsByStateRequest by_state;
  by_state.set_state(v1::APPLICATION_STATE_RECEIVED);
  NodeRequest("list-by-state", kListByState, kOwnOfficer, by_state);
  by_state.set_state(static_cast<v1::ApplicationState>(99));
  NodeRequest("list-by-state-unknown", kListByState, kOwnOfficer, by_state);

  v1::SupplementMaterialsRequest supplement;
  supplement.set_application_id("TB-310000-310000-20260301-00000002");
  *supplement.add_materials() = Material("M03");
  supplement.set_note("补交银行账户信息");
  NodeRequest("supplement-citizen", kSupplement, kCitizen, supplement);

  v1::DecideApplicationRequest decide;
  decide.set_application_id(app);
  for (auto [name, action] :
       std::vector<std::pair<const char*, v1::ApplicationAction>>{
           {"accept", v1::APPLICATION_ACTION_ACCEPT},
           {"start-review", v1::APPLICATION_ACTION_START_REVIEW},
           {"request-materials", v1::APPLICATION_ACTION_REQUEST_MATERIALS},
           {"approve", v1::APPLICATION_ACTION_APPROVE},
           {"unknown-action", static_cast<v1::ApplicationAction>(99)}}) {
    decide.set_action(action);
    decide.set_note(name);
    NodeRequest(absl::StrCat("decide-", name), kDecide, kOwnOfficer, decide);
  }
  decide.set_action(v1::APPLICATION_ACTION_APPROVE);
  NodeRequest("decide-by-citizen", kDecide, kCitizen, decide);

  v1::EscalateApplicationRequest escalate;
  escalate.set_application_id("TB-310000-310000-20260301-00000002");
  escalate.set_reason("窗口说材料不全，但清单上没有这项");
  NodeRequest("escalate-citizen", kEscalate, kCitizen, escalate);
  v1::ListEscalationsRequest escalations;
  escalations.set_include_resolved(true);
  NodeRequest("list-escalations", kListEscalations, kOwnOfficer, escalations);
  v1::ResolveEscalationRequest resolve;
  resolve.set_application_id("TB-310000-310000-20260301-00000002");
  resolve.set_resolution("已电话联系申请人");
  NodeRequest("resolve-escalation", kResolve, kOwnOfficer, resolve);

  v1::WithdrawApplicationRequest withdraw;
  withdraw.set_application_id("TB-310000-310000-20260301-00000002");
  withdraw.set_reason("不再需要");
  NodeRequest("withdraw-citizen", kWithdraw, kCitizen, withdraw);

  v1::ListItemsRequest items;
  items.set_scope(v1::ITEM_SCOPE_NATIONAL);
  items.set_page_size(5);
  NodeRequest("list-items-gateway", kListItems, kGatewayBare, items);
  items.set_page_token(EncodePageToken("items:NATIONAL:0", "GG00020600"));
  NodeRequest("list-items-page-2", kListItems, kOwnOfficer, items);
  v1::SearchItemsRequest search;
  search.set_query("社会保障");
  NodeRequest("search-items", kSearchItems, kOwnOfficer, search);
  search.set_query("social security card");
  search.set_page_size(200);
  NodeRequest("search-items-english", kSearchItems, kGatewayBare, search);
  v1::GetItemRequest item;
  item.set_item_code("GG00020600");
  NodeRequest("get-item", kGetItem, kGatewayBare, item);
  v1::GetGuideRequest guide;
  guide.set_item_code("GG00020600");
  NodeRequest("get-guide", kGetGuide, kOwnOfficer, guide);
  NodeRequest("list-alliances", kListAlliances, kGatewayBare, v1::ListAlliancesRequest());
  NodeRequest("catalog-info", kGetCatalogInfo, kOwnOfficer, v1::GetCatalogInfoRequest());
  v1::FetchGuideRequest fetch;
  fetch.set_province_code("310000");
  fetch.set_item_code("GG00020600");
  fetch.set_cached_version(1);
  NodeRequest("fetch-guide-relay", kFetchGuide, kRelay430, fetch);

  // The operator's outbox RPCs (entry 1: the cross-province filing above).
  v1::ListOutboxRequest outbox;
  outbox.set_page_size(10);
  NodeRequest("outbox-list-operator", kListOutbox, kOperator, outbox);
  outbox.set_status(v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER);
  outbox.set_target_province("430000");
  NodeRequest("outbox-list-dead", kListOutbox, kOperator, outbox);
  NodeRequest("outbox-list-officer-refused", kListOutbox, kOwnOfficer, outbox);
  v1::GetOutboxEntryRequest entry;
  entry.set_id(1);
  NodeRequest("outbox-get", kGetOutboxEntry, kOperator, entry);
  v1::ReplayDeadLetterRequest replay;
  replay.set_id(1);
  NodeRequest("outbox-replay-not-dead", kReplayDeadLetter, kOperator, replay);
  v1::DiscardDeadLetterRequest discard;
  discard.set_id(1);
  discard.set_reason("已线下处理");
  NodeRequest("outbox-discard-not-dead", kDiscardDeadLetter, kOperator, discard);

  // Amend the real guide (as stored), and abolish an item no other seed uses.
  NodeFixture& n310 = NodeFixture::Get("310000");
  CallContext ctx(FakeCaller{kOfficer310, false, "", false, ""});
  // GetGuide is a raw callback method (its answer kept serialized): read it
  // through the same entry the fuzzer uses.
  std::shared_ptr<const std::string> answer;
  Check(n310.catalog_service().GuideFor(*ctx.get(), guide, &answer), "get guide 310000");
  v1::GetGuideResponse got;
  Check(got.ParseFromString(*answer) ? grpc::Status::OK
                                     : grpc::Status(grpc::StatusCode::INTERNAL, "unparsable guide"),
        "parse guide 310000");
  v1::AmendGuideRequest amend;
  *amend.mutable_guide() = got.guide();
  amend.set_expected_version(got.guide().version());
  amend.mutable_guide()->set_promised_time_limit_days(15);
  NodeRequest("amend-guide", kAmendGuide, kOwnOfficer, amend);
  amend.set_expected_version(got.guide().version() + 7);
  NodeRequest("amend-guide-stale", kAmendGuide, kOwnOfficer, amend);
  v1::ListItemsRequest all;
  all.set_page_size(200);
  all.set_scope(v1::ITEM_SCOPE_PROVINCE);
  v1::ListItemsResponse listed;
  CallContext ctx2(FakeCaller{kOfficer310, false, "", false, ""});
  Check(n310.catalog_service().ListItems(ctx2.get(), &all, &listed), "list province items");
  if (listed.guides_size() > 0) {
    v1::AbolishItemRequest abolish;
    abolish.set_item_code(listed.guides(listed.guides_size() - 1).item().item_code());
    abolish.set_reason_zh("事项已取消");
    NodeRequest("abolish-item", kAbolishItem, kOwnOfficer, abolish);
  }

  // 电子证照: a relayed check of Shanghai's demo degree certificate, an
  // officer's issue, revocation, reads and check, the operator's log.
  v1::CheckLicenceRequest check;
  check.set_issuing_province("310000");
  check.set_type_code("JY02");
  check.set_number("1024632007000456");
  check.set_holder_id("31010119850715123X");
  check.set_purpose("核验学位证书");
  check.set_requester("spiffe://tongban/province/430000/officer/officer-01");
  NodeRequest("licence-check-relay", kCheckLicence, kRelay430, check);
  NodeRequest("licence-types", kListLicenceTypes, kOperator, v1::ListLicenceTypesRequest());
  v1::IssueLicenceRequest issue;
  issue.set_type_code("MZ01");
  issue.set_number("J310101-2025-000001");
  issue.set_holder_id("31010119850715123X");
  issue.set_holder_name("陈静");
  issue.set_issuing_authority("上海市黄浦区民政局");
  issue.set_valid_from("2025-10-01");
  v1::LicenceField* printed = issue.add_fields();
  printed->set_name("登记日期");
  printed->set_value("2025-10-01");
  NodeRequest("licence-issue", kIssueLicence, kOwnOfficer, issue);
  v1::GetLicenceRequest get_licence;
  get_licence.set_licence_id("310000-MZ01-J310101-2025-000001");
  NodeRequest("licence-get", kGetLicence, kOwnOfficer, get_licence);
  v1::RevokeLicenceRequest revoke;
  revoke.set_licence_id("310000-MZ01-J310101-2025-000001");
  revoke.set_reason("登记错误");
  NodeRequest("licence-revoke", kRevokeLicence, kOwnOfficer, revoke);
  v1::ListLicencesRequest licences;
  licences.set_holder_id("31010119850715123X");
  licences.set_page_size(1);
  NodeRequest("licence-list", kListLicences, kOwnOfficer, licences);
  v1::VerifyLicenceRequest verify;
  verify.set_issuing_province("310000");
  verify.set_type_code("JY02");
  verify.set_number("1024632007000456");
  verify.set_holder_id("31010119850715123X");
  verify.set_purpose("核验学位证书");
  NodeRequest("licence-verify-local", kVerifyLicence, kOwnOfficer, verify);
  v1::ListLicenceDisclosuresRequest disclosures;
  disclosures.set_holder_id("31010119850715123X");
  disclosures.set_page_size(1);
  NodeRequest("licence-disclosures", kListLicenceDisclosures, kOperator, disclosures);
}

// ---------------------------------------------------------------- federation_delivery
// Byte 0: bit 0 = DeliverEvent, bits 1-2 caller mode (0 = gateway stamping
// the claimed origin); byte 1: origin pick for mode 1.
void Delivery(const std::string& name, bool event, int caller_mode, int pick,
              const std::string& payload) {
  std::string bytes;
  bytes.push_back(static_cast<char>((event ? 1 : 0) | (caller_mode << 1)));
  bytes.push_back(static_cast<char>(pick));
  bytes += payload;
  Write("federation_delivery", name, bytes);
}

// Delivers what `from` has in its outbox to `to` (as the gateway would, with
// `from` stamped as origin), writing each payload as a seed named
// <prefix>-<n>-<kind>.
void Pump(NodeFixture& from, NodeFixture& to, const std::string& prefix, int* counter,
          std::vector<std::string>* event_payloads) {
  auto due = from.applications().DueOutbox(absl::InfiniteFuture(), 100);
  if (!due.ok()) {
    std::fprintf(stderr, "outbox: %s\n", due.status().ToString().c_str());
    std::exit(1);
  }
  for (const node::OutboxEntry& e : *due) {
    CallContext ctx(FakeCaller{kGateway, false, "", true, from.province()});
    const bool is_event = e.kind == node::OutboxEntry::Kind::kDeliverEvent;
    grpc::Status s;
    if (is_event) {
      v1::DeliverEventRequest req;
      req.ParseFromString(e.payload);
      v1::DeliverEventResponse resp;
      s = to.federation_service().DeliverEvent(ctx.get(), &req, &resp);
      if (event_payloads != nullptr) event_payloads->push_back(e.payload);
    } else {
      v1::DeliverApplicationRequest req;
      req.ParseFromString(e.payload);
      v1::DeliverApplicationResponse resp;
      s = to.federation_service().DeliverApplication(ctx.get(), &req, &resp);
    }
    if (!s.ok()) {
      std::fprintf(stderr, "corpus_gen: delivering %s entry %lld to %s: %d %s (kept as a seed)\n",
                   e.application_id.c_str(), static_cast<long long>(e.id), to.province().c_str(),
                   static_cast<int>(s.error_code()), s.error_message().c_str());
    }
    Delivery(absl::StrCat(prefix, "-", (*counter)++, is_event ? "-event" : "-application"),
             is_event, 0, 0, e.payload);
    auto done = from.applications().CompleteOutbox(
        e.id, [](v1::Application&) -> absl::StatusOr<node::Mutation> { return node::Mutation(); });
    (void)done;
  }
}

void Decide(NodeFixture& node, const char* officer, const std::string& id,
            v1::ApplicationAction action) {
  CallContext ctx(FakeCaller{officer, false, "", false, ""});
  v1::DecideApplicationRequest req;
  req.set_application_id(id);
  req.set_action(action);
  req.set_note("fuzz seed");
  v1::DecideApplicationResponse resp;
  Check(node.application_service().DecideApplication(ctx.get(), &req, &resp),
        absl::StrCat("decide ", id, " ", v1::ApplicationAction_Name(action)));
}

void FederationDeliveries() {
  NodeFixture& n310 = NodeFixture::Get("310000");
  NodeFixture& n430 = NodeFixture::Get("430000");
  // The same two applications the target's set-up files (same ids).
  {
    CallContext ctx(FakeCaller{kOfficer310, false, "", false, ""});
    auto req = Submission("fuzz-seed-outgoing-1", "GG00020600", "430000", {"M01", "M02", "M03"});
    v1::SubmitApplicationResponse resp;
    Check(n310.application_service().SubmitApplicationNow(*ctx.get(), req, &resp), "submit 310→430");
  }
  for (const char* key : {"fuzz-seed-incoming-1", "fuzz-seed-incoming-2"}) {
    CallContext ctx(FakeCaller{kOfficer430, false, "", false, ""});
    auto req = Submission(key, "GG00020600", "310000", {"M01", "M02", "M09"});  // 容缺: M03
    v1::SubmitApplicationResponse resp;
    Check(n430.application_service().SubmitApplicationNow(*ctx.get(), req, &resp), "submit 430→310");
  }
  int counter = 0;
  std::vector<std::string> events;
  Pump(n310, n430, "from310", &counter, nullptr);
  Pump(n430, n310, "from430", &counter, nullptr);
  Pump(n310, n430, "from310", &counter, nullptr);  // DELIVER events going back
  // Hunan decides its case (filed in Shanghai): ACCEPT, START_REVIEW, APPROVE.
  const std::string outgoing = "TB-310000-430000-20260301-00000001";
  for (auto action : {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_START_REVIEW,
                      v1::APPLICATION_ACTION_APPROVE}) {
    Decide(n430, kOfficer430, outgoing, action);
  }
  Pump(n430, n310, "from430", &counter, &events);
  // The applicant supplements the 容缺 material at the Hunan window.
  {
    CallContext ctx(FakeCaller{kOfficer430, false, "", false, ""});
    v1::SupplementMaterialsRequest req;
    req.set_application_id("TB-430000-310000-20260301-00000002");
    *req.add_materials() = Material("M03");
    v1::SupplementMaterialsResponse resp;
    grpc::Status s = n430.application_service().SupplementMaterials(ctx.get(), &req, &resp);
    if (!s.ok()) std::fprintf(stderr, "supplement at 430000: %s\n", s.error_message().c_str());
  }
  Pump(n430, n310, "from430", &counter, &events);

  // Hostile variants of the real messages (issue 10): a state the sender may
  // not decide, unknown enums, the wrong author, another application's event.
  if (!events.empty()) {
    v1::DeliverEventRequest base;
    base.ParseFromString(events.front());
    v1::DeliverEventRequest e = base;
    e.mutable_event()->set_state_after(static_cast<v1::ApplicationState>(99));
    e.mutable_event()->set_event_id(e.event().event_id() + "-99");
    Delivery("hostile-state-after-99", true, 0, 0, e.SerializeAsString());
    e = base;
    e.mutable_event()->set_action(static_cast<v1::ApplicationAction>(77));
    e.mutable_event()->set_event_id(e.event().event_id() + "-77");
    Delivery("hostile-action-77", true, 0, 0, e.SerializeAsString());
    e = base;
    e.set_application_id("TB-430000-310000-20260301-00000001");
    e.mutable_event()->set_action(v1::APPLICATION_ACTION_APPROVE);
    e.mutable_event()->set_state_before(v1::APPLICATION_STATE_RECEIVED);
    e.mutable_event()->set_state_after(v1::APPLICATION_STATE_APPROVED);
    e.mutable_event()->set_province_code("430000");
    e.mutable_event()->set_event_id(e.event().event_id() + "-approve");
    Delivery("hostile-accepting-approves", true, 0, 0, e.SerializeAsString());
    e = base;
    Delivery("hostile-origin-310000", true, 1, 1, e.SerializeAsString());
    Delivery("hostile-from-node-not-gateway", true, 3, 0, e.SerializeAsString());
  }
  {
    CallContext ctx(FakeCaller{kOfficer430, false, "", false, ""});
    v1::GetApplicationRequest get;
    get.set_application_id("TB-430000-310000-20260301-00000002");
    v1::GetApplicationResponse got;
    Check(n430.application_service().GetApplication(ctx.get(), &get, &got), "get at 430000");
    v1::DeliverApplicationRequest d;
    *d.mutable_application() = got.application();
    d.mutable_application()->set_application_id("TB-430000-310000-20260301-00000003");
    d.mutable_application()->set_state(v1::APPLICATION_STATE_APPROVED);
    d.mutable_application()->clear_materials();
    Delivery("hostile-approved-no-materials", false, 0, 0, d.SerializeAsString());
    d.mutable_application()->set_application_id("TB-430000-310000-20260301-00000004");
    d.mutable_application()->set_state(static_cast<v1::ApplicationState>(99));
    Delivery("hostile-application-state-99", false, 0, 0, d.SerializeAsString());
  }
}

}  // namespace
}  // namespace tongban::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  tongban::fuzz::g_out = argv[1];
  tongban::fuzz::IdParsers();
  tongban::fuzz::CitizenTokens();
  tongban::fuzz::FederationDeliveries();
  tongban::fuzz::NodeRequests();
  std::fprintf(stderr, "corpus_gen: wrote %d files under %s\n", tongban::fuzz::g_written, argv[1]);
  return 0;
}
