#include "outbox_command.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "command_flags.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "peer_identity.h"
#include "tls_credentials.h"
#include "tongban/v1/node_admin.grpc.pb.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::tongbanctl {
namespace {

constexpr char kCommonOptions[] =
    "Connection (every outbox command):\n"
    "  --node HOST:PORT      the node's gRPC address (e.g. localhost:21017)\n"
    "  --cert FILE           the operator's certificate, PEM (SAN\n"
    "                        spiffe://tongban/province/<p>/operator/<id>;\n"
    "                        dev: certs/dev/province/<p>/operator/operator-01/cert.pem)\n"
    "  --key FILE            its private key, PEM\n"
    "  --ca FILE             the federation CA bundle, PEM (dev: certs/dev/ca/ca.pem)\n"
    "  --crl_dir DIR         hashed CRL directory (optional)\n"
    "  --province P          refuse a node whose certificate is not\n"
    "                        spiffe://tongban/province/P (recommended)\n"
    "  --timeout SECONDS     per call (default 10)\n"
    "  --json                print the answer as JSON instead of text\n";

constexpr char kOutboxUsage[] =
    "Usage: tongbanctl outbox list    [--status pending|dead|all] [--application ID]\n"
    "                                 [--target P] [--limit N] [--page_token T] CONNECTION\n"
    "       tongbanctl outbox show    ID CONNECTION\n"
    "       tongbanctl outbox replay  ID CONNECTION\n"
    "       tongbanctl outbox discard ID --reason TEXT CONNECTION\n"
    "       tongbanctl outbox <command> --help\n"
    "\n"
    "A node's outbox holds its deliveries to other provinces. A delivery the other\n"
    "province refused for good (PERMISSION_DENIED, INVALID_ARGUMENT, ...) becomes a\n"
    "dead letter: it is not retried, and the later deliveries of the same application\n"
    "wait behind it. Fix the cause, then `replay` it, or `discard` it with a reason\n"
    "(recorded as an event on the application with your identity). Only operators of\n"
    "the node's own province may call these (docs/operations.md, \"Dead letters\").\n";

constexpr char kListHelp[] =
    "Usage: tongbanctl outbox list [options] CONNECTION\n"
    "Lists outbox entries, oldest first, with a summary of the whole outbox.\n"
    "  --status S            pending | dead | all (default all)\n"
    "  --application ID      only this application's entries\n"
    "  --target P            only entries to province P\n"
    "  --limit N             entries per page, 1..200 (default 50)\n"
    "  --page_token T        the next page (printed after a full page)\n";
constexpr char kShowHelp[] =
    "Usage: tongbanctl outbox show ID CONNECTION\n"
    "Shows one entry: status, attempts, last error, the dead letter's reason, the\n"
    "dead letter it waits behind (pending entries) and what its payload carries.\n";
constexpr char kReplayHelp[] =
    "Usage: tongbanctl outbox replay ID CONNECTION\n"
    "Puts a dead letter back to pending, attempts reset, due at once. Replay after\n"
    "fixing the cause; if the receiver refuses it again it becomes a dead letter again.\n";
constexpr char kDiscardHelp[] =
    "Usage: tongbanctl outbox discard ID --reason TEXT CONNECTION\n"
    "Gives up a dead letter: removes it and records a DISCARD_DELIVERY event on the\n"
    "application (actor: your certificate's identity, note: TEXT). The other province\n"
    "never receives it. The application's later deliveries are released.\n"
    "  --reason TEXT         why (required, up to 500 characters)\n";

int Usage(const char* error, const char* help) {
  if (error != nullptr) std::fprintf(stderr, "tongbanctl outbox: %s\n\n", error);
  FILE* out = error != nullptr ? stderr : stdout;
  std::fputs(help, out);
  std::fputs("\n", out);
  std::fputs(kCommonOptions, out);
  std::fputs("\nExit code: 0 done, 1 the node refused or could not be reached, 2 usage error.\n",
             out);
  return error != nullptr ? 2 : 0;
}

bool ParseId(const std::string& text, int64_t* id) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *id = std::strtoll(text.c_str(), nullptr, 10);
  return *id >= 1;
}

