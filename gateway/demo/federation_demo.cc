// tongban-demo: plays the seed article's 跨省通办 stories against a running
// local federation (gateway/run-federation.sh), through the gateway and the
// province nodes, with the dev officers' certificates. Run by gateway/demo.sh.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "province_registry.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/catalog.grpc.pb.h"
#include "tongban/v1/gateway.grpc.pb.h"
#include "tongban/v1/licence.grpc.pb.h"

ABSL_FLAG(std::string, certs, "certs/dev", "Dev certificate directory (certs/gen-dev-certs.sh).");
ABSL_FLAG(std::string, gateway, "127.0.0.1:20050", "Gateway address.");
ABSL_FLAG(int, node_base_port, 21000, "Node i (province code order) listens on this port + i.");
ABSL_FLAG(int, freeze_pid, 0, "Pid of the node to freeze for the partial-result story (0 = skip).");
ABSL_FLAG(std::string, freeze_province, "510000", "Province of --freeze_pid.");

namespace {

using namespace tongban;  // NOLINT: a demo reads better without prefixes

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An mTLS channel as officer-01 of `province`.
std::shared_ptr<grpc::Channel> AsOfficer(const std::string& province, const std::string& address) {
  const std::string certs = absl::GetFlag(FLAGS_certs);
  const std::string dir = certs + "/province/" + province + "/officer/officer-01";
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(certs + "/ca/ca.pem");
  ssl.pem_cert_chain = ReadFile(dir + "/cert.pem");
  ssl.pem_private_key = ReadFile(dir + "/key.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

std::string NodeAddress(const std::string& province) {
  int i = 0;
  for (const Province& p : AllProvinces()) {
    if (p.code == province) break;
    ++i;
  }
  return absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_node_base_port) + i);
}

std::string Name(const std::string& province) {
  const Province* p = FindProvince(province);
  return p == nullptr ? province : std::string(p->name_zh);
}

void Title(const std::string& text) { std::printf("\n\033[1m== %s\033[0m\n", text.c_str()); }
void Say(const std::string& text) { std::printf("   %s\n", text.c_str()); }
void Result(const grpc::Status& s) {
  if (s.ok()) return;
  std::printf("   -> %s: %s\n", s.error_code() == grpc::StatusCode::FAILED_PRECONDITION
                                     ? "FAILED_PRECONDITION"
                                     : std::to_string(s.error_code()).c_str(),
              s.error_message().c_str());
}

std::string State(v1::ApplicationState s) {
  return v1::ApplicationState_IsValid(s) ? v1::ApplicationState_Name(s).substr(sizeof("APPLICATION_STATE_") - 1) : std::to_string(s);
}

v1::SuppliedMaterial Material(const std::string& id) {
  v1::SuppliedMaterial m;
  m.set_material_id(id);
  m.set_content_sha256(std::string(64, 'e'));
  m.set_size_bytes(204800);
  m.set_media_type("application/pdf");
  return m;
}

v1::SubmitApplicationRequest Filing(const std::string& key, const std::string& item,
                                    const std::string& handling, const std::string& applicant_id,
                                    const std::string& name, std::vector<std::string> materials) {
  v1::SubmitApplicationRequest r;
  r.set_idempotency_key(key);
  r.set_item_code(item);
  r.set_handling_province(handling);
  r.mutable_applicant()->set_id_number(applicant_id);
  r.mutable_applicant()->set_name(name);
  for (const auto& m : materials) *r.add_materials() = Material(m);
  return r;
}

// Waits (up to 15 s) until `done()`; the federation works asynchronously.
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 150; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string RunKey() { return absl::StrCat(absl::ToUnixSeconds(absl::Now())); }

std::string Action(v1::ApplicationAction a) {
  return v1::ApplicationAction_IsValid(a) ? v1::ApplicationAction_Name(a).substr(sizeof("APPLICATION_ACTION_") - 1)
                                          : std::to_string(a);
}

// Live status: what an app shows, each event of the application as the
// accepting node stores it (its own, and those the handling province sends
// back), until `stop` is cancelled.
class Watcher {
 public:
  Watcher(v1::ApplicationService::Stub* node, const std::string& id) {
    thread_ = std::thread([this, node, id] {
      v1::WatchApplicationRequest req;
      req.set_application_id(id);
      req.set_heartbeat_seconds(5);
      auto stream = node->WatchApplication(&context_, req);
      v1::WatchApplicationResponse m;
      while (stream->Read(&m)) {
        if (m.heartbeat()) continue;
        const auto& e = m.event();
        if (e.action() == v1::APPLICATION_ACTION_JOINT_STEP) {  // a 多地联办 step moved
          Say(absl::StrCat("  [live at the 湖南 window #", m.sequence(), "] ", e.note(),
                           " ⇒ overall ", State(e.state_after())));
          continue;
        }
        Say(absl::StrCat("  [live at the 湖南 window #", m.sequence(), "] ", Action(e.action()),
                         " by ", Name(e.province_code()), " → ", State(e.state_after())));
      }
      stream->Finish();
    });
  }
  ~Watcher() {
    context_.TryCancel();
    thread_.join();
  }

