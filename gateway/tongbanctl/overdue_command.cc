#include "overdue_command.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "command_flags.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "peer_identity.h"
#include "tls_credentials.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::tongbanctl {
namespace {

constexpr char kHelp[] =
    "Usage: tongbanctl overdue [--clock legal|promised|either] [--limit N] [--page_token T]\n"
    "                          CONNECTION\n"
    "Lists the open applications this node's province handles whose time limit ran\n"
    "out (docs/time-limits.md), in application id order, with their clocks as the\n"
    "node computes them now: the due date (last working day), working days left\n"
    "(negative: overdue by that many), why the clocks are paused, and whether the\n"
    "case is in the 办不成事 queue. Officers of the node's province may call it.\n"
    "  --clock C             legal (法定时限 with its extension), promised (承诺时限)\n"
    "                        or either (default)\n"
    "  --limit N             applications per page, 1..200 (default 50)\n"
    "  --page_token T        the next page (printed after a full page)\n"
    "\n"
    "Connection:\n"
    "  --node HOST:PORT      the node's gRPC address (e.g. localhost:21009 for Shanghai)\n"
    "  --cert FILE           an officer's certificate of the node's province, PEM\n"
    "                        (dev: certs/dev/province/<p>/officer/officer-01/cert.pem)\n"
    "  --key FILE            its private key, PEM\n"
    "  --ca FILE             the federation CA bundle, PEM (dev: certs/dev/ca/ca.pem)\n"
    "  --crl_dir DIR         hashed CRL directory (optional)\n"
    "  --province P          refuse a node whose certificate is not\n"
    "                        spiffe://tongban/province/P (recommended)\n"
    "  --timeout SECONDS     per call (default 10)\n"
    "  --json                print the answer as JSON instead of a table\n"
    "\n"
    "Exit code: 0 done (also when nothing is overdue), 1 the node refused or could not\n"
    "be reached, 2 usage error.\n";

int Usage(const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "tongbanctl overdue: %s\n\n", error.c_str());
  std::fputs(kHelp, error.empty() ? stdout : stderr);
  return error.empty() ? 0 : 2;
}

const char* Paused(const v1::ApplicationClocks& c) {
  switch (c.paused()) {
    case v1::CLOCK_PAUSE_REASON_APPLICANT:
      return "applicant";
    case v1::CLOCK_PAUSE_REASON_SPECIAL_PROCEDURE:
      return "special procedure";
    default:
      return "-";
  }
}

std::string Due(const std::string& date, int remaining, bool overdue) {
  if (date.empty()) return "-";
  return absl::StrCat(date, overdue ? " (" : " (+", remaining, ")");
}

}  // namespace

int OverdueCommand(const std::vector<std::string>& args) {
  Flags flags;
  std::string error;
  if (!ParseFlags(args, 1, &flags, &error)) return Usage(error);
  if (flags.help) return Usage("");
  if (!flags.positional.empty()) {
    if (flags.positional[0] == "help") return Usage("");
    return Usage(absl::StrCat("unexpected argument ", flags.positional[0]));
  }
  const bool json = flags.json;
  auto take = [&flags](const std::string& name) { return flags.Take(name); };
  v1::ListOverdueApplicationsRequest req;
  const std::string clock = take("clock");
  if (clock == "legal") {
    req.set_clock(v1::CLOCK_KIND_LEGAL);
  } else if (clock == "promised") {
    req.set_clock(v1::CLOCK_KIND_PROMISED);
  } else if (!clock.empty() && clock != "either") {
    return Usage("--clock must be legal, promised or either");
  }
  if (const std::string limit = take("limit"); !limit.empty()) {
    const int n = std::atoi(limit.c_str());
    if (n < 1 || n > 200) return Usage("--limit needs 1..200");
    req.set_page_size(n);
  }
  req.set_page_token(take("page_token"));
  NodeConnection conn;
  if (!TakeNodeConnection(&flags, "an officer's", &conn, &error)) return Usage(error);
  if (!flags.values.empty()) {
    return Usage(absl::StrCat("unknown option --", flags.values.begin()->first));
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials =
      conn.province.empty() ? MakeChannelCredentials(conn.tls)
                            : MakeChannelCredentials(conn.tls, NodeSpiffeId(conn.province));
  auto stub = v1::ApplicationService::NewStub(grpc::CreateChannel(conn.node, credentials));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(conn.timeout_seconds));
  v1::ListOverdueApplicationsResponse resp;
  grpc::Status s = stub->ListOverdueApplications(&ctx, req, &resp);
  if (!s.ok()) {
    return ReportFailedCall("overdue", static_cast<int>(s.error_code()), s.error_message());
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    if (!google::protobuf::util::MessageToJsonString(resp, &out, options).ok()) return 1;
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  if (resp.applications_size() == 0) {
    std::printf("nothing overdue\n");
    return 0;
  }
  std::printf("%-35s %-10s %-28s %-18s %-18s %-17s %s\n", "APPLICATION", "ITEM", "STATE",
              "LEGAL DUE (LEFT)", "PROMISED DUE", "PAUSED", "ESCALATED");
  for (const v1::Application& a : resp.applications()) {
    const v1::ApplicationClocks& c = a.clocks();
    std::printf(
        "%-35s %-10s %-28s %-18s %-18s %-17s %s\n", a.application_id().c_str(),
        a.item_code().c_str(), v1::ApplicationState_Name(a.state()).c_str(),
        Due(c.legal_due_date(), c.legal_remaining_working_days(), c.legal_overdue()).c_str(),
        Due(c.promised_due_date(), c.promised_remaining_working_days(), c.promised_overdue())
            .c_str(),
        Paused(c), a.escalated() ? "yes" : "no");
  }
  std::printf("\n%d overdue%s\n", resp.applications_size(),
              resp.next_page_token().empty() ? "" : " on this page");
  if (!resp.next_page_token().empty()) {
    std::printf("more: --page_token %s\n", resp.next_page_token().c_str());
  }
  return 0;
}

}  // namespace tongban::tongbanctl
