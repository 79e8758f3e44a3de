#include "licence_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "command_flags.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "licence_signing.h"
#include "licence_types.h"
#include "peer_identity.h"
#include "record_signing.h"
#include "tls_credentials.h"
#include "tongban/v1/licence.grpc.pb.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::tongbanctl {
namespace {

constexpr char kCommonOptions[] =
    "Connection (every licences command):\n"
    "  --node HOST:PORT      the node's gRPC address (e.g. localhost:21017)\n"
    "  --cert FILE           an officer's certificate of the node's province, PEM\n"
    "                        (dev: certs/dev/province/<p>/officer/officer-01/cert.pem);\n"
    "                        `log` also takes an operator's (.../operator/operator-01/)\n"
    "  --key FILE            its private key, PEM\n"
    "  --ca FILE             the federation CA bundle, PEM (dev: certs/dev/ca/ca.pem);\n"
    "                        also what the signatures are verified against\n"
    "  --crl_dir DIR         hashed CRL directory (optional; also used for the\n"
    "                        signatures: a signer certificate revoked before it signed fails)\n"
    "  --province P          refuse a node whose certificate is not\n"
    "                        spiffe://tongban/province/P (recommended)\n"
    "  --timeout SECONDS     per call (default 10)\n"
    "  --json                print the answer as JSON instead of text (signature\n"
    "                        problems go to stderr)\n";

constexpr char kLicencesUsage[] =
    "Usage: tongbanctl licences log    [--holder ID] [--licence ID] [--from-province P]\n"
    "                                  [--limit N] CONNECTION\n"
    "       tongbanctl licences show   LICENCE_ID CONNECTION\n"
    "       tongbanctl licences verify --issuer P --type T --number N --holder ID\n"
    "                                  --purpose TEXT [--application ID] CONNECTION\n"
    "       tongbanctl licences <command> --help\n"
    "\n"
    "A province's node keeps the register of the 电子证照 its province issued, each\n"
    "signed by the node, and a signed log of every disclosure of them: each yes/no\n"
    "check, by an officer of any province (docs/licences.md). These commands read\n"
    "them without a database shell and verify every signature offline against the\n"
    "--ca bundle, as of the time each record was signed.\n";

constexpr char kLogHelp[] =
    "Usage: tongbanctl licences log [--holder ID] [--licence ID] [--from-province P]\n"
    "                               [--limit N] CONNECTION\n"
    "Lists the node's disclosure log, newest first, one line per record: time (China\n"
    "Standard Time, UTC+8), disclosure id, kind, the asking province and who asked\n"
    "there, the type/number/holder asked about, the licence that matched (or \"no\n"
    "match\") and its status then, the purpose and the application. Each record's\n"
    "signature is verified against --ca: \"signature ok\" or the problem. Officers\n"
    "and operators of the node's province may call it.\n"
    "  --holder ID           only accesses concerning this holder (resident id or\n"
    "                        unified social credit code)\n"
    "  --licence ID          only accesses that matched this licence\n"
    "                        (e.g. 510000-MZ01-J510107-2019-000123)\n"
    "  --from-province P     only accesses asked by province P\n"
    "  --limit N             at most N records, 1..10000 (default 50; read in pages)\n"
    "\n"
    "Exit code: 0 every signature verified (also when the log is empty), 1 a\n"
    "signature did not verify, or the node refused or could not be reached, 2 usage\n"
    "error or unreadable --ca.\n";

constexpr char kShowHelp[] =
    "Usage: tongbanctl licences show LICENCE_ID CONNECTION\n"
    "Shows one licence of the node's register (GetLicence): type, number, holder,\n"
    "issuing authority, issue time (China Standard Time), validity, printed fields,\n"
    "status and revocation, and verifies the issuing node's signature of its content\n"
    "(and of the revocation) against --ca: \"signature ok\" or the problem. Officers\n"
    "of the node's province may call it.\n"
    "  LICENCE_ID            <province>-<type>-<number>, e.g. 510000-MZ01-J510107-2019-000123\n"
    "\n"
    "Exit code: 0 shown and the signature verified, 1 a signature did not verify, or\n"
    "the node refused (NOT_FOUND: not in its register) or could not be reached, 2 usage\n"
    "error or unreadable --ca.\n";

constexpr char kVerifyHelp[] =
    "Usage: tongbanctl licences verify --issuer P --type T --number N --holder ID\n"
    "                                  --purpose TEXT [--application ID] CONNECTION\n"
    "Asks the node, as an officer of its province, the yes/no question \"did province\n"
    "P issue licence N of type T to holder ID, and is it valid?\" (VerifyLicence).\n"
    "Another province's licence is asked through the gateway. Prints \"match:\" with\n"
    "the status and last day of validity, or \"no match\" (which says nothing more:\n"
    "not whether the number exists), and the id of the issuing node's disclosure\n"
    "record of this check. The check is recorded with your identity and purpose.\n"
    "  --issuer P            the issuing province (6 digits, e.g. 510000)\n"
    "  --type T              licence type code (e.g. MZ01 结婚证)\n"
    "  --number N            the licence number as printed\n"
    "  --holder ID           the holder id the paper copy names\n"
    "  --purpose TEXT        why you check (required, up to 200 characters; logged)\n"
    "  --application ID      the application the check is for (optional)\n"
    "\n"
    "Exit code: 0 answered (match or no match), 1 the node refused or could not be\n"
    "reached, 2 usage error.\n";

int Usage(const char* error, const char* help) {
  if (error != nullptr) std::fprintf(stderr, "tongbanctl licences: %s\n\n", error);
  FILE* out = error != nullptr ? stderr : stdout;
  std::fputs(help, out);
  std::fputs("\n", out);
  std::fputs(kCommonOptions, out);
  if (help == kLicencesUsage) {
    std::fputs(
        "\nExit code: 0 done, 1 the node refused or could not be reached, or a signature\n"
        "did not verify, 2 usage error.\n",
        out);
  }
  return error != nullptr ? 2 : 0;
}

int Failed(const grpc::Status& status) {
  return ReportFailedCall("licences", static_cast<int>(status.error_code()),
                          status.error_message());
}

// Text from the node as is (Chinese included), but without control
// characters, so a record stays on its line and cannot drive the terminal.
std::string Clean(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : Clean(text); }

// China Standard Time, as the provinces' offices read it.
std::string Time(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  static const absl::TimeZone kChina = absl::FixedTimeZone(8 * 3600);
  const absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%d %H:%M:%S CST", t, kChina);
}

// "LICENCE_STATUS_VALID" -> "VALID".
std::string Short(const std::string& enum_name, const std::string& prefix) {
  return enum_name.rfind(prefix, 0) == 0 ? enum_name.substr(prefix.size()) : enum_name;
}
std::string StatusName(v1::LicenceStatus status) {
  const std::string name = v1::LicenceStatus_Name(status);
  return name.empty() ? absl::StrCat("status ", static_cast<int>(status))
                      : Short(name, "LICENCE_STATUS_");
}
std::string KindName(v1::DisclosureKind kind) {
  const std::string name = v1::DisclosureKind_Name(kind);
  return name.empty() ? absl::StrCat("kind ", static_cast<int>(kind))
                      : Short(name, "DISCLOSURE_KIND_");
}
const char* HolderKindName(v1::HolderKind kind) {
  switch (kind) {
    case v1::HOLDER_KIND_PERSON:
      return "person";
    case v1::HOLDER_KIND_ORGANIZATION:
      return "organisation";
    default:
      return "holder";
  }
}

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return 1;
  std::fputs(json.c_str(), stdout);
  return 0;
}