 private:
  grpc::ClientContext context_;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tongban-demo: plays the 跨省通办 stories against a running local federation.\n"
      "Usually run by gateway/demo.sh, which starts the federation first.");
  absl::ParseCommandLine(argc, argv);
  const std::string gateway = absl::GetFlag(FLAGS_gateway);
  const std::string run = RunKey();

  auto hunan = v1::ApplicationService::NewStub(AsOfficer("430000", NodeAddress("430000")));
  auto shanghai = v1::ApplicationService::NewStub(AsOfficer("310000", NodeAddress("310000")));
  auto chongqing = v1::ApplicationService::NewStub(AsOfficer("500000", NodeAddress("500000")));
  auto federation = v1::FederationQueryService::NewStub(AsOfficer("430000", gateway));
  const std::string zhang = MakeResidentId("43122619900101123");  // 张三, from Jingzhou, Hunan
  std::string story1_id;  // approved by 上海 in story 1, rated in story 5

  Title("1. 无差别受理: a Jingzhou (湖南) window files Shanghai's 社会保障卡申领 and follows it");
  {
    grpc::ClientContext c0;
    v1::CompareGuidesRequest cmp;
    cmp.set_item_code("GG00020600");
    v1::CompareGuidesResponse diff;
    Result(federation->CompareGuides(&c0, cmp, &diff));
    Say(absl::StrCat("CompareGuides GG00020600 across ", diff.provinces_size(),
                     " provinces: extra materials in [",
                     absl::StrJoin(diff.provinces_with_extra_materials(), ", "),
                     "], no 容缺 in [", absl::StrJoin(diff.provinces_refusing_deficiency(), ", "),
                     "]"));
    grpc::ClientContext c1;
    v1::SubmitApplicationResponse filed;
    grpc::Status s = hunan->SubmitApplication(
        &c1, Filing("demo-story1-" + run, "GG00020600", "310000", zhang, "张三",
                    {"M01", "M02", "M03", "M09"}),
        &filed);
    Result(s);
    if (!s.ok()) return 1;
    const std::string id = filed.application().application_id();
    Say(absl::StrCat("湖南 accepted ", id, " → ", State(filed.application().state()),
                     "; forwarding to ", Name("310000"), " through the gateway"));
    // The applicant's app follows it live (WatchApplication; the public API's
    // WatchMyApplication and Server-Sent Events relay the same stream).
    Watcher live(hunan.get(), id);
    v1::GetRoutedApplicationRequest get;
    get.set_application_id(id);
    WaitFor([&] {
      grpc::ClientContext c;
      v1::GetRoutedApplicationResponse r;
      return federation->GetRoutedApplication(&c, get, &r).ok() && r.answered_by() == "310000";
    });
    Say(absl::StrCat(Name("310000"), " received it; its officer decides:"));
    for (auto action : {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_START_REVIEW,
                        v1::APPLICATION_ACTION_APPROVE}) {
      grpc::ClientContext c;
      v1::DecideApplicationRequest d;
      d.set_application_id(id);
      d.set_action(action);
      v1::DecideApplicationResponse r;
      Result(shanghai->DecideApplication(&c, d, &r));
      Say(absl::StrCat("  ", v1::ApplicationAction_Name(action).substr(19), " → ",
                       State(r.application().state())));
    }
    v1::GetApplicationRequest at_hunan;
    at_hunan.set_application_id(id);
    v1::GetApplicationResponse mirrored;
    WaitFor([&] {
      grpc::ClientContext c;
      return hunan->GetApplication(&c, at_hunan, &mirrored).ok() &&
             mirrored.application().state() == v1::APPLICATION_STATE_APPROVED;
    });
    Say(absl::StrCat("the applicant asks at the 湖南 window: ", State(mirrored.application().state()),
                     ", ", mirrored.application().events_size(), " events (same history as 上海)"));
    story1_id = id;
  }