std::string Time(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  const absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

const char* Kind(v1::OutboxEntryKind kind) {
  return kind == v1::OUTBOX_ENTRY_KIND_DELIVER_APPLICATION ? "application" : "event";
}

std::string Status(const v1::OutboxEntryInfo& e) {
  if (e.status() == v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER) return "DEAD LETTER";
  if (e.blocked_by() != 0) return absl::StrCat("blocked by ", e.blocked_by());
  return "pending";
}

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return 1;
  std::fputs(json.c_str(), stdout);
  return 0;
}

int Failed(const grpc::Status& status) {
  return ReportFailedCall("outbox", static_cast<int>(status.error_code()), status.error_message());
}

void PrintEntry(const v1::OutboxEntryInfo& e) {
  std::printf("entry %lld: %s to %s, application %s\n", static_cast<long long>(e.id()),
              Kind(e.kind()), e.target_province().c_str(), e.application_id().c_str());
  std::printf("  status:        %s\n", Status(e).c_str());
  std::printf("  created:       %s\n", Time(e.created_at()).c_str());
  std::printf("  attempts:      %d\n", e.attempts());
  if (e.status() == v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER) {
    const v1::DeadLetter& d = e.dead_letter();
    std::printf("  refused:       %s by %s: %s\n", Time(d.at()).c_str(), d.code().c_str(),
                d.message().c_str());
  } else {
    std::printf("  next attempt:  %s\n", Time(e.next_attempt_at()).c_str());
    if (!e.last_error().empty()) std::printf("  last error:    %s\n", e.last_error().c_str());
    if (e.blocked_by() != 0) {
      std::printf("  waits behind dead letter %lld of the same application\n",
                  static_cast<long long>(e.blocked_by()));
    }
  }
}

}  // namespace