// One record of the disclosure log, on one line, without its verdict.
std::string DisclosureLine(const v1::LicenceDisclosure& d) {
  std::string line = absl::StrCat(Time(d.at()), "  ", OrDash(d.disclosure_id()), "  ",
                                  KindName(d.kind()), "  by ", OrDash(d.requester_province()), " ",
                                  OrDash(d.requester()), "  asked ", OrDash(d.type_code()), "/",
                                  OrDash(d.number()), "/", OrDash(d.holder_id()), "  ");
  if (d.matched()) {
    absl::StrAppend(&line, "matched ", OrDash(d.licence_id()), " ", StatusName(d.status()));
  } else {
    absl::StrAppend(&line, "no match");
  }
  absl::StrAppend(&line, "  purpose ", OrDash(d.purpose()), "  application ",
                  OrDash(d.application_id()));
  return line;
}

std::string Validity(const v1::LicenceContent& c) {
  return absl::StrCat(OrDash(c.valid_from()), " to ",
                      c.valid_until().empty() ? "no end (长期)" : Clean(c.valid_until()));
}

// "match: VALID until 2028-04-01" / "match: EXPIRED (valid until 2024-01-10)".
std::string MatchLine(const v1::VerifyLicenceResponse& r) {
  if (!r.matched()) return "no match";
  const std::string status = StatusName(r.status());
  if (r.valid_until().empty()) return absl::StrCat("match: ", status, " (no end date, 长期)");
  if (r.status() == v1::LICENCE_STATUS_VALID) {
    return absl::StrCat("match: ", status, " until ", Clean(r.valid_until()));
  }
  return absl::StrCat("match: ", status, " (valid until ", Clean(r.valid_until()), ")");
}

