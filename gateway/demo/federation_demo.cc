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

  Title("5. A search while one node is down → the answer still comes, naming who is missing");
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
    // The gateway serves a catalog from its cache while the node's version was
    // confirmed in the last 3 s; after that the node is asked live and missed.
    WaitFor([&] {
      grpc::ClientContext c;
      result.Clear();
      return federation->SearchFederation(&c, search, &result).ok() &&
             result.missing_provinces_size() > 0;
    });
    Say(absl::StrCat("SearchFederation 社会保障: ", result.guides_size(), " guides after ",
                     absl::ToInt64Milliseconds(absl::Now() - start), " ms; missing:"));
    for (const auto& m : result.missing_provinces()) {
      Say(absl::StrCat("  ", m.province_code(), " ", Name(m.province_code()), ": ", m.reason()));
    }
    kill(pid, SIGCONT);
    Say(absl::StrCat("thawed ", Name(frozen), "; the gateway reinstates it after a health probe"));
  }
  return 0;
}