int OutboxCommand(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h" || args[1] == "help") {
    return Usage(args.size() < 2 ? "which outbox command? (list, show, replay, discard)" : nullptr,
                 kOutboxUsage);
  }
  const std::string command = args[1];
  const char* help = command == "list"      ? kListHelp
                     : command == "show"    ? kShowHelp
                     : command == "replay"  ? kReplayHelp
                     : command == "discard" ? kDiscardHelp
                                            : nullptr;
  if (help == nullptr) {
    return Usage(absl::StrCat("unknown outbox command ", command,
                              " (the commands are list, show, replay, discard)")
                     .c_str(),
                 kOutboxUsage);
  }
  Flags flags;
  std::string error;
  if (!ParseFlags(args, 2, &flags, &error)) return Usage(error.c_str(), help);
  if (flags.help) return Usage(nullptr, help);
  auto take = [&flags](const std::string& name) { return flags.Take(name); };
  NodeConnection conn;
  if (!TakeNodeConnection(&flags, "the operator's", &conn, &error)) {
    return Usage(error.c_str(), help);
  }

  // Command arguments.
  int64_t id = 0;
  v1::ListOutboxRequest list;
  std::string reason;
  if (command == "list") {
    if (!flags.positional.empty()) {
      return Usage(absl::StrCat("unexpected argument ", flags.positional[0]).c_str(), help);
    }
    const std::string status = take("status");
    if (status == "pending") {
      list.set_status(v1::OUTBOX_ENTRY_STATUS_PENDING);
    } else if (status == "dead" || status == "dead_letter" || status == "dead-letter") {
      list.set_status(v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER);
    } else if (!status.empty() && status != "all") {
      return Usage("--status must be pending, dead or all", help);
    }
    list.set_application_id(take("application"));
    list.set_target_province(take("target"));
    list.set_page_token(take("page_token"));
    const std::string limit = take("limit");
    if (!limit.empty()) {
      const int n = std::atoi(limit.c_str());
      if (n < 1 || n > 200) return Usage("--limit needs 1..200", help);
      list.set_page_size(n);
    }
  } else {
    if (flags.positional.size() != 1 || !ParseId(flags.positional[0], &id)) {
      return Usage(absl::StrCat(command, " needs one entry ID (a number from `outbox list`)").c_str(),
                   help);
    }
    if (command == "discard") {
      reason = take("reason");
      if (reason.empty()) return Usage("discard needs --reason TEXT (recorded on the application)", help);
    }
  }
  if (!flags.values.empty()) {
    return Usage(absl::StrCat("unknown option --", flags.values.begin()->first, " for outbox ",
                              command)
                     .c_str(),
                 help);
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials =
      conn.province.empty() ? MakeChannelCredentials(conn.tls)
                            : MakeChannelCredentials(conn.tls, NodeSpiffeId(conn.province));
  auto channel = grpc::CreateChannel(conn.node, credentials);
  auto stub = v1::NodeAdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(conn.timeout_seconds));

  if (command == "list") {
    v1::ListOutboxResponse resp;
    grpc::Status s = stub->ListOutbox(&ctx, list, &resp);
    if (!s.ok()) return Failed(s);
    if (flags.json) return PrintJson(resp);
    if (resp.entries_size() == 0) {
      std::printf("no entries\n");
    } else {
      std::printf("%-6s %-16s %-11s %-35s %-6s %-8s %-23s %s\n", "ID", "STATUS", "KIND",
                  "APPLICATION", "TARGET", "ATTEMPTS", "CREATED", "LAST ERROR");
      for (const v1::OutboxEntryInfo& e : resp.entries()) {
        std::printf("%-6lld %-16s %-11s %-35s %-6s %-8d %-23s %s\n",
                    static_cast<long long>(e.id()), Status(e).c_str(), Kind(e.kind()),
                    e.application_id().c_str(), e.target_province().c_str(), e.attempts(),
                    Time(e.created_at()).c_str(), e.last_error().c_str());
      }
    }
    std::printf("\noutbox: %lld pending (%lld held back behind dead letters), %lld dead letters\n",
                static_cast<long long>(resp.pending()), static_cast<long long>(resp.blocked()),
                static_cast<long long>(resp.dead_letters()));
    if (!resp.next_page_token().empty()) {
      std::printf("more: --page_token %s\n", resp.next_page_token().c_str());
    }
    return 0;
  }
  if (command == "show") {
    v1::GetOutboxEntryRequest req;
    req.set_id(id);
    v1::GetOutboxEntryResponse resp;
    grpc::Status s = stub->GetOutboxEntry(&ctx, req, &resp);
    if (!s.ok()) return Failed(s);
    if (flags.json) return PrintJson(resp);
    PrintEntry(resp.entry());
    const v1::OutboxPayloadSummary& p = resp.payload();
    if (!p.unreadable().empty()) {
      std::printf("  payload:       %lld bytes, unreadable: %s\n",
                  static_cast<long long>(p.payload_bytes()), p.unreadable().c_str());
    } else if (resp.entry().kind() == v1::OUTBOX_ENTRY_KIND_DELIVER_APPLICATION) {
      std::printf("  payload:       %lld bytes: item %s, state %s, %d events\n",
                  static_cast<long long>(p.payload_bytes()), p.item_code().c_str(),
                  v1::ApplicationState_Name(p.state()).c_str(), p.events());
    } else {
      std::printf("  payload:       %lld bytes: event %s %s by %s at %s\n",
                  static_cast<long long>(p.payload_bytes()), p.event_id().c_str(),
                  v1::ApplicationAction_Name(p.action()).c_str(), p.actor().c_str(),
                  Time(p.at()).c_str());
    }
    return 0;
  }
  if (command == "replay") {
    v1::ReplayDeadLetterRequest req;
    req.set_id(id);
    v1::ReplayDeadLetterResponse resp;
    grpc::Status s = stub->ReplayDeadLetter(&ctx, req, &resp);
    if (!s.ok()) return Failed(s);
    if (flags.json) return PrintJson(resp);
    std::printf("replayed: entry %lld is pending again (attempts reset, due now)\n",
                static_cast<long long>(resp.entry().id()));
    return 0;
  }
  v1::DiscardDeadLetterRequest req;
  req.set_id(id);
  req.set_reason(reason);
  v1::DiscardDeadLetterResponse resp;
  grpc::Status s = stub->DiscardDeadLetter(&ctx, req, &resp);
  if (!s.ok()) return Failed(s);
  if (flags.json) return PrintJson(resp);
  std::printf("discarded: entry %lld (%s, %s); recorded as event %s on %s by %s\n",
              static_cast<long long>(resp.discarded().id()), Kind(resp.discarded().kind()),
              resp.discarded().dead_letter().code().c_str(), resp.event().event_id().c_str(),
              resp.discarded().application_id().c_str(), resp.event().actor().c_str());
  return 0;
}

}  // namespace tongban::tongbanctl