absl::StatusOr<std::unique_ptr<signing::RecordVerifier>> MakeVerifier(const NodeConnection& conn) {
  return signing::RecordVerifier::Create(conn.tls.ca_file(), conn.tls.crl_directory());
}

int CannotVerify(const absl::Status& status) {
  std::fprintf(stderr, "tongbanctl licences: cannot verify signatures: %s\n",
               std::string(status.message()).c_str());
  return 2;
}

}  // namespace

int LicenceCommand(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h" || args[1] == "help") {
    return Usage(args.size() < 2 ? "which licences command? (log, show, verify)" : nullptr,
                 kLicencesUsage);
  }
  const std::string command = args[1];
  const char* help = command == "log"      ? kLogHelp
                     : command == "show"   ? kShowHelp
                     : command == "verify" ? kVerifyHelp
                                           : nullptr;
  if (help == nullptr) {
    return Usage(
        absl::StrCat("unknown licences command ", command, " (the commands are log, show, verify)")
            .c_str(),
        kLicencesUsage);
  }
  Flags flags;
  std::string error;
  if (!ParseFlags(args, 2, &flags, &error)) return Usage(error.c_str(), help);
  if (flags.help) return Usage(nullptr, help);
  auto take = [&flags](const std::string& name) { return flags.Take(name); };
  NodeConnection conn;
  if (!TakeNodeConnection(&flags, command == "log" ? "an officer's or operator's" : "an officer's",
                          &conn, &error)) {
    return Usage(error.c_str(), help);
  }

  // Command arguments.
  v1::ListLicenceDisclosuresRequest log;
  int limit = 50;
  std::string licence_id;
  v1::VerifyLicenceRequest verify;
  if (command == "log") {
    if (!flags.positional.empty()) {
      return Usage(absl::StrCat("unexpected argument ", flags.positional[0]).c_str(), help);
    }
    log.set_holder_id(take("holder"));
    log.set_licence_id(take("licence"));
    log.set_requester_province(take("from_province"));
    if (const std::string text = take("limit"); !text.empty()) {
      char* end = nullptr;
      const long n = std::strtol(text.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 10000) return Usage("--limit needs 1..10000", help);
      limit = static_cast<int>(n);
    }
  } else if (command == "show") {
    if (flags.positional.size() != 1 || flags.positional[0].empty()) {
      return Usage("show needs one LICENCE_ID (e.g. 510000-MZ01-J510107-2019-000123)", help);
    }
    licence_id = flags.positional[0];
  } else {
    if (!flags.positional.empty()) {
      return Usage(absl::StrCat("unexpected argument ", flags.positional[0]).c_str(), help);
    }
    verify.set_issuing_province(take("issuer"));
    verify.set_type_code(take("type"));
    verify.set_number(take("number"));
    verify.set_holder_id(take("holder"));
    verify.set_purpose(take("purpose"));
    verify.set_application_id(take("application"));
    if (verify.issuing_province().empty() || verify.type_code().empty() ||
        verify.number().empty() || verify.holder_id().empty()) {
      return Usage("verify needs --issuer, --type, --number and --holder", help);
    }
    if (verify.purpose().empty()) {
      return Usage("verify needs --purpose TEXT (recorded in the issuing node's log)", help);
    }
  }
  if (!flags.values.empty()) {
    return Usage(
        absl::StrCat("unknown option --", flags.values.begin()->first, " for licences ", command)
            .c_str(),
        help);
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials =
      conn.province.empty() ? MakeChannelCredentials(conn.tls)
                            : MakeChannelCredentials(conn.tls, NodeSpiffeId(conn.province));
  auto stub = v1::LicenceService::NewStub(grpc::CreateChannel(conn.node, credentials));
  auto deadline = [&conn] {
    return std::chrono::system_clock::now() + std::chrono::seconds(conn.timeout_seconds);
  };

  if (command == "verify") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    v1::VerifyLicenceResponse resp;
    grpc::Status s = stub->VerifyLicence(&ctx, verify, &resp);
    if (!s.ok()) return Failed(s);
    if (flags.json) return PrintJson(resp);
    std::printf("%s\n", MatchLine(resp).c_str());
    std::printf("disclosure %s (recorded in %s's disclosure log)\n",
                OrDash(resp.disclosure_id()).c_str(), Clean(verify.issuing_province()).c_str());
    return 0;
  }

  // log and show verify what they read.
  absl::StatusOr<std::unique_ptr<signing::RecordVerifier>> verifier = MakeVerifier(conn);
  if (!verifier.ok()) return CannotVerify(verifier.status());

  if (command == "show") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    v1::GetLicenceRequest req;
    req.set_licence_id(licence_id);
    v1::GetLicenceResponse resp;
    grpc::Status s = stub->GetLicence(&ctx, req, &resp);
    if (!s.ok()) return Failed(s);
    const v1::Licence& licence = resp.licence();
    absl::Status verdict =
        signing::VerifyLicence(**verifier, licence, absl::Now(), signing::VerifyMode::kHistorical);
    if (verdict.ok() && licence.content().licence_id() != licence_id) {
      verdict = absl::PermissionDeniedError(absl::StrCat("asked for licence ", Clean(licence_id),
                                                         ", the node answered with licence ",
                                                         Clean(licence.content().licence_id())));
    }
    if (flags.json) {
      if (PrintJson(resp) != 0) return 1;
      if (!verdict.ok()) {
        std::fprintf(stderr, "tongbanctl licences: SIGNATURE FAILED: %s\n",
                     Clean(std::string(verdict.message())).c_str());
      }
      return verdict.ok() ? 0 : 1;
    }
    const v1::LicenceContent& c = licence.content();
    const v1::LicenceType* type = LicenceTypeList::National().Find(c.type_code());
    std::printf("licence %s\n", OrDash(c.licence_id()).c_str());
    std::printf("  type:          %s%s\n", OrDash(c.type_code()).c_str(),
                type == nullptr
                    ? " (not on this tongbanctl's type list)"
                    : absl::StrCat(" ", type->name_zh(), " (", type->name_en(), ")").c_str());
    std::printf("  number:        %s\n", OrDash(c.number()).c_str());
    std::printf("  holder:        %s, %s %s\n", OrDash(c.holder_name()).c_str(),
                HolderKindName(c.holder_kind()), OrDash(c.holder_id()).c_str());
    std::printf("  issued by:     %s, province %s\n", OrDash(c.issuing_authority()).c_str(),
                OrDash(c.issuing_province()).c_str());
    std::printf("  issued:        %s by %s\n", Time(c.issued_at()).c_str(),
                OrDash(c.issued_by()).c_str());
    std::printf("  valid:         %s\n", Validity(c).c_str());
    for (const v1::LicenceField& f : c.fields()) {
      std::printf("  %s: %s\n", Clean(f.name()).c_str(), Clean(f.value()).c_str());
    }
    std::printf("  status:        %s\n", StatusName(licence.status()).c_str());
    if (licence.has_revocation()) {
      const v1::LicenceRevocation& r = licence.revocation();
      std::printf("  revoked:       %s by %s: %s\n", Time(r.at()).c_str(),
                  OrDash(r.revoked_by()).c_str(), OrDash(r.reason()).c_str());
    } else {
      std::printf("  revocation:    none\n");
    }
    if (verdict.ok()) {
      std::printf("signature ok: %s signed by %s's node, checked against --ca as of %s\n",
                  licence.has_revocation() ? "content and revocation" : "content",
                  OrDash(c.issuing_province()).c_str(),
                  licence.has_revocation() ? "issue and revocation" : "issue");
      return 0;
    }
    std::printf("SIGNATURE FAILED: %s\n", Clean(std::string(verdict.message())).c_str());
    return 1;
  }

  // log: pages until --limit records.
  v1::ListLicenceDisclosuresResponse all;
  bool more = false;
  for (;;) {
    const int remaining = limit - all.disclosures_size();
    log.set_page_size(std::min(remaining, 200));
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    v1::ListLicenceDisclosuresResponse page;
    grpc::Status s = stub->ListLicenceDisclosures(&ctx, log, &page);
    if (!s.ok()) return Failed(s);
    for (int i = 0; i < page.disclosures_size() && all.disclosures_size() < limit; ++i) {
      *all.add_disclosures() = page.disclosures(i);
    }
    // Stop at the last page, at the limit, or at a page that brings nothing
    // (a node that keeps handing out tokens must not loop us forever).
    if (page.next_page_token().empty()) break;
    if (all.disclosures_size() >= limit || page.disclosures_size() == 0) {
      more = true;
      all.set_next_page_token(page.next_page_token());
      break;
    }
    log.set_page_token(page.next_page_token());
  }

  int failed = 0;
  std::vector<absl::Status> verdicts;
  verdicts.reserve(all.disclosures_size());
  for (const v1::LicenceDisclosure& d : all.disclosures()) {
    verdicts.push_back(
        signing::VerifyDisclosure(**verifier, d, absl::Now(), signing::VerifyMode::kHistorical));
    if (!verdicts.back().ok()) ++failed;
  }
  if (flags.json) {
    if (PrintJson(all) != 0) return 1;
    for (const absl::Status& v : verdicts) {
      if (!v.ok()) {
        std::fprintf(stderr, "tongbanctl licences: SIGNATURE FAILED: %s\n",
                     Clean(std::string(v.message())).c_str());
      }
    }
    return failed == 0 ? 0 : 1;
  }
  if (all.disclosures_size() == 0) {
    std::printf("no disclosures\n");
    return 0;
  }
  for (int i = 0; i < all.disclosures_size(); ++i) {
    const absl::Status& v = verdicts[static_cast<size_t>(i)];
    std::printf("%s  %s\n", DisclosureLine(all.disclosures(i)).c_str(),
                v.ok()
                    ? "signature ok"
                    : absl::StrCat("SIGNATURE FAILED: ", Clean(std::string(v.message()))).c_str());
  }
  std::printf("\n");
  if (failed == 0) {
    std::printf("%d record%s, every signature verified\n", all.disclosures_size(),
                all.disclosures_size() == 1 ? "" : "s");
  } else {
    std::printf("NOT VERIFIED: %d of %d records failed signature verification\n", failed,
                all.disclosures_size());
  }
  if (more) std::printf("more records: raise --limit (now %d)\n", limit);
  return failed == 0 ? 0 : 1;
}

}  // namespace tongban::tongbanctl