  Title("2. 容缺办理: a non-key material missing → accepted with a deadline, supplemented later");
  {
    grpc::ClientContext c1;
    v1::SubmitApplicationResponse filed;
    Result(hunan->SubmitApplication(
        &c1, Filing("demo-story2-" + run, "GG00020600", "310000", zhang, "张三", {"M01", "M02", "M09"}),
        &filed));
    const auto& app = filed.application();
    Say(absl::StrCat(app.application_id(), " → ", State(app.state()), ", missing [",
                     absl::StrJoin(app.missing_material_ids(), ", "), "] by ",
                     app.supplement_deadline().seconds() > 0
                         ? absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(app.supplement_deadline().seconds()),
                                            absl::FixedTimeZone(8 * 3600))
                         : "?"));
    grpc::ClientContext c2;
    v1::SupplementMaterialsRequest sup;
    sup.set_application_id(app.application_id());
    *sup.add_materials() = Material("M03");
    v1::SupplementMaterialsResponse after;
    Result(hunan->SupplementMaterials(&c2, sup, &after));
    Say(absl::StrCat("supplemented M03 at the 湖南 window → recorded and relayed; the state is 上海's to change"));
    // The window mirrors the handling province's answer once it arrives.
    v1::Application mirrored = after.application();
    for (int i = 0; i < 50 && mirrored.state() == v1::APPLICATION_STATE_PENDING_SUPPLEMENT; ++i) {
      absl::SleepFor(absl::Milliseconds(200));
      grpc::ClientContext c3;
      v1::GetApplicationRequest get;
      get.set_application_id(app.application_id());
      v1::GetApplicationResponse got;
      if (hunan->GetApplication(&c3, get, &got).ok()) mirrored = got.application();
    }
    Say(absl::StrCat("上海 applied it → ", State(mirrored.state()), " (mirrored at the 湖南 window)"));
  }

  Title("3. A key material missing → refused at once, listing what is missing");
  {
    grpc::ClientContext c;
    v1::SubmitApplicationResponse r;
    Result(hunan->SubmitApplication(
        &c, Filing("demo-story3-" + run, "GG00020600", "310000", zhang, "张三", {"M01", "M02", "M03"}),
        &r));
  }

  Title("4. An alliance item (西南五省 残疾人证迁移) inside and outside its alliance");
  {
    const std::string li = MakeResidentId("50010119850505111");
    grpc::ClientContext c1;
    v1::SubmitApplicationResponse r;
    grpc::Status s = chongqing->SubmitApplication(
        &c1, Filing("demo-story4a-" + run, "GG92000100", "510000", li, "李四", {"M01", "M02", "M03", "M04"}),
        &r);
    Result(s);
    if (s.ok()) Say(absl::StrCat("重庆 window, handled by 四川: ", r.application().application_id(), " → ", State(r.application().state())));
    Say("the same item at the 湖南 window (not a member of the alliance):");
    grpc::ClientContext c2;
    Result(hunan->SubmitApplication(
        &c2, Filing("demo-story4b-" + run, "GG92000100", "510000", li, "李四", {"M01", "M02", "M03", "M04"}),
        &r));
    grpc::ClientContext c3;
    v1::FindFilingOptionsRequest where;
    where.set_item_code("GG92000100");
    where.set_accepting_province("500000");
    v1::FindFilingOptionsResponse options;
    Result(federation->FindFilingOptions(&c3, where, &options));
    std::vector<std::string> to;
    for (const auto& o : options.options()) to.push_back(o.handling_province());
    Say(absl::StrCat("FindFilingOptions from 重庆: [", absl::StrJoin(to, ", "), "]"));
  }

  Title("5. 好差评: the applicant rates story 1's case 不满意 at the 湖南 window; 上海 rectifies");
  if (story1_id.empty()) {
    Say("skipped (story 1 did not finish)");
  } else {
    grpc::ClientContext c1;
    v1::RateApplicationRequest rate;
    rate.set_application_id(story1_id);
    rate.set_level(v1::SATISFACTION_LEVEL_DISSATISFIED);
    rate.set_comment("审批结果通知太晚，跑了两趟窗口");
    v1::RateApplicationResponse rated;
    grpc::Status s = hunan->RateApplication(&c1, rate, &rated);
    Result(s);
    if (s.ok()) {
      Say(absl::StrCat("rated 2 不满意 (差评) at the 湖南 window; forwarded to ", Name("310000"),
                       ", which opens a rectification:"));
      v1::Rectification opened;
      WaitFor([&] {
        grpc::ClientContext c;
        v1::ListRectificationsRequest list;
        list.set_page_size(200);
        v1::ListRectificationsResponse r;
        if (!shanghai->ListRectifications(&c, list, &r).ok()) return false;
        for (const auto& x : r.rectifications()) {
          if (x.application_id() == story1_id) {
            opened = x;
            return true;
          }
        }
        return false;
      });
      Say(absl::StrCat("  上海 rectification of ", opened.application_id(), ": due ",
                       opened.due_date(), " (", opened.working_days(), " working days), comment \"",
                       opened.comment(), "\""));
      grpc::ClientContext c2;
      v1::RecordRectificationFollowUpRequest follow;
      follow.set_application_id(story1_id);
      follow.set_note("电话回访：已说明短信通知延迟原因，申请人表示理解");
      v1::RecordRectificationFollowUpResponse followed;
      Result(shanghai->RecordRectificationFollowUp(&c2, follow, &followed));
      grpc::ClientContext c3;
      v1::CloseRectificationRequest close;
      close.set_application_id(story1_id);
      close.set_outcome(v1::RECTIFICATION_OUTCOME_RECTIFIED);
      close.set_note("审批结果改为办结当日短信通知");
      v1::CloseRectificationResponse closed;
      Result(shanghai->CloseRectification(&c3, close, &closed));
      Say(absl::StrCat("  回访 recorded, rectification closed: ",
                       closed.rectification().closed() ? "RECTIFIED" : "?"));
      grpc::ClientContext c4;
      v1::GetSatisfactionStatsRequest stats;
      stats.mutable_from()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(24)));
      stats.mutable_to()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
      stats.add_provinces("310000");
      v1::GetSatisfactionStatsResponse st;
      Result(federation->GetSatisfactionStats(&c4, stats, &st));
      std::vector<std::string> levels;
      for (int64_t n : st.total().per_level()) levels.push_back(std::to_string(n));
      Say(absl::StrCat("GetSatisfactionStats, 上海, last 24 h: per level 1..5 [",
                       absl::StrJoin(levels, ", "), "], satisfaction ",
                       static_cast<int>(st.total().satisfaction_rate() * 100 + 0.5), " %"));
    }
  }

  Title("6. 多地联办: a pension transfer filed in 湖南, done by 上海 (转入地) and 广东 (转出地) in three steps");
  {
    auto guangdong = v1::ApplicationService::NewStub(AsOfficer("440000", NodeAddress("440000")));
    const std::string wang = MakeResidentId("44010619850612003");  // 王五, moving to Shanghai
    v1::SubmitApplicationRequest req =
        Filing("demo-story6-" + run, "GG00010101", "310000", wang, "王五", {"M01", "M02", "M03"});
    for (auto [role, province] : {std::pair<const char*, const char*>{"transfer_in", "310000"},
                                  {"transfer_out", "440000"}}) {
      v1::JointRoleAssignment* a = req.add_joint_roles();
      a->set_role_id(role);
      a->set_province_code(province);
    }
    grpc::ClientContext c1;
    v1::SubmitApplicationResponse filed;
    grpc::Status s = hunan->SubmitApplication(&c1, req, &filed);
    Result(s);
    if (s.error_message().find("only for 多地联办 items") != std::string::npos) {
      Say("this federation's databases predate the 多地联办 demo data: restart it with "
          "gateway/run-federation.sh --fresh");
    }
    if (s.ok()) {
      const std::string id = filed.application().application_id();
      Say(absl::StrCat("湖南 accepted the joint application ", id, "; its steps:"));
      for (const auto& step : filed.application().joint().steps()) {
        Say(absl::StrCat("  ", step.step().step(), ". ", step.role_name_zh(), " ",
                         Name(step.province_code()), ": ", step.step().name_zh(), " (",
                         step.step().legal_days(), " working days)"));
      }
      Watcher live(hunan.get(), id);
      v1::GetApplicationRequest get;
      get.set_application_id(id);
      // Each province decides only its own step's task, once it has it.
      auto decide_step = [&](int n, v1::ApplicationService::Stub* node, const std::string& province) {
        std::string task;
        WaitFor([&] {
          grpc::ClientContext c;
          v1::GetApplicationResponse r;
          if (!hunan->GetApplication(&c, get, &r).ok()) return false;
          task = r.application().joint().steps(n - 1).task_application_id();
          if (task.empty()) return false;
          grpc::ClientContext c2;
          v1::GetApplicationRequest there;
          there.set_application_id(task);
          v1::GetApplicationResponse t;
          return node->GetApplication(&c2, there, &t).ok();
        });
        Say(absl::StrCat(Name(province), " has step ", n, " as task ", task, "; its officer approves it"));
        for (auto action : {v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_ACTION_START_REVIEW,
                            v1::APPLICATION_ACTION_APPROVE}) {
          grpc::ClientContext c;
          v1::DecideApplicationRequest d;
          d.set_application_id(task);
          d.set_action(action);
          v1::DecideApplicationResponse r;
          Result(node->DecideApplication(&c, d, &r));
        }
      };
      decide_step(1, shanghai.get(), "310000");
      decide_step(2, guangdong.get(), "440000");
      decide_step(3, shanghai.get(), "310000");
      v1::GetApplicationResponse done;
      WaitFor([&] {
        grpc::ClientContext c;
        return hunan->GetApplication(&c, get, &done).ok() &&
               done.application().state() == v1::APPLICATION_STATE_APPROVED;
      });
      const auto& clocks = done.application().clocks();
      Say(absl::StrCat("the applicant asks at the 湖南 window: ", State(done.application().state()),
                       ", one history of ", done.application().events_size(), " events; ",
                       clocks.used_working_days(), " of ", clocks.limits().legal_days(),
                       " working days used across the three steps"));
    }
  }

  Title("7. 电子证照 / 免证办: 湖南 files 上海's 夫妻投靠户口迁移 with the marriage certificate 四川 issued");
  {
    // 张伟, registered in Hunan, married in Chengdu: his 结婚证 is Sichuan's
    // (node/demo_catalog/licences.tsv).
    const std::string zhang_wei = "430102199001011238";
    auto hunan_licences = v1::LicenceService::NewStub(AsOfficer("430000", NodeAddress("430000")));
    auto sichuan_licences = v1::LicenceService::NewStub(AsOfficer("510000", NodeAddress("510000")));
    v1::VerifyLicenceRequest check;
    check.set_issuing_province("510000");
    check.set_type_code("MZ01");
    check.set_number("J510107-2019-000123");
    check.set_holder_id(zhang_wei);
    check.set_purpose("核验纸质结婚证");
    v1::VerifyLicenceResponse checked;
    grpc::ClientContext c1;
    grpc::Status s = hunan_licences->VerifyLicence(&c1, check, &checked);
    Result(s);
    if (s.ok()) {
      Say(absl::StrCat("a 湖南 officer checks a paper copy yes/no at 四川: ",
                       checked.matched() ? "match, " + v1::LicenceStatus_Name(checked.status())
                                         : std::string("no match"),
                       " (四川 logged it as ", checked.disclosure_id(), ")"));
    }
    v1::PreviewLicenceRequest ask;
    ask.set_issuing_province("510000");
    ask.set_type_code("MZ01");
    ask.set_holder_id(zhang_wei);
    ask.mutable_use()->set_item_code("QR00070104");
    ask.mutable_use()->set_handling_province("310000");
    ask.mutable_use()->set_material_id("M03");
    v1::PreviewLicenceResponse preview;
    grpc::ClientContext c2;
    s = hunan_licences->PreviewLicence(&c2, ask, &preview);
    Result(s);
    if (!s.ok()) {
      Say("(a federation started before 电子证照 has no licence types in its guides: "
          "restart it with gateway/run-federation.sh --fresh)");
    } else {
      const auto& content = preview.preview().content();
      std::string fields;
      for (const auto& f : content.fields()) absl::StrAppend(&fields, " ", f.name(), "=", f.value());
      Say(absl::StrCat("preview for the applicant (no signature yet): ", preview.preview().type_name_zh(),
                       " ", content.number(), ", ", content.holder_name(), ", ",
                       content.issuing_authority(), ";", fields));
      v1::ConfirmLicenceRequest confirm;
      *confirm.mutable_grant() = preview.preview().grant();
      confirm.set_confirm(true);
      v1::ConfirmLicenceResponse released;
      grpc::ClientContext c3;
      s = hunan_licences->ConfirmLicence(&c3, confirm, &released);
      Result(s);
      if (s.ok()) {
        Say(absl::StrCat("张伟 confirms: 四川 releases ", released.licence().content().licence_id(),
                         ", signed by its node (", released.licence().signature().signature().size(),
                         "-byte ECDSA signature)"));
        v1::SubmitApplicationRequest filing =
            Filing("demo-licence-" + run, "QR00070104", "310000", zhang_wei, "张伟",
                   {"M01", "M02", "M09"});
        v1::LicenceMaterial* m03 = filing.add_licence_materials();
        m03->set_material_id("M03");
        *m03->mutable_licence() = released.licence();
        v1::SubmitApplicationResponse filed;
        grpc::ClientContext c4;
        s = hunan->SubmitApplication(&c4, filing, &filed);
        Result(s);
        if (s.ok()) {
          const std::string id = filed.application().application_id();
          Say(absl::StrCat("filed ", id, " with M03 = the licence: ",
                           State(filed.application().state())));
          v1::GetApplicationRequest get;
          get.set_application_id(id);
          v1::GetApplicationResponse at_shanghai;
          const bool delivered = WaitFor([&] {
            grpc::ClientContext c;
            return shanghai->GetApplication(&c, get, &at_shanghai).ok();
          });
          Say(delivered ? "上海 verified the licence itself on delivery (signature, holder, its own "
                          "guide) and holds it as material M03"
                        : "not delivered to 上海 within 15 s");
        }
      }
    }
    v1::ListHolderDisclosuresRequest log;
    log.set_holder_id(zhang_wei);
    log.set_page_size(5);
    v1::ListLicenceDisclosuresResponse records;
    grpc::ClientContext c5;
    s = sichuan_licences->ListHolderDisclosures(&c5, log, &records);
    Result(s);
    if (s.ok()) {
      Say("四川's signed disclosure log for 张伟, newest first:");
      for (const auto& d : records.disclosures()) {
        Say(absl::StrCat("  ", v1::DisclosureKind_Name(d.kind()).substr(sizeof("DISCLOSURE_KIND_") - 1),
                         " by ", d.requester_province(), " ", d.requester(), ": ", d.purpose()));
      }
    }
  }

  Title("8. A search while one node is down → answered at once, naming whose part is stale");
  {
    const int pid = absl::GetFlag(FLAGS_freeze_pid);
    const std::string frozen = absl::GetFlag(FLAGS_freeze_province);
    if (pid <= 0) {
      Say("skipped (no --freeze_pid)");
      return 0;
    }
    kill(pid, SIGSTOP);
    Say(absl::StrCat("froze the ", Name(frozen), " node (SIGSTOP): it accepts connections but never answers"));
    v1::SearchFederationRequest search;
    search.set_query("社会保障");
    v1::SearchFederationResponse result;
    absl::Time start = absl::Now();
    // The gateway answers from its cache while the node's catalog version was
    // confirmed in the last 3 s; after that it still answers from the last
    // confirmed copy, marked stale, instead of waiting for the frozen node.
    WaitFor([&] {
      grpc::ClientContext c;
      result.Clear();
      start = absl::Now();
      return federation->SearchFederation(&c, search, &result).ok() &&
             (result.stale_provinces_size() > 0 || result.missing_provinces_size() > 0);
    });
    Say(absl::StrCat("SearchFederation 社会保障: ", result.guides_size(), " guides in ",
                     absl::ToInt64Milliseconds(absl::Now() - start), " ms"));
    for (const auto& st : result.stale_provinces()) {
      Say(absl::StrCat("  stale: ", st.province_code(), " ", Name(st.province_code()),
                       ", its catalog version ", st.catalog_version(), " as last confirmed at ",
                       absl::FormatTime("%H:%M:%S", absl::FromUnixSeconds(st.confirmed_unix_seconds()),
                                        absl::FixedTimeZone(8 * 3600))));
    }
    for (const auto& m : result.missing_provinces()) {
      Say(absl::StrCat("  missing: ", m.province_code(), " ", Name(m.province_code()), ": ", m.reason()));
    }
    kill(pid, SIGCONT);
    Say(absl::StrCat("thawed ", Name(frozen), "; the gateway reinstates it after a health probe"));
  }
  return 0;
}
